"""The DAFT paper's two ablations (appendix D).

- Single critic (equation 3): twin critics from the source critics,
  J_Q = E_{D_tar}[(Q - y)^2] + beta_k E_{D_src}[(Q - y)^2] with the SAC target y and DAFT's beta schedule;
  the actor is SAC's on target and source states together (`actor_on_source`).
- Reward shaping: FT on r~ = r - scale |Q_tar(s, a) - Q*_src(s, a)| (min-twin Q_tar at sampling time, no
  gradient through it); at scale 1 Q_tar drifts to -inf by construction (docs/assumptions.md).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from daftrl.algos.beta import BetaSchedule
from daftrl.algos.ft import FT, FTConfig
from daftrl.nn import QEnsemble
from daftrl.replay import Batch
from daftrl.sac import SACState, copy_tree


@dataclasses.dataclass(frozen=True)
class SingleCriticConfig(FTConfig, BetaSchedule):
    actor_on_source: bool = True
    """Train the actor on [B_tar; B_src] states (False: target states only)."""


class SingleCritic(FT):
    name = "single-critic"
    uses_source_data = True
    method_config: SingleCriticConfig

    def host_aux(self, source, target, rng: np.random.Generator, counters: dict) -> dict:
        cfg = self.method_config
        return {"beta": np.float32(cfg.beta(counters)), "src": source.sample(rng, cfg.batch_size)}

    def critic_loss(self, critic, state: SACState, batch: Batch, key, aux: dict = None):
        k_tar, k_src = jax.random.split(key)
        loss_tar, info = super().critic_loss(critic, state, batch, k_tar)
        loss_src, _ = super().critic_loss(critic, state, aux["src"], k_src)
        return loss_tar + aux["beta"] * loss_src, {**info, "critic_loss_src": loss_src, "beta": aux["beta"]}

    def actor_loss(self, actor, state: SACState, batch: Batch, key, aux: dict = None):
        if not self.method_config.actor_on_source:
            return super().actor_loss(actor, state, batch, key)
        both = batch._replace(obs=jnp.concatenate([batch.obs, aux["src"].obs], axis=0))
        return super().actor_loss(actor, state, both, key)


@dataclasses.dataclass(frozen=True)
class RewardShapingConfig(FTConfig):
    shaping_scale: float = 1.0
    """Weight of the |Q_tar - Q*_src| penalty."""


def q_gap_penalty(q_tar, q_src, scale):
    """r~ = r - scale |Q_tar(s, a) - Q*_src(s, a)| (the returned value is the subtracted term)."""
    return scale * jnp.abs(q_tar - q_src)


class RewardShaping(FT):
    name = "reward-shaping"
    method_config: RewardShapingConfig

    def __init__(self, config: RewardShapingConfig, expert):
        super().__init__(config, expert)
        self.src_critic_net = QEnsemble(2, tuple(expert.hidden))

    def frozen_from_expert(self, expert) -> dict:
        return {"q_src": copy_tree(expert.critic)}

    def td_target(self, state: SACState, batch: Batch, key):
        q_tar = self.critic_net.apply(state.critic, batch.obs, batch.act).min(0)
        q_src = self.src_critic_net.apply(state.extra["q_src"], batch.obs, batch.act).min(0)
        shaped = batch._replace(rew=batch.rew - q_gap_penalty(q_tar, q_src, self.method_config.shaping_scale))
        return super().td_target(state, shaped, key)
