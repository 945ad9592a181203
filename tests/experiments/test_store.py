"""The results store: records are validated on write and read, ids are stable, conflicts are never overwritten."""

import copy
import dataclasses
import json

import pytest

from daftrl.experiments import store
from daftrl.experiments.store import RecordError


def record(seed=0, label="ft", final=100.0, options=None, campaign="c", task="halfcheetah-broken-back-thigh"):
    identity = store.run_identity("adapt", {"task": task, "method": "ft", "seed": seed, "steps": 1000,
                                            **(options or {})}, {}, {})
    curve = [{"step": 0, "return_mean": 10.0, "return_std": 1.0, "returns": [9.0, 11.0]},
             {"step": 1000, "return_mean": final, "return_std": 1.0, "returns": [final - 1, final + 1]}]
    return {"schema_version": 1, "run_id": store.run_id(identity), "identity": identity, "campaign": campaign,
            "label": label, "kind": "adapt", "task": task, "robot": "halfcheetah", "method": "ft", "seed": seed,
            "status": "finished", "budget_steps": 1000, "steps": 1000, "config": {}, "method_config": {},
            "overrides": {}, "curve": curve, "final_return": final, "zero_shot": 10.0, "provenance": {}}


def test_write_then_load_round_trips(tmp_path):
    r = record()
    assert store.write_record(tmp_path, r) == "written"
    path = tmp_path / "c" / "halfcheetah-broken-back-thigh" / "ft" / "s0.json"
    assert path.is_file()
    assert store.load_records(tmp_path) == [r]
    assert store.write_record(tmp_path, copy.deepcopy(r)) == "identical"


@pytest.mark.parametrize("edit, match", [
    (lambda r: r.update(schema_version=2), "schema_version 2"),
    (lambda r: r["curve"][1].update(return_mean=float("nan")), "curve\\[1\\] needs a finite"),
    (lambda r: r["curve"][1].update(returns=[1.0, float("inf")]), "curve\\[1\\].returns is not finite"),
    (lambda r: r.update(final_return=float("nan")), "final_return"),
    (lambda r: r.update(wall_time_s=float("inf")), "wall_time_s"),
    (lambda r: r.update(seed="0"), "'seed' must be int"),
    (lambda r: r.update(status="running"), "status 'running'"),
    (lambda r: r.update(label="../x"), "not a plain name"),
    (lambda r: r["curve"].reverse(), "steps must increase"),
    (lambda r: r.update(run_id="0" * 12), "does not match its identity"),
])
def test_malformed_records_are_refused_on_write_and_read(tmp_path, edit, match):
    bad = record()
    edit(bad)
    with pytest.raises(RecordError, match=match):
        store.write_record(tmp_path, bad)
    assert not list(tmp_path.rglob("*.json"))  # nothing written
    path = tmp_path / "c" / "t" / "ft" / "s0.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(bad))
    with pytest.raises(RecordError, match=match):
        store.load_records(tmp_path)


def test_same_run_with_another_result_is_a_conflict_and_keeps_the_stored_one(tmp_path):
    store.write_record(tmp_path, record(final=100.0))
    with pytest.raises(RecordError, match="already stored with a different result"):
        store.write_record(tmp_path, record(final=101.0))
    assert store.load_records(tmp_path)[0]["final_return"] == 100.0


def test_another_configuration_under_the_same_label_is_refused(tmp_path):
    store.write_record(tmp_path, record())
    with pytest.raises(RecordError, match="another configuration under the same label"):
        store.write_record(tmp_path, record(options={"eval_every": 5}))


def test_one_run_stored_twice_in_a_campaign_is_reported_but_two_campaigns_may_share_it(tmp_path):
    r = record()
    store.write_record(tmp_path, r)
    store.write_record(tmp_path, {**r, "campaign": "c2"})  # a study and a main grid may hold the same run
    assert len(store.load_records(tmp_path)) == 2
    copy_path = tmp_path / "c" / r["task"] / "ft-copy" / "s0.json"
    copy_path.parent.mkdir(parents=True)
    copy_path.write_text(json.dumps({**r, "label": "ft-copy"}))
    with pytest.raises(RecordError, match="same run"):
        store.load_records(tmp_path)


def test_a_record_at_the_wrong_path_is_reported(tmp_path):
    r = record()
    path = tmp_path / "c" / r["task"] / "daft" / "s0.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(r))
    with pytest.raises(RecordError, match="move it there"):
        store.load_records(tmp_path)


def test_run_id_ignores_defaults_and_run_local_options():
    """A new option added with its default, or a different run dir / checkpoint spacing, keeps the id; a
    non-default value of any option changes it."""
    base = {"task": "t", "method": "ft", "seed": 0, "steps": 10, "eval_every": 5}
    defaults = {"eval_every": 5, "new_option": 1}
    ident = lambda cfg, method=None: store.run_id(store.run_identity("adapt", cfg, defaults, method or {}))  # noqa: E731
    a = ident(base)
    assert ident({**base, "new_option": 1, "run_dir": "/x", "checkpoint_every": 7, "resume": True}) == a
    assert ident({**base, "new_option": 2}) != a
    assert ident({**base, "eval_every": 6}) != a
    assert ident({**base, "seed": 1}) != a
    assert ident(base, {"beta0": 0.5}) != a


def test_final_return_is_the_mean_of_the_last_tenth():
    curve = [{"step": s, "return_mean": float(s)} for s in range(0, 101, 5)]
    assert store.final_return(curve, 100) == pytest.approx((90 + 95 + 100) / 3)
    assert store.final_return(curve[:5], 100) == 20.0  # stopped early: its last evaluation


def test_files_not_named_as_records_are_not_read(tmp_path):
    """A summary.json (or any file not named s<seed>.json) beside the records is not a record: the store stays
    readable; a file named as a record is still checked."""
    r = record()
    store.write_record(tmp_path, r)
    (tmp_path / "summary.json").write_text('{"runs": 1}')
    (tmp_path / "c" / r["task"] / "ft" / "seeds.json").write_text("[0]")
    assert store.load_records(tmp_path) == [r]
    (tmp_path / "c" / r["task"] / "ft" / "s1.json").write_text("{")
    with pytest.raises(RecordError, match="not valid JSON"):
        store.load_records(tmp_path)


def test_a_path_in_the_identity_is_portable(monkeypatch, tmp_path):
    """An expert given as a file under the home directory has the same run id on every machine (any home); a
    zoo name is kept as it is (the ids of runs that name one do not change)."""
    base = {"task": "t", "method": "ft", "seed": 0, "steps": 10}
    ids = []
    for home in (tmp_path / "alice", tmp_path / "bob"):
        monkeypatch.setenv("HOME", str(home))
        ident = store.run_identity("adapt", {**base, "expert": f"{home}/experts/hopper.safetensors"}, {}, {})
        assert ident["options"]["expert"] == "~/experts/hopper.safetensors"
        ids.append(store.run_id(ident))
    assert ids[0] == ids[1]
    zoo = store.run_identity("adapt", {**base, "expert": "hopper-cql", "dataset": "daftrl/hopper/medium-v0"}, {}, {})
    assert zoo["options"] == {"dataset": "daftrl/hopper/medium-v0", "expert": "hopper-cql"}


# ----------------------------------------------------------------------------- the learner's Q on the curve
def test_each_curve_point_has_the_mean_q_of_the_training_rows_since_the_previous_evaluation():
    rows = [{"kind": "eval", "step": 0, "return_mean": 1.0},
            {"kind": "train", "step": 100, "episode_return": 5.0},  # before learning starts: no q
            {"kind": "train", "step": 200, "q": 2.0},
            {"kind": "eval", "step": 200, "return_mean": 2.0},
            {"kind": "train", "step": 300, "q": 4.0}, {"kind": "train", "step": 400, "q": -1e13},
            {"kind": "eval", "step": 400, "return_mean": 3.0},
            {"kind": "train", "step": 500, "episode_return": 5.0},
            {"kind": "eval", "step": 500, "return_mean": 4.0}]
    curve = store.curve_of(rows)
    assert [p["q"] for p in curve] == [None, 2.0, (4.0 - 1e13) / 2, None]
    assert [p["return_mean"] for p in curve] == [1.0, 2.0, 3.0, 4.0]
    assert all(set(p) == set(store.CURVE_FIELDS) for p in curve)
    assert [p["q"] for p in store.curve_of([r for r in rows if r["kind"] == "eval"])] == [None] * 4  # zero-shot


def test_q_is_optional_on_a_curve_point_and_finite_when_given(tmp_path):
    old = record()  # a record made before q: its points have no such field
    assert store.write_record(tmp_path, old) == "written"
    assert store.load_records(tmp_path) == [old]
    with_q = copy.deepcopy(old)
    with_q["curve"][0]["q"] = None
    with_q["curve"][1]["q"] = -1e13  # the reward-shaping ablation's Q goes that far: finite is all that is asked
    assert store.validate(with_q)["run_id"] == old["run_id"]  # the curve is not part of the identity
    with_q["curve"][1]["q"] = float("nan")
    with pytest.raises(RecordError, match=r"curve\[1\]\.q is not finite"):
        store.validate(with_q)


TINY_DAFT = {"steps": 200, "eval_every": 100, "eval_episodes": 1, "batch_size": 32, "learning_starts": 32,
             "log_every": 50}


@pytest.fixture
def stored_run(tmp_path):
    """A tiny DAFT run of a grid, stored, and its record as it was before q (every point without it)."""
    from daftrl.experiments import grid
    from daftrl.experiments.executors import run_grid

    spec = {"campaign": "tiny", "defaults": TINY_DAFT,
            "block": [{"tasks": ["hopper-big-head"], "methods": ["daft"], "seeds": [0]}]}
    [job] = grid.expand(spec)
    assert run_grid([job], tmp_path / "results", quiet=True)["done"] == 1
    path = job.record_path(tmp_path / "results")
    new = store.read_record(path)
    old = new | {"curve": [{k: v for k, v in p.items() if k != "q"} for p in new["curve"]]}
    path.write_text(store.dumps(old))
    return job, path, new, old


def test_refresh_adds_q_to_a_record_made_before_it_and_changes_nothing_else(stored_run):
    job, path, new, old = stored_run
    assert [p["q"] is None for p in new["curve"]] == [True, False, False]  # step 0 has none; log_every 50
    assert store.read_record(path) == old
    assert store.refresh_record(path, job.run_dir()) == "refreshed"
    refreshed = store.read_record(path)
    assert refreshed == new and refreshed["run_id"] == old["run_id"] == job.run_id
    assert path.read_text() == store.dumps(new)
    assert {k: v for k, v in refreshed.items() if k != "curve"} == {k: v for k, v in old.items() if k != "curve"}
    assert [{k: v for k, v in p.items() if k != "q"} for p in refreshed["curve"]] == old["curve"]
    assert store.refresh_record(path, job.run_dir()) == "identical"


@pytest.mark.parametrize("edit, field", [
    (lambda r: r.update(final_return=r["final_return"] + 1e-9), "final_return"),  # floats compared exactly
    (lambda r: r["curve"][1].update(return_mean=r["curve"][1]["return_mean"] + 1.0), r"curve\[1\]\.return_mean"),
    (lambda r: r.update(note="hand-made"), "note"),
    (lambda r: r["curve"][2].update(q=123.0), r"curve\[2\]\.q"),  # a q it holds already must agree too
])
def test_refresh_refuses_a_record_its_run_directory_does_not_rebuild(stored_run, edit, field):
    job, path, _, old = stored_run
    edited = copy.deepcopy(old)
    edit(edited)
    path.write_text(store.dumps(edited))
    with pytest.raises(RecordError, match=f"field {field} differs"):
        store.refresh_record(path, job.run_dir())
    assert store.read_record(path) == edited  # kept as it was


def test_refresh_keeps_the_stored_provenance_of_a_record_built_in_another_checkout(stored_run):
    """A record built in another checkout writes the grid file's path otherwise (`portable`): that is no reason to
    refuse, and the stored provenance stays."""
    job, path, new, old = stored_run
    elsewhere = copy.deepcopy(old)
    elsewhere["provenance"]["command"] = "daftrl grid run .../online.toml --cpus 1"
    path.write_text(store.dumps(elsewhere))
    assert store.refresh_record(path, job.run_dir()) == "refreshed"
    refreshed = store.read_record(path)
    assert refreshed["provenance"] == elsewhere["provenance"] and refreshed["curve"] == new["curve"]


def test_grid_refresh_command_refreshes_the_runs_records(stored_run, capsys):
    from daftrl.experiments import grid_command

    job, path, new, _ = stored_run
    results = path.parents[3]
    args = grid_command.GridArgs(action="refresh", spec=str(job.run_dir()), results=str(results))
    assert grid_command.run(args) == 0
    assert store.read_record(path) == new and f"refreshed: {path}" in capsys.readouterr().out
    with pytest.raises(ValueError, match="has no record"):
        grid_command.run(dataclasses.replace(args, campaign="other"))
