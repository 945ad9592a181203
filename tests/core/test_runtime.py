"""Runtime comparison (Figure 3 raw material): wall times and returns read from run dirs, partial runs projected."""

import pytest

from daftrl.experiments.runtime import compare, default_runs, run_summary
from daftrl.runs import RunDir


def _fake_run(path, method, steps, seconds_per_step, reached, ret=lambda t: t / 100.0):
    run = RunDir(path)
    run.write_config({"method": method, "seed": 0, "steps": steps})
    for t in range(0, reached + 1, 1000):
        run.log({"kind": "eval", "step": t, "wall_time": 5.0 + t * seconds_per_step, "return_mean": ret(t)})
    return path


def test_finished_run_final_return_and_wall_time(tmp_path):
    d = _fake_run(tmp_path / "daft-s0", "daft", 10_000, 0.01, 10_000)
    s = run_summary(d)
    assert s["finished"] and s["target_steps"] == 10_000 and s["budget_target_steps"] == 10_000
    assert s["wall_time_h"] == pytest.approx((5.0 + 100.0) / 3600)
    assert s["hours_per_budget"] == pytest.approx(s["wall_time_h"])
    assert s["return"] == pytest.approx((60 + 70 + 80 + 90 + 100) / 5)  # mean of the last 5 evaluations
    assert s["method"] == "daft" and len(s["curve"]) == 11


def test_partial_run_is_projected_linearly_and_ratio_to_daft(tmp_path):
    _fake_run(tmp_path / "adapt" / "daft-s0", "daft", 10_000, 0.01, 10_000)
    _fake_run(tmp_path / "adapt" / "daft-s1", "daft", 10_000, 0.03, 10_000)
    _fake_run(tmp_path / "cotrain" / "par-s0", "par", 10_000, 0.5, 4_000)
    (tmp_path / "cotrain" / "par-sweep").mkdir()  # not a seed directory: ignored
    runs = default_runs("t", tmp_path, tmp_path / "adapt", tmp_path / "cotrain", ("daft", "par", "vgdf"))
    assert set(runs) == {"daft", "par"} and len(runs["daft"]) == 2 and len(runs["par"]) == 1
    res = compare(runs, budget=10_000)
    par, daft = res["methods"]["par"], res["methods"]["daft"]
    assert par["projected"] and not daft["projected"]
    assert par["hours_per_budget"] == pytest.approx((5.0 + 2000.0) / 3600 * 10_000 / 4_000)
    assert daft["hours_per_budget"] == pytest.approx(((5 + 100) + (5 + 300)) / 2 / 3600)
    assert par["vs_reference"] == pytest.approx(par["hours_per_budget"] / daft["hours_per_budget"])
    assert par["recent_hours_per_budget"] == pytest.approx(0.5 * 10_000 / 3600)
    assert daft["recent_vs_reference"] == pytest.approx(1.0)
    assert par["return"] == pytest.approx(40.0)  # a partial run reports its latest evaluation
    assert daft["vs_reference"] == 1.0


def test_recent_rate_sees_a_change_of_speed(tmp_path):
    """A run that ran slowly for its first half (another load) and fast later: the recent rate is the later one."""
    run = RunDir(tmp_path / "par-s0")
    run.write_config({"method": "par", "seed": 0, "steps": 60_000})
    wall = 0.0
    for t in range(0, 60_001, 1000):
        run.log({"kind": "eval", "step": t, "wall_time": wall, "return_mean": 0.0})
        wall += 30.0 if t < 30_000 else 10.0
    s = run_summary(tmp_path / "par-s0")
    assert s["recent_hours_per_budget"] == pytest.approx(10.0 * 60 / 3600)
    assert s["hours_per_budget"] == pytest.approx((30 * 30 + 10 * 30) / 3600)


def test_run_without_evaluations_is_skipped(tmp_path):
    RunDir(tmp_path / "ft-s0").write_config({"method": "ft", "steps": 100})
    assert run_summary(tmp_path / "ft-s0") is None
    _fake_run(tmp_path / "vgdf-s0", "vgdf", 10_000, 1.0, 0)  # only the step-0 evaluation: no rate yet
    assert run_summary(tmp_path / "vgdf-s0") is None
    res = compare({"ft": [tmp_path / "ft-s0"]})
    assert res["methods"] == {}


def test_trend_projection_integrates_a_growing_cost(tmp_path):
    """A cost per step growing linearly with the data (VGDF's model refit): the trend projection recovers the exact
    total, the linear one underestimates it; a run at a constant cost gets the same from both."""
    run = RunDir(tmp_path / "vgdf-s0")
    run.write_config({"method": "vgdf", "seed": 0, "steps": 100_000})
    total = lambda t: 0.2 * t + 0.5e-5 * t**2  # wall time at step t: the integral of 0.2 + 1e-5 t s/step  # noqa: E731
    for t in range(0, 40_001, 1000):
        run.log({"kind": "eval", "step": t, "wall_time": total(t), "return_mean": 0.0})
    s = run_summary(tmp_path / "vgdf-s0")
    assert not s["finished"]
    assert s["trend_hours_per_budget"] == pytest.approx(total(100_000) / 3600, rel=1e-6)
    assert s["hours_per_budget"] < 0.8 * s["trend_hours_per_budget"]  # the linear projection is a lower bound
    flat = _fake_run(tmp_path / "par-s0", "par", 10_000, 0.5, 4_000)
    f = run_summary(flat, 10_000)
    assert f["trend_hours_per_budget"] == pytest.approx((5.0 + 0.5 * 10_000) / 3600)


def test_trend_projection_of_a_finished_run_is_its_wall_time(tmp_path):
    s = run_summary(_fake_run(tmp_path / "daft-s0", "daft", 10_000, 0.01, 10_000))
    assert s["trend_hours_per_budget"] == pytest.approx(s["wall_time_h"])
    short = run_summary(_fake_run(tmp_path / "ft-s0", "ft", 2_000, 0.01, 2_000))  # too few intervals to fit
    assert short["trend_hours_per_budget"] == pytest.approx(short["hours_per_budget"])
    over = run_summary(_fake_run(tmp_path / "sgft-s0", "sgft", 12_000, 0.01, 12_000), budget=10_000)
    assert over["trend_hours_per_budget"] == pytest.approx(over["hours_per_budget"])  # scaled to the budget


def test_carry_over_keeps_earlier_methods_without_a_run_here(tmp_path):
    """A new machine has no run dirs for FT/DAFT: regenerating keeps them from the committed file, stamped with
    where they were measured; a method measured here (PAR) replaces its older entry; ratios are recomputed."""
    from daftrl.experiments.runtime import carry_over

    _fake_run(tmp_path / "old" / "daft-s0", "daft", 10_000, 0.01, 10_000)
    _fake_run(tmp_path / "old" / "par-s0", "par", 10_000, 0.5, 4_000)
    previous = {"task": "t", **compare(default_runs("t", tmp_path, tmp_path / "old", tmp_path / "none"),
                                       budget=10_000),
                "provenance": {"git_commit": "abc", "date": "2026-01-01", "machine": {"cores": 2}}}
    _fake_run(tmp_path / "new" / "par-s0", "par", 10_000, 0.2, 10_000)
    new = compare(default_runs("t", tmp_path, tmp_path / "new", tmp_path / "none"), budget=10_000)
    assert set(new["methods"]) == {"par"} and new["methods"]["par"]["vs_reference"] is None

    merged, carried = carry_over(new, previous, ("daft", "par", "vgdf"))
    assert carried == ["daft"] and list(merged["methods"]) == ["daft", "par"]
    daft, par = merged["methods"]["daft"], merged["methods"]["par"]
    assert daft["measured"]["git_commit"] == "abc" and "measured" not in par
    assert not par["projected"] and par["hours_per_budget"] == pytest.approx((5 + 2000) / 3600)  # the new run
    assert par["vs_reference"] == pytest.approx(par["hours_per_budget"] / daft["hours_per_budget"])
    assert daft["vs_reference"] == 1.0

    again, carried = carry_over(merged, {**merged, "provenance": {"git_commit": "later"}}, ("daft", "par"))
    assert carried == [] and again["methods"]["daft"]["measured"]["git_commit"] == "abc"  # stamp kept

    merged2, _ = carry_over({**new, "methods": {}}, {**merged, "provenance": {"git_commit": "later"}}, ("daft",))
    assert merged2["methods"]["daft"]["measured"]["git_commit"] == "abc"  # a re-carried entry keeps its origin
    with pytest.raises(ValueError, match="target steps"):
        carry_over(compare({}, budget=5_000), previous, ("daft",))


def test_carry_over_of_an_old_table_derives_the_trend_and_skips_restarted_runs(tmp_path):
    """A table written before trend projections: the carried-over partial run gets its trend from its stored curve.
    A method whose run dir exists but has not evaluated yet (a restart) is not revived from the old table."""
    from daftrl.experiments.runtime import carry_over

    total = lambda t: 0.2 * t + 0.5e-5 * t**2  # noqa: E731
    _fake_run(tmp_path / "old" / "daft-s0", "daft", 100_000, 0.01, 100_000)
    run = RunDir(tmp_path / "old" / "vgdf-s0")
    run.write_config({"method": "vgdf", "seed": 0, "steps": 100_000})
    for t in range(0, 40_001, 1000):
        run.log({"kind": "eval", "step": t, "wall_time": total(t), "return_mean": 0.0})
    previous = compare(default_runs("t", tmp_path, tmp_path / "old", tmp_path / "none"))
    for v in previous["methods"].values():  # as written before the trend existed
        del v["trend_hours_per_budget"]
        for r in v["runs"]:
            del r["trend_hours_per_budget"]
    merged, carried = carry_over(compare({}), previous, ("daft", "vgdf"))
    assert carried == ["daft", "vgdf"]
    assert merged["methods"]["vgdf"]["trend_hours_per_budget"] == pytest.approx(total(100_000) / 3600, rel=1e-6)
    assert merged["methods"]["daft"]["trend_hours_per_budget"] == merged["methods"]["daft"]["hours_per_budget"]

    _fake_run(tmp_path / "new" / "daft-s0", "daft", 100_000, 0.02, 100_000)
    RunDir(tmp_path / "new" / "vgdf-s0").write_config({"method": "vgdf", "seed": 0, "steps": 100_000})  # restarted
    runs = default_runs("t", tmp_path, tmp_path / "new", tmp_path / "none")
    merged, carried = carry_over(compare(runs), previous, ("daft", "vgdf"), tuple(runs))
    assert carried == [] and set(merged["methods"]) == {"daft"}


def test_ratio_between_a_carried_over_row_and_a_measured_one_is_flagged(tmp_path):
    from daftrl.experiments.runtime import carry_over

    _fake_run(tmp_path / "old" / "daft-s0", "daft", 10_000, 0.01, 10_000)
    _fake_run(tmp_path / "old" / "ft-s0", "ft", 10_000, 0.01, 10_000)
    previous = compare(default_runs("t", tmp_path, tmp_path / "old", tmp_path / "none"), budget=10_000)
    _fake_run(tmp_path / "new" / "par-s0", "par", 10_000, 0.5, 10_000)
    new = compare(default_runs("t", tmp_path, tmp_path / "new", tmp_path / "none"), budget=10_000)
    merged, _ = carry_over(new, previous, ("ft", "daft", "par"))
    flags = {m: v["ratio_across_tables"] for m, v in merged["methods"].items()}
    assert flags == {"ft": False, "daft": False, "par": True}
    assert not any(v["ratio_across_tables"] for v in previous["methods"].values())
