"""Stable-Baselines3 `SAC` saves: the networks from `policy.pth`, the temperature from `pytorch_variables.pth`.

Both are read with `torch.load(weights_only=True)` (torch's own unpickler restricted to tensors and plain
containers). The architecture is inferred from the tensor names and shapes - an MLP `actor.latent_pi` (Linear,
activation, ...), the heads `actor.mu` and `actor.log_std`, twin critics `critic.qf0` / `critic.qf1` on
[observation, action] - and the settings the tensors cannot show (activation, gSDE, feature extractor) are read from
the save's `policy_kwargs`. Every tensor must be one of those: anything else means an architecture daftrl cannot
hold, and the import is refused. The target critics (`critic_target.*`) are not imported: daftrl starts its target
critics from the critics, as it does for its own experts.
"""

from __future__ import annotations

import io
import re

import numpy as np

from daftrl.importers import safe_pickle
from daftrl.importers.foreign import ForeignSAC
from daftrl.importers.zipsave import SaveFile

HARMLESS_KWARGS = {"net_arch", "activation_fn", "use_sde", "n_critics", "log_std_init", "use_expln", "clip_mean",
                   "features_extractor_class", "features_extractor_kwargs", "normalize_images", "optimizer_class",
                   "optimizer_kwargs", "share_features_extractor"}
"""SB3 SACPolicy arguments this checks or that do not change the networks' function (optimiser, gSDE-only ones)."""
RELU = ("torch.nn.modules.activation.ReLU",)
FLATTEN = ("stable_baselines3.common.torch_layers.FlattenExtractor",)


def _torch_load(save: SaveFile, name: str) -> dict:
    try:
        import torch
    except ImportError:
        raise ValueError("reading a Stable-Baselines3 save needs torch: pip install 'daftrl[sb3]' (or the CPU build "
                         "of torch)") from None
    if name not in save.entries:
        raise ValueError(f"{save.path} has no {name}: it was not written by SB3's SAC.save()")
    try:
        tensors = torch.load(io.BytesIO(save.read(name)), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a refused or corrupt file
        raise ValueError(f"{save.path}: {name} holds more than tensors, or is corrupt ({type(e).__name__}); "
                         "daftrl reads tensors only") from None
    if not isinstance(tensors, dict) or not all(isinstance(v, torch.Tensor) for v in tensors.values()):
        raise ValueError(f"{save.path}: {name} is not a dict of tensors")
    return {str(k): v.detach().to(torch.float32).numpy() if v.is_floating_point() else v.numpy()
            for k, v in tensors.items()}


def _check_kwargs(save: SaveFile) -> dict:
    kwargs = save.field("policy_kwargs", {}) or {}
    if not isinstance(kwargs, dict):
        raise ValueError(f"{save.path}: unreadable policy_kwargs")
    unknown = sorted(set(kwargs) - HARMLESS_KWARGS)
    if unknown:
        raise ValueError(f"{save.path} was trained with policy_kwargs {unknown}, which daftrl cannot check; import a "
                         "SAC with SB3's default MLP policy (net_arch and activation_fn=ReLU may differ)")
    if kwargs.get("use_sde") or save.data.get("use_sde"):
        raise ValueError(f"{save.path} uses gSDE (use_sde=True), whose actor daftrl cannot hold; train with "
                         "use_sde=False")
    for key, allowed, what in (("activation_fn", RELU, "activation"), ("features_extractor_class", FLATTEN,
                                                                         "features extractor")):
        if key in kwargs and _name(kwargs[key]) not in allowed:
            raise ValueError(f"{save.path} uses the {what} {_name(kwargs[key]) or kwargs[key]!r}; daftrl experts "
                             f"use {allowed[0].rsplit('.', 1)[-1]} (retrain without {key}, or with the default)")
    return kwargs


def _name(value) -> str:
    return getattr(value, "pickle_name", "") if isinstance(value, type) else safe_pickle.class_name(value)


def _mlp(tensors: dict, prefix: str, save: SaveFile) -> list[tuple[np.ndarray, np.ndarray]]:
    """The Linear layers `prefix.0`, `prefix.2`, ... (nn.Sequential of Linear and a parameter-free activation) as
    (kernel [in, out], bias); refuses any other numbering (an extra module between the layers)."""
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.weight")
    indices = sorted({int(m.group(1)) for k in tensors if (m := pattern.fullmatch(k))})
    if indices != list(range(0, 2 * len(indices), 2)):
        raise ValueError(f"{save.path}: the layers of {prefix} are numbered {indices}; daftrl holds MLPs of Linear "
                         "layers with one activation between them")
    return [(tensors.pop(f"{prefix}.{i}.weight").T, tensors.pop(f"{prefix}.{i}.bias")) for i in indices]


def _linear(tensors: dict, prefix: str, save: SaveFile) -> tuple[np.ndarray, np.ndarray]:
    if f"{prefix}.weight" not in tensors or f"{prefix}.bias" not in tensors:
        raise ValueError(f"{save.path} has no {prefix} layer: not a SAC actor daftrl can hold (gSDE?)")
    return tensors.pop(f"{prefix}.weight").T, tensors.pop(f"{prefix}.bias")


def _log_alpha(save: SaveFile) -> float:
    variables = _torch_load(save, "pytorch_variables.pth")
    if "log_ent_coef" in variables:
        return float(np.asarray(variables["log_ent_coef"]).reshape(-1)[0])
    if "ent_coef_tensor" in variables:
        return float(np.log(np.asarray(variables["ent_coef_tensor"]).reshape(-1)[0]))
    raise ValueError(f"{save.path}: pytorch_variables.pth holds neither log_ent_coef nor ent_coef_tensor; it is not "
                     "a SAC save")


def read(save: SaveFile) -> ForeignSAC:
    """The SAC agent of an SB3 save (see the module docstring)."""
    kwargs = _check_kwargs(save)
    tensors = _torch_load(save, "policy.pth")
    for key in [k for k in tensors if k.startswith("critic_target.")]:
        del tensors[key]
    hidden = _mlp(tensors, "actor.latent_pi", save)
    mu, log_std = _linear(tensors, "actor.mu", save), _linear(tensors, "actor.log_std", save)
    head = (np.concatenate([mu[0], log_std[0]], axis=1), np.concatenate([mu[1], log_std[1]]))
    n_critics = len({k.split(".")[1] for k in tensors if re.match(r"critic\.qf\d+\.", k)})
    if n_critics != 2 or int(kwargs.get("n_critics", 2)) != 2:
        raise ValueError(f"{save.path} has {n_critics} critics; daftrl experts hold twin critics (n_critics=2)")
    qfs = [_mlp(tensors, f"critic.qf{j}", save) for j in range(2)]
    if [[k.shape for k, _ in qf] for qf in qfs[:1]] != [[k.shape for k, _ in qf] for qf in qfs[1:]]:
        raise ValueError(f"{save.path}: its two critics have different shapes")
    critic = [(np.stack([qfs[0][i][0], qfs[1][i][0]]), np.stack([qfs[0][i][1], qfs[1][i][1]]))
              for i in range(len(qfs[0]))]
    if tensors:
        raise ValueError(f"{save.path} holds parameters daftrl's SAC has no place for ({', '.join(sorted(tensors)[:4])}"
                         "...): a custom feature extractor or architecture; import a default MLP SAC")
    low, high = save.box("action_space")
    info = {**save.provenance("stable-baselines3"), "ent_coef": save.data.get("ent_coef"),
            "policy_kwargs": {k: v for k, v in kwargs.items() if isinstance(v, (int, float, str, list, bool))}}
    return ForeignSAC("stable-baselines3", [*hidden, head], critic, _log_alpha(save), low, high, info)
