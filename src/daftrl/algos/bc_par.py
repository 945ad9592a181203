"""BC-PAR: PAR with an offline source dataset (Lyu et al., "Cross-Domain Policy Adaptation by Capturing
Representation Mismatch", ICML 2024, section 5.3 "offline source"; code `dmksjfl/PAR:algo/PAR_offline.py`, ODRL
`algo/offline_online/bc_par.py`).

The critic is PAR's (`daftrl.algos.par`): SAC on [dataset rows with r - beta d; target rows], d the representation
deviation of a target-trained encoder. The actor adds behaviour cloning on the dataset, TD3+BC style (Fujimoto and
Gu, NeurIPS 2021, eq. 3), to SAC's loss on the concatenated states S = [s_src; s_tar]:

    J_pi = nu / mean_S |min_j Q_j(s, a~)| * mean_S [alpha log pi(a~|s) - min_j Q_j(s, a~)]
           + mean_{src} ||a~_src - a_src||^2 / |A| ,       a~ ~ pi(.|s) reparameterised, the scale without gradient.

`bc_actor_loss` below is that loss; BC-VGDF (`daftrl.algos.bc_vgdf`) uses it too. Choices and differences from the
reference code: docs/assumptions.md ("Offline source: H2O, BC-PAR, BC-VGDF").
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from daftrl.algos.par import PAR, PARConfig
from daftrl.replay import Batch
from daftrl.sac import SACState


@dataclasses.dataclass(frozen=True)
class BCPARConfig(PARConfig):
    """BC-PAR: defaults of ODRL's `config/mujoco/bc_par/*.yaml` (beta 0.1, BC weight 5.0, every robot)."""

    beta: float = 0.1
    """Penalty coefficient: r~ = r - beta * d on the dataset rows (ODRL: 0.1 on every task)."""
    bc_weight: float = 5.0
    """nu: the SAC term is scaled by nu / mean|Q| (ODRL `weight` and the PAR README: 5.0; `PAR_offline.py`'s
    default: 2.5)."""


def bc_actor_loss(method, actor, state: SACState, obs: jax.Array, src: Batch, key: jax.Array, nu: float):
    """(nu / mean|Q|) * mean_obs [alpha log pi(a~|s) - min_j Q_j(s, a~)] + mean ||a~(s_src) - a_src||^2 / |A|, and
    its info. `method` is any SAC-core method (its actor and critic networks); `obs` the states of the SAC term,
    `src` the dataset rows whose actions are cloned; a~ are reparameterised samples, so both terms train the actor."""
    k_pi, k_bc = jax.random.split(key)
    act, log_prob = method.policy(actor, obs, k_pi)
    q = method.aggregate_actor_q(method.critic_net.apply(state.critic, obs, act))
    sac = jnp.mean(jnp.exp(state.log_alpha) * log_prob - q)
    lam = nu / jax.lax.stop_gradient(jnp.mean(jnp.abs(q)))
    src_act, _ = method.policy(actor, src.obs, k_bc)
    bc = jnp.mean((src_act - src.act) ** 2)
    loss = lam * sac + bc
    return loss, {"actor_loss": loss, "bc_loss": bc, "bc_lambda": lam, "log_prob": log_prob.mean()}


class BCPAR(PAR):
    """PAR's critic, encoder and schedule; the actor loss `bc_actor_loss` on [source; target] states."""

    name = "bc-par"
    method_config: BCPARConfig

    def actor_loss(self, actor, state: SACState, batch: Batch, key, aux: Any = None):
        src = aux["src"]
        return bc_actor_loss(self, actor, state, jnp.concatenate([src.obs, batch.obs]), src, key,
                             self.method_config.bc_weight)
