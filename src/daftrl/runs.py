"""Run directories, metrics logs, provenance, progress bars and graceful stopping.

Shared by every loop (pretrain, adapt, cotrain). A run directory holds

    config.json         the resolved configuration, provenance of the first start and of every resume
    metrics.jsonl       one JSON object per log/eval row (rows past the last checkpoint are dropped
                        on resume, so a resumed log equals an uninterrupted one)
    eval.csv            the evaluation rows only, for spreadsheets and plots
    checkpoint.safetensors  the full resumable state (see checkpoint.py)
    result.json         written at the end (status "finished") or at a Ctrl-C/SIGTERM stop ("interrupted");
                        removed when a run resumes, so it never describes an older point of the run
    .lock               held (fcntl.lockf) by the process writing the run: a second one is refused
    actors/             (pretrain) the actor of every evaluation
    tb/                 (--logger tensorboard) TensorBoard event files
    wandb.json          (--logger wandb) the id of the run's W&B run, which a resume continues; W&B's local
                        files go to wandb/ (or $WANDB_DIR)

`Run` is the skeleton every loop runs on: it resolves a run (a new one, or the saved config of a resumed one)
without writing anything, lets the loop build and restore its state, then creates or reopens the directory and
schedules logging, evaluation and checkpoints around the loop's own act/step/store/update code.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import errno
import functools
import io
import json
import os
import platform
import re
import signal
import subprocess
import sys
import warnings
import weakref
from collections.abc import Callable, Iterable
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any, NamedTuple

from daftrl import trackers
from daftrl.checkpoint import (
    CheckpointError,
    atomic_write_bytes,
    atomic_write_json,
    checkpoint_kind,
    daftrl_home,
    load_arrays,
    save_arrays,
)
from daftrl.trackers import Tracker  # noqa: F401 - the type of the run configs' `logger` option

EVAL_FIELDS = ("step", "return_mean", "return_std", "normalized_score", "wall_time")
RENAMED_OPTIONS = {"tensorboard": lambda on: {"logger": ["tensorboard"] if on else []}}
"""Run options of earlier daftrl versions -> what they are now, so their runs still resume (`config_from_dict`)."""


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


def apply_cpu_settings(cpus: str | None) -> None:
    """Restrict this process to some cores (before JAX starts its thread pool): e.g. '0' or '0,1'.

    One process pinned per core is the fastest way to run two seeds on a 2-core machine
    (docs/benchmarks.md)."""
    if not cpus:
        return
    allowed = sorted(os.sched_getaffinity(0))
    try:
        wanted = {int(c) for c in cpus.split(",")}
    except ValueError:
        raise ValueError(f"--cpus {cpus!r}: give core numbers separated by commas, e.g. 0 or 0,1 (this process may "
                         f"use {','.join(map(str, allowed))})") from None
    if not wanted <= set(allowed):
        raise ValueError(f"--cpus {cpus}: core(s) {','.join(map(str, sorted(wanted - set(allowed))))} not available; "
                         f"this process may use {','.join(map(str, allowed))}")
    os.sched_setaffinity(0, wanted)
    os.environ.setdefault("OMP_NUM_THREADS", str(len(wanted)))


def check_counts(cfg, *names: str) -> None:
    """ValueError naming the flag if one of these integer options of a run config is < 1 (None is allowed:
    the default is used), before anything is written or computed."""
    for name in names:
        value = getattr(cfg, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")


def json_ready(d: dict) -> dict:
    """`d` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(d, default=list))


def config_to_dict(cfg) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def config_from_dict(cls, d: dict, extra: Iterable[str] = ()):
    """Rebuild a config dataclass saved as JSON by `config_to_dict` (a run's or a method's): nested config
    dataclasses are rebuilt and lists become tuples where the field's default is a tuple (JSON has no tuples).
    TypeError for a key that is neither a field nor in `extra` (what config.json holds beside the run options,
    e.g. "method_config"): an option of another daftrl version must not be dropped silently. Options renamed since
    (RENAMED_OPTIONS) are read under their new name."""
    fields = {f.name for f in dataclasses.fields(cls)}
    for old, new in RENAMED_OPTIONS.items():
        if old in d and old not in fields:
            d = {**{k: v for k, v in d.items() if k != old}, **new(d[old])}
    unknown = set(d) - fields - set(extra)
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(sorted(unknown))}")
    defaults = cls()
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in d:
            continue
        value, default = d[f.name], getattr(defaults, f.name)
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            value = config_from_dict(type(default), value)
        elif isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def check_run_kind(checkpoint: Path, kind: str) -> None:
    """CheckpointError naming the right command if `checkpoint` is not a `daftrl {kind}` run's."""
    found = checkpoint_kind(checkpoint)
    if found != kind:
        raise CheckpointError(f"{checkpoint.parent} holds a {found!r} run, not a {kind!r} one: continue it with "
                              f"`daftrl {found} --resume --run-dir {checkpoint.parent}`")


class RunDirError(ValueError):
    """A run directory that cannot be created or written (a file in its path, no write permission)."""


def check_writable(path: Path) -> None:
    """RunDirError (one line) unless a run directory can be created, or written, at `path`; reads only. Its
    nearest existing ancestor must be a writable directory (as root, write permission is not checked)."""
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    home = daftrl_home()
    hint = (f"$DAFTRL_HOME ({home}) must be a writable directory: set it to one, or pass --run-dir"
            if path.is_relative_to(home) else "pass another --run-dir")
    if not existing.is_dir():
        raise RunDirError(f"cannot create the run directory {path}: {existing} is a file, not a directory; {hint}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RunDirError(f"cannot write the run directory {path}: {existing} is not writable; {hint}")


class RunDirBusy(ValueError):
    """Another process is writing this run directory."""


_LOCKED: list[RunDir] = []
"""Run directories locked by the loops running in this process (innermost last); see `releases_run_locks`."""


def releases_run_locks(loop):
    """Decorator for a training loop: every run directory it locked (`Run`) is unlocked when it returns or
    raises, so the lock lasts exactly as long as the run (not until garbage collection)."""

    @functools.wraps(loop)
    def wrapper(*args, **kwargs):
        depth = len(_LOCKED)
        try:
            return loop(*args, **kwargs)
        finally:
            while len(_LOCKED) > depth:
                _LOCKED.pop().unlock()

    return wrapper


class RunDir:
    """A run's directory and its logs. Constructing one touches nothing: the directory is created by the first
    `lock` or `write_config` (reading, e.g. `finished` or `locked` from `daftrl grid status`, never creates it)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    checkpoint = property(lambda self: self.path / "checkpoint.safetensors")
    config_path = property(lambda self: self.path / "config.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    eval_csv = property(lambda self: self.path / "eval.csv")
    result_path = property(lambda self: self.path / "result.json")

    def has_checkpoint(self) -> bool:
        return self.checkpoint.is_file()

    def lock(self) -> None:
        """Claim the directory for this process (a POSIX lock on `.lock`): a second process that opens the same
        run, e.g. the same --resume command started twice, gets RunDirBusy instead of interleaving its logs
        with ours. Released by `unlock` (the loops do it when they end, `releases_run_locks`) or by the OS
        when the process dies. Re-entrant within one process (fcntl.lockf semantics). On a filesystem without
        locks (some NFS/FUSE mounts) the run goes on unlocked, with a warning."""
        try:
            import fcntl
        except ImportError:  # not POSIX: no locking
            return
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                os.close(fd)
                warnings.warn(f"{self.path}: cannot lock this directory ({e}); nothing stops a second process "
                              "from writing the same run", stacklevel=2)
                return
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunDirBusy(f"{self.path} is in use by process {holder}: wait for it to finish (or stop it "
                             "with Ctrl-C / kill -TERM, which checkpoints) before resuming it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._unlock = weakref.finalize(self, os.close, fd)
        _LOCKED.append(self)

    def locked(self) -> bool:
        """True if another live process holds this directory's lock (`lock`); reads only. (A lock held by this
        process is not seen: POSIX record locks are per process.)"""
        try:
            import fcntl
        except ImportError:  # not POSIX: nothing is ever locked
            return False
        try:
            fd = os.open(self.path / ".lock", os.O_RDONLY)
        except OSError:  # no lock file: never locked
            return False
        try:
            fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as e:
            return e.errno in (errno.EAGAIN, errno.EACCES)
        finally:
            os.close(fd)
        return False

    def unlock(self) -> None:
        """Release `lock` (a no-op if not locked)."""
        finalizer = getattr(self, "_unlock", None)
        if finalizer is not None:
            finalizer()  # closes the descriptor, which drops the lock

    def finished(self) -> bool:
        """True if result.json records a finished run (not an interrupted one)."""
        try:
            return json.loads(self.result_path.read_text()).get("status") == "finished"
        except (OSError, json.JSONDecodeError):
            return False

    def partial_files(self) -> list[str]:
        """Names of an earlier run's outputs here (logs, result, actors/, tb/, its W&B run), the checkpoint excepted.
        (W&B's local files in wandb/ are W&B's: a run that never started its W&B run may leave its debug logs there.)"""
        names = ("metrics.jsonl", "eval.csv", "result.json", "actors", "tb", trackers.WANDB_RUN_FILE)
        return [n for n in names if (self.path / n).exists()]

    def discard_partial(self) -> None:
        """Delete the outputs of a run that never reached its first checkpoint (`partial_files`), nothing else."""
        import shutil

        for name in self.partial_files():
            p = self.path / name
            shutil.rmtree(p) if p.is_dir() else p.unlink()

    def write_config(self, config: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.config_path, {"config": config, "provenance": provenance()})

    def read_config(self) -> dict:
        """The saved configuration; CheckpointError (saying what to check) if config.json is missing or damaged."""
        try:
            return json.loads(self.config_path.read_text())["config"]
        except FileNotFoundError:
            raise CheckpointError(f"{self.path} has no config.json: it is not a daftrl run directory, or it was "
                                  "damaged; check --run-dir") from None
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise CheckpointError(f"{self.config_path} is damaged ({type(e).__name__}: {e}); restore it (it is "
                                  "written atomically, so an edit or a copy broke it) or start a new run") from None

    def read_provenance(self) -> tuple[dict, list[dict]]:
        """(provenance of the first start, one entry per resume: provenance plus the step budget it ran to)."""
        doc = json.loads(self.config_path.read_text())
        return doc["provenance"], doc.get("resumes", [])

    def record_resume(self, config: dict) -> None:
        """Append this resume (provenance and `config['steps']`) to config.json and store `config` (a resume
        may extend the budget with --steps); the first start's provenance is kept as it was."""
        doc = json.loads(self.config_path.read_text())
        doc["config"] = config
        doc["resumes"] = [*doc.get("resumes", []), {**provenance(), "steps": config.get("steps")}]
        atomic_write_json(self.config_path, doc)
        self.result_path.unlink(missing_ok=True)  # the run goes on: an older result.json would be stale

    def log(self, row: dict) -> None:
        """Append one metrics row, on disk before the next checkpoint (fsynced: a power loss after a
        checkpoint cannot lose rows it covers; a crash mid-write leaves one torn last line, which `rows`
        skips and a resume drops)."""
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(row, default=float) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if row.get("kind") == "eval":
            new = not self.eval_csv.exists()
            with open(self.eval_csv, "a", newline="") as f:
                w = csv.DictWriter(f, EVAL_FIELDS, extrasaction="ignore")
                if new:
                    w.writeheader()
                w.writerow(row)
                f.flush()
                os.fsync(f.fileno())

    def rows(self, kind: str | None = None) -> list[dict]:
        if not self.metrics_path.exists():
            return []
        out = []
        lines = self.metrics_path.read_text().splitlines()
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                if i == len(lines) - 1:  # torn by a crash or a full disk while it was written
                    warnings.warn(f"{self.metrics_path}: skipping its last line, which was cut short ({e})",
                                  stacklevel=2)
                    continue
                raise CheckpointError(f"{self.metrics_path} line {i + 1} is not valid JSON ({e}): the file was "
                                      "edited or damaged; repair or delete that line, then resume") from None
            if kind is None or row.get("kind") == kind:
                out.append(row)
        return out

    def truncate_logs(self, step: int) -> None:
        """Drop rows logged after `step` (they will be produced again by the resumed run)."""
        rows = [r for r in self.rows() if r.get("step", 0) <= step]
        atomic_write_bytes(self.metrics_path, "".join(json.dumps(r) + "\n" for r in rows).encode())
        buf = io.StringIO()
        w = csv.DictWriter(buf, EVAL_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            if r.get("kind") == "eval":
                w.writerow(r)
        atomic_write_bytes(self.eval_csv, buf.getvalue().encode())

    def write_result(self, result: dict) -> None:
        atomic_write_json(self.result_path, {**result, "provenance": provenance()})


class StopFlag:
    """Set by SIGINT/SIGTERM; loops check it, write a checkpoint and exit cleanly."""

    def __init__(self):
        self.requested = False
        self.signal = None

    def __bool__(self) -> bool:
        return self.requested


@contextmanager
def graceful_stop():
    """Within the block, SIGINT/SIGTERM set a flag instead of killing the process (a second
    SIGINT still interrupts immediately)."""
    flag = StopFlag()
    old = {}

    def handler(signum, frame):
        if flag.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag.requested, flag.signal = True, signal.Signals(signum).name

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread: leave signals alone
            pass
    try:
        yield flag
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def progress_bar(description: str, total: int, completed: int = 0):
    """A rich progress bar with steps/s and ETA; plain periodic lines when not on a terminal."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        disable=not sys.stderr.isatty(),
        transient=False,
    )
    task = progress.add_task(description, total=total, completed=completed, rate="", status="")
    return progress, task


class TrainingDiverged(RuntimeError):
    """A logged loss or Q estimate became NaN or infinite; the run stops before checkpointing that state."""


RESUME_REPEATS_DIVERGENCE = ("A resume repeats the same computation: change the configuration (e.g. a lower "
                             "learning rate) and start a new run.")


def diverged_metrics(row: dict) -> list[str]:
    """Names of the losses (`*loss*`) and Q estimates (`q`, `q_*`) in a metrics row that are not finite.
    Other metrics may legitimately be infinite (e.g. a log-likelihood that underflows)."""
    import math

    return [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)
            and ("loss" in k or k == "q" or k.startswith("q_"))]


def check_finite_state(arrays: dict, prefix: str, where: str) -> None:
    """Raise TrainingDiverged if a floating array of the learner state (keys starting with `prefix`) holds a
    NaN or inf: called before every checkpoint write, so a diverged state never replaces a good checkpoint
    (also when it is written at a stop or at the end, between two logged rows)."""
    import numpy as np

    bad = [k for k, v in arrays.items() if k.startswith(prefix) and np.issubdtype(np.asarray(v).dtype, np.floating)
           and not np.isfinite(v).all()]
    if bad:
        raise TrainingDiverged(
            f"{where}: training diverged ({', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''} not finite); the "
            f"checkpoint was not written, so the last one stays. {RESUME_REPEATS_DIVERGENCE}")


class Monitor:
    """Progress bar, throughput, metrics rows, best evaluation and the experiment trackers (`--logger`,
    `daftrl.trackers`) of one `kind` loop; `step` is where it starts (0, or the checkpoint's step)."""

    def __init__(self, run: RunDir, description: str, total: int, step: int, wall_before: float,
                 best: dict | None, loggers: tuple[str, ...], quiet: bool, kind: str):
        import time

        self.run, self.description, self.total, self.quiet = run, description, total, quiet
        self.wall_before, self.best, self.last_eval = wall_before, best, None
        self.t0 = self._rate_t = time.perf_counter()
        self._rate_step = step
        self.progress, self.task = progress_bar(description, total, step)
        self.trackers = trackers.open_trackers(loggers, run.path, kind, step, self.tracker_config(kind), quiet)

    def tracker_config(self, kind: str) -> dict:
        """What config.json holds (run options, method options, provenance of the start and of every resume), as
        the config of a tracker's run."""
        first, resumes = self.run.read_provenance()
        return {"kind": kind, **self.run.read_config(), "provenance": first, "resumes": resumes}

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)
        for tracker in self.trackers:
            try:
                tracker.close(failed=exc[0] is not None)
            except Exception as e:  # noqa: BLE001 - the run's own files are complete: report it, end as planned
                self._tracker_failed(tracker, e, "while closing")
        self.trackers = []

    def wall_time(self) -> float:
        import time

        return self.wall_before + time.perf_counter() - self.t0

    def train(self, step: int, info: dict | None, **fields) -> None:
        """Log a training row (fetches the device metrics: call every N steps, not every step)."""
        import time

        import jax

        metrics = {k: float(v) for k, v in jax.device_get(info).items()} if info is not None else {}
        # the clock is read after the fetch, which waits for the dispatched updates: JAX runs them asynchronously,
        # so a rate read before it counts updates queued but not done (the first row after a start showed 10x)
        now = time.perf_counter()
        sps = (step - self._rate_step) / max(now - self._rate_t, 1e-9)
        self._rate_t, self._rate_step = now, step
        row = {"kind": "train", "step": step, **fields, "sps": sps, **metrics}
        self.run.log(row)
        self._track("train", row, step)
        bad = diverged_metrics(row)
        if bad:
            raise TrainingDiverged(
                f"{self.description}: training diverged by step {step:,} ({', '.join(bad)} not finite; the row is in "
                f"{self.run.metrics_path}). Nothing after the last checkpoint in {self.run.path} was saved. "
                f"{RESUME_REPEATS_DIVERGENCE}")
        status = [f"{k.replace('_', ' ')} {v:,.0f}" for k, v in fields.items() if isinstance(v, float)]
        if self.last_eval is not None:
            status.append(f"eval {self.last_eval:,.0f}")
        self.progress.update(self.task, completed=step, rate=f"{sps:,.0f} steps/s", status="  ".join(status))

    def evaluation(self, step: int, result, **fields) -> dict:
        """Log an evaluation row; `fields` add what the loop knows at that step (e.g. falls so far)."""
        row = {"kind": "eval", "step": step, "wall_time": self.wall_time(), **result.as_dict(),
               "eval_seconds": result.seconds, **fields}
        self.run.log(row)
        self._track("eval", row, step)
        self.last_eval = result.mean
        if self.best is None or result.mean > self.best["return_mean"]:
            self.best = {"step": step, "return_mean": result.mean, "return_std": result.std}
        self.progress.update(self.task, completed=step)
        if not self.quiet and self.progress.disable:
            print(f"[{self.run.path.name}] step {step:,}/{self.total:,}  eval {result.mean:,.1f} ± "
                  f"{result.std:,.1f}  ({self.wall_time() / 60:.1f} min)", flush=True)
        return row

    def _track(self, kind: str, row: dict, step: int) -> None:
        """Copy a row, already in metrics.jsonl, to the trackers. One that fails is reported and dropped; the run
        goes on (its checkpoints and logs do not depend on a tracker)."""
        values = trackers.scalars(row)
        for tracker in list(self.trackers):
            try:
                tracker.log(kind, values, step)
            except Exception as e:  # noqa: BLE001 - whatever a tracker raises must not stop the run
                self.trackers.remove(tracker)
                self._tracker_failed(tracker, e, f"at step {step:,}; it is off for the rest of this run")
                with suppress(Exception):  # release what it holds (a writer thread, W&B's service)
                    tracker.close(failed=True)

    def _tracker_failed(self, tracker, error: Exception, when: str) -> None:
        warnings.warn(f"--logger {tracker.name} failed {when} ({type(error).__name__}: {error}); every row is in "
                      f"{self.run.metrics_path}", RuntimeWarning, stacklevel=3)

    def stopped(self, signal_name: str, step: int) -> dict:
        """A Ctrl-C/SIGTERM stop after the checkpoint was written: result.json says so (status "interrupted")."""
        if not self.quiet:
            print(f"stopped by {signal_name} at step {step:,}; checkpoint saved in {self.run.path} "
                  f"(continue with --resume --run-dir {self.run.path})", flush=True)
        evals = self.run.rows("eval")
        result = {"status": "interrupted", "signal": signal_name, "step": step, "wall_time": self.wall_time(),
                  "last_eval": evals[-1] if evals else None, "best_eval": self.best, "run_dir": str(self.run.path)}
        self.run.write_result(result)
        return result

    def finish(self, step: int, **fields) -> dict:
        evals = self.run.rows("eval")
        result = {"status": "finished", **fields, "steps": step, "wall_time": self.wall_time(),
                  "final_eval": evals[-1] if evals else None, "best_eval": self.best,
                  "run_dir": str(self.run.path)}
        self.run.write_result(result)
        return result


class LoopCounter(NamedTuple):
    """How a loop counts: its iterations are checkpointed under meta[`key`], named `name` in messages, and
    `per_step` of them make one logged step (cotrain: source steps per target step)."""

    key: str = "step"
    name: str = "step"
    per_step: int = 1


def resolve_budget(cfg, saved=None):
    """`cfg.resolved(saved)` where a run config turns its own budget flags into `steps` (cotrain's --source-steps,
    counted with the saved run's --target-every on resume); the config itself otherwise."""
    resolve = getattr(cfg, "resolved", None)
    return resolve(saved) if resolve else cfg


class Run:
    """The skeleton of a training loop: run directory, resume, schedule, checkpoints, monitor and stop.

    A loop uses it in three phases; the first two write nothing, so bad input leaves no directory behind::

        run = Run(cfg, "adapt", 100_000, extra_config)  # new, or resume: lock, saved config
        cfg = run.cfg                       # build envs and learner from it: this validates the task, expert...
        if run.resumed:
            arrays, meta = run.checkpoint_data()            # restore the loop's state from them
        with run.start("daft hopper-big-head", total, save, evaluate, learner="state/"):  # create or reopen
            step = run.step                                 # 0, or where the checkpoint stands
            while step < total and not run.stop:
                ... act, env step, store, update ...
                step += 1
                run.tick(step, info, train_fields)          # log, evaluate, checkpoint when due
        return run.result(task=..., method=...)             # result.json: finished or interrupted

    `save()` returns the arrays and meta of everything the loop needs to continue; the skeleton adds the
    counter, wall time and best evaluation, refuses a learner (arrays under `learner`) that is not finite, and
    writes the checkpoint every `checkpoint_every` steps and at the end or at a Ctrl-C/SIGTERM stop (unless
    the checkpoint already holds that point). `evaluate(step)` returns (EvalResult, extra row fields)."""

    def __init__(self, cfg, kind: str, default_steps: int, extra_config: dict | None = None):
        """Resolve the run, writing nothing: check that the trackers of `cfg.logger` are installed; with --resume,
        lock the directory, check that its checkpoint is a `kind` run (`daftrl {kind}`) and take its saved config
        (the budget `steps` and the trackers `logger` may change); otherwise only check that the directory can be
        created. `cfg.run_dir` defaults to `cfg.default_run_dir()`; the keys of
        `extra_config` are stored in config.json beside the run options (e.g. "method_config")."""
        trackers.require(cfg.logger, bool(cfg.resume))  # not installed: name the extra, before writing anything
        self.kind = kind
        self.path = Path(cfg.run_dir or cfg.default_run_dir()).expanduser()
        self.resumed = bool(cfg.resume)
        self.dir: RunDir | None = None
        self.it, self.saved_at, self._meta = 0, None, None
        if not self.resumed:
            check_writable(self.path)
            cfg = resolve_budget(cfg)
            self.cfg = dataclasses.replace(cfg, steps=cfg.steps if cfg.steps is not None else default_steps,
                                           run_dir=str(self.path))
            self.config = {**config_to_dict(self.cfg), **(extra_config or {})}
            return
        if not (self.path / "checkpoint.safetensors").is_file():
            raise CheckpointError(f"--resume given but {self.path / 'checkpoint.safetensors'} does not exist; start "
                                  "without --resume (or check --run-dir)")
        check_writable(self.path)
        self.dir = RunDir(self.path)
        self.dir.lock()
        check_run_kind(self.dir.checkpoint, kind)
        saved_dict = self.dir.read_config()
        try:
            saved = config_from_dict(type(cfg), saved_dict, extra=extra_config or ())
        except (KeyError, TypeError) as e:
            raise CheckpointError(f"{self.dir.config_path} does not match the {kind} options of this daftrl version "
                                  f"({type(e).__name__}: {e}); resume with the version that started the run (its "
                                  "commit is under provenance in that file)") from None
        cfg = resolve_budget(cfg, saved)
        steps = cfg.steps if cfg.steps is not None else saved.steps
        self.cfg = dataclasses.replace(saved, steps=steps, resume=True, run_dir=str(self.path),
                                       logger=cfg.logger)
        # config.json keeps the budget and trackers of the latest start (a `--resume` alone logs to them again),
        # under their current names
        self.config = {**{k: v for k, v in saved_dict.items() if k not in RENAMED_OPTIONS}, "steps": steps,
                       "logger": list(cfg.logger)}

    def checkpoint_data(self) -> tuple[dict, dict]:
        """(arrays, meta) of the checkpoint a resumed run continues from, verified."""
        arrays, self._meta = load_arrays(self.dir.checkpoint, kind=self.kind)
        return arrays, self._meta

    def create(self) -> RunDir:
        """The directory of a new run: created and locked; refused if it holds an earlier run's checkpoint or logs
        (nothing is deleted); config.json written."""
        try:
            run = RunDir(self.path)
            run.lock()
        except OSError as e:
            raise RunDirError(f"cannot create the run directory {self.path}: {e.strerror or e}") from None
        if run.has_checkpoint():
            raise FileExistsError(f"{run.path} already holds a run; pass --resume to continue it or --run-dir for "
                                  "a new one")
        earlier = run.partial_files()
        if earlier:
            raise FileExistsError(f"{run.path} holds an earlier run's {', '.join(earlier)} but no checkpoint to "
                                  "continue from; delete them (or the directory) to start over there, or pass "
                                  "another --run-dir")
        run.write_config(self.config)
        self.dir = run
        return run

    # ------------------------------------------------------------------ the loop
    def start(self, description: str, total: int, save: Callable[[], tuple[dict, dict]],
              evaluate: Callable[[int], tuple[Any, dict]], learner: str, counter: LoopCounter | None = None,
              eval_at_start: bool = False, quiet: bool = False) -> Run:
        """Create the directory (a new run) or drop the log rows past the checkpoint and record the resume; then,
        as a context manager, the monitor and the graceful stop. `total` is in steps; `eval_at_start`: evaluate
        at step 0 (the zero-shot return) when the run starts there."""
        self.description, self.total, self.save, self.evaluate = description, total, save, evaluate
        self.learner, self.counter, self.eval_at_start = learner, counter or LoopCounter(), eval_at_start
        wall_before, best = 0.0, None
        if self.resumed:
            if self._meta is None:
                raise RuntimeError("Run.start: a resumed loop restores from checkpoint_data() first")
            self.it = self.saved_at = self._meta[self.counter.key]
            wall_before, best = self._meta["wall_time"], self._meta["best"]
            self.dir.truncate_logs(self.step)
            self.dir.record_resume(self.config)
        else:
            self.create()
        self.monitor = Monitor(self.dir, description, total, self.step, wall_before, best, self.cfg.logger,
                               quiet, self.kind)
        return self

    def __enter__(self) -> Run:
        with ExitStack() as stack:
            self.stop = stack.enter_context(graceful_stop())
            stack.enter_context(self.monitor)
            if self.eval_at_start and self.it == 0:
                self._evaluate(0)
            self._stack = stack.pop_all()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None and self.saved_at != self.it:
                self.checkpoint()
        except BaseException as e:
            self._stack.__exit__(type(e), e, e.__traceback__)
            raise
        return self._stack.__exit__(exc_type, exc, tb)

    @property
    def step(self) -> int:
        return self.it // self.counter.per_step

    def tick(self, it: int, info: dict | None, train_fields: Callable[[], dict]) -> None:
        """Call after every loop iteration (`it` of them done): at each step, logs a training row (the losses
        `info` and `train_fields()`) every `log_every` steps, evaluates every `eval_every` steps and at the last
        one, checkpoints every `checkpoint_every` steps."""
        self.it = it
        if it % self.counter.per_step:
            return
        step, cfg = it // self.counter.per_step, self.cfg
        if step % cfg.log_every == 0:
            self.monitor.train(step, info, **train_fields())
        if step % cfg.eval_every == 0 or step == self.total:
            self._evaluate(step)
        if step % cfg.checkpoint_every == 0:
            self.checkpoint()

    def _evaluate(self, step: int) -> None:
        result, fields = self.evaluate(step)
        self.monitor.evaluation(step, result, **fields)

    def checkpoint(self) -> None:
        """Write the loop's state now (never a learner that is not finite: TrainingDiverged instead)."""
        arrays, meta = self.save()
        check_finite_state(arrays, self.learner, f"{self.description} at {self.counter.name} {self.it:,}")
        meta = {self.counter.key: self.it, **meta, "wall_time": self.monitor.wall_time(), "best": self.monitor.best}
        save_arrays(self.dir.checkpoint, arrays, kind=self.kind, meta=meta)
        self.saved_at = self.it

    # ------------------------------------------------------------------ the end
    def first_return(self) -> float | None:
        """The mean return of the first evaluation (step 0: the zero-shot or initial return)."""
        evals = self.dir.rows("eval")
        return evals[0]["return_mean"] if evals else None

    def result(self, **fields) -> dict:
        """result.json (also returned): "interrupted" after a Ctrl-C/SIGTERM stop, else "finished" with `fields`."""
        if self.stop:
            return self.monitor.stopped(self.stop.signal, self.step)
        return self.monitor.finish(self.step, **fields)
