"""Runtime of adaptation vs simulator co-training for 1e5 target steps (the paper's Figure 3), from finished or
partial runs on this machine:

    python benchmarks/runtime_compare.py --task halfcheetah-broken-back-thigh \
        [--adapt-root DIR] [--cotrain-root DIR] [--methods ft daft par vgdf]

Run dirs are `<method>-s<seed>` under `--adapt-root` (default $DAFTRL_HOME/runs/adapt/<task>; made by
`daftrl adapt` / adapt_compare.py) and `--cotrain-root` (default $DAFTRL_HOME/runs/cotrain/<task>; made by
`daftrl cotrain`). Writes benchmarks/results/runtime_<task>.json and .png (hours per 1e5 target steps, with
the ratio to DAFT; return against wall-clock hours). Wall times include the evaluations (10 episodes every 1e3
target steps for every method) and are only comparable between runs made under the same load: say so in the
notes. Partial runs are projected linearly and marked "projected", and also along their cost trend (a per-step
cost fitted linearly in the step over the last 20 evaluations: for a cost that grows with the data, as VGDF's
model refit does; it assumes a steady load over those evaluations, so it is an estimate, not a bound).

Methods asked for whose run dirs are not here (a new machine, a cleaned $DAFTRL_HOME) are carried over from the
existing runtime_<task>.json, stamped with the commit, date and machine of that table, so regenerating never
silently drops a measurement (ratios between a carried-over row and a measured one are marked "across tables");
--no-carry-over writes only what is measured now. Methods not in --methods are not written.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True)
    p.add_argument("--methods", nargs="+", default=["ft", "sgft", "daft", "par", "vgdf"])
    p.add_argument("--adapt-root", type=Path, default=None)
    p.add_argument("--cotrain-root", type=Path, default=None)
    p.add_argument("--budget", type=int, default=100_000, help="target steps (default 1e5)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--no-carry-over", action="store_true",
                   help="do not keep methods without a run here from the existing runtime_<task>.json")
    args = p.parse_args()

    from daftrl.checkpoint import atomic_write_json, daftrl_home
    from daftrl.experiments.runtime import carry_over, compare, default_runs, plot
    from daftrl.runs import provenance

    out_json = args.out / f"runtime_{args.task}.json"
    runs = default_runs(args.task, daftrl_home(), args.adapt_root, args.cotrain_root, tuple(args.methods))
    result = {"task": args.task, **compare(runs, budget=args.budget), "provenance": provenance()}
    if not args.no_carry_over and out_json.exists():
        try:
            result, carried = carry_over(result, json.loads(out_json.read_text()), tuple(args.methods), tuple(runs))
        except ValueError as e:
            raise SystemExit(f"{e}: pass --no-carry-over, or --out another directory") from None
        for m in carried:
            when = result["methods"][m]["measured"]
            print(f"{m}: no run dir here; carried over from {out_json} (the table written {when['date']} at "
                  f"commit {str(when['git_commit'])[:12]})")
    if not result["methods"]:
        raise SystemExit(f"no runs of {args.methods} found for {args.task}; see --help for where they are looked up")
    plot(result, args.out / f"runtime_{args.task}.png", f"{args.task}: runtime for {args.budget:,} target steps")
    atomic_write_json(out_json, result)
    for m, v in result["methods"].items():
        across = " (across tables)" if v["ratio_across_tables"] else ""
        ratio = f"{v['vs_reference']:.1f}x DAFT{across}" if v["vs_reference"] else "-"
        recent = f"{v['recent_vs_reference']:.1f}x DAFT{across}" if v["recent_vs_reference"] else "-"
        trend = v["trend_hours_per_budget"]
        projected = ((f" (projected; {trend:.2f} h at its cost trend)" if math.isfinite(trend) else " (projected)")
                     if v["projected"] else "")
        projected += " [carried over]" if v.get("measured") else ""
        print(f"{m:>8}: {v['hours_per_budget']:6.2f} h{projected}  {ratio}  "
              f"recent rate {v['recent_hours_per_budget']:.2f} h {recent}  return {v['return']:,.0f}  "
              f"({len(v['runs'])} run(s))")


if __name__ == "__main__":
    main()
