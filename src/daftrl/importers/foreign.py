"""A SAC agent read from another library, as plain arrays, and its conversion into a daftrl `Expert`.

The readers (`sb3.py`, `sbx.py`) fill a `ForeignSAC` in daftrl's layout: dense layers as (kernel [in, out], bias),
the actor's last layer giving the mean then the log-std of each action dimension (`daftrl.nn.TanhGaussianActor`),
twin critics stacked on a leading axis of 2 (`daftrl.nn.QEnsemble`). What the source library did around the
networks is made part of them here, or refused:

- actions: SB3 and SBX squash to [-1, 1] and rescale to the env's bounds outside the network, as daftrl does
  (`daftrl.envs.factory`: envs with other bounds are wrapped in `RescaleAction`); the networks carry over unchanged
  when the save's bounds are the env's, and the import is refused otherwise (`check_env`);
- observation normalisation (VecNormalize) is folded into the first layers (`fold_observation_statistics`);
- reward normalisation is undone on the critics and the temperature (`unscale_rewards`).
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np

Layer = tuple[np.ndarray, np.ndarray]


@dataclasses.dataclass
class ForeignSAC:
    """A SAC agent's networks and temperature as numpy arrays (see the module docstring for the layout)."""

    library: str
    """"stable-baselines3" or "sbx"."""
    actor: list[Layer]
    critic: list[Layer]
    log_alpha: float
    action_low: np.ndarray
    action_high: np.ndarray
    info: dict = dataclasses.field(default_factory=dict)
    """Provenance read from the save (versions, training steps, entropy setting), recorded in the expert's card."""

    def __post_init__(self):
        self.actor = [(np.asarray(k, np.float32), np.asarray(b, np.float32)) for k, b in self.actor]
        self.critic = [(np.asarray(k, np.float32), np.asarray(b, np.float32)) for k, b in self.critic]
        self.check()

    @property
    def obs_dim(self) -> int:
        return int(self.actor[0][0].shape[0])

    @property
    def act_dim(self) -> int:
        return int(self.actor[-1][0].shape[1] // 2)

    @property
    def hidden(self) -> tuple[int, ...]:
        return tuple(int(k.shape[1]) for k, _ in self.actor[:-1])

    def check(self) -> None:
        """Refuse networks daftrl's actor and critic templates cannot hold (a reader's bug or a foreign layout)."""
        where = f"the {self.library} save"
        for name, layers, lead in (("actor", self.actor, ()), ("critic", self.critic, (2,))):
            if not layers:
                raise ValueError(f"{where} holds no {name} layers")
            for i, (k, b) in enumerate(layers):
                if k.shape[:-2] != lead or b.shape != (*lead, k.shape[-1]):
                    raise ValueError(f"{where}: {name} layer {i} has kernel {k.shape} and bias {b.shape}, not a dense "
                                     f"layer{' of twin critics' if lead else ''}")
                if i and k.shape[-2] != layers[i - 1][0].shape[-1]:
                    raise ValueError(f"{where}: {name} layer {i} takes {k.shape[-2]} inputs but the layer before gives "
                                     f"{layers[i - 1][0].shape[-1]}")
        if self.actor[-1][0].shape[1] % 2:
            raise ValueError(f"{where}: the actor's output layer must give a mean and a log-std per action")
        critic_hidden = tuple(int(k.shape[-1]) for k, _ in self.critic[:-1])
        if critic_hidden != self.hidden:
            raise ValueError(f"{where}: actor hidden layers {list(self.hidden)} and critic hidden layers "
                             f"{list(critic_hidden)} differ; daftrl's experts use one list for both (train with "
                             "net_arch=[...] rather than dict(pi=..., qf=...))")
        if self.critic[0][0].shape[1] != self.obs_dim + self.act_dim or self.critic[-1][0].shape[-1] != 1:
            raise ValueError(f"{where}: the critics take {self.critic[0][0].shape[1]} inputs and give "
                             f"{self.critic[-1][0].shape[-1]} outputs; expected observation + action "
                             f"({self.obs_dim} + {self.act_dim}) in and one Q-value out")
        if self.action_low.shape != (self.act_dim,) or self.action_high.shape != (self.act_dim,):
            raise ValueError(f"{where}: action bounds of shape {self.action_low.shape} for {self.act_dim} actions")
        if not all(np.isfinite(a).all() for layer in (*self.actor, *self.critic) for a in layer):
            raise ValueError(f"{where} holds NaN or infinite weights; it cannot be used as an expert")
        if not np.isfinite(self.log_alpha):
            raise ValueError(f"{where} holds a non-finite entropy coefficient (log {self.log_alpha})")


# --------------------------------------------------------------------------- what the source library did outside
def fold_observation_statistics(sac: ForeignSAC, mean: np.ndarray, var: np.ndarray, epsilon: float) -> ForeignSAC:
    """The agent on raw observations, for one trained on VecNormalize's (obs - mean) / sqrt(var + epsilon): the
    first layer of the actor and of the critics (its observation rows) absorbs the affine map, computed in float64.
    VecNormalize also clipped normalised observations to +-clip_obs; the folded networks do not, so they equal the
    original wherever the clip was inactive (every observation within clip_obs standard deviations of the mean)."""
    mean, std = np.asarray(mean, np.float64), np.sqrt(np.asarray(var, np.float64) + epsilon)
    if mean.shape != (sac.obs_dim,) or std.shape != (sac.obs_dim,):
        raise ValueError(f"observation statistics of shape {mean.shape} / {std.shape} for {sac.obs_dim} observations")

    def fold(kernel: np.ndarray, bias: np.ndarray) -> Layer:
        k, b = kernel.astype(np.float64), bias.astype(np.float64)
        obs_rows = k[..., : sac.obs_dim, :] / std[:, None]
        shift = np.einsum("i,...io->...o", mean, obs_rows)
        return np.concatenate([obs_rows, k[..., sac.obs_dim:, :]], axis=-2), b - shift

    return dataclasses.replace(sac, actor=[fold(*sac.actor[0]), *sac.actor[1:]],
                               critic=[fold(*sac.critic[0]), *sac.critic[1:]])


def unscale_rewards(sac: ForeignSAC, scale: float) -> ForeignSAC:
    """The critics and temperature in env reward units, for an agent trained on rewards divided by `scale`
    (VecNormalize's sqrt(return variance + epsilon)): soft Q-values and the entropy bonus scale together, so the
    critics' output layer is multiplied by `scale` and log(alpha) grows by log(scale). Exact unless VecNormalize's
    reward clip (clip_reward) was active."""
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"reward scale must be a positive number, got {scale}")
    kernel, bias = sac.critic[-1]
    return dataclasses.replace(sac, critic=[*sac.critic[:-1], (kernel * scale, bias * scale)],
                               log_alpha=sac.log_alpha + float(np.log(scale)))


# --------------------------------------------------------------------------- against the env, into daftrl
def raw_action_space(env: gym.Env) -> gym.spaces.Box:
    """The action space of `env` before daftrl's `RescaleAction` to [-1, 1] (the space a foreign policy saw)."""
    inner = env
    while isinstance(inner, gym.Wrapper):
        if isinstance(inner, gym.wrappers.RescaleAction):
            return inner.env.action_space
        inner = inner.env
    return env.action_space


def check_env(sac: ForeignSAC, handle) -> None:
    """Refuse an env (a `daftrl.envs.factory.EnvHandle`) whose sizes or action bounds are not the save's."""
    if (handle.obs_dim, handle.act_dim) != (sac.obs_dim, sac.act_dim):
        raise ValueError(f"the {sac.library} save has observation/action sizes {sac.obs_dim}/{sac.act_dim}, but "
                         f"{handle.name} has {handle.obs_dim}/{handle.act_dim}; give the env it was trained on (--env)")
    env = handle.make()
    try:
        space = raw_action_space(env)
    finally:
        env.close()
    low, high = np.asarray(space.low, np.float64).ravel(), np.asarray(space.high, np.float64).ravel()
    if not (np.allclose(low, sac.action_low, rtol=1e-6, atol=1e-6) and
            np.allclose(high, sac.action_high, rtol=1e-6, atol=1e-6)):
        raise ValueError(f"the {sac.library} save acts in [{_fmt(sac.action_low)}, {_fmt(sac.action_high)}] but "
                         f"{handle.name} in [{_fmt(low)}, {_fmt(high)}]; give the env it was trained on (--env), "
                         "without action wrappers the save did not have")


def _fmt(a: np.ndarray) -> str:
    return " ".join(f"{x:g}" for x in np.asarray(a).ravel())


def to_expert(sac: ForeignSAC, name: str, env: str, source=None, meta: dict | None = None):
    """A daftrl `Expert` holding the agent's networks (checked against daftrl's templates, names and shapes)."""

    from daftrl.checkpoint import unflatten_like
    from daftrl.experts import Expert
    from daftrl.nn import param_templates

    actor_t, critic_t = param_templates(sac.obs_dim, sac.act_dim, sac.hidden)
    arrays = {}
    for prefix, module, layers in (("actor", "MLP_0", sac.actor), ("critic", "VmapMLP_0", sac.critic)):
        for i, (kernel, bias) in enumerate(layers):
            arrays[f"{prefix}/params/{module}/Dense_{i}/kernel"] = kernel
            arrays[f"{prefix}/params/{module}/Dense_{i}/bias"] = bias
    what = f"the imported {sac.library} agent"
    return Expert(name, env, sac.obs_dim, sac.act_dim, sac.hidden, unflatten_like(actor_t, arrays, "actor", what),
                  unflatten_like(critic_t, arrays, "critic", what), float(sac.log_alpha), source, dict(meta or {}))
