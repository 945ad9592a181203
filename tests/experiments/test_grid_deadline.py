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
    assert grid.latest_start(ft, 1000.0, [measured]) == 900.0
    assert grid.latest_start(ft, 1000.0, []) == 1000.0  # nothing to estimate from: the deadline
    assert grid.latest_start(ft, None, [measured]) is None
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


def test_a_record_stored_during_the_grid_informs_the_later_jobs_start_time(tmp_path, monkeypatch):
    """The latest start time of a job is computed when it starts, from the store as it is then: the first run of a
    cell, measured at 100 s, makes the second start only if 100 s are left."""
    from daftrl.experiments import executors

    js = grid.expand({"campaign": "tiny", "defaults": TINY,
                      "block": [{"tasks": [TASK], "methods": ["ft"], "seeds": [0, 1]}]})
    given = {}

    def measured(job, cpus=None, root=None, start_by=None):
        given[job.seed] = start_by
        steps = job.identity["steps"]
        return {"status": "done", "record": {
            "schema_version": 1, "run_id": job.run_id, "identity": job.identity, "campaign": job.campaign,
            "label": job.label, "kind": job.kind, "task": job.task, "method": job.method, "seed": job.seed,
            "status": "finished", "budget_steps": steps, "steps": steps, "config": {}, "method_config": {},
            "overrides": {}, "curve": [{"step": 0, "return_mean": 1.0}, {"step": steps, "return_mean": 2.0}],
            "final_return": 2.0, "wall_time_s": 100.0, "provenance": {}}}

    monkeypatch.setattr(executors, "run_job", measured)
    deadline = time.time() + 3600
    assert run_grid(js, tmp_path / "results", quiet=True, deadline=deadline)["done"] == 2
    assert given == {0: deadline, 1: pytest.approx(deadline - 100.0, abs=1e-3)}


def test_the_local_executor_hands_a_job_to_the_pool_when_a_worker_is_free(tmp_path):
    """So each job's start time is asked for when it starts, not all at once when the grid begins."""
    from daftrl.experiments import executors

    asked = []
    outcomes = executors.local(jobs(), 1, None, tmp_path, lambda job: asked.append(job.method) or 0.0)
    assert next(outcomes)["status"] == "deferred" and asked == ["ft"]  # 0.0: long past, nothing starts
    assert [o["status"] for o in outcomes] == ["deferred"] and asked == ["ft", "daft"]
