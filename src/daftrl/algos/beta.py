"""The decaying weight beta_k = max(beta_min, beta0 * kappa^k) of DAFT's source term (paper section 3,
kappa = 0.99 in Table 1), shared by DAFT and the single-critic ablation.

The paper does not say what k counts; `beta_decay_unit` chooses (docs/assumptions.md):
episode (default: completed target episodes, Algorithm 1's outer iteration), env_steps (blocks of
`beta_decay_period` target steps), env_step (every target step) or grad_step (every update).
"""

from __future__ import annotations

import dataclasses
from typing import Literal


@dataclasses.dataclass(frozen=True)
class BetaSchedule:
    beta0: float = 1.0
    """Initial weight of the source term."""
    kappa: float = 0.99
    """Decay factor per unit of k (paper Table 1)."""
    beta_decay_unit: Literal["episode", "env_steps", "env_step", "grad_step"] = "episode"
    beta_decay_period: int = 1000
    """Length of one k in target steps when beta_decay_unit = env_steps."""
    beta_min: float = 0.0

    def beta(self, counters: dict) -> float:
        k = {
            "episode": counters["episodes"],
            "env_steps": counters["env_steps"] // self.beta_decay_period,
            "env_step": counters["env_steps"],
            "grad_step": counters["updates"],
        }[self.beta_decay_unit]
        return max(self.beta_min, self.beta0 * self.kappa**k)
