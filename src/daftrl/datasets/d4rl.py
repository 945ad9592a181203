"""D4RL-format HDF5 files: one flat array per key, one row per transition (Fu et al., 2020, "D4RL: Datasets for
Deep Data-Driven Reinforcement Learning"; keys as its `get_dataset` loads them).

Keys read: `observations`, `actions`, `rewards`, `next_observations`, `terminals` (a true terminal state) and
`timeouts` (the episode was cut by a time limit). They stay apart: `terminals` becomes `terminated` and `timeouts`
`truncated`, so a time limit is never bootstrapped as a terminal state. Other keys (`infos/*`, `metadata/*`) are
ignored, except that scalar `metadata/*` entries and file attributes are kept in `Dataset.meta`. A file h5py cannot
read (truncated or damaged) is refused with a `DatasetError`, and so is one whose next observations do not follow
its observations (`check_next_obs`).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from daftrl.datasets.data import canonical, refuse

KEYS = {"observations": "obs", "actions": "act", "rewards": "rew", "next_observations": "next_obs",
        "terminals": "terminated", "timeouts": "truncated"}
"""D4RL key -> daftrl field."""
SUFFIXES = (".hdf5", ".h5")


def is_hdf5(path: Path) -> bool:
    """Whether `path` is a file starting with the HDF5 signature."""
    try:
        with open(path, "rb") as f:
            return f.read(8) == b"\x89HDF\r\n\x1a\n"
    except OSError:
        return False


def read_d4rl(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays keyed by `FIELDS`, metadata) of a D4RL-format HDF5 file, or a `DatasetError` naming the file."""
    import h5py

    source = str(path)
    if not is_hdf5(path):
        raise refuse(source, "is not an HDF5 file", "give a D4RL .hdf5 file or a Minari dataset")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in KEYS if not isinstance(f.get(k), h5py.Dataset)]
            if missing:
                raise refuse(source, f"lacks the D4RL key(s) {', '.join(missing)} (has "
                             f"{', '.join(sorted(f)) or 'none'})", f"a D4RL file needs {', '.join(KEYS)}")
            arrays = {field: f[key][()] for key, field in KEYS.items()}
            meta = {"attrs": _scalars(f.attrs)}
            if isinstance(f.get("metadata"), h5py.Group):
                meta["metadata"] = _scalars({k: v[()] for k, v in f["metadata"].items()
                                             if isinstance(v, h5py.Dataset)})
    except (OSError, RuntimeError) as e:  # a truncated or corrupt file: h5py's own error, on open or on a read
        first = str(e).splitlines()[0] if str(e) else ""
        raise refuse(source, f"h5py cannot read it ({type(e).__name__}: {first})",
                     "it is truncated or damaged: re-download it, or write it again (e.g. with "
                     "`daftrl.datasets.write_d4rl`)") from None
    return arrays, meta


NEXT_OBS_MISMATCH = 0.5
"""The share of within-episode rows whose next observation may differ from the next row's observation before a
D4RL file is refused (`check_next_obs`)."""


def check_next_obs(arrays: dict[str, np.ndarray], source: str) -> None:
    """Refuse (`DatasetError`) canonical `arrays` whose `next_obs` do not follow `obs`: inside an episode (a row
    that ends none, and not the last row) next_obs[i] should be obs[i + 1] (to float32 rounding, rtol 1e-5).

    The refusal threshold is more than `NEXT_OBS_MISMATCH` (half) of those rows. A file whose next observations are
    misaligned with its observations (rows shuffled, next_observations shifted, or taken from another array)
    disagrees on nearly every row and is refused; a file that merely leaves some episode ends unmarked disagrees on
    one row per unmarked end (a few percent for episodes of 20 steps or more), and still loads."""
    ends = np.asarray(arrays["terminated"], bool) | np.asarray(arrays["truncated"], bool)
    inside = ~ends[:-1]
    pairs = int(inside.sum())
    if pairs == 0:
        return
    obs, next_obs = arrays["obs"], arrays["next_obs"]
    follows = np.isclose(next_obs[:-1], obs[1:], rtol=1e-5, atol=1e-6).all(axis=1)
    off = np.flatnonzero(inside & ~follows)
    if len(off) > NEXT_OBS_MISMATCH * pairs:
        raise refuse(source, f"next_obs differs from the next row's obs at {len(off)} of {pairs} transitions inside "
                     f"episodes (first at transition {int(off[0])})",
                     "store next_observations[i] = observations[i + 1] within an episode, and mark every episode "
                     "end in terminals or timeouts")


def _scalars(items) -> dict:
    """The JSON-friendly scalar entries of an HDF5 attribute set or group (strings, numbers, booleans)."""
    out = {}
    for k, v in dict(items).items():
        v = v.decode() if isinstance(v, bytes) else v
        if isinstance(v, np.generic) or (isinstance(v, np.ndarray) and v.ndim == 0):
            v = v.item()
            v = v.decode() if isinstance(v, bytes) else v
        if isinstance(v, str | int | float | bool):
            out[k] = v
    return out


def write_d4rl(path: str | os.PathLike, arrays: dict[str, np.ndarray], attrs: dict | None = None) -> Path:
    """Write `arrays` keyed by `FIELDS` (e.g. `Dataset.arrays()`) as a D4RL-format HDF5 file. They are made canonical
    first (`data.canonical`): float32 observations, actions, next observations and a flat float32 reward column;
    boolean `terminals` and `timeouts` (any nonzero flag is true). Built in memory and written atomically
    (`daftrl.checkpoint.atomic_write_bytes`)."""
    import h5py

    from daftrl.checkpoint import atomic_write_bytes

    arrays = canonical(arrays)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        for key, field in KEYS.items():
            f.create_dataset(key, data=arrays[field])
        f.attrs.update(attrs or {})
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)
