"""`daftrl report`: the comparisons between labels (`daftrl.experiments.compare`), the runtime table
(`daftrl.experiments.runtime`) and the markdown + figures of a small synthetic results store. The statistics are
tested in test_stats.py, the numbers of one run in test_run_metrics.py."""

import json

import pytest

from daftrl.experiments import compare, report, run_metrics, runtime, stats, store

BUDGET = 100_000
MACHINE_A, MACHINE_B = ("CPU A", 8), ("CPU B", 16)


def linear_curve(start: float, end: float, last: int = BUDGET, every: int = 10_000) -> list[dict]:
    """Return rising linearly from `start` at step 0 to `end` at BUDGET, evaluated every `every` steps to `last`."""
    return [{"step": s, "return_mean": start + (end - start) * s / BUDGET, "return_std": 1.0, "returns": None,
             "wall_time": None, "train_return": 10.0 * s / BUDGET, "falls": s // 10_000, "train_episodes": s // 1000}
            for s in range(0, last + 1, every)]


def make_record(campaign: str, task: str, label: str, seed: int, final: float, *, robot: str = "halfcheetah",
                zero_shot: float | None = 100.0, source: float = 1100.0, machine: tuple = MACHINE_A,
                wall_h: float = 1.0, steps: int = BUDGET) -> dict:
    partial = steps < BUDGET
    curve = linear_curve(zero_shot or 0.0, final, last=steps)
    identity = {"kind": "adapt", "task": task, "method": label, "seed": seed, "steps": BUDGET}
    return {
        "schema_version": 1, "run_id": store.run_id(identity), "identity": identity, "campaign": campaign,
        "label": label, "kind": "adapt", "task": task, "robot": robot, "method": label.split("-")[0], "seed": seed,
        "status": "partial" if partial else "finished", "budget_steps": BUDGET, "steps": steps, "config": {},
        "method_config": {}, "overrides": {"fresh_critics": True} if label == "ft" else {},
        "expert": {"name": f"{robot}-expert", "checksum": "ab" * 16, "source_return": source},
        "curve": curve, "zero_shot": zero_shot,
        "final_return": curve[-1]["return_mean"] if partial else final,
        "wall_time_s": None if partial else wall_h * 3600, "eval_time_s": 0.2 * wall_h * 3600,
        "train_time_s": 0.8 * wall_h * 3600 * steps / BUDGET, "updates_per_s": 100.0 / wall_h,
        "projected_wall_time_s": wall_h * 3600 if partial else None,
        "provenance": {"git_commit": "0123456789abcdef", "date": "2025-01-01T00:00:00",
                       "machine": {"cpu": machine[0], "cores": machine[1]}, "versions": {}, "python": "3.11"},
        "note": None,
    }


def migrated(record: dict) -> dict:
    """A migrated record: only `return_mean` on its curve, no zero-shot, expert or times."""
    keep = {"step", "return_mean"}
    return record | {"curve": [{k: (v if k in keep else None) for k, v in p.items()} for p in record["curve"]],
                     "zero_shot": None, "expert": None, "wall_time_s": None, "eval_time_s": None,
                     "train_time_s": None, "updates_per_s": None,
                     "note": "migrated from benchmarks/results; curve is the mean over seeds"}


TASKS = {"halfcheetah-broken-back-thigh": "halfcheetah", "walker-no-right-thigh": "walker", "hopper-x": "hopper"}
FINALS = {"daft": [1000.0, 1100.0, 1200.0], "ft": [500.0, 600.0, 700.0], "sgft": [300.0, 350.0, 400.0]}
HOURS = {"daft": 1.0, "ft": 1.5, "sgft": 2.0}


def write_store(root) -> list[dict]:
    """Campaign `main`: 3 tasks x ft/daft/sgft x 3 seeds (sgft missing on hopper-x), a partial daft run, a migrated
    ft run, ft on walker measured on another machine, a co-training run on hopper-x. Campaign `pilot`: one run."""
    records = []
    for task, robot in TASKS.items():
        for label, finals in FINALS.items():
            if label == "sgft" and task == "hopper-x":
                continue
            machine = MACHINE_B if (label, task) == ("ft", "walker-no-right-thigh") else MACHINE_A
            for seed, final in enumerate(finals):
                records.append(make_record("main", task, label, seed, final, robot=robot, machine=machine,
                                           wall_h=HOURS[label]))
    records[0] = migrated(records[0])  # halfcheetah daft s0
    records.append(make_record("main", "halfcheetah-broken-back-thigh", "daft", 3, 1300.0, steps=50_000, wall_h=1.2))
    par = make_record("main", "hopper-x", "par", 0, 800.0, robot="hopper", zero_shot=-50.0, wall_h=4.0)
    records.append(par | {"kind": "cotrain", "expert": None})  # its step-0 return is an untrained policy's
    records.append(make_record("pilot", "hopper-x", "daft", 0, 900.0, robot="hopper"))
    for r in records:
        path = root / r["campaign"] / r["task"] / r["label"] / f"s{r['seed']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(r))
    return records


def test_versus_section_task_by_task(tmp_path):
    finals = {("a", "daft"): [1000.0, 1100.0, 1200.0], ("a", "ft"): [500.0, 600.0, 700.0],  # clearly better
              ("b", "daft"): [1000.0, 1100.0, 1200.0], ("b", "ft"): [1050.0, 1150.0, 1250.0],  # level
              ("c", "daft"): [100.0, 110.0, 120.0], ("c", "ft"): [1000.0, 1010.0, 1020.0],  # clearly worse
              ("a", "expert"): [100.0, 102.0], ("b", "expert"): [100.0]}
    records = [make_record("c", task, label, seed, final) | ({"method": "zero-shot"} if label == "expert" else {})
               for (task, label), values in finals.items() for seed, final in enumerate(values)]
    records.append(make_record("c", "b", "ft", 3, 2000.0, steps=50_000))  # partial: left out
    records += [make_record("no-daft", "a", "ft", s, 1.0) for s in range(2)]
    records += [make_record("zero-only", "a", label, s, 1.0) | {"method": label} for label in ("daft", "zero-shot")
                for s in range(2)]
    text = report.build_report(records, tmp_path, tmp_path / "img", reps=50)
    assert text.count("### `daft` against each label") == 1  # no daft / no other learning label: no section
    section = text.split("### `daft` against each label, task by task")[1].split("### Per task")[0]
    # 500 -+ t_{0.975,4} sqrt(2 x 100^2 / 3) = 500 -+ 226.7; the expert (zero-shot) column comes last
    assert "| task | `ft` | `expert` |" in section
    assert "| `a` | +500 [+273, +727] better (3 v 3) | +999 [+751, +1,247] better (3 v 2) |" in section
    assert "| `b` | -50 [-277, +177] level (3 v 3) | — (3 v 1) |" in section
    assert "| `c` | -900 [-923, -877] worse (3 v 3) |  |" in section  # the expert has no run on c
    assert ("- `daft` vs `ft`: better on 1, worse on 1, level on 1 of 3 tasks (95 % Welch intervals of the difference "
            "in final return; — where a side has < 2 seeds: 0 tasks)") in section
    assert "- `daft` vs `expert`: better on 1, worse on 0, level on 0 of 2 tasks (" in section
    assert "< 2 seeds: 1 task)" in section
    assert text.index("### At a glance") < text.index("### `daft` against each label") < text.index("### Per task")


def test_summary_counts_every_metric_and_turns_falls_round(tmp_path):
    finals = {("a", "daft"): [1000.0, 1100.0, 1200.0], ("a", "ft"): [500.0, 600.0, 700.0],  # better
              ("b", "daft"): [1000.0, 1100.0, 1200.0], ("b", "ft"): [1050.0, 1150.0, 1250.0],  # level
              ("c", "daft"): [100.0, 110.0, 120.0], ("c", "ft"): [1000.0, 1010.0, 1020.0],  # worse
              ("d", "daft"): [1000.0, 1100.0, 1200.0], ("d", "ft"): [500.0],  # one ft run: no interval
              ("a", "expert"): [100.0, 102.0], ("b", "expert"): [100.0, 101.0], ("a", "bc"): [300.0]}
    records = [make_record("c1", task, label, seed, final) | ({"method": "zero-shot"} if label == "expert" else {})
               for (task, label), values in finals.items() for seed, final in enumerate(values)]
    # the expert is zero-shot on a but learns on b: its runs on b are compared on every metric, those on a are not
    records = [r | {"method": "ft"} if r["label"] == "expert" and r["task"] == "b" else r for r in records]
    falls = {"a": lambda p, s: p["falls"] - 1 + s,  # ft 10 at the end, daft 9, 10, 11: level (an interval across 0)
             "b": lambda p, s: 0,  # daft never falls: fewer, better
             "c": lambda p, s: p["falls"] + 20}  # worse
    for r in records:
        if r["label"] == "daft" and r["task"] in falls:
            r["curve"] = [p | {"falls": falls[r["task"]](p, r["seed"])} for p in r["curve"]]
        if r["label"] == "daft" and r["task"] == "b":  # a dip at 2e4 only: level at 1e4, worse at 2e4
            r["curve"] = [p | {"return_mean": 0.0} if p["step"] == 20_000 else p for p in r["curve"]]
    records.append(make_record("c1", "c", "ft", 3, 9000.0, steps=50_000))  # partial: left out everywhere
    text = report.build_report(records, tmp_path, tmp_path / "img", reps=50)
    assert text.index("\n## Summary\n") < text.index("\n## c1\n") < text.index("### `daft` against each label")
    summary = text.split("\n## Summary\n")[1].split("\n## c1\n")[0]
    assert "| label | final return | return at 1e4 | return at 2e4 | AUC / budget | train return | falls |" in summary
    # early returns and AUC follow the linear curves' finals; training returns are equal in every run (level, same)
    assert ("| `ft` | 1 / 1 / 1 (+1 —) | 1 / 1 / 1 (+1 —) | 1 / 2 / 0 (+1 —) | 1 / 1 / 1 (+1 —) | "
            "0 / 0 / 3 (3 same, +1 —) | 1 / 1 / 1 (+1 —) |") in summary
    # final return on a and b; every other metric on b only, where its runs learn (a flat curve at 100)
    assert ("| `expert` | 2 / 0 / 0 | 1 / 0 / 0 (+1 —) | 0 / 1 / 0 (+1 —) | 1 / 0 / 0 (+1 —) | "
            "0 / 0 / 1 (1 same, +1 —) | 1 / 0 / 0 (+1 —) |") in summary
    assert "| `bc`" not in summary and "fewer than 2 finished runs on a side on every task): `bc`" in summary
    assert ("- v `ft`: **better** on final return (`a`), return at 1e4 (`a`), return at 2e4 (`a`), AUC / budget "
            "(`a`), falls (`b`); **worse** on final return (`c`), return at 1e4 (`c`), return at 2e4 (`b`, `c`), "
            "AUC / budget (`c`), falls (`c`)") in summary
    # the campaign's own section keeps its Welch intervals of the final return
    row = next(line for line in text.split("### `daft` against each label")[1].splitlines() if line.startswith("| `a`"))
    assert row.endswith("| +500 [+273, +727] better (3 v 3) |")  # ft, the last column


def test_tally_marks_level_tasks_where_every_run_is_the_same():
    """A robot that cannot fall has 0 falls in every run of both labels: level, but not a finding, so counted apart;
    a level task with spread, or a point interval away from 0, is not "same"."""
    def cmp(a, b):
        records = [make_record("c", "t", label, seed, 100.0) for label, values in (("daft", a), ("ft", b))
                   for seed, _ in enumerate(values)]
        value = iter([*a, *b])
        metric = run_metrics.Metric("x", lambda run: next(value))
        return compare.compare(records, "daft", metric)[("ft", "t")]

    never = cmp([0.0, 0.0, 0.0], [0.0, 0.0])
    spread = cmp([1.0, 3.0], [2.0, 2.5])
    point = cmp([5.0, 5.0], [3.0, 3.0])  # better, by a point interval
    lonely = cmp([1.0], [2.0, 3.0])
    tenths = cmp([0.7] * 3, [0.7] * 3)  # the same, though the interval is not exactly [0, 0] in floating point
    assert (never.same, spread.same, point.same, lonely.same, tenths.same) == (True, False, False, False, True)
    assert report._tally([never, spread, point]) == "1 / 0 / 2 (1 same)"
    assert report._tally([never, tenths, lonely]) == "0 / 0 / 2 (2 same, +1 —)"
    assert report._tally([spread, lonely]) == "0 / 0 / 1 (+1 —)"
    assert report._tally([lonely]) == stats.DASH


def test_summary_is_left_out_without_a_comparison(tmp_path):
    solo = [make_record("solo", "a", "daft", s, 1000.0 + s) for s in range(3)]
    assert "## Summary" not in report.build_report(solo, tmp_path, tmp_path / "img", reps=50)
    # the reference has only partial runs: nothing to compare it with yet
    partial = [make_record("p", "a", "daft", s, 1000.0, steps=50_000) for s in range(3)]
    partial += [make_record("p", "a", "ft", s, 500.0 + s) for s in range(3)]
    text = report.build_report(partial, tmp_path, tmp_path / "img", reps=50)
    assert "## Summary" not in text and "### `daft` against each label" not in text


def test_comparison_drops_a_label_missing_on_a_task():
    coverage = {"daft": {"a", "b", "c"}, "ft": {"a", "b", "c"}, "sgft": {"a", "b"}}
    assert compare.select_comparison(coverage) == (("daft", "ft"), ("a", "b", "c"))
    assert compare.select_comparison({"daft": {"a"}, "ft": {"a", "b"}}) is None  # fewer than 2 shared tasks
    finals = {("daft", "a"): [(2, 3.0), (0, 1.0), (1, 2.0)], ("ft", "a"): [(5, 0.5), (4, 0.0)]}
    matrices, n = compare.score_matrices(finals, ["daft", "ft"], ["a"])
    assert n == 2 and matrices["daft"].tolist() == [[1.0], [2.0]] and matrices["ft"].tolist() == [[0.0], [0.5]]


def test_runtime_ratios_only_on_the_same_machine():
    records = [make_record("c", "t", "daft", 0, 1.0, wall_h=1.0), make_record("c", "t", "ft", 0, 1.0, wall_h=3.0),
               make_record("c", "t", "ft", 1, 1.0, wall_h=5.0),
               make_record("c", "t", "par", 0, 1.0, wall_h=9.0, machine=MACHINE_B),
               make_record("c", "t", "vgdf", 0, 1.0, wall_h=10.0, steps=20_000)]
    rows = {(r.label, r.projected): r for r in runtime.runtime_table(records)}
    assert rows["ft", False].hours == pytest.approx(4.0) and rows["ft", False].vs_reference == pytest.approx(4.0)
    assert rows["ft", False].n == 2 and rows["ft", False].train_hours == pytest.approx(3.2)
    assert rows["par", False].vs_reference is None and rows["par", False].across_machines
    vgdf = rows["vgdf", True]  # partial: projected wall time, training time scaled to the budget
    assert vgdf.hours == pytest.approx(10.0) and vgdf.train_hours == pytest.approx(8.0)
    assert vgdf.vs_reference == pytest.approx(10.0)


def test_write_report_on_a_small_store(tmp_path):
    write_store(tmp_path / "results")
    out = tmp_path / "docs" / "results.md"
    text = report.write_report(tmp_path / "results", out, reps=200)
    assert out.read_text() == text
    for heading in ["# Results", "## main", "## pilot", "### Cells", "### At a glance", "### Per task",
                    "#### hopper-x", "### Across tasks", "### Runtime"]:
        assert f"\n{heading}\n" in f"\n{text}"
    main, pilot = text.split("## pilot")
    assert "### Across tasks" not in pilot  # one task, one label
    # cells: seeds per task, overrides, the partial run
    assert "| `daft` | adapt (10) | daft (10) | none | 3 + 1 partial | 3 | 3 | finished (9), partial (1) |" in main
    assert "| `ft` | adapt (9) | ft (9) | `fresh_critics=true` | 3 | 3 | 3 | finished (9) |" in main
    assert "| `sgft` | adapt (6) | sgft (6) | none | 3 | 0 | 3 | finished (6) |" in main
    assert "curve is the mean over seeds" in main
    # at a glance: finished seeds only (daft's partial s3 is left out), a dash where a cell has none
    glance = main.split("### At a glance")[1].split("### `daft` against each label")[0]
    assert "| task | `daft` | `ft` | `par` | `sgft` |" in glance.replace("`zero-shot` |", "")
    cheetah_row = next(line for line in glance.splitlines() if line.startswith("| `halfcheetah-broken-back-thigh`"))
    assert cheetah_row.startswith("| `halfcheetah-broken-back-thigh` | 1,100 (3) |")
    assert "| `hopper-x` |" in glance and "— |" in next(line for line in glance.splitlines()
                                                     if line.startswith("| `walker-no-right-thigh`"))
    # daft against each label: finished runs only (the partial daft s3 is left out), Welch t-interval with df = 4
    # (equal variances and sizes): 500 -+ 2.7764 x sqrt(2 x 100^2 / 3) = 500 -+ 226.7
    versus = main.split("### `daft` against each label, task by task")[1].split("### Per task")[0]
    assert "| task | `ft` | `par` | `sgft` |" in versus
    assert ("| `halfcheetah-broken-back-thigh` | +500 [+273, +727] better (3 v 3) |  | +750 [+542, +958] better "
            "(3 v 3) |") in versus  # par never ran there; sgft: df = 2.94 (unequal variances)
    assert "| `hopper-x` | +500 [+273, +727] better (3 v 3) | — (3 v 1) |  |" in versus  # sgft never ran there
    assert ("- `daft` vs `ft`: better on 3, worse on 0, level on 0 of 3 tasks (95 % Welch intervals of the difference "
            "in final return; — where a side has < 2 seeds: 0 tasks)") in versus
    assert "- `daft` vs `par`: better on 0, worse on 0, level on 0 of 1 task (" in versus
    assert "< 2 seeds: 1 task)" in versus
    assert "- `daft` vs `sgft`: better on 2, worse on 0, level on 0 of 2 tasks (" in versus
    assert "against each label" not in pilot  # daft alone
    # per task: t-interval (t_{0.975,2} = 4.3027 x 100 / sqrt 3 = 248.4), early phase, AUC, train return, falls
    walker = main.split("#### walker-no-right-thigh")[1].split("####")[0]
    assert ("| `daft` | 3 | 1,100 | [852, 1,348] | s0: 1,000, s1: 1,100, s2: 1,200 | 200 | 300 | 600 | 5 | 10.0 |"
            in walker)
    cheetah = main.split("#### halfcheetah-broken-back-thigh")[1].split("####")[0]
    assert ("| `daft` | 3 | 1,100 | [852, 1,348] | s0: 1,000, s1: 1,100, s2: 1,200 | 200 | 300 | 600 | 5 (2/3) | "
            "10.0 (2/3) |" in cheetah)  # the migrated run has no training returns
    assert "| `daft (partial)` | 1 | 700 | — | s3: 700 @ 50,000 | 220 | 340 | — | 2 | 5.0 |" in cheetah
    assert "zero-shot 100 (mean over 9 runs; dashed line)" in cheetah
    assert "zero-shot 100 (mean over 6 runs; dashed line)" in main.split("#### hopper-x")[1]  # not par's
    # across tasks: sgft lacks hopper-x, so it is left out with a note; 3 seeds per task
    across = main.split("### Across tasks")[1].split("### Runtime")[0]
    assert "Finished runs of `daft`, `ft` on the 3 tasks `halfcheetah-broken-back-thigh`, `hopper-x`, " \
           "`walker-no-right-thigh`: the first 3 seeds" in across
    assert "Not aggregated: `par`" in across and "Not aggregated: `sgft`" in across
    assert "Partial runs are not aggregated." in across
    assert "| `daft` | 100.0 | [9" in across  # expert-normalised: (final - 100) / 10
    assert "**D4RL-normalised score**" in across
    assert "| `ft` | 1.00 | [1.00, 1.00] |" in across  # P(daft > ft)
    # runtime: ratios on the same machine only
    runtime = main.split("### Runtime")[1]
    assert "| `walker-no-right-thigh` | `ft` | 3 | 100,000 | 1.50 | 1.20 | 67 | across machines | CPU B (16 cores) |" \
           in runtime
    assert "| `hopper-x` | `sgft`" not in runtime and "| `hopper-x` | `par` | 1 | 100,000 | 4.00 |" in runtime
    assert "| `halfcheetah-broken-back-thigh` | `daft (partial)` | 1 | 100,000 | 1.20 (projected) | 0.96 | 83 | " \
           "1.20x | CPU A (8 cores) |" in runtime
    assert "| `hopper-x` | `ft` | 3 | 100,000 | 1.50 | 1.20 | 67 | 1.50x | CPU A (8 cores) |" in runtime
    # figures exist and are linked relative to the markdown
    figures = tmp_path / "docs" / "img" / "results"
    for name in ["main/hopper-x", "main/profiles", "main/runtime", "pilot/hopper-x"]:
        assert (figures / f"{name}.png").stat().st_size > 0 and (figures / f"{name}.svg").stat().st_size > 0
    assert "![hopper-x](img/results/main/hopper-x.png)" in main
    assert str(tmp_path) not in text
    assert report.write_report(tmp_path / "results", out, reps=200) == text  # byte-for-byte deterministic


def zero_shot_record(campaign: str, task: str, seed: int, value: float = 100.0) -> dict:
    """A zero-shot run: the expert evaluated at step 0, a one-point curve."""
    r = make_record(campaign, task, "zero-shot", seed, value, zero_shot=value)
    return r | {"method": "zero-shot", "steps": 0, "curve": r["curve"][:1], "final_return": value}


CHEETAH, WALKER = "halfcheetah-broken-back-thigh", "walker-no-right-thigh"
PANEL_CELLS = {CHEETAH: ("ft", "daft", "single-critic", "reward-shaping", "daft-omega0"),
               WALKER: ("daft-h1", "daft-h20", "reward-shaping")}  # walker: no daft


def panel_store(root, campaign: str = "online") -> list[dict]:
    """Labels of the paper's Figures 2, 4 and 5 and daft-omega0 (in none), 2 seeds each, zero-shot runs on CHEETAH."""
    records = [make_record(campaign, task, label, seed, 1000.0 + 100 * seed, robot=task.split("-")[0])
               for task, labels in PANEL_CELLS.items() for label in labels for seed in range(2)]
    records += [zero_shot_record(campaign, CHEETAH, seed) for seed in range(2)]
    for r in records:
        path = root / r["campaign"] / r["task"] / r["label"] / f"s{r['seed']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(r))
    return records


@pytest.fixture
def drawn(monkeypatch):
    """{figure file name: (legend names of its curves, zero-shot line)} of every learning-curve figure drawn."""
    from daftrl.experiments import plots

    class Drawn(dict):
        q: dict  # {figure file name: its Q series} of the figures drawn with Q on the right

    calls, real = Drawn(), plots.learning_curves
    calls.q = {}

    def spy(stem, title, series, zero_shot, **kwargs):
        calls[stem.name] = ([s.name for s in series], zero_shot)
        if kwargs.get("q_series") is not None:
            calls.q[stem.name] = kwargs["q_series"]
        return real(stem, title, series, zero_shot, **kwargs)

    monkeypatch.setattr(plots, "learning_curves", spy)
    return calls


def test_one_figure_per_panel_of_the_paper_and_no_label_left_out(tmp_path, drawn):
    """Campaign online: per task one figure per paper panel with at least two of its labels there, captioned and
    linked; the labels in none of them (daft-omega0; reward-shaping on walker, where Figure 4 has no daft) in an
    `-other` figure, with daft where the task has it."""
    panel_store(tmp_path / "results")
    text = report.write_report(tmp_path / "results", tmp_path / "docs" / "results.md", reps=50)
    figures = tmp_path / "docs" / "img" / "results" / "online"
    assert {p.name for p in figures.glob("*-*.png") if not p.name.startswith(("profiles", "runtime"))} == {
        f"{CHEETAH}-figure-2.png", f"{CHEETAH}-figure-4.png", f"{CHEETAH}-other.png",
        f"{WALKER}-figure-5.png", f"{WALKER}-other.png"}
    assert not (figures / f"{CHEETAH}.png").exists() and not (figures / f"{WALKER}.png").exists()
    assert {name: names for name, (names, _) in drawn.items()} == {
        f"{CHEETAH}-figure-2": ["ft (n=2)", "daft (n=2)"],  # the paper's order; zero-shot is the dashed line
        f"{CHEETAH}-figure-4": ["daft (n=2)", "single-critic (n=2)", "reward-shaping (n=2)"],
        f"{CHEETAH}-other": ["daft (n=2)", "daft-omega0 (n=2)"],
        f"{WALKER}-figure-5": ["daft-h1 (n=2)", "daft-h20 (n=2)"],
        f"{WALKER}-other": ["reward-shaping (n=2)"]}
    cheetah = text.split(f"#### {CHEETAH}")[1].split("####")[0]
    assert ("The paper's Figure 2: `zero-shot`, `ft`, `daft`.\n\n"
            f"![{CHEETAH}: Figure 2](img/results/online/{CHEETAH}-figure-2.png)") in cheetah
    assert ("The paper's Figure 4 (ablations): `daft`, `single-critic`, `reward-shaping`.\n\n"
            f"![{CHEETAH}: Figure 4 (ablations)](img/results/online/{CHEETAH}-figure-4.png)") in cheetah
    assert ("Labels in no figure above, with `daft`: `daft`, `daft-omega0`.\n\n"
            f"![{CHEETAH}: other labels](img/results/online/{CHEETAH}-other.png)") in cheetah
    assert "figure-5" not in cheetah
    walker = text.split(f"#### {WALKER}")[1].split("####")[0]
    assert (f"The paper's Figure 5 (horizon H): `daft-h1` (no Q logged), `daft-h20` (no Q logged).\n\n"
            f"![{WALKER}: Figure 5") in walker  # records made without the learner's Q
    assert f"Labels in no figure above: `reward-shaping`.\n\n![{WALKER}: other labels]" in walker


def test_zero_shot_runs_are_the_dashed_line_not_a_curve(tmp_path, drawn):
    panel_store(tmp_path / "results")
    report.build_report(store.load_records(tmp_path / "results"), tmp_path, tmp_path / "img", reps=50)
    names, zero_shot = drawn[f"{CHEETAH}-figure-2"]
    assert zero_shot == pytest.approx(100.0)  # the dashed line: mean zero-shot of the task's adaptation runs
    assert not any(name.startswith("zero-shot") for name in names) and names


def test_a_campaign_without_panels_keeps_one_figure_of_every_label(tmp_path, drawn):
    """The same labels in campaign `main` (no panels): one `<task>.png` per task with every label, as before;
    campaign `online` beside it is split into panels."""
    panel_store(tmp_path / "results", "main")
    panel_store(tmp_path / "results", "online")
    text = report.write_report(tmp_path / "results", tmp_path / "docs" / "results.md", reps=50)
    main = text.split("\n## main\n")[1].split("\n## online\n")[0]
    assert f"![{CHEETAH}](img/results/main/{CHEETAH}.png)" in main and "The paper's" not in main
    assert f"![{WALKER}](img/results/main/{WALKER}.png)" in main
    assert {p.name for p in (tmp_path / "docs" / "img" / "results" / "main").glob("*.png")} == {
        f"{CHEETAH}.png", f"{WALKER}.png", "runtime.png"}
    assert drawn[CHEETAH][0] == ["daft (n=2)", "daft-omega0 (n=2)", "ft (n=2)", "reward-shaping (n=2)",
                                 "single-critic (n=2)", "zero-shot (n=2)"]
    assert f"{CHEETAH}-figure-2" in drawn  # online: panels


@pytest.mark.parametrize("out_name", ["results.md", "my results (v2).md"])  # links with a space and brackets
def test_write_report_removes_the_figures_it_no_longer_links(tmp_path, out_name):
    panel_store(tmp_path / "results")
    out = tmp_path / "docs" / out_name
    figures = out.parent / "img" / out.stem
    stale = [figures / "online" / f"{CHEETAH}.png", figures / "online" / f"{CHEETAH}.svg"]
    kept = [figures / "online" / "notes.txt", figures / "gone-campaign" / "x.png",  # not a figure; not reported
            figures / "online" / "hand-made.png"]  # in a campaign's folder, but the previous report did not link it
    for path in stale + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"old")
    out.write_text(f"# Results\n\n![old]({stale[0].relative_to(out.parent)})\n")  # the previous report linked it
    text = report.write_report(tmp_path / "results", out, reps=50)
    assert not any(path.exists() for path in stale) and all(path.exists() for path in kept)
    assert report.write_report(tmp_path / "results", out, reps=50) == text  # again: its own figures stay
    pngs = sorted(p.name for p in (figures / "online").glob("*.png") if p.name != "hand-made.png")
    assert pngs and all(f"(img/{out.stem}/online/{name})" in text for name in pngs)
    assert sorted(p.name for p in (figures / "online").glob("*.svg")) == [n.replace(".png", ".svg") for n in pngs]
    assert all((figures / "online" / name).stat().st_size > 3 for name in pngs)  # drawn, not the old bytes


def test_label_colors_stay_put_while_a_panel_campaigns_labels_arrive():
    from daftrl.experiments.paper import PAPER_FIGURE_PANELS
    from daftrl.experiments.report import label_colors

    every = {label for members in PAPER_FIGURE_PANELS["online"].values() for label in members} | {"daft-omega0"}
    full = label_colors("online", every)
    assert len(set(full.values())) == len(every)  # 11 labels, no colour shared
    early = label_colors("online", {"daft", "ft", "zero-shot", "single-critic"})
    assert early == {label: full[label] for label in early}
    assert full["daft"] == "#1f77b4"  # the reference label first
    # a campaign without panels keeps the sorted labels on matplotlib's default cycle
    assert label_colors("legacy-adapt", {"ft", "daft", "zero-shot"}) == {"daft": "C0", "ft": "C1", "zero-shot": "C2"}


def test_figure_5_draws_the_learners_q_of_the_labels_that_logged_it(tmp_path, drawn):
    """The paper's Figure 5 shows Q beside the returns (`PAPER_FIGURE_Q_PANELS`): the mean over seeds of the curve
    points' q over the records that have it; a label some of whose records lack it is named in the caption with how
    many have it. No other figure gets a Q axis."""
    from daftrl.experiments.paper import PAPER_FIGURE_PANELS, PAPER_FIGURE_Q_PANELS

    assert all(set(names) <= set(PAPER_FIGURE_PANELS[c]) for c, names in PAPER_FIGURE_Q_PANELS.items())
    panel_store(tmp_path / "results")  # no q anywhere: walker's daft-h1 and daft-h20 are drawn without Q
    FOOT = "walker-broken-right-foot"  # noqa: N806
    records = []
    for label, q in (("daft-h1", 10.0), ("daft", 20.0), ("daft-h20", None)):
        for seed in range(2):
            r = make_record("online", FOOT, label, seed, 1000.0 + 100 * seed, robot="walker")
            for p in r["curve"][1:]:
                if q is not None:
                    p["q"] = q + seed + p["step"] / BUDGET
            r["curve"][0]["q"] = None  # step 0: nothing learnt yet
            records.append(r)
    records[-1]["curve"][-1]["q"] = 5.0  # one daft-h20 seed has q: drawn over that seed, the caption says so
    for r in records:
        store.write_record(tmp_path / "results", r)
    text = report.write_report(tmp_path / "results", tmp_path / "docs" / "results.md", reps=50)
    q = drawn.q[f"{FOOT}-figure-5"]
    assert [s.name for s in q] == ["daft-h1 (n=2)", "daft (n=2)", "daft-h20 (n=1)"]
    assert list(q[2].steps) == [BUDGET] and list(q[2].mean) == [5.0]
    assert list(q[0].steps) == list(range(10_000, BUDGET + 1, 10_000))
    assert q[0].mean == pytest.approx([10.5 + s / BUDGET for s in q[0].steps])  # mean over the two seeds
    assert q[1].mean == pytest.approx([20.5 + s / BUDGET for s in q[1].steps]) and q[1].lo is not None
    assert [s.color for s in q] == [report.label_colors("online", {"daft-h1", "daft", "daft-h20"})[label]
                                    for label in ("daft-h1", "daft", "daft-h20")]  # the label's colour
    assert drawn[f"{FOOT}-figure-5"][0] == ["daft-h1 (n=2)", "daft (n=2)", "daft-h20 (n=2)"]  # returns: all
    assert set(drawn.q) == {f"{FOOT}-figure-5"}  # Figures 2 and 4, and walker's Figure 5 (no q): one axis
    foot = text.split(f"#### {FOOT}")[1].split("####")[0]
    assert ("The paper's Figure 5 (horizon H): `daft-h1`, `daft`, `daft-h20` (Q of 1 of 2 seeds). Right: the "
            "learner's Q "
            "over training") in foot
    walker = text.split(f"#### {WALKER}")[1].split("####")[0]
    assert ("The paper's Figure 5 (horizon H): `daft-h1` (no Q logged), `daft-h20` (no Q logged).\n\n"
            in walker)
    assert (tmp_path / "docs" / "img" / "results" / "online" / f"{FOOT}-figure-5.png").is_file()
