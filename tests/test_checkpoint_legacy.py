"""Checkpoints written before every kind recorded its sizes, env and domain (tests/fixtures/checkpoints, made by
commit 647acaf with make.py there) still load: the same policy, expert and adapter, acting exactly as they did
then (actions recorded by that version), and their runs still resume."""

import json
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from daftrl.adapter import Adapter
from daftrl.checkpoint import CheckpointError, ModelSpec, load_arrays, read_spec
from daftrl.experts import load_expert
from daftrl.policy import load_policy

FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
OBS, ACT = np.asarray(EXPECTED["obs"], np.float32), np.asarray(EXPECTED["act"], np.float32)
KIND = {"pretrain": "pretrain", "actor.safetensors": "actor", "expert.safetensors": "expert", "adapt": "adapt",
        "cotrain": "cotrain", "adapter.safetensors": "adapter"}


def expected_actions(values) -> np.ndarray:
    return np.asarray(values, np.float32)


def pendulum(g: float, domain: str = "target"):
    """The envs of the fixture runs (make.py): Pendulum-v1 with gravity g, actions rescaled to [-1, 1]."""
    from daftrl.envs.factory import EnvHandle

    def make():
        one = np.ones(1, np.float32)
        return gym.wrappers.RescaleAction(gym.make("Pendulum-v1", g=g), -one, one)

    return EnvHandle(f"pendulum-g{g}", domain, None, 3, 1, make)


BORN_DESCRIBED = {"offline"}
"""Kinds added after `describe` (their files always recorded sizes, env and domain): no legacy fixture."""


def test_every_kind_has_a_fixture():
    from daftrl.checkpoint import LAYOUTS

    assert sorted(KIND.values()) == sorted(set(LAYOUTS) - BORN_DESCRIBED) and set(EXPECTED["files"]) == set(KIND)
    assert sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file()) < 200_000


@pytest.mark.parametrize("name", list(KIND))
def test_old_file_reads_its_spec_from_shapes_and_old_fields(name):
    e, run = EXPECTED["files"][name], FIXTURES / name
    if run.is_dir():
        spec = read_spec(run / "checkpoint.safetensors",
                         run_config=lambda: json.loads((run / "config.json").read_text())["config"])
    else:
        spec = read_spec(run)
    assert spec == ModelSpec(KIND[name], e["obs_dim"], e["act_dim"], tuple(e["hidden"]), e["env"], e["domain"])


@pytest.mark.parametrize("name", list(KIND))
def test_old_file_loads_the_same_policy(name):
    e = EXPECTED["files"][name]
    policy, env = load_policy(FIXTURES / name)
    assert (env, policy.trained_domain) == (e["env"], e["domain"])
    assert (policy.obs_dim, policy.act_dim, policy.hidden) == (e["obs_dim"], e["act_dim"], tuple(e["hidden"]))
    np.testing.assert_array_equal(policy.deterministic(OBS), expected_actions(e["actions"]))


@pytest.mark.parametrize("name", ["pretrain", "expert.safetensors"])
def test_old_file_loads_the_same_expert(name):
    from daftrl.nn import QEnsemble

    e = EXPECTED["files"][name]["expert"]
    expert = load_expert(FIXTURES / name)
    assert (expert.name, expert.env, expert.log_alpha, len(expert.source)) == (e["name"], e["env"], e["log_alpha"],
                                                                                e["source_size"])
    np.testing.assert_array_equal(expert.policy().deterministic(OBS), expected_actions(e["actions"]))
    q = QEnsemble(len(e["q"]), expert.hidden).apply(expert.critic, OBS, ACT)
    np.testing.assert_array_equal(np.asarray(q), np.asarray(e["q"], np.float32))


@pytest.mark.parametrize("name", ["adapt", "adapter.safetensors"])
def test_old_file_loads_the_same_adapter(name):
    e = EXPECTED["files"][name]["adapter"]
    adapter = Adapter.load(FIXTURES / name)
    assert (adapter.method_name, adapter.counters) == (e["method"], e["counters"])
    np.testing.assert_array_equal(adapter.act(OBS, explore=False), expected_actions(e["actions"]))


def test_old_cotrain_checkpoint_without_its_run_asks_for_the_run_directory(tmp_path):
    """Older cotrain checkpoints name their task only in their run's config.json."""
    shutil.copy(FIXTURES / "cotrain" / "checkpoint.safetensors", tmp_path / "alone.safetensors")
    with pytest.raises(CheckpointError, match="give the run directory"):
        load_policy(tmp_path / "alone.safetensors")


def test_old_runs_resume(tmp_path):
    """pretrain, adapt and cotrain runs written by the old version continue, and then record the new fields."""
    from daftrl.cotrain import CotrainRunConfig, cotrain
    from daftrl.loops import AdaptRunConfig, PretrainConfig, adapt, pretrain

    for name in ("pretrain", "adapt", "cotrain"):
        shutil.copytree(FIXTURES / name, tmp_path / name)
    pretrain(PretrainConfig(steps=70, resume=True, run_dir=str(tmp_path / "pretrain")), quiet=True)
    adapt(AdaptRunConfig(steps=50, resume=True, run_dir=str(tmp_path / "adapt")), target=pendulum(12.0), quiet=True)
    cotrain(CotrainRunConfig(steps=22, resume=True, run_dir=str(tmp_path / "cotrain")),
            source=pendulum(10.0, "source"), target=pendulum(14.0), quiet=True)
    steps = {"pretrain": ("step", 70), "adapt": ("step", 50), "cotrain": ("iteration", 44)}
    for name, (key, value) in steps.items():
        _, meta = load_arrays(tmp_path / name / "checkpoint.safetensors", kind=name)
        e = EXPECTED["files"][name]
        assert meta[key] == value
        assert {k: meta[k] for k in ("obs_dim", "act_dim", "hidden", "env", "domain")} == \
            {k: e[k] for k in ("obs_dim", "act_dim", "hidden", "env", "domain")}
