"""`daftrl grid`: specs expand into validated jobs with stable ids; every executor runs a tiny grid into the store;
re-running is a no-op; a SIGTERM'd grid resumes to the same records as an uninterrupted one."""

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from daftrl.experiments import grid, store
from daftrl.experiments.executors import run_grid
from daftrl.experiments.grid import GridError

TASK = "hopper-big-head"
TINY = {"steps": 200, "eval_every": 200, "eval_episodes": 1, "batch_size": 32, "learning_starts": 32}


def spec(methods=("ft", "daft"), seeds=(0,), **options):
    return {"campaign": "tiny", "defaults": {**TINY, **options},
            "block": [{"tasks": [TASK], "methods": list(methods), "seeds": list(seeds)}]}


def test_spec_expands_into_jobs_with_stable_ids():
    jobs = grid.expand(spec(seeds=(0, 1)))
    assert sorted(j.name() for j in jobs) == [f"tiny/{TASK}/{m}/s{s}" for m in ("daft", "ft") for s in (0, 1)]
    assert [j.run_id for j in grid.expand(spec(seeds=(0, 1)))] == [j.run_id for j in jobs]
    ft = next(j for j in jobs if j.method == "ft" and j.seed == 0)
    assert ft.method_options == {"batch_size": 32, "learning_starts": 32} and ft.run_options["eval_every"] == 200
    # an option set to its default does not change the id
    assert grid.expand(spec(methods=("ft",), gamma=0.99))[0].run_id == ft.run_id
    assert grid.expand(spec(methods=("ft",), gamma=0.98))[0].run_id != ft.run_id


def test_robot_and_task_in_an_option_are_filled_in_per_task():
    s = spec(methods=("ft",), expert="{robot}-cql")
    s["block"][0]["tasks"] = [TASK, "walker-no-right-thigh"]
    jobs = {j.task: j for j in grid.expand(s)}
    assert jobs[TASK].run_options["expert"] == "hopper-cql"
    assert jobs["walker-no-right-thigh"].run_options["expert"] == "walker-cql"
    block = {"kind": "cotrain", "tasks": [TASK], "methods": ["h2o"], "seeds": [0],
             "options": {"dataset": "daftrl/{robot}/medium-v0"}}
    h2o = grid.expand({"campaign": "tiny", "block": [block]})
    assert h2o[0].run_options["dataset"] == "daftrl/hopper/medium-v0"


@pytest.mark.parametrize("edit, match", [
    (lambda s: s["defaults"].update(learning_start=5), "no option 'learning_start' \\(did you mean learning_starts"),
    (lambda s: s["block"][0].update(tasks=["hopper-big-hed"]), "hopper-big-hed"),
    (lambda s: s["block"][0].update(methods=["dafty"]), "unknown method 'dafty'"),
    (lambda s: s["block"][0].update(seeds=[]), "`seeds` must be a non-empty list"),
    (lambda s: s["block"][0].update(colour="red"), "unknown key\\(s\\) colour"),
    (lambda s: s.pop("campaign"), "no campaign"),
    (lambda s: s["block"].append({**s["block"][0], "options": {"gamma": 0.9}}), "defined twice"),
    (lambda s: s["defaults"].update(beta0=0.5), "ft has no option 'beta0'"),
])
def test_bad_specs_are_refused_before_anything_runs(edit, match):
    s = spec()
    edit(s)
    with pytest.raises(GridError, match=match):
        grid.expand(s)


def test_toml_file_and_command_line_give_the_same_jobs(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text(f'campaign = "tiny"\n[[block]]\ntasks = ["{TASK}"]\nmethods = ["ft"]\nseeds = [0, 1]\n'
                    'steps = 200\noptions = { eval_every = 200, learning_starts = 32 }\n')
    from_file = grid.expand(grid.load_spec(path))
    from_flags = grid.expand(grid.spec_from_flags("tiny", [TASK], ["ft"], [0, 1], 200, "adapt", "{method}",
                                                  ["eval_every=200", "learning-starts=32"]))
    assert [j.run_id for j in from_file] == [j.run_id for j in from_flags]
    path.write_text("campaign = [")
    with pytest.raises(GridError, match="not valid TOML"):
        grid.load_spec(path)


def test_serial_grid_stores_records_and_a_rerun_is_a_no_op(tmp_path):
    jobs = grid.expand(spec())
    first = run_grid(jobs, tmp_path / "results", quiet=True)
    assert (first["done"], first["failed"]) == (2, 0)
    records = store.load_records(tmp_path / "results")
    assert sorted(r["label"] for r in records) == ["daft", "ft"]
    for r in records:
        assert [p["step"] for p in r["curve"]] == [0, 200] and r["zero_shot"] == r["curve"][0]["return_mean"]
        assert r["expert"]["name"] == "hopper" and r["expert"]["checksum"]
        assert r["train_time_s"] < r["wall_time_s"] and r["updates_per_s"] > 0
    again = run_grid(jobs, tmp_path / "results", quiet=True)
    assert (again["skipped"], again["done"]) == (2, 0)
    # a job whose record another grid process stored after this one started is skipped when its turn comes
    assert grid.run_job(jobs[0], root=tmp_path / "results")["status"] == "skipped"
    rows = grid.status(jobs, tmp_path / "results")
    assert [r.get("done") for r in rows] == [1, 1] and all(r["remaining_core_hours"] == 0 for r in rows)


def test_the_estimate_of_a_zero_shot_run_is_its_evaluation_not_a_training_budget():
    """A zero-shot record takes no step (one evaluation, ~0.3 s): other zero-shot jobs are estimated from its wall
    time, training jobs from the time per step of trained runs."""
    job = grid.expand(spec())[0]

    records = [rec("zero-shot", 0, 0.3), rec("zero-shot", 0, 0.5), rec(job.method, 1000, 36.0)]
    zero_shot = dataclasses.replace(job, label="zs", method="zero-shot")
    assert grid._estimate_hours(zero_shot, records) == pytest.approx(0.4 / 3600)
    trained = dataclasses.replace(job, label="new")
    assert grid._estimate_hours(trained, records) == pytest.approx(36.0 / 1000 * job.identity["steps"] / 3600)
    assert grid._estimate_hours(trained, records[:2]) is None  # nothing trained has finished yet
    assert grid._estimate_hours(zero_shot, records[2:]) is None


def started(job, paces, step=5000, checkpoint_at=None, learning_starts=0, torn=False):
    """Give `job` a run directory whose evaluations every `step` steps took `paces` seconds per step, and a
    checkpoint written after evaluation `checkpoint_at` (default: the last); returns the evaluation rows."""
    import json

    from daftrl.checkpoint import save_arrays
    from daftrl.rundir import RunDir

    run = RunDir(job.run_dir())
    run.write_config({"method_config": {"learning_starts": learning_starts}})
    rows, wall = [{"kind": "eval", "step": 0, "wall_time": 1.0}], 1.0
    for i, pace in enumerate(paces, 1):
        wall += pace * step
        rows.append({"kind": "eval", "step": i * step, "wall_time": wall})
    text = "".join(json.dumps(r) + "\n" for r in rows)
    run.metrics_path.write_text(text + ('{"kind": "eval", "step": 9' if torn else ""))
    last = rows[len(rows) - 1 if checkpoint_at is None else checkpoint_at]
    save_arrays(run.checkpoint, {}, "adapt", {"step": last["step"], "wall_time": last["wall_time"] + 1.0})
    return rows


def rec(method, steps, wall, label=None, task="other"):
    return {"label": label or method, "task": task, "kind": "adapt", "method": method, "status": "finished",
            "steps": steps, "wall_time_s": wall}


def test_a_started_run_is_estimated_on_its_steps_left_at_its_pace():
    """A resumable run needs only its steps left, at its last interval's pace, or at the store's when runs of the
    same label or method there were slower; runs of another method do not set its pace."""
    job = grid.expand(spec(methods=("ft",), steps=40_000))[0]
    assert grid._own_pace(job, 40_000) is None  # never started
    started(job, [0.10, 0.10, 0.10, 0.30])  # 2e4 done; the last interval is slower
    assert grid._estimate_hours(job, []) == pytest.approx(20_000 * 0.30 / 3600)
    slower = rec("ft", 1000, 500.0)  # 0.5 s per step, same method
    assert grid._estimate_hours(job, [slower]) == pytest.approx(20_000 * 0.5 / 3600)
    other = rec("bc-vgdf", 1000, 500.0)  # same kind only: not its pace
    assert grid._estimate_hours(job, [other]) == pytest.approx(20_000 * 0.30 / 3600)
    rows, = grid.status([job], "no-store")
    assert rows["remaining_core_hours"] == pytest.approx(20_000 * 0.30 / 3600)


def test_a_started_run_counts_what_its_checkpoint_holds():
    job = grid.expand(spec(methods=("ft",), steps=40_000))[0]
    started(job, [0.1] * 6, checkpoint_at=4)  # evaluated to 3e4, checkpointed at 2e4: resumes from 2e4
    assert grid._own_pace(job, 40_000) == (20_000, pytest.approx(0.1))
    job.run_dir().joinpath("checkpoint.safetensors").unlink()  # killed before its first checkpoint: starts over
    assert grid._own_pace(job, 40_000) is None
    assert grid._estimate_hours(job, [rec("ft", 1000, 200.0)]) == pytest.approx(40_000 * 0.2 / 3600)


def test_a_run_being_written_elsewhere_counts_all_its_rows(monkeypatch):
    from daftrl.rundir import RunDir

    job = grid.expand(spec(methods=("ft",), steps=40_000))[0]
    started(job, [0.1] * 6, checkpoint_at=2, torn=True)  # its last line half written
    monkeypatch.setattr(RunDir, "locked", lambda self: True)
    assert grid._own_pace(job, 40_000) == (30_000, pytest.approx(0.1))


def test_a_growing_step_cost_is_extrapolated_but_noise_and_the_start_of_learning_are_not():
    job = grid.expand(spec(methods=("ft",), steps=100_000))[0]
    growing = [0.03 + 0.004 * i for i in range(14)]  # BC-VGDF-like: each interval dearer, to 7e4
    started(job, growing)
    done, pace = grid._own_pace(job, 100_000)
    exact = sum((0.03 + 0.004 * i) * 5000 for i in range(14, 20))  # the six intervals left, on the same line
    assert done == 70_000 and pace * 30_000 == pytest.approx(exact)
    shutil.rmtree(job.run_dir())
    started(job, [0.055, 0.055, 0.054, 0.063])  # a flat pace, its last interval slowed by a busy machine
    assert grid._own_pace(job, 100_000) == (20_000, pytest.approx(0.063))
    shutil.rmtree(job.run_dir())
    started(job, [0.01] * 9 + [0.06] * 3, learning_starts=45_000)  # updates begin at 4.5e4: a jump, no trend
    assert grid._own_pace(job, 100_000) == (60_000, pytest.approx(0.06))


def test_a_failed_run_is_recorded_and_the_others_go_on(tmp_path, monkeypatch):
    jobs = grid.expand(spec())
    real = grid._run

    def fail_ft(job, d):
        if job.method == "ft":
            raise RuntimeError("boom")
        return real(job, d)

    monkeypatch.setattr(grid, "_run", fail_ft)
    res = run_grid(jobs, tmp_path / "results", quiet=True)
    assert (res["done"], res["failed"]) == (1, 1) and "RuntimeError: boom" in res["errors"][0]
    rows = {r["label"]: r for r in grid.status(jobs, tmp_path / "results")}
    assert rows["ft"]["failed"] == 1 and rows["ft"]["failed_errors"] == [{"error": "RuntimeError: boom", "seeds": [0]}]
    assert rows["ft"]["remaining_core_hours"] > 0  # estimated from daft's measured time
    monkeypatch.setattr(grid, "_run", real)
    assert run_grid(jobs, tmp_path / "results", quiet=True)["done"] == 1  # the retry clears the failure


def test_status_names_the_seeds_of_each_distinct_failure_once(tmp_path, capsys):
    from daftrl.experiments.grid_command import print_status

    jobs = grid.expand(spec(methods=("ft",), seeds=(0, 1, 2)))
    for job, error in zip(jobs, ["ValueError: no expert", "ValueError: no expert", "RuntimeError: boom"], strict=True):
        job.run_dir().mkdir(parents=True)
        (job.run_dir() / "failed.json").write_text(f'{{"error": "{error}"}}')
    (row,) = grid.status(jobs, tmp_path / "results")
    assert row["failed"] == 3
    assert row["failed_errors"] == [{"error": "ValueError: no expert", "seeds": [jobs[0].seed, jobs[1].seed]},
                                    {"error": "RuntimeError: boom", "seeds": [jobs[2].seed]}]
    print_status([row])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("failed in")]
    assert lines == [f"failed in ft {TASK} (seeds {jobs[0].seed}, {jobs[1].seed}): ValueError: no expert",
                     f"failed in ft {TASK} (seed {jobs[2].seed}): RuntimeError: boom"]


def test_local_executor_runs_one_pinned_process_per_worker(tmp_path):
    jobs = grid.expand(spec())
    res = run_grid(jobs, tmp_path / "results", executor="local", workers=2, quiet=True)
    assert (res["done"], res["failed"]) == (2, 0), res["errors"]
    serial = run_grid(jobs, tmp_path / "serial", quiet=True)  # same runs: same numbers as in this process
    assert serial["done"] == 2  # their run dirs are finished: the records are rebuilt, nothing reruns
    a = {r["label"]: r["curve"] for r in store.load_records(tmp_path / "results")}
    b = {r["label"]: r["curve"] for r in store.load_records(tmp_path / "serial")}
    assert a == b


def test_ray_executor_on_a_local_instance(tmp_path):
    pytest.importorskip("ray")
    jobs = grid.expand(spec(seeds=(1,)))
    res = run_grid(jobs, tmp_path / "results", executor="ray", workers=2, quiet=True)
    assert (res["done"], res["failed"]) == (2, 0), res["errors"]
    assert sorted(r["seed"] for r in store.load_records(tmp_path / "results")) == [1, 1]


@pytest.mark.slow  # make test-slow (CI runs it); kept out of make test's 5-minute budget
def test_sigterm_then_rerun_equals_an_uninterrupted_grid(tmp_path):
    """The grid process (local executor, one worker, two jobs) gets SIGTERM mid-run: the running job checkpoints,
    the pending one never starts, the grid exits 143, and running it again resumes and stores the same records as
    a grid that never stopped."""
    toml = tmp_path / "g.toml"
    toml.write_text(f'campaign = "tiny"\n[[block]]\ntasks = ["{TASK}"]\nmethods = ["daft"]\nseeds = [0, 1]\n'
                    'steps = 1000\noptions = { eval_every = 500, eval_episodes = 1, batch_size = 32, '
                    'learning_starts = 32, checkpoint_every = 250 }\n')
    cmd = [sys.executable, "-m", "daftrl.cli", "grid", "run", str(toml), "--executor", "local", "--workers", "1"]
    env_a = {**os.environ, "DAFTRL_HOME": str(tmp_path / "home-a")}
    job = next(j for j in grid.expand(grid.load_spec(toml)) if j.seed == 0)
    proc = subprocess.Popen(cmd + ["--results", str(tmp_path / "a")], env=env_a, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    checkpoint = tmp_path / "home-a" / job.run_dir().relative_to(Path(os.environ["DAFTRL_HOME"])) / \
        "checkpoint.safetensors"
    deadline = time.time() + 300
    while not checkpoint.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 143, out
    assert not (tmp_path / "a").exists() or not list((tmp_path / "a").rglob("*.json"))
    rerun = subprocess.run(cmd + ["--results", str(tmp_path / "a")], env=env_a, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    straight = subprocess.run(cmd + ["--results", str(tmp_path / "b")], capture_output=True, text=True,
                              env={**os.environ, "DAFTRL_HOME": str(tmp_path / "home-b")})
    assert straight.returncode == 0, straight.stderr
    a, b = store.load_records(tmp_path / "a"), store.load_records(tmp_path / "b")
    assert len(a) == len(b) == 2
    for x, y in zip(a, b, strict=True):
        assert x["run_id"] == y["run_id"] and store.same_result(x, y) and not y["resumes"]
    assert [len(x["resumes"]) for x in a] == [1, 0]  # seed 0 was stopped and resumed, seed 1 never started


def test_a_job_another_process_is_running_is_left_untouched(tmp_path):
    """Two grid processes may reach the same job: the second must not clear the first one's early log rows (it
    holds no checkpoint yet) - it reports the job busy and touches nothing."""
    job = grid.expand(spec(methods=("ft",)))[0]
    d = job.run_dir()
    d.mkdir(parents=True)
    (d / "metrics.jsonl").write_text('{"kind": "eval", "step": 0}\n')
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from daftrl.rundir import RunDir; "
                               "RunDir(sys.argv[1]).lock(); print('locked', flush=True); time.sleep(60)", str(d)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert grid.run_job(job)["status"] == "busy"
        assert (d / "metrics.jsonl").read_text() == '{"kind": "eval", "step": 0}\n'
    finally:
        holder.kill()


def test_a_run_with_lost_evaluation_rows_is_not_stored(tmp_path):
    from daftrl.experiments.store import RecordError, check_complete

    curve = [{"step": s} for s in (0, 100, 200)]
    check_complete(curve, 200, 100, "run")
    with pytest.raises(RecordError, match=r"missing steps \[0\]"):
        check_complete(curve[1:], 200, 100, "run")
    check_complete([{"step": 0}, {"step": 100}, {"step": 150}], 150, 100, "run")  # a last step off the grid


# ----------------------------------------------------------------------------- defects found by a review
def record_of(job, final=100.0, wall=10.0, **method_config):
    """A valid record of `job` as its run would leave it (its resolved configuration), without running it."""
    steps, resolved = job.identity["steps"], getattr(job, "resolved", {})
    return {"schema_version": 1, "run_id": job.run_id, "identity": job.identity, "campaign": job.campaign,
            "label": job.label, "kind": job.kind, "task": job.task, "robot": "hopper", "method": job.method,
            "seed": job.seed, "status": "finished", "budget_steps": steps, "steps": steps,
            "config": {k: v for k, v in resolved.get("config", {}).items() if k not in store.NOT_IN_ID},
            "method_config": {**resolved.get("method_config", {}), **method_config}, "overrides": {},
            "curve": [{"step": 0, "return_mean": 1.0}, {"step": steps, "return_mean": final}],
            "final_return": final, "zero_shot": 1.0, "wall_time_s": wall, "provenance": {}}


def changed_default(monkeypatch, method, **defaults):
    """Make `defaults` the method's defaults from now on, as a later commit retuning them would."""
    from daftrl import algos

    spec = algos.REGISTRY[method]
    before = spec.robot_defaults
    monkeypatch.setitem(algos.REGISTRY, method, dataclasses.replace(
        spec, robot_defaults=lambda robot: {**(before(robot) if before else {}), **defaults}))


def test_two_campaigns_may_share_a_run_but_one_campaign_holds_it_under_one_label():
    a = {"campaign": "study", "tasks": [TASK], "methods": ["ft"], "seeds": [0]}
    jobs = grid.expand({"defaults": TINY, "block": [a, {**a, "campaign": "main"}]})
    assert sorted(j.name() for j in jobs) == [f"main/{TASK}/ft/s0", f"study/{TASK}/ft/s0"]
    assert jobs[0].run_id == jobs[1].run_id
    same = spec(methods=("ft",))
    same["block"].append({**same["block"][0], "label": "ft-copy"})
    with pytest.raises(GridError, match=f"tiny/{TASK}/ft-copy/s0 is the same run as tiny/{TASK}/ft/s0"):
        grid.expand(same)
    repeated = spec(methods=("ft",))
    repeated["block"].append(repeated["block"][0])  # the same cell twice: one job
    assert len(grid.expand(repeated)) == 1


def test_a_blocks_options_are_added_to_the_defaults_options():
    s = spec(methods=("ft",))
    s["defaults"]["options"] = {"gamma": 0.9, "tau": 0.02}
    s["block"][0]["options"] = {"tau": 0.01}
    (job,) = grid.expand(s)
    assert job.method_options["gamma"] == 0.9 and job.method_options["tau"] == 0.01  # the block wins per key
    s["block"][0]["eval_every"] = 100  # an option outside `options`: refused, not silently dropped
    with pytest.raises(GridError, match="unknown key\\(s\\) eval_every"):
        grid.expand(s)


def test_a_cotrain_budget_may_be_given_in_source_steps_alone():
    block = {"kind": "cotrain", "tasks": [TASK], "methods": ["par"], "seeds": [0], "options": {"source_steps": 2000}}
    (job,) = grid.expand({"campaign": "t", "block": [block]})
    assert job.identity["steps"] == 200  # 2000 source steps, one target step every 10
    steps = {**block, "options": {"steps": 200}}
    assert grid.expand({"campaign": "t", "block": [steps]})[0].run_id == job.run_id


def test_a_label_with_an_unknown_placeholder_names_the_ones_allowed():
    s = spec(methods=("ft",))
    s["block"][0]["label"] = "{method}-{robot}"
    with pytest.raises(GridError, match="uses \\{robot\\}.*a label may use \\{method\\}, \\{task\\}, \\{seed\\}"):
        grid.expand(s)
    s["block"][0]["label"] = "{method"
    with pytest.raises(GridError, match="cannot be filled in"):
        grid.expand(s)


def test_flags_that_a_grid_file_would_ignore_are_refused(tmp_path, capsys):
    from daftrl.cli import main

    toml = tmp_path / "g.toml"
    toml.write_text(f'campaign = "top"\n[defaults]\ncampaign = "mine"\nsteps = 400\n[[block]]\ntasks = ["{TASK}"]\n'
                    'methods = ["ft"]\nseeds = [0]\n')
    for flags in (["--seeds", "1"], ["--steps", "10"], ["--option", "gamma=0.9"], ["--tasks", TASK],
                  ["--methods", "daft"], ["--kind", "cotrain"], ["--label", "x"]):
        assert main(["grid", "list", str(toml), *flags]) == 2
        assert f"{flags[0]}: with a grid file" in capsys.readouterr().err
    assert main(["grid", "list", str(toml), "--campaign", "mine"]) == 0  # the campaign [defaults] gives the block
    assert f"mine/{TASK}/ft/s0" in capsys.readouterr().out
    assert main(["grid", "list", str(toml), "--campaign", "top"]) == 2
    err = capsys.readouterr().err
    assert "no block of" in err and "(its campaigns: mine)" in err


USABLE_CORE = min(os.sched_getaffinity(0))  # a core this process may use (not 0 under `taskset -c 1`)


@pytest.mark.parametrize("cpus, match", [("a", "give core numbers"),
                                         (f"{USABLE_CORE},4096", "core\\(s\\) 4096 not available")])
@pytest.mark.parametrize("executor", ["serial", "local"])
def test_a_bad_cpus_list_is_one_line_before_anything_starts(tmp_path, cpus, match, executor):
    jobs = grid.expand(spec(methods=("ft",)))
    with pytest.raises(ValueError, match=match):
        run_grid(jobs, tmp_path / "results", executor=executor, cpus=cpus, quiet=True)
    assert not jobs[0].run_dir().exists()


def test_a_record_the_store_refuses_counts_as_failed_and_the_grid_goes_on(tmp_path, monkeypatch):
    """One record that cannot be stored (another machine's record of the same run disagrees) is one failed job."""
    from daftrl.experiments import executors

    jobs = grid.expand(spec(methods=("ft",), seeds=(0, 1)))
    monkeypatch.setattr(executors, "run_job", lambda job, *a: {"status": "done", "record": record_of(job)})
    real = store.write_record

    def conflict(root, record):
        if record["seed"] == 0:
            raise store.RecordError("s0.json: already stored with a different result")
        return real(root, record)

    monkeypatch.setattr(store, "write_record", conflict)
    res = run_grid(jobs, tmp_path / "results", quiet=True)
    assert (res["done"], res["failed"]) == (1, 1)
    assert res["errors"] == [f"tiny/{TASK}/ft/s0: not stored: s0.json: already stored with a different result"]


def test_an_error_in_the_driver_leaves_no_queued_job_to_run(tmp_path, monkeypatch):
    """The local executor hands a job to the pool only when a worker is free: when the driver fails on the first
    outcome, the jobs after it were never queued (they do not run unstored while the error waits), and the pool
    is shut down before the error is raised."""
    from daftrl.experiments import executors

    jobs = grid.expand(spec(methods=("ft",), seeds=(0, 1, 2, 3)))
    estimated = []
    monkeypatch.setattr(grid, "_estimate_hours", lambda job, records: estimated.append(job.seed) or 0.0)

    def fail(self, message):
        raise RuntimeError("driver error")

    monkeypatch.setattr(executors._Progress, "advance", fail)
    with pytest.raises(RuntimeError, match="driver error"):  # a passed deadline: every job returns at once
        run_grid(jobs, tmp_path / "results", executor="local", workers=2, quiet=True, deadline=time.time() - 1)
    assert len(estimated) <= 2  # asked when handed to a worker: the two that were, not all four


def test_a_run_finished_by_another_process_meanwhile_is_not_resumed(monkeypatch):
    """`run_job` saw the run unfinished, another process finished it before the lock was taken: nothing is run
    again or cleared."""
    import daftrl.loops
    from daftrl.rundir import RunDir

    job = grid.expand(spec(methods=("ft",)))[0]
    run = RunDir(job.run_dir())
    run.write_config({"task": TASK, "method": "ft"})
    run.result_path.write_text('{"status": "finished"}')
    monkeypatch.setattr(daftrl.loops, "adapt", lambda *a, **k: pytest.fail("a finished run was resumed"))
    assert grid._run(job, job.run_dir()) == {"status": "finished"}
    assert run.finished()


def test_a_run_dir_of_another_run_is_refused_not_resumed(monkeypatch):
    """A run directory made before a default changed holds another run than the job's (same directory name: the
    id covers non-default options only): resuming it would store that run under this job's name."""
    import daftrl.loops
    from daftrl.checkpoint import save_arrays
    from daftrl.rundir import RunDir

    job = grid.expand(spec(methods=("ft",)))[0]
    run = RunDir(job.run_dir())
    run_defaults, method_defaults = store.defaults_for("adapt", "ft", TASK)
    run.write_config({**run_defaults, **job.run_options, "task": TASK, "method": "ft", "seed": 0, "steps": 200,
                      "method_config": {**method_defaults, **job.method_options, "gamma": 0.5}})
    save_arrays(run.checkpoint, {}, "adapt", {"step": 100, "wall_time": 1.0})
    monkeypatch.setattr(daftrl.loops, "adapt", lambda *a, **k: pytest.fail("another run was resumed"))
    out = grid.run_job(job)
    assert out["status"] == "failed" and "delete that stale run directory" in out["error"]


def test_drift_compares_what_both_configurations_hold():
    job = grid.expand(spec(methods=("ft",)))[0]
    assert grid.drift(job, record_of(job)) == []
    assert grid.drift(job, record_of(job, gamma=0.95)) == ["method_config.gamma: stored 0.95, now 0.99"]
    older = record_of(job)
    del older["method_config"]["critic_init"], older["config"]["eval_episodes"]  # options added since: no drift
    assert grid.drift(job, older) == []


def test_a_changed_default_marks_the_stored_record_stale_and_its_run_dir_is_not_stored_again(tmp_path, monkeypatch,
                                                                                              capsys):
    """A default changed after a run was stored keeps the run's id (the id covers non-default options): `grid
    status` counts the record stale and `grid run` warns about it, keeps it and does not rerun it; the run's
    directory (made under the old default) is not stored as the job's record in another store."""
    from daftrl.experiments.grid_command import print_status

    zs = spec(methods=("zero-shot",))
    (old,) = grid.expand(zs)
    assert run_grid([old], tmp_path / "a", quiet=True)["done"] == 1
    stored = store.load_records(tmp_path / "a")
    changed_default(monkeypatch, "zero-shot", gamma=0.95)
    (new,) = grid.expand(zs)
    assert new.run_id == old.run_id
    (row,) = grid.status([new], tmp_path / "a")
    assert (row["done"], row["stale"]) == (1, 1)
    assert row["stale_drift"] == [{"error": "method_config.gamma: stored 0.99, now 0.95", "seeds": [0]}]
    print_status([row])
    assert f"stale in zero-shot {TASK} (seed 0): method_config.gamma: stored 0.99, now 0.95" in capsys.readouterr().out
    res = run_grid([new], tmp_path / "a")
    assert (res["skipped"], res["done"], res["stale"]) == (1, 0, [f"tiny/{TASK}/zero-shot/s0: method_config.gamma: "
                                                                  "stored 0.99, now 0.95"])
    assert "delete a record" in capsys.readouterr().err.lower()
    assert store.load_records(tmp_path / "a") == stored
    other = run_grid([new], tmp_path / "b", quiet=True)
    assert (other["done"], other["failed"]) == (0, 1) and "delete that stale run directory" in other["errors"][0]
    assert not (tmp_path / "b").exists() or store.load_records(tmp_path / "b") == []
