"""Where a grid's jobs run: `serial` (this process), `local` (a process pool, one single-threaded process per
core, each pinned to its own core) or `ray` (one Ray task per job with num_cpus=1, on the cluster at RAY_ADDRESS
or a local instance). Every executor yields each job's outcome (`grid.run_job`) as it arrives; the driver
(`run_grid`) writes the records, so workers need no shared filesystem. Scheduling and worker management are
the process pool's and Ray's own: nothing here retries or reorders. A job is handed to the pool when a worker is
free (to Ray: all at once, or one per CPU with a deadline), so its latest start time (`grid.latest_start`) is
computed from the store as it is when the job starts.

Ctrl-C / SIGTERM: running jobs checkpoint and stop (they resume when the grid is run again), no new job starts.
An error in the driver does the same before it is raised: no queued job goes on to run unstored.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from daftrl.experiments import grid
from daftrl.experiments.grid import Job, check_paths, job_state, run_job, stored_records
from daftrl.provenance import usable_cores

EXECUTORS = ("serial", "local", "ray")


@contextmanager
def _stop_requests(on_stop=None):
    """Within the block SIGINT/SIGTERM set a flag (and call `on_stop`) instead of killing the driver."""
    state = {"signal": None}

    def handler(signum, frame):
        state["signal"] = signal.Signals(signum).name
        if on_stop is not None:
            on_stop()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield state
    finally:
        for s, h in old.items():
            signal.signal(s, h)


StartBy = Callable[[Job], "float | None"] | None
"""A job -> its latest start time (`grid.latest_start`), asked for just before it starts; None: no deadline."""


def serial(jobs: list[Job], workers: int = 1, cpus: str | None = None, root: Path | None = None,
           start_by: StartBy = None) -> Iterator[dict]:
    """One job after the other in this process; a stop (the job's own checkpoint-and-stop) ends the grid."""
    for job in jobs:
        outcome = run_job(job, cpus, root, start_by(job) if start_by else None)
        yield outcome
        if outcome["status"] == "interrupted":
            return


def _pin_worker(cores, stop_event) -> None:
    """Process-pool initializer: claim one core (before JAX starts) and ignore signals while idle (a job's
    own graceful stop handles them while it runs)."""
    from daftrl.provenance import apply_cpu_settings

    global _STOP_EVENT
    _STOP_EVENT = stop_event
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        core = cores.get_nowait()
    except Exception:  # noqa: BLE001 - more workers than listed cores: run unpinned
        return
    apply_cpu_settings(str(core))


_STOP_EVENT = None


def _pool_job(job: Job, root: Path | None, start_by: float | None) -> dict:
    if _STOP_EVENT is not None and _STOP_EVENT.is_set():
        return {"status": "interrupted", "job": job.name()}
    return run_job(job, root=root, start_by=start_by)


def local(jobs: list[Job], workers: int | None = None, cpus: str | None = None,
          root: Path | None = None, start_by: StartBy = None) -> Iterator[dict]:
    """A pool of `workers` processes (default: one per usable core), worker i pinned to the i-th usable core.
    A job is submitted when a worker is free, so it starts at once, with its latest start time as of then, and
    none waits in the pool's queue. If the driver stops reading (an error while it stores a record), the running
    jobs checkpoint and stop and the pool shuts down at once, instead of running what it had queued unstored."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    usable = usable_cores(cpus)
    workers = workers or len(usable)
    ctx = mp.get_context("spawn")  # a fresh interpreter per worker: pinned before JAX exists
    cores = ctx.Queue()
    for core in usable[:workers]:
        cores.put(core)
    stop_event = ctx.Event()

    def forward_stop():
        stop_event.set()
        for child in mp.active_children():
            try:
                os.kill(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    queue, pending = iter(jobs), set()
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_pin_worker, initargs=(cores, stop_event)) as pool:
        with _stop_requests(forward_stop) as stop:
            try:
                while True:
                    while not stop["signal"] and len(pending) < workers and (job := next(queue, None)) is not None:
                        pending.add(pool.submit(_pool_job, job, root, start_by(job) if start_by else None))
                    if not pending:
                        return
                    done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                    for future in done:
                        if not future.cancelled():  # cancelled after a stop: it never started
                            yield future.result()
                    if stop["signal"]:
                        for future in pending:
                            future.cancel()
                        forward_stop()  # again: a job may have started after the first signal
            finally:
                if pending:  # the driver stopped reading before the end: an error, raised once the pool is down
                    forward_stop()
                    pool.shutdown(wait=True, cancel_futures=True)


def ray(jobs: list[Job], workers: int | None = None, cpus: str | None = None,
        root: Path | None = None, start_by: StartBy = None) -> Iterator[dict]:
    """One Ray task per job (num_cpus=1) on the cluster at RAY_ADDRESS, or on a local Ray instance with
    `workers` CPUs. The driver needs only the returned records (`root` is not read: workers may not see it).
    Without a deadline every task is submitted at once (Ray schedules them); with one, one per CPU (`workers`,
    else the cluster's), each when a CPU is free, with its latest start time as of then."""
    try:
        import ray as ray_lib
    except ImportError:
        raise ImportError("--executor ray needs Ray: pip install 'daftrl[ray]'") from None

    started = not ray_lib.is_initialized()
    if started:
        address = os.environ.get("RAY_ADDRESS")
        if not address:  # Ray nices its workers to 15: on a busy machine they would starve (a 30 s grid took 11 min)
            os.environ.setdefault("RAY_worker_niceness", "0")  # as the local executor's processes; yours wins
        ray_lib.init(address=address, num_cpus=None if address else (workers or len(os.sched_getaffinity(0))),
                     include_dashboard=False, log_to_driver=False, configure_logging=False)
    remote = ray_lib.remote(num_cpus=1, max_retries=0)(run_job)
    window = len(jobs) if start_by is None else workers or max(1, int(ray_lib.cluster_resources().get("CPU", 1)))
    queue, pending, cancelled = iter(jobs), {}, False
    try:
        with _stop_requests() as stop:
            while True:
                while not stop["signal"] and len(pending) < window and (job := next(queue, None)) is not None:
                    pending[remote.remote(job, start_by=start_by(job) if start_by else None)] = job
                if not pending:
                    break
                ready, _ = ray_lib.wait(list(pending), num_returns=1, timeout=1.0)
                for ref in ready:
                    job = pending.pop(ref)
                    try:
                        yield ray_lib.get(ref)
                    except Exception as e:  # noqa: BLE001 - a cancelled or lost task
                        yield {"status": "interrupted" if cancelled else "failed", "job": job.name(),
                               "error": f"{type(e).__name__}: {e}"}
                if stop["signal"] and not cancelled:
                    for ref in pending:  # SIGINT in the task: it checkpoints and stops
                        ray_lib.cancel(ref, force=False)
                    cancelled = True
    finally:
        if pending and not cancelled:  # the driver stopped reading before the end (an error): stop the tasks
            for ref in pending:
                ray_lib.cancel(ref, force=False)
        if started:
            ray_lib.shutdown()


def run_grid(jobs: list[Job], root: str | Path, executor: str = "serial", workers: int | None = None,
             cpus: str | None = None, quiet: bool = False, deadline: float | None = None) -> dict:
    """Run the jobs not yet in the store at `root` and store each record as it arrives. Returns counts per
    outcome: done (stored now), skipped (already stored), identical, interrupted, busy, deferred (not started:
    it would end after `deadline`, a Unix time, at its estimated run time; see `grid.latest_start`), failed
    (with errors: a job's, or its record's that could not be stored), and `stale`: the stored records that
    `grid.drift` from what their job would run now (warned about, kept and not rerun)."""
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose {', '.join(EXECUTORS)}")
    usable_cores(cpus)  # a bad --cpus: one line now, not a broken pool or a failed job each later
    stored = stored_records(root)
    check_paths(jobs, root, stored)
    todo = [j for j in jobs if job_state(j, stored) != "done"]
    summary = {"skipped": len(jobs) - len(todo), "done": 0, "identical": 0, "interrupted": 0, "busy": 0,
               "deferred": 0, "failed": 0, "errors": [], "stale": grid.stale_records(jobs, stored)}
    if summary["stale"] and not quiet:
        warn_stale(summary["stale"])
    start_by = None if deadline is None else _live_start_by(root, deadline, list(stored.values()))
    t0 = time.perf_counter()
    runner = {"serial": serial, "local": local, "ray": ray}[executor]
    bar = _Progress(len(todo), quiet)
    with bar, closing(runner(todo, workers, cpus, Path(root), start_by)) as outcomes:
        for outcome in outcomes:  # an error here closes the runner: it stops its jobs before this raises
            _take(outcome, root, summary, bar)
    summary["wall_time_s"] = time.perf_counter() - t0
    return summary


def _take(outcome: dict, root: str | Path, summary: dict, bar: _Progress) -> None:
    """Count one job's outcome and store its record; a record the store refuses (another record of the same run
    with a different result, e.g. another machine's) counts as failed with the store's message, and the grid goes
    on."""
    from daftrl.experiments import store

    status = outcome["status"]
    if status == "done":
        record = outcome["record"]
        where = f"{record['campaign']}/{record['task']}/{record['label']}/s{record['seed']}"
        try:
            written = store.write_record(root, record)
        except store.RecordError as e:
            summary["failed"] += 1
            summary["errors"].append(f"{where}: not stored: {e}")
            bar.advance(f"{where}: not stored")
            return
        summary["done" if written == "written" else "identical"] += 1
        bar.advance(f"{record['label']} {record['task']} s{record['seed']}: {record['final_return']:,.1f}")
        return
    summary[status] += 1
    if status in ("failed", "busy"):
        summary["errors"].append(f"{outcome['job']}: {outcome['error']}")
    bar.advance(f"{outcome.get('job')}: {status}")


def _live_start_by(root: str | Path, deadline: float, records: list[dict]) -> Callable[[Job], float | None]:
    """A job -> `latest_start` from the store at `root` as it is when asked (the records stored since the grid
    began count); the last readable state of the store if it cannot be read then."""
    from daftrl.experiments.store import RecordError

    last = {"records": records}

    def start_by(job: Job) -> float | None:
        try:
            last["records"] = list(stored_records(root).values())
        except (RecordError, OSError):
            pass
        return grid.latest_start(job, deadline, last["records"])

    return start_by


def warn_stale(stale: list[str]) -> None:
    """Say which stored records differ from what their job would run now, and what to do about it."""
    print(f"warning: {len(stale)} stored record(s) differ from what the grid would run now (a default changed "
          "since they were made?); they are kept and not rerun (records are committed results). Delete a record "
          "(and its run directory) to run it again:", file=sys.stderr)
    for line in stale:
        print(f"  {line}", file=sys.stderr)


class _Progress:
    """A rich bar over the grid's jobs (done/total, elapsed, ETA); plain lines when not on a terminal."""

    def __init__(self, total: int, quiet: bool):
        from daftrl.monitor import progress_bar

        self.quiet, self.total, self.count = quiet, total, 0
        self.progress, self.task = progress_bar("grid", total)

    def __enter__(self):
        if not self.quiet:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        if not self.quiet:
            self.progress.__exit__(*exc)

    def advance(self, message: str) -> None:
        self.count += 1
        if self.quiet:
            return
        self.progress.update(self.task, advance=1, status=message)
        if self.progress.disable:
            print(f"[grid {self.count}/{self.total}] {message}", flush=True)
