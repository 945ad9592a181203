"""SGFT: simulation-guided fine-tuning (Yin, Westenbroek et al., ICLR 2025), ported to SAC.

SGFT shapes the target reward with the frozen source expert's value (potential-based, Ng et al., 1999)

    r~ = r + gamma (1 - d) V_sim(s') - V_sim(s),   V_sim(s) = min_j Q*_src,j(s, tanh mu_src(s)),

and learns over a short horizon H, so that V_sim acts as the value at the horizon: the H-step shaped return
telescopes to the H-step return bootstrapped with V_sim, minus V_sim(s_0) (a constant per state). The SAC port
reads "horizon H" as a geometric one: each step the H-horizon problem goes on with probability 1 - 1/H (mean
length H) and otherwise ends with the terminal value V_sim(s'), i.e. the learner's discount is
gamma_H = gamma (1 - 1/H) on r~ while the potential keeps gamma. The critic learns Q~ + V_sim(s) (the shaped
soft Q plus the potential, which does not depend on the action, so the actor's gradient is the same), which
starts at the source critics' scale; its target is

    y = r + (1 - d) [(gamma - gamma_H) V_sim(s') + gamma_H (min_i Q'_i(s', a') - alpha log pi(a'|s'))].

H = 1 (SGFT-SAC, the default): gamma_H = 0, y = r + gamma (1 - d) V_sim(s'). H = inf: this target would be FT's
exactly (shaping over the full horizon does not change the optimal policy, Ng et al., 1999), so `inf` instead
runs SAC with gamma on r~ itself (the critic learns Q~, which is V_sim(s) below the source critics it starts from):
the same optimum as FT, other learning dynamics. See docs/assumptions.md.
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
    """SGFT horizon H: 1 (SGFT-SAC), H > 1 (goes on with probability 1 - 1/H per step, learner discount
    gamma (1 - 1/H), V_sim at the end), or inf (SAC with gamma on the shaped reward)."""


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
        """The learner's discount gamma (1 - 1/H): 0 for H = 1, gamma for H = inf."""
        return self.config.gamma * (1.0 - 1.0 / self.horizon)

    def td_target(self, state: SACState, batch: Batch, key):
        gamma, gamma_h = self.config.gamma, self.gamma_h
        alive = 1.0 - batch.terminated
        v_next = self.v_sim(state, batch.next_obs)
        if self.horizon == 1:  # gamma_H = 0: nothing to bootstrap from the learner's critic
            return batch.rew + gamma * alive * v_next
        next_act, next_logp = self.policy(state.actor, batch.next_obs, key)
        soft_next = self.critic_net.apply(state.target_critic, batch.next_obs, next_act).min(0) \
            - jnp.exp(state.log_alpha) * next_logp
        if math.isinf(self.horizon):  # SAC on the shaped reward
            r_shaped = shaped_reward(batch.rew, batch.terminated, self.v_sim(state, batch.obs), v_next, gamma)
            return r_shaped + gamma * alive * soft_next
        return batch.rew + alive * ((gamma - gamma_h) * v_next + gamma_h * soft_next)


__all__ = ["SGFT", "SGFTConfig", "shaped_reward"]
