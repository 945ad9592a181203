"""Adaptation benchmark (issue: DAFT, FT, SGFT): each method on one task with the bundled expert, several
seeds, 1e5 target steps, evaluation every 1e3 steps — the curves of the paper's Figure 2.

    python benchmarks/adapt_compare.py run --task halfcheetah-broken-back-thigh --seeds 0 1 [--cpus 0]
    python benchmarks/adapt_compare.py summary --task halfcheetah-broken-back-thigh

`run` works through the grid serially and is resumable: finished runs are skipped, interrupted ones
continue from their checkpoint (run dirs: $DAFTRL_HOME/runs/adapt/<task>/<method>-s<seed>).
`summary` writes benchmarks/results/adapt_<task>.json and .png: per method the final return (mean of
the last 5 evaluations of each seed, as the paper's curves are smoothed), its mean over seeds with a
95 % t-interval, each run's wall time (including evaluation) and code commit, and the curves (mean
over seeds, band = min..max).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path

METHODS = ("zero-shot", "ft", "sgft", "daft")
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}  # t_{0.975, n-1}


def run_grid(task: str, methods: tuple[str, ...], seeds: list[int], steps: int) -> None:
    from daftrl.loops import AdaptRunConfig, adapt
    from daftrl.runs import RunDir

    for seed in seeds:
        for method in methods:
            cfg = AdaptRunConfig(task=task, method=method, seed=seed, steps=steps)
            run = RunDir(cfg.default_run_dir())
            if run.finished() and run.rows("eval") and run.rows("eval")[-1]["step"] >= (
                    steps if method != "zero-shot" else 0):
                print(f"{method} seed {seed}: done", flush=True)
                continue
            if not run.has_checkpoint() and run.partial_files():  # killed before its first checkpoint
                run.discard_partial()
            cfg = dataclasses.replace(cfg, resume=run.has_checkpoint())
            print(f"{method} seed {seed}: {'resuming' if cfg.resume else 'starting'}", flush=True)
            res = adapt(cfg)
            if res["status"] != "finished":
                raise SystemExit(f"interrupted during {method} seed {seed}; run again to resume")


def summary(task: str, methods: tuple[str, ...], out_dir: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from daftrl.checkpoint import atomic_write_json, daftrl_home
    from daftrl.experiments.runtime import final_return
    from daftrl.runs import RunDir, provenance

    base = daftrl_home() / "runs" / "adapt" / task
    result = {"task": task, "methods": {}, "provenance": provenance()}
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for method in methods:
        runs = sorted(base.glob(f"{method}-s*"))
        curves, walls, commits = {}, {}, set()
        for d in runs:
            rows = RunDir(d).rows("eval")
            res = RunDir(d).result_path
            if rows and RunDir(d).finished():  # interrupted runs are not seeds
                seed = int(d.name.rsplit("-s", 1)[1])
                curves[seed] = rows
                walls[seed] = json.loads(res.read_text()).get("wall_time")
                commits.add(json.loads((d / "config.json").read_text()).get("provenance", {}).get("git_commit"))
        if not curves:
            continue
        finals = [final_return(r, 1 if method == "zero-shot" else 5) for r in curves.values()]
        n = len(finals)
        mean = float(np.mean(finals))
        half = float(T95.get(n - 1, 1.96) * np.std(finals, ddof=1) / math.sqrt(n)) if n > 1 else None
        result["methods"][method] = {"seeds": sorted(curves), "final_per_seed": finals, "final_mean": mean,
                                     "ci95_half_width": half,
                                     "zero_shot": [r[0]["return_mean"] for r in curves.values()],
                                     "wall_time_min": [walls[k] / 60 if walls[k] else None for k in sorted(curves)],
                                     "git_commits": sorted(c for c in commits if c)}
        if method == "zero-shot":
            ax.axhline(mean, color="k", ls="--", lw=1, label=f"zero-shot ({mean:,.0f})")
            continue
        steps = sorted(set.intersection(*({r["step"] for r in rows} for rows in curves.values())))
        vals = np.array([[{r["step"]: r["return_mean"] for r in rows}[t] for t in steps] for rows in curves.values()])
        ax.plot(steps, vals.mean(0), label=f"{method} ({mean:,.0f})")
        ax.fill_between(steps, vals.min(0), vals.max(0), alpha=0.2)
    ax.set_title(task)
    ax.set_xlabel("target steps")
    ax.set_ylabel("return (deterministic, 10 episodes)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_dir / f"adapt_{task}.png")
    atomic_write_json(out_dir / f"adapt_{task}.json", result)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("run", "summary"))
    p.add_argument("--task", required=True)
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--cpus", default=None, help="pin to these cores, e.g. 0")
    p.add_argument("--out", default="benchmarks/results")
    args = p.parse_args()
    from daftrl.cli import apply_cpu_settings

    apply_cpu_settings(args.cpus)
    if args.action == "run":
        run_grid(args.task, tuple(args.methods), args.seeds, args.steps)
    res = summary(args.task, tuple(args.methods), Path(args.out))
    for m, r in res["methods"].items():
        ci = f" ± {r['ci95_half_width']:,.0f}" if r["ci95_half_width"] is not None else ""
        print(f"{m:>10}: {r['final_mean']:,.0f}{ci}  (seeds {r['seeds']}: {[round(x) for x in r['final_per_seed']]})")


if __name__ == "__main__":
    main()
