"""H2O with an offline source dataset and the online target domain (DAFT Table 2's H2O column).

H2O (Niu et al., "When to Trust Your Simulator: Dynamics-Aware Hybrid Offline-and-Online Reinforcement Learning",
NeurIPS 2022, section 4, eq. 5-7) mixes data of two dynamics in one critic: the transitions of the other domain
enter the Bellman loss weighted by the dynamics ratio w = P_tar(s'|s, a) / P_src(s'|s, a), estimated by DARC's two
domain classifiers (`daftrl.algos.darc`, dr = log w), next to a CQL(H) regulariser (Kumar et al., NeurIPS 2020,
eq. 4; `daftrl.algos.cql`). daftrl implements the offline-source / online-target form of ODRL
(`OffDynamicsRL/off-dynamics-rl@34bba73:algo/offline_online/h2o.py`), the setting of DAFT's Table 2 ("taken from
PAR"), with every weight applied per source row:

    w_i   = clip(exp(dr(s_i, a_i, s'_i)), iw_clip)                    (no gradient; classifiers as DARC's)
    J_Q   = sum_j { mean_tar (Q_j - y)^2 + mean_src w_i (Q_j - y)^2
                    + alpha_cql mean_src w_i clip(T logsumexp_a Q_j(s_i, a)/T - Q_j(s_i, a_i), gap_clip) }
    J_pi  = SAC's actor loss on the source and target states,

y the soft TD target (ODRL's `backup_entropy`; a flag), the log-sum-exp estimated by importance sampling over 10
uniform, 10 pi(.|s) and 10 pi(.|s') actions per state (`daftrl.algos.cql.ood_actions`). ODRL multiplies a (B, 1)
weight by a (B,) gap, a B x B broadcast whose mean is mean(w) mean(gap): not copied. The classifiers train from the
first update, one step every `classifier_every` updates (ODRL); w is 1 during an optional `warmup`. Choices and
differences from the reference code: docs/assumptions.md ("Offline source: H2O, BC-PAR, BC-VGDF").
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import jax
import jax.numpy as jnp

from daftrl.algos.cql import conservative_terms, deterministic_backup, ood_actions
from daftrl.algos.darc import SACIW, SACIWConfig
from daftrl.algos.mix import SACMix
from daftrl.replay import Batch
from daftrl.sac import SACState

_CQL_STREAM = 0xC9


@dataclasses.dataclass(frozen=True)
class H2OConfig(SACIWConfig):
    """H2O, offline source: defaults of ODRL's `config/mujoco/h2o/*.yaml` (batch 128 + 128, alpha 0.2 fixed, classifier
    noise 1.0, a classifier step every 10 updates from the start, w clipped to [1e-4, 10], CQL weight 10)."""

    warmup: int = 0
    """Updates with w = 1 and no classifier training (ODRL: none)."""
    iw_clip: tuple[float, float] = (1e-4, 10.0)
    """Bounds of the per-row weight w = clip(exp(dr)) (ODRL offline-online; the H2O code clips P_real/P_sim to
    [1e-5, 1])."""
    alpha_cql: float = 10.0
    """Weight of the CQL(H) term on the source rows (ODRL `cql_alpha`; H2O's own code: 0.01 with the original roles)."""
    num_actions: int = 10
    """Actions from each of the three proposals (uniform, pi(.|s), pi(.|s')) per source state."""
    importance_sample: bool = True
    """Subtract each proposal's log-density inside the log-sum-exp (CQL's `min_q_version 3`)."""
    cql_temperature: float = 1.0
    gap_clip: tuple[float, float] = (-1e6, 1e6)
    """Clip of each row's gap logsumexp - Q(s, a_data) before weighting (ODRL `cql_clip_diff_min/max`)."""
    backup_entropy: bool = True
    """Subtract alpha log pi(a'|s') in the TD targets (ODRL; H2O's own code does not)."""
    cql_weighting: Literal["row", "batch_mean"] = "row"
    """How w weights the CQL gap: "row" = mean_i w_i gap_i (each source row by its own weight: rows the target
    dynamics find unlikely get little TD loss and little conservatism); "batch_mean" = mean_i w_i x mean_i gap_i,
    what ODRL's (B, 1) x (B,) broadcast computes, i.e. the same conservatism on every row (to compare with
    ODRL/PAR-era numbers)."""

    def __post_init__(self):
        if self.num_actions < 1 or not self.cql_temperature > 0 or self.alpha_cql < 0:
            raise ValueError(f"need num_actions >= 1, cql_temperature > 0 and alpha_cql >= 0: {self}")
        if not self.gap_clip[0] <= self.gap_clip[1]:
            raise ValueError(f"gap_clip must satisfy lo <= hi, got {self.gap_clip}")


class H2O(SACIW):
    """SAC-IW's classifiers and per-row weights, plus the weighted CQL(H) term on the source rows, a target TD
    loss, and SAC's actor on both domains' states (module docstring)."""

    name = "h2o"
    method_config: H2OConfig

    def td_target(self, state: SACState, batch: Batch, key: jax.Array) -> jax.Array:
        """SAC's soft target, or without the entropy term unless `backup_entropy`."""
        if self.method_config.backup_entropy:
            return super().td_target(state, batch, key)
        return deterministic_backup(self, state, batch, key)

    def weighted_conservative_gap(self, critic, state: SACState, src: Batch, w: jax.Array, key: jax.Array):
        """(Q_j(s, a_data) (M, B), the per-member mean_B w_i clip(gap_ij) (M,), the unweighted gaps (M, B))."""
        cfg = self.method_config
        ood, log_density = ood_actions(self.actor_net, state.actor, src.obs, src.next_obs, key, cfg.num_actions)
        q_src, gap = conservative_terms(self.critic_net, critic, src.obs, src.act, ood, log_density,
                                        cfg.importance_sample, cfg.cql_temperature)
        gap = jnp.clip(gap, *cfg.gap_clip)
        if cfg.cql_weighting == "batch_mean":
            return q_src, jnp.mean(w) * jnp.mean(gap, axis=-1), gap
        return q_src, jnp.mean(w[None] * gap, axis=-1), gap

    def critic_loss(self, critic, state: SACState, batch: Batch, key, aux: Any = None):
        """sum_j [mean_tar (Q_j - y)^2 + mean_src w (Q_j - y)^2 + alpha_cql mean_src w gap_j]; `batch` = target rows,
        aux["src"] = the dataset's rows."""
        src = aux["src"]
        k_tar, k_src = jax.random.split(key)
        w, dr = self.source_weights(state, src)
        y_tar = jax.lax.stop_gradient(self.td_target(state, batch, k_tar))
        y_src = jax.lax.stop_gradient(self.td_target(state, src, k_src))
        q_tar = self.critic_net.apply(critic, batch.obs, batch.act)
        q_src, weighted_gap, gap = self.weighted_conservative_gap(critic, state, src, w,
                                                                  jax.random.fold_in(key, _CQL_STREAM))
        loss_tar = jnp.sum(jnp.mean((q_tar - y_tar[None]) ** 2, axis=-1))
        loss_src = jnp.sum(jnp.mean(w[None] * (q_src - y_src[None]) ** 2, axis=-1))
        cql = self.method_config.alpha_cql * jnp.sum(weighted_gap)
        loss = loss_tar + loss_src + cql
        return loss, {"critic_loss": loss, "critic_loss_target": loss_tar, "critic_loss_source": loss_src,
                      "cql_loss": cql, "cql_gap": gap.mean(), "q": q_tar.mean(), "q_source": q_src.mean(),
                      "iw_mean": w.mean(), "iw_max": w.max(), "darc_delta_r": dr.mean()}

    def actor_loss(self, actor, state: SACState, batch: Batch, key, aux: Any = None):
        """SAC's actor loss on the concatenated source and target states (ODRL's `update_policy_and_temp`)."""
        return SACMix.actor_loss(self, actor, state, batch, key, aux)
