"""Runtime comparison for 1e5 target steps (the paper's Figure 3): adaptation methods (DAFT, FT, SGFT, which start
from the expert and only touch the target) next to simulator co-training (PAR, VGDF, DARC, ..., which train from
scratch on 1e6 source + 1e5 target steps).

Everything is read from run directories (`eval.csv` rows carry the run's cumulative wall time, which survives
resumes), so the numbers are measured, never typed in. A run that has not reached its target-step budget yet is
*projected* linearly from its average rate so far, and flagged as such: for VGDF, whose model refit grows with the
target data, a linear projection is a lower bound. Each method also gets its *recent* rate (over its last 20
evaluation intervals): a run resumed across sessions may have met different loads, and the recent rates of runs
made side by side compare under the same one. A partial run also gets a *trend* projection: the wall time so far
plus the remaining steps at a per-step cost fitted linearly in the step over those same recent intervals (a cost
that grows with the data, as VGDF's refit does, makes the total quadratic in the steps). It assumes a steady load
over that window and moves with the window length: an estimate, not a bound.

Run directories live in $DAFTRL_HOME, which a new machine does not have: `carry_over` keeps the methods measured
earlier (from the committed JSON) that have no run here, stamped with the table they come from.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

FINAL_EVALS = 5  # final return = mean of the last 5 evaluations (the paper's curves are smoothed)
RECENT_EVALS = 20  # the "recent rate" is measured over the last 20 evaluation intervals


def final_return(rows: list[dict], last: int = FINAL_EVALS) -> float:
    """Mean `return_mean` of the last `last` evaluation rows."""
    tail = rows[-last:]
    return sum(r["return_mean"] for r in tail) / len(tail)


def trend_remaining_seconds(rows: list[dict], budget: int, window: int = RECENT_EVALS) -> float:
    """Seconds still needed to reach `budget` target steps if the per-step cost keeps its recent linear trend:
    fit cost(t) = a + b t (seconds per step, at the interval midpoints t) over the last `window` evaluation
    intervals, then integrate a + b t from the step reached to `budget`. A falling fitted trend (b < 0: load
    noise, no algorithm here gets cheaper with data) is read as flat. 0 once the budget is reached; NaN with
    fewer than 3 intervals. It assumes the load stayed constant over the window: a load change inside it reads as
    a cost trend, and the result moves with the window length."""
    import numpy as np

    if rows and rows[-1]["step"] >= budget:
        return 0.0
    tail = rows[-(window + 1):]
    steps = np.array([float(r["step"]) for r in tail])
    walls = np.array([float(r["wall_time"]) for r in tail])
    ds = np.diff(steps)
    ok = ds > 0
    if ok.sum() < 3:
        return math.nan
    mids, cost = ((steps[1:] + steps[:-1]) / 2)[ok], (np.diff(walls) / np.where(ok, ds, 1))[ok]
    b, a = np.polyfit(mids, cost, 1)
    if b < 0:
        b, a = 0.0, float(cost.mean())
    reached = steps[-1]
    return float(a * (budget - reached) + b / 2 * (budget**2 - reached**2))


def trend_hours_per_budget(rows: list[dict], budget: int) -> float:
    """Hours for `budget` target steps: a finished run's own (scaled to the budget, as `hours_per_budget`), a
    partial run's wall time so far plus `trend_remaining_seconds`. Rows: {"step", "wall_time" (seconds)}."""
    reached, wall = rows[-1]["step"], rows[-1]["wall_time"]
    if reached >= budget:
        return wall / 3600 * budget / reached
    return (wall + trend_remaining_seconds(rows, budget)) / 3600


def run_summary(run_dir: Path, budget: int | None = None) -> dict | None:
    """Wall time and returns of one run from its `config.json` and `eval.csv`; None if it has not yet evaluated
    after step 0 (no rate to measure)."""
    from daftrl.runs import RunDir

    run = RunDir(run_dir)
    rows = [r for r in run.rows("eval") if r.get("wall_time") is not None]
    if not rows or rows[-1]["step"] <= 0:
        return None
    cfg = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json").exists() else {}
    conf = cfg.get("config", {})
    budget = budget or conf.get("steps") or rows[-1]["step"]
    last = rows[-1]
    reached, wall = int(last["step"]), float(last["wall_time"])
    finished = reached >= budget
    # rate over the latest stretch only: a run resumed across sessions may have run under different loads
    first = rows[max(0, len(rows) - 1 - RECENT_EVALS)]
    recent = (wall - first["wall_time"]) / (reached - first["step"]) if reached > first["step"] else math.nan
    return {
        "run_dir": str(run_dir),
        "method": conf.get("method"),
        "seed": conf.get("seed"),
        "git_commit": cfg.get("provenance", {}).get("git_commit"),
        "budget_target_steps": int(budget),
        "target_steps": reached,
        "finished": finished,
        "wall_time_h": wall / 3600,
        "hours_per_budget": wall / 3600 * budget / reached,
        "recent_hours_per_budget": recent * budget / 3600,
        "trend_hours_per_budget": trend_hours_per_budget(rows, budget),
        "return": final_return(rows, FINAL_EVALS if finished else 1),
        "curve": [[int(r["step"]), float(r["wall_time"]) / 3600, float(r["return_mean"])] for r in rows],
    }


def compare(runs: dict[str, list[Path]], reference: str = "daft", budget: int = 100_000) -> dict:
    """Per method: mean hours for `budget` target steps over its runs, the return, and the ratio to `reference`."""
    out: dict = {"budget_target_steps": budget, "reference": reference, "methods": {}}
    for method, dirs in runs.items():
        summaries = [s for d in dirs if (s := run_summary(Path(d), budget)) is not None]
        if not summaries:
            continue
        hours = [s["hours_per_budget"] for s in summaries]
        out["methods"][method] = {
            "runs": summaries,
            "hours_per_budget": sum(hours) / len(hours),
            "projected": not all(s["finished"] for s in summaries),
            "recent_hours_per_budget": sum(s["recent_hours_per_budget"] for s in summaries) / len(summaries),
            "trend_hours_per_budget": sum(s["trend_hours_per_budget"] for s in summaries) / len(summaries),
            "return": sum(s["return"] for s in summaries) / len(summaries),
        }
    return with_ratios(out)


def with_ratios(result: dict) -> dict:
    """Set each method's `vs_reference` and `recent_vs_reference` (hours over the reference method's; None without
    the reference) and `ratio_across_tables` (exactly one of the two carried over from an earlier table, see
    `carry_over`: not measured side by side). In place; returns `result`."""
    ref = result["methods"].get(result["reference"])
    for v in result["methods"].values():
        v["vs_reference"] = v["hours_per_budget"] / ref["hours_per_budget"] if ref else None
        v["recent_vs_reference"] = (v["recent_hours_per_budget"] / ref["recent_hours_per_budget"]
                                    if ref else None)
        v["ratio_across_tables"] = bool(ref) and ("measured" in v) != ("measured" in ref)
    return result


def carry_over(new: dict, previous: dict, methods: tuple[str, ...], have_runs: tuple[str, ...] = ()
               ) -> tuple[dict, list[str]]:
    """Keep, from an earlier comparison `previous` (a loaded runtime_<task>.json), the methods of `methods` that
    have no run directory here (`have_runs` lists those that do, even if not yet evaluated: a restarted run must
    not bring back the entry it replaces) and no entry in `new` (their run dirs are gone: another machine, a
    cleaned $DAFTRL_HOME). Each is stamped `measured`: the commit, date and machine of the earlier table, or the
    stamp it already carried. Ratios are recomputed; a ratio between a carried-over row and a measured reference
    (or the reverse) is flagged `ratio_across_tables`. Returns the merged result and the names carried over.
    Refuses a `previous` made for another budget (its hours would not compare)."""
    if previous.get("budget_target_steps") != new["budget_target_steps"]:
        raise ValueError(f"cannot carry over runs measured for {previous.get('budget_target_steps')} target steps "
                         f"into a comparison for {new['budget_target_steps']}")
    prov = previous.get("provenance", {})
    stamp = {"git_commit": prov.get("git_commit"), "date": prov.get("date"), "machine": prov.get("machine")}
    merged = {**new, "methods": dict(new["methods"])}
    carried = []
    for method in methods:
        old = previous.get("methods", {}).get(method)
        if method in merged["methods"] or method in have_runs or old is None:
            continue
        entry = {**old, "measured": old.get("measured", stamp)}
        if "trend_hours_per_budget" not in entry:  # written before trend projections existed: from the curves
            budget = new["budget_target_steps"]
            trends = [trend_hours_per_budget([{"step": t, "wall_time": h * 3600} for t, h, _ in run["curve"]], budget)
                      for run in entry["runs"]]
            entry["trend_hours_per_budget"] = sum(trends) / len(trends)
        merged["methods"][method] = entry
        carried.append(method)
    order = [m for m in methods if m in merged["methods"]]  # the order asked for, not new-then-carried
    merged["methods"] = {m: merged["methods"][m] for m in order + [m for m in merged["methods"] if m not in order]}
    return with_ratios(merged), carried


def default_runs(task: str, home: Path, adapt_root: Path | None = None, cotrain_root: Path | None = None,
                 methods: tuple[str, ...] = ("ft", "sgft", "daft", "par", "vgdf", "darc", "sac-iw", "sac-mix"),
                 ) -> dict[str, list[Path]]:
    """Run dirs named `<method>-s<seed>` under `runs/adapt/<task>` and `runs/cotrain/<task>` (or the given roots)."""
    roots = [adapt_root or home / "runs" / "adapt" / task, cotrain_root or home / "runs" / "cotrain" / task]
    found: dict[str, list[Path]] = {}
    for method in methods:
        for root in roots:
            dirs = sorted(d for d in root.glob(f"{method}-s*") if d.name[len(method) + 2:].isdigit())
            if dirs:
                found[method] = dirs
                break
    return found


def plot(result: dict, path: Path, title: str) -> None:
    """Left: hours per budget (hatched = projected linearly, dashed = along the cost trend). Right: return against
    wall-clock hours (log axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(result["methods"])
    fig, (ax_bar, ax_curve) = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    for i, m in enumerate(methods):
        v = result["methods"][m]
        color = f"C{i}"
        ax_bar.bar(i, v["hours_per_budget"], color=color, hatch="//" if v["projected"] else None,
                   alpha=0.6 if v["projected"] else 1.0)
        trend = v.get("trend_hours_per_budget", math.nan)
        if v["projected"] and math.isfinite(trend):
            ax_bar.plot([i - 0.4, i + 0.4], [trend, trend], color="k", lw=1.5, ls="--")
            ax_bar.text(i, trend, f"trend {trend:.2g} h", ha="center", va="bottom", fontsize=7)
        ratio = f" ({v['vs_reference']:.1f}x)" if v["vs_reference"] else ""
        ax_bar.text(i, v["hours_per_budget"], f"{v['hours_per_budget']:.2g} h{ratio}", ha="center", va="bottom",
                    fontsize=8)
        for j, s in enumerate(v["runs"]):
            points = [(h, r) for _, h, r in s["curve"] if h > 0]  # log axis
            ax_curve.plot(*zip(*points, strict=True), color=color, lw=1, label=m if j == 0 else None)
    ax_bar.set_xticks(range(len(methods)), methods)
    ax_bar.set_ylabel(f"hours per {result['budget_target_steps']:,} target steps")
    ax_bar.set_title("wall time (hatched: projected from a partial run; dashed: at its cost trend)", fontsize=9)
    ax_curve.set_xscale("log")
    ax_curve.set_xlabel("wall-clock hours (log scale)")
    ax_curve.set_ylabel("return (deterministic, 10 episodes)")
    ax_curve.legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
