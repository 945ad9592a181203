"""Host-side replay buffer: a preallocated numpy ring buffer.

`terminated` and `truncated` are stored apart: a time limit is not a terminal state, so targets
bootstrap on 1 - terminated only. Sampling uses the caller's seeded `numpy.random.Generator`, so a
checkpointed generator state makes a resumed run draw the same batches.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class Batch(NamedTuple):
    """A minibatch of transitions; `terminated` is 1.0 only for true terminal states. Numpy arrays when sampled
    here, JAX arrays inside a jitted update (a NamedTuple is a JAX pytree; this module imports no JAX)."""

    obs: Any
    act: Any
    rew: Any
    next_obs: Any
    terminated: Any


FIELDS = ("obs", "act", "rew", "next_obs", "terminated", "truncated")


def alive_mask(ended: np.ndarray) -> np.ndarray:
    """For segments (..., H) of episode-end flags: 1 while no episode ended strictly before a step."""
    return (np.cumsum(ended, axis=-1) - ended == 0).astype(np.float32)


class ReplayBuffer:
    """Ring buffer of (obs, act, rew, next_obs, terminated, truncated) transitions."""

    def __init__(self, obs_dim: int, act_dim: int, capacity: int):
        if capacity <= 0:
            raise ValueError(f"replay capacity must be positive, got {capacity}")
        self.obs_dim, self.act_dim, self.capacity = obs_dim, act_dim, int(capacity)
        self.data = {
            "obs": np.zeros((capacity, obs_dim), np.float32),
            "act": np.zeros((capacity, act_dim), np.float32),
            "rew": np.zeros((capacity,), np.float32),
            "next_obs": np.zeros((capacity, obs_dim), np.float32),
            "terminated": np.zeros((capacity,), np.float32),
            "truncated": np.zeros((capacity,), np.float32),
        }
        self.size = 0
        self.pos = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs, act, rew, next_obs, terminated: bool, truncated: bool) -> None:
        i = self.pos
        d = self.data
        d["obs"][i] = obs
        d["act"][i] = act
        d["rew"][i] = rew
        d["next_obs"][i] = next_obs
        d["terminated"][i] = terminated
        d["truncated"][i] = truncated
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def add_many(self, **arrays: np.ndarray) -> None:
        """Append a block of transitions (e.g. a dataset); keys as in FIELDS."""
        n = len(arrays["obs"])
        missing = set(FIELDS) - set(arrays)
        if missing:
            raise ValueError(f"add_many is missing fields {sorted(missing)}")
        for start in range(0, n, self.capacity):
            chunk = {k: np.asarray(v[start : start + self.capacity]) for k, v in arrays.items()}
            m = len(chunk["obs"])
            idx = (self.pos + np.arange(m)) % self.capacity
            for k in FIELDS:
                self.data[k][idx] = chunk[k].reshape(self.data[k][idx].shape)
            self.pos = int((self.pos + m) % self.capacity)
            self.size = min(self.size + m, self.capacity)

    def _batch(self, idx: np.ndarray) -> Batch:
        d = self.data
        return Batch(d["obs"][idx], d["act"][idx], d["rew"][idx], d["next_obs"][idx], d["terminated"][idx])

    def sample(self, rng: np.random.Generator, batch_size: int, num_batches: int | None = None) -> Batch:
        """Uniform minibatch (B, ...) or a stack of `num_batches` minibatches (K, B, ...)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        shape = (batch_size,) if num_batches is None else (num_batches, batch_size)
        return self._batch(rng.integers(0, self.size, size=shape))

    def sample_segments(
        self, rng: np.random.Generator, batch_size: int, horizon: int
    ) -> tuple[Batch, np.ndarray]:
        """Length-H segments of consecutive transitions, arrays (B, H, ...), and an `alive` mask.

        Segments are contiguous in insertion order and may cross an episode boundary;
        alive[b, h] = 1 while no episode ended (terminated or truncated) strictly before step h,
        so a caller sums only the part of a segment that belongs to one episode.
        """
        if self.size < horizon:
            raise ValueError(f"need at least {horizon} transitions for segments, have {self.size}")
        oldest = self.pos if self.size == self.capacity else 0
        starts = rng.integers(0, self.size - horizon + 1, size=batch_size)
        idx = (oldest + starts[:, None] + np.arange(horizon)[None]) % self.capacity
        return self._batch(idx), alive_mask(np.maximum(self.data["terminated"][idx], self.data["truncated"][idx]))

    def insertion_order(self) -> np.ndarray:
        """Storage indices of the stored transitions, oldest first."""
        oldest = self.pos if self.size == self.capacity else 0
        return (oldest + np.arange(self.size)) % self.capacity

    # ----------------------------------------------------------------- persistence
    def state_dict(self, prefix: str = "replay") -> dict[str, np.ndarray]:
        """Arrays to checkpoint: only the filled part, in storage order, plus the counters."""
        out = {f"{prefix}/{k}": v[: self.size] for k, v in self.data.items()}
        out[f"{prefix}/pos_size_capacity"] = np.array([self.pos, self.size, self.capacity], np.int64)
        return out

    @classmethod
    def from_state_dict(cls, arrays: dict[str, np.ndarray], prefix: str = "replay") -> ReplayBuffer:
        pos, size, capacity = (int(x) for x in arrays[f"{prefix}/pos_size_capacity"])
        obs = arrays[f"{prefix}/obs"]
        buf = cls(obs.shape[1], arrays[f"{prefix}/act"].shape[1], capacity)
        for k in FIELDS:
            v = arrays[f"{prefix}/{k}"]
            if len(v) != size:
                raise ValueError(f"replay field {k} has {len(v)} rows, expected {size}")
            buf.data[k][:size] = v
        buf.pos, buf.size = pos, size
        return buf
