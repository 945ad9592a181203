"""`daftrl bench grid`: runs per hour of a grid with `--executor local` against `--executor serial`, measured side
by side on this machine, and the share of a run's wall time spent in evaluation (from the records of the results
store, at each campaign's evaluation spacing).

The same small grid (identical jobs, each in a fresh $DAFTRL_HOME) runs as a `daftrl grid run` subprocess in three
ways, in alternating rounds: serial (one process, unpinned: JAX overlaps its update with the Python env stepping on
another core), serial pinned to one core, and local (one pinned process per core). The medians give runs per hour
and the cores each way keeps busy (CPU time / wall time); local / serial is what a user gains, local / serial on
one core is how well the pool scales with cores. Runs are short, so process start-up and compilation weigh more
than in a 1e5-step run.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path


@dataclasses.dataclass
class GridBenchArgs:
    """Measure the grid's throughput (runs per hour) with the local executor against the serial one."""

    task: str = "halfcheetah-broken-back-thigh"
    method: str = "ft"
    runs: int = 4
    """Jobs in the timed grid (seeds 0..runs-1)."""
    steps: int = 5000
    """Target steps per job."""
    workers: int | None = None
    """Local executor processes (default: one per usable core)."""
    rounds: int = 2
    """Alternating serial/local rounds (the median is reported)."""
    results: str = "results"
    """Results store to read the evaluation cost from."""
    out: str = "benchmarks/results/bench_grid.json"


MODES = {"serial": ["--executor", "serial"], "serial-1core": ["--executor", "serial", "--cpus", "0"],
         "local": ["--executor", "local"]}
"""How each timed grid runs: `daftrl grid run SPEC` with these flags."""


def _timed_grid(args: GridBenchArgs, mode: str) -> tuple[float, float]:
    """(wall time, CPU time) of the whole grid run as a `daftrl grid run` subprocess in `mode`, in a fresh
    $DAFTRL_HOME and store."""
    import resource
    import subprocess
    import sys

    spec = (f'campaign = "bench"\n[defaults]\nsteps = {args.steps}\neval_every = {args.steps}\neval_episodes = 5\n'
            f'[[block]]\ntasks = ["{args.task}"]\nmethods = ["{args.method}"]\nseeds = {list(range(args.runs))}\n')
    workers = [] if args.workers is None or mode != "local" else ["--workers", str(args.workers)]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "grid.toml").write_text(spec)
        cmd = [sys.executable, "-m", "daftrl.cli", "grid", "run", str(Path(tmp) / "grid.toml"), *MODES[mode],
               *workers, "--results", str(Path(tmp) / "results")]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run(cmd, env={**os.environ, "DAFTRL_HOME": str(Path(tmp) / "home")}, capture_output=True,
                              text=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        stored = len(list((Path(tmp) / "results").rglob("s*.json")))
    if done.returncode != 0 or stored != args.runs:
        raise RuntimeError(f"bench grid: {mode} stored {stored} of {args.runs} runs (exit {done.returncode}): "
                           f"{done.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def evaluation_share(root: str | Path) -> list[dict]:
    """Per campaign and evaluation spacing: the median share of wall time spent evaluating, over the stored
    finished runs that measured it (`eval_time_s`)."""
    from daftrl.experiments import store

    if not Path(root).exists():
        return []
    groups: dict[tuple, list[dict]] = {}
    for r in store.load_records(root):
        if r["status"] == "finished" and r.get("eval_time_s") is not None and r.get("wall_time_s"):
            key = (r["campaign"], r["kind"], r["config"].get("eval_every"), r["config"].get("eval_episodes"),
                   r["budget_steps"])
            groups.setdefault(key, []).append(r)
    out = []
    for (campaign, kind, every, episodes, budget), recs in sorted(groups.items(), key=str):
        shares = [r["eval_time_s"] / r["wall_time_s"] for r in recs]
        out.append({"campaign": campaign, "kind": kind, "eval_every": every, "eval_episodes": episodes,
                    "budget_steps": budget, "runs": len(recs), "median_share": statistics.median(shares),
                    "min_share": min(shares), "max_share": max(shares),
                    "median_eval_s_per_evaluation": statistics.median(
                        r["eval_time_s"] / len(r["curve"]) for r in recs)})
    return out


def run_grid_bench(args: GridBenchArgs) -> dict:
    from daftrl.checkpoint import atomic_write_json
    from daftrl.provenance import committed_provenance

    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    cores: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            wall, cpu = _timed_grid(args, mode)
            times[mode].append(wall)
            cores[mode].append(cpu / wall)
    per_hour = {k: args.runs * 3600 / statistics.median(v) for k, v in times.items()}
    result = {
        "what": f"{args.runs} x {args.method} on {args.task}, {args.steps:,} target steps each",
        "workers": args.workers or len(os.sched_getaffinity(0)),
        "wall_s": times,
        "runs_per_hour": per_hour,
        "cores_busy": {k: statistics.median(v) for k, v in cores.items()},
        "local_vs_serial": per_hour["local"] / per_hour["serial"],
        "local_vs_serial_1core": per_hour["local"] / per_hour["serial-1core"],
        "evaluation_share": evaluation_share(args.results),
        "provenance": committed_provenance(),
    }
    atomic_write_json(args.out, result)
    return result


def summary(res: dict) -> str:
    """What `daftrl bench grid` prints about a `run_grid_bench` result."""
    lines = [f"runs per hour: {({k: round(v, 1) for k, v in res['runs_per_hour'].items()})}; cores busy: "
             f"{({k: round(v, 2) for k, v in res['cores_busy'].items()})}",
             f"local/serial {res['local_vs_serial']:.2f}x; local/serial on one core "
             f"{res['local_vs_serial_1core']:.2f}x"]
    lines += [f"evaluation share, {row['campaign']} (every {row['eval_every']}, {row['eval_episodes']} episodes): "
              f"{100 * row['median_share']:.1f} % (median of {row['runs']} runs)" for row in res["evaluation_share"]]
    return "\n".join(lines)
