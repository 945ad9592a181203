"""PAR: policy adaptation by representation mismatch (Lyu, Bai, Yang, Lu and Li, "Cross-Domain Policy
Adaptation by Capturing Representation Mismatch", ICML 2024; code `dmksjfl/PAR@a528ed8:algo/PAR.py`).

SAC-mix whose source rewards are penalised by a representation learnt on target data only (TD7/SALE encoders
z_s = f(s) = AvgL1Norm(MLP(s)), z_sa = g(z_s, a)):

    L(f, g) = E_{D_tar} mean_i (g(f(s), a) - sg f(s'))_i^2          (one Adam step every `encoder_every` updates)
    r~ = r - beta d(s, a, s'),   d = mean_i (g~(f~(s), a) - f~(s'))_i^2    (f~, g~: Polyak copies)

Per-robot beta: `RECOMMENDED_BETA`, applied by the registry (`daftrl.algos.method_spec("par").default_config`).
Differences from the official code: docs/assumptions.md.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from daftrl.algos.mix import SACMix, SACMixConfig
from daftrl.nn import MLP
from daftrl.replay import Batch
from daftrl.sac import SACState, copy_tree, polyak

RECOMMENDED_BETA: dict[str, float] = {"ant": 0.01, "halfcheetah": 5.0, "hopper": 0.05, "walker": 0.1}
"""beta per robot from the PAR README (2025-08): the first value it lists for the robot, shared by its kinematic
and morphology tasks where they agree (its alternatives: ant 0.05, halfcheetah 0.1, hopper 0.1, walker_morph 0.05;
its halfcheetah example command uses 2.0)."""


@dataclasses.dataclass(frozen=True)
class PARConfig(SACMixConfig):
    """PAR: SAC-mix with source rewards penalised by a target-trained encoder's prediction error."""

    beta: float = 0.5
    """Penalty coefficient: r~ = r - beta * d (reference CLI default 0.5; per robot see RECOMMENDED_BETA)."""
    encoder_hidden: tuple[int, ...] = (256, 256)
    """Hidden widths of the state encoder f and the state-action encoder g (ELU)."""
    latent_dim: int = 256
    """Size of z_s and z_sa."""
    encoder_lr: float = 3e-4
    encoder_every: int = 200
    """One encoder step on updates with step % encoder_every == 0 (reference: 200)."""
    encoder_batch_size: int | None = None
    """Target rows per encoder step, at most batch_size; None = batch_size // 2 (reference: 64)."""


def avg_l1_norm(x: jax.Array, eps: float = 1e-8) -> jax.Array:
    """AvgL1Norm(x) = x / max(mean_i |x_i|, eps) over the last axis."""
    return x / jnp.maximum(jnp.mean(jnp.abs(x), axis=-1, keepdims=True), eps)


def representation_deviation(z_sa: jax.Array, z_next: jax.Array) -> jax.Array:
    """d = mean_i (z_sa - z_s')_i^2 per row (the reference's squared Euclidean distance, averaged)."""
    return jnp.mean((z_sa - z_next) ** 2, axis=-1)


class PAR(SACMix):
    """SAC-mix whose source rewards are r - beta * d, d from an encoder trained on target transitions.

    `state.extra` holds the encoder {"f", "g"}, its target copy, its Adam state and the last encoder
    loss (0 before the first encoder step), so both branches of the schedule's `lax.cond` have one
    structure."""

    name = "par"
    method_config: PARConfig

    def __init__(self, config: PARConfig, obs_dim: int, act_dim: int):
        n = config.batch_size // 2 if config.encoder_batch_size is None else config.encoder_batch_size
        if config.encoder_every < 1 or not 1 <= n <= config.batch_size:
            raise ValueError(f"need encoder_every >= 1 and 1 <= encoder_batch_size <= batch_size: {config}")
        self.n_encoder = n
        self.f_net = MLP(tuple(config.encoder_hidden), config.latent_dim, nn.elu)
        self.g_net = MLP(tuple(config.encoder_hidden), config.latent_dim, nn.elu)
        self.encoder_tx = optax.adam(config.encoder_lr)
        super().__init__(config, obs_dim, act_dim)

    # ------------------------------------------------------------------ state
    def init_auxiliary(self, key: jax.Array) -> dict:
        k_f, k_g = jax.random.split(key)
        encoder = {"f": self.f_net.init(k_f, jnp.zeros((1, self.obs_dim), jnp.float32)),
                   "g": self.g_net.init(k_g, jnp.zeros((1, self.method_config.latent_dim + self.act_dim), jnp.float32))}
        return {"encoder": encoder, "encoder_target": copy_tree(encoder),
                "encoder_opt": self.encoder_tx.init(encoder), "encoder_loss": jnp.zeros((), jnp.float32)}

    # ------------------------------------------------------------------ encoders
    def z_s(self, encoder, obs: jax.Array) -> jax.Array:
        """z_s = f(s) = AvgL1Norm(MLP(s))."""
        return avg_l1_norm(self.f_net.apply(encoder["f"], obs))

    def z_sa(self, encoder, z_s: jax.Array, act: jax.Array) -> jax.Array:
        """z_sa = g(z_s, a): the predicted latent of the next state."""
        return self.g_net.apply(encoder["g"], jnp.concatenate([z_s, act], axis=-1))

    def deviation(self, encoder, batch: Batch) -> jax.Array:
        """d(s, a, s') = mean_i (g(f(s), a) - f(s'))_i^2 per row under `encoder`."""
        return representation_deviation(self.z_sa(encoder, self.z_s(encoder, batch.obs), batch.act),
                                        self.z_s(encoder, batch.next_obs))

    def encoder_loss(self, encoder, batch: Batch) -> jax.Array:
        """L(f, g) = mean over rows and latent dims of (g(f(s), a) - sg f(s'))^2."""
        z_next = jax.lax.stop_gradient(self.z_s(encoder, batch.next_obs))
        return jnp.mean((self.z_sa(encoder, self.z_s(encoder, batch.obs), batch.act) - z_next) ** 2)

    def encoder_step(self, extra: dict, tar: Batch) -> dict:
        """One Adam step on `encoder_loss` with the first `encoder_batch_size` target rows."""
        tar = Batch(*(x[: self.n_encoder] for x in tar))
        loss, grads = jax.value_and_grad(self.encoder_loss)(extra["encoder"], tar)
        updates, opt = self.encoder_tx.update(grads, extra["encoder_opt"], extra["encoder"])
        return {**extra, "encoder": optax.apply_updates(extra["encoder"], updates), "encoder_opt": opt,
                "encoder_loss": loss}

    def penalised_source(self, state: SACState, src: Batch) -> tuple[Batch, jax.Array]:
        """The source batch with r~ = r - beta d (d from the target encoder, no gradient), and d."""
        d = jax.lax.stop_gradient(self.deviation(state.extra["encoder_target"], src))
        return src._replace(rew=src.rew - self.method_config.beta * d), d

    # ------------------------------------------------------------------ update hooks
    def pre_update(self, state: SACState, batch: Batch, key: jax.Array, aux: Any = None):
        """Train the encoder on the target minibatch `batch` every `encoder_every` updates."""
        del key, aux
        due = state.step % self.method_config.encoder_every == 0
        extra = jax.lax.cond(due, lambda e: self.encoder_step(e, batch), lambda e: e, state.extra)
        return state.replace(extra=extra), {"encoder_loss": extra["encoder_loss"]}

    def critic_loss(self, critic, state: SACState, batch: Batch, key, aux: Any = None):
        """SAC-mix's critic loss on [source with r~; target]."""
        src, d = self.penalised_source(state, aux["src"])
        loss, info = super().critic_loss(critic, state, batch, key, {**aux, "src": src})
        return loss, {**info, "par_distance": d.mean(), "src_reward": src.rew.mean()}

    def target_step(self, state: SACState) -> SACState:
        """Polyak averaging of the target critics and of the target encoder (same tau); counts the update."""
        state = super().target_step(state)
        target = polyak(state.extra["encoder_target"], state.extra["encoder"], self.config.tau)
        return state.replace(extra={**state.extra, "encoder_target": target})
