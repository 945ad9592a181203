"""Safe checkpoints: arrays in one safetensors file, metadata as JSON in its header; never pickle.

A checkpoint is written to a temporary file in the same directory and renamed over the old one
(atomic on POSIX), so a crash mid-write leaves the previous checkpoint intact. The header records a
format tag, a version, the checkpoint kind and a SHA-256 digest of every array; loading verifies all
of them, and the caller's template (shapes and dtypes), before anything is returned, so a corrupt,
truncated or foreign file is rejected with a clear error and never half-loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save

FORMAT = "daftrl-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says why and what to do."""


def _umask_mode() -> int:
    """The mode a new file gets (0o666 minus the umask), read without changing the umask where the OS allows
    (Linux: /proc/self/status), since setting it is process-wide and races with other threads."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def daftrl_home() -> Path:
    """Root for long-run state (runs, checkpoints): $DAFTRL_HOME, default ~/.daftrl."""
    return Path(os.environ.get("DAFTRL_HOME", "~/.daftrl")).expanduser()


def _digest(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.asarray(arrays[name], order="C")
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` via a temporary file and rename (readers never see a partial file); the file and
    then its directory are fsynced, so after a power loss the path holds the old or the new bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def save_arrays(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], kind: str, meta: dict) -> None:
    """Atomically write `arrays` (name -> numpy array) with JSON-serialisable `meta`."""
    arrays = {k: np.asarray(v, order="C") for k, v in arrays.items()}
    header = {
        "format": FORMAT,
        "version": str(VERSION),
        "kind": kind,
        "sha256": _digest(arrays),
        "meta": json.dumps(meta, sort_keys=True, default=str),
        # safetensors stores 0-d arrays as shape (1,); remember which ones to restore exactly
        "scalars": json.dumps(sorted(k for k, v in arrays.items() if v.ndim == 0)),
    }
    header["header_sha256"] = _header_digest(header)
    atomic_write_bytes(path, save(arrays, metadata=header))


def _header_digest(header: dict) -> str:
    """SHA-256 of the header fields a loader trusts besides the arrays (kind, meta: step, RNG and env states)."""
    return hashlib.sha256("|".join(header.get(k, "") for k in ("kind", "meta", "scalars")).encode()).hexdigest()


def checkpoint_kind(path: str | os.PathLike) -> str:
    """The kind recorded in a daftrl checkpoint's header (reads the header only)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file ({e})") from e
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a daftrl checkpoint (format tag {header.get('format')!r})")
    return header.get("kind", "")


def load_arrays(path: str | os.PathLike, kind: str | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Read and verify a daftrl checkpoint; returns (arrays, meta). Raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="np") as f:
            header = f.metadata() or {}
        arrays = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(
            f"{path} is not a readable safetensors file ({e}); it may be truncated or corrupt - "
            "restore it from a copy or start the run again"
        ) from e
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a daftrl checkpoint (format tag {header.get('format')!r})")
    if header.get("version") != str(VERSION):
        raise CheckpointError(
            f"{path} has checkpoint format version {header.get('version')}, this daftrl reads {VERSION}"
        )
    if kind is not None and header.get("kind") != kind:
        raise CheckpointError(f"{path} holds a {header.get('kind')!r} checkpoint, expected {kind!r}")
    try:
        for name in json.loads(header.get("scalars", "[]")):
            arrays[name] = arrays[name].reshape(())
    except (KeyError, ValueError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} has an inconsistent header: {e}") from e
    if _digest(arrays) != header.get("sha256"):
        raise CheckpointError(f"{path} failed its checksum: the file is corrupt; do not use it")
    if "header_sha256" in header and _header_digest(header) != header["header_sha256"]:  # older files have none
        raise CheckpointError(f"{path} failed the checksum of its metadata (step, RNG and env states): the file was "
                              "edited or is corrupt; do not use it")
    try:
        meta = json.loads(header["meta"])
    except (KeyError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} has unreadable metadata: {e}") from e
    return arrays, meta


# --------------------------------------------------------------------- pytrees <-> flat dicts
def _path_name(path) -> str:
    parts = []
    for p in path:
        for attr in ("key", "name", "idx"):
            if hasattr(p, attr):
                parts.append(str(getattr(p, attr)))
                break
        else:
            parts.append(str(p))
    return "/".join(parts)


def flatten_tree(tree: Any, prefix: str) -> dict[str, np.ndarray]:
    """Flatten a pytree of arrays to {prefix/path: numpy array}."""
    import jax

    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {f"{prefix}/{_path_name(p)}": np.asarray(v) for p, v in leaves}


def unflatten_like(template: Any, arrays: Mapping[str, np.ndarray], prefix: str, source: str = "") -> Any:
    """Rebuild a pytree shaped like `template` from `arrays`, checking names, shapes and dtypes."""
    import jax

    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    out = []
    for p, ref in leaves:
        name = f"{prefix}/{_path_name(p)}"
        if name not in arrays:
            raise CheckpointError(f"checkpoint {source} lacks {name}: it was written for a different model")
        a = arrays[name]
        ref = np.asarray(ref)
        if a.shape != ref.shape or a.dtype != ref.dtype:
            raise CheckpointError(
                f"checkpoint {source}: {name} has shape {a.shape} {a.dtype}, expected {ref.shape} {ref.dtype} "
                "(different observation/action sizes or network widths?)"
            )
        out.append(a)
    return jax.tree_util.tree_unflatten(treedef, [jax.numpy.asarray(a) for a in out])
