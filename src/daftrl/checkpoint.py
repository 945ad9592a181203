"""Safe checkpoints: arrays in one safetensors file, metadata as JSON in its header; never pickle.

A checkpoint is written to a temporary file in the same directory and renamed over the old one
(atomic on POSIX), so a crash mid-write leaves the previous checkpoint intact. The header records a
format tag, a version, the checkpoint kind, a SHA-256 digest over all arrays and one over the header;
loading verifies all of them, and the caller's template (shapes and dtypes), before anything is returned, so a corrupt,
truncated or foreign file is rejected with a clear error and never half-loaded.

Every kind that holds a policy records the same description in its header meta (`describe`: sizes, hidden
widths, env, domain), and `read_spec` reads it back from the header alone; `LAYOUTS` says where each kind keeps
its networks. Files written before the description existed are read too: sizes from the actor's array shapes,
env and domain from where that kind kept them (`Layout.legacy_env`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from safetensors import SafetensorError, safe_open
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


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex): the checksums of zoo files and dataset builds."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


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


def _read_header(path: Path) -> tuple[dict, dict[str, tuple[int, ...]]]:
    """(header, {array name: shape}) of a daftrl checkpoint of this format version, read without its data."""
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="np") as f:
            header = f.metadata() or {}
            shapes = {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}
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
    return header, shapes


def _meta(header: dict, path: Path) -> dict:
    """The header's meta, once its checksum holds (older files have none)."""
    if "header_sha256" in header and _header_digest(header) != header["header_sha256"]:
        raise CheckpointError(f"{path} failed the checksum of its metadata (step, RNG and env states): the file was "
                              "edited or is corrupt; do not use it")
    try:
        return json.loads(header["meta"])
    except (KeyError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} has unreadable metadata: {e}") from e


def checkpoint_meta(path: str | os.PathLike) -> dict:
    """The verified metadata of a daftrl checkpoint (step or iteration, wall time, ...), read without its arrays."""
    path = Path(path)
    return _meta(_read_header(path)[0], path)


RUN_CHECKPOINT, EXPERT_FILE = "checkpoint.safetensors", "expert.safetensors"
"""The file a run directory keeps its state in, and the one an expert directory (the zoo's, `daftrl expert
import`'s, a finished offline run's export) holds."""


def checkpoint_file(path: str | os.PathLike, prefer: tuple[str, ...] = (RUN_CHECKPOINT, EXPERT_FILE)) -> Path:
    """The checkpoint file `path` names: `path` itself unless it is a directory, else the first file of `prefer`
    the directory holds (an offline run directory holds both its checkpoint and its exported expert, so the
    caller says which it wants first). A directory holding none of them is a CheckpointError."""
    path = Path(path)
    if not path.is_dir():
        return path
    for name in prefer:
        if (path / name).is_file():
            return path / name
    raise CheckpointError(f"{path} is a directory without {' or '.join(prefer)}: give a run directory, an expert "
                          "directory or the checkpoint file itself")


def checkpoint_kind(path: str | os.PathLike) -> str:
    """The kind recorded in a daftrl checkpoint's header (reads the header only)."""
    return _read_header(Path(path))[0].get("kind", "")


def load_arrays(path: str | os.PathLike, kind: str | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Read and verify a daftrl checkpoint; returns (arrays, meta). Raises CheckpointError."""
    path = Path(path)
    header, _ = _read_header(path)
    try:
        arrays = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(
            f"{path} is not a readable safetensors file ({e}); it may be truncated or corrupt - "
            "restore it from a copy or start the run again"
        ) from e
    if kind is not None and header.get("kind") != kind:
        raise CheckpointError(f"{path} holds a {header.get('kind')!r} checkpoint, expected {kind!r}")
    try:
        for name in json.loads(header.get("scalars", "[]")):
            arrays[name] = arrays[name].reshape(())
    except (KeyError, ValueError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} has an inconsistent header: {e}") from e
    if _digest(arrays) != header.get("sha256"):
        raise CheckpointError(f"{path} failed its checksum: the file is corrupt; do not use it")
    return arrays, _meta(header, path)


# --------------------------------------------------------------------- the policy a checkpoint holds
SPEC_FIELDS = ("obs_dim", "act_dim", "hidden", "env", "domain")
"""The fields `describe` adds to the header meta of every kind in `LAYOUTS`."""


def describe(obs_dim: int, act_dim: int, hidden: Sequence[int], env: str, domain: str) -> dict:
    """The header meta every checkpoint kind holding a policy records (merged into its meta, see `read_spec`):
    observation and action sizes, hidden widths, and the env (robot, task or gymnasium id) and domain ("source" or
    "target") the policy was trained in, which `daftrl eval` scores by default."""
    if domain not in ("source", "target"):
        raise ValueError(f"domain must be 'source' or 'target', got {domain!r}")
    return {"obs_dim": int(obs_dim), "act_dim": int(act_dim), "hidden": [int(h) for h in hidden], "env": str(env),
            "domain": domain}


class Legacy(NamedTuple):
    """Where a file written before `describe` names the env it was trained in: at the dotted `key` of its header
    meta, or of its run's config.json if `in_run_config`; its domain is `domain`, or the value at `domain_key`."""

    key: str
    domain: str = "source"
    domain_key: str | None = None
    in_run_config: bool = False


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where a checkpoint kind keeps its networks: array-name prefixes of the actor and, for the kinds an expert
    loads from, of the critic and the temperature; `replay`: the prefix of a training run's replay buffer (the
    expert's D_src is its tail; expert files store D_src under source/). `legacy_env`: where files written before
    `describe` name their env (first found wins)."""

    actor: str
    critic: str | None = None
    log_alpha: str | None = None
    replay: str | None = None
    legacy_env: tuple[Legacy, ...] = ()


LAYOUTS = {
    "pretrain": Layout("sac/actor", "sac/critic", "sac/log_alpha", "replay",
                       (Legacy("config.env", domain_key="config.domain"),)),
    # adapt checkpoints named their task from commit af4e4d5 on; before, their run's config.json did
    "adapt": Layout("state/actor", legacy_env=(Legacy("task", "target"), Legacy("task", "target", in_run_config=True),
                                               Legacy("adapter.expert.env"))),
    "cotrain": Layout("state/actor", legacy_env=(Legacy("task", "target", in_run_config=True),)),
    "adapter": Layout("state/actor", legacy_env=(Legacy("expert.env"),)),  # it does not know its target
    "offline": Layout("state/actor"),  # an offline run's expert (with critics, D_src) is its expert.safetensors
    "actor": Layout("actor"),  # actor and expert files have always recorded their env and sizes
    "expert": Layout("actor", "critic", "log_alpha"),
}
"""Checkpoint kinds holding a policy -> where they keep it."""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """The policy a checkpoint holds (`describe`'s fields and the kind)."""

    kind: str
    obs_dim: int
    act_dim: int
    hidden: tuple[int, ...]
    env: str
    domain: str

    @property
    def layout(self) -> Layout:
        return LAYOUTS[self.kind]


def read_spec(path: str | os.PathLike, run_config: Callable[[], Mapping] = dict) -> ModelSpec:
    """The `ModelSpec` of a checkpoint, from its header alone; CheckpointError for a kind that holds no policy.

    A file written before `describe` gets its sizes from its actor's array shapes (`actor_sizes`) and its env and
    domain from its kind's `Layout.legacy_env`; `run_config()` returns its run's saved config ({} if none), which
    older adapt and cotrain checkpoints need."""
    path = Path(path)
    header, shapes = _read_header(path)
    kind = header.get("kind", "")
    if kind not in LAYOUTS:
        raise CheckpointError(f"{path} holds a {kind!r} checkpoint; a policy loads from {', '.join(LAYOUTS)} "
                              "checkpoints")
    meta, layout = _meta(header, path), LAYOUTS[kind]
    if all(k in meta for k in ("obs_dim", "act_dim", "hidden")):
        obs_dim, act_dim, hidden = meta["obs_dim"], meta["act_dim"], tuple(meta["hidden"])
    else:
        obs_dim, act_dim, hidden = actor_sizes(shapes, layout.actor, str(path))
    if "env" in meta:
        return ModelSpec(kind, obs_dim, act_dim, hidden, meta["env"], meta.get("domain", "source"))
    for where in layout.legacy_env:
        env = _at(run_config() if where.in_run_config else meta, where.key)
        if env:
            domain = _at(meta, where.domain_key) if where.domain_key else None
            return ModelSpec(kind, obs_dim, act_dim, hidden, env, domain or where.domain)
    raise CheckpointError(f"{path}: a {kind} checkpoint of an earlier daftrl version names its task only in its "
                          "run's config.json, which is not next to it; give the run directory")


def _at(d: Any, dotted: str) -> Any:
    """d[k1][k2]... for dotted = "k1.k2..." (None where a key is missing)."""
    for k in dotted.split("."):
        if not isinstance(d, Mapping) or k not in d:
            return None
        d = d[k]
    return d


def kernel_names(names: Iterable[str], prefix: str) -> list[str]:
    """The array names of the dense kernels under `prefix`, input layer first: flax numbers layers in order
    (Dense_0, Dense_1, ...), so names are sorted with their numbers compared as numbers. A layer's bias is its
    kernel name with `kernel` replaced by `bias`."""
    found = [n for n in names if n.startswith(prefix + "/") and n.endswith("/kernel")]
    return sorted(found, key=lambda n: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", n)])


def layer_shapes(shapes: Mapping[str, Sequence[int]], prefix: str) -> list[tuple[int, ...]]:
    """Kernel shapes of the dense layers under `prefix` (array name -> shape), input layer first."""
    return [tuple(shapes[n]) for n in kernel_names(shapes, prefix)]


def actor_sizes(shapes: Mapping[str, Sequence[int]], prefix: str, source: str = "") -> tuple[int, int, tuple[int, ...]]:
    """(obs_dim, act_dim, hidden) of the tanh-Gaussian actor under `prefix`, from its kernel shapes alone: the first
    kernel's input is the observation, each hidden layer's output a hidden width, and the output layer gives the
    mean and the log-std of each action dimension."""
    kernels = layer_shapes(shapes, prefix)
    pairs = zip(kernels[:-1], kernels[1:], strict=True)
    if not kernels or any(len(k) != 2 for k in kernels) or any(a[1] != b[0] for a, b in pairs) or kernels[-1][1] % 2:
        raise CheckpointError(f"{source} holds no tanh-Gaussian actor under {prefix}/ (kernel shapes {kernels})")
    return kernels[0][0], kernels[-1][1] // 2, tuple(k[1] for k in kernels[:-1])


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
