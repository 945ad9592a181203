"""What a running loop shows and checks: the progress bar, graceful stopping on Ctrl-C/SIGTERM (`graceful_stop`),
the divergence checks (a loss or Q estimate, or the learner state, that is not finite: `TrainingDiverged`) and the
`Monitor`, which logs a loop's metrics rows to its run directory and its experiment trackers."""

from __future__ import annotations

import signal
import sys
import warnings
from contextlib import contextmanager, suppress

from daftrl import trackers
from daftrl.rundir import RunDir


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
