"""`daftrl grid run --deadline`: no job starts that would end after the deadline at its estimated run time."""

import datetime as dt
import time

import pytest

from daftrl.experiments import grid, store
from daftrl.experiments.executors import run_grid
from daftrl.experiments.grid_command import parse_deadline

TASK = "hopper-big-head"
TINY = {"steps": 200, "eval_every": 200, "eval_episodes": 1, "batch_size": 32, "learning_starts": 32}


def jobs(methods=("ft", "daft")):
    return grid.expand({"campaign": "tiny", "defaults": TINY,
                        "block": [{"tasks": [TASK], "methods": list(methods), "seeds": [0]}]})


@pytest.mark.parametrize("executor", ["serial", "local"])
def test_a_passed_deadline_starts_nothing(tmp_path, executor):
    js = jobs()
    res = run_grid(js, tmp_path / "results", executor=executor, workers=1, quiet=True, deadline=time.time() - 1)
    assert (res["deferred"], res["done"], res["failed"]) == (2, 0, 0), res["errors"]
    assert not any(j.run_dir().exists() for j in js)  # nothing was created for a job that did not start
    assert not (tmp_path / "results").exists() or store.load_records(tmp_path / "results") == []


def test_a_job_starts_only_if_its_estimated_time_fits(tmp_path):
    ft, = jobs(("ft",))
    measured = {"label": "ft", "task": TASK, "kind": "adapt", "method": "ft", "status": "finished", "steps": 100,
                "wall_time_s": 50.0}  # 0.5 s per step: the 200-step job needs ~100 s
    assert grid.start_times([ft], 1000.0, [measured]) == {ft.run_id: 900.0}
    assert grid.start_times([ft], 1000.0, []) == {ft.run_id: 1000.0}  # nothing to estimate from: the deadline
    assert grid.start_times([ft], None, [measured]) == {ft.run_id: None}
    assert grid.run_job(ft, start_by=time.time() - 1)["status"] == "deferred"
    res = run_grid([ft], tmp_path / "results", quiet=True, deadline=time.time() + 3600)
    assert (res["done"], res["deferred"]) == (1, 0)


def test_deadline_forms():
    now = dt.datetime(2026, 12, 5, 21, 0).timestamp()
    assert parse_deadline("+2h", now) == now + 7200
    assert parse_deadline("+1h30m", now) == now + 5400 and parse_deadline("+90m", now) == now + 5400
    assert parse_deadline("23:40", now) == dt.datetime(2026, 12, 5, 23, 40).timestamp()
    assert parse_deadline("20:30", now) == dt.datetime(2026, 12, 6, 20, 30).timestamp()  # passed today: tomorrow
    assert parse_deadline("2026-12-06T01:15", now) == dt.datetime(2026, 12, 6, 1, 15).timestamp()
    for bad in ("soon", "+", "25:00", "+2d"):
        with pytest.raises(ValueError, match="--deadline"):
            parse_deadline(bad, now)
