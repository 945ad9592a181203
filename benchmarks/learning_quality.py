"""Learning-quality benchmark of the SAC core (issue: SAC core): HalfCheetah-v5 and Hopper-v5,
1e5 steps, deterministic evaluation every 5e3 steps, several seeds.

Run the training (resumable; seed 0 can be the first 1e5 steps of a zoo expert run with the same
preset, which evaluates every 5e3 steps too):

    daftrl pretrain --env HalfCheetah-v5 --preset expert --seed 1 --steps 100000 --eval-every 5000
    daftrl pretrain --env Hopper-v5 --preset expert --seed 1 --steps 100000 --eval-every 5000

then summarise the run directories (curves up to 1e5 steps, mean over seeds):

    python benchmarks/learning_quality.py RUN_DIR [RUN_DIR ...]

Writes benchmarks/results/learning_sac.json and learning_sac.png. Reference (Tianshou SAC, same
hyperparameters, gym v3, 10 seeds): HalfCheetah 6515 ± 514 and Hopper 2613 ± 991 at 1e5 steps, read off
`thu-ml/tianshou:examples/mujoco/benchmark/<Env>-v3/sac/test_rew_10seeds.csv` at commit 39acf209 (Tianshou's
published MuJoCo benchmark results): an outside reference, typed in, not measured here.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

REFERENCE_1E5 = {"HalfCheetah-v5": (6515, 514), "Hopper-v5": (2613, 991)}
"""Tianshou's published SAC test returns at 1e5 steps (mean, std over 10 seeds; source in the module docstring)."""
LIMIT = 100_000


def main(run_dirs: list[str]) -> None:
    import numpy as np

    from daftrl.checkpoint import atomic_write_json
    from daftrl.experiments import plots
    from daftrl.provenance import committed_provenance
    from daftrl.rundir import RunDir

    curves: dict[str, dict[int, dict[int, float]]] = defaultdict(dict)
    for d in run_dirs:
        run = RunDir(d)
        cfg = run.read_config()
        rows = {r["step"]: r["return_mean"] for r in run.rows("eval") if r["step"] <= LIMIT}
        if LIMIT not in rows:
            raise SystemExit(f"{d} has not reached {LIMIT} steps yet")
        curves[cfg["env"]][cfg["seed"]] = rows
    summary, panels = {}, []
    for env, seeds in sorted(curves.items()):
        steps = sorted(set.intersection(*(set(r) for r in seeds.values())))
        values = np.array([[seeds[s][t] for t in steps] for s in sorted(seeds)])
        reference = (LIMIT, *REFERENCE_1E5[env]) if env in REFERENCE_1E5 else None
        panels.append(plots.SeedPanel(env, np.array(steps), values, f"daftrl SAC ({len(seeds)} seeds)", reference,
                                      "Tianshou SAC at 1e5"))
        final = values[:, -1]
        summary[env] = {"seeds": sorted(seeds), "return_at_1e5": final.tolist(), "mean": float(final.mean()),
                        "std": float(final.std()), "reference_tianshou": REFERENCE_1E5.get(env),
                        "curve_steps": steps, "curve_mean": values.mean(0).tolist()}
    out = Path(__file__).parent / "results"
    plots.seed_curves(out / "learning_sac.png", panels)
    atomic_write_json(out / "learning_sac.json", {"benchmark": "learning_quality", "runs": run_dirs,
                                                  "results": summary, "provenance": committed_provenance()})
    print(json.dumps({k: (v["mean"], v["std"]) for k, v in summary.items()}))


if __name__ == "__main__":
    main(sys.argv[1:])
