"""A loaded offline dataset: its transitions in a `ReplayBuffer`, their checksum, and the checks every reader runs.

Whatever the file format, a dataset becomes the same *canonical arrays* (`FIELDS` of `daftrl.replay`, in the order
the transitions were collected): `obs`, `act`, `rew`, `next_obs` as float32, `terminated`, `truncated` as bool.
Its checksum is the SHA-256 of those arrays (name, dtype, shape and little-endian bytes of each field), so it
identifies the data itself, not the file that holds it (an HDF5 file embeds timestamps; the same transitions in a
Minari dataset and in a D4RL file have the same checksum).
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from daftrl.replay import FIELDS, ReplayBuffer

FLAGS = ("terminated", "truncated")
ACTION_TOLERANCE = 1e-5
"""How far outside [-1, 1] an action may lie (float rounding of a clipped or tanh-squashed action)."""


class DatasetError(ValueError):
    """A dataset file daftrl refuses to load; the one-line message names the file, the problem and what to do."""


def refuse(source: str, problem: str, fix: str) -> DatasetError:
    return DatasetError(f"{source}: {problem}; {fix}")


@dataclasses.dataclass
class Dataset:
    """An offline dataset in daftrl's replay buffer (transitions in collection order, episodes contiguous)."""

    name: str
    """The Minari dataset id, or the file or directory it was read from."""
    robot: str | None
    """The daftrl robot whose source env produced it, when known (None for an arbitrary file)."""
    buffer: ReplayBuffer
    checksum: str
    """SHA-256 of the canonical arrays (`checksum`)."""
    meta: dict = dataclasses.field(default_factory=dict)
    """Where it came from: `format` (minari | d4rl), the file, Minari's metadata, and daftrl's card if it has one."""

    def __len__(self) -> int:
        return len(self.buffer)

    @property
    def obs_dim(self) -> int:
        return self.buffer.obs_dim

    @property
    def act_dim(self) -> int:
        return self.buffer.act_dim

    def arrays(self) -> dict[str, np.ndarray]:
        """The canonical arrays (copies), oldest transition first."""
        return canonical(self.buffer)


def canonical(source: ReplayBuffer | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The canonical arrays of a buffer (in insertion order) or of a dict of arrays keyed by `FIELDS`."""
    if isinstance(source, ReplayBuffer):
        order = source.insertion_order()
        source = {k: source.data[k][order] for k in FIELDS}
    out = {k: np.asarray(source[k], np.float32) for k in FIELDS if k not in FLAGS}
    out["rew"] = out["rew"].reshape(-1)
    for k in FLAGS:
        out[k] = np.asarray(source[k]).reshape(-1).astype(bool)
    return out


def checksum(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of canonical arrays: for each field in `FIELDS` order its name, dtype and shape, then its bytes."""
    h = hashlib.sha256()
    for name in FIELDS:
        a = np.ascontiguousarray(arrays[name])
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def check_arrays(arrays: dict[str, np.ndarray], source: str, robot: str | None = None, obs_dim: int | None = None,
                 act_dim: int | None = None) -> dict[str, np.ndarray]:
    """The canonical arrays of `arrays` (keyed by `FIELDS`), or a `DatasetError` naming `source` when they are not
    a usable dataset: a field that is not numbers (strings, complex, objects) or is a single value, inconsistent
    lengths or shapes, observations or actions with no columns, flags other than 0/1, NaN or inf, actions outside
    [-1, 1], or observation/action sizes other than the robot's (or `obs_dim`/`act_dim`) when one is given."""
    for k in FIELDS:
        a = np.asarray(arrays[k])
        if a.dtype.kind not in "biuf":  # booleans, integers, floats
            raise refuse(source, f"{k} holds {a.dtype} values, not numbers",
                         "store real numbers (floats; booleans or 0/1 for the flags)")
        if a.ndim == 0:
            raise refuse(source, f"{k} is a single value, not one row per transition",
                         "every field needs one row per transition")
    obs, act, next_obs = (np.asarray(arrays[k]) for k in ("obs", "act", "next_obs"))
    n = len(obs)
    if obs.ndim != 2 or act.ndim != 2:
        raise refuse(source, f"observations and actions must be 2-D (transitions, size), got shapes {obs.shape} and "
                     f"{act.shape}", "store one flat vector per transition")
    if n == 0:
        raise refuse(source, "holds no transitions", "give a dataset with data")
    for k, a in (("obs", obs), ("act", act)):
        if a.shape[1] == 0:
            raise refuse(source, f"{k} has no columns (shape {a.shape})",
                         "store at least one number per observation and per action")
    if next_obs.shape != obs.shape:
        raise refuse(source, f"next observations have shape {next_obs.shape}, observations {obs.shape}",
                     "store one next observation per transition")
    for k in ("act", "rew", *FLAGS):
        a = np.asarray(arrays[k])
        if len(a) != n or (k != "act" and a.size != n):
            raise refuse(source, f"{k} has shape {a.shape} but there are {n} observations",
                         "every field needs one row per transition")
    for k in FLAGS:
        values = np.unique(np.asarray(arrays[k]))
        if not np.isin(values, (0, 1)).all():
            raise refuse(source, f"{k} holds values other than 0/1 ({values[:5].tolist()})",
                         "store episode ends as booleans")
    out = canonical(arrays)
    for k in ("obs", "act", "rew", "next_obs"):
        bad = ~np.isfinite(out[k])
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise refuse(source, f"{k} has {int(bad.sum())} NaN or infinite values (first at transition {row})",
                         "remove or repair those transitions")
    lo, hi = float(out["act"].min()), float(out["act"].max())
    if lo < -1 - ACTION_TOLERANCE or hi > 1 + ACTION_TOLERANCE:
        raise refuse(source, f"actions lie outside [-1, 1] (min {lo:.3g}, max {hi:.3g})",
                     "daftrl policies act in [-1, 1]: rescale the actions to that box")
    _check_sizes(out, source, robot, obs_dim, act_dim)
    return out


def _check_sizes(arrays: dict[str, np.ndarray], source: str, robot: str | None, obs_dim: int | None,
                 act_dim: int | None) -> None:
    from daftrl.envs.robots import ROBOTS

    if robot is not None:
        if robot not in ROBOTS:
            raise refuse(source, f"unknown robot {robot!r}", f"name one of {', '.join(ROBOTS)}")
        obs_dim, act_dim = obs_dim or ROBOTS[robot].obs_dim, act_dim or ROBOTS[robot].act_dim
    have = (arrays["obs"].shape[1], arrays["act"].shape[1])
    if (obs_dim is not None and have[0] != obs_dim) or (act_dim is not None and have[1] != act_dim):
        match = [r.name for r in ROBOTS.values() if (r.obs_dim, r.act_dim) == have]
        of = f" ({' or '.join(match)}'s)" if match else ""
        wanted = [f"{what} size {size}" for what, size in (("observation", obs_dim), ("action", act_dim)) if size]
        raise refuse(source, f"observation/action sizes are {have[0]}/{have[1]}{of}, but {robot or 'the caller'} "
                     f"expects {' and '.join(wanted)}", "give a dataset collected on that robot's source env")


def episode_ends(buffer_or_arrays: ReplayBuffer | dict[str, np.ndarray]) -> np.ndarray:
    """Indices (in collection order) of the transitions that end an episode (terminated or truncated)."""
    a = buffer_or_arrays
    if isinstance(a, ReplayBuffer):  # only the two flag columns, in insertion order (no copy of the rest)
        order = a.insertion_order()
        a = {k: a.data[k][order] for k in FLAGS}
    return np.flatnonzero(np.asarray(a["terminated"], bool).reshape(-1) | np.asarray(a["truncated"], bool).reshape(-1))


def episode_returns(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Undiscounted return of every finished episode, in order (a trailing unfinished one is left out)."""
    ends = episode_ends(arrays)
    sums = np.cumsum(np.asarray(arrays["rew"], np.float64))[ends]
    return np.diff(sums, prepend=0.0)


def sample_source(dataset: Dataset | ReplayBuffer, n: int) -> ReplayBuffer:
    """D_src from a dataset: its latest at most `n` transitions, contiguous and starting at an episode start, so
    every episode in it is whole (the last may be unfinished only where the dataset itself ends unfinished)."""
    buffer = dataset.buffer if isinstance(dataset, Dataset) else dataset
    if n <= 0:
        raise ValueError(f"sample_source needs a positive number of transitions, got {n}")
    total = len(buffer)
    starts = np.concatenate([[0], episode_ends(buffer) + 1])
    starts = starts[(starts >= total - n) & (starts < total)]
    if len(starts) == 0:
        name = dataset.name if isinstance(dataset, Dataset) else "the buffer"
        raise ValueError(f"{name}: its last episode is longer than {n} transitions; ask for more transitions")
    start = int(starts[0])
    tail = buffer.insertion_order()[start:]  # only these rows are copied, not the whole dataset
    out = ReplayBuffer(buffer.obs_dim, buffer.act_dim, total - start)
    out.add_many(**canonical({k: buffer.data[k][tail] for k in FIELDS}))
    return out


def to_buffer(arrays: dict[str, np.ndarray]) -> ReplayBuffer:
    """A full replay buffer holding exactly the canonical `arrays`."""
    obs, act = arrays["obs"], arrays["act"]
    buf = ReplayBuffer(obs.shape[1], act.shape[1], len(obs))
    buf.add_many(**arrays)
    return buf
