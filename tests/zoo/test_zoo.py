"""The bundled experts load, match their checksums and fit their tasks; the demo path runs."""

import json
import re
import sys

import numpy as np
import pytest

from daftrl import zoo
from daftrl.checkpoint import file_sha256 as sha256
from daftrl.envs import TASKS, get_task
from daftrl.zoo.build import FILES, robot_of, robot_tasks

MACHINE_PATH = re.compile(r"(?<![\w.~$])/(?:root|home|work|tmp|Users|private|var)/")

BUNDLED = zoo.names()


def test_at_least_one_expert_is_bundled():
    assert BUNDLED, "the zoo is empty"


@pytest.mark.parametrize("robot", BUNDLED)
def test_files_match_their_card(robot):
    card = zoo.card(robot)
    files = FILES if (zoo.ZOO_DIR / robot / FILES[1]).is_file() else FILES[:1]  # offline experts: no medium actor
    assert set(card["sha256"]) == set(files)
    for f in files:
        assert sha256(zoo.ZOO_DIR / robot / f) == card["sha256"][f]
    assert set(card["zero_shot_return"]) == set(robot_tasks(robot_of(robot)))
    size = sum((zoo.ZOO_DIR / robot / f).stat().st_size for f in files)
    assert size < 16e6  # Ant's 27-dim D_src is the largest (~14 MB)


def test_whole_zoo_stays_under_40_mb():
    total = sum(p.stat().st_size for p in zoo.ZOO_DIR.rglob("*") if p.is_file())
    assert total < 40e6, f"the bundled zoo is {total / 1e6:.1f} MB (budget 40 MB)"


@pytest.mark.parametrize("robot", BUNDLED)
def test_expert_shapes_fit_every_task_of_its_robot(robot):
    from daftrl.experts import load_expert
    from daftrl.policy import load_policy

    expert = load_expert(robot)
    policies = [expert]
    if (zoo.ZOO_DIR / robot / "medium_actor.safetensors").is_file():
        policies.append(load_policy(zoo.ZOO_DIR / robot / "medium_actor.safetensors")[0])
    for task in (t for t in TASKS.values() if t.robot == robot_of(robot)):
        for policy in policies:
            assert (policy.obs_dim, policy.act_dim) == (task.obs_dim, task.act_dim)
    assert len(expert.source) == zoo.card(robot)["source_data"]["transitions"]
    assert np.isfinite(expert.source.data["obs"][: len(expert.source)]).all()


@pytest.mark.slow  # make test-slow (CI runs it); kept out of make test's 5-minute budget
def test_demo_smoke(tmp_path):
    from daftrl.demo import DemoArgs, run_demo

    robot = BUNDLED[0]
    task = next(n for n, t in TASKS.items() if t.robot == robot and t.family == "paper")
    res = run_demo(DemoArgs(task=task, steps=300, eval_every=150, eval_episodes=1, out=str(tmp_path / "demo")))
    assert (tmp_path / "demo" / "learning_curve.png").stat().st_size > 1000
    summary = (tmp_path / "demo" / "summary.md").read_text()
    assert f"{res['zero_shot']:,.1f}" in summary
    rows = [json.loads(x) for x in open(tmp_path / "demo" / "metrics.jsonl")]
    assert [r["step"] for r in rows if r["kind"] == "eval"] == [0, 150, 300]
    assert get_task(task).robot == robot


def test_unknown_zoo_name_is_explained():
    with pytest.raises(ValueError, match="no bundled expert"):
        zoo.expert_path("cartpole")


def test_expert_file_round_trips_d_src_exactly_and_stores_next_obs_once(tmp_path):
    """next_obs is rebuilt from obs inside episodes and stored only at episode ends: exact, and smaller."""
    import numpy as np

    from daftrl.checkpoint import load_arrays
    from daftrl.experts import Expert, load_expert, save_expert
    from daftrl.replay import FIELDS, ReplayBuffer
    from daftrl.sac import SAC, SACConfig

    rng = np.random.default_rng(0)
    n, d = 500, 3
    states = rng.normal(size=(n + 1, d)).astype(np.float16).astype(np.float32)
    ends = rng.random(n) < 0.05  # episode ends: the next row starts from a fresh reset state
    nxt = states[1:].copy()
    nxt[ends] = rng.normal(size=(ends.sum(), d)).astype(np.float16)
    src = ReplayBuffer(d, 1, 400)  # wrapped ring buffer: insertion order must be kept
    src.add_many(obs=states[:n], act=rng.uniform(-1, 1, (n, 1)).astype(np.float16), rew=np.zeros(n, np.float16),
                 next_obs=nxt, terminated=ends & (rng.random(n) < 0.5), truncated=np.zeros(n))
    state = SAC(SACConfig(hidden=(8,)), d, 1).init(0)
    save_expert(tmp_path / "e.safetensors", Expert("t", "t", d, 1, (8,), state.actor, state.critic, -1.6, src))
    arrays, _ = load_arrays(tmp_path / "e.safetensors", kind="expert")
    assert "source/next_obs" not in arrays and len(arrays["source/next_obs_rows"]) < 0.1 * 400
    back = load_expert(tmp_path / "e.safetensors").source
    order = (src.pos + np.arange(400)) % 400
    for k in FIELDS:
        np.testing.assert_array_equal(back.data[k], src.data[k][order], err_msg=k)


def test_robot_tasks_are_every_target_of_the_robot_headline_first():
    for robot in ("halfcheetah", "hopper", "walker", "ant"):
        tasks = robot_tasks(robot)
        assert set(tasks) == {n for n, t in TASKS.items() if t.robot == robot}
        families = [TASKS[n].family for n in tasks]
        assert families[:3] == ["paper", "paper", "inverted"]
        assert set(families[3:]) == {"gravity", "friction", "kinematic", "morph"}


def test_rescore_rewrites_the_zero_shot_returns_and_nothing_else(tmp_path, monkeypatch):
    """`zoo rescore` on a copy of an entry whose card lost its zero-shot returns: every task of the robot
    is scored again, files untouched. On the headline tasks the first deterministic episode matches the
    bundled card; elsewhere only roughly: evaluation batches its episodes, and 1 instead of 10 changes the
    actor's rounding, which chaotic gaits amplify over 1,000 steps."""
    import shutil

    import daftrl.zoo.build as build

    robot = "hopper" if "hopper" in BUNDLED else BUNDLED[0]
    shutil.copytree(zoo.ZOO_DIR / robot, tmp_path / robot)
    bundled = zoo.card(robot)
    stripped = {**bundled, "zero_shot_return": {}}
    (tmp_path / robot / "card.json").write_text(json.dumps(stripped))
    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path)
    monkeypatch.setattr(build, "ZOO_DIR", tmp_path)
    monkeypatch.setattr(sys, "argv", ["/home/someone/daftrl/src/daftrl/cli.py", "zoo", "rescore"])
    card = build.rescore(robot, episodes=1)
    assert card["zero_shot_by"]["command"] == "daftrl zoo rescore"  # committed: no path of this machine
    assert card == zoo.card(robot)  # what it returns is what it wrote
    assert list(card["zero_shot_return"]) and set(card["zero_shot_return"]) == set(robot_tasks(robot))
    for task, ev in card["zero_shot_return"].items():
        assert len(ev["returns"]) == 1 and np.isfinite(ev["return_mean"]), task
    for task in robot_tasks(robot, build.HEADLINE_FAMILIES):
        got, want = card["zero_shot_return"][task]["returns"][0], bundled["zero_shot_return"][task]["returns"][0]
        assert got == pytest.approx(want, rel=1e-4), task
    rest = lambda c: {k: v for k, v in c.items() if k not in ("zero_shot_return", "zero_shot_by")}  # noqa: E731
    assert rest(card) == rest(stripped) and card["zero_shot_by"]["command"]
    assert not build.verify(robot, episodes=1)


@pytest.mark.parametrize("name", ["nosuch", ""])
def test_show_and_verify_of_an_unknown_robot_list_the_bundled_ones(name, capsys):
    from daftrl.cli import main
    from daftrl.zoo.build import verify

    match = ("no bundled expert 'nosuch'" if name else "name a robot") + f"; bundled: {', '.join(BUNDLED)}$"
    with pytest.raises(ValueError, match=match):
        zoo.card(name)
    with pytest.raises(ValueError, match=match):
        verify(name)
    assert main(["zoo", "show", name]) == 2  # one line on stderr, no traceback
    assert capsys.readouterr().err.count("\n") == 1


def test_export_refuses_a_bad_run_or_robot_before_writing_anything(tmp_path, monkeypatch):
    import daftrl.zoo.build as build
    from daftrl.checkpoint import save_arrays

    monkeypatch.setattr(build, "ZOO_DIR", tmp_path / "zoo")
    with pytest.raises(ValueError, match="nonexistent is not a run directory"):
        build.export(tmp_path / "nonexistent", "halfcheetah")
    adapt_run = tmp_path / "adapt-run"  # a run directory of another kind
    save_arrays(adapt_run / "checkpoint.safetensors", {"a": np.zeros(1)}, kind="adapt", meta={})
    (adapt_run / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="holds a 'adapt' run, not a pretraining or offline run"):
        build.export(adapt_run, "halfcheetah")
    pretrain_run = tmp_path / "pretrain-run"
    save_arrays(pretrain_run / "checkpoint.safetensors", {"a": np.zeros(1)}, kind="pretrain", meta={})
    (pretrain_run / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="unknown robot 'halfcheeta'; a pretraining run's zoo entry is one of "):
        build.export(pretrain_run, "halfcheeta")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "adapt-run", "adapt-run/checkpoint.safetensors", "adapt-run/config.json", "pretrain-run",
        "pretrain-run/checkpoint.safetensors", "pretrain-run/config.json"]


@pytest.mark.slow  # a CQL compile and evaluations on Hopper: ~15 s on an idle core
def test_an_offline_run_becomes_a_zoo_entry_named_robot_method(tmp_path, monkeypatch):
    """`daftrl zoo export hopper-cql --run OFFLINE_RUN`: the run's expert (actor, critics, D_src from the dataset)
    with a card naming the dataset and the zero-shot return on every Hopper task; misnamed entries are refused."""
    from daftrl.algos.cql import CQLConfig
    from daftrl.envs.factory import resolve_env
    from daftrl.experts import load_expert
    from daftrl.offline import OfflineRunConfig, offline
    from daftrl.zoo import build
    from daftrl.zoo.build import export, export_offline
    from test_offline import make_dataset  # tests/ is on sys.path (rootdir conftest)

    tasks = ["hopper-big-head", "hopper-broken-joints"]  # two of Hopper's target tasks keep the test short
    monkeypatch.setattr(build, "robot_tasks", lambda robot, families=None: tasks if robot == "hopper" else [])

    data = make_dataset(resolve_env("hopper").make(), 300, 0, "hopper-random")
    run = tmp_path / "run"
    cfg = OfflineRunConfig(dataset="hopper-random", steps=20, eval_every=20, eval_episodes=1, checkpoint_every=20,
                           log_every=10, updates_per_call=10, env="hopper", source_size=200, run_dir=str(run))
    tiny = CQLConfig(hidden=(16, 16), batch_size=16, policy_eval_start=5)
    offline(cfg, tiny, dataset=data, quiet=True)
    for bad in ("hopper", "hopper-sac", "robot-cql"):
        with pytest.raises(ValueError, match="ROBOT-cql|unknown robot"):
            export(run, bad, episodes=1, out_dir=tmp_path / "no")
    assert not (tmp_path / "no").exists()
    card = export_offline(run, "hopper-cql", episodes=1, out_dir=tmp_path / "hopper-cql")
    assert (card["name"], card["robot"], card["method"], card["steps"]) == ("hopper-cql", "hopper", "cql", 20)
    assert card["dataset"]["checksum"] == data.checksum
    assert set(card["zero_shot_return"]) == set(tasks)
    assert card["sha256"] == {"expert.safetensors": sha256(tmp_path / "hopper-cql" / "expert.safetensors")}
    expert = load_expert(tmp_path / "hopper-cql" / "expert.safetensors")
    assert (expert.name, expert.env, expert.hidden) == ("hopper-cql", "hopper", (16, 16))
    assert 0 < len(expert.source) <= 200
    # a smaller D_src on request (the bundled CQL experts use 5e4 rows), and nothing in the card or the expert's
    # metadata names a directory of this machine (the run lives under /tmp here)
    small = export_offline(run, "hopper-cql", episodes=1, out_dir=tmp_path / "small", source_size=100, dataset=data)
    assert 0 < small["source_data"]["transitions"] <= 100 < len(expert.source)
    assert small["zero_shot_return"] == card["zero_shot_return"]
    meta = load_expert(tmp_path / "small" / "expert.safetensors").meta
    assert not MACHINE_PATH.search(json.dumps([card, small, meta])), "an absolute path of this machine leaked"


@pytest.mark.parametrize("size", [0, -5])
def test_a_non_positive_source_size_is_refused_before_anything_is_read(tmp_path, size):
    from daftrl.zoo import build

    for export in (build.export, build.export_offline):
        with pytest.raises(ValueError, match="--source-size must be a positive number of rows"):
            export(tmp_path / "no-such-run", "halfcheetah-cql", source_size=size, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()
