"""Task names, bad input, `daftrl tasks` tables and user-defined tasks."""

import subprocess
import sys

import numpy as np
import pytest
from envcheck import INVERTED, PAPER

from daftrl.envs import TASKS, GeomEdit, Gravity, JointRange, Mass, Task, describe_task, get_task, make_env, task_table


def test_task_registry_names_and_fields():
    families = {"paper": 8, "inverted": 4, "gravity": 16, "friction": 16, "kinematic": 24, "morph": 24}
    assert {f: sum(t.family == f for t in TASKS.values()) for f in families} == families
    assert [n for n, t in TASKS.items() if t.family == "paper"] == PAPER
    assert [n for n, t in TASKS.items() if t.family == "inverted"] == INVERTED
    for robot, part in (("halfcheetah", "footjnt"), ("halfcheetah", "thighjnt"), ("hopper", "footjnt"),
                        ("hopper", "legjnt"), ("walker", "footjnt"), ("walker", "thighjnt"), ("ant", "hipjnt"),
                        ("ant", "anklejnt")):
        assert {f"{robot}-kinematic-{part}-{level}" for level in ("easy", "medium", "hard")} <= set(TASKS)
    for robot, part in (("halfcheetah", "thigh"), ("halfcheetah", "torso"), ("hopper", "torso"), ("hopper", "foot"),
                        ("walker", "torso"), ("walker", "leg"), ("ant", "alllegs"), ("ant", "halflegs")):
        assert {f"{robot}-morph-{part}-{level}" for level in ("easy", "medium", "hard")} <= set(TASKS)
    for robot in ("halfcheetah", "hopper", "walker", "ant"):
        assert {f"{robot}-{family}-{f}" for family in ("gravity", "friction") for f in ("0.1", "0.5", "2.0", "5.0")
                } <= set(TASKS)
    t = TASKS["walker-no-right-thigh"]
    assert (t.robot, t.source_id, t.obs_dim, t.act_dim) == ("walker", "Walker2d-v5", 17, 6)
    assert TASKS["ant-short-feet"].source_id == "Ant-v5" and TASKS["ant-short-feet"].obs_dim == 27
    assert all(t.description and "\n" not in t.description for t in TASKS.values())
    assert [n for n, t in TASKS.items() if t.warning] == ["hopper-friction-0.1"]


def test_any_positive_factor_is_a_task():
    t = get_task("halfcheetah-friction-0.37")
    assert (t.name, t.family, t.shifts[0].factor) == ("halfcheetah-friction-0.37", "friction", 0.37)
    assert get_task("ant-gravity-2") == TASKS["ant-gravity-2.0"]  # canonical spelling
    assert get_task("walker-gravity-1e-1") == TASKS["walker-gravity-0.1"]
    assert get_task(TASKS["hopper-big-head"]) is TASKS["hopper-big-head"]


@pytest.mark.parametrize("name, message", [
    ("halfcheetah-broken-back-thighs", "did you mean halfcheetah-broken-back-thigh"),
    ("walker2d-kinematic-footjnt-hard", "did you mean walker-kinematic-footjnt-hard"),
    ("hopper-big-heads", "did you mean hopper-big-head"),
    ("hopper-gravity--1", "positive number"),
    ("hopper-gravity-0", "positive number"),
    ("hopper-friction-abc", "positive number"),
    ("ant-friction-inf", "positive number"),
    ("ant-friction- 2", "positive number"),
    ("walker-kinematic-footjnt-extreme", "easy, medium, hard"),
    ("hopper-kinematic-hipjnt-easy", "parts are footjnt, legjnt"),
    ("ant-morph-legs-hard", "parts are alllegs, halflegs"),
    ("spaceship-broken-wing", "robots: halfcheetah, hopper, walker, ant"),
])
def test_bad_names_are_explained(name, message):
    with pytest.raises(ValueError, match=message):
        get_task(name)


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="'source' or 'target'"):
        make_env("ant-short-feet", "real")
    with pytest.raises(ValueError, match="unknown robot"):
        Task("x", "humanoid", (), "no such robot")
    with pytest.raises(ValueError, match="not a daftrl.envs.Shift"):
        Task("x", "hopper", ("gravity",), "not a shift")
    with pytest.raises(ValueError, match="no geom 'head'"):
        make_env(Task("x", "hopper", (Mass("torso", 2.0), GeomEdit("head", (0.1,))), "no head geom"), "target")
    with pytest.raises(ValueError, match="has no range limit"):
        make_env(Task("x", "hopper", (JointRange(("rootx",), 0.5, 0.5),), "unlimited joint"), "target")


def test_user_defined_task_in_a_few_lines():
    task = Task("hopper-stiff-knee-low-g", "hopper", (JointRange(("leg_joint",), 0.3, 0.3), Gravity(0.5),
                                                      Mass("foot", 2.0)), "knee range x0.3, half gravity, heavy foot")
    model = make_env(task, "target", seed=0).unwrapped.model
    assert model.body_mass[model.body("foot").id] == pytest.approx(2 * 5.3156, abs=2e-4)
    assert model.opt.gravity[2] == -4.905
    np.testing.assert_allclose(model.jnt_range[model.joint("leg_joint").id], np.radians([-45, 0]), rtol=1e-14)
    assert {row[0] for row in describe_task(task)} >= {"jnt_range[leg_joint]", "opt.gravity", "body_mass[foot]"}


PAPER_ROWS = {  # docs/tasks.md, "The paper's 8 tasks": quantity -> (source, target) as `daftrl tasks show` prints them
    "halfcheetah-broken-back-thigh": {"jnt_range[bthigh]": ("[-0.52, 1.05] rad", "[-0.0052, 0.0105] rad")},
    "hopper-broken-joints": {"jnt_range[thigh_joint]": ("[-150, 0] deg", "[-0.15, 0] deg"),
                             "jnt_range[foot_joint]": ("[-45, 45] deg", "[-18, 18] deg")},
    "walker-broken-right-foot": {"jnt_range[foot_joint]": ("[-45, 45] deg", "[-0.45, 0.45] deg")},
    "ant-broken-hips": {"jnt_range[hip_1]": ("[-30, 30] deg", "[-0.3, 0.3] deg"),
                        "jnt_range[hip_2]": ("[-30, 30] deg", "[-0.3, 0.3] deg")},
    "hopper-big-head": {"geom_size[torso_geom]": ("[0.05, 0.2, 0]", "[0.125, 0.2, 0]"),
                        "geom_size[thigh_geom]": ("[0.05, 0.225, 0]", "[0.04, 0.225, 0]"),
                        "body_mass[torso]": ("3.66519", "27.8162"), "total mass": ("15.82", "38.4431")},
    "walker-no-right-thigh": {"geom_size[thigh_geom]": ("[0.05, 0.225, 0]", "[0.05, 0.0025, 0]"),
                              "jnt_pos[leg_joint]": ("[0, 0, 0.25]", "[0, 0, 0.695]"),
                              "body_mass[thigh]": ("4.05789", "0.562869"), "total mass": ("23.6771", "21.4136")},
    "halfcheetah-no-thighs": {"geom_size[bfoot]": ("[0.046, 0.094, 0]", "[0.046, 0.07, 0]"),
                              "body_pos[bfoot]": ("[-0.28, 0, -0.14]", "[-0.13, 0, -0.15]"),
                              "body_mass[torso]": ("6.25021", "8.19726"), "total mass": ("14", "14")},
    "ant-short-feet": {"body_mass[body of ankle_1]": ("0.0675922", "0.0249405"),
                       "geom_size[right_ankle_geom]": ("[0.08, 0.282843, 0]", "[0.08, 0.0707107, 0]"),
                       "total mass": ("0.91088", "0.825577")},
}


@pytest.mark.parametrize("name", PAPER)
def test_describe_paper_tasks_matches_the_spec(name):
    rows = {quantity: (source, target) for quantity, source, target in describe_task(name)}
    for quantity, (source, target) in PAPER_ROWS[name].items():
        assert source in rows[quantity][0] and target in rows[quantity][1], (quantity, rows[quantity])


def test_describe_other_families_and_table():
    assert describe_task("hopper-inverted-actions") == [("executed action", "a", "-a (all actuators)")]
    assert describe_task("walker-gravity-0.5") == [("opt.gravity", "[0, 0, -9.81]", "[0, 0, -4.905]")]
    rows = describe_task("hopper-friction-0.1")
    assert ("geom_friction[foot_geom]", "[2, 0.005, 0.0001]", "[0.2, 0.005, 0.0001]") in rows
    assert rows[-1][0] == "warning" and "same task" in rows[-1][2]
    table = task_table()
    assert [row[0] for row in table] == list(TASKS) and all(len(row) == 3 for row in table)


def test_import_is_light():
    code = "import sys, daftrl.envs; print(sorted(m for m in ('jax', 'flax', 'torch') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
