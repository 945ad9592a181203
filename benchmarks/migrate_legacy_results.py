"""Move the results committed before the results store existed into it (issue 23). Run once; kept as the
provenance of the records it wrote:

    python benchmarks/migrate_legacy_results.py [--results results]

Inputs, read from git at LEGACY_COMMIT (the files were deleted once migrated; a shallow clone lacks them):

- `benchmarks/results/adapt_<task>.json` for halfcheetah-broken-back-thigh and walker-no-right-thigh, written by the
  retired `benchmarks/adapt_compare.py` -> campaign `legacy-adapt`, label = method (zero-shot, ft, sgft, daft), one
  record per seed. These files kept per seed only the final return (mean of the last 5 evaluations, 1e3 target
  steps apart), the zero-shot return and the wall time, no curves: a record's curve is two points, the zero-shot
  evaluation at step 0 and the final return at step 100,000 (a zero-shot run only evaluates at step 0: one point).
- `benchmarks/results/runtime_halfcheetah-broken-back-thigh.json`, written by the retired
  `benchmarks/runtime_compare.py` -> campaign `runtime`: FT and DAFT (adapt runs, measured side by side on an Intel
  Xeon), PAR (a co-training run measured on an AMD EPYC and carried over into that table) and VGDF (a co-training
  run stopped at 2e4 of its 1e5 target steps: `partial`, with the linear projection of its wall time). Curves:
  step, return and cumulative wall time (evaluation included) of every evaluation.

Every record gets the identity that `daftrl adapt|cotrain M --task T --seed S` with default options would
have (computed as `store.record_from_run` does; the method configurations at the commits the runs were made at equal
today's defaults: `critic_init` did not exist yet and its default keeps the old behaviour), the expert as bundled at
the run's commit, and the provenance of the legacy file (commit of the runs; date, machine and versions of the
table), without absolute paths or host names. Writing is idempotent: a record already stored with the same result is
left as it is.

FT and DAFT seed 0 of the runtime table have the run ids of the legacy-adapt FT and DAFT seed 0 runs (the same
command; DAFT's result differs: 54de925 reimplemented its source sampling between the two). Each campaign is its own
collection, so both are stored, one in each campaign.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

from daftrl.algos import method_spec
from daftrl.experiments import store

LEGACY_COMMIT = "885d3f6e9626b5df6d90e20d3349fe4983b83efd"  # last commit that changed the three legacy files
ADAPT_TASKS = ("halfcheetah-broken-back-thigh", "walker-no-right-thigh")
RUNTIME_TASK = "halfcheetah-broken-back-thigh"
PAR_TABLE_COMMIT = "63ebf00e9132404116b14bb6a2aa54a2dae49c62"  # the AMD table PAR's row was carried over from
BUDGET = 100_000
ROOT = Path(__file__).resolve().parents[1]


def git_text(commit: str, path: str) -> str:
    return subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout


def git_json(commit: str, path: str) -> dict:
    return json.loads(git_text(commit, path))


def expert_at(commit: str, robot: str) -> dict:
    """The bundled expert's identity as of `commit` (store.expert_identity reads today's card; the HalfCheetah
    weights were repacked since, identical on reload but with another checksum)."""
    card = git_json(commit.removesuffix("-dirty"), f"src/daftrl/zoo/{robot}/card.json")
    return {"name": robot, "checksum": card["sha256"]["expert.safetensors"],
            "source_return": card["source_return"]["return_mean"]}


def provenance(git_commit: str, table_prov: dict, machine: dict | None = None) -> dict:
    """Portable provenance: the runs' commit; date, python and versions of the table; its machine unless given."""
    return store.portable_provenance({**table_prov, "git_commit": git_commit, "command": None,
                                      "machine": machine or table_prov["machine"]})


def point(step: int, ret: float, wall_time: float | None = None) -> dict:
    return {**dict.fromkeys(store.CURVE_FIELDS), "step": step, "return_mean": ret, "wall_time": wall_time}


def base_record(campaign: str, kind: str, task: str, method: str, seed: int) -> dict:
    """The identity, configuration and method configuration of `daftrl <kind> M --task T --seed S` with
    defaults and a 1e5-target-step budget, as store.record_from_run computes them from a run directory."""
    from daftrl.envs import TASKS

    run_defaults, method_defaults = store.defaults_for(kind, method, task)
    config = {**run_defaults, "task": task, "method": method, "seed": seed, "steps": BUDGET}
    overrides: dict = {}  # the runs used the method's defaults
    identity = store.run_identity(kind, config, run_defaults, overrides)
    return {
        "schema_version": store.SCHEMA_VERSION, "run_id": store.run_id(identity), "identity": identity,
        "campaign": campaign, "label": method, "kind": kind, "task": task, "robot": TASKS[task].robot,
        "method": method, "seed": seed, "status": "finished", "budget_steps": BUDGET, "steps": BUDGET,
        "config": {k: v for k, v in config.items() if k not in store.NOT_IN_ID}, "method_config": method_defaults,
        "overrides": overrides, "expert": None, "zero_shot": None, "eval_time_s": None, "train_time_s": None,
        "updates_per_s": None, "projected_wall_time_s": None, "resumes": [], "note": None,
    }


# ---------------------------------------------------------------------------------------------- adaptation
ADAPT_NOTE = (
    "Migrated from benchmarks/results/adapt_<task>.json (commit {commit}; written by the retired "
    "benchmarks/adapt_compare.py), which kept per seed only the final return, the zero-shot return and the wall "
    "time: the curve is two points, the zero-shot evaluation at step 0 and the final return at step 100,000, and the "
    "final return is the mean of the last 5 evaluations (1e3 target steps apart, steps 96,000-100,000), not of the "
    "last 10 %. Provenance: the commit the runs were made at; date, machine and versions of that file's summary.")
ZERO_SHOT_NOTE = (
    "Migrated from benchmarks/results/adapt_<task>.json (commit {commit}; written by the retired "
    "benchmarks/adapt_compare.py): a zero-shot run evaluates the expert at step 0 only; its final return is that "
    "evaluation. Provenance: the commit the runs were made at; date, machine and versions of that file's summary.")


def adapt_records(task: str) -> list[dict]:
    legacy = git_json(LEGACY_COMMIT, f"benchmarks/results/adapt_{task}.json")
    records = []
    for method, v in sorted(legacy["methods"].items()):
        (commit,) = v["git_commits"]  # every run of a method was made at one commit
        # final_per_seed, zero_shot and wall_time_min follow the seeds (run dirs globbed in name order, seeds < 10)
        assert v["seeds"] == sorted(v["seeds"]) and max(v["seeds"]) < 10, v["seeds"]
        for seed, final, zero, minutes in zip(v["seeds"], v["final_per_seed"], v["zero_shot"], v["wall_time_min"],
                                              strict=True):
            r = base_record("legacy-adapt", "adapt", task, method, seed)
            if method == "zero-shot":
                assert final == zero, (task, seed)
                curve, note, steps = [point(0, zero)], ZERO_SHOT_NOTE, 0
            else:
                curve, note, steps = [point(0, zero), point(BUDGET, final)], ADAPT_NOTE, BUDGET
            r.update(steps=steps, curve=curve, zero_shot=zero, final_return=final, wall_time_s=minutes * 60,
                     expert=expert_at(commit, r["robot"]), provenance=provenance(commit, legacy["provenance"]),
                     note=note.format(commit=LEGACY_COMMIT[:7]))
            records.append(r)
    return records


# ---------------------------------------------------------------------------------------------- runtime
RUNTIME_NOTE = (
    "Migrated from benchmarks/results/runtime_{task}.json (commit {commit}; written by the retired "
    "benchmarks/runtime_compare.py), which kept each evaluation's step, return and cumulative wall time (evaluation "
    "included, 10 episodes every 1e3 target steps), not per-episode returns or training statistics. Provenance: the "
    "commit the run was made at; date, machine and versions of the table it was measured for{where}.")
PAR_WHERE = (": measured on an earlier machine and carried over into the Intel table, so this is the AMD table of "
             "{date} (commit {commit})")
VGDF_NOTE = (
    " Partial: stopped at {reached:,} of {budget:,} target steps, the decided partial budget (the full protocol needs "
    "~10-30 h of 2-core CPU) and reported at the budget it reached. projected_wall_time_s: its wall time so far "
    "extrapolated linearly to {budget:,} target steps, {linear:.2f} h, a lower bound since VGDF's model refit grows "
    "with the target data; at its cost trend (per-step cost fitted linearly in the step over its last 20 evaluation "
    "intervals, integrated to the budget) {trend:.2f} h.")


def runtime_records() -> list[dict]:
    path = f"benchmarks/results/runtime_{RUNTIME_TASK}.json"
    legacy = git_json(LEGACY_COMMIT, path)
    assert legacy["budget_target_steps"] == BUDGET and legacy["task"] == RUNTIME_TASK
    records = []
    for method, v in sorted(legacy["methods"].items()):
        kind = method_spec(method).kind
        table = legacy["provenance"]
        where = ""
        if "measured" in v:  # carried over from an earlier table: that table's provenance
            table = git_json(PAR_TABLE_COMMIT, path)["provenance"]
            assert (table["date"], table["git_commit"]) == (v["measured"]["date"], v["measured"]["git_commit"])
            where = PAR_WHERE.format(date=table["date"][:10], commit=table["git_commit"][:7])
        for run in v["runs"]:
            r = base_record("runtime", kind, RUNTIME_TASK, method, run["seed"])
            curve = [point(step, ret, hours * 3600) for step, hours, ret in run["curve"]]
            reached, wall = curve[-1]["step"], curve[-1]["wall_time"]
            assert reached == run["target_steps"] and abs(wall / 3600 - run["wall_time_h"]) < 1e-9
            note = RUNTIME_NOTE.format(task=RUNTIME_TASK, commit=LEGACY_COMMIT[:7], where=where)
            if not run["finished"]:
                linear = wall * BUDGET / reached
                assert abs(linear / 3600 - run["hours_per_budget"]) < 1e-9  # runtime_compare's linear projection
                r.update(status="partial", projected_wall_time_s=linear)
                note += VGDF_NOTE.format(reached=reached, budget=BUDGET, linear=run["hours_per_budget"],
                                         trend=run["trend_hours_per_budget"])
            r.update(steps=reached, curve=curve, zero_shot=curve[0]["return_mean"] if curve[0]["step"] == 0 else None,
                     final_return=store.final_return(curve, BUDGET), wall_time_s=wall,
                     expert=expert_at(run["git_commit"], r["robot"]) if kind == "adapt" else None,
                     provenance=provenance(run["git_commit"], table), note=note)
            records.append(r)
    return records


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, default=ROOT / "results", help="the results store (default: results)")
    args = p.parse_args()
    records = [r for task in ADAPT_TASKS for r in adapt_records(task)] + runtime_records()
    for r in records:
        r = store.validate(r, f"{r['campaign']}/{r['task']}/{r['label']}/s{r['seed']}")
        path = store.record_path(args.results, r)
        status = store.write_record(args.results, r)
        print(f"{status:>9}: {path}  (run {r['run_id']}, final {r['final_return']:,.0f})")


if __name__ == "__main__":
    main()
