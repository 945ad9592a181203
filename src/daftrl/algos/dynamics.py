"""Probabilistic ensemble dynamics model (PETS, Chua et al., 2018; MBPO, Janner et al., 2019), VGDF's target
model (`Kavka1/VGDF:model/dynamics.py@9f65d60`).

M Swish MLPs map standardised [s, a] to the mean and soft-clamped log-variance of the label (VGDF: [r, s' - s]):

    logvar = max - softplus(max - raw),   logvar = min + softplus(logvar - min)
    L = sum_members [mean((mu - y)^2 exp(-logvar)) + mean(logvar)] + sum_l wd_l ||W_l||^2 / 2

The bounds [min, max] are constants (as in the reference) unless `learn_logvar_bounds` adds MBPO's
0.01 (sum max - sum min) term; why fixed bounds get no gradient at all: docs/assumptions.md.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

ModelState = dict
"""{"params", "opt", "in_mean", "in_std", "elites"}: parameters, Adam state, input standardiser, elite ids."""


def soft_clamp_logvar(raw: jax.Array, min_logvar: jax.Array, max_logvar: jax.Array) -> jax.Array:
    logvar = max_logvar - jax.nn.softplus(max_logvar - raw)
    return min_logvar + jax.nn.softplus(logvar - min_logvar)


class ProbabilisticEnsemble:
    """`members` Gaussian MLPs in -> (mean, logvar) of size `out_dim`, trained jointly (vmapped)."""

    def __init__(self, in_dim: int, out_dim: int, members: int = 7, hidden: Sequence[int] = (200, 200, 200, 200),
                 weight_decay: Sequence[float] = (2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4), lr: float = 1e-3,
                 num_elites: int = 5, learn_logvar_bounds: bool = False, min_logvar: float = -10.0,
                 max_logvar: float = 0.5, eval_chunk: int = 1024):
        if len(weight_decay) != len(hidden) + 1:
            raise ValueError(f"weight_decay needs one value per layer ({len(hidden) + 1}), got {len(weight_decay)}")
        if not 1 <= num_elites <= members:
            raise ValueError(f"num_elites must be in [1, members={members}], got {num_elites}")
        self.in_dim, self.out_dim, self.members = in_dim, out_dim, members
        self.hidden, self.weight_decay = tuple(hidden), tuple(weight_decay)
        self.num_elites, self.learn_logvar_bounds = num_elites, learn_logvar_bounds
        self.bounds = (min_logvar, max_logvar)
        self.eval_chunk = eval_chunk
        self.tx = optax.adam(lr)
        self.train_step = jax.jit(self._train_step, donate_argnums=(0, 1))
        self._holdout_sse = jax.jit(self._holdout_sse_impl)

    # ------------------------------------------------------------------ parameters
    def init(self, key: jax.Array) -> ModelState:
        """Weights ~ truncated normal (2 std) with std 1/(2 sqrt(fan_in)), zero biases (MBPO's init)."""
        sizes = (self.in_dim, *self.hidden, 2 * self.out_dim)
        layers = []
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            std = 1.0 / (2.0 * math.sqrt(fan_in))
            w = std * jax.random.truncated_normal(jax.random.fold_in(key, i), -2.0, 2.0,
                                                  (self.members, fan_in, fan_out), jnp.float32)
            layers.append({"w": w, "b": jnp.zeros((self.members, fan_out), jnp.float32)})
        params = {"layers": layers,
                  "min_logvar": jnp.full((self.out_dim,), self.bounds[0], jnp.float32),
                  "max_logvar": jnp.full((self.out_dim,), self.bounds[1], jnp.float32)}
        return {"params": params, "opt": self.tx.init(params),
                "in_mean": jnp.zeros((self.in_dim,), jnp.float32), "in_std": jnp.ones((self.in_dim,), jnp.float32),
                "elites": jnp.arange(self.num_elites, dtype=jnp.int32)}

    # ------------------------------------------------------------------ forward
    def apply(self, params: dict, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(mean, logvar), each (members, B, out_dim), for standardised inputs x of shape (B, in) (shared by
        all members) or (members, B, in) (one batch per member)."""

        def member(layers, xm):
            h = xm
            for layer in layers[:-1]:
                h = jax.nn.swish(h @ layer["w"] + layer["b"])
            return h @ layers[-1]["w"] + layers[-1]["b"]

        in_axis = None if x.ndim == 2 else 0
        out = jax.vmap(member, in_axes=(0, in_axis))(params["layers"], x)
        lo, hi = params["min_logvar"], params["max_logvar"]
        if not self.learn_logvar_bounds:
            lo, hi = jax.lax.stop_gradient(lo), jax.lax.stop_gradient(hi)
        mean, raw = jnp.split(out, 2, axis=-1)
        return mean, soft_clamp_logvar(raw, lo, hi)

    def predict(self, model: ModelState, x_raw: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(mean, logvar) of every member for raw (unstandardised) inputs (B, in)."""
        return self.apply(model["params"], (x_raw - model["in_mean"]) / model["in_std"])

    # ------------------------------------------------------------------ training
    def loss(self, params: dict, x: jax.Array, y: jax.Array, mask: jax.Array) -> jax.Array:
        """Gaussian NLL (up to constants) over the rows with mask 1, summed over members; x (M, b, in)."""
        mean, logvar = self.apply(params, x)
        denom = jnp.maximum(mask.sum(axis=-1), 1.0) * self.out_dim  # (M,)
        w = mask[..., None]
        nll = jnp.sum(w * ((mean - y) ** 2 * jnp.exp(-logvar) + logvar), axis=(1, 2)) / denom
        total = jnp.sum(nll)
        if self.learn_logvar_bounds:  # fixed bounds get no gradient (docs/assumptions.md)
            total = total + 0.01 * jnp.sum(params["max_logvar"]) - 0.01 * jnp.sum(params["min_logvar"])
        decay = sum(wd * jnp.sum(layer["w"] ** 2) / 2.0
                    for wd, layer in zip(self.weight_decay, params["layers"], strict=True))
        return total + decay

    def _train_step(self, params, opt, x, y, mask):
        loss, grads = jax.value_and_grad(self.loss)(params, x, y, mask)
        updates, opt = self.tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt, loss

    def _holdout_sse_impl(self, params, x, y, mask):
        mean, _ = self.apply(params, x)
        return jnp.sum(mask[None, :, None] * (mean - y[None]) ** 2, axis=(1, 2))  # (M,)

    def holdout_mse(self, params: dict, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-member MSE of the mean prediction (no variance term) over rows x (H, in), fixed-size chunks."""
        n, c = len(x), self.eval_chunk
        sse = np.zeros(self.members, np.float64)
        for start in range(0, n, c):
            xb, yb = _pad(x[start:start + c], c), _pad(y[start:start + c], c)
            mask = (np.arange(c) < min(c, n - start)).astype(np.float32)
            sse += np.asarray(self._holdout_sse(params, xb, yb, mask), np.float64)
        return sse / (max(n, 1) * self.out_dim)

    def fit(self, model: ModelState, inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator, *,
            batch_size: int = 256, holdout_ratio: float = 0.1, max_epochs_since_update: int = 5,
            max_epochs: int | None = None, improvement: float = 0.01) -> tuple[ModelState, dict]:
        """Train on (inputs, labels) until early stopping; warm-starts from `model` (params and Adam state).

        A hold-out split, standardisation fitted on the training part, one permutation per member each epoch,
        fixed-shape minibatches (the last one padded and masked); stops when no member's hold-out MSE improved
        by more than `improvement` for more than `max_epochs_since_update` epochs. All randomness comes from
        `rng`, so a resumed run retrains identically. Returns the new model state and
        {"holdout_mse": mean over members at the last epoch, "elite_holdout_mse", "epochs"}."""
        n = len(inputs)
        if n < 2:
            raise ValueError(f"need at least 2 transitions to fit a model, got {n}")
        n_hold = min(max(int(n * holdout_ratio), 1 if holdout_ratio > 0 else 0), n - 1)
        perm = rng.permutation(n)
        inputs, labels = np.asarray(inputs, np.float32)[perm], np.asarray(labels, np.float32)[perm]
        train_x, train_y = inputs[n_hold:], labels[n_hold:]
        hold_x, hold_y = (inputs[:n_hold], labels[:n_hold]) if n_hold else (train_x, train_y)
        in_mean = train_x.mean(axis=0, dtype=np.float64)
        in_std = train_x.std(axis=0, dtype=np.float64)
        in_std[in_std < 1e-12] = 1.0
        in_mean, in_std = in_mean.astype(np.float32), in_std.astype(np.float32)
        train_x = (train_x - in_mean) / in_std
        hold_x = (hold_x - in_mean) / in_std

        params = jax.tree.map(jnp.array, model["params"])  # own buffers: the train step donates them
        opt = jax.tree.map(jnp.array, model["opt"])
        n_train, m = len(train_x), self.members
        best = np.full(m, 1e10)
        since = 0
        for epoch in itertools.count(1):
            order = np.stack([rng.permutation(n_train) for _ in range(m)])  # (M, n_train)
            for start in range(0, n_train, batch_size):
                idx = order[:, start:start + batch_size]
                k = idx.shape[1]
                mask = np.zeros((m, batch_size), np.float32)
                mask[:, :k] = 1.0
                if k < batch_size:
                    idx = np.concatenate([idx, np.zeros((m, batch_size - k), idx.dtype)], axis=1)
                params, opt, _ = self.train_step(params, opt, train_x[idx], train_y[idx], mask)
            mse = self.holdout_mse(params, hold_x, hold_y)
            improved = (best - mse) / best > improvement
            best = np.where(improved, mse, best)
            since = 0 if improved.any() else since + 1
            if since > max_epochs_since_update or (max_epochs is not None and epoch >= max_epochs):
                break
        elites = np.argsort(mse, kind="stable")[: self.num_elites]
        new = {"params": params, "opt": opt, "in_mean": jnp.asarray(in_mean), "in_std": jnp.asarray(in_std),
               "elites": jnp.asarray(elites, jnp.int32)}
        return new, {"holdout_mse": float(mse.mean()), "elite_holdout_mse": float(mse[elites].mean()),
                     "epochs": epoch}


def _pad(a: np.ndarray, rows: int) -> np.ndarray:
    if len(a) == rows:
        return a
    return np.concatenate([a, np.zeros((rows - len(a), *a.shape[1:]), a.dtype)], axis=0)
