"""Offline datasets: a build is deterministic and atomic, loads back exactly as it was collected (terminations and
time limits apart), carries Minari's metadata and a card that matches its data; D4RL files round-trip; malformed or
mismatched files are refused with a one-line message naming the file, before any buffer is filled."""

import json
import os
import re
import subprocess
import sys

import h5py
import numpy as np
import pytest

from daftrl.datasets import (
    Dataset,
    DatasetError,
    build_dataset,
    checksum,
    episode_returns,
    list_datasets,
    load_dataset,
    sample_source,
    write_d4rl,
)
from daftrl.datasets.build import episodes_to_arrays
from daftrl.datasets.command import DatasetArgs, run
from daftrl.datasets.data import episode_ends, to_buffer
from daftrl.datasets.rollout import NumpyActor, rollout
from daftrl.envs.factory import resolve_env
from daftrl.zoo import ZOO_DIR

N = 2000
ID = "daftrl/hopper/medium-v0"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A small hopper medium dataset (hopper's medium actor falls: terminations and time-limit-free episodes)."""
    root = tmp_path_factory.mktemp("datasets")
    return build_dataset("hopper", transitions=N, seed=0, root=root, progress=False)


def load_built(built, **kw) -> Dataset:
    return load_dataset(built, **kw)


# ----------------------------------------------------------------------------- building
def test_build_is_deterministic_for_a_seed(built, tmp_path):
    """Rebuilt in a fresh process (no state shared with the first build), the data are the same."""
    first = json.loads((built / "card.json").read_text())["checksum"]
    code = (f"from daftrl.datasets import build_dataset; print(build_dataset('hopper', transitions={N}, seed=0, "
            f"root={str(tmp_path)!r}, progress=False))")
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()[-1]
    assert json.loads((tmp_path / ID / "card.json").read_text())["checksum"] == first
    assert again == str(tmp_path / ID) and load_dataset(again).checksum == first
    actor, make = NumpyActor.from_file(ZOO_DIR / "hopper" / "medium_actor.safetensors"), resolve_env("hopper").make
    seed0, seed1 = (checksum(episodes_to_arrays(rollout(actor, make, 300, seed=s))) for s in (0, 1))
    assert seed0 != seed1


def test_loads_back_as_the_rollout_with_terminations_and_time_limits_apart(built):
    data = load_built(built, robot="hopper")
    episodes = rollout(NumpyActor.from_file(ZOO_DIR / "hopper" / "medium_actor.safetensors"),
                       resolve_env("hopper").make, N, seed=0)
    expected = episodes_to_arrays(episodes)
    got = data.arrays()
    for k, v in expected.items():
        np.testing.assert_array_equal(got[k], v, err_msg=k)
    assert len(data) == N and data.buffer.capacity == N and data.robot == "hopper" and data.name == ID
    term, trunc = got["terminated"], got["truncated"]
    assert term.sum() == sum(e.terminations.sum() for e in episodes) > 0  # the medium hopper falls
    assert trunc.sum() >= 1 and not (term & trunc).any()
    assert trunc[-1] and not term[-1] and episodes[-1].cut  # the budget cut the last episode: truncated, not terminal
    # within an episode next_obs is the next row's obs; episodes are whole and in order
    inside = np.setdiff1d(np.arange(N - 1), episode_ends(got))
    np.testing.assert_array_equal(got["next_obs"][inside], got["obs"][inside + 1])
    np.testing.assert_array_equal(np.cumsum([len(e) for e in episodes]) - 1, episode_ends(got))


def test_card_matches_the_data(built):
    data = load_built(built)
    card = data.meta["card"]
    returns = episode_returns(data.arrays())
    returns = returns[:-1] if card["cut_last_episode"] else returns
    stats = card["episode_return"]
    assert stats["episodes"] == len(returns) and card["episodes"] == len(episode_ends(data.arrays()))
    np.testing.assert_allclose([stats["mean"], stats["min"], stats["max"]],
                               [returns.mean(), returns.min(), returns.max()], rtol=1e-5)
    assert card["transitions"] == N and card["seed"] == 0 and card["robot"] == "hopper" and card["level"] == "medium"
    assert card["terminations"] == int(data.buffer.data["terminated"].sum())
    zoo_card = json.loads((ZOO_DIR / "hopper" / "card.json").read_text())
    assert card["actor"]["sha256"] == zoo_card["sha256"]["medium_actor.safetensors"]
    assert card["checksum"] == data.checksum and card["versions"]["minari"]


def test_minari_metadata_and_no_writes_outside_the_root(built, monkeypatch, tmp_path):
    import minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(built.parents[2]))
    ds = minari.load_dataset(ID)
    meta = ds.storage.metadata
    zoo_card = json.loads((ZOO_DIR / "hopper" / "card.json").read_text())
    assert meta["dataset_id"] == ID and ds.total_steps == N
    assert meta["ref_max_score"] == zoo_card["source_return"]["return_mean"]
    assert meta["ref_min_score"] == pytest.approx(-20.272305)  # D4RL's random hopper
    assert minari.get_normalized_score(ds, np.array([meta["ref_max_score"]])) == pytest.approx(1.0)
    assert ds.recover_environment(eval_env=True).spec.id == "Hopper-v5"
    assert (built.parents[1] / "namespace_metadata.json").is_file()
    # a build touches neither ~/.minari nor the caller's MINARI_DATASETS_PATH
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "elsewhere"))
    build_dataset("hopper", transitions=100, root=tmp_path / "root", progress=False)
    assert os.environ["MINARI_DATASETS_PATH"] == str(tmp_path / "elsewhere")
    assert not (tmp_path / "home").exists() and not (tmp_path / "elsewhere").exists()


def test_build_defaults_to_daftrl_home_and_refuses_to_overwrite(tmp_path):
    path = build_dataset("hopper", transitions=100, progress=False)
    assert path == tmp_path / "daftrl-home" / "datasets" / ID  # conftest's $DAFTRL_HOME
    assert load_dataset(ID).checksum == json.loads((path / "card.json").read_text())["checksum"]
    with pytest.raises(FileExistsError, match="--force"):
        build_dataset("hopper", transitions=150, progress=False)
    build_dataset("hopper", transitions=150, progress=False, force=True)
    assert len(load_dataset(ID)) == 150
    assert [d["id"] for d in list_datasets()] == [ID]
    assert not [p for p in path.parents[2].iterdir() if p.name.startswith(".")]  # no build leftovers


def test_a_crash_mid_build_leaves_nothing_that_loads(tmp_path, monkeypatch):
    import daftrl.datasets.build as build

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "_card", crash)  # after Minari wrote the data, before the card and the rename
    with pytest.raises(KeyboardInterrupt):
        build_dataset("hopper", transitions=100, progress=False)
    root = tmp_path / "daftrl-home" / "datasets"
    assert not (root / ID).exists() and list_datasets() == [] and not list(root.glob(".build-*"))
    with pytest.raises(ValueError, match="no dataset"):
        load_dataset(ID)
    # what a killed build (no cleanup) leaves is hidden: neither listed nor loaded by id
    (root / ".build-killed" / ID / "data").mkdir(parents=True)
    (root / ".build-killed" / ID / "data" / "metadata.json").write_text("{}")
    assert list_datasets() == []


def test_bad_build_requests():
    with pytest.raises(ValueError, match="unknown robot"):
        build_dataset("cheetah", transitions=10, progress=False)
    with pytest.raises(ValueError, match="level"):
        build_dataset("hopper", level="expert", transitions=10, progress=False)
    with pytest.raises(ValueError, match="positive"):
        build_dataset("hopper", transitions=0, progress=False)


def test_numpy_actor_is_the_policy():
    """The float64 numpy actor of a build is daftrl's tanh-Gaussian actor (same mean, same log-std clamp)."""
    import jax.numpy as jnp

    from daftrl.checkpoint import load_arrays
    from daftrl.datasets.rollout import LOG_STD_RANGE
    from daftrl.nn import TanhGaussianActor

    path = ZOO_DIR / "hopper" / "medium_actor.safetensors"
    actor = NumpyActor.from_file(path)
    arrays, _ = load_arrays(path)
    params = {"params": {"MLP_0": {f"Dense_{i}": {p: jnp.asarray(arrays[f"actor/params/MLP_0/Dense_{i}/{p}"])
                                                  for p in ("kernel", "bias")} for i in range(3)}}}
    obs = np.random.default_rng(0).normal(size=(8, 11))
    mean, log_std = TanhGaussianActor(3, (256, 256)).apply(params, jnp.asarray(obs, jnp.float32))
    got_mean, got_log_std = actor.mean_log_std(obs)
    np.testing.assert_allclose(got_mean, mean, atol=1e-4)
    np.testing.assert_allclose(got_log_std, log_std, atol=1e-4)
    assert LOG_STD_RANGE == (TanhGaussianActor.log_std_min, TanhGaussianActor.log_std_max)
    a = actor.sample(obs, np.random.default_rng(1).standard_normal((8, 3)))
    assert a.dtype == np.float32 and np.abs(a).max() <= 1


# ----------------------------------------------------------------------------- D4RL files
def test_d4rl_round_trip(built, tmp_path):
    data = load_built(built)
    path = write_d4rl(tmp_path / "hopper-medium.hdf5", data.arrays())
    with h5py.File(path) as f:
        assert set(f) == {"observations", "actions", "rewards", "next_observations", "terminals", "timeouts"}
        assert f["terminals"].dtype == bool and f["observations"].dtype == np.float32
    back = load_dataset(path, robot="hopper")
    assert back.checksum == data.checksum and back.meta["format"] == "d4rl" and back.name == str(path)
    np.testing.assert_array_equal(back.buffer.data["terminated"], data.buffer.data["terminated"])
    np.testing.assert_array_equal(back.buffer.data["truncated"], data.buffer.data["truncated"])


def d4rl_arrays(n=50, obs_dim=11, act_dim=3, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n + 1, obs_dim)).astype(np.float32)
    return {"observations": obs[:-1], "actions": rng.uniform(-1, 1, (n, act_dim)).astype(np.float32),
            "rewards": rng.normal(size=n).astype(np.float32), "next_observations": obs[1:],
            "terminals": np.arange(n) == 19, "timeouts": np.arange(n) == 39}


def write_raw(path, arrays: dict) -> str:
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=v)
    return str(path)


def test_a_d4rl_file_keeps_terminals_and_timeouts_apart(tmp_path):
    raw = d4rl_arrays()
    data = load_dataset(write_raw(tmp_path / "ok.hdf5", {**raw, "infos/qpos": np.zeros((50, 6))}))
    assert data.robot is None and len(data) == 50
    assert np.flatnonzero(data.buffer.data["terminated"]).tolist() == [19]
    assert np.flatnonzero(data.buffer.data["truncated"]).tolist() == [39]
    np.testing.assert_array_equal(data.buffer.data["next_obs"], raw["next_observations"])


def _drop(key):
    return lambda a: {k: v for k, v in a.items() if k != key}


MALFORMED = {
    "missing key": (_drop("timeouts"), "lacks the D4RL key(s) timeouts"),
    "missing next observations": (_drop("next_observations"), "next_observations"),
    "inconsistent lengths": (lambda a: {**a, "rewards": a["rewards"][:-3]}, "rew has shape (47,)"),
    "next obs shape": (lambda a: {**a, "next_observations": a["next_observations"][:, :5]}, "next observations"),
    "nan": (lambda a: {**a, "observations": np.where(np.arange(50)[:, None] == 7, np.nan, a["observations"])},
            "obs has 11 NaN or infinite values (first at transition 7)"),
    "inf reward": (lambda a: {**a, "rewards": np.where(np.arange(50) == 3, np.inf, a["rewards"])}, "rew has 1 NaN"),
    "actions outside [-1, 1]": (lambda a: {**a, "actions": a["actions"] * 3}, "actions lie outside [-1, 1]"),
    "flags not 0/1": (lambda a: {**a, "terminals": np.arange(50) % 3}, "terminated holds values other than 0/1"),
    "empty": (lambda a: {k: v[:0] for k, v in a.items()}, "holds no transitions"),
    "1-d observations": (lambda a: {**a, "observations": a["observations"][:, 0]}, "must be 2-D"),
    "scalar rewards": (lambda a: {**a, "rewards": np.float32(1.0)}, "rew is a single value"),
    "scalar terminals": (lambda a: {**a, "terminals": np.bool_(False)}, "terminated is a single value"),
    "string observations": (lambda a: {**a, "observations": np.full((50, 11), b"x")},
                            "obs holds |S1 values, not numbers"),
    "complex rewards": (lambda a: {**a, "rewards": a["rewards"] + 1j}, "rew holds complex"),
    "zero-width actions": (lambda a: {**a, "actions": np.zeros((50, 0), np.float32)},
                           "act has no columns (shape (50, 0))"),
    "zero-width observations": (lambda a: {**a, "observations": np.zeros((50, 0), np.float32),
                                           "next_observations": np.zeros((50, 0), np.float32)},
                                "obs has no columns (shape (50, 0))"),
    "next observations of other rows": (lambda a: {**a, "next_observations": a["next_observations"][::-1]},
                                        "next_obs differs from the next row's obs at 47 of 47"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed_d4rl_files_are_refused(tmp_path, case):
    edit, message = MALFORMED[case]
    path = write_raw(tmp_path / "bad.hdf5", edit(d4rl_arrays()))
    with pytest.raises(DatasetError) as e:
        load_dataset(path)
    text = str(e.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text and "; " in text


def test_a_few_next_observations_off_the_next_row_are_accepted(tmp_path):
    """An unmarked episode boundary (here every 10th row) puts one next observation off the next row per episode:
    below the refusal threshold (half the rows), so such a file loads."""
    raw = d4rl_arrays()
    next_obs = raw["next_observations"].copy()
    next_obs[9::10] += 1
    assert len(load_dataset(write_raw(tmp_path / "ok.hdf5", {**raw, "next_observations": next_obs}))) == 50


@pytest.mark.parametrize("damage", ["cut to 4000 bytes", "cut in half", "a compressed chunk overwritten"])
def test_a_truncated_or_corrupt_hdf5_file_is_refused(tmp_path, damage):
    """h5py fails on opening a cut file and on reading a damaged compressed chunk: either way a `DatasetError`."""
    path = tmp_path / "damaged.hdf5"
    with h5py.File(path, "w") as f:
        for k, v in d4rl_arrays(5000).items():
            f.create_dataset(k, data=v, compression="gzip" if damage.startswith("a compressed") else None)
    data = bytearray(path.read_bytes())
    if damage.startswith("cut"):
        data = data[:4000 if damage.endswith("bytes") else len(data) // 2]
    else:
        data[len(data) // 2:len(data) // 2 + 2000] = b"\xff" * 2000
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError) as e:
        load_dataset(path)
    text = str(e.value)
    assert text.startswith(f"{path}: h5py cannot read it (OSError: ") and "; " in text and "\n" not in text
    assert "re-download it" in text


def test_write_d4rl_writes_canonical_arrays(tmp_path):
    """Whatever dtypes it is given, the file holds float32 arrays, a flat reward column and boolean flags."""
    rng, n = np.random.default_rng(0), 10
    arrays = {"obs": rng.normal(size=(n, 11)), "act": rng.uniform(-1, 1, (n, 3)), "rew": rng.normal(size=(n, 1)),
              "next_obs": rng.normal(size=(n, 11)), "terminated": np.zeros(n, np.float32),
              "truncated": (np.arange(n) == n - 1).astype(np.float64)}
    path = write_d4rl(tmp_path / "w.hdf5", arrays)
    with h5py.File(path) as f:
        dtypes = {k: f[k].dtype for k in f}
        assert f["rewards"].shape == (n,) and f["timeouts"][-1]
    assert dtypes == {"observations": np.float32, "actions": np.float32, "rewards": np.float32,
                      "next_observations": np.float32, "terminals": bool, "timeouts": bool}


def test_another_robots_file_is_refused(tmp_path):
    path = write_raw(tmp_path / "hopper.hdf5", d4rl_arrays())
    assert len(load_dataset(path, robot="hopper")) == 50
    with pytest.raises(DatasetError, match=r"sizes are 11/3 \(hopper's\), but walker expects observation size 17 "
                                           "and action size 6"):
        load_dataset(path, robot="walker")
    with pytest.raises(DatasetError, match="the caller expects observation size 17; give"):
        load_dataset(path, obs_dim=17)
    not_hdf5 = tmp_path / "notes.hdf5"
    not_hdf5.write_text("not data")
    with pytest.raises(DatasetError, match="is not an HDF5 file"):
        load_dataset(not_hdf5)


# ----------------------------------------------------------------------------- Minari files
def test_mismatched_or_damaged_minari_datasets_are_refused(built, tmp_path):
    import shutil

    with pytest.raises(DatasetError, match="was collected on hopper, not walker"):
        load_dataset(built, robot="walker")
    with pytest.raises(DatasetError, match="sizes are 11/3"):
        load_dataset(built, obs_dim=17)
    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    card = json.loads((copy / "card.json").read_text())
    (copy / "card.json").write_text(json.dumps({**card, "checksum": "0" * 64}))
    with pytest.raises(DatasetError, match="no longer match the checksum"):
        load_dataset(copy)
    with h5py.File(copy / "data" / "main_data.hdf5", "a") as f:
        del f["episode_1/rewards"]
    with pytest.raises(DatasetError, match=f"^{re.escape(str(copy))}: Minari cannot read it"):
        load_dataset(copy)
    (copy / "data" / "main_data.hdf5").write_bytes(b"truncated")
    with pytest.raises(DatasetError, match="Minari cannot read it"):
        load_dataset(copy / "data")
    with pytest.raises(DatasetError, match="not a Minari dataset"):
        load_dataset(tmp_path)
    with pytest.raises(ValueError, match="daftrl dataset build"):
        load_dataset("daftrl/nothing/medium-v0")


@pytest.mark.parametrize("card", [{}, {"robot": "hopper"}, {"checksum": "0" * 64}, []],
                         ids=["empty", "no checksum", "no robot", "not an object"])
def test_a_card_without_checksum_or_robot_is_refused(built, tmp_path, card):
    """An incomplete card would skip the checksum check (an empty one) or break the loader (no robot)."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    (copy / "card.json").write_text(json.dumps(card))
    with pytest.raises(DatasetError) as e:
        load_dataset(copy)
    text = str(e.value)
    assert text.startswith(f"{copy / 'card.json'}: ") and "rebuild it" in text and "--robot hopper" in text
    assert "checksum" in text if "checksum" not in card else "robot" in text


def minari_from_episodes(root, episodes: list[dict]):
    """A Minari dataset (not built by daftrl, so without a card) of hopper-sized `episodes`, written by Minari."""
    import types

    import gymnasium as gym

    from daftrl.datasets.minari_io import write_minari

    env = gym.make("Hopper-v5")
    eps = [types.SimpleNamespace(**e) for e in episodes]
    return write_minari(root, "someone/hop-v0", eps, env, ref_min_score=0.0, ref_max_score=1.0, description="test",
                        algorithm_name="test", code_permalink="test", requirements=[])


def minari_episode(steps: int, rng, terminated_at=None, truncated_at=None) -> dict:
    terminations, truncations = np.zeros(steps, bool), np.zeros(steps, bool)
    for flags, at in ((terminations, terminated_at), (truncations, truncated_at)):
        if at is not None:
            flags[at] = True
    return {"observations": rng.normal(size=(steps + 1, 11)), "actions": rng.uniform(-1, 1, (steps, 3)),
            "rewards": np.ones(steps), "terminations": terminations, "truncations": truncations}


def test_a_minari_episode_without_an_end_flag_ends_truncated(tmp_path):
    """Minari's DataCollector marks an unfinished episode truncated; read, it stays its own episode instead of
    running into the next."""
    rng = np.random.default_rng(0)
    path = minari_from_episodes(tmp_path, [minari_episode(5, rng), minari_episode(7, rng, terminated_at=6)])
    data = load_dataset(path, robot="hopper")
    got = data.arrays()
    assert episode_ends(got).tolist() == [4, 11] and episode_returns(got).tolist() == [5.0, 7.0]
    assert got["truncated"].tolist() == [False] * 4 + [True] + [False] * 7
    assert got["terminated"].tolist() == [False] * 11 + [True]
    assert len(sample_source(data, 9)) == 7  # the whole second episode, not a tail starting mid-episode


@pytest.mark.parametrize("flag", ["terminated", "truncated"])
def test_a_minari_episode_flagged_before_its_last_step_is_refused(tmp_path, flag):
    rng = np.random.default_rng(0)
    second = minari_episode(6, rng, truncated_at=5)
    second[{"terminated": "terminations", "truncated": "truncations"}[flag]][2] = True
    path = minari_from_episodes(tmp_path, [minari_episode(4, rng, terminated_at=3), second])
    with pytest.raises(DatasetError, match=rf"^{re.escape(str(path))}: episode 1 \(6 steps\) is {flag} at step 2, "
                                           "before its last step; "):
        load_dataset(path)


def test_a_minari_dataset_daftrl_did_not_build(built, tmp_path, monkeypatch):
    """Without a card: the robot comes from the env Minari recorded; Minari's path conventions are followed."""
    import shutil

    root = tmp_path / "minari-root"
    shutil.copytree(built, root / "someone" / "hopper-v0")
    (root / "someone" / "hopper-v0" / "card.json").unlink()
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    data = load_dataset("someone/hopper-v0")
    assert data.robot == "hopper" and data.meta["card"] is None and data.checksum == load_built(built).checksum


# ----------------------------------------------------------------------------- D_src, command, imports
def test_sample_source_is_a_whole_episode_tail(built):
    data = load_built(built)
    arrays, ends = data.arrays(), episode_ends(data.arrays())
    src = sample_source(data, 1000)
    start = N - len(src)
    assert start == min(s for s in [0, *(ends + 1)] if s >= N - 1000)  # the first episode start in the last 1000
    for k, v in arrays.items():
        np.testing.assert_array_equal(src.data[k], v[start:].astype(np.float32), err_msg=k)
    assert len(sample_source(data, N)) == N
    with pytest.raises(ValueError, match="longer than 5 transitions"):
        sample_source(data, 5)
    buf = to_buffer(arrays)
    assert len(sample_source(buf, 1000)) == len(src)


def test_command_build_list_show(tmp_path, capsys):
    assert run(DatasetArgs("list")) == 0
    assert "no datasets" in capsys.readouterr().out
    assert run(DatasetArgs("build", robot="hopper", transitions=120)) == 0
    assert f"wrote {ID}" in capsys.readouterr().out
    assert run(DatasetArgs("list")) == 0
    assert ID in capsys.readouterr().out
    assert run(DatasetArgs("show", ID)) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["dataset"]["transitions"] == 120 and shown["card"]["robot"] == "hopper"
    card = next(e["path"] for e in list_datasets() if e["id"] == ID) / "card.json"
    card.write_text(json.dumps({"robot": "hopper"}))  # damaged: the list still lists, and says so
    assert run(DatasetArgs("list")) == 0
    assert "card.json is damaged" in capsys.readouterr().out
    with pytest.raises(ValueError, match="name the robot"):
        run(DatasetArgs("build"))
    with pytest.raises(ValueError, match="name a dataset"):
        run(DatasetArgs("show"))


def test_command_help_documents_every_option(capsys, monkeypatch):
    import tyro

    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit):
        tyro.cli(DatasetArgs, args=["--help"], prog="daftrl dataset")
    out = capsys.readouterr().out
    for flag in ("--robot", "--level", "--transitions", "--seed", "--force"):
        line = next(line for line in out.splitlines() if re.match(rf"\W*{flag}\b", line))
        assert "With build" in line, line


def test_importing_the_package_loads_no_minari_h5py_or_jax():
    code = "import sys, daftrl.datasets; print(sorted(m for m in ('minari', 'h5py', 'jax') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.slow
@pytest.mark.parametrize("robot", ["halfcheetah", "hopper", "walker", "ant"])
def test_each_robots_medium_data_score_about_a_third_of_its_expert(robot, tmp_path):
    """2e4 transitions per robot: the stochastic medium actor's episodes return 20-50 % of the expert's source return,
    and the dataset names its robot even without daftrl's card (Ant: by the env's keyword arguments)."""
    import shutil

    path = build_dataset(robot, transitions=20_000, root=tmp_path, progress=False)
    card = json.loads((path / "card.json").read_text())
    assert 0.2 < card["episode_return"]["mean"] / card["ref_max_score"] < 0.5
    bare = tmp_path / "bare"
    shutil.copytree(path, bare)
    (bare / "card.json").unlink()
    assert load_dataset(bare).robot == robot
