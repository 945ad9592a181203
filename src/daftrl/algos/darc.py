"""DARC and SAC-IW: co-training with two domain classifiers q_SA(.|s,a), q_SAS(.|s,a,s') (index 0 = source,
1 = target), trained by cross-entropy on source vs target rows, which give by Bayes' rule

    dr(s, a, s') = log p_tar(s'|s,a) - log p_src(s'|s,a)
                 = [log q_SAS(tar|s,a,s') - log q_SAS(src|s,a,s')] - [log q_SA(tar|s,a) - log q_SA(src|s,a)].

DARC (Eysenbach et al., "Off-Dynamics Reinforcement Learning: Training for Transfer with Domain Classifiers",
ICLR 2021, section 4, Algorithm 1): SAC on source transitions with r~ = r + lambda dr.
SAC-IW ("IW Clip"; VGDF paper appendix E.1): SAC on source transitions with each Bellman error weighted by
w = clip(exp(dr), iw_clip), no gradient through w.
Both follow ODRL (`OffDynamicsRL/off-dynamics-rl@34bba73:algo/online_online/{darc,sac_iw}.py`): critic and actor
on source data only, no correction and no classifier training for the first `warmup` updates, then one
classifier step every `classifier_every` updates. Differences from the official code: docs/assumptions.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from daftrl.algos.mix import SACMix, SACMixConfig
from daftrl.nn import MLP
from daftrl.replay import Batch
from daftrl.sac import SAC, SACState

SOURCE, TARGET = 0, 1
"""Domain labels = logit indices of the classifiers."""
INFO_KEYS = ("classifier_loss", "classifier_acc", "classifier_acc_sa")
"""Last classifier-step values kept in `state.extra` and logged every update."""


@dataclasses.dataclass(frozen=True)
class ClassifierConfig(SACMixConfig):
    """Domain classifiers q_SA, q_SAS shared by DARC and SAC-IW (defaults: ODRL)."""

    classifier_hidden: tuple[int, ...] = (256, 256)
    """Hidden widths of each classifier (ODRL 2 x 256; the original 1 x 32)."""
    classifier_residual: bool = False
    """Original architecture: SAS logits = SA logits + an MLP on (s, a, s') (ODRL: two independent MLPs)."""
    classifier_lr: float = 3e-4
    noise_std: float = 1.0
    """Std of the Gaussian input noise added while training the classifiers (not when computing dr)."""
    classifier_batch_size: int = 128
    """Rows of each domain's minibatch the classifiers train on (ODRL: 128 + 128); at most batch_size."""
    warmup: int = 100_000
    """Updates without correction and without classifier training (ODRL: 1e5)."""
    classifier_every: int = 10
    """After the warm-up, one classifier step on updates with step % classifier_every == 0 (ODRL: 10)."""


@dataclasses.dataclass(frozen=True)
class DARCConfig(ClassifierConfig):
    """DARC: SAC on source data with the reward r + lambda * dr."""

    source_batch_size: int | None = 256
    """Source rows per critic/actor update (ODRL: 2 x 128); target rows: batch_size (128), all used by the
    classifiers."""
    delta_r_scale: float = 1.0
    """lambda, the weight of the reward correction dr."""


@dataclasses.dataclass(frozen=True)
class SACIWConfig(ClassifierConfig):
    """SAC-IW: SAC on source data with each Bellman error weighted by clip(exp(dr), iw_clip)."""

    iw_clip: tuple[float, float] = (1e-4, 1.0)
    """Bounds of the importance weights (VGDF paper / H2O: [1e-4, 1]; ODRL: [1e-4, 10])."""


# ---------------------------------------------------------------------- classifiers (shared)
class DomainClassifiers(nn.Module):
    """Logits of q_SA(.|s,a) and q_SAS(.|s,a,s'), index 0 = source, 1 = target."""

    hidden: Sequence[int]
    residual: bool = False

    @nn.compact
    def __call__(self, sa: jax.Array, sas: jax.Array) -> tuple[jax.Array, jax.Array]:
        sa_logits = MLP(self.hidden, 2, name="sa")(sa)
        sas_logits = MLP(self.hidden, 2, name="sas")(sas)
        return sa_logits, (sa_logits + sas_logits if self.residual else sas_logits)


def classifier_inputs(batch: Batch) -> tuple[jax.Array, jax.Array]:
    """(s, a) and (s, a, s') of every row."""
    sa = jnp.concatenate([batch.obs, batch.act], axis=-1)
    return sa, jnp.concatenate([sa, batch.next_obs], axis=-1)


def delta_r(sa_logits: jax.Array, sas_logits: jax.Array) -> jax.Array:
    """dr = [log q_SAS(tar) - log q_SAS(src)] - [log q_SA(tar) - log q_SA(src)] per row."""
    log_sas, log_sa = jax.nn.log_softmax(sas_logits), jax.nn.log_softmax(sa_logits)
    return (log_sas[:, TARGET] - log_sas[:, SOURCE]) - (log_sa[:, TARGET] - log_sa[:, SOURCE])


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean negative log-likelihood of integer labels under softmax(logits)."""
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=-1))


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)


def importance_weights(dr: jax.Array, clip: tuple[float, float]) -> jax.Array:
    """w = clip(exp(dr), lo, hi), computed as exp(clip(dr, log lo, log hi)) (no overflow)."""
    return jnp.exp(jnp.clip(dr, np.log(clip[0]), np.log(clip[1])))


class DomainClassifierCotrain(SACMix):
    """Base of DARC and SAC-IW: the classifiers, their schedule, dr, and the actor on source states.

    `state.extra` holds the classifier parameters, their Adam state and the last classifier loss and
    accuracies (0 until the first classifier step), so both branches of the schedule's `lax.cond` have
    one structure."""

    method_config: ClassifierConfig

    def __init__(self, config: ClassifierConfig, obs_dim: int, act_dim: int):
        if config.classifier_every < 1 or config.warmup < 0 or config.classifier_batch_size < 1:
            raise ValueError(f"need classifier_every >= 1, warmup >= 0, classifier_batch_size >= 1: {config}")
        self.classifier_net = DomainClassifiers(tuple(config.classifier_hidden), config.classifier_residual)
        self.classifier_tx = optax.adam(config.classifier_lr)
        self.n_classifier = min(config.classifier_batch_size, config.batch_size, config.source_batch_size or 10**9)
        super().__init__(config, obs_dim, act_dim)

    # ------------------------------------------------------------------ state
    def init_auxiliary(self, key: jax.Array) -> dict:
        sa = jnp.zeros((1, self.obs_dim + self.act_dim), jnp.float32)
        sas = jnp.zeros((1, 2 * self.obs_dim + self.act_dim), jnp.float32)
        params = self.classifier_net.init(key, sa, sas)
        last = {k: jnp.zeros((), jnp.float32) for k in INFO_KEYS}  # distinct buffers (the state is donated)
        return {"classifier": params, "classifier_opt": self.classifier_tx.init(params), **last}

    # ------------------------------------------------------------------ classifiers
    def logits(self, params, batch: Batch, key: jax.Array | None = None):
        """(SA logits, SAS logits); with `key`, independent N(0, noise_std^2) noise on both inputs."""
        sa, sas = classifier_inputs(batch)
        if key is not None:
            k_sa, k_sas = jax.random.split(key)
            noise_std = self.method_config.noise_std
            sa = sa + noise_std * jax.random.normal(k_sa, sa.shape, sa.dtype)
            sas = sas + noise_std * jax.random.normal(k_sas, sas.shape, sas.dtype)
        return self.classifier_net.apply(params, sa, sas)

    def classifier_loss(self, params, src: Batch, tar: Batch, key: jax.Array):
        """CE(q_SA) + CE(q_SAS) on [source (label 0); target (label 1)] with input noise."""
        both = Batch(*(jnp.concatenate([x, y], axis=0) for x, y in zip(src, tar, strict=True)))
        labels = jnp.concatenate([jnp.full(src.obs.shape[0], SOURCE), jnp.full(tar.obs.shape[0], TARGET)])
        sa_logits, sas_logits = self.logits(params, both, key)
        loss = cross_entropy(sa_logits, labels) + cross_entropy(sas_logits, labels)
        return loss, {"classifier_loss": loss, "classifier_acc": accuracy(sas_logits, labels),
                      "classifier_acc_sa": accuracy(sa_logits, labels)}

    def classifier_step(self, extra: dict, src: Batch, tar: Batch, key: jax.Array) -> dict:
        """One Adam step on `classifier_loss` with the first `classifier_batch_size` rows of each domain."""
        n = self.n_classifier
        src, tar = Batch(*(x[:n] for x in src)), Batch(*(x[:n] for x in tar))
        (_, info), grads = jax.value_and_grad(self.classifier_loss, has_aux=True)(
            extra["classifier"], src, tar, key)
        updates, opt = self.classifier_tx.update(grads, extra["classifier_opt"], extra["classifier"])
        return {**extra, **info, "classifier": optax.apply_updates(extra["classifier"], updates),
                "classifier_opt": opt}

    def correcting(self, state: SACState) -> jax.Array:
        """True once the warm-up is over (traced: no Python branch on the step)."""
        return state.step >= self.method_config.warmup

    def delta_r(self, state: SACState, batch: Batch) -> jax.Array:
        """dr of every row with the current classifiers, no input noise, no gradient."""
        return jax.lax.stop_gradient(delta_r(*self.logits(state.extra["classifier"], batch)))

    # ------------------------------------------------------------------ update hooks
    def pre_update(self, state: SACState, batch: Batch, key: jax.Array, aux: Any = None):
        """Train the classifiers on (source, target = `batch`) after the warm-up every `classifier_every`."""
        train = self.correcting(state) & (state.step % self.method_config.classifier_every == 0)
        extra = jax.lax.cond(train, lambda e: self.classifier_step(e, aux["src"], batch, key), lambda e: e,
                             state.extra)
        info = {k: extra[k] for k in INFO_KEYS}
        return state.replace(extra=extra), info

    def actor_loss(self, actor, state: SACState, batch: Batch, key, aux: Any = None):
        """L^SAC on the source states only (ODRL `update_policy_and_temp(src_state)`)."""
        return SAC.actor_loss(self, actor, state, aux["src"], key, aux)


# ---------------------------------------------------------------------- DARC
class DARC(DomainClassifierCotrain):
    """SAC on source transitions with r~ = r + lambda dr (dr = 0 during the warm-up)."""

    name = "darc"
    method_config: DARCConfig

    def corrected_source(self, state: SACState, src: Batch) -> tuple[Batch, jax.Array]:
        """The source batch with r + lambda dr, and dr (zero during the warm-up)."""
        dr = jnp.where(self.correcting(state), self.delta_r(state, src), 0.0)
        return src._replace(rew=src.rew + self.method_config.delta_r_scale * dr), dr

    def critic_loss(self, critic, state: SACState, batch: Batch, key, aux: Any = None):
        """SAC's critic loss on the corrected source batch; the target `batch` is not used."""
        src, dr = self.corrected_source(state, aux["src"])
        loss, info = SAC.critic_loss(self, critic, state, src, key, aux)
        return loss, {**info, "darc_delta_r": dr.mean()}


# ---------------------------------------------------------------------- SAC-IW
class SACIW(DomainClassifierCotrain):
    """SAC on source transitions with each Bellman error weighted by clip(exp(dr), iw_clip) (1 in warm-up)."""

    name = "sac-iw"
    method_config: SACIWConfig

    def __init__(self, config: SACIWConfig, obs_dim: int, act_dim: int):
        lo, hi = config.iw_clip
        if not 0 < lo <= hi:
            raise ValueError(f"iw_clip must satisfy 0 < lo <= hi, got {config.iw_clip}")
        super().__init__(config, obs_dim, act_dim)

    def source_weights(self, state: SACState, src: Batch) -> tuple[jax.Array, jax.Array]:
        """(w, dr) per source row: w = clip(exp(dr)) after the warm-up, 1 before (dr then reported as 0)."""
        on = self.correcting(state)
        dr = self.delta_r(state, src)
        return jnp.where(on, importance_weights(dr, tuple(self.method_config.iw_clip)), 1.0), jnp.where(on, dr, 0.0)

    def critic_loss(self, critic, state: SACState, batch: Batch, key, aux: Any = None):
        """sum_j mean_B w (Q_j(s, a) - y)^2 on the source batch (unnormalised weights, as ODRL)."""
        src = aux["src"]
        w, dr = self.source_weights(state, src)
        target = jax.lax.stop_gradient(self.td_target(state, src, key))
        q = self.critic_net.apply(critic, src.obs, src.act)
        loss = jnp.sum(jnp.mean(w[None] * (q - target[None]) ** 2, axis=-1))
        return loss, {"critic_loss": loss, "q": q.mean(), "iw_mean": w.mean(), "darc_delta_r": dr.mean()}
