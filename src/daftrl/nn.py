"""Networks shared by every method: MLP, tanh-Gaussian actor, vmapped Q-ensemble (flax.linen).

The actor follows SAC (Haarnoja et al., 2018, appendix C): a Gaussian in pre-squash space with
log-std clamped to [log_std_min, log_std_max], squashed by tanh; the log-probability includes the
tanh Jacobian in the numerically stable form log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)).
Critics of any ensemble size are one module with a leading member axis (twin critics = 2 members,
DAFT's target ensemble = N members, the frozen source critic Q*_src = 2 members).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

LOG_2 = 0.6931471805599453


class MLP(nn.Module):
    """Multilayer perceptron (ReLU unless `activation` says otherwise) with a linear output layer."""

    hidden: Sequence[int]
    out_dim: int
    activation: Callable[[jax.Array], jax.Array] = nn.relu

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for width in self.hidden:
            x = self.activation(nn.Dense(width)(x))
        return nn.Dense(self.out_dim)(x)


class TanhGaussianActor(nn.Module):
    """pi(a|s): returns (mean, log_std) of the pre-tanh Gaussian, log_std clamped."""

    act_dim: int
    hidden: Sequence[int] = (256, 256)
    log_std_min: float = -20.0
    log_std_max: float = 2.0

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        out = MLP(self.hidden, 2 * self.act_dim)(obs)
        mean, log_std = jnp.split(out, 2, axis=-1)
        return mean, jnp.clip(log_std, self.log_std_min, self.log_std_max)


def tanh_gaussian_sample(mean: jax.Array, log_std: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Reparameterised sample a = tanh(mean + std * eps) and its log-probability log pi(a|s)."""
    eps = jax.random.normal(key, mean.shape, mean.dtype)
    u = mean + jnp.exp(log_std) * eps
    return jnp.tanh(u), tanh_gaussian_log_prob(u, mean, log_std)


def tanh_gaussian_log_prob(u: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """log pi(tanh(u)) for pre-squash value u: Gaussian log-density minus the tanh log-Jacobian."""
    z = (u - mean) * jnp.exp(-log_std)
    gauss = -0.5 * z**2 - log_std - 0.5 * jnp.log(2.0 * jnp.pi)
    log_det = 2.0 * (LOG_2 - u - jax.nn.softplus(-2.0 * u))
    return jnp.sum(gauss - log_det, axis=-1)


class QEnsemble(nn.Module):
    """Q_j(s, a) for j = 1..num_members as one vmapped MLP; output shape (num_members, batch)."""

    num_members: int = 2
    hidden: Sequence[int] = (256, 256)

    @nn.compact
    def __call__(self, obs: jax.Array, act: jax.Array) -> jax.Array:
        ensemble = nn.vmap(
            MLP,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=None,
            out_axes=0,
            axis_size=self.num_members,
        )
        x = jnp.concatenate([obs, act], axis=-1)
        return ensemble(self.hidden, 1)(x)[..., 0]


def param_templates(obs_dim: int, act_dim: int, hidden: Sequence[int], num_critics: int = 2):
    """(actor, critic) parameter trees of the right shapes and dtypes, filled with zeros, to load saved arrays into.
    The initialisers are only traced (`jax.eval_shape`), not run: ~50x cheaper on a process's first load."""
    import numpy as np

    def init():
        key = jax.random.PRNGKey(0)
        o, a = jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim))
        return (TanhGaussianActor(act_dim, tuple(hidden)).init(key, o),
                QEnsemble(num_critics, tuple(hidden)).init(key, o, a))

    return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), jax.eval_shape(init))
