"""BC-VGDF ("VGDF+BC"): VGDF with an offline source dataset (Xu et al., "Cross-Domain Policy Adaptation via
Value-Guided Data Filtering", NeurIPS 2023, section 5.2 and appendix E.2; ODRL `algo/offline_online/bc_vgdf.py`).

The critic is VGDF's (`daftrl.algos.vgdf`): target TD loss plus the source TD loss gated by the value-consistency
filter of a target dynamics ensemble, refitted every `model_every` updates. The actor adds behaviour cloning on the
dataset (TD3+BC normalisation, `daftrl.algos.bc_par.bc_actor_loss`), every `policy_delay` critic updates:

    J_pi = lambda * mean_S [alpha log pi(a~|s) - min_j Q_j(s, a~)] + mean_src ||a~_src - a_src||^2 / |A|,
    lambda = bc_weight / mean_S |min_j Q_j(s, a~)|   (no gradient),  S = [s_src; s_tar].

There is no optimistic exploration policy: the paper's VGDF+BC has none (the dataset is not collected), and the
policy pi collects the target data and is evaluated (ODRL's `optimistic: True` default, which lets the optimistic
actor act and be evaluated, is not copied). Choices and differences from the reference code: docs/assumptions.md
("Offline source: H2O, BC-PAR, BC-VGDF").
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from daftrl.algos.bc_par import bc_actor_loss
from daftrl.algos.vgdf import VGDF, VGDFConfig
from daftrl.replay import Batch
from daftrl.sac import SAC, SACState

ACTOR_INFO = ("actor_loss", "bc_loss", "bc_lambda", "log_prob")
"""The last actor update's values, kept in `state.extra` and logged between actor updates (policy delay)."""


@dataclasses.dataclass(frozen=True)
class BCVGDFConfig(VGDFConfig):
    """BC-VGDF: VGDF's defaults plus the BC weight (ODRL `bc_coeff` 5.0 with `use_q_decay`: lambda = 5 / mean|Q|)."""

    bc_weight: float = 5.0
    """The SAC term is scaled by bc_weight / mean|Q|."""


class BCVGDF(VGDF):
    """VGDF's filtered critic and dynamics ensemble; one actor trained by `bc_actor_loss` (module docstring)."""

    name = "bc-vgdf"
    method_config: BCVGDFConfig

    def init_auxiliary(self, key: jax.Array) -> dict:
        """VGDF's dynamics ensemble and the last actor losses; no optimistic actor."""
        model = super().init_auxiliary(key)["model"]
        return {"actor_info": {k: jnp.zeros((), jnp.float32) for k in ACTOR_INFO}, "model": model}

    def behaviour_actor(self, state: SACState, domain: str):
        """pi acts in the target (the source is a dataset: nothing else collects)."""
        del domain
        return state.actor

    def actor_loss(self, actor, state: SACState, batch: Batch, key, aux: Any = None):
        src = aux["src"]
        return bc_actor_loss(self, actor, state, jnp.concatenate([src.obs, batch.obs]), src, key,
                             self.method_config.bc_weight)

    def actor_step(self, state: SACState, batch: Batch, key, aux: Any = None):
        """SAC's actor step (and alpha, if learnt) every `policy_delay` updates; in between the state is unchanged
        and the last losses are reported."""

        def update(state: SACState) -> SACState:
            state, info = SAC.actor_step(self, state, batch, key, aux)
            return state.replace(extra={**state.extra, "actor_info": {k: info[k] for k in ACTOR_INFO}})

        state = jax.lax.cond(state.step % self.method_config.policy_delay == 0, update, lambda s: s, state)
        return state, dict(state.extra["actor_info"])
