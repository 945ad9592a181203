"""Soft actor-critic: the train state and the pure, jitted update every daftrl method builds on.

One call of :meth:`SAC.update` does the whole gradient step (Haarnoja et al., 2018):

1. critic: minimise sum_j mean_B (Q_j(s, a) - y)^2 with the soft TD target
   y = r + gamma (1 - terminated) [min_j Qbar_j(s', a') - alpha log pi(a'|s')], a' ~ pi(.|s');
2. actor: minimise mean_B [alpha log pi(a~|s) - agg_j Q_j(s, a~)] with the just-updated critics
   (critic parameters are not differentiated);
3. temperature (optional): minimise -log_alpha * mean_B [log pi(a~|s) + target_entropy];
4. Polyak averaging of the target critics with rate tau.

Methods (DAFT, FT, SGFT, PAR, ...) subclass :class:`SAC` and override the loss hooks
(``actor_loss``, ``td_target``, ``reward``) - never the loop. Randomness is derived from the state:
the update key is ``fold_in(state.key, state.step)``, so a resumed run repeats exactly.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from daftrl.nn import QEnsemble, TanhGaussianActor, tanh_gaussian_sample
from daftrl.replay import Batch

Params = Any


@dataclasses.dataclass(frozen=True)
class SACConfig:
    """SAC hyperparameters. Defaults: the DAFT paper's Table 1 ("paper" preset)."""

    hidden: tuple[int, ...] = (256, 256)
    """Hidden layer widths of actor and critics."""
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    alpha_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 5e-3
    """Polyak rate of the target critics."""
    batch_size: int = 128
    init_alpha: float = 0.2
    """Entropy temperature (the paper keeps it fixed at 0.2)."""
    learn_alpha: bool = False
    """Learn the temperature towards `target_entropy` (SB3/CleanRL style) instead of keeping it fixed."""
    target_entropy: float | None = None
    """Entropy target when learning alpha; None means -|A|."""
    num_critics: int = 2
    log_std_min: float = -20.0
    log_std_max: float = 2.0


PRESETS: dict[str, SACConfig] = {
    # DAFT Table 1 / PAR / ODRL: batch 128, Adam 3e-4, alpha fixed 0.2.
    "paper": SACConfig(),
    # Tianshou's MuJoCo SAC (batch 256, lr 1e-3, alpha fixed 0.2): the recipe behind the published
    # 1e6-step returns our experts are held to (docs/zoo.md, "How the experts are trained").
    "expert": SACConfig(actor_lr=1e-3, critic_lr=1e-3, alpha_lr=1e-3, batch_size=256),
    # Generic SB3/CleanRL SAC: batch 256, learned alpha towards -|A|.
    "sb3": SACConfig(batch_size=256, init_alpha=1.0, learn_alpha=True),
}


class SACState(flax.struct.PyTreeNode):
    """Everything a SAC learner needs to continue bit-exactly (checkpointed as a flat dict)."""

    actor: Params
    critic: Params
    target_critic: Params
    log_alpha: jax.Array
    actor_opt: optax.OptState
    critic_opt: optax.OptState
    alpha_opt: optax.OptState
    key: jax.Array
    step: jax.Array
    extra: dict = flax.struct.field(default_factory=dict)
    """Method-specific arrays, e.g. DAFT's frozen source critic Q*_src (never optimised here)."""


def polyak(target: Params, online: Params, tau: float) -> Params:
    """Qbar <- tau Q + (1 - tau) Qbar."""
    return jax.tree.map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)


def soft_td_target(rew, terminated, next_q, next_log_prob, alpha, gamma):
    """y = r + gamma (1 - terminated) (Qbar(s', a') - alpha log pi(a'|s')); truncation is not terminal."""
    return rew + gamma * (1.0 - terminated) * (next_q - alpha * next_log_prob)


def copy_tree(tree: Params) -> Params:
    """A real copy (distinct buffers), required before donating a state that holds both trees."""
    return jax.tree.map(jnp.array, tree)


class SAC:
    """SAC learner for observation size `obs_dim` and actions in [-1, 1]^act_dim."""

    def __init__(self, config: SACConfig, obs_dim: int, act_dim: int):
        self.config = config
        self.obs_dim = obs_dim
        self.act_dim = act_dim
        self.target_entropy = (
            float(-act_dim) if config.target_entropy is None else float(config.target_entropy)
        )
        self.actor_net = TanhGaussianActor(act_dim, config.hidden, config.log_std_min, config.log_std_max)
        self.critic_net = QEnsemble(config.num_critics, config.hidden)
        self.actor_tx = optax.adam(config.actor_lr)
        self.critic_tx = optax.adam(config.critic_lr)
        self.alpha_tx = optax.adam(config.alpha_lr)
        self.update = jax.jit(self._update, donate_argnums=0)
        self.update_many = jax.jit(self._update_many, donate_argnums=0)
        self.sample_actions = jax.jit(self._sample_actions)
        self.mean_actions = jax.jit(self._mean_actions)

    # ----------------------------------------------------------------- state
    def init(self, seed: int) -> SACState:
        key = jax.random.PRNGKey(seed)
        k_actor, k_critic, k_update = jax.random.split(key, 3)
        obs = jnp.zeros((1, self.obs_dim), jnp.float32)
        act = jnp.zeros((1, self.act_dim), jnp.float32)
        actor = self.actor_net.init(k_actor, obs)
        critic = self.critic_net.init(k_critic, obs, act)
        log_alpha = jnp.asarray(np.log(self.config.init_alpha), jnp.float32)
        return SACState(
            actor=actor,
            critic=critic,
            target_critic=copy_tree(critic),
            log_alpha=log_alpha,
            actor_opt=self.actor_tx.init(actor),
            critic_opt=self.critic_tx.init(critic),
            alpha_opt=self.alpha_tx.init(log_alpha),
            key=k_update,
            step=jnp.zeros((), jnp.int32),
        )

    # ----------------------------------------------------------------- acting
    def _sample_actions(self, actor: Params, obs: jax.Array, key: jax.Array, counter: jax.Array) -> jax.Array:
        """Exploration actions a ~ pi(.|s) with the key `fold_in(key, counter)` (no key state to carry)."""
        mean, log_std = self.actor_net.apply(actor, obs)
        return tanh_gaussian_sample(mean, log_std, jax.random.fold_in(key, counter))[0]

    def _mean_actions(self, actor: Params, obs: jax.Array) -> jax.Array:
        """The deterministic evaluation action tanh(mean)."""
        return jnp.tanh(self.actor_net.apply(actor, obs)[0])

    def policy(self, actor: Params, obs: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """A reparameterised action sample and its log-probability."""
        mean, log_std = self.actor_net.apply(actor, obs)
        return tanh_gaussian_sample(mean, log_std, key)

    # ----------------------------------------------------------------- loss hooks
    def aggregate_target_q(self, next_q: jax.Array, key: jax.Array) -> jax.Array:
        """How the target ensemble (members, B) becomes one value: clipped double-Q (min)."""
        del key
        return next_q.min(axis=0)

    def aggregate_actor_q(self, q: jax.Array) -> jax.Array:
        """How the critic ensemble (members, B) enters the actor loss: min over members."""
        return q.min(axis=0)

    def td_target(self, state: SACState, batch: Batch, key: jax.Array) -> jax.Array:
        k_pi, k_agg = jax.random.split(key)
        next_act, next_log_prob = self.policy(state.actor, batch.next_obs, k_pi)
        next_q = self.critic_net.apply(state.target_critic, batch.next_obs, next_act)
        next_q = self.aggregate_target_q(next_q, k_agg)
        alpha = jnp.exp(state.log_alpha)
        return soft_td_target(batch.rew, batch.terminated, next_q, next_log_prob, alpha, self.config.gamma)

    def critic_loss(self, critic: Params, state: SACState, batch: Batch, key: jax.Array, aux: Any = None):
        target = jax.lax.stop_gradient(self.td_target(state, batch, key))
        q = self.critic_net.apply(critic, batch.obs, batch.act)
        loss = jnp.sum(jnp.mean((q - target[None]) ** 2, axis=-1))
        return loss, {"critic_loss": loss, "q": q.mean()}

    def actor_loss(self, actor: Params, state: SACState, batch: Batch, key: jax.Array, aux: Any = None):
        """L^SAC(S; Q) = mean_S [alpha log pi(a~|s) - agg Q(s, a~)] on the target batch states."""
        act, log_prob = self.policy(actor, batch.obs, key)
        q = self.aggregate_actor_q(self.critic_net.apply(state.critic, batch.obs, act))
        alpha = jnp.exp(state.log_alpha)
        loss = jnp.mean(alpha * log_prob - q)
        return loss, {"actor_loss": loss, "log_prob": log_prob.mean()}

    def alpha_loss(self, log_alpha: jax.Array, mean_log_prob: jax.Array) -> jax.Array:
        return -log_alpha * jax.lax.stop_gradient(mean_log_prob + self.target_entropy)

    # ----------------------------------------------------------------- update
    def pre_update(self, state: SACState, batch: Batch, key: jax.Array, aux: Any = None):
        """Hook run first in every update: train a method's auxiliary networks (encoders, classifiers)
        kept in `state.extra`. Returns (state, info); SAC has none."""
        del batch, key, aux
        return state, {}

    def critic_step(self, state: SACState, batch: Batch, key: jax.Array, aux: Any = None):
        """One Adam step on `critic_loss`."""
        (_, info), grads = jax.value_and_grad(self.critic_loss, has_aux=True)(state.critic, state, batch, key, aux)
        updates, critic_opt = self.critic_tx.update(grads, state.critic_opt, state.critic)
        return state.replace(critic=optax.apply_updates(state.critic, updates), critic_opt=critic_opt), info

    def actor_step(self, state: SACState, batch: Batch, key: jax.Array, aux: Any = None):
        """One Adam step on `actor_loss` with the just-updated critics, then the temperature (if learnt)."""
        (_, info), grads = jax.value_and_grad(self.actor_loss, has_aux=True)(state.actor, state, batch, key, aux)
        updates, actor_opt = self.actor_tx.update(grads, state.actor_opt, state.actor)
        state = state.replace(actor=optax.apply_updates(state.actor, updates), actor_opt=actor_opt)
        if self.config.learn_alpha:
            grad = jax.grad(self.alpha_loss)(state.log_alpha, info["log_prob"])
            updates, alpha_opt = self.alpha_tx.update(grad, state.alpha_opt, state.log_alpha)
            state = state.replace(log_alpha=optax.apply_updates(state.log_alpha, updates), alpha_opt=alpha_opt)
        return state, info

    def target_step(self, state: SACState) -> SACState:
        """Polyak averaging of the target critics; counts the update."""
        return state.replace(target_critic=polyak(state.target_critic, state.critic, self.config.tau),
                             step=state.step + 1)

    def _update(self, state: SACState, batch: Batch, aux: Any = None) -> tuple[SACState, dict[str, jax.Array]]:
        """One full gradient step; `aux` carries method-specific inputs (e.g. a source batch)."""
        key = jax.random.fold_in(state.key, state.step)
        k_critic, k_actor = jax.random.split(key)
        state, x_info = self.pre_update(state, batch, jax.random.fold_in(key, 2), aux)
        state, c_info = self.critic_step(state, batch, k_critic, aux)
        state, a_info = self.actor_step(state, batch, k_actor, aux)
        state = self.target_step(state)
        return state, {**x_info, **c_info, **a_info, "alpha": jnp.exp(state.log_alpha)}

    def _update_many(self, state: SACState, batches: Batch, aux: Any = None):
        """K consecutive updates in one compiled call (lax.scan over the leading axis of
        `batches` and of `aux`)."""
        state, infos = jax.lax.scan(lambda s, xs: self._update(s, *xs), state, (batches, aux))
        return state, jax.tree.map(lambda x: x[-1], infos)
