"""D4RL-format HDF5 files: one flat array per key, one row per transition (Fu et al., 2020, "D4RL: Datasets for
Deep Data-Driven Reinforcement Learning"; keys as its `get_dataset` loads them).

Keys read: `observations`, `actions`, `rewards`, `next_observations`, `terminals` (a true terminal state) and
`timeouts` (the episode was cut by a time limit). They stay apart: `terminals` becomes `terminated` and `timeouts`
`truncated`, so a time limit is never bootstrapped as a terminal state. Other keys (`infos/*`, `metadata/*`) are
ignored, except that scalar `metadata/*` entries and file attributes are kept in `Dataset.meta`.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from daftrl.datasets.data import refuse

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
    with h5py.File(path, "r") as f:
        missing = [k for k in KEYS if not isinstance(f.get(k), h5py.Dataset)]
        if missing:
            raise refuse(source, f"lacks the D4RL key(s) {', '.join(missing)} (has {', '.join(sorted(f)) or 'none'})",
                         f"a D4RL file needs {', '.join(KEYS)}")
        arrays = {field: f[key][()] for key, field in KEYS.items()}
        meta = {"attrs": _scalars(f.attrs)}
        if isinstance(f.get("metadata"), h5py.Group):
            meta["metadata"] = _scalars({k: v[()] for k, v in f["metadata"].items() if isinstance(v, h5py.Dataset)})
    return arrays, meta


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
    """Write canonical `arrays` (e.g. `Dataset.arrays()`) as a D4RL-format HDF5 file: float32 arrays, boolean
    `terminals` and `timeouts`. Built in memory and written atomically (`daftrl.checkpoint.atomic_write_bytes`)."""
    import h5py

    from daftrl.checkpoint import atomic_write_bytes

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        for key, field in KEYS.items():
            f.create_dataset(key, data=arrays[field])
        f.attrs.update(attrs or {})
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)
