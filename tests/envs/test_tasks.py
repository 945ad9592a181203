"""The task suite: targets differ from their source exactly as notes/tasks.md specifies, and nowhere else."""

import copy
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from daftrl.envs import ROBOTS, TASKS, compile_model, get_task, make_env, model_diff

PAPER = ["halfcheetah-broken-back-thigh", "halfcheetah-no-thighs", "hopper-broken-joints", "hopper-big-head",
         "walker-broken-right-foot", "walker-no-right-thigh", "ant-broken-hips", "ant-short-feet"]
INVERTED = [f"{r}-inverted-actions" for r in ROBOTS]
ODRL_SAMPLE = ["halfcheetah-gravity-0.5", "hopper-friction-2.0", "walker-kinematic-footjnt-hard",
               "ant-kinematic-anklejnt-medium", "halfcheetah-morph-thigh-hard", "hopper-morph-foot-easy",
               "walker-morph-leg-medium", "ant-morph-halflegs-hard"]

# Exactly which elements each paper task changes (notes/tasks.md section 2).
EXPECTED_CHANGES = {
    "halfcheetah-broken-back-thigh": {"jnt_range": {"bthigh"}},
    "halfcheetah-no-thighs": {
        "geom_size": {"bthigh", "bshin", "bfoot", "fthigh", "fshin"},
        "geom_pos": {"bthigh", "bshin", "fthigh", "fshin"},
        "geom_quat": {"bthigh", "bshin", "fthigh", "fshin"},
        "body_pos": {"bshin", "bfoot", "fshin", "ffoot"},
        "body_mass": {"torso", "bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot"},  # settotalmass renormalises
        "body_inertia": {"torso", "bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot"},
    },
    "hopper-broken-joints": {"jnt_range": {"thigh_joint", "foot_joint"}},
    "hopper-big-head": {"geom_size": {"torso_geom", "thigh_geom"}, "body_mass": {"torso", "thigh"},
                        "body_inertia": {"torso", "thigh"}},
    "walker-broken-right-foot": {"jnt_range": {"foot_joint"}},
    "walker-no-right-thigh": {"geom_size": {"thigh_geom", "leg_geom"},
                              "geom_pos": {"thigh_geom", "leg_geom", "foot_geom"},
                              "jnt_pos": {"leg_joint", "foot_joint"}, "body_mass": {"thigh", "leg"},
                              "body_inertia": {"thigh", "leg"}},
    "ant-broken-hips": {"jnt_range": {"hip_1", "hip_2"}},
    "ant-short-feet": {"geom_size": {"left_ankle_geom", "right_ankle_geom"},
                       "geom_pos": {"left_ankle_geom", "right_ankle_geom"}, "body_mass": {"body4", "body7"},
                       "body_inertia": {"body4", "body7"}},
}


def models(name):
    task = get_task(name)
    return compile_model(ROBOTS[task.robot]), make_env(name, "target").unwrapped.model


@pytest.mark.parametrize("name", PAPER)
def test_paper_target_differs_exactly_in_the_intended_elements(name):
    source, target = models(name)
    diff = model_diff(source, target)
    assert {k: set(v) for k, v in diff.items()} == EXPECTED_CHANGES[name]


def _range(model, joint):
    return model.jnt_range[model.joint(joint).id]


def _mass(model, body):
    return model.body_mass[model.body(body).id]


def test_paper_numbers():
    """Key values of notes/tasks.md sections 2.1-2.3 (target ranges in radians, masses in kg)."""
    deg = np.pi / 180
    _, m = models("halfcheetah-broken-back-thigh")
    np.testing.assert_allclose(_range(m, "bthigh"), [-0.0052, 0.0105], rtol=1e-12)
    _, m = models("hopper-broken-joints")
    np.testing.assert_allclose(_range(m, "thigh_joint"), [-0.15 * deg, 0], atol=1e-12)
    np.testing.assert_allclose(_range(m, "foot_joint"), [-18 * deg, 18 * deg], rtol=1e-12)
    _, m = models("walker-broken-right-foot")
    np.testing.assert_allclose(_range(m, "foot_joint"), [-0.45 * deg, 0.45 * deg], rtol=1e-12)
    np.testing.assert_allclose(_range(m, "foot_left_joint"), [-45 * deg, 45 * deg], rtol=1e-12)
    _, m = models("ant-broken-hips")
    for j in ("hip_1", "hip_2"):
        np.testing.assert_allclose(_range(m, j), [-0.3 * deg, 0.3 * deg], rtol=1e-12)
    np.testing.assert_allclose(_range(m, "hip_3"), [-30 * deg, 30 * deg], rtol=1e-12)
    _, m = models("hopper-big-head")
    assert _mass(m, "torso") == pytest.approx(27.8162, abs=1e-4)
    assert _mass(m, "thigh") == pytest.approx(2.5300, abs=1e-4)
    assert m.body_mass.sum() == pytest.approx(38.4431, abs=1e-4)
    _, m = models("halfcheetah-no-thighs")
    for body, mass in {"torso": 8.1973, "bthigh": 0.3542, "bshin": 1.4971, "bfoot": 1.1601, "fthigh": 0.3542,
                       "fshin": 1.2771, "ffoot": 1.1601}.items():
        assert _mass(m, body) == pytest.approx(mass, abs=1e-4), body
    assert m.body_mass.sum() == pytest.approx(14.0)
    _, m = models("walker-no-right-thigh")
    assert _mass(m, "thigh") == pytest.approx(0.5629, abs=1e-4) and _mass(m, "leg") == pytest.approx(4.0129, abs=1e-4)
    assert _mass(m, "thigh_left") == pytest.approx(4.0579, abs=1e-4)
    assert m.body_mass.sum() == pytest.approx(21.4136, abs=1e-4)
    np.testing.assert_allclose(m.geom_friction[m.geom("foot_geom").id][0], 1.9)  # v5 source friction kept
    _, m = models("ant-short-feet")
    assert m.body_mass.sum() == pytest.approx(0.8256, abs=1e-4)


FAMILY_FIELDS = {"kinematic": {"jnt_range"}, "gravity": {"opt.gravity"}, "friction": {"geom_friction"},
                 "morph": {"geom_size", "geom_pos", "geom_quat", "body_pos", "jnt_pos", "body_mass", "body_inertia"}}


@pytest.mark.parametrize("name", [n for n, t in TASKS.items() if t.family in FAMILY_FIELDS])
def test_odrl_targets_change_only_their_family(name):
    task = TASKS[name]
    source = compile_model(ROBOTS[task.robot])
    diff = model_diff(source, compile_model(ROBOTS[task.robot], task.shifts))
    assert diff and set(diff) <= FAMILY_FIELDS[task.family]


def test_inverted_and_source_models_are_identical():
    for name in INVERTED:
        source, target = models(name)
        assert model_diff(source, target) == {}


def rollout(env, actions, seed=0):
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for a in actions:
        obs, *_ = env.step(a)
        out.append(obs)
    return np.array(out)


def random_actions(name, n=100, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, get_task(name).act_dim)).astype(np.float32)


@pytest.mark.parametrize("name", PAPER + INVERTED + ODRL_SAMPLE)
def test_same_state_same_actions_different_trajectory(name):
    actions = random_actions(name)
    src = rollout(make_env(name, "source"), actions)
    tgt = rollout(make_env(name, "target"), actions)
    np.testing.assert_array_equal(src[0], tgt[0])  # same initial state
    assert not np.allclose(src, tgt, atol=1e-6)


@pytest.mark.parametrize("name", PAPER + INVERTED)
def test_fresh_builds_are_identical_and_deepcopy_pickle_keep_the_target(name):
    actions = random_actions(name, 60)
    ref = rollout(make_env(name, "target"), actions)
    np.testing.assert_array_equal(ref, rollout(make_env(name, "target"), actions))
    env = make_env(name, "target")
    for clone in (copy.deepcopy(env), pickle.loads(pickle.dumps(env))):
        assert model_diff(env.unwrapped.model, clone.unwrapped.model) == {}
        np.testing.assert_array_equal(ref, rollout(clone, actions))


@pytest.mark.parametrize("robot", list(ROBOTS))
def test_inverted_target_is_source_stepped_with_negated_actions(robot):
    name = f"{robot}-inverted-actions"
    actions = random_actions(name)
    np.testing.assert_array_equal(rollout(make_env(name, "target"), actions),
                                  rollout(make_env(name, "source"), -actions))


@pytest.mark.parametrize("robot", list(ROBOTS))
def test_source_is_the_stock_gymnasium_env(robot):
    r = ROBOTS[robot]
    stock = gym.make(r.gym_id, **dict(r.kwargs))
    ours = make_env(f"{robot}-inverted-actions", "source")
    assert model_diff(stock.unwrapped.model, ours.unwrapped.model) == {}
    actions = random_actions(f"{robot}-inverted-actions", 50)
    np.testing.assert_array_equal(rollout(stock, actions), rollout(ours, actions))
    assert ours.observation_space.shape == (r.obs_dim,) == ({"halfcheetah": 17, "hopper": 11, "walker": 17,
                                                            "ant": 27}[robot],)
    assert ours.spec.max_episode_steps == 1000


@pytest.mark.parametrize("name", PAPER + INVERTED)
def test_gymnasium_env_checker_and_registered_ids(name):
    env = make_env(name, "target")
    check_env(env.unwrapped, skip_render_check=True)
    assert env.spec.max_episode_steps == 1000
    registered = gym.make(f"daftrl/{name}-v0")
    assert model_diff(env.unwrapped.model, registered.unwrapped.model) == {}
    assert registered.observation_space.shape == (get_task(name).obs_dim,)


def test_evaluation_envs_are_targets_too():
    from daftrl.env_factory import resolve_env

    for name in PAPER:
        built = resolve_env(name, "target").make().unwrapped.model
        assert model_diff(make_env(name, "target").unwrapped.model, built) == {}


def test_bad_names_factors_and_levels_are_explained():
    with pytest.raises(ValueError, match="did you mean halfcheetah-broken-back-thigh"):
        get_task("halfcheetah-broken-back-thighs")
    with pytest.raises(ValueError, match="positive number"):
        get_task("hopper-gravity--1")
    with pytest.raises(ValueError, match="positive number"):
        get_task("hopper-friction-abc")
    with pytest.raises(ValueError, match="easy, medium, hard"):
        get_task("walker-kinematic-footjnt-extreme")
    with pytest.raises(ValueError, match="parts are footjnt, legjnt"):
        get_task("hopper-kinematic-hipjnt-easy")
    with pytest.raises(ValueError, match="domain"):
        make_env("ant-short-feet", "real")
    assert get_task("halfcheetah-gravity-0.37").shifts[0].factor == 0.37
    with pytest.warns(UserWarning, match="same task"):
        make_env("hopper-friction-0.1", "target")


def test_user_defined_task_in_a_few_lines():
    from daftrl.envs import Gravity, JointRange, Mass, Task

    task = Task("hopper-stiff-knee-low-g", "hopper", (JointRange(("leg_joint",), 0.3, 0.3), Gravity(0.5),
                                                      Mass("foot", 2.0)), "knee range x0.3 under half gravity")
    m = make_env(task, "target").unwrapped.model
    assert _mass(m, "foot") == pytest.approx(2 * 5.31557, abs=1e-4)
    assert m.opt.gravity[2] == pytest.approx(-4.905)
    assert _range(m, "leg_joint")[0] == pytest.approx(-150 * 0.3 * np.pi / 180)


def test_render_source_and_target_side_by_side(tmp_path):
    from daftrl.envs import render_task

    out = tmp_path / "hopper-big-head.png"
    try:
        render_task("hopper-big-head", str(out), width=64, height=48)
    except RuntimeError as e:  # no EGL/OSMesa on this machine
        pytest.skip(str(e))
    import imageio.v3 as iio

    img = iio.imread(out)
    assert img.shape == (48, 64 * 2 + 8, 3)
    assert not np.array_equal(img[:, :64], img[:, -64:])  # the big head is visible
