"""Provenance and the machine: which commit, versions, machine, date and command produced a result (`provenance`,
saved in every run directory's config.json and result.json), the same made portable for what gets committed
(`committed_provenance`: no absolute path of the machine it was made on), and `--cpus` (`apply_cpu_settings`)."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any


def git_commit() -> str:
    """The daftrl source tree's commit (+ '-dirty'), or 'unknown' outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here, capture_output=True, text=True, timeout=5,
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def provenance() -> dict[str, Any]:
    """Who/what/where produced a result: commit, versions, machine, date, command."""
    versions = {}
    for mod in ("jax", "jaxlib", "flax", "optax", "numpy", "gymnasium", "mujoco"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - optional modules
            versions[mod] = None
    return {
        "git_commit": git_commit(),
        "command": " ".join(sys.argv),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "versions": versions,
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "hostname": platform.node()},
    }


def _checkout_root() -> str | None:
    """The root of the source checkout daftrl runs from (src/daftrl/ inside it), or None for an installed copy."""
    root = Path(__file__).resolve().parents[2]
    return str(root) if (root / ".git").exists() and (root / "src" / "daftrl").is_dir() else None


def portable(text: str | None) -> str | None:
    """`text` without machine-specific absolute paths: a path to daftrl's cli.py or its script becomes `daftrl`, a
    path inside the source checkout becomes its repository path (`benchmarks/results/x.json`), the home directory
    becomes ~, and any other absolute path keeps only its last component (`.../name`)."""
    if text is None:
        return None
    text = re.sub(r"\S*/(?:src/)?daftrl/cli\.py", "daftrl", text)
    text = re.sub(r"\S*/bin/daftrl\b", "daftrl", text)
    root = _checkout_root()
    if root and root != "/":
        text = re.sub(r"(?<![\w.~$/])" + re.escape(root) + r"/(?=\S)", "", text)
    home = str(Path.home()).rstrip("/")
    if home:  # not for HOME=/ (containers, service users): every path would start with ~
        text = re.sub(re.escape(home) + r"(?=/|\s|$)", "~", text)
    return re.sub(r"(?<![\w.~$/])/(?:[^\s/]+/)+([^\s/]+)", r".../\1", text)


def portable_tree(obj: Any) -> Any:
    """`obj` (nested dicts, lists, tuples) with `portable` applied to every string in it: for what gets committed
    (zoo cards, expert metadata, result records), so no file names a directory of the machine it was made on."""
    if isinstance(obj, str):
        return portable(obj)
    if isinstance(obj, dict):
        return {k: portable_tree(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        items = [portable_tree(v) for v in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else type(obj)(items)  # a namedtuple takes fields
    return obj


def committed_provenance(prov: dict | None = None) -> dict:
    """The provenance of something that gets committed (a benchmark result, a zoo card, a result record):
    `provenance()` now, or a saved `prov`, with `portable` applied to every string in it."""
    return portable_tree(provenance() if prov is None else prov)


def usable_cores(cpus: str | None) -> list[int]:
    """The cores `--cpus` names (e.g. '0' or '0,1'; without it, every core this process may use): ValueError in
    one line for a core that is not a number or that this process may not use."""
    allowed = sorted(os.sched_getaffinity(0))
    if not cpus:
        return allowed
    try:
        wanted = sorted({int(c) for c in cpus.split(",")})
    except ValueError:
        raise ValueError(f"--cpus {cpus!r}: give core numbers separated by commas, e.g. 0 or 0,1 (this process may "
                         f"use {','.join(map(str, allowed))})") from None
    missing = sorted(set(wanted) - set(allowed))
    if missing:
        raise ValueError(f"--cpus {cpus}: core(s) {','.join(map(str, missing))} not available; this process may "
                         f"use {','.join(map(str, allowed))}")
    return wanted


def apply_cpu_settings(cpus: str | None) -> None:
    """Restrict this process to some cores (before JAX starts its thread pool): e.g. '0' or '0,1'.

    One process pinned per core is the fastest way to run two seeds on a 2-core machine
    (docs/benchmarks.md)."""
    if not cpus:
        return
    wanted = usable_cores(cpus)
    os.sched_setaffinity(0, wanted)
    os.environ.setdefault("OMP_NUM_THREADS", str(len(wanted)))
