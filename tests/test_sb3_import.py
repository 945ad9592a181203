"""Bring your own expert (docs/adaptation.md): SB3 / SBX SAC saves imported as daftrl experts.

The agents are trained here for a few hundred steps (torch on one thread) and imported; the imported expert must act
as the original (`predict(deterministic=True)` to 1e-5), hold its critics and temperature, take D_src from the saved
replay buffer or a seeded rollout, and anything daftrl cannot hold - or any code in a file - must be refused."""

import base64
import hashlib
import io
import json
import pickle
import re
import shlex
import shutil
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")
sb3 = pytest.importorskip("stable_baselines3")

from daftrl.cli import main  # noqa: E402
from daftrl.importers import import_sb3, safe_pickle, write_expert  # noqa: E402
from daftrl.nn import QEnsemble  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(learning_starts=100, batch_size=64, buffer_size=2000, seed=0, device="cpu")


def _train(env, steps: int, path: Path, algo=None, **kwargs):
    torch.set_num_threads(1)
    kwargs = {**SMALL, "policy_kwargs": dict(net_arch=[64, 64]), **kwargs}
    model = (algo or sb3.SAC)("MlpPolicy", env, **kwargs)
    if steps:
        model.learn(steps)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return model


@pytest.fixture(scope="module")
def hopper(tmp_path_factory):
    """An SB3 SAC trained 300 steps on Hopper-v5 (200 updates), saved with its replay buffer beside it."""
    path = tmp_path_factory.mktemp("sb3") / "sac_hopper.zip"
    model = _train("Hopper-v5", 300, path)
    model.save_replay_buffer(path.with_name("sac_hopper_replay_buffer.pkl"))
    return path, model


@pytest.fixture(scope="module")
def pendulum(tmp_path_factory):
    """An SB3 SAC on Pendulum-v1 (actions in [-2, 2]), 260 steps: one episode hits the 200-step time limit."""
    path = tmp_path_factory.mktemp("sb3") / "sac_pendulum.zip"
    model = _train("Pendulum-v1", 260, path)
    model.save_replay_buffer(path.with_name("sac_pendulum_replay_buffer.pkl"))
    return path, model


def _states(env_id: str, n: int = 64) -> np.ndarray:
    """Observations the env really visits (random actions, resets at episode ends)."""
    env = gym.make(env_id)
    obs, _ = env.reset(seed=1)
    env.action_space.seed(1)
    out = []
    for _ in range(n):
        out.append(obs)
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
    return np.asarray(out, np.float32)


def _q(expert, obs, act) -> np.ndarray:
    return np.asarray(QEnsemble(2, expert.hidden).apply(expert.critic, obs, act))


def _sb3_q(model, obs, act) -> np.ndarray:
    with torch.no_grad():
        return np.stack([q.numpy()[:, 0] for q in model.critic(torch.as_tensor(obs), torch.as_tensor(act))])


# --------------------------------------------------------------------------- the imported expert is the original
def test_imported_sb3_expert_acts_and_values_as_the_original(hopper):
    path, model = hopper
    expert = import_sb3(path, "Hopper-v5", source="rollout", source_size=50, eval_episodes=0, quiet=True).expert
    obs = _states("Hopper-v5")
    ours, theirs = expert.policy().deterministic(obs), model.predict(obs, deterministic=True)[0]
    assert np.abs(theirs).max() > 0.05  # a trained policy, not a zero one
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    act = np.random.default_rng(0).uniform(-1, 1, (len(obs), 3)).astype(np.float32)
    np.testing.assert_allclose(_q(expert, obs, act), _sb3_q(model, obs, act), rtol=1e-5, atol=1e-5)
    assert expert.log_alpha == pytest.approx(float(model.log_ent_coef.item()), abs=1e-7)
    assert (expert.hidden, expert.obs_dim, expert.act_dim) == ((64, 64), 11, 3)


def test_actions_rescale_to_the_env_bounds_as_sb3(pendulum):
    """Pendulum acts in [-2, 2]: SB3's predict rescales the squashed action, daftrl's env (RescaleAction) does."""
    from daftrl.envs.factory import resolve_env

    path, model = pendulum
    expert = import_sb3(path, "Pendulum-v1", source_size=500, eval_episodes=0).expert
    obs = _states("Pendulum-v1")
    theirs = model.predict(obs, deterministic=True)[0]
    env = resolve_env("Pendulum-v1").make()
    assert isinstance(env, gym.wrappers.RescaleAction)
    ours = np.stack([env.action(a) for a in expert.policy().deterministic(obs)])
    assert np.abs(theirs).max() > 0.05
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_the_saved_replay_buffer_becomes_d_src(pendulum):
    path, model = pendulum
    imported = import_sb3(path, "Pendulum-v1", source_size=1000, eval_episodes=0)
    src, buf = imported.expert.source, model.replay_buffer
    n = buf.pos
    assert len(src) == n == 260 and imported.card["source_data"]["from"] == "replay buffer"
    np.testing.assert_allclose(src.data["obs"][:n], buf.observations[:n, 0], rtol=1e-6)
    np.testing.assert_allclose(src.data["next_obs"][:n], buf.next_observations[:n, 0], rtol=1e-6)
    np.testing.assert_allclose(src.data["act"][:n], buf.actions[:n, 0])  # squashed to [-1, 1], as daftrl stores
    np.testing.assert_allclose(src.data["rew"][:n], buf.rewards[:n, 0], rtol=1e-6)
    # the time limit at step 200 is a truncation (SB3's timeouts), not a terminal state; the cut last row too
    assert np.flatnonzero(src.data["truncated"][:n]).tolist() == [199, 259]
    assert not src.data["terminated"][:n].any()


def test_a_buffer_of_several_envs_gives_one_stream_per_env(tmp_path):
    from stable_baselines3.common.env_util import make_vec_env

    path = tmp_path / "two_envs.zip"
    model = _train(make_vec_env("Pendulum-v1", n_envs=2, seed=0), 60, path)  # 30 steps per env, no update
    model.save_replay_buffer(tmp_path / "two_envs_replay_buffer.pkl")
    src = import_sb3(path, "Pendulum-v1", source_size=1000, eval_episodes=0).expert.source
    buf = model.replay_buffer
    assert len(src) == 60
    for e in range(2):  # env e's transitions in time order, its last one cut (truncated)
        rows = slice(30 * e, 30 * (e + 1))
        np.testing.assert_allclose(src.data["obs"][rows], buf.observations[:30, e], rtol=1e-6)
        np.testing.assert_allclose(src.data["act"][rows], buf.actions[:30, e])
    assert np.flatnonzero(src.data["truncated"][:60]).tolist() == [29, 59]


def test_rollout_d_src_is_deterministic_for_a_seed(hopper):
    path, _ = hopper
    runs = [import_sb3(path, "hopper", source="rollout", source_size=300, seed=s, eval_episodes=0).expert.source
            for s in (3, 3, 4)]
    assert all(len(r) == 300 for r in runs)
    np.testing.assert_array_equal(runs[0].data["obs"], runs[1].data["obs"])
    np.testing.assert_array_equal(runs[0].data["act"], runs[1].data["act"])
    assert not np.array_equal(runs[0].data["act"], runs[2].data["act"])
    assert runs[0].data["act"].min() >= -1 and runs[0].data["act"].max() <= 1


def test_written_expert_loads_with_its_card(hopper, tmp_path):
    from daftrl.experts import load_expert

    path, model = hopper
    imported = import_sb3(path, "Hopper-v5", name="mine", source_size=200, eval_episodes=1)
    directory = write_expert(imported)
    assert directory == tmp_path / "daftrl-home" / "experts" / "mine"
    card = json.loads((directory / "card.json").read_text())
    assert card["imported_from"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert card["imported_from"]["sb3_version"] == sb3.__version__
    assert card["imported_from"]["num_timesteps"] == 300 and card["env"] == "Hopper-v5"
    assert card["source_data"]["from"] == "replay buffer" and np.isfinite(card["source_return"]["return_mean"])
    loaded = load_expert(directory)
    obs = _states("Hopper-v5", 16)
    np.testing.assert_allclose(loaded.policy().deterministic(obs), model.predict(obs, deterministic=True)[0],
                               atol=1e-5)
    assert len(loaded.source) == len(imported.expert.source) > 0
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_expert(imported)
    from daftrl.eval_command import evaluate_checkpoint, policy_name

    assert policy_name(str(directory / "expert.safetensors")) == "mine"  # its video is not named "expert_..."
    assert evaluate_checkpoint(str(directory), episodes=1)["env"] == "Hopper-v5"  # the directory, as --expert takes it


def test_an_import_named_like_a_bundled_expert_is_refused(hopper):
    """`--expert hopper` loads the bundled expert first, so an import written as experts/hopper could never be used."""
    path, _ = hopper
    imported = import_sb3(path, "Hopper-v5", name="hopper", source_size=200, eval_episodes=0)
    with pytest.raises(ValueError, match="bundled expert.*another --name"):
        write_expert(imported)


def test_adapter_from_sb3_acts_as_the_original(hopper):
    from daftrl import Adapter

    path, model = hopper
    adapter = Adapter.from_sb3(path, env="Hopper-v5", method="ft", source_size=200)
    obs = _states("Hopper-v5", 8)
    np.testing.assert_allclose(adapter.act(obs, explore=False), model.predict(obs, deterministic=True)[0], atol=1e-5)
    assert len(adapter.source) > 0


# --------------------------------------------------------------------------- observation / reward normalisation
def test_vec_normalize_statistics_are_folded_in(tmp_path):
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    venv = VecNormalize(make_vec_env("Pendulum-v1", seed=0), norm_obs=True, norm_reward=True)
    path = tmp_path / "norm" / "sac_pendulum.zip"
    model = _train(venv, 150, path)
    venv.save(str(path.with_name("vecnormalize.pkl")))  # found beside the zip
    expert = import_sb3(path, "Pendulum-v1", source="rollout", source_size=50, eval_episodes=0).expert
    raw = _states("Pendulum-v1")
    normed = venv.normalize_obs(raw).astype(np.float32)
    assert np.abs(normed).max() < venv.clip_obs  # the clip is inactive: the fold is exact
    np.testing.assert_allclose(expert.policy().deterministic(raw), model.predict(normed, deterministic=True)[0] / 2,
                               atol=1e-5)
    scale = np.sqrt(venv.ret_rms.var + venv.epsilon)
    act = np.random.default_rng(0).uniform(-1, 1, (len(raw), 1)).astype(np.float32)
    np.testing.assert_allclose(_q(expert, raw, act), scale * _sb3_q(model, normed, act), rtol=1e-4, atol=1e-4)
    assert expert.log_alpha == pytest.approx(float(model.log_ent_coef.item()) + np.log(scale), abs=1e-6)
    bare = import_sb3(path, "Pendulum-v1", source="rollout", source_size=50, eval_episodes=0,
                      vec_normalize="none").expert  # the file beside the zip is ignored: the networks as saved
    np.testing.assert_allclose(bare.policy().deterministic(raw), model.predict(raw, deterministic=True)[0] / 2,
                               atol=1e-5)
    assert not np.allclose(bare.policy().deterministic(raw), expert.policy().deterministic(raw), atol=1e-3)


# --------------------------------------------------------------------------- SBX
def test_sbx_save_is_read_without_running_it(tmp_path):
    sbx = pytest.importorskip("sbx")
    path = tmp_path / "sbx_hopper.zip"
    model = _train("Hopper-v5", 0, path, algo=sbx.SAC, device="auto")  # initial weights: no update to compile
    expert = import_sb3(path, "Hopper-v5", source="rollout", source_size=50, eval_episodes=0).expert
    obs = _states("Hopper-v5")
    theirs = model.predict(obs, deterministic=True)[0]
    assert np.abs(theirs).max() > 0.01
    np.testing.assert_allclose(expert.policy().deterministic(obs), theirs, atol=1e-5)
    act = np.random.default_rng(0).uniform(-1, 1, (len(obs), 3)).astype(np.float32)
    q = np.asarray(model.policy.qf.apply(model.policy.qf_state.params, obs, act))[..., 0]
    np.testing.assert_allclose(_q(expert, obs, act), q, rtol=1e-5, atol=1e-5)
    assert expert.log_alpha == pytest.approx(float(model.ent_coef_state.params["log_ent_coef"]), abs=1e-7)


def test_sbx_architectures_daftrl_cannot_hold_are_refused(tmp_path):
    sbx = pytest.importorskip("sbx")
    path = tmp_path / "sbx_ln.zip"
    _train("Hopper-v5", 0, path, algo=sbx.SAC, device="auto", policy_kwargs=dict(net_arch=[64, 64], layer_norm=True))
    with pytest.raises(ValueError, match="layer norm"):
        import_sb3(path, "Hopper-v5", source="rollout", source_size=50, eval_episodes=0)


# --------------------------------------------------------------------------- refused, with what to do
@pytest.mark.parametrize(("make", "match"), [
    (lambda p: _train("Pendulum-v1", 0, p, algo=sb3.TD3), "TD3"),
    (lambda p: _train("Pendulum-v1", 0, p, policy_kwargs=dict(net_arch=[64, 64], activation_fn=torch.nn.Tanh)),
     "activation"),
    (lambda p: _train("Pendulum-v1", 0, p, use_sde=True), "gSDE"),
    (lambda p: _train("Pendulum-v1", 0, p, policy_kwargs=dict(net_arch=dict(pi=[32, 32], qf=[64, 64]))), "differ"),
    (lambda p: _train("Pendulum-v1", 0, p, policy_kwargs=dict(net_arch=[64, 64], n_critics=3)), "twin critics"),
    (lambda p: _train(gym.wrappers.RescaleAction(gym.make("Pendulum-v1"), -1.0, 1.0), 0, p), "acts in"),
], ids=["td3", "tanh", "gsde", "pi-qf-widths", "three-critics", "action-bounds"])
def test_what_daftrl_cannot_hold_is_refused(tmp_path, make, match):
    path = tmp_path / "model.zip"
    make(path)
    with pytest.raises(ValueError, match=match):
        import_sb3(path, "Pendulum-v1", source="rollout", source_size=50, eval_episodes=0)


def test_wrong_env_and_wrong_files_are_refused(pendulum, tmp_path):
    path, _ = pendulum
    with pytest.raises(ValueError, match="sizes 3/1, but Hopper-v5 has 11/3"):
        import_sb3(path, "Hopper-v5", eval_episodes=0)
    (tmp_path / "notes.zip").write_text("not a zip")
    with pytest.raises(ValueError, match="not a readable Stable-Baselines3"):
        import_sb3(tmp_path / "notes.zip", "Pendulum-v1")
    import zipfile  # a save re-zipped with compression and damaged inside its `data` entry
    with zipfile.ZipFile(path) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    with zipfile.ZipFile(tmp_path / "packed.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for name, blob in entries.items():
            z.writestr(name, blob)
    raw = bytearray((tmp_path / "packed.zip").read_bytes())
    with zipfile.ZipFile(tmp_path / "packed.zip") as z:
        info = z.getinfo("data")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + 5: start + 25] = bytes(20)  # the compressed stream, not the headers
    (tmp_path / "damaged.zip").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="not a readable Stable-Baselines3.*damaged"):
        import_sb3(tmp_path / "damaged.zip", "Pendulum-v1")
    with pytest.raises(ValueError, match="no replay buffer beside"):
        import_sb3(shutil.copy(path, tmp_path / "alone.zip"), "Pendulum-v1", source="replay")


def test_memory_optimised_buffers_are_refused(tmp_path):
    path = tmp_path / "opt.zip"
    model = _train("Pendulum-v1", 0, path, optimize_memory_usage=True,
                   replay_buffer_kwargs=dict(handle_timeout_termination=False))
    model.save_replay_buffer(tmp_path / "opt_replay_buffer.pkl")
    with pytest.raises(ValueError, match="optimize_memory_usage.*--source rollout"):
        import_sb3(path, "Pendulum-v1", eval_episodes=0)


# --------------------------------------------------------------------------- nothing in a file runs
class _Payload:
    """Pickles as a call to builtins.exec that would create a marker file, were it ever called."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def test_code_in_a_replay_buffer_or_a_save_never_runs(pendulum, tmp_path):
    path, _ = pendulum
    marker = tmp_path / "ran.txt"
    evil_buffer = tmp_path / "evil_replay_buffer.pkl"
    evil_buffer.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ValueError, match="not an SB3 ReplayBuffer"):
        import_sb3(path, "Pendulum-v1", replay_buffer=evil_buffer, eval_episodes=0)
    # a save whose action space field is the payload
    evil_zip = tmp_path / "evil.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(evil_zip, "w") as dst:
        for item in src.namelist():
            raw = src.read(item)
            if item == "data":
                data = json.loads(raw)
                data["action_space"][":serialized:"] = base64.b64encode(pickle.dumps(_Payload(marker))).decode()
                raw = json.dumps(data).encode()
            dst.writestr(item, raw)
    with pytest.raises(ValueError, match="Box"):
        import_sb3(evil_zip, "Pendulum-v1", source="rollout", source_size=50, eval_episodes=0)
    assert not marker.exists()


def test_safe_pickle_builds_numeric_arrays_and_nothing_else():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    for protocol in (2, 4, 5):
        out = safe_pickle.load(pickle.dumps({"a": a, "s": np.float64(2.5), "f": a.T}, protocol=protocol), "t")
        np.testing.assert_array_equal(out["a"], a)
        np.testing.assert_array_equal(out["f"], a.T)
        assert out["s"] == 2.5
    with pytest.raises(ValueError, match="Python objects"):
        safe_pickle.load(pickle.dumps(np.array([1, "x"], dtype=object)), "t")
    inert = safe_pickle.load(pickle.dumps(io.BytesIO(b"x")), "t")  # any other class: an inert record
    assert safe_pickle.class_name(inert) == "_io.BytesIO" and not isinstance(inert, io.BytesIO)


# --------------------------------------------------------------------------- the documented commands run as written
def _doc_section() -> str:
    text = (ROOT / "docs" / "adaptation.md").read_text()
    return text.split("## Bring your own expert", 1)[1].split("\n## ", 1)[0]


def test_cli_imports_an_sb3_save_and_adapt_ft_adapts_it(hopper, tmp_path, capsys):
    """From a fresh clone: `daftrl expert import`, then `daftrl adapt ft --expert <imported>` on a hopper task."""
    from daftrl.policy import load_policy

    path, model = hopper
    out = tmp_path / "mine"
    argv = ["expert", "import", "--sb3", str(path), "--env", "Hopper-v5", "--eval-episodes", "1", "--out", str(out)]
    assert main(argv) == 0
    assert "300 transitions from the replay buffer" in capsys.readouterr().out  # found beside the zip
    assert main(["adapt", "ft", "--task", "hopper-broken-joints", "--expert", str(out), "--steps", "48",
                 "--learning-starts", "32", "--batch-size", "32", "--eval-every", "48", "--eval-episodes", "1"]) == 0
    run = tmp_path / "daftrl-home" / "runs" / "adapt" / "hopper-broken-joints" / "ft-s0"
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "finished" and result["expert"]["name"] == "sac_hopper"  # --out: the dir only
    assert result["expert"]["imported_from"] == "stable-baselines3"
    obs = _states("Hopper-v5", 16)
    adapted = load_policy(run)[0].deterministic(obs)
    assert 1e-6 < np.abs(adapted - model.predict(obs, deterministic=True)[0]).max() < 0.5  # 17 small FT updates
    assert main(argv) == 2  # an expert is there already: refused before any work, nothing replaced
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.slow  # make test-slow: a DAFT compile and 10 evaluation episodes (~15 s of CPU)
def test_documented_import_and_adapt_run_as_written(hopper, tmp_path, monkeypatch, capsys):
    """The section's bash block, from a directory holding the SB3 save its Python block writes: `expert import` as
    written, then `adapt` with a small budget appended (it documents a full run)."""
    section = _doc_section()
    python = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    compile(python, "adaptation.md", "exec")
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    commands = [shlex.split(line, comments=True) for line in block.splitlines() if line.startswith("daftrl ")]
    assert [c[1] for c in commands] == ["expert", "adapt"]
    zip_name = commands[0][commands[0].index("--sb3") + 1]
    assert f'model.save("{Path(zip_name).stem}")' in python
    assert f'model.save_replay_buffer("{Path(zip_name).stem}_replay_buffer")' in python
    saved, _ = hopper
    monkeypatch.chdir(tmp_path)
    shutil.copy(saved, zip_name)
    shutil.copy(saved.with_name("sac_hopper_replay_buffer.pkl"), f"{Path(zip_name).stem}_replay_buffer.pkl")
    monkeypatch.delenv("DAFTRL_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))  # the documented ~/.daftrl
    assert main(commands[0][1:]) == 0
    out = capsys.readouterr().out
    assert "from the replay buffer" in out and "return in Hopper-v5" in out
    directory = tmp_path / ".daftrl" / "experts" / Path(zip_name).stem
    assert (directory / "expert.safetensors").is_file() and (directory / "card.json").is_file()
    budget = ["--steps", "40", "--learning-starts", "32", "--batch-size", "32", "--src-batch-size", "32",
              "--eval-every", "40", "--eval-episodes", "1"]
    shell = [str(Path(t).expanduser()) if t.startswith("~") else t for t in commands[1][1:]]  # as the shell expands ~
    assert main([*shell, *budget]) == 0
    result = json.loads(next((tmp_path / ".daftrl" / "runs" / "adapt").rglob("result.json")).read_text())
    assert result["status"] == "finished" and result["expert"]["name"] == Path(zip_name).stem
