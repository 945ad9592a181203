"""The offline loop (daftrl.offline) with CQL: a run on a small dataset, resume, the dataset check, the exported
expert and learning on an easy problem."""

from __future__ import annotations

import dataclasses
import hashlib
import types

import gymnasium as gym
import numpy as np
import pytest

from daftrl.algos.cql import CQLConfig
from daftrl.checkpoint import flatten_tree, load_arrays
from daftrl.offline import DatasetMismatch, OfflineRunConfig, export_expert, offline
from daftrl.replay import FIELDS, ReplayBuffer
from daftrl.rundir import RunDir

TINY = CQLConfig(hidden=(32, 32), batch_size=32, policy_eval_start=15)


def make_dataset(env: gym.Env, n: int, seed: int, name: str, policy=None):
    """An object shaped like `daftrl.datasets.Dataset`: `n` transitions of `policy` (uniform actions by default)."""
    from daftrl.envs.collect import Collector

    rng = np.random.default_rng(seed)
    act_dim = env.action_space.shape[0]
    collector, buf = Collector(env, seed=seed), ReplayBuffer(env.observation_space.shape[0], act_dim, n)
    for _ in range(n):
        obs = collector.obs
        action = rng.uniform(-1, 1, act_dim) if policy is None else policy(obs, rng)
        buf.add(*collector.step(np.asarray(action, np.float32)))
    digest = hashlib.sha256(b"".join(buf.data[k].tobytes() for k in FIELDS)).hexdigest()
    return types.SimpleNamespace(name=name, robot=None, buffer=buf, checksum=digest, meta={})


def pendulum_dataset(seed: int = 0):
    from daftrl.envs.factory import resolve_env

    return make_dataset(resolve_env("Pendulum-v1").make(), 600, seed, "pendulum-random")  # 3 episodes of 200


DATA = pendulum_dataset()


def run_offline(run_dir, steps: int, resume: bool = False, dataset=DATA, method_config=TINY, **changes) -> dict:
    cfg = OfflineRunConfig(dataset="pendulum-random", steps=steps, eval_every=20, eval_episodes=1, checkpoint_every=20,
                           log_every=10, updates_per_call=7, env="Pendulum-v1", source_size=400,
                           run_dir=str(run_dir), resume=resume)
    return offline(dataclasses.replace(cfg, **changes), method_config, dataset=dataset, quiet=True)


def state_arrays(run_dir) -> dict:
    arrays, _ = load_arrays(f"{run_dir}/checkpoint.safetensors", kind="offline")
    return arrays


def test_short_run_logs_evaluates_and_exports(tmp_path):
    res = run_offline(tmp_path, 40)
    assert (res["status"], res["steps"], res["method"], res["dataset"]) == ("finished", 40, "cql", "pendulum-random")
    run = RunDir(tmp_path)
    assert [r["step"] for r in run.rows("eval")] == [20, 40]
    assert [r["step"] for r in run.rows("train")] == [10, 20, 30, 40]
    assert {"cql_gap", "td_loss", "critic_loss", "actor_loss", "epoch"} <= set(run.rows("train")[-1])
    assert int(state_arrays(tmp_path)["state/step"]) == 40
    assert res["expert"] == str(tmp_path / "expert.safetensors") and (tmp_path / "expert.safetensors").is_file()
    saved = run.read_config()["dataset_record"]
    assert (saved["name"], saved["checksum"], saved["size"]) == ("pendulum-random", DATA.checksum, 600)
    # `daftrl eval RUN_DIR` evaluates the run's policy in the env it was trained on
    from daftrl.eval_command import evaluate_checkpoint

    evaluated = evaluate_checkpoint(str(tmp_path), episodes=1)
    assert (evaluated["env"], evaluated["domain"], len(evaluated["returns"])) == ("Pendulum-v1", "source", 1)


def test_resume_equals_no_stop(tmp_path):
    """Stopped at 13 updates (inside a chunk of 7 and between checkpoints), resumed to 40: the same state bit for
    bit and the same evaluations as a run that never stopped."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    run_offline(straight, 40)
    run_offline(split, 13)
    run_offline(split, 40, resume=True)
    a, b = state_arrays(straight), state_arrays(split)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    ev = lambda d: {r["step"]: r["return_mean"] for r in RunDir(d).rows("eval")}  # noqa: E731
    assert ev(straight) == {s: r for s, r in ev(split).items() if s != 13}


def test_resume_with_another_dataset_is_refused(tmp_path):
    run_offline(tmp_path, 20)
    before = (tmp_path / "config.json").read_bytes()
    with pytest.raises(DatasetMismatch, match="was trained on dataset 'pendulum-random'"):
        run_offline(tmp_path, 40, resume=True, dataset=pendulum_dataset(seed=1))
    assert (tmp_path / "config.json").read_bytes() == before  # refused before the run was touched
    assert int(state_arrays(tmp_path)["state/step"]) == 20
    with pytest.raises(DatasetMismatch):
        export_expert(tmp_path, tmp_path / "other.safetensors", dataset=pendulum_dataset(seed=1))


def test_command_line_options_resume_from_the_saved_run(tmp_path):
    """`daftrl offline --resume --run-dir D` parses with D's options (dataset, method and its options) as defaults,
    and refuses to change them (run_options.method_subcommands with a single offline method)."""
    from daftrl import run_options

    run_offline(tmp_path, 20, method_config=TINY)
    methods = run_options.method_subcommands("offline", OfflineRunConfig)
    job = run_options.parse("offline", ["--resume", "--run-dir", str(tmp_path), "--steps", "40"], methods)
    run = run_options.as_config(OfflineRunConfig, job.run)
    assert (run.dataset, run.steps, run.updates_per_call, job.method_config) == ("pendulum-random", 40, 7, TINY)
    with pytest.raises(ValueError, match="--alpha-cql 5.0"):
        run_options.parse("offline", ["cql", "--resume", "--run-dir", str(tmp_path), "--alpha-cql", "5"], methods)
    fresh = run_options.parse("offline", ["cql", "--dataset", "d", "--num-actions", "4"], methods)
    assert fresh.run.dataset == "d" and fresh.method_config == CQLConfig(num_actions=4)


def test_bad_input_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="observation/action sizes 3/1"):
        run_offline(tmp_path / "r", 20, env="MountainCarContinuous-v0")
    with pytest.raises(ValueError, match="longer than 100 transitions"):  # the export's D_src, checked up front
        run_offline(tmp_path / "r", 20, source_size=100)
    assert not (tmp_path / "r").exists()


def test_a_dataset_of_another_robot_is_refused_for_the_env(tmp_path):
    """HalfCheetah and Walker2d share the sizes 17/6: a dataset that names its robot must name the env's. One that
    names none (a plain D4RL file) is checked on sizes only; both get as far as the D_src check."""
    n = 50
    buf = ReplayBuffer(17, 6, n)
    buf.add_many(obs=np.zeros((n, 17)), act=np.zeros((n, 6)), rew=np.zeros(n), next_obs=np.zeros((n, 17)),
                 terminated=np.zeros(n), truncated=np.zeros(n))
    cheetah = types.SimpleNamespace(name="cheetah-data", robot="halfcheetah", buffer=buf, checksum="0" * 64, meta={})
    with pytest.raises(ValueError, match="dataset 'cheetah-data' was collected on halfcheetah, but --env walker is "
                                         "a walker env; evaluate in halfcheetah"):
        run_offline(tmp_path / "r", 20, dataset=cheetah, env="walker")
    unnamed = types.SimpleNamespace(**{**vars(cheetah), "robot": None})
    for dataset, env in ((cheetah, "halfcheetah"), (unnamed, "walker")):
        with pytest.raises(ValueError, match="longer than 10 transitions"):
            run_offline(tmp_path / "r", 20, dataset=dataset, env=env, source_size=10)
    assert not (tmp_path / "r").exists()


def test_exported_expert_loads_and_adapts(tmp_path):
    """expert.safetensors is an ordinary expert: the CQL actor, critics and temperature, D_src = the dataset's latest
    whole episodes; `daftrl adapt ft` (CQL+SAC) runs from it, and DAFT and zero-shot accept it."""
    from daftrl.adapter import Adapter
    from daftrl.algos.ft import FTConfig
    from daftrl.envs.factory import EnvHandle, resolve_env
    from daftrl.experts import load_expert
    from daftrl.loops import AdaptRunConfig, adapt

    run_offline(tmp_path / "cql", 20)
    expert = load_expert(tmp_path / "cql")  # the run directory: its expert.safetensors
    assert (expert.env, expert.obs_dim, expert.act_dim, expert.hidden) == ("Pendulum-v1", 3, 1, (32, 32))
    assert expert.meta["dataset_checksum"] == DATA.checksum and expert.meta["steps"] == 20
    arrays = state_arrays(tmp_path / "cql")
    for name, tree in (("actor", expert.actor), ("critic", expert.critic)):
        for k, v in flatten_tree(tree, f"state/{name}").items():
            np.testing.assert_array_equal(v, arrays[k], err_msg=k)
    assert expert.log_alpha == float(arrays["state/log_alpha"])
    # D_src: the last 2 of the 3 episodes (400 rows), float16 in the file
    assert len(expert.source) == 400 and expert.meta["source_rows"] == "200:600"
    np.testing.assert_allclose(expert.source.data["obs"], DATA.buffer.data["obs"][200:], rtol=1e-3, atol=1e-3)
    assert expert.source.data["truncated"].sum() == 2

    def make():
        one = np.ones(1, np.float32)
        return gym.wrappers.RescaleAction(gym.make("Pendulum-v1", g=12.0), -one, one)

    target = EnvHandle("pendulum-g12", "target", None, 3, 1, make)
    res = adapt(AdaptRunConfig(task="pendulum", method="ft", steps=24, eval_every=24, eval_episodes=1,
                               checkpoint_every=24, log_every=12, run_dir=str(tmp_path / "ft")),
                FTConfig(batch_size=16, learning_starts=16), target=target, expert=expert, quiet=True)
    assert res["status"] == "finished" and res["steps"] == 24
    assert Adapter(expert, "daft").method.uses_source_data and not Adapter(expert, "zero-shot").method.learns
    assert resolve_env(expert.env).obs_dim == 3


# --------------------------------------------------------------------------- learning on an easy problem
class Line(gym.Env):
    """Reach the origin on a line: x' = clip(x + 0.25 a, -2, 2), r = -|x'|, 20 steps, x0 ~ U(-1.5, 1.5)."""

    observation_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.t = self.np_random.uniform(-1.5, 1.5), 0
        return np.array([self.x], np.float32), {}

    def step(self, action):
        self.x = float(np.clip(self.x + 0.25 * float(action[0]), -2.0, 2.0))
        self.t += 1
        return np.array([self.x], np.float32), -abs(self.x), False, self.t >= 20, {}


@pytest.mark.slow
def test_cql_learns_to_reach_the_origin_from_random_data(tmp_path, monkeypatch):
    """From uniformly random actions only, CQL's policy walks to the origin: far better than the data's policy and
    close to the best return."""
    from daftrl.envs import factory
    from daftrl.evaluate import evaluate

    handle = factory.EnvHandle("line", "source", None, 1, 1, Line)
    monkeypatch.setattr(factory, "resolve_env", lambda name, domain="source": handle)
    data = make_dataset(Line(), 4000, 0, "line-random")
    config = CQLConfig(hidden=(64, 64), batch_size=128, actor_lr=1e-3, critic_lr=1e-3, gamma=0.9,
                       policy_eval_start=200)
    res = run_offline(tmp_path, 3000, dataset=data, method_config=config, eval_every=1000, eval_episodes=10,
                      checkpoint_every=3000, log_every=500, updates_per_call=500, env="line")
    learnt = res["final_eval"]["return_mean"]
    uniform = evaluate(lambda o: np.random.default_rng(0).uniform(-1, 1, (len(o), 1)), Line, 10, 0).mean
    best = evaluate(lambda o: np.clip(-o / 0.25, -1, 1), Line, 10, 0).mean
    assert learnt > uniform + 0.7 * (best - uniform), (learnt, uniform, best)  # measured: -6.6 vs -31.8 and -1.4
