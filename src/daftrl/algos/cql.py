"""CQL(H): conservative Q-learning for continuous actions (Kumar et al., NeurIPS 2020, arXiv 2006.04779).

SAC (Haarnoja et al., 2018) trained on a fixed dataset D, with each critic member pushed down on actions the data
does not contain and up on the data's own actions (the CQL(H) regulariser, paper equation 4):

    J_Q = sum_j { E_D (Q_j(s, a) - y)^2 + alpha_cql E_{s~D} [ T log sum_a exp(Q_j(s, a) / T) - E_{a~D} Q_j(s, a) ] },
    y   = r + gamma (1 - d) (min_j Qbar_j(s', a') [- alpha log pi(a'|s')]),  a' ~ pi(.|s')   (entropy term: a flag).

The log-sum-exp over the continuous action space is estimated by importance sampling (paper appendix F): N actions
from each of Unif[-1, 1]^|A|, pi(.|s) and pi(.|s'), all evaluated at s, each Q minus the log-density of its
proposal (|A| log 0.5 for the uniform, log pi for the policy samples, no gradient through them), temperature T = 1.
Without importance sampling the plain Q values of those 3N actions and of the data action enter the sum.

The Lagrange variant (paper section 3.2, "CQL(H) with Lagrange") replaces the fixed weight by alpha_cql alpha'
(gap - target_action_gap) and trains log alpha' by gradient ascent on that term, alpha' = clip(exp(log alpha'),
0, 1e6): alpha' grows while the gap exceeds the threshold and shrinks otherwise.

The actor loss is SAC's, except for the first `policy_eval_start` updates, which clone the data
(alpha log pi(a~|s) - log pi(a_data|s), the original code's warm-up). Every default, and why: the CQLConfig fields
below and docs/assumptions.md ("CQL and the offline loop").
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from daftrl.nn import tanh_gaussian_log_prob
from daftrl.replay import Batch
from daftrl.sac import SAC, SACConfig, SACState

ACTION_EDGE = 1e-6
"""Data actions are clipped to [-1 + ACTION_EDGE, 1 - ACTION_EDGE] before atanh in the BC warm-up (a logged action
of exactly +-1 has no finite pre-tanh value)."""
ALPHA_PRIME_MAX = 1e6
"""Upper clip of the Lagrange multiplier alpha' (both reference implementations)."""
_CQL_STREAM = 0xC9


@dataclasses.dataclass(frozen=True)
class CQLConfig:
    """CQL hyperparameters. DAFT Table 1's offline column where it speaks (batch 256, layer size 256, policy eval
    start 40 000) and the original code (`aviralkumar2907/CQL`) that column quotes; CORL's `algorithms/offline/cql.py`
    (Tarasov et al., 2023) agrees with it except for the actor rate and the behaviour-cloning warm-up (3e-5, none)."""

    hidden: tuple[int, ...] = (256, 256, 256)
    """Hidden widths of actor and critics. Table 1 gives the layer size (256); the CQL launcher it quotes, and CORL,
    use three hidden layers."""
    batch_size: int = 256
    """Table 1 (pretraining), CORL and the original."""
    actor_lr: float = 1e-4
    """The original launcher's, which goes with its 40 000-update warm-up (CORL: 3e-5 without a warm-up). CORL's
    3e-5 under the warm-up did not train: docs/assumptions.md, "CQL and the offline loop". The temperature uses
    the same rate, as in both references."""
    critic_lr: float = 3e-4
    """Both references; also the rate of log alpha' (Lagrange)."""
    gamma: float = 0.99
    tau: float = 5e-3
    """Polyak rate of the target critics, one target update per gradient step."""
    init_alpha: float = 1.0
    """Initial entropy temperature (log alpha = 0 in both references)."""
    learn_alpha: bool = True
    """Tune alpha towards the target entropy -|A| (both references)."""
    alpha_cql: float = 10.0
    """Weight of the CQL regulariser (CORL and ODRL: 10; the original: 5 or 10)."""
    num_actions: int = 10
    """Actions sampled from each of the three proposals per state (both references)."""
    importance_sample: bool = True
    """Subtract each proposal's log-density inside the log-sum-exp (the original's `min_q_version 3`, CORL)."""
    cql_temperature: float = 1.0
    """Temperature T of the log-sum-exp."""
    lagrange: bool = False
    """Tune the regulariser weight with a Lagrange multiplier alpha' (off in CORL and in the original's MuJoCo runs)."""
    target_action_gap: float = 5.0
    """Threshold of the Lagrange variant on the per-member gap E_s[T logsumexp(Q/T) - Q(s, a_data)] (the original
    launcher's default; the paper uses 5 or 10; unused without --lagrange)."""
    policy_eval_start: int = 40_000
    """Updates that train the actor by behaviour cloning before the SAC actor loss takes over (Table 1; the original's
    key of that name, counted in gradient steps; CORL defaults to 0)."""
    backup_entropy: bool = False
    """Subtract alpha log pi(a'|s') in the TD target (both references: off, a 'deterministic backup'; ODRL: on)."""

    def __post_init__(self):
        if self.num_actions < 1:
            raise ValueError(f"--num-actions must be >= 1, got {self.num_actions}")
        if not self.cql_temperature > 0:
            raise ValueError(f"--cql-temperature must be > 0, got {self.cql_temperature}")
        if self.alpha_cql < 0:
            raise ValueError(f"--alpha-cql must be >= 0, got {self.alpha_cql}")
        if self.policy_eval_start < 0:
            raise ValueError(f"--policy-eval-start must be >= 0, got {self.policy_eval_start}")

    def sac_config(self) -> SACConfig:
        return SACConfig(hidden=tuple(self.hidden), actor_lr=self.actor_lr, critic_lr=self.critic_lr,
                         alpha_lr=self.actor_lr, gamma=self.gamma, tau=self.tau, batch_size=self.batch_size,
                         init_alpha=self.init_alpha, learn_alpha=self.learn_alpha)


class CQL(SAC):
    """CQL(H) on the shared SAC core: the critic and actor losses are overridden, the update is SAC's (one jitted
    step: critic with the CQL term, Lagrange multiplier, actor, temperature, Polyak)."""

    name = "cql"
    method_config: CQLConfig
    """The method's own hyperparameters (`self.config` is the SAC core's SACConfig built from them)."""

    def __init__(self, config: CQLConfig, obs_dim: int, act_dim: int):
        self.method_config = config
        self.alpha_prime_tx = optax.adam(config.critic_lr)
        super().__init__(config.sac_config(), obs_dim, act_dim)

    def init(self, seed: int) -> SACState:
        """SAC's state plus log alpha' = 0 (alpha' = 1) and its Adam state in `state.extra` (kept, unused, without
        --lagrange, so every CQL checkpoint has the same layout)."""
        state = super().init(seed)
        log_alpha_prime = jnp.zeros((), jnp.float32)
        return state.replace(extra={"log_alpha_prime": log_alpha_prime,
                                    "alpha_prime_opt": self.alpha_prime_tx.init(log_alpha_prime)})

    @staticmethod
    def alpha_prime(state: SACState) -> jax.Array:
        return jnp.clip(jnp.exp(state.extra["log_alpha_prime"]), 0.0, ALPHA_PRIME_MAX)

    # ------------------------------------------------------------------ the conservative term
    def ood_actions(self, state: SACState, batch: Batch, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The 3N proposal actions per state and their log-densities (`ood_actions` below)."""
        return ood_actions(self.actor_net, state.actor, batch.obs, batch.next_obs, key, self.method_config.num_actions)

    def conservative_gap(self, critic, obs: jax.Array, act: jax.Array, ood: jax.Array, log_density: jax.Array):
        """(Q_j(s, a_data) of shape (M, B), the per-member gap E_s[T logsumexp_a(Q_j(s, a)/T) - Q_j(s, a_data)] of
        shape (M,)), from the per-state gaps of `conservative_terms`."""
        cfg = self.method_config
        q_data, gap = conservative_terms(self.critic_net, critic, obs, act, ood, log_density, cfg.importance_sample,
                                         cfg.cql_temperature)
        return q_data, jnp.mean(gap, axis=-1)

    # ------------------------------------------------------------------ losses
    def td_target(self, state: SACState, batch: Batch, key: jax.Array) -> jax.Array:
        """SAC's target, without the entropy term unless --backup-entropy (the references' deterministic backup)."""
        if self.method_config.backup_entropy:
            return super().td_target(state, batch, key)
        return deterministic_backup(self, state, batch, key)

    def critic_loss(self, critic, state: SACState, batch: Batch, key: jax.Array, aux: Any = None):
        """sum_j [mean_B (Q_j - y)^2 + w (gap_j - shift)], w = alpha_cql (alpha_cql alpha' and shift =
        target_action_gap with --lagrange). With alpha_cql = 0 this is SAC's critic loss."""
        cfg = self.method_config
        if cfg.alpha_cql == 0:
            return super().critic_loss(critic, state, batch, key, aux)
        target = jax.lax.stop_gradient(self.td_target(state, batch, key))
        ood, log_density = self.ood_actions(state, batch, jax.random.fold_in(key, _CQL_STREAM))
        q, gap = self.conservative_gap(critic, batch.obs, batch.act, ood, log_density)
        td = jnp.sum(jnp.mean((q - target[None]) ** 2, axis=-1))
        info = {"td_loss": td, "cql_gap": jnp.mean(gap), "q": q.mean()}
        if cfg.lagrange:
            alpha_prime = jax.lax.stop_gradient(self.alpha_prime(state))
            penalty = cfg.alpha_cql * alpha_prime * jnp.sum(gap - cfg.target_action_gap)
            info["alpha_prime"] = alpha_prime
        else:
            penalty = cfg.alpha_cql * jnp.sum(gap)
        loss = td + penalty
        return loss, {"critic_loss": loss, "cql_loss": penalty, **info}

    def alpha_prime_loss(self, log_alpha_prime: jax.Array, gap: jax.Array) -> jax.Array:
        """-alpha_cql alpha' (gap - target_action_gap), gap = the mean over members (no gradient to the critics)."""
        cfg = self.method_config
        alpha_prime = jnp.clip(jnp.exp(log_alpha_prime), 0.0, ALPHA_PRIME_MAX)
        return -cfg.alpha_cql * alpha_prime * jax.lax.stop_gradient(gap - cfg.target_action_gap)

    def critic_step(self, state: SACState, batch: Batch, key: jax.Array, aux: Any = None):
        """SAC's critic step, then (with --lagrange) one Adam step on log alpha' from the same forward pass."""
        state, info = super().critic_step(state, batch, key, aux)
        if not (self.method_config.lagrange and self.method_config.alpha_cql > 0):
            return state, info
        extra = state.extra
        grad = jax.grad(self.alpha_prime_loss)(extra["log_alpha_prime"], info["cql_gap"])
        updates, opt = self.alpha_prime_tx.update(grad, extra["alpha_prime_opt"], extra["log_alpha_prime"])
        extra = {**extra, "log_alpha_prime": optax.apply_updates(extra["log_alpha_prime"], updates),
                 "alpha_prime_opt": opt}
        return state.replace(extra=extra), info

    def bc_actor_loss(self, actor, state: SACState, batch: Batch, key: jax.Array):
        """The warm-up loss mean_B [alpha log pi(a~|s) - log pi(a_data|s)]: maximum likelihood of the data actions
        with SAC's entropy term."""
        mean, log_std = self.actor_net.apply(actor, batch.obs)
        eps = jax.random.normal(key, mean.shape, mean.dtype)
        u = mean + jnp.exp(log_std) * eps
        log_prob = tanh_gaussian_log_prob(u, mean, log_std)
        u_data = jnp.arctanh(jnp.clip(batch.act, -1.0 + ACTION_EDGE, 1.0 - ACTION_EDGE))
        data_log_prob = tanh_gaussian_log_prob(u_data, mean, log_std)
        loss = jnp.mean(jnp.exp(state.log_alpha) * log_prob - data_log_prob)
        return loss, {"actor_loss": loss, "log_prob": log_prob.mean()}

    def actor_loss(self, actor, state: SACState, batch: Batch, key: jax.Array, aux: Any = None):
        """The BC warm-up while state.step < policy_eval_start (a lax.cond: one branch runs), SAC's loss after."""
        start = self.method_config.policy_eval_start
        sac_loss = super().actor_loss
        if start == 0:
            return sac_loss(actor, state, batch, key, aux)
        return jax.lax.cond(state.step < start, lambda p: self.bc_actor_loss(p, state, batch, key),
                            lambda p: sac_loss(p, state, batch, key, aux), actor)


# ---------------------------------------------------------------------- the conservative term (shared with H2O)
def deterministic_backup(learner: SAC, state: SACState, batch: Batch, key: jax.Array) -> jax.Array:
    """y = r + gamma (1 - terminated) agg_j Qbar_j(s', a'), a' ~ pi(.|s'): SAC's target without the entropy term,
    the default backup of CQL's and H2O's reference code (`learner`'s policy, target critics and aggregation)."""
    k_pi, k_agg = jax.random.split(key)
    next_act, _ = learner.policy(state.actor, batch.next_obs, k_pi)
    next_q = learner.aggregate_target_q(learner.critic_net.apply(state.target_critic, batch.next_obs, next_act),
                                        k_agg)
    return batch.rew + learner.config.gamma * (1.0 - batch.terminated) * next_q


def ood_actions(actor_net, actor, obs: jax.Array, next_obs: jax.Array, key: jax.Array,
                n: int) -> tuple[jax.Array, jax.Array]:
    """The 3N proposal actions per state, (3N, B, |A|), and their log-densities (3N, B): N uniform actions in
    [-1, 1]^|A| (log-density |A| log 0.5), N samples of pi(.|s) and N of pi(.|s') (log pi), no gradient. One actor
    pass on [s; s'] gives both policies; the N samples reuse its mean and std."""
    b, act_dim = obs.shape[0], actor_net.act_dim
    k_uniform, k_pi = jax.random.split(key)
    uniform = jax.random.uniform(k_uniform, (n, b, act_dim), minval=-1.0, maxval=1.0)
    mean, log_std = actor_net.apply(actor, jnp.concatenate([obs, next_obs], axis=0))
    u = mean + jnp.exp(log_std) * jax.random.normal(k_pi, (n, *mean.shape), mean.dtype)
    pi_act, pi_log_prob = jnp.tanh(u), tanh_gaussian_log_prob(u, mean, log_std)  # (N, 2B, |A|), (N, 2B)
    actions = jnp.concatenate([uniform, pi_act[:, :b], pi_act[:, b:]], axis=0)
    log_density = jnp.concatenate([jnp.full((n, b), act_dim * np.log(0.5), jnp.float32),
                                   pi_log_prob[:, :b], pi_log_prob[:, b:]], axis=0)
    return jax.lax.stop_gradient(actions), jax.lax.stop_gradient(log_density)


def conservative_terms(critic_net, critic, obs: jax.Array, act: jax.Array, ood: jax.Array, log_density: jax.Array,
                       importance_sample: bool, temperature: float) -> tuple[jax.Array, jax.Array]:
    """(Q_j(s, a_data), the per-state gap T logsumexp_a(Q_j(s, a)/T) - Q_j(s, a_data)), both of shape (M, B): the
    CQL(H) regulariser before its mean over states. One critic pass evaluates the data actions and the proposals
    `ood` (K, B, |A|) at the batch states; with `importance_sample` each proposal's Q is reduced by its log-density
    and the data action stays out of the log-sum-exp, otherwise the plain Q values of all of them enter it."""
    k, b = ood.shape[0], obs.shape[0]
    acts = jnp.concatenate([act[None], ood], axis=0)  # (1 + K, B, |A|)
    states = jnp.broadcast_to(obs, (k + 1, *obs.shape))
    q = critic_net.apply(critic, states.reshape(-1, obs.shape[-1]), acts.reshape(-1, acts.shape[-1]))
    q = q.reshape(q.shape[0], k + 1, b)
    q_data = q[:, 0]
    terms = q[:, 1:] - log_density[None] if importance_sample else q
    soft_max = temperature * jax.nn.logsumexp(terms / temperature, axis=1)  # (M, B)
    return q_data, soft_max - q_data
