"""VGDF: value-guided data filtering (Xu et al., "Cross-Domain Policy Adaptation via Value-Guided Data
Filtering", NeurIPS 2023; code `Kavka1/VGDF:agent/vgdf.py@9f65d60`).

A probabilistic ensemble of M target-dynamics models (`daftrl.algos.dynamics`), refitted on all target data
every `model_every` steps, scores every source transition (s, a, r, s', d) by its value consistency:

    (r_i, s'_i) ~ N(mu_i(s, a), sigma_i^2(s, a)),   V_i = r_i + gamma (1 - done(s'_i)) min_j Qbar_j(s'_i, tanh mu(s'_i))
    y = r + gamma (1 - d) min_j Qbar_j(s', a~'),   Lambda = Normal(mean_i V_i, std_i V_i + 1e-8).pdf(y)

and keeps it in the critic loss iff Lambda is in the batch's top `keep_ratio` (all rows for the first
`gate_start` updates): J_Q = sum_j [mean_tar (Q_j - y_soft)^2 + mean_src gate (Q_j - y_soft)^2]. Two actors:
pi maximises min_j Q_j (collects target data, evaluated), the optimistic pi_E maximises max_j Q_j (collects
source data). Differences from the reference code: docs/assumptions.md.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import flax.traverse_util
import jax
import jax.numpy as jnp
import numpy as np
import optax

from daftrl.algos.dynamics import ProbabilisticEnsemble
from daftrl.algos.mix import SACMix, SACMixConfig
from daftrl.replay import Batch
from daftrl.sac import SACConfig, SACState, copy_tree, soft_td_target


@dataclasses.dataclass(frozen=True)
class VGDFConfig(SACMixConfig):
    """VGDF hyperparameters; defaults from `Kavka1/VGDF:config/vgdf/*.yaml` (identical for every task)."""

    policy_delay: int = 2
    """Both actors are updated every this many critic updates (`training_delay`)."""
    grad_clip: float | None = 100.0
    """Global gradient-norm clip of the critic and both actors (`ac_gradient_clip`); None disables it."""
    log_std_min: float = -10.0
    log_std_max: float = 2.0
    xavier_init: bool = True
    """Actors and critics: hidden layers xavier-uniform, output layer he-normal, zero biases (VGDF's
    `call_mlp` with `initializer: xavier uniform`); False keeps flax's default (lecun-normal) init."""
    keep_ratio: float = 0.25
    """xi: fraction of each source batch kept, by likelihood (`1 - likelihood_gate_threshold`)."""
    gate_start: int = 100_000
    """Updates before the filter switches on (all source data kept until then; `start_gate_src_sample`)."""
    fictitious: Literal["sample", "mean", "mean_plus_var"] = "sample"
    """Fictitious target transition per member: a draw from N(mu, sigma^2), the mean, or mean + variance
    (the reference code's choice, reproduced for comparison)."""
    terminal: Literal["none", "halfcheetah", "hopper", "walker", "ant"] = "none"
    """Termination rule applied to fictitious next observations: `none` (never terminal) or a robot's
    Gymnasium v5 health rule on its observation (a task's default: its robot's, set by the registry)."""
    model_members: int = 7
    model_elites: int = 5
    """Elites are tracked (`state.extra['model']['elites']`) but, as in the reference, all members are used."""
    model_hidden: tuple[int, ...] = (200, 200, 200, 200)
    model_weight_decay: tuple[float, ...] = (2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4)
    """L2 coefficient per model layer (hidden layers then the output layer)."""
    model_lr: float = 1e-3
    model_batch_size: int = 256
    model_holdout: float = 0.1
    model_every: int = 250
    """Refit the dynamics model on all target data every this many source steps (`dynamics_train_freq`)."""
    max_epochs_since_update: int = 5
    """Early stopping patience at step 0; it drops by 1 every `patience_decay_every` steps (floor 0)."""
    patience_decay_every: int = 150_000
    model_max_epochs: int | None = None
    """Optional cap on the epochs of one refit (the reference has none)."""
    learn_logvar_bounds: bool = False
    """Train the log-variance bounds (MBPO); the VGDF reference keeps them fixed at [-10, 0.5]."""

    def sac_config(self) -> SACConfig:
        return dataclasses.replace(super().sac_config(), log_std_min=self.log_std_min, log_std_max=self.log_std_max)


# ---------------------------------------------------------------------- termination of fictitious states
def _never(obs: jax.Array) -> jax.Array:
    return jnp.zeros(obs.shape[:-1], jnp.float32)


def _hopper(obs: jax.Array) -> jax.Array:
    """Hopper-v5: obs[0] = z, obs[1] = angle, obs[1:] = state_vector[2:] (velocities clipped to +-10)."""
    z, angle = obs[..., 0], obs[..., 1]
    healthy = jnp.all((obs[..., 1:] > -100.0) & (obs[..., 1:] < 100.0), axis=-1) & (z > 0.7) & (jnp.abs(angle) < 0.2)
    return 1.0 - healthy.astype(jnp.float32)


def _walker(obs: jax.Array) -> jax.Array:
    z, angle = obs[..., 0], obs[..., 1]
    healthy = (z > 0.8) & (z < 2.0) & (angle > -1.0) & (angle < 1.0)
    return 1.0 - healthy.astype(jnp.float32)


def _ant(obs: jax.Array) -> jax.Array:
    z = obs[..., 0]
    healthy = jnp.all(jnp.isfinite(obs), axis=-1) & (z >= 0.2) & (z <= 1.0)
    return 1.0 - healthy.astype(jnp.float32)


TERMINAL_FNS = {"none": _never, "halfcheetah": _never, "hopper": _hopper, "walker": _walker, "ant": _ant}


# ---------------------------------------------------------------------- the filter
def value_log_likelihood(values: jax.Array, y: jax.Array) -> jax.Array:
    """log Normal(mean_i V_i, std_i V_i + 1e-8).pdf(y) for member values `values` (M, B), y (B,)."""
    mean = values.mean(axis=0)
    std = values.std(axis=0, ddof=1) + 1e-8
    return -0.5 * ((y - mean) / std) ** 2 - jnp.log(std) - 0.5 * math.log(2.0 * math.pi)


def top_fraction_gate(score: jax.Array, keep_ratio: float, active: jax.Array | bool) -> jax.Array:
    """1.0 for the k best-scoring rows of the batch, else 0.0; all ones while `active` is False.

    k = B - 1 - floor((1 - keep_ratio)(B - 1)) is the number of rows strictly above the (1 - keep_ratio)
    quantile with linear interpolation (the reference's `score > torch.quantile(score, q)`) when scores are
    distinct. Ranking instead of thresholding keeps k rows also when scores tie or underflow to -inf, where
    the interpolated quantile is -inf or NaN and the threshold would keep nothing (NaN scores rank last)."""
    b = score.shape[0]
    if keep_ratio >= 1.0:  # keep everything (the strict threshold would drop the lowest row)
        return jnp.ones_like(score, jnp.float32)
    k = b - 1 - math.floor((1.0 - keep_ratio) * (b - 1) + 1e-9)  # 1e-9: (1 - 0.8) * 10 is 1.9999999999999996
    best_first = jnp.argsort(-score, stable=True)  # NaN sorts last; ties by index
    keep = jnp.zeros(b, jnp.float32).at[best_first[:k]].set(1.0)
    return jnp.where(active, keep, jnp.ones_like(keep))


# ---------------------------------------------------------------------- torch-style initialisation
def torch_mlp_init(params: Any, key: jax.Array) -> Any:
    """Re-draw every Dense layer of flax MLP parameters as torch's VGDF `call_mlp` does: hidden kernels
    xavier-uniform, the last Dense of each module he-normal (fan-in), biases zero (a leading ensemble axis
    is allowed)."""
    flat = flax.traverse_util.flatten_dict(params)
    layers = sorted({k[:-1] for k in flat if k[-1] == "kernel"})
    last = {}
    for path in layers:
        parent, idx = path[:-1], int(str(path[-1]).rsplit("_", 1)[-1])
        last[parent] = max(last.get(parent, -1), idx)
    out = dict(flat)
    for n, path in enumerate(layers):
        kernel = flat[(*path, "kernel")]
        fan_in, fan_out = kernel.shape[-2], kernel.shape[-1]
        k = jax.random.fold_in(key, n)
        if int(str(path[-1]).rsplit("_", 1)[-1]) == last[path[:-1]]:
            w = math.sqrt(2.0 / fan_in) * jax.random.normal(k, kernel.shape, kernel.dtype)
        else:
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            w = jax.random.uniform(k, kernel.shape, kernel.dtype, -bound, bound)
        out[(*path, "kernel")] = w
        out[(*path, "bias")] = jnp.zeros_like(flat[(*path, "bias")])
    return flax.traverse_util.unflatten_dict(out)


# ---------------------------------------------------------------------- the method
class VGDF(SACMix):
    """VGDF on the SAC-mix co-training base; see the module docstring."""

    name = "vgdf"
    method_config: VGDFConfig

    def __init__(self, config: VGDFConfig, obs_dim: int, act_dim: int):
        if config.fictitious not in ("sample", "mean", "mean_plus_var"):
            raise ValueError(f"fictitious must be sample, mean or mean_plus_var, got {config.fictitious!r}")
        if config.terminal not in TERMINAL_FNS:
            raise ValueError(f"terminal must be one of {', '.join(TERMINAL_FNS)}, got {config.terminal!r}")
        if not 0.0 < config.keep_ratio <= 1.0:
            raise ValueError(f"keep_ratio must be in (0, 1], got {config.keep_ratio}")
        if config.model_members < 2:
            raise ValueError("VGDF needs at least 2 model members (the spread of their values)")
        if config.policy_delay < 1:
            raise ValueError(f"policy_delay must be >= 1, got {config.policy_delay}")
        super().__init__(config, obs_dim, act_dim)

        def tx(lr):
            return optax.adam(lr) if config.grad_clip is None else optax.chain(
                optax.clip_by_global_norm(config.grad_clip), optax.adam(lr))

        self.actor_tx, self.critic_tx = tx(config.actor_lr), tx(config.critic_lr)
        self.dynamics = ProbabilisticEnsemble(
            obs_dim + act_dim, obs_dim + 1, config.model_members, config.model_hidden, config.model_weight_decay,
            config.model_lr, config.model_elites, config.learn_logvar_bounds)
        self.terminal_fn = TERMINAL_FNS[config.terminal]
        self._model_info: dict = {}

    # ------------------------------------------------------------------ state
    def init(self, seed: int) -> SACState:
        state = super().init(seed)
        if not self.method_config.xavier_init:
            return state
        key = jax.random.fold_in(state.key, 0x1A17)
        actor = torch_mlp_init(state.actor, jax.random.fold_in(key, 0))
        critic = torch_mlp_init(state.critic, jax.random.fold_in(key, 1))
        return state.replace(actor=actor, critic=critic, target_critic=copy_tree(critic),
                             actor_opt=self.actor_tx.init(actor), critic_opt=self.critic_tx.init(critic))

    def init_auxiliary(self, key: jax.Array) -> dict:
        """The optimistic actor pi_E with its optimiser, the last actor losses (logged between actor updates)
        and the dynamics ensemble (parameters, Adam state, input standardiser, elites)."""
        k_actor, k_init, k_model = jax.random.split(key, 3)
        actor_e = self.actor_net.init(k_actor, jnp.zeros((1, self.obs_dim), jnp.float32))
        if self.method_config.xavier_init:
            actor_e = torch_mlp_init(actor_e, k_init)
        zero = lambda: jnp.zeros((), jnp.float32)  # noqa: E731 - distinct buffers (the update donates them)
        return {"actor_e": actor_e, "actor_e_opt": self.actor_tx.init(actor_e),
                "actor_info": {"actor_loss": zero(), "actor_e_loss": zero(), "log_prob": zero()},
                "model": self.dynamics.init(k_model)}

    # ------------------------------------------------------------------ acting and host-side work
    def behaviour_actor(self, state: SACState, domain: str):
        """pi_E explores the source domain; pi collects target data (and is the evaluated policy)."""
        return state.extra["actor_e"] if domain == "source" else state.actor

    def model_patience(self, step: int) -> int:
        """`max_epochs_since_update` after `step` source steps: 5, minus 1 every 150 000 steps, floor 0."""
        cfg = self.method_config
        return max(0, cfg.max_epochs_since_update - int(step // cfg.patience_decay_every))

    def min_model_steps(self, source_steps: int, target_every: int) -> int:
        """Fewest model minibatch steps of a run of `source_steps` (one target step every `target_every`):
        each refit takes at least `patience + 2` epochs (one that improves, then `patience + 1` that do
        not) over the training split of all target data. The floor of VGDF's cost (docs/cotraining.md)."""
        cfg, total = self.method_config, 0
        for step in range(cfg.model_every, source_steps + 1, cfg.model_every):
            n = step // target_every
            if n < 2:
                continue
            n_hold = min(max(int(n * cfg.model_holdout), 1 if cfg.model_holdout > 0 else 0), n - 1)
            epochs = self.model_patience(step) + 2
            if cfg.model_max_epochs is not None:
                epochs = min(epochs, cfg.model_max_epochs)
            total += -(-(n - n_hold) // cfg.model_batch_size) * epochs
        return total

    def periodic(self, state: SACState, target_buffer, rng: np.random.Generator, step: int):
        """Every `model_every` steps: refit the dynamics ensemble on all target transitions (warm start)."""
        cfg = self.method_config
        n = len(target_buffer)
        if step % cfg.model_every or n < 2:
            return state, dict(self._model_info)
        d = {k: target_buffer.data[k][:n] for k in ("obs", "act", "rew", "next_obs")}
        inputs = np.concatenate([d["obs"], d["act"]], axis=-1)
        labels = np.concatenate([d["rew"][:, None], d["next_obs"] - d["obs"]], axis=-1)
        patience = self.model_patience(step)
        model, info = self.dynamics.fit(state.extra["model"], inputs, labels, rng, batch_size=cfg.model_batch_size,
                                        holdout_ratio=cfg.model_holdout, max_epochs_since_update=patience,
                                        max_epochs=cfg.model_max_epochs)
        self._model_info = {"model_holdout_mse": info["holdout_mse"],
                            "model_elite_holdout_mse": info["elite_holdout_mse"],
                            "model_epochs": float(info["epochs"]), "model_patience": float(patience),
                            "model_data": float(n)}
        return state.replace(extra={**state.extra, "model": model}), dict(self._model_info)

    def host_state(self) -> dict:
        """The last refit's numbers, so rows logged after a resume carry them as an unbroken run's do."""
        return {"model_info": dict(self._model_info)}

    def load_host_state(self, meta: dict) -> None:
        self._model_info = dict((meta or {}).get("model_info", {}))

    # ------------------------------------------------------------------ the filter
    def fictitious_values(self, state: SACState, obs: jax.Array, act: jax.Array, key: jax.Array) -> jax.Array:
        """V_i(s, a) = r_i + gamma (1 - done(s'_i)) min_j Qbar_j(s'_i, tanh mu_pi(s'_i)) per member, (M, B)."""
        mean, logvar = self.dynamics.predict(state.extra["model"], jnp.concatenate([obs, act], axis=-1))
        fictitious = self.method_config.fictitious
        if fictitious == "sample":
            pred = mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, mean.shape, mean.dtype)
        elif fictitious == "mean":
            pred = mean
        else:  # the reference code's "sample": mean + variance
            pred = mean + jnp.exp(logvar)
        rew, next_obs = pred[..., 0], obs[None] + pred[..., 1:]
        m, b = rew.shape
        flat = next_obs.reshape(m * b, self.obs_dim)
        next_act = self._mean_actions(state.actor, flat)
        q = self.critic_net.apply(state.target_critic, flat, next_act).min(axis=0).reshape(m, b)
        return rew + self.config.gamma * (1.0 - self.terminal_fn(next_obs)) * q

    def source_filter(self, state: SACState, src: Batch, y_compare: jax.Array, key: jax.Array):
        """(gate, log Lambda) of the source rows given their no-entropy TD targets `y_compare`."""
        log_lam = value_log_likelihood(self.fictitious_values(state, src.obs, src.act, key), y_compare)
        cfg = self.method_config
        gate = top_fraction_gate(log_lam, cfg.keep_ratio, state.step >= cfg.gate_start)
        return gate, log_lam

    # ------------------------------------------------------------------ losses
    def critic_loss(self, critic, state: SACState, batch: Batch, key, aux: Any = None):
        """sum_j [mean_tar (Q_j - y)^2 + mean_src gate (Q_j - y)^2]; `batch` = target rows, aux["src"] = source."""
        src = aux["src"]
        k_tar, k_src, k_model = jax.random.split(key, 3)
        gamma, alpha = self.config.gamma, jnp.exp(state.log_alpha)
        y_tar = self.td_target(state, batch, k_tar)
        next_act, next_log_prob = self.policy(state.actor, src.next_obs, k_src)
        next_q = self.critic_net.apply(state.target_critic, src.next_obs, next_act).min(axis=0)
        y_src = soft_td_target(src.rew, src.terminated, next_q, next_log_prob, alpha, gamma)
        y_compare = src.rew + gamma * (1.0 - src.terminated) * next_q
        gate, log_lam = self.source_filter(state, src, y_compare, k_model)
        y_tar, y_src, gate = jax.lax.stop_gradient((y_tar, y_src, gate))
        q_tar = self.critic_net.apply(critic, batch.obs, batch.act)
        q_src = self.critic_net.apply(critic, src.obs, src.act)
        loss_tar = jnp.sum(jnp.mean((q_tar - y_tar[None]) ** 2, axis=-1))
        loss_src = jnp.sum(jnp.mean(gate[None] * (q_src - y_src[None]) ** 2, axis=-1))
        loss = loss_tar + loss_src
        return loss, {"critic_loss": loss, "critic_loss_target": loss_tar, "critic_loss_source": loss_src,
                      "q": q_tar.mean(), "vgdf_keep_frac": gate.mean(), "lambda_mean": jnp.exp(log_lam).mean(),
                      "log_lambda_mean": log_lam.mean()}

    def policy_loss(self, actor, state: SACState, obs: jax.Array, key, optimistic: bool):
        """mean_S [alpha log pi(a~|s) - agg_j Q_j(s, a~)], agg = max (pi_E) if `optimistic` else min (pi)."""
        act, log_prob = self.policy(actor, obs, key)
        q = self.critic_net.apply(state.critic, obs, act)
        q = q.max(axis=0) if optimistic else q.min(axis=0)
        loss = jnp.mean(jnp.exp(state.log_alpha) * log_prob - q)
        return loss, log_prob.mean()

    def actor_loss(self, actor, state: SACState, batch: Batch, key, aux: Any = None):
        """pi's loss on the concatenated source and target states (min over the critics)."""
        loss, log_prob = self.policy_loss(actor, state, jnp.concatenate([aux["src"].obs, batch.obs]), key, False)
        return loss, {"actor_loss": loss, "log_prob": log_prob}

    def optimistic_actor_loss(self, actor, state: SACState, batch: Batch, key, aux: Any = None):
        """pi_E's loss on the concatenated source and target states (max over the critics)."""
        loss, log_prob = self.policy_loss(actor, state, jnp.concatenate([aux["src"].obs, batch.obs]), key, True)
        return loss, {"actor_e_loss": loss, "log_prob_e": log_prob}

    def actor_step(self, state: SACState, batch: Batch, key, aux: Any = None):
        """Both actors (and alpha, if learnt) every `policy_delay` updates; in between the state is unchanged
        and the last losses are reported."""

        def update(state: SACState) -> SACState:
            k_pi, k_e = jax.random.split(key)
            (_, info), grads = jax.value_and_grad(self.actor_loss, has_aux=True)(state.actor, state, batch, k_pi, aux)
            updates, actor_opt = self.actor_tx.update(grads, state.actor_opt, state.actor)
            actor = optax.apply_updates(state.actor, updates)
            actor_e, actor_e_opt = state.extra["actor_e"], state.extra["actor_e_opt"]
            (_, info_e), grads = jax.value_and_grad(self.optimistic_actor_loss, has_aux=True)(
                actor_e, state, batch, k_e, aux)
            updates, actor_e_opt = self.actor_tx.update(grads, actor_e_opt, actor_e)
            actor_e = optax.apply_updates(actor_e, updates)
            state = state.replace(actor=actor, actor_opt=actor_opt)
            if self.config.learn_alpha:
                grad = jax.grad(self.alpha_loss)(state.log_alpha, info["log_prob"])
                updates, alpha_opt = self.alpha_tx.update(grad, state.alpha_opt, state.log_alpha)
                state = state.replace(log_alpha=optax.apply_updates(state.log_alpha, updates), alpha_opt=alpha_opt)
            last = {"actor_loss": info["actor_loss"], "actor_e_loss": info_e["actor_e_loss"],
                    "log_prob": info["log_prob"]}
            return state.replace(extra={**state.extra, "actor_e": actor_e, "actor_e_opt": actor_e_opt,
                                        "actor_info": last})

        state = jax.lax.cond(state.step % self.method_config.policy_delay == 0, update, lambda s: s, state)
        return state, dict(state.extra["actor_info"])
