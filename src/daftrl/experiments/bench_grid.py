"""`daftrl bench grid`: runs per hour of a grid with `--executor local` against `--executor serial`, measured side
by side in one process on this machine, and the share of a run's wall time spent in evaluation (from the records
of the results store, at each campaign's evaluation spacing).

The same small grid (identical jobs, each in a fresh $DAFTRL_HOME) is run serially and on the process pool in
alternating rounds; the ratio of the medians is reported. Runs are short, so process start-up and compilation
weigh more than in a 1e5-step run: the measured ratio is a lower bound for long runs on idle cores.
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


def _timed_grid(args: GridBenchArgs, executor: str) -> float:
    """Wall time of the whole grid with `executor`, in a fresh $DAFTRL_HOME and store."""
    from daftrl.experiments import grid
    from daftrl.experiments.executors import run_grid

    spec = {"campaign": "bench", "defaults": {"steps": args.steps, "eval_every": args.steps, "eval_episodes": 5},
            "block": [{"tasks": [args.task], "methods": [args.method], "seeds": list(range(args.runs))}]}
    old = os.environ.get("DAFTRL_HOME")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DAFTRL_HOME"] = str(Path(tmp) / "home")
        try:
            jobs = grid.expand(spec)
            t0 = time.perf_counter()
            res = run_grid(jobs, Path(tmp) / "results", executor, args.workers, quiet=True)
            wall = time.perf_counter() - t0
        finally:
            if old is None:
                os.environ.pop("DAFTRL_HOME", None)
            else:
                os.environ["DAFTRL_HOME"] = old
    if res["done"] != args.runs:
        raise RuntimeError(f"bench grid: {executor} stored {res['done']} of {args.runs} runs: {res['errors']}")
    return wall


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
    from daftrl.runs import provenance

    times: dict[str, list[float]] = {"serial": [], "local": []}
    for _ in range(args.rounds):
        for executor in ("serial", "local"):
            times[executor].append(_timed_grid(args, executor))
    per_hour = {k: args.runs * 3600 / statistics.median(v) for k, v in times.items()}
    result = {
        "what": f"{args.runs} x {args.method} on {args.task}, {args.steps:,} target steps each",
        "workers": args.workers or len(os.sched_getaffinity(0)),
        "wall_s": times,
        "runs_per_hour": per_hour,
        "local_vs_serial": per_hour["local"] / per_hour["serial"],
        "evaluation_share": evaluation_share(args.results),
        "provenance": provenance(),
    }
    atomic_write_json(args.out, result)
    return result


def summary(res: dict) -> str:
    """What `daftrl bench grid` prints about a `run_grid_bench` result."""
    lines = [f"runs per hour: {({k: round(v, 1) for k, v in res['runs_per_hour'].items()})} "
             f"local/serial {res['local_vs_serial']:.2f}x"]
    lines += [f"evaluation share, {row['campaign']} (every {row['eval_every']}, {row['eval_episodes']} episodes): "
              f"{100 * row['median_share']:.1f} % (median of {row['runs']} runs)" for row in res["evaluation_share"]]
    return "\n".join(lines)
