"""Compiled target models differ from their source exactly as docs/tasks.md specifies, and nowhere else."""

import gymnasium as gym
import numpy as np
import pytest
from envcheck import INVERTED, ODRL, PAPER, capsule_ends

from daftrl.envs import DERIVED, ROBOTS, TASKS, Task, changed_fields, compile_model, get_task, make_env, model_diff
from daftrl.envs.describe import model_fields

DEG = np.pi / 180
NOISE = 1e-12  # floating-point noise of the compiler (e.g. a capsule quaternion recomputed from a scaled fromto)


def models(name):
    """(source, target) models of the envs make_env builds."""
    return tuple(make_env(name, domain).unwrapped.model for domain in ("source", "target"))


def jrange(model, joint):
    return model.jnt_range[model.joint(joint).id]


def mass(model, body):
    return model.body_mass[model.body(body).id]


# --------------------------------------------------------------------------------------------- source = stock v5
@pytest.mark.parametrize("robot", list(ROBOTS))
def test_compiled_spec_and_identity_target_are_the_stock_model(robot):
    """compile_model without shifts, and a target env with no shifts (which pins the overridden Gymnasium hook
    `_initialize_simulation`), are bit-identical to the model gymnasium.make loads, every field included."""
    r = ROBOTS[robot]
    stock = gym.make(r.gym_id, **dict(r.kwargs)).unwrapped.model
    identity = make_env(Task(f"{robot}-identity", robot, (), "no shift"), "target").unwrapped.model
    for model in (compile_model(r), identity):
        assert changed_fields(stock, model) == set()
    assert (identity.vis.global_.offwidth, identity.vis.global_.offheight) == (
        stock.vis.global_.offwidth, stock.vis.global_.offheight)


def test_source_masses():
    """Exact-capsule masses of the v5 robots (docs/tasks.md, "Deviations from the v2-era originals")."""
    expected = {
        "halfcheetah": ({"torso": 6.2502, "bthigh": 1.5435, "bshin": 1.5874, "bfoot": 1.0954, "fthigh": 1.4381,
                         "fshin": 1.2008, "ffoot": 0.8845}, 14.0),
        "hopper": ({"torso": 3.6652, "thigh": 4.0579, "leg": 2.7814, "foot": 5.3156}, 15.8200),
        "walker": ({"torso": 3.6652, "thigh": 4.0579, "leg": 2.7814, "foot": 3.1667, "thigh_left": 4.0579,
                    "leg_left": 2.7814, "foot_left": 3.1667}, 23.6771),
        "ant": ({"torso": 0.3272, "aux_1": 0.0392, "front_left_leg": 0.0392}, 0.9109),
    }
    for robot, (masses, total) in expected.items():
        m = compile_model(robot)
        for body, value in masses.items():
            assert mass(m, body) == pytest.approx(value, abs=1e-4), (robot, body)
        assert m.body_mass.sum() == pytest.approx(total, abs=1e-4)
    ant = compile_model("ant")
    assert ant.body_mass[ant.jnt_bodyid[ant.joint("ankle_1").id]] == pytest.approx(0.0676, abs=1e-4)


# --------------------------------------------------------------------------------------------- the 8 paper tasks
EXPECTED_CHANGES = {  # field -> elements that change (docs/tasks.md, "The paper's 8 tasks"); the rest DERIVED or equal
    "halfcheetah-broken-back-thigh": {"jnt_range": {"bthigh"}},
    "halfcheetah-no-thighs": {
        "geom_size": {"bthigh", "bshin", "bfoot", "fthigh", "fshin"},
        "geom_pos": {"bthigh", "bshin", "fthigh", "fshin"},
        "geom_quat": {"bthigh", "bshin", "fthigh", "fshin"},
        "body_pos": {"bshin", "bfoot", "fshin", "ffoot"},
        # settotalmass=14 renormalises every body, the torso included
        "body_mass": {"torso", "bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot"},
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
                       "geom_pos": {"left_ankle_geom", "right_ankle_geom"},
                       "body_mass": {"body of ankle_1", "body of ankle_2"},
                       "body_inertia": {"body of ankle_1", "body of ankle_2"}},
}


@pytest.mark.parametrize("name", PAPER)
def test_paper_target_differs_exactly_in_the_intended_elements(name):
    source, target = models(name)
    diff = model_diff(source, target, atol=NOISE)
    assert {field: set(elements) for field, elements in diff.items()} == EXPECTED_CHANGES[name]
    changed = changed_fields(source, target)
    assert changed - DERIVED == set(EXPECTED_CHANGES[name])
    if set(EXPECTED_CHANGES[name]) == {"jnt_range"}:  # a run-time range: nothing at all is derived from it
        assert changed == {"jnt_range"}


def test_paper_joint_ranges():
    """Paper kinematic tasks (docs/tasks.md, "The paper's 8 tasks"): target ranges in radians; PAR's mechanism
    jnt_range = compiled source x multiplier, bit for bit."""
    cases = {  # task: {joint: (multiplier lower, upper, expected target range)}
        "halfcheetah-broken-back-thigh": {"bthigh": (0.01, 0.01, [-0.0052, 0.0105])},
        "hopper-broken-joints": {"thigh_joint": (0.001, 1.0, [-0.15 * DEG, 0.0]),
                                 "foot_joint": (0.4, 0.4, [-18 * DEG, 18 * DEG])},
        "walker-broken-right-foot": {"foot_joint": (0.01, 0.01, [-0.45 * DEG, 0.45 * DEG])},
        "ant-broken-hips": {"hip_1": (0.01, 0.01, [-0.3 * DEG, 0.3 * DEG]),
                            "hip_2": (0.01, 0.01, [-0.3 * DEG, 0.3 * DEG])},
    }
    for name, joints in cases.items():
        source, target = models(name)
        for joint, (lower, upper, expected) in joints.items():
            np.testing.assert_array_equal(jrange(target, joint), jrange(source, joint) * [lower, upper])
            np.testing.assert_allclose(jrange(target, joint), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(jrange(models("hopper-broken-joints")[1], "thigh_joint"), [-0.0026180, 0], atol=1e-7)
    _, walker = models("walker-broken-right-foot")
    np.testing.assert_allclose(jrange(walker, "foot_left_joint"), [-45 * DEG, 45 * DEG], rtol=1e-15)
    _, ant = models("ant-broken-hips")
    for joint in ("hip_3", "hip_4"):
        np.testing.assert_allclose(jrange(ant, joint), [-30 * DEG, 30 * DEG], rtol=1e-15)


def test_paper_masses():
    """Paper morphology target masses as MuJoCo compiles them (docs/tasks.md, "The paper's 8 tasks")."""
    _, m = models("halfcheetah-no-thighs")
    for body, value in {"torso": 8.1973, "bthigh": 0.3542, "bshin": 1.4971, "bfoot": 1.1601, "fthigh": 0.3542,
                        "fshin": 1.2771, "ffoot": 1.1601}.items():
        assert mass(m, body) == pytest.approx(value, abs=1e-4), body
    assert m.body_mass.sum() == pytest.approx(14.0, abs=1e-12)
    _, m = models("hopper-big-head")
    assert (mass(m, "torso"), mass(m, "thigh")) == pytest.approx((27.8162, 2.5300), abs=1e-4)
    assert m.body_mass.sum() == pytest.approx(38.4431, abs=1e-4)
    _, m = models("walker-no-right-thigh")
    assert (mass(m, "thigh"), mass(m, "leg"), mass(m, "thigh_left")) == pytest.approx((0.5629, 4.0129, 4.0579),
                                                                                        abs=1e-4)
    assert m.body_mass.sum() == pytest.approx(21.4136, abs=1e-4)
    _, m = models("ant-short-feet")
    for joint in ("ankle_1", "ankle_2"):
        assert m.body_mass[m.jnt_bodyid[m.joint(joint).id]] == pytest.approx(0.0249, abs=1e-4)
    assert m.body_mass.sum() == pytest.approx(0.8256, abs=1e-4)


def test_paper_geometry_in_local_coordinates():
    """PAR's morphology edits in the parent frames: HalfCheetah and Ant as their local XMLs write them, Hopper and
    Walker2d converted from PAR's global coordinates (capsule_in_body, point_in_body in daftrl.envs.tasks)."""
    def geom(model, name):
        gid = model.geom(name).id
        return model.geom_size[gid][:2], model.geom_pos[gid]

    source, m = models("halfcheetah-no-thighs")
    size, pos = geom(m, "bthigh")
    np.testing.assert_allclose(size, [0.046, np.hypot(1e-4, 1e-4) / 2], rtol=1e-12)
    np.testing.assert_allclose(pos, [-5e-5, 0, -5e-5], atol=1e-15)
    for body, expected in {"bshin": [-1e-4, 0, -1e-4], "bfoot": [-0.13, 0, -0.15], "fshin": [1e-4, 0, 1e-4],
                           "ffoot": [0.01, 0, -0.16]}.items():
        np.testing.assert_allclose(m.body_pos[m.body(body).id], expected, atol=1e-15)
    np.testing.assert_allclose(geom(m, "bshin")[0], [0.046, np.hypot(0.13, 0.15) / 2], rtol=1e-12)
    np.testing.assert_allclose(geom(m, "fshin")[0], [0.046, np.hypot(0.01, 0.16) / 2], rtol=1e-12)
    np.testing.assert_array_equal(geom(m, "bfoot")[0], [0.046, 0.07])  # .094 -> .07, pos and axis unchanged
    for field in ("geom_pos", "geom_quat"):
        np.testing.assert_array_equal(getattr(m, field)[m.geom("bfoot").id], getattr(source, field)[m.geom("bfoot").id])

    _, m = models("hopper-big-head")
    np.testing.assert_array_equal(geom(m, "torso_geom")[0], [0.125, 0.19999999999999996])
    np.testing.assert_array_equal(geom(m, "thigh_geom")[0], [0.04, 0.22500000000000003])

    _, m = models("walker-no-right-thigh")
    for name, size, pos in (("thigh_geom", [0.05, 0.0025], [0, 0, -0.0025]), ("leg_geom", [0.04, 0.3725],
                            [0, 0, 0.3225]), ("foot_geom", [0.06, 0.1], [-0.1, 0, 0.3])):
        np.testing.assert_allclose(geom(m, name)[0], size, atol=1e-15)
        np.testing.assert_allclose(geom(m, name)[1], pos, atol=1e-15)
    np.testing.assert_allclose(m.jnt_pos[m.joint("leg_joint").id], [0, 0, 0.695], atol=1e-15)
    np.testing.assert_allclose(m.jnt_pos[m.joint("foot_joint").id], [-0.2, 0, 0.3], atol=1e-15)
    np.testing.assert_allclose(m.geom_friction[m.geom("foot_geom").id], [1.9, 0.1, 0.1])  # the v5 source's

    source, m = models("ant-short-feet")
    for name, end in (("left_ankle_geom", [0.1, 0.1, 0]), ("right_ankle_geom", [-0.1, 0.1, 0])):
        gid = m.geom(name).id
        np.testing.assert_allclose(m.geom_pos[gid], np.array(end) / 2, atol=1e-15)
        np.testing.assert_allclose(m.geom_size[gid][:2], [0.08, np.hypot(0.1, 0.1) / 2], rtol=1e-12)
        assert m.geom_size[gid][1] == pytest.approx(source.geom_size[gid][1] / 4, rel=1e-12)


# Hopper/Walker2d reference XMLs are in global coordinates: compare the global capsules at qpos0 with their text.
# (task, geom, p1, p2, radius), from PAR envs/assets/{hopper,walker}_morph.xml and ODRL envs/mujoco/assets/*.xml.
GLOBAL_CAPSULES = [
    ("hopper-inverted-actions", "foot_geom", (-0.13, 0, 0.1), (0.26, 0, 0.1), 0.06),  # the source (hopper.xml)
    ("walker-inverted-actions", "foot_geom", (0, 0, 0.1), (0.2, 0, 0.1), 0.06),
    ("hopper-big-head", "torso_geom", (0, 0, 1.45), (0, 0, 1.05), 0.125),
    ("hopper-big-head", "thigh_geom", (0, 0, 1.05), (0, 0, 0.6), 0.04),
    ("walker-no-right-thigh", "thigh_geom", (0, 0, 1.05), (0, 0, 1.045), 0.05),
    ("walker-no-right-thigh", "leg_geom", (0, 0, 1.045), (0, 0, 0.3), 0.04),
    ("walker-no-right-thigh", "foot_geom", (0, 0, 0.3), (0.2, 0, 0.3), 0.06),
    ("walker-no-right-thigh", "leg_left_geom", (0, 0, 0.6), (0, 0, 0.1), 0.04),
    *[(f"{robot}-morph-torso-{level}", "torso_geom", (0, 0, top), (0, 0, 1.05), radius)
      for robot in ("hopper", "walker")
      for level, top, radius in (("easy", 1.53, 0.075), ("medium", 1.69, 0.1), ("hard", 1.85, 0.125))],
    *[(f"hopper-morph-foot-{level}", "foot_geom", (x0, 0, 0.1), (x1, 0, 0.1), radius)
      for level, x0, x1, radius in (("easy", -0.104, 0.208, 0.048), ("medium", -0.078, 0.156, 0.036),
                                    ("hard", -0.052, 0.104, 0.024))],
    *[(f"walker-morph-leg-{level}", f"{part}{side}_geom", *ends)
      for level, knee in (("easy", 0.5), ("medium", 0.35), ("hard", 0.2)) for side in ("", "_left")
      for part, ends in (("thigh", ((0, 0, 1.05), (0, 0, knee), 0.05)), ("leg", ((0, 0, knee), (0, 0, 0.1), 0.04)))],
]
GLOBAL_JOINTS = [  # (task, joint, global anchor)
    ("walker-no-right-thigh", "leg_joint", (0, 0, 1.045)), ("walker-no-right-thigh", "foot_joint", (0, 0, 0.3)),
    *[(f"walker-morph-leg-{level}", f"leg{side}_joint", (0, 0, knee))
      for level, knee in (("easy", 0.5), ("medium", 0.35), ("hard", 0.2)) for side in ("", "_left")],
]


@pytest.mark.parametrize("name, geom, p1, p2, radius", GLOBAL_CAPSULES)
def test_global_capsules_match_the_reference_xml(name, geom, p1, p2, radius):
    task = get_task(name)
    a, b, r = capsule_ends(compile_model(task.robot, task.shifts), geom)
    ends = sorted([tuple(a), tuple(b)])
    np.testing.assert_allclose(ends, sorted([p1, p2]), atol=1e-12)
    assert r == pytest.approx(radius, abs=1e-15)


@pytest.mark.parametrize("name, joint, anchor", GLOBAL_JOINTS)
def test_global_joint_anchors_match_the_reference_xml(name, joint, anchor):
    import mujoco

    task = get_task(name)
    model = compile_model(task.robot, task.shifts)
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    mujoco.mj_comPos(model, data)  # fills xanchor
    np.testing.assert_allclose(data.xanchor[model.joint(joint).id], anchor, atol=1e-12)


# --------------------------------------------------------------------------------------------- ODRL families
FAMILY_FIELDS = {"kinematic": {"jnt_range"}, "gravity": {"opt.gravity"}, "friction": {"geom_friction"},
                 "morph": {"geom_size", "geom_pos", "geom_quat", "body_pos", "jnt_pos", "body_mass", "body_inertia"}}


@pytest.mark.parametrize("name", ODRL)
def test_odrl_targets_change_only_their_family_quantities(name):
    task = TASKS[name]
    source, target = compile_model(task.robot), compile_model(task.robot, task.shifts)
    changed = changed_fields(source, target, atol=NOISE)
    assert changed - DERIVED and changed - DERIVED <= FAMILY_FIELDS[task.family]
    if task.family != "morph":
        assert changed_fields(source, target) == FAMILY_FIELDS[task.family]


def test_odrl_gravity_and_friction_values():
    """g_z and friction as ODRL's XML files write them, bit for bit (docs/tasks.md, Gravity and Friction)."""
    for robot in ROBOTS:
        for f, gz in ((0.1, -0.981), (0.5, -4.905), (2.0, -19.62), (5.0, -49.05)):
            t = TASKS[f"{robot}-gravity-{f}"]
            assert list(compile_model(robot, t.shifts).opt.gravity) == [0, 0, gz]

    def friction(name, geom):
        t = get_task(name)
        m = compile_model(t.robot, t.shifts)
        return list(m.geom_friction[m.geom(geom).id])

    assert friction("halfcheetah-friction-0.1", "floor") == [0.04, 0.01, 0.01]
    assert friction("halfcheetah-friction-0.1", "bthigh") == [0.04, 0.01, 0.01]
    assert friction("walker-friction-0.1", "floor") == [0.07, 0.01, 0.01]
    assert friction("walker-friction-0.1", "torso_geom") == [0.09, 0.01, 0.01]
    assert friction("walker-friction-0.1", "foot_left_geom") == [0.19, 0.01, 0.01]
    assert friction("walker-friction-0.1", "foot_geom") == [0.19, 0.01, 0.01]  # v5 source 1.9 (ODRL v3: 0.9)
    assert friction("ant-friction-5.0", "floor") == [5.0, 2.5, 2.5]
    assert friction("hopper-friction-0.1", "floor") == [1.0, 0.005, 0.0001]  # no friction class: MuJoCo default
    assert friction("hopper-friction-0.1", "torso_geom") == [0.09, 0.005, 0.0001]
    assert friction("hopper-friction-0.1", "foot_geom") == [0.2, 0.005, 0.0001]
    assert friction("hopper-friction-0.37", "foot_geom")[0] == pytest.approx(0.74)


KINEMATIC_RANGES = {  # docs/tasks.md, Kinematic; per level easy / medium / hard; degrees unless noted
    "halfcheetah-kinematic-footjnt": {"bfoot": ([-.32, .628], [-.2, .3925], [-.08, .157]),
                                      "ffoot": ([-.4, .4], [-.25, .25], [-.1, .1])},  # radians
    "halfcheetah-kinematic-thighjnt": {"bthigh": ([-.416, .84], [-.26, .525], [-.104, .21]),
                                       "fthigh": ([-.8, .56], [-.5, .35], [-.2, .14])},  # radians
    "hopper-kinematic-footjnt": {"foot_joint": ([-36, 36], [-22.5, 22.5], [-9, 9])},
    "hopper-kinematic-legjnt": {"leg_joint": ([-120, 0], [-75, 0], [-30, 0])},
    "walker-kinematic-footjnt": {j: ([-36, 36], [-22.5, 22.5], [-9, 9]) for j in ("foot_joint", "foot_left_joint")},
    "walker-kinematic-thighjnt": {j: ([-120, 0], [-75, 0], [-30, 0]) for j in ("thigh_joint", "thigh_left_joint")},
    "ant-kinematic-hipjnt": {f"hip_{i}": ([-24, 24], [-15, 15], [-6, 6]) for i in range(1, 5)},
    "ant-kinematic-anklejnt": {**{f"ankle_{i}": ([30, 62], [30, 50], [30, 38]) for i in (1, 4)},
                               **{f"ankle_{i}": ([-62, -30], [-50, -30], [-38, -30]) for i in (2, 3)}},
}


@pytest.mark.parametrize("prefix", list(KINEMATIC_RANGES))
def test_odrl_kinematic_ranges(prefix):
    unit = 1.0 if prefix.startswith("halfcheetah") else DEG
    for i, level in enumerate(("easy", "medium", "hard")):
        task = TASKS[f"{prefix}-{level}"]
        m = compile_model(task.robot, task.shifts)
        for joint, ranges in KINEMATIC_RANGES[prefix].items():
            np.testing.assert_allclose(jrange(m, joint), np.array(ranges[i]) * unit, rtol=1e-14, atol=1e-15)


def test_odrl_halfcheetah_and_ant_morphology():
    """ODRL morphology (docs/tasks.md, Morphology): new thigh/shin/torso geometry (local XMLs) and Ant ankle ends."""
    for level, back, front in (("easy", (0.11, -0.11), (-0.09, -0.1)), ("medium", (0.08, -0.08), (-0.07, -0.08)),
                               ("hard", (0.02, -0.02), (-0.04, -0.05))):
        m = compile_model("halfcheetah", TASKS[f"halfcheetah-morph-thigh-{level}"].shifts)
        for thigh, shin, foot, end, shin_end in (("bthigh", "bshin", "bfoot", back, (-0.13, -0.15)),
                                                 ("fthigh", "fshin", "ffoot", front, (0.11, -0.13))):
            np.testing.assert_allclose(m.body_pos[m.body(shin).id], [end[0], 0, end[1]], atol=1e-15)
            np.testing.assert_allclose(m.geom_pos[m.geom(thigh).id], [end[0] / 2, 0, end[1] / 2], atol=1e-15)
            assert m.geom_size[m.geom(thigh).id][1] == pytest.approx(np.hypot(*end) / 2, rel=1e-12)
            np.testing.assert_allclose(m.body_pos[m.body(foot).id], [shin_end[0], 0, shin_end[1]], atol=1e-15)
        np.testing.assert_array_equal(m.geom_size[m.geom("bfoot").id][:2], [0.046, 0.094])
    for level, half, head in (("easy", 0.4, 0.5), ("medium", 0.25, 0.35), ("hard", 0.1, 0.2)):
        m = compile_model("halfcheetah", TASKS[f"halfcheetah-morph-torso-{level}"].shifts)
        assert m.geom_size[m.geom("torso").id][1] == pytest.approx(half, rel=1e-15)
        np.testing.assert_allclose(m.geom_pos[m.geom("head").id], [head, 0, 0.1], atol=1e-15)
        np.testing.assert_allclose(m.body_pos[m.body("bthigh").id], [-half, 0, 0], atol=1e-15)
        np.testing.assert_allclose(m.body_pos[m.body("fthigh").id], [half, 0, 0], atol=1e-15)
    ends = {"left_ankle_geom": (1, 1), "right_ankle_geom": (-1, 1), "third_ankle_geom": (-1, -1),
            "fourth_ankle_geom": (1, -1)}
    for level, end in (("easy", 0.32), ("medium", 0.2), ("hard", 0.08)):
        for part, geoms in (("alllegs", list(ends)), ("halflegs", ["left_ankle_geom", "right_ankle_geom"])):
            m = compile_model("ant", TASKS[f"ant-morph-{part}-{level}"].shifts)
            for geom, (sx, sy) in ends.items():
                expected = end if geom in geoms else 0.4
                np.testing.assert_allclose(m.geom_pos[m.geom(geom).id], [sx * expected / 2, sy * expected / 2, 0],
                                           atol=1e-15)


# --------------------------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("name", list(TASKS))
def test_the_target_env_runs_exactly_the_compiled_shifts(name):
    """The model a target env steps is the one compile_model builds from the task's shifts (the exact-value
    tests above check compile_model; this ties every task's env to it), and building it is deterministic."""
    task = TASKS[name]
    compiled = compile_model(task.robot, task.shifts)
    assert changed_fields(compiled, make_env(name, "target").unwrapped.model) == set()
    assert changed_fields(compiled, compile_model(task.robot, task.shifts)) == set()


@pytest.mark.parametrize("name", INVERTED)
def test_inverted_target_model_is_the_source_model(name):
    source, target = models(name)
    assert changed_fields(source, target) == set()
    assert set(model_fields(source)) == set(model_fields(target))
