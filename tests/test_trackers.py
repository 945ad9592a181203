"""`--logger tensorboard|wandb`: the trackers get the numbers of every row of metrics.jsonl at its step, a resumed
run continues its W&B run and shows each step once in TensorBoard, a missing extra is a one-line error before
anything is written, and a tracker that fails never costs the run its checkpoint or logs."""

import json
import math
import struct
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from daftrl.checkpoint import save_arrays
from daftrl.cli import main
from daftrl.configs import config_to_dict
from daftrl.loops import PretrainConfig, pretrain
from daftrl.rundir import RunDir
from daftrl.sac import SACConfig
from daftrl.trackers import TensorBoardTracker, run_name, scalars

TINY = SACConfig(hidden=(32, 32), batch_size=32)
TINY_FLAGS = ["--env", "Pendulum-v1", "--sac.hidden", "32", "32", "--warmup-steps", "1000000", "--eval-every", "150",
              "--eval-episodes", "1", "--log-every", "50"]
"""The smallest pretraining run: Pendulum, random actions throughout (no update to compile: a run takes well under a
second once the process has evaluated a policy), a training row every 50 steps, an evaluation (one episode) every
150. Its training rows hold the episode return and steps/s; that the losses reach the trackers is tested on the
monitor (`test_the_losses_of_a_training_row_reach_the_trackers`)."""


def tiny(run_dir=None, **kw) -> PretrainConfig:
    """TINY_FLAGS as a config."""
    base = dict(env="Pendulum-v1", sac=TINY, warmup_steps=1_000_000, eval_every=150, eval_episodes=1, log_every=50,
                steps=150, run_dir=None if run_dir is None else str(run_dir))
    return PretrainConfig(**{**base, **kw})


def logged(run_dir: Path) -> dict[tuple[str, int], float]:
    """What metrics.jsonl holds, as a tracker should show it: (kind/key, step) -> value for every number."""
    return {(f"{row['kind']}/{k}", row["step"]): v for row in RunDir(run_dir).rows() for k, v in scalars(row).items()}


def same(a: dict, b: dict, rel: float) -> bool:
    return a.keys() == b.keys() and all(
        (math.isnan(a[k]) and math.isnan(b[k])) or math.isclose(a[k], b[k], rel_tol=rel, abs_tol=1e-6) for k in a)


@pytest.fixture
def wandb_offline(tmp_path, monkeypatch):
    """W&B in offline mode, all its files under tmp_path (WANDB_DIR: tmp_path/wandb-dir)."""
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for var, name in [("WANDB_DIR", "wandb-dir"), ("WANDB_CONFIG_DIR", "wandb-config"),
                      ("WANDB_CACHE_DIR", "wandb-cache"), ("WANDB_DATA_DIR", "wandb-data")]:
        (tmp_path / name).mkdir()
        monkeypatch.setenv(var, str(tmp_path / name))
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    return tmp_path / "wandb-dir"


# ---------------------------------------------------------------------------------------------- TensorBoard
def tensorboard_scalars(tb_dir: Path) -> dict[tuple[str, int], float]:
    """(tag, step) -> value of every scalar TensorBoard shows for `tb_dir` (after its purges); fails on a step shown
    twice for a tag."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    acc.Reload()
    events = [(tag, e.step, e.value) for tag in acc.Tags()["scalars"] for e in acc.Scalars(tag)]
    shown = {(tag, step): value for tag, step, value in events}
    assert len(shown) == len(events), "a step shown twice"
    return shown


def test_tensorboard_shows_every_number_of_metrics_jsonl_also_after_a_crash_and_resume(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboardX import SummaryWriter

    run = tmp_path / "r"
    pretrain(tiny(run, logger=("tensorboard",)), quiet=True)  # checkpoint at 150
    # a crash after logging rows up to step 300 but before checkpointing past 150: the resume starts after 150 again
    # and TensorBoard must show the new rows only
    crashed = SummaryWriter(str(run / "tb"), filename_suffix=".crashed")
    for step in (200, 250, 300):
        crashed.add_scalar("train/sps", -1.0, step)
        RunDir(run).log({"kind": "train", "step": step, "sps": -1.0})
    crashed.add_scalar("eval/return_mean", -1.0, 300)
    crashed.close()
    time.sleep(1.01 - time.time() % 1)  # event files are read in the order of their names, which start with seconds
    pretrain(tiny(run, resume=True, steps=300, logger=("tensorboard",)), quiet=True)
    expected = logged(run)
    assert {"train/episode_return", "train/sps", "eval/return_mean", "eval/wall_time"} <= {tag for tag, _ in expected}
    assert {step for tag, step in expected if tag.startswith("eval/")} == {150, 300}
    assert -1.0 not in expected.values()
    assert same(tensorboard_scalars(run / "tb"), expected, rel=1e-6)  # float32 in the event files


def test_a_resume_logs_to_the_runs_trackers_unless_told_otherwise(tmp_path):
    pytest.importorskip("tensorboardX")
    run = tmp_path / "r"

    def resume(*args: str) -> tuple[list, int]:
        assert main(["pretrain", "--resume", "--run-dir", str(run), *args]) == 0
        return json.loads((run / "config.json").read_text())["config"], len(list((run / "tb").iterdir()))

    assert main(["pretrain", *TINY_FLAGS, "--steps", "150", "--logger", "tensorboard", "--run-dir", str(run)]) == 0
    doc = json.loads((run / "config.json").read_text())  # as an earlier daftrl version wrote it: --tensorboard
    doc["config"] = {**{k: v for k, v in doc["config"].items() if k != "logger"}, "tensorboard": True}
    (run / "config.json").write_text(json.dumps(doc))
    config, event_files = resume("--steps", "300")
    assert config["logger"] == ["tensorboard"] and "tensorboard" not in config and event_files == 2
    config, event_files = resume("--steps", "450", "--logger")  # --logger without a tracker: none
    assert config["logger"] == [] and event_files == 2
    config, event_files = resume("--steps", "600")
    assert config["logger"] == [] and event_files == 2
    assert [r["step"] for r in RunDir(run).rows("eval")] == [150, 300, 450, 600]


def test_a_tracker_failing_mid_run_costs_nothing_but_itself(tmp_path, monkeypatch):
    pytest.importorskip("tensorboardX")
    calls, closed = [], []

    def disk_full(self, kind, values, step):
        calls.append(step)
        if len(calls) > 1:
            raise OSError(28, "No space left on device")

    def close(self, failed):
        closed.append(failed)
        raise RuntimeError("writer thread died")

    monkeypatch.setattr(TensorBoardTracker, "log", disk_full)
    monkeypatch.setattr(TensorBoardTracker, "close", close)
    run = tmp_path / "r"
    with pytest.warns(RuntimeWarning) as warned:
        result = pretrain(tiny(run, logger=("tensorboard",)), quiet=True)
    assert [str(w.message) for w in warned] == [
        "--logger tensorboard failed at step 100; it is off for the rest of this run (OSError: [Errno 28] No space "
        f"left on device); every row is in {run / 'metrics.jsonl'}"]
    assert calls == [50, 100] and closed == [True]  # dropped and closed (its error ignored) at its failure
    assert result["status"] == "finished" and (run / "checkpoint.safetensors").is_file()
    assert [r["step"] for r in RunDir(run).rows("train")] == [50, 100, 150]


def test_the_losses_of_a_training_row_reach_the_trackers(tmp_path):
    pytest.importorskip("tensorboard")
    import jax.numpy as jnp

    from daftrl.monitor import Monitor

    run = RunDir(tmp_path / "r")
    run.write_config({"env": "Pendulum-v1"})
    with Monitor(run, "test", 10, 0, 0.0, None, ("tensorboard",), True, "pretrain") as monitor:
        monitor.train(5, {"critic_loss": jnp.float32(0.25), "q": jnp.float32(-3.0)}, episode_return=1.0)
    [row] = run.rows("train")
    assert row["critic_loss"] == 0.25 and row["q"] == -3.0
    assert same(tensorboard_scalars(run.path / "tb"), logged(run.path), rel=1e-6)
    assert {"train/critic_loss", "train/q", "train/episode_return", "train/sps"} == {k for k, _ in logged(run.path)}


def test_a_tracker_failing_to_close_is_reported_and_the_run_ends_as_planned(tmp_path, monkeypatch):
    pytest.importorskip("tensorboardX")
    from daftrl.monitor import Monitor

    def close(self, failed):
        raise RuntimeError("writer thread died")

    monkeypatch.setattr(TensorBoardTracker, "close", close)
    run = RunDir(tmp_path / "r")
    run.write_config({"env": "Pendulum-v1"})
    with pytest.warns(RuntimeWarning, match=r"--logger tensorboard failed while closing \(RuntimeError: writer "
                                            r"thread died\); every row is in"):
        with Monitor(run, "test", 10, 0, 0.0, None, ("tensorboard",), True, "pretrain") as monitor:
            monitor.train(5, None, episode_return=1.0)
    assert [r["step"] for r in run.rows("train")] == [5]


# ---------------------------------------------------------------------------------------------- W&B
def wandb_records(path: Path):
    """The protobuf records of a W&B transaction log (run-<id>.wandb), which W&B writes in the block format of a
    LevelDB log: a 7-byte file header, then 32 KiB blocks of chunks (4-byte checksum, 2-byte length, 1-byte type:
    1 a whole record, 2/3/4 its first/middle/last part)."""
    from wandb.proto import wandb_internal_pb2

    data, block = path.read_bytes(), 32 * 1024
    assert data[:4] == b":W&B", path
    pos, parts = 7, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a chunk header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        parts += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts)
            parts = b""
            yield record


def wandb_offline_runs(root: Path) -> list[dict]:
    """The offline W&B runs under `root` (oldest first): id, name, config and history rows, from their files."""
    runs = []
    for log in sorted(root.glob("**/offline-run-*/run-*.wandb")):
        run = {"id": None, "name": None, "config": {}, "history": []}
        for record in wandb_records(log):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run["id"], run["name"] = record.run.run_id, record.run.display_name
                items = record.run.config.update
            elif kind == "config":
                items = record.config.update
            elif kind == "history":
                run["history"].append({i.key or "/".join(i.nested_key): json.loads(i.value_json)
                                       for i in record.history.item})
                continue
            else:
                continue
            run["config"].update({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in items})
        runs.append(run)
    return runs


def as_wandb_history(run_dir: Path, after: int = -1) -> dict[tuple[str, int], float]:
    """`logged(run_dir)` for the steps past `after`."""
    return {k: v for k, v in logged(run_dir).items() if k[1] > after}


def history(run: dict) -> dict[tuple[str, int], float]:
    """(key, step) -> value of a W&B run's history rows, `step` being the metric every chart is drawn against."""
    return {(k, row["step"]): v for row in run["history"] for k, v in row.items()
            if k != "step" and not k.startswith("_")}


def test_wandb_offline_run_has_the_runs_name_config_and_every_row(tmp_path, wandb_offline, capsys):
    assert main(["pretrain", *TINY_FLAGS, "--steps", "150", "--logger", "wandb"]) == 0
    run_dir = Path(tmp_path / "daftrl-home" / "runs" / "pretrain" / "Pendulum-v1-paper-s0")
    saved = json.loads((run_dir / "wandb.json").read_text())
    [run] = wandb_offline_runs(wandb_offline)  # WANDB_DIR holds W&B's files
    assert run["id"] == saved["id"] and saved["project"] == "daftrl"
    assert run["name"] == run_name(run_dir) == "pretrain/Pendulum-v1-paper-s0"
    doc = json.loads((run_dir / "config.json").read_text())
    expected = {"kind": "pretrain", **doc["config"], "provenance": doc["provenance"], "resumes": []}
    assert {k: run["config"].get(k) for k in expected} == expected
    rows = history(run)
    assert same(rows, logged(run_dir), rel=1e-12)
    assert rows["eval/return_mean", 150] == RunDir(run_dir).rows("eval")[0]["return_mean"]
    assert {"train/sps", "eval/return_std", "eval/wall_time", "eval/length_mean"} <= {k for k, _ in rows}


def test_a_resumed_run_continues_its_wandb_run(tmp_path, wandb_offline, monkeypatch):
    monkeypatch.delenv("WANDB_DIR")  # W&B's local files then go into the run directory
    run_dir = tmp_path / "r"
    pretrain(tiny(run_dir, logger=("wandb",)), quiet=True)
    first = json.loads((run_dir / "wandb.json").read_text())
    pretrain(tiny(run_dir, resume=True, steps=300, logger=("wandb",)), quiet=True)
    assert json.loads((run_dir / "wandb.json").read_text()) == first
    started, resumed = wandb_offline_runs(run_dir / "wandb")
    assert started["id"] == resumed["id"] == first["id"] and resumed["name"] == started["name"] == "r"
    assert [r["steps"] for r in resumed["config"]["resumes"]] == [300] and resumed["config"]["steps"] == 300
    # the resumed process logs from after the checkpoint on: every row of the run is in W&B exactly once
    assert same(history(resumed), as_wandb_history(run_dir, after=150), rel=1e-12)
    assert same(history(started) | history(resumed), logged(run_dir), rel=1e-12)


def test_wandb_that_cannot_start_stops_the_command_in_one_line_and_leaves_the_directory_reusable(
        tmp_path, wandb_offline, monkeypatch, capsys):
    import wandb

    def no_credentials(**kwargs):
        raise wandb.errors.UsageError("api_key not configured (no-tty). call wandb.login(key=[your_api_key])\nmore")

    monkeypatch.setattr(wandb, "init", no_credentials)
    run_dir = tmp_path / "r"
    assert main(["pretrain", *TINY_FLAGS, "--logger", "wandb", "tensorboard", "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["daftrl pretrain: error: --logger wandb could not start a W&B run (api_key not configured "
                   "(no-tty). call wandb.login(key=[your_api_key])); nothing was logged: fix that (`wandb login`, or "
                   "WANDB_MODE=offline to log locally) or drop --logger wandb, then run the same command again"]
    assert RunDir(run_dir).partial_files() == [] and not (run_dir / "checkpoint.safetensors").exists()


# ---------------------------------------------------------------------------------------------- missing extras
@pytest.mark.parametrize(("tracker", "module"), [("tensorboard", "tensorboardX"), ("wandb", "wandb")])
def test_a_tracker_that_is_not_installed_is_named_with_its_extra_before_anything_is_written(
        tracker, module, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` fails as if it were not installed
    home = tmp_path / "daftrl-home"
    assert main(["pretrain", "--env", "Pendulum-v1", "--logger", tracker]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"daftrl pretrain: error: --logger {tracker} needs {module}, which is not installed: "
        f"pip install 'daftrl[{tracker}]'"]
    assert not home.exists()
    # a resume too, before it touches the run
    run = RunDir(tmp_path / "r")
    run.write_config(config_to_dict(tiny()))
    save_arrays(run.checkpoint, {"x": np.zeros(1, np.float32)}, kind="pretrain", meta={})
    assert main(["pretrain", "--resume", "--run-dir", str(run.path), "--logger", tracker]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"daftrl pretrain: error: --logger {tracker} needs {module}, which is not installed: pip install "
        f"'daftrl[{tracker}]' (or resume with --logger naming the trackers to keep, none: --logger alone)"]
    assert not (run.path / ".lock").exists()


def test_only_numbers_are_logged_under_the_runs_own_name(tmp_path):
    row = {"kind": "eval", "step": 5, "return_mean": np.float32(1.5), "falls": 2, "returns": [1.0, 2.0],
           "normalized_score": None, "ok": True, "method": "ft", "nan": float("nan")}
    values = scalars(row)
    assert values.keys() == {"return_mean", "falls", "nan"} and values["return_mean"] == 1.5
    home = tmp_path / "daftrl-home"
    assert run_name(home / "runs" / "adapt" / "hopper-big-head" / "daft-s0") == "adapt/hopper-big-head/daft-s0"
    assert run_name(home / "grid" / "c" / "t" / "ft" / "s0-ab12") == "grid/c/t/ft/s0-ab12"
    assert run_name(tmp_path / "elsewhere" / "r1") == "r1"
