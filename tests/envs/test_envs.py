"""The envs make_env builds: stock sources, targets that stay targets (copies, pickles, gymnasium ids), action
inversion, seeding, Gymnasium's checker."""

import copy
import json
import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from envcheck import INVERTED, OBS_DIM, ODRL_SAMPLE, PAPER, actions, assert_same_rollout, rollout
from gymnasium.utils.env_checker import check_env

from daftrl.envs import ROBOTS, TASKS, ActionInversion, Task, changed_fields, get_task, make_env, register_envs


@pytest.mark.parametrize("robot", list(ROBOTS))
def test_source_is_the_stock_gymnasium_env(robot):
    r = ROBOTS[robot]
    name = f"{robot}-inverted-actions"
    stock, ours = gym.make(r.gym_id, **dict(r.kwargs)), make_env(name, "source")
    assert changed_fields(stock.unwrapped.model, ours.unwrapped.model) == set()
    assert type(ours.unwrapped) is type(stock.unwrapped)
    assert_same_rollout(rollout(stock, actions(name, 300)), rollout(ours, actions(name, 300)))
    assert ours.observation_space.shape == (OBS_DIM[robot],) == (get_task(name).obs_dim,)
    assert ours.action_space.shape == (get_task(name).act_dim,)
    assert ours.spec.id == r.gym_id and ours.spec.max_episode_steps == 1000


@pytest.mark.filterwarnings("ignore:hopper-friction-0.1 is the same task")
@pytest.mark.parametrize("name", list(TASKS))
def test_same_start_same_actions_different_trajectory(name):
    """300 steps without termination, so that even the easy kinematic levels reach a narrowed joint limit."""
    acts = actions(name, 300)
    kwargs = {} if name.startswith("halfcheetah") else {"terminate_when_unhealthy": False}
    source, target = (rollout(make_env(name, domain, **kwargs), acts) for domain in ("source", "target"))
    np.testing.assert_array_equal(source["obs"][0], target["obs"][0])  # the same reset (reset noise unchanged)
    assert not np.allclose(source["obs"], target["obs"], atol=1e-6)


@pytest.mark.parametrize("name", PAPER + INVERTED + ["walker-morph-leg-hard", "hopper-gravity-0.37"])
def test_fresh_builds_deepcopy_and_pickle_keep_the_target(name):
    """Two fresh builds agree; a deep copy or an unpickled env is rebuilt as the target, never the source (the
    bug that made PAR evaluate on the source robot: its first release deep-copied its evaluation envs, and gym's
    EzPickle rebuilt each copy without its custom XML; docs/tasks.md, "How targets are built, and why they stay
    targets")."""
    acts = actions(name, 80)
    reference = rollout(make_env(name, "target"), acts)
    assert_same_rollout(reference, rollout(make_env(name, "target"), acts))
    env = make_env(name, "target")
    env.reset(seed=1)
    env.step(acts[0])  # a used env
    source_model = make_env(name, "source").unwrapped.model
    for clone in (copy.deepcopy(env), pickle.loads(pickle.dumps(env))):
        assert changed_fields(env.unwrapped.model, clone.unwrapped.model) == set()
        assert clone.unwrapped.task == get_task(name)
        if not name.endswith("inverted-actions"):
            assert changed_fields(source_model, clone.unwrapped.model)
        assert_same_rollout(reference, rollout(clone, acts))


def test_deepcopy_keeps_a_user_defined_task_and_env_kwargs():
    from daftrl.envs import Gravity

    task = Task("hopper-moon", "hopper", (Gravity(0.165),), "moon gravity")
    env = make_env(task, "target", reset_noise_scale=0.0)
    clone = copy.deepcopy(env)
    assert clone.unwrapped.task == task and clone.unwrapped.model.opt.gravity[2] == pytest.approx(-9.81 * 0.165)
    assert clone.unwrapped._reset_noise_scale == 0.0


@pytest.mark.parametrize("robot", list(ROBOTS))
def test_inverted_target_is_the_source_stepped_with_negated_actions(robot):
    """The same observations, rewards and flags, bit for bit; the caller keeps its own action (docs/tasks.md,
    "Action inversion")."""
    name = f"{robot}-inverted-actions"
    acts = actions(name, 200) * np.float32(0.7)
    kept = acts.copy()
    assert_same_rollout(rollout(make_env(name, "target"), acts), rollout(make_env(name, "source"), -acts))
    np.testing.assert_array_equal(acts, kept)


def test_action_inversion_mask_reverses_only_the_masked_motors():
    mask = (True, False, False)
    task = Task("hopper-reversed-hip", "hopper", (ActionInversion(mask),), "hip motor reversed")
    acts = actions("hopper-broken-joints", 100)
    flipped = acts * np.array([-1, 1, 1], np.float32)
    assert_same_rollout(rollout(make_env(task, "target"), acts), rollout(make_env(task, "source"), flipped))


@pytest.mark.parametrize("name", PAPER + INVERTED + ODRL_SAMPLE)
def test_gymnasium_env_checker_passes(name):
    env = make_env(name, "target")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Box observation space (minimum|maximum)")  # v5 obs are unbounded
        check_env(env.unwrapped, skip_render_check=True)
    assert env.spec.max_episode_steps == 1000
    assert env.observation_space.shape == (OBS_DIM[get_task(name).robot],)


@pytest.mark.parametrize("name", PAPER + INVERTED + ["ant-morph-alllegs-hard"])
def test_registered_gymnasium_ids_are_the_targets(name):
    register_envs()
    register_envs()  # idempotent
    target = make_env(name, "target")
    registered = gym.make(f"daftrl/{name}-v0")
    assert changed_fields(target.unwrapped.model, registered.unwrapped.model) == set()
    assert registered.spec.max_episode_steps == 1000 and registered.spec == target.spec
    rebuilt = gym.make(gym.envs.registration.EnvSpec.from_json(registered.spec.to_json()))  # how Minari recovers it
    assert changed_fields(target.unwrapped.model, rebuilt.unwrapped.model) == set()
    assert json.loads(registered.spec.to_json())["kwargs"] == {"task": name}
    acts = actions(name, 50)
    assert_same_rollout(rollout(target, acts), rollout(registered, acts))


def test_every_standard_task_is_registered():
    register_envs()
    assert {f"daftrl/{name}-v0" for name in TASKS} <= set(gym.registry)


def test_time_limit_is_1000_steps():
    env = make_env("halfcheetah-broken-back-thigh", "target", seed=0)
    env.reset()
    for step in range(1, 1001):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert not terminated and truncated == (step == 1000)


@pytest.mark.parametrize("domain", ["source", "target"])
def test_seed_makes_the_first_reset_equal_reset_with_that_seed(domain):
    name = "hopper-big-head"
    seeded, plain = make_env(name, domain, seed=7), make_env(name, domain)
    assert seeded.np_random_seed == 7
    for first in (True, False, False):
        np.testing.assert_array_equal(seeded.reset()[0], plain.reset(seed=7 if first else None)[0])
    assert np.array_equal(make_env(name, domain, seed=7).action_space.sample(),
                          make_env(name, domain, seed=7).action_space.sample())


def test_gym_kwargs_reach_both_domains():
    for domain in ("source", "target"):
        env = make_env("walker-no-right-thigh", domain, reset_noise_scale=0.0, max_episode_steps=10)
        env.reset(seed=3)
        assert env.unwrapped._reset_noise_scale == 0.0 and env.spec.max_episode_steps == 10
        np.testing.assert_array_equal(env.unwrapped.data.qpos, env.unwrapped.init_qpos)


def test_hopper_friction_below_half_warns_and_equals_friction_half():
    """MuJoCo takes the larger friction of two geoms and Hopper's floor keeps 1.0 (ODRL issue #8; docs/tasks.md,
    Friction)."""
    with pytest.warns(UserWarning, match="same task as hopper-friction-0.5"):
        low = make_env("hopper-friction-0.1", "target")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        half = make_env("hopper-friction-0.5", "target")
    acts = actions("hopper-friction-0.1", 200)
    assert_same_rollout(rollout(low, acts), rollout(half, acts))


@pytest.mark.parametrize("name", PAPER + INVERTED)
def test_evaluation_envs_are_targets_too(name):
    """The training loops' env factory builds the same target as make_env, so evaluation envs never fall back to
    the source robot (PAR's deep-copy bug)."""
    from daftrl.envs.factory import resolve_env

    built = resolve_env(name, "target").make()
    assert changed_fields(make_env(name, "target").unwrapped.model, built.unwrapped.model) == set()
    assert built.unwrapped.task == get_task(name)
