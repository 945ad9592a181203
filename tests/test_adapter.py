"""Adapter round trips, the adapt loop's resume, refusal of mismatched experts, and learning."""

import json

import gymnasium as gym
import numpy as np
import pytest

from conftest import random_expert
from daftrl.adapter import Adapter
from daftrl.checkpoint import load_arrays
from daftrl.envs.factory import EnvHandle
from daftrl.experts import load_expert, save_expert
from daftrl.loops import AdaptRunConfig, adapt


def pendulum(g: float = 10.0) -> EnvHandle:
    """Pendulum-v1 with gravity g and actions rescaled to [-1, 1]."""

    def make():
        one = np.ones(1, np.float32)
        return gym.wrappers.RescaleAction(gym.make("Pendulum-v1", g=g), -one, one)

    return EnvHandle(f"pendulum-g{g}", "target", None, 3, 1, make)


def drive(adapter: Adapter, steps: int, seed: int = 0) -> None:
    env = pendulum(12.0).make()
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        a = adapter.act(obs)
        nxt, r, term, trunc, _ = env.step(a)
        adapter.observe(obs, a, r, nxt, term, trunc)
        adapter.update()
        obs = env.reset()[0] if term or trunc else nxt


@pytest.mark.parametrize("method", ["daft", "ft", "sgft", "single-critic", "reward-shaping"])
def test_adapter_save_load_continues_identically(tmp_path, method):
    overrides = {"batch_size": 16, "learning_starts": 16}
    a = Adapter(random_expert(), method, **overrides)
    drive(a, 40)
    a.save(tmp_path / "a.safetensors")
    b = Adapter.load(tmp_path / "a.safetensors")
    obs = np.ones(3, np.float32)
    np.testing.assert_array_equal(a.act(obs, explore=False), b.act(obs, explore=False))
    drive(a, 30, seed=1)
    drive(b, 30, seed=1)
    a.save(tmp_path / "a2.safetensors")
    b.save(tmp_path / "b2.safetensors")
    A, _ = load_arrays(tmp_path / "a2.safetensors")
    B, _ = load_arrays(tmp_path / "b2.safetensors")
    assert [k for k in A if not np.array_equal(A[k], B[k])] == []


def test_adapter_rejects_bad_input(tmp_path):
    a = Adapter(random_expert(), "ft")
    with pytest.raises(ValueError, match=r"shape \(5,\), the policy expects \(3,\)"):
        a.act(np.zeros(5))
    with pytest.raises(ValueError, match="NaN or inf: no action"):
        a.act(np.array([0.0, np.nan, 0.0]))
    with pytest.raises(ValueError, match="unknown method"):
        Adapter(random_expert(), "daftt")
    assert a.update() is None  # nothing to learn from yet


@pytest.mark.parametrize("field, value, match", [
    ("obs", 0.0, r"obs has shape \(\)"),  # a scalar would broadcast over the whole row
    ("next_obs", np.zeros((2, 3)), r"next_obs has shape \(2, 3\)"),
    ("action", np.zeros(2), r"action has shape \(2,\)"),
    ("next_obs", np.array([0.0, np.inf, 0.0]), "next_obs contains NaN or inf"),
    ("action", np.array([np.nan]), "action contains NaN or inf"),
    ("action", np.array([1.5]), r"outside \[-1, 1\].*before rescaling"),  # rescaled to the robot's limits
    ("reward", float("nan"), "reward must be one finite number"),
    ("reward", np.ones(2), "reward must be one finite number"),
])
def test_adapter_observe_stores_nothing_on_bad_input(field, value, match):
    """A malformed or non-finite transition from a real system is refused before it reaches the buffer."""
    a = Adapter(random_expert(), "ft")
    good = {"obs": np.zeros(3), "action": np.zeros(1), "reward": 1.0, "next_obs": np.ones(3)}
    a.observe(**good, terminated=False, truncated=False)
    with pytest.raises(ValueError, match=match):
        a.observe(**{**good, field: value}, terminated=False, truncated=False)
    assert len(a.buffer) == 1 and a.counters["env_steps"] == 1
    np.testing.assert_array_equal(a.buffer.data["next_obs"][:1], [[1.0, 1.0, 1.0]])


def test_adapter_warms_up_with_uniform_actions_as_the_adapt_loop_does():
    """With warmup_steps = N the first N exploring actions are uniform draws of the adapter's RNG (reading (c) of
    docs/assumptions.md), not samples of pi; the (N+1)-th is pi's. The adapt loop calls this same `act`."""
    n = 5
    a = Adapter(random_expert(), "ft", seed=3, warmup_steps=n)
    rng = np.random.default_rng(3)
    obs = np.zeros(3)
    for _ in range(n):
        action = a.act(obs)
        np.testing.assert_array_equal(action, rng.uniform(-1.0, 1.0, 1).astype(np.float32))
        np.testing.assert_array_equal(a.act(obs, explore=False), a.policy(obs[None])[0])  # evaluation: no warm-up
        a.observe(obs, action, 0.0, obs, False, False)
    assert a.counters["act_calls"] == 0
    a.act(obs)
    assert a.counters["act_calls"] == 1  # warmed up: a sample of pi


def test_adapter_load_of_an_expert_says_to_start_from_it(tmp_path):
    save_expert(tmp_path / "expert.safetensors", random_expert())
    with pytest.raises(ValueError, match=r"'expert' checkpoint.*Adapter.from_expert\(path\)"):
        Adapter.load(tmp_path / "expert.safetensors")
    with pytest.raises(ValueError, match=r"'expert' checkpoint.*Adapter.from_expert\(path\)"):
        Adapter.load(tmp_path)  # its directory: the same answer, not a missing checkpoint.safetensors


def test_adapter_policy_checks_its_input():
    a = Adapter(random_expert(), "ft")
    with pytest.raises(ValueError, match=r"shape \(2, 5\), the policy expects"):
        a.policy(np.zeros((2, 5)))
    assert a.policy(np.zeros((4, 3))).shape == (4, 1)


def test_adapt_refuses_an_expert_of_another_robot(tmp_path):
    with pytest.raises(ValueError, match="sizes 3/1.*4/2"):
        adapt(AdaptRunConfig(task="x", steps=10, run_dir=str(tmp_path / "r")),
              target=EnvHandle("x", "target", None, 4, 2, lambda: None), expert=random_expert(), quiet=True)
    assert not (tmp_path / "r").exists()  # refused before the run directory is created


def test_adapt_resume_equals_no_stop(tmp_path):
    expert_file = tmp_path / "expert.safetensors"
    save_expert(expert_file, random_expert())
    common = dict(task="pendulum", method="daft", expert=str(expert_file), eval_every=150, eval_episodes=1,
                  log_every=50)
    from daftrl.algos import DAFTConfig

    mc = DAFTConfig(batch_size=16, learning_starts=16)
    adapt(AdaptRunConfig(**common, steps=300, run_dir=str(tmp_path / "straight")), mc, target=pendulum(12.0),
          quiet=True)
    adapt(AdaptRunConfig(**common, steps=170, run_dir=str(tmp_path / "stopped")), mc, target=pendulum(12.0),
          quiet=True)
    adapt(AdaptRunConfig(steps=300, resume=True, run_dir=str(tmp_path / "stopped")), target=pendulum(12.0),
          quiet=True)
    A, _ = load_arrays(tmp_path / "straight" / "checkpoint.safetensors")
    B, _ = load_arrays(tmp_path / "stopped" / "checkpoint.safetensors")
    assert [k for k in A if not np.array_equal(A[k], B[k])] == []
    # the adapt run's adapter loads for deployment: the policy it evaluated, the target data it gathered
    deployed = Adapter.load(tmp_path / "straight")
    assert deployed.counters["env_steps"] == 300 and len(deployed.buffer) == 300
    D, _ = deployed.to_arrays()
    assert [k for k in D if k.startswith("state/") and not np.array_equal(D[k], A[k])] == []
    np.testing.assert_array_equal(D["replay/obs"], A["replay/obs"])


@pytest.mark.slow  # make test-slow (CI runs it); kept out of make test's 5-minute budget
def test_daft_adaptation_beats_zero_shot(pendulum_expert, tmp_path):
    """Expert trained on Pendulum (g = 10) fails zero-shot at g = 15 (about -950); DAFT recovers in 3000 steps."""
    run, _ = pendulum_expert
    result = adapt(AdaptRunConfig(task="pendulum-g15", method="daft", steps=3000, eval_every=3000,
                                  eval_episodes=10, run_dir=str(tmp_path / "daft")),
                   target=pendulum(15.0), expert=load_expert(run), quiet=True)
    zero_shot, final = result["zero_shot"], result["final_eval"]["return_mean"]
    assert zero_shot < -700
    assert final > zero_shot + 300 and final > -500, (zero_shot, final)
    rows = [json.loads(x) for x in open(tmp_path / "daft" / "metrics.jsonl")]
    betas = [r["beta"] for r in rows if r["kind"] == "train" and "beta" in r]
    assert betas[0] > betas[-1] > 0  # the source term's weight decays


@pytest.mark.parametrize("method", ["ft", "daft"])
def test_critic_init_fresh_transfers_only_the_policy(method):
    """--critic-init fresh (protocol study reading (d)): the actor is the expert's, the critics are not."""
    expert = random_expert(seed=3)  # not the seed-0 initialisation a fresh critic gets
    kept, fresh = Adapter(expert, method), Adapter(expert, method, critic_init="fresh")
    for a in (kept, fresh):
        for x, y in zip(jax_leaves(a.state.actor), jax_leaves(expert.actor), strict=True):
            np.testing.assert_array_equal(x, y)
    def distance(critic):  # largest difference over every weight of the first two members
        return max(np.abs(x[:2] - y).max() for x, y in zip(jax_leaves(critic), jax_leaves(expert.critic),
                                                              strict=True))

    # the expert's twins (plus DAFT's tiny ensemble noise) vs a random initialisation
    assert distance(kept.state.critic) < 0.05
    assert distance(fresh.state.critic) > 0.05
    assert "q_src" not in fresh.state.extra or [
        k for k, (x, y) in enumerate(zip(jax_leaves(fresh.state.extra["q_src"]), jax_leaves(expert.critic),
                                         strict=True)) if not np.array_equal(x, y)] == []


def jax_leaves(tree):
    import jax

    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_collector_counts_falls_not_time_limits():
    """Training episodes that end by termination are falls; truncations (time limits) are not."""
    from daftrl.envs.collect import Collector

    class Toy:  # terminates at t = 3 on even episodes, truncates at t = 5 on odd ones
        def __init__(self):
            self.episode, self.t = -1, 0

        def reset(self, seed=None):
            self.episode, self.t = self.episode + 1, 0
            return np.zeros(1, np.float32), {}

        def step(self, action):
            self.t += 1
            fell = self.episode % 2 == 0 and self.t == 3
            return np.zeros(1, np.float32), 1.0, fell, not fell and self.t == 5, {}

    c = Collector(Toy(), seed=0)
    for _ in range(3 + 5 + 3 + 2):
        c.step(np.zeros(1))
    assert c.experience() == {"train_episodes": 3, "falls": 2, "train_return": pytest.approx((3 + 5 + 3) / 3)}
