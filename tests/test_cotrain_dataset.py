"""The co-training loop with an offline source (`daftrl cotrain METHOD --dataset D`): a fixed dataset replaces the
source simulator; each target step is followed by `updates_per_step` updates."""

from __future__ import annotations

import dataclasses
import hashlib
import types

import numpy as np
import pytest

from cotrain_helpers import SOURCE, TARGET, final_state, tiny
from daftrl.algos import method_spec
from daftrl.checkpoint import load_arrays
from daftrl.cotrain import CotrainRunConfig, cotrain
from daftrl.offline import DatasetMismatch
from daftrl.replay import FIELDS, ReplayBuffer
from daftrl.rundir import RunDir

OFFLINE_METHODS = ("h2o", "bc-vgdf", "bc-par")


def make_dataset(handle, n: int, seed: int, name: str = "pendulum-src", policy=None):
    """An object shaped like `daftrl.datasets.Dataset`: `n` transitions of `handle`'s env, uniform-random actions
    unless `policy(obs, rng)` gives them."""
    from daftrl.envs.collect import Collector

    rng = np.random.default_rng(seed)
    collector, buf = Collector(handle.make(), seed=seed), ReplayBuffer(handle.obs_dim, handle.act_dim, n)
    for _ in range(n):
        action = rng.uniform(-1, 1, handle.act_dim) if policy is None else policy(collector.obs, rng)
        buf.add(*collector.step(np.asarray(action, np.float32)))
    digest = hashlib.sha256(b"".join(buf.data[k].tobytes() for k in FIELDS)).hexdigest()
    return types.SimpleNamespace(name=name, robot=None, buffer=buf, checksum=digest, meta={})


DATA = make_dataset(SOURCE, 400, 0)


def small(method: str, **changes):
    """The method's config shrunk for tests (VGDF's model small and refitted every 20 updates)."""
    config = tiny(method_spec(method).config_cls(), **changes)
    if hasattr(config, "model_every"):
        config = dataclasses.replace(config, model_every=20, model_hidden=(16, 16), model_members=3, model_elites=2,
                                     model_weight_decay=(1e-5, 1e-5, 1e-5), model_max_epochs=3)
    return config


def run(run_dir, method: str, method_config=None, steps: int = 40, resume: bool = False, dataset=DATA,
        **overrides) -> dict:
    cfg = CotrainRunConfig(task="pendulum", method=method, steps=steps, dataset=overrides.pop("dataset_name", "src"),
                           updates_per_step=overrides.pop("updates_per_step", 2), eval_every=20, eval_episodes=1,
                           checkpoint_every=20, log_every=10, run_dir=str(run_dir), resume=resume, **overrides)
    if method_config is None and not resume:
        method_config = small(method)
    return cotrain(cfg, method_config, source=SOURCE, target=TARGET, quiet=True, dataset=dataset)


def test_counts_target_steps_and_updates(tmp_path):
    res = run(tmp_path, "h2o", steps=30, updates_per_step=3)
    assert (res["status"], res["steps"], res["updates_per_step"]) == ("finished", 30, 3)
    assert (res["dataset"], res["dataset_checksum"]) == ("pendulum-src", DATA.checksum)
    # updates start once the target buffer holds a batch (16 rows): 3 after each of target steps 16..30
    assert res["updates"] == 3 * (30 - 16 + 1)
    arrays, meta = load_arrays(tmp_path / "checkpoint.safetensors", kind="cotrain")
    assert int(arrays["state/step"]) == res["updates"] and meta["updates"] == res["updates"]
    assert len(arrays["target_replay/obs"]) == 30
    assert not any(k.startswith("source_") for k in arrays)  # the dataset is not copied into the checkpoint
    assert meta["dataset"]["checksum"] == DATA.checksum
    rows = RunDir(tmp_path)
    assert [r["step"] for r in rows.rows("eval")] == [0, 20, 30]
    train = rows.rows("train")
    assert [r["step"] for r in train] == [10, 20, 30] and train[-1]["updates"] == res["updates"]
    assert {"iw_mean", "cql_gap", "critic_loss_source", "classifier_loss"} <= set(train[-1])
    assert rows.read_config()["dataset"] == "src"
    from daftrl.run_summary import finished_line

    assert res["source_steps"] == 0 and "after 30 target" in finished_line("cotrain", res)  # no source env stepped


def test_default_updates_per_step_is_the_methods(tmp_path):
    res = run(tmp_path, "bc-par", steps=20, updates_per_step=None)
    assert res["updates_per_step"] == method_spec("bc-par").dataset_updates_per_step == 10
    assert res["updates"] == 10 * (20 - 16 + 1)
    # written into the run's config at the start: a later change of the default cannot alter a resume
    assert RunDir(tmp_path).read_config()["updates_per_step"] == 10


def test_a_grid_refuses_an_offline_source_method_without_a_dataset():
    from daftrl.experiments.grid import GridError, expand

    block = {"kind": "cotrain", "tasks": ["hopper-big-head"], "methods": ["h2o"], "seeds": [0], "steps": 100}
    with pytest.raises(GridError, match="h2o adapts from an offline source dataset: give --dataset"):
        expand({"campaign": "t", "block": [block]})
    ok = expand({"campaign": "t", "block": [{**block, "options": {"dataset": "daftrl/hopper/medium-v0"}}]})
    assert ok[0].identity["options"] == {"dataset": "daftrl/hopper/medium-v0", "updates_per_step": 10}


@pytest.mark.parametrize("method", OFFLINE_METHODS)
def test_resume_equals_no_stop(tmp_path, method):
    """Stopped at target step 20 and resumed to 40: the same train state bit for bit and the same evaluations as a
    run that never stopped (VGDF's model refits every 20 updates on the way)."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    run(straight, method)
    run(split, method, steps=20)
    assert run(split, method, steps=40, resume=True)["updates"] == run_updates(straight)
    a, b = final_state(straight), final_state(split)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    ev = lambda d: [(r["step"], r["return_mean"]) for r in RunDir(d).rows("eval")]  # noqa: E731
    assert ev(straight) == ev(split)


def run_updates(run_dir) -> int:
    return load_arrays(f"{run_dir}/checkpoint.safetensors", kind="cotrain")[1]["updates"]


def test_resume_refuses_another_dataset(tmp_path):
    run(tmp_path, "h2o", steps=20)
    before = (tmp_path / "metrics.jsonl").read_text()
    with pytest.raises(DatasetMismatch, match="checksum"):
        run(tmp_path, "h2o", steps=40, resume=True, dataset=make_dataset(SOURCE, 400, 1))
    assert (tmp_path / "metrics.jsonl").read_text() == before  # refused before the logs are touched


@pytest.mark.parametrize("method", OFFLINE_METHODS)
def test_offline_source_methods_need_a_dataset(tmp_path, method):
    cfg = CotrainRunConfig(task="pendulum", method=method, steps=10, run_dir=str(tmp_path / "r"))
    with pytest.raises(ValueError, match=rf"^{method} adapts from an offline source dataset: give --dataset"):
        cotrain(cfg, small(method), source=SOURCE, target=TARGET, quiet=True)
    assert not (tmp_path / "r").exists()


def test_cli_refuses_an_offline_source_method_without_dataset(capsys):
    from daftrl.cli import main

    assert main(["cotrain", "h2o", "--task", "hopper-big-head"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("daftrl cotrain: error: h2o adapts from an offline source dataset: give --dataset")
    assert "\n" not in err


@pytest.mark.parametrize(("changes", "message"), [
    ({"source_steps": 100, "steps": None}, "--source-steps counts simulator steps"),
    ({"target_every": 5}, "--target-every paces a source simulator"),
])
def test_simulator_options_are_refused_with_a_dataset(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        run(tmp_path / "r", "h2o", **changes)
    assert not (tmp_path / "r").exists()


def test_updates_per_step_needs_a_dataset(tmp_path):
    from cotrain_helpers import run_cotrain

    with pytest.raises(ValueError, match="--updates-per-step applies to an offline source"):
        run_cotrain(tmp_path / "r", "sac-mix", tiny(method_spec("sac-mix").config_cls()), updates_per_step=3)
    assert not (tmp_path / "r").exists()


def test_a_dataset_of_other_sizes_is_refused_before_the_run_directory(tmp_path):
    from daftrl.envs.factory import resolve_env

    wrong = make_dataset(resolve_env("InvertedPendulum-v5"), 50, 0, "inverted")
    with pytest.raises(ValueError, match="observation/action sizes 4/1"):
        run(tmp_path / "r", "h2o", dataset=wrong)
    assert not (tmp_path / "r").exists()


def test_a_simulator_method_accepts_a_dataset(tmp_path):
    """PAR (any co-training method) runs with --dataset too: its source minibatches come from the dataset."""
    res = run(tmp_path, "par", steps=20)
    assert res["status"] == "finished" and res["updates"] == 2 * (20 - 16 + 1)


def medium_pendulum(obs, rng):
    """A "medium" source policy: pump energy (torque along the angular velocity), balance near the top (PD), and a
    uniform-random action 30 % of the time."""
    if rng.random() < 0.3:
        return rng.uniform(-1, 1, 1)
    cos, sin, velocity = obs
    if cos > 0.8:
        return np.clip([-(4.0 * np.arctan2(sin, cos) + velocity)], -1, 1)
    return np.array([1.0 if velocity >= 0 else -1.0])


@pytest.mark.slow
@pytest.mark.parametrize("method", OFFLINE_METHODS)
def test_offline_source_methods_learn(method, tmp_path):
    """From 4,000 source transitions (g = 10) of a medium policy and 2,000 target steps (g = 14) with 5 updates each,
    the policy swings the heavier pendulum up (an untrained policy scores about -1,300, a swing-up better than
    -400). VGDF's gate opens at update 5,000 and its model is refitted every 1,000 updates (the test's cost)."""
    changes = {"hidden": (64, 64), "batch_size": 64, "actor_lr": 1e-3, "critic_lr": 1e-3}
    if method == "bc-vgdf":
        changes |= {"gate_start": 5000, "model_every": 1000, "model_max_epochs": 5}
    config = dataclasses.replace(method_spec(method).config_cls(), **changes)
    cfg = CotrainRunConfig(task="pendulum", method=method, steps=2000, dataset="medium", updates_per_step=5,
                           eval_every=500, eval_episodes=5, checkpoint_every=2000, run_dir=str(tmp_path))
    data = make_dataset(SOURCE, 4000, 3, "medium", medium_pendulum)
    cotrain(cfg, config, source=SOURCE, target=TARGET, quiet=True, dataset=data)
    evals = [r["return_mean"] for r in RunDir(tmp_path).rows("eval")]
    assert evals[0] < -1000 and max(evals[1:]) > -400, evals
