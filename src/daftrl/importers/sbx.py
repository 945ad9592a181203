"""SBX (Stable-Baselines-Jax) `SAC` saves: the flax parameters inside the cloudpickled policy.

SBX's `model.save()` writes SB3's zip, but its networks live only in the `policy` field of `data`, cloudpickled with
the rest of the policy object (train states, optimisers, compiled functions). That field is read with
`daftrl.importers.safe_pickle`: numpy arrays are rebuilt, everything else - the jax arrays' wrapper, flax modules,
cloudpickled functions - becomes an inert record, so nothing in the file runs. The arrays are then taken from the
records by name: `actor_state.params` (Dense_0 .. Dense_{n-1}, then the mean and log-std heads) and
`qf_state.params` (`VmapContinuousCritic_0`, twin critics stacked on the leading axis). Anything not laid out that
way (Simba networks, layer norm, dropout, gSDE, another activation) is refused.
"""

from __future__ import annotations

import numpy as np

from daftrl.importers import safe_pickle
from daftrl.importers.foreign import ForeignSAC
from daftrl.importers.zipsave import SaveFile

ACTOR = "sbx.common.policies.SquashedGaussianActor"
CRITIC = "sbx.common.policies.VectorCritic"
LOG_STD_RANGE = (-20, 2)
"""SBX's and daftrl's clamp of the actor's log-std (`daftrl.nn.TanhGaussianActor`)."""


def _array(value, what: str) -> np.ndarray:
    """A numpy array, or a jax array as pickled (`_reconstruct_array(numpy's _reconstruct, args, state, ...)`),
    rebuilt only through `safe_pickle`'s checked numpy functions."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        return np.asarray(value)
    if safe_pickle.class_name(value) == "jax._src.array._reconstruct_array" and len(value.args) >= 3:
        rebuild, args, state = value.args[:3]
        if rebuild is safe_pickle.numpy_reconstruct and isinstance(args, tuple):
            try:
                array = rebuild(*args)
                array.__setstate__(state)
            except (TypeError, ValueError) as e:
                raise ValueError(f"{what}: unreadable array ({e})") from None
            return _array(np.asarray(array), what)
    raise ValueError(f"{what} is not an array this SBX reader knows ({safe_pickle.class_name(value) or type(value)})")


def _dense(tree, names: list[str], where: str) -> list[tuple[np.ndarray, np.ndarray]]:
    if not isinstance(tree, dict) or sorted(tree) != sorted(names):
        raise ValueError(f"{where} has layers {sorted(tree) if isinstance(tree, dict) else tree}, expected {names}: "
                         "not the SBX SAC architecture daftrl reads")
    layers = []
    for name in names:
        layer = tree[name]
        if not isinstance(layer, dict) or sorted(layer) != ["bias", "kernel"]:
            raise ValueError(f"{where}/{name} is not a dense layer (kernel, bias)")
        layers.append(tuple(_array(layer[k], f"{where}/{name}/{k}") for k in ("kernel", "bias")))
    return layers


def _params(train_state, where: str) -> dict:
    params = safe_pickle.attributes(train_state).get("params")
    if not isinstance(params, dict) or not isinstance(params.get("params"), dict):
        raise ValueError(f"{where} holds no flax parameters")
    return params["params"]


def _check_policy(save: SaveFile, policy: dict) -> list[int]:
    def refuse(what: str) -> ValueError:
        return ValueError(f"{save.path} is an SBX SAC with {what}, which daftrl's experts cannot hold; import a SAC "
                          "with SBX's default MLP policy (net_arch and n_critics=2, ReLU, no layer norm, no dropout)")

    actor_cls, critic_cls = (getattr(policy.get(k), "pickle_name", "") for k in ("actor_class", "vector_critic_class"))
    if (actor_cls, critic_cls) != (ACTOR, CRITIC):
        raise refuse(f"networks {actor_cls.rsplit('.', 1)[-1]} / {critic_cls.rsplit('.', 1)[-1]}")
    if policy.get("layer_norm") or policy.get("dropout_rate") or policy.get("use_sde"):
        raise refuse("layer norm, dropout or gSDE")
    if policy.get("n_critics") != 2:
        raise refuse(f"{policy.get('n_critics')} critics")
    if policy.get("features_extractor_class") is not None:
        raise refuse("a feature extractor")
    actor = safe_pickle.attributes(policy.get("actor"))
    activation_fn = actor.get("activation_fn")
    named = safe_pickle.attributes(activation_fn)
    activation = named.get("__name__") or named.get("function_name") or safe_pickle.class_name(activation_fn)
    if activation != "relu":
        raise refuse(f"activation {activation or 'unknown'}")
    if (actor.get("log_std_min"), actor.get("log_std_max")) != LOG_STD_RANGE:
        raise refuse(f"log-std range [{actor.get('log_std_min')}, {actor.get('log_std_max')}]")
    net_arch = policy.get("net_arch_pi")
    if not isinstance(net_arch, list) or net_arch != policy.get("net_arch_qf"):
        raise refuse(f"actor layers {net_arch} and critic layers {policy.get('net_arch_qf')}")
    return net_arch


def _log_alpha(save: SaveFile) -> float:
    kind = safe_pickle.class_name(save.field("ent_coef"))
    params = safe_pickle.attributes(save.field("ent_coef_state")).get("params")  # {name: value}, no "params" level
    params = params if isinstance(params, dict) else {}
    if kind == "sbx.sac.sac.EntropyCoef" and "log_ent_coef" in params:
        return float(_array(params["log_ent_coef"], "log_ent_coef").reshape(-1)[0])
    if kind == "sbx.sac.sac.ConstantEntropyCoef" and "dummy_param" in params:
        return float(np.log(_array(params["dummy_param"], "ent_coef").reshape(-1)[0]))
    raise ValueError(f"{save.path}: unreadable entropy coefficient ({kind or 'none'})")


def read(save: SaveFile) -> ForeignSAC:
    """The SAC agent of an SBX save (see the module docstring)."""
    policy_obj = save.field("policy")
    if safe_pickle.class_name(policy_obj) != "sbx.sac.policies.SACPolicy":
        raise ValueError(f"{save.path}: its policy field holds {safe_pickle.class_name(policy_obj) or 'no policy'}")
    policy = safe_pickle.attributes(policy_obj)
    net_arch = _check_policy(save, policy)
    n = len(net_arch)
    where = f"{save.path}: policy"
    actor = _dense(_params(policy.get("actor_state"), where), [f"Dense_{i}" for i in range(n + 2)], f"{where}/actor")
    mean, log_std = actor[n], actor[n + 1]
    head = (np.concatenate([mean[0], log_std[0]], axis=-1), np.concatenate([mean[1], log_std[1]], axis=-1))
    critics = _params(policy.get("qf_state"), where)
    if sorted(critics) != ["VmapContinuousCritic_0"]:
        raise ValueError(f"{where}: critic parameters {sorted(critics)}, expected VmapContinuousCritic_0")
    critic = _dense(critics["VmapContinuousCritic_0"], [f"Dense_{i}" for i in range(n + 1)], f"{where}/critic")
    low, high = save.box("action_space")
    info = {**save.provenance("sbx"), "ent_coef": save.data.get("ent_coef_init"), "net_arch": net_arch}
    return ForeignSAC("sbx", [*actor[:n], head], critic, _log_alpha(save), low, high, info)
