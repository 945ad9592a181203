"""Run directories: their files, their lock and their logs (`RunDir`), shared by every loop (pretrain, adapt,
cotrain, offline). A run directory holds

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

Writing it is the skeleton's (`daftrl.runs.Run`); `daftrl grid status`, `daftrl eval` and the results store read it.
"""

from __future__ import annotations

import csv
import errno
import functools
import io
import json
import os
import warnings
import weakref
from pathlib import Path

from daftrl import trackers
from daftrl.checkpoint import CheckpointError, atomic_write_bytes, atomic_write_json, checkpoint_kind, daftrl_home
from daftrl.provenance import provenance

EVAL_FIELDS = ("step", "return_mean", "return_std", "normalized_score", "wall_time")


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
