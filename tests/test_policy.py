"""`load_policy` (and so `daftrl eval`) reads the actor of every kind of file daftrl writes: pretrain, adapt
and cotrain runs, `Adapter.save` files, actor and expert files; the loaded policy acts exactly as the
trained one did (same deterministic actions, same evaluation returns). Every kind records the same description
in its header (sizes, hidden widths, env, domain: `checkpoint.describe`), which `read_spec` reads back."""

import json
import shutil

import gymnasium as gym
import numpy as np
import pytest

from conftest import random_expert
from daftrl.adapter import Adapter
from daftrl.checkpoint import CheckpointError, ModelSpec, load_arrays, read_spec, save_arrays, unflatten_like
from daftrl.envs.factory import EnvHandle
from daftrl.evaluate import evaluate
from daftrl.experts import load_expert, save_expert
from daftrl.policy import load_policy

OBS = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)


def pendulum(g: float, domain: str = "target") -> EnvHandle:
    """Pendulum-v1 with gravity g, actions rescaled to [-1, 1]."""

    def make():
        one = np.ones(1, np.float32)
        return gym.wrappers.RescaleAction(gym.make("Pendulum-v1", g=g), -one, one)

    return EnvHandle(f"pendulum-g{g}", domain, None, 3, 1, make)


def assert_reproduces_final_eval(run_dir, result: dict, target: EnvHandle) -> None:
    """The policy loaded from the run directory scores exactly the run's own final evaluation."""
    policy, _ = load_policy(run_dir)
    res = evaluate(policy.deterministic, target.make, len(result["final_eval"]["returns"]), 0)
    assert res.as_dict()["returns"] == result["final_eval"]["returns"]


def test_adapt_run(tmp_path, capsys):
    from daftrl.algos import method_spec
    from daftrl.cli import main
    from daftrl.loops import AdaptRunConfig, adapt

    expert, target, run = random_expert(), pendulum(12.0), tmp_path / "adapt"
    mc = method_spec("ft").config_cls(batch_size=16, learning_starts=16)
    result = adapt(AdaptRunConfig(task="Pendulum-v1", method="ft", steps=200, eval_every=200, eval_episodes=1,
                                  log_every=100, run_dir=str(run)), mc, target=target, expert=expert, quiet=True)
    policy, env = load_policy(run)
    assert env == "Pendulum-v1"  # the run's task, from its config.json
    arrays, meta = load_arrays(run / "checkpoint.safetensors", kind="adapt")
    adapter = Adapter._from_arrays(arrays, meta["adapter"])  # how `daftrl adapt --resume` reads it
    np.testing.assert_array_equal(policy.deterministic(OBS), adapter.policy(OBS))
    assert not np.allclose(policy.deterministic(OBS), expert.policy().deterministic(OBS))  # adapted, not the expert
    assert_reproduces_final_eval(run, result, target)
    assert policy.trained_domain == "target"
    assert read_spec(run / "checkpoint.safetensors") == ModelSpec("adapt", 3, 1, (32, 32), "Pendulum-v1", "target")
    alone = tmp_path / "alone.safetensors"  # the checkpoint copied out of its run dir still names its task
    alone.write_bytes((run / "checkpoint.safetensors").read_bytes())
    assert load_policy(alone)[1] == "Pendulum-v1" and load_policy(alone)[0].trained_domain == "target"
    # `daftrl eval RUN` scores the domain the run adapted in: here a gymnasium id, which has no target domain
    assert main(["eval", str(run), "--episodes", "1"]) == 2
    assert "has no separate target domain" in capsys.readouterr().err
    assert main(["eval", str(run), "--episodes", "1", "--domain", "source"]) == 0
    assert json.loads(capsys.readouterr().out)["env"] == "Pendulum-v1"


def test_cotrain_run_with_its_own_network_widths(tmp_path):
    from daftrl.algos import method_spec
    from daftrl.algos.mix import SACMixConfig
    from daftrl.cotrain import CotrainRunConfig, cotrain

    run, target = tmp_path / "cotrain", pendulum(14.0)
    mc = SACMixConfig(hidden=(24,), batch_size=16)
    result = cotrain(CotrainRunConfig(task="Pendulum-v1", method="sac-mix", steps=40, target_every=5, eval_every=40,
                                      eval_episodes=1, log_every=20, run_dir=str(run)),
                     mc, source=pendulum(10.0, "source"), target=target, quiet=True)
    policy, env = load_policy(run)
    assert (env, policy.hidden) == ("Pendulum-v1", (24,))
    method = method_spec("sac-mix").method_cls(mc, 3, 1)
    arrays, _ = load_arrays(run / "checkpoint.safetensors", kind="cotrain")
    actor = unflatten_like(method.init(0).actor, arrays, "state/actor")
    np.testing.assert_array_equal(policy.deterministic(OBS), np.asarray(method.mean_actions(actor, OBS)))
    assert_reproduces_final_eval(run, result, target)
    assert read_spec(run / "checkpoint.safetensors") == ModelSpec("cotrain", 3, 1, (24,), "Pendulum-v1", "target")
    # the checkpoint names its task and widths itself: it loads without its run's config.json
    shutil.copy(run / "checkpoint.safetensors", tmp_path / "alone.safetensors")
    alone, env = load_policy(tmp_path / "alone.safetensors")
    assert (env, alone.hidden, alone.trained_domain) == ("Pendulum-v1", (24,), "target")
    np.testing.assert_array_equal(alone.deterministic(OBS), policy.deterministic(OBS))


def test_adapter_file(tmp_path):
    expert = random_expert(hidden=(16, 16, 16))
    a = Adapter(expert, "ft", batch_size=16, learning_starts=16)
    env = pendulum(12.0).make()
    obs, _ = env.reset(seed=0)
    for _ in range(40):
        act = a.act(obs)
        nxt, r, term, trunc, _ = env.step(act)
        a.observe(obs, act, r, nxt, term, trunc)
        a.update()
        obs = env.reset()[0] if term or trunc else nxt
    a.save(tmp_path / "adapted.safetensors")
    policy, trained_env = load_policy(tmp_path / "adapted.safetensors")
    assert trained_env == expert.env and policy.hidden == (16, 16, 16)
    np.testing.assert_array_equal(policy.deterministic(OBS), a.policy(OBS))
    spec = ModelSpec("adapter", 3, 1, (16, 16, 16), expert.env, "source")  # it names its expert's env
    assert read_spec(tmp_path / "adapted.safetensors") == spec


def test_pretrain_run_actor_and_expert_files(tmp_path):
    from daftrl.loops import PretrainConfig, pretrain
    from daftrl.sac import SACConfig

    run = tmp_path / "pretrain"
    result = pretrain(PretrainConfig(env="Pendulum-v1", steps=200, warmup_steps=100, sac=SACConfig(hidden=(16,),
                      batch_size=16), buffer_size=1000, eval_every=200, eval_episodes=1, run_dir=str(run)), quiet=True)
    policy, env = load_policy(run)  # one hidden layer: the output layer is Dense_1
    assert (env, policy.hidden) == ("Pendulum-v1", (16,))
    assert read_spec(run / "checkpoint.safetensors") == ModelSpec("pretrain", 3, 1, (16,), "Pendulum-v1", "source")
    actor_file = run / "actors" / "step_00000200.safetensors"
    assert read_spec(actor_file) == ModelSpec("actor", 3, 1, (16,), "Pendulum-v1", "source")
    assert load_expert(run).act_dim == 1 and load_expert(run).hidden == (16,)
    from daftrl.envs.factory import resolve_env

    assert_reproduces_final_eval(run, result, resolve_env("Pendulum-v1"))
    actor, _ = load_policy(actor_file)
    np.testing.assert_array_equal(actor.deterministic(OBS), policy.deterministic(OBS))
    expert = random_expert(act_dim=2, hidden=(16, 12, 8))  # deeper than two hidden layers
    save_expert(tmp_path / "expert.safetensors", expert)
    assert read_spec(tmp_path / "expert.safetensors") == ModelSpec("expert", 3, 2, (16, 12, 8), expert.env, "source")
    loaded, env = load_policy(tmp_path / "expert.safetensors")
    assert env == expert.env
    obs = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.deterministic(obs), expert.policy().deterministic(obs))
    back = load_expert(tmp_path / "expert.safetensors")
    assert (back.obs_dim, back.act_dim, back.hidden, back.meta) == (3, 2, (16, 12, 8), {})


def test_an_imported_expert_loads_by_its_name(tmp_path, monkeypatch):
    """`daftrl expert import` writes $DAFTRL_HOME/experts/NAME/: `--expert NAME` finds it; a path of that name in
    the working directory is a path, and an unknown name is refused naming what an expert can be."""
    from daftrl.checkpoint import daftrl_home

    expert = random_expert(hidden=(8,))
    save_expert(daftrl_home() / "experts" / "mine" / "expert.safetensors", expert)
    monkeypatch.chdir(tmp_path)
    assert load_expert("mine").hidden == (8,)
    (tmp_path / "mine").mkdir()  # ./mine exists and holds no expert: it is what the user meant
    with pytest.raises((ValueError, CheckpointError)):
        load_expert("mine")
    with pytest.raises(ValueError, match="an imported expert's name"):
        load_expert("theirs")


def test_unknown_kind_names_the_supported_ones(tmp_path):
    save_arrays(tmp_path / "x.safetensors", {"a": np.zeros(2)}, kind="replay", meta={})
    with pytest.raises(CheckpointError, match="holds a 'replay' checkpoint; a policy loads from pretrain, adapt, "
                                              "cotrain, adapter, offline, actor, expert checkpoints"):
        load_policy(tmp_path / "x.safetensors")
