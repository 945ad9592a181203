"""DAFT: value-conditioned policy fine-tuning (Pandya et al., "Value Conditioned Policy Fine Tuning for Test
Time Domain Adaptation", equation 2 and Algorithm 1).

    L(phi) = mean_{s in B_tar} [alpha log pi(a~|s) - agg_i Q_i(s, a~)]
           + beta_k sum_{s in S_src} w(s) [alpha_src log pi(a~|s) - agg_j Q*_src,j(s, a~)],   a~ ~ pi(.|s)

Q_1..Q_N start from the source twins plus N(0, omega) noise and learn on target data with the SAC target;
Q*_src is frozen; S_src are the states of length-H source segments with normalised weights w; beta_k is
`BetaSchedule`. Every reading the paper leaves open is a flag below and a line in docs/assumptions.md.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from daftrl.algos.beta import BetaSchedule
from daftrl.algos.ft import FT, FTConfig
from daftrl.nn import QEnsemble
from daftrl.replay import Batch, alive_mask
from daftrl.sac import SACState, copy_tree


@dataclasses.dataclass(frozen=True)
class DAFTConfig(FTConfig, BetaSchedule):
    """DAFT hyperparameters; defaults as in docs/assumptions.md."""

    num_members: int = 2
    """Size N of the target Q-ensemble (2 = SAC's twin critics)."""
    omega: float = 1e-4
    """Initial ensemble noise N(0, omega)."""
    omega_kind: Literal["variance", "std", "relative"] = "variance"
    """omega is a variance (std sqrt(omega)), a std, or a std relative to each tensor's std."""
    noise_on: Literal["params", "output"] = "params"
    """Perturb every parameter, or only the output bias (a constant offset per member)."""
    actor_q_agg: Literal["min", "mean"] = "min"
    """How the target ensemble enters the actor loss."""
    target_q_agg: Literal["min", "mean", "random_pair"] = "min"
    """How the target ensemble forms the TD target (random_pair: min of 2 random members, REDQ)."""
    q_src_agg: Literal["min", "mean"] = "min"
    """How the frozen source twins form Q*_src."""
    alpha_src: Literal["alpha", "one", "zero"] = "alpha"
    """Temperature in the source term: the SAC alpha, 1 (equation 1 literally), or 0."""
    horizon: int = 5
    """H (paper appendix D: 5 everywhere, 20 best on Walker)."""
    horizon_mode: Literal["segments", "bootstrap"] = "segments"
    """segments: the source term averages length-H source segments (R1); bootstrap: an H-step target
    critic target bootstrapped with V*_src, weighted by beta (R2)."""
    horizon_discount: bool = False
    """With segments: weight segment step k by gamma^k instead of uniformly."""
    beta_mode: Literal["schedule", "adaptive", "schedule*adaptive"] = "schedule"
    """adaptive: beta = var_i Q_i / (var_i Q_i + sigma2_src) on source states (paper Figure 1)."""
    beta_granularity: Literal["batch", "sample"] = "batch"
    sigma2_src: float = 1.0
    """Variance assigned to Q*_src in the adaptive beta."""
    src_batch_size: int | None = None
    """Source segments per update (default: ceil(batch_size / horizon), i.e. as many source states as
    target states, which keeps the update at ~1.4x FT; batch_size segments = 5x the source states)."""


class DAFT(FT):
    name = "daft"
    uses_source_data = True
    method_config: DAFTConfig

    def __init__(self, config: DAFTConfig, expert):
        if config.horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {config.horizon}")
        if config.beta_mode != "schedule":  # the adaptive beta needs a spread of members and a source variance
            if config.num_members < 2:
                raise ValueError(f"beta_mode {config.beta_mode!r} needs num_members >= 2 (the variance of one "
                                 f"member is 0, which would switch the source term off), got {config.num_members}")
            if not config.sigma2_src > 0:
                raise ValueError(f"beta_mode {config.beta_mode!r} needs sigma2_src > 0 (0 gives 0/0 when the "
                                 f"members agree), got {config.sigma2_src}")
        super().__init__(config, expert)
        self.src_critic_net = QEnsemble(2, tuple(expert.hidden))

    @staticmethod
    def num_members(config) -> int:
        return config.num_members

    # ------------------------------------------------------------------ initialisation (Algorithm 1)
    def initial_critic(self, expert, key: jax.Array) -> Any:
        """Q_i <- Q_src^(i mod 2) + eps_i, eps_i ~ N(0, omega), independent per member and parameter."""
        cfg = self.method_config
        members = jnp.arange(cfg.num_members) % 2
        base = jax.tree.map(lambda x: x[members], expert.critic)
        leaves, treedef = jax.tree.flatten(base)
        keys = jax.random.split(key, len(leaves))
        paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(base)[0]]
        output_layer = f"'Dense_{len(expert.hidden)}'"
        out = []
        for path, leaf, k in zip(paths, leaves, keys, strict=True):
            if cfg.noise_on == "output" and not (output_layer in path and "bias" in path):
                out.append(leaf)
                continue
            std = {"variance": np.sqrt(cfg.omega), "std": cfg.omega}.get(cfg.omega_kind)
            if std is None:  # relative: omega times each source tensor's std
                std = cfg.omega * jnp.std(leaf)
            out.append(leaf + std * jax.random.normal(k, leaf.shape, leaf.dtype))
        return jax.tree.unflatten(treedef, out)

    def frozen_from_expert(self, expert) -> dict:
        return {"q_src": copy_tree(expert.critic)}

    # ------------------------------------------------------------------ aggregations
    def aggregate_actor_q(self, q):
        return q.min(0) if self.method_config.actor_q_agg == "min" else q.mean(0)

    def aggregate_target_q(self, next_q, key):
        agg = self.method_config.target_q_agg
        if agg == "mean":
            return next_q.mean(0)
        if agg == "random_pair" and next_q.shape[0] > 2:
            pair = jax.random.choice(key, next_q.shape[0], (2,), replace=False)
            return next_q[pair].min(0)
        return next_q.min(0)

    def q_src(self, state: SACState, obs, act):
        q = self.src_critic_net.apply(state.extra["q_src"], obs, act)
        return q.min(0) if self.method_config.q_src_agg == "min" else q.mean(0)

    # ------------------------------------------------------------------ source states (device-side)
    def source_table(self, source) -> dict:
        """D_src on the device, built once per source buffer (D_src never changes during adaptation):
        observations in insertion order and, per valid segment start, the `alive` mask of its H steps
        (1 while no episode ended strictly before that step; `ReplayBuffer.sample_segments`).
        Sampling then happens inside the jitted update: no host work and no transfer per step."""
        cfg = self.method_config
        H = cfg.horizon if cfg.horizon_mode == "segments" else 1
        stamp = (id(source), source.size, source.pos, H)
        if getattr(self, "_table_stamp", None) != stamp:
            if source.size < H:
                raise ValueError(f"DAFT needs at least {H} source transitions for its segments, have {source.size}")
            order = source.insertion_order()
            d = source.data
            ended = np.maximum(d["terminated"][order], d["truncated"][order])
            alive = alive_mask(np.lib.stride_tricks.sliding_window_view(ended, H))  # (size - H + 1, H)
            self._table = {"obs": jax.device_put(d["obs"][order]), "alive": jax.device_put(alive)}
            self._table_stamp = stamp
        return self._table

    def num_source_segments(self) -> int:
        cfg = self.method_config
        if cfg.horizon_mode == "segments":
            return cfg.src_batch_size or -(-cfg.batch_size // cfg.horizon)
        return cfg.src_batch_size or cfg.batch_size

    def source_states(self, aux: dict, key):
        """(source states, their weights w before normalisation). Sampled here from the device table
        (uniform segment starts, as `ReplayBuffer.sample_segments`), or given explicitly as
        aux["src_obs"], aux["src_w"] (tests, custom callers)."""
        if "src_obs" in aux:
            return aux["src_obs"], aux["src_w"]
        table = aux["src_table"]
        n_starts, H = table["alive"].shape
        n = self.num_source_segments()
        starts = jax.random.randint(jax.random.fold_in(key, 0x5EC), (n,), 0, n_starts)
        obs = table["obs"][starts[:, None] + jnp.arange(H)[None]]  # (n, H, obs_dim)
        w = table["alive"][starts]
        cfg = self.method_config
        if cfg.horizon_mode == "segments" and cfg.horizon_discount:
            w = w * (cfg.gamma ** jnp.arange(H))[None]
        return obs.reshape(n * H, -1), w.reshape(-1)

    # ------------------------------------------------------------------ host inputs
    def host_aux(self, source, target, rng: np.random.Generator, counters: dict) -> dict:
        cfg = self.method_config
        aux = {"beta": np.float32(cfg.beta(counters)), "src_table": self.source_table(source)}
        if cfg.horizon_mode == "bootstrap":
            seg, alive = target.sample_segments(rng, cfg.batch_size, cfg.horizon)
            aux.update(tar_seg=seg, tar_alive=alive)
        return aux

    # ------------------------------------------------------------------ losses
    def effective_beta(self, state: SACState, aux: dict, src_obs, src_act):
        """beta per source state: the schedule, optionally times var_i Q_i / (var_i Q_i + sigma2_src)."""
        beta = aux["beta"] * jnp.ones(src_obs.shape[0])
        cfg = self.method_config
        if cfg.beta_mode == "schedule":
            return beta
        var = jnp.var(self.critic_net.apply(state.critic, src_obs, src_act), axis=0)
        if cfg.beta_granularity == "batch":
            var = jnp.full_like(var, var.mean())
        adaptive = jax.lax.stop_gradient(var / (var + cfg.sigma2_src))
        return adaptive if cfg.beta_mode == "adaptive" else beta * adaptive

    def actor_loss(self, actor, state: SACState, batch: Batch, key, aux: dict = None):
        n_tar = batch.obs.shape[0]
        src_obs, src_w = self.source_states(aux, key)
        obs = jnp.concatenate([batch.obs, src_obs], axis=0)
        act, log_prob = self.policy(actor, obs, key)
        alpha = jnp.exp(state.log_alpha)
        # target term: SAC on target states with the target ensemble
        q_members = self.critic_net.apply(state.critic, batch.obs, act[:n_tar])
        loss_tar = jnp.mean(alpha * log_prob[:n_tar] - self.aggregate_actor_q(q_members))
        # source term: the same loss with the frozen Q*_src on source states, weighted by w
        src_act, src_logp = act[n_tar:], log_prob[n_tar:]
        alpha_src = {"alpha": alpha, "one": 1.0, "zero": 0.0}[self.method_config.alpha_src]
        w = src_w / jnp.maximum(src_w.sum(), 1e-8)
        beta = self.effective_beta(state, aux, src_obs, jax.lax.stop_gradient(src_act))
        per_state = alpha_src * src_logp - self.q_src(state, src_obs, src_act)
        loss_src = jnp.sum(w * per_state)
        loss = loss_tar + jnp.sum(w * beta * per_state)
        spread = jax.lax.stop_gradient(jnp.std(q_members, axis=0).mean())
        return loss, {"actor_loss": loss, "actor_loss_tar": loss_tar, "actor_loss_src": loss_src,
                      "beta": jnp.sum(w * beta), "ensemble_std": spread, "log_prob": log_prob[:n_tar].mean()}

    def critic_loss(self, critic, state: SACState, batch: Batch, key, aux: dict = None):
        loss, info = super().critic_loss(critic, state, batch, key, aux)
        if self.method_config.horizon_mode != "bootstrap":
            return loss, info
        k_v = jax.random.fold_in(key, 1)
        y_h = jax.lax.stop_gradient(self.h_step_source_target(state, aux["tar_seg"], aux["tar_alive"], k_v))
        seg = aux["tar_seg"]
        q = self.critic_net.apply(critic, seg.obs[:, 0], seg.act[:, 0])
        aux_loss = jnp.sum(jnp.mean((q - y_h[None]) ** 2, axis=-1))
        info = {**info, "critic_loss_h": aux_loss}
        return loss + aux["beta"] * aux_loss, info

    def h_step_source_target(self, state: SACState, seg: Batch, alive, key):
        """Q^H(s_t, a_t) = sum_{k<n} gamma^k r_{t+k} + gamma^n (1 - d) V*_src(s_{t+n}) over the n <= H
        steps of the segment inside one episode; V*_src(s) = Q*_src(s, a~) - alpha log pi(a~|s)."""
        gamma = self.config.gamma
        H = seg.rew.shape[1]
        ret = jnp.sum(alive * gamma ** jnp.arange(H) * seg.rew, axis=1)
        last = jnp.sum(alive, axis=1).astype(jnp.int32) - 1
        rows = jnp.arange(seg.rew.shape[0])
        s_end, done = seg.next_obs[rows, last], seg.terminated[rows, last]
        a_end, logp_end = self.policy(state.actor, s_end, key)
        v_end = self.q_src(state, s_end, a_end) - jnp.exp(state.log_alpha) * logp_end
        return ret + gamma ** (last + 1) * (1.0 - done) * v_end
