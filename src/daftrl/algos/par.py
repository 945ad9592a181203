"""PAR: Policy Adaptation by Representation mismatch (notes/algorithms.md sections 6, 14, 15).

Lyu, Bai, Yang, Lu and Li, "Cross-Domain Policy Adaptation by Capturing Representation Mismatch",
ICML 2024 (arXiv 2405.15369), online-source setting; official code `dmksjfl/PAR@a528ed8:algo/PAR.py`
(`Encoder`, `PAR.update_encoder`, `PAR.train`) and `train.py`, from which the formulas below are read.

Representation learning on **target data only** (the TD7/SALE encoder of Fujimoto et al., 2023): a state
encoder z_s = f(s) = AvgL1Norm(MLP(s)), AvgL1Norm(x) = x / max(mean_i |x_i|, 1e-8), and a
state-action encoder z_sa = g(z_s, a) = MLP([z_s, a]) (both 256-256-256 with ELU, g without the
norm) minimise

    L(f, g) = E_{(s, a, s') ~ D_tar} mean_i (g(f(s), a) - sg f(s'))_i^2

with their own Adam (3e-4), one step every `encoder_every` = 200 updates on `batch_size // 2` = 64
target transitions. A Polyak copy (f~, g~; tau = 0.005 every update, with the target critics) scores
each source transition by its representation deviation and penalises its reward:

    d(s, a, s') = mean_i (g~(f~(s), a) - f~(s'))_i^2,      r~ = r - beta * d.

The critic minimises SAC's loss on [128 source rows with r~; 128 target rows], the actor SAC's
loss on the 256 concatenated states (the SAC-mix defaults), alpha fixed at 0.2. Within one update
the order is the reference's: encoder step (when due), penalty with the target encoder, critic step,
actor step, Polyak of the target critics and the target encoder. The schedule is `lax.cond` on
`state.step`, so `update` compiles once.

beta: the reference CLI default is 0.5 (`train.py --beta`, the default here). The README (2025-08,
"see issue #1") recommends per robot: ant/ant_morph 0.01 or 0.05; halfcheetah 5.0 or 0.1,
halfcheetah_morph 5.0 (its example command uses 2.0); hopper/hopper_morph 0.05 or 0.1; walker 0.1;
walker_morph 0.1 or 0.05. `RECOMMENDED_BETA` holds the first value listed for each robot (the one
shared by its kinematic and morphology tasks where they agree); `PARConfig.for_task` applies it (used by
`daftrl cotrain` when no config is given); an explicit `--beta` overrides it.

Differences from the official code (each a line in docs/assumptions.md):

- The encoder's 64 rows are the first `encoder_batch_size` rows of the update's target minibatch (a
  uniform draw with replacement, like the reference's separate `sample(batch_size // 2)`), so each
  encoder sample has the reference's distribution; they are also among that update's 128 critic
  target rows (the reference draws them independently). The encoder step does not affect that
  update's critic (the penalty uses the target encoder, Polyak-updated at the end of the update).
- The schedule counts updates (`state.step`, from 0, once both buffers hold a batch): encoder steps on
  updates 0, 200, 400, ... The reference counts calls of `train` from 1, including those before its
  buffers are full, so its first encoder step comes on the ~130th update.
- Network initialisation is flax's (LeCun-normal kernels, zero biases), not PyTorch's default. Dead
  reference config keys (`update_interval`, `ac_gradient_clip`, `start_steps`) are not exposed (notes
  section 15.8).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from daftrl.algos.mix import MixConfig, SACMix
from daftrl.nn import MLP
from daftrl.sac import Batch, SACState, copy_tree, polyak

RECOMMENDED_BETA: dict[str, float] = {"ant": 0.01, "halfcheetah": 5.0, "hopper": 0.05, "walker": 0.1}
"""beta per robot from the PAR README (first value listed; alternatives in the module docstring)."""


@dataclasses.dataclass(frozen=True)
class PARConfig(MixConfig):
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

    @classmethod
    def for_task(cls, task: str) -> PARConfig:
        """Defaults with beta = RECOMMENDED_BETA of the task's robot (0.5 for other tasks);
        `daftrl cotrain` calls this when no config is given."""
        from daftrl.env_factory import ROBOT_OF_GYM_ID
        from daftrl.envs import get_task

        try:
            robot = get_task(task).robot
        except ValueError:
            robot = ROBOT_OF_GYM_ID.get(task)
        return cls(beta=RECOMMENDED_BETA.get(robot, cls.beta))


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

    def __init__(self, config: PARConfig, obs_dim: int, act_dim: int):
        n = config.batch_size // 2 if config.encoder_batch_size is None else config.encoder_batch_size
        if config.encoder_every < 1 or not 1 <= n <= config.batch_size:
            raise ValueError(f"need encoder_every >= 1 and 1 <= encoder_batch_size <= batch_size: {config}")
        self.cfg = config
        self.n_encoder = n
        self.f_net = MLP(tuple(config.encoder_hidden), config.latent_dim, nn.elu)
        self.g_net = MLP(tuple(config.encoder_hidden), config.latent_dim, nn.elu)
        self.encoder_tx = optax.adam(config.encoder_lr)
        super().__init__(config, obs_dim, act_dim)

    # ------------------------------------------------------------------ state
    def initial_extra(self, key: jax.Array) -> dict:
        k_f, k_g = jax.random.split(key)
        encoder = {"f": self.f_net.init(k_f, jnp.zeros((1, self.obs_dim), jnp.float32)),
                   "g": self.g_net.init(k_g, jnp.zeros((1, self.cfg.latent_dim + self.act_dim), jnp.float32))}
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
        return src._replace(rew=src.rew - self.cfg.beta * d), d

    # ------------------------------------------------------------------ update hooks
    def pre_update(self, state: SACState, batch: Batch, key: jax.Array, aux: Any = None):
        """Train the encoder on the target minibatch `batch` every `encoder_every` updates."""
        del key, aux
        due = state.step % self.cfg.encoder_every == 0
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
