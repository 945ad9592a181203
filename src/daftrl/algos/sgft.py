"""SGFT: simulation-guided fine-tuning (Yin, Westenbroek et al., ICLR 2025), ported to SAC.

FT on the potential-based shaped reward (Ng et al., 1999) with the frozen source expert's value

    r~ = r + gamma_H (1 - d) V_sim(s') - V_sim(s),   V_sim(s) = min_j Q*_src,j(s, tanh mu_src(s)),

and learner discount gamma_H = 1 - 1/H. H = 1 (SGFT-SAC, default): no bootstrap, trained as the
equivalent target y = r + gamma (1 - d) V_sim(s'); H = inf: SAC with gamma on r~. See docs/assumptions.md.
"""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp

from daftrl.algos.ft import FT, FTConfig
from daftrl.nn import QEnsemble, TanhGaussianActor
from daftrl.replay import Batch
from daftrl.sac import SACState, copy_tree


@dataclasses.dataclass(frozen=True)
class SGFTConfig(FTConfig):
    horizon: float = 1.0
    """SGFT horizon H: 1 (SGFT-SAC), inf (full discount) or H > 1 (discount 1 - 1/H)."""


def shaped_reward(rew, terminated, v_s, v_next, gamma):
    """Potential-based shaping r + gamma (1 - d) V(s') - V(s) (Ng et al., 1999)."""
    return rew + gamma * (1.0 - terminated) * v_next - v_s


class SGFT(FT):
    name = "sgft"
    method_config: SGFTConfig

    def __init__(self, config: SGFTConfig, expert):
        if not (config.horizon >= 1):
            raise ValueError(f"SGFT horizon must be >= 1 or inf, got {config.horizon}")
        super().__init__(config, expert)
        self.horizon = config.horizon
        self.src_actor_net = TanhGaussianActor(expert.act_dim, tuple(expert.hidden))
        self.src_critic_net = QEnsemble(2, tuple(expert.hidden))

    def frozen_from_expert(self, expert) -> dict:
        return {"src_actor": copy_tree(expert.actor), "q_src": copy_tree(expert.critic)}

    def v_sim(self, state: SACState, obs):
        """V_sim(s) = min_j Q*_src,j(s, tanh(mu_src(s)))."""
        act = jnp.tanh(self.src_actor_net.apply(state.extra["src_actor"], obs)[0])
        return self.src_critic_net.apply(state.extra["q_src"], obs, act).min(0)

    @property
    def gamma_h(self) -> float:
        return self.config.gamma if math.isinf(self.horizon) else 1.0 - 1.0 / self.horizon

    def td_target(self, state: SACState, batch: Batch, key):
        if self.horizon == 1:
            return batch.rew + self.config.gamma * (1.0 - batch.terminated) * self.v_sim(state, batch.next_obs)
        gamma = self.gamma_h
        r_shaped = shaped_reward(batch.rew, batch.terminated, self.v_sim(state, batch.obs),
                                 self.v_sim(state, batch.next_obs), gamma)
        next_act, next_logp = self.policy(state.actor, batch.next_obs, key)
        next_q = self.critic_net.apply(state.target_critic, batch.next_obs, next_act).min(0)
        alpha = jnp.exp(state.log_alpha)
        return r_shaped + gamma * (1.0 - batch.terminated) * (next_q - alpha * next_logp)


__all__ = ["SGFT", "SGFTConfig", "shaped_reward"]
