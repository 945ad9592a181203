"""FT (naive fine-tuning) and zero-shot: the base every adaptation method extends.

FT continues SAC (Haarnoja et al., 2018) from the source expert on target data only (Pandya et al., DAFT,
section 4): actor, twin critics and temperature start as the expert's, Adam states fresh,

    J_Q = E_{D_tar} sum_j (Q_j(s, a) - y)^2,   y = r + gamma (1 - d) (min_j Qbar_j(s', a') - alpha log pi(a'|s')),
    J_pi = E_{D_tar} [alpha log pi(a~|s) - min_j Q_j(s, a~)].

Zero-shot evaluates the expert without updates. Defaults and their reasons: docs/assumptions.md.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import jax
import numpy as np

from daftrl.sac import SAC, SACConfig, SACState, copy_tree


@dataclasses.dataclass(frozen=True)
class FTConfig:
    """Hyperparameters shared by every adaptation method (DAFT Table 1)."""

    batch_size: int = 128
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 5e-3
    alpha: float | None = None
    """Temperature; None keeps the expert's (0.2 for the zoo experts, as in the paper)."""
    learn_alpha: bool = False
    learning_starts: int = 128
    """Updates start once the target buffer holds this many transitions."""
    warmup_steps: int = 0
    """Uniform-random target actions before the policy acts (0: the expert acts from step one)."""
    buffer_size: int = 1_000_000
    critic_init: Literal["expert", "fresh"] = "expert"
    """expert: the critics start from the source critics (Algorithm 1); fresh: randomly initialised critics,
    only the policy is transferred (the appendix's "exact copy of the original policy" read literally)."""

    def sac_config(self, hidden: tuple[int, ...], num_critics: int = 2) -> SACConfig:
        return SACConfig(hidden=tuple(hidden), actor_lr=self.actor_lr, critic_lr=self.critic_lr,
                         alpha_lr=self.actor_lr, gamma=self.gamma, tau=self.tau, batch_size=self.batch_size,
                         init_alpha=self.alpha or 0.2, learn_alpha=self.learn_alpha, num_critics=num_critics)


class FT(SAC):
    """SAC initialised from the expert, trained on target data only."""

    name = "ft"
    learns = True
    uses_source_data = False

    method_config: FTConfig
    """The method's own hyperparameters (`self.config` is the SAC core's SACConfig built from them)."""

    def __init__(self, config: FTConfig, expert):
        self.method_config = config
        super().__init__(config.sac_config(expert.hidden, self.num_members(config)), expert.obs_dim, expert.act_dim)

    @staticmethod
    def num_members(config) -> int:
        return 2

    # ------------------------------------------------------------------ initialisation
    def initial_critic(self, expert, key: jax.Array) -> Any:
        del key
        return copy_tree(expert.critic)

    def frozen_from_expert(self, expert) -> dict:
        """Frozen copies of expert arrays a method needs (e.g. Q*_src), kept in `state.extra`, never optimised."""
        return {}

    def init_from_expert(self, expert, seed: int) -> SACState:
        state = self.init(seed)
        key = jax.random.fold_in(state.key, 0x5EED)
        actor = copy_tree(expert.actor)
        cfg = self.method_config
        critic = self.initial_critic(expert, key) if cfg.critic_init == "expert" else state.critic
        log_alpha = np.log(cfg.alpha) if cfg.alpha is not None else expert.log_alpha
        log_alpha = jax.numpy.asarray(log_alpha, jax.numpy.float32)
        return state.replace(
            actor=actor, critic=critic, target_critic=copy_tree(critic), log_alpha=log_alpha,
            actor_opt=self.actor_tx.init(actor), critic_opt=self.critic_tx.init(critic),
            alpha_opt=self.alpha_tx.init(log_alpha), extra=self.frozen_from_expert(expert),
        )

    # ------------------------------------------------------------------ host side, per update
    def host_aux(self, source, target, rng: np.random.Generator, counters: dict) -> Any:
        """Inputs sampled on the host for one update besides the target batch (None for FT)."""
        return None


class ZeroShot(FT):
    """The expert evaluated in the target domain, never updated (the reference line of every plot)."""

    name = "zero-shot"
    learns = False
