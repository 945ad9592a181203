"""Nothing lost on bad input or a crash: run directories are never overwritten or shared, damaged logs and
configs give errors that say what to do, and --resume refuses flags it would otherwise ignore."""

import collections
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from daftrl.checkpoint import CheckpointError, save_arrays
from daftrl.cli import main
from daftrl.configs import config_to_dict
from daftrl.cotrain import CotrainRunConfig
from daftrl.loops import AdaptRunConfig, PretrainConfig
from daftrl.provenance import apply_cpu_settings
from daftrl.run_summary import exit_code
from daftrl.rundir import RunDir, RunDirBusy
from daftrl.runs import Run


def _open(cfg, kind="adapt"):
    """Open a run as a loop does: resolve it (a resume locks and reads the saved config), create a new one."""
    run = Run(cfg, kind, 100)
    return run if cfg.resume else run.create()


def _earlier_run(path, kind="adapt", config=None):
    """A run dir as a loop leaves it: config.json, logs and (optionally) a checkpoint of `kind`."""
    run = RunDir(path)
    run.write_config(config or config_to_dict(AdaptRunConfig(method="ft", steps=100)))
    run.log({"kind": "eval", "step": 0, "return_mean": 1.0, "return_std": 0.0})
    if kind:
        save_arrays(run.checkpoint, {"x": np.zeros(1, np.float32)}, kind=kind, meta={})
    return run


# ---------------------------------------------------------------------------------------------- new runs
def test_a_new_run_refuses_an_earlier_runs_logs_and_deletes_nothing(tmp_path):
    run = _earlier_run(tmp_path / "r", kind=None)
    (run.path / "result.json").write_text("{}")
    with pytest.raises(FileExistsError, match="earlier run's metrics.jsonl, eval.csv, result.json but no checkpoint"):
        _open(AdaptRunConfig(run_dir=str(run.path)))
    assert len(run.rows("eval")) == 1 and run.result_path.read_text() == "{}"
    # a directory holding only a config.json (a start that failed before logging) is reused
    for p in (run.result_path, run.metrics_path, run.eval_csv):
        p.unlink()
    _open(AdaptRunConfig(run_dir=str(run.path), method="daft"))
    assert RunDir(run.path).read_config()["method"] == "daft"


def test_a_run_dir_in_use_by_another_process_is_refused(tmp_path):
    path = tmp_path / "busy"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from daftrl.rundir import RunDir; r = RunDir(sys.argv[1]); "
         "r.lock(); print('locked', flush=True); time.sleep(60)", str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunDirBusy, match=rf"in use by process {holder.pid}: wait for it"):
            _open(AdaptRunConfig(run_dir=str(path)))
        assert not (path / "config.json").exists()
    finally:
        holder.kill()
        holder.wait()
    _open(AdaptRunConfig(run_dir=str(path)))  # the OS released the lock with the process
    assert (path / "config.json").exists()


def test_run_config_counts_are_checked_before_anything_runs():
    with pytest.raises(ValueError, match="--eval-every must be >= 1, got 0"):
        AdaptRunConfig(eval_every=0)
    with pytest.raises(ValueError, match="--steps must be >= 0, got -5"):
        AdaptRunConfig(steps=-5)
    with pytest.raises(ValueError, match="--update-every must be >= 1"):
        PretrainConfig(update_every=0)
    with pytest.raises(ValueError, match="--eval-episodes must be >= 1"):
        CotrainRunConfig(eval_episodes=0)


def test_cpus_must_name_cores_this_process_may_use():
    with pytest.raises(ValueError, match="not available; this process may use"):
        apply_cpu_settings("0,4096")
    with pytest.raises(ValueError, match="core numbers separated by commas"):
        apply_cpu_settings("a")


def test_an_interrupted_run_exits_with_the_signals_code():
    assert exit_code({"status": "finished"}) == 0
    assert exit_code({"status": "interrupted", "signal": "SIGTERM"}) == 143
    assert exit_code({"status": "interrupted", "signal": "SIGINT"}) == 130


# ---------------------------------------------------------------------------------------------- resumes
def test_resume_refuses_another_commands_run_and_a_missing_dir(tmp_path, capsys):
    _earlier_run(tmp_path / "a", kind="adapt")
    assert main(["cotrain", "--resume", "--run-dir", str(tmp_path / "a")]) == 2  # was: "unknown method 'ft'"
    assert "holds a 'adapt' run, not a 'cotrain' one: continue it with `daftrl adapt" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match=r"holds a 'adapt' run, not a 'pretrain' one: continue it with "
                                              r"`daftrl adapt --resume"):
        Run(PretrainConfig(run_dir=str(tmp_path / "a"), resume=True), "pretrain", 1)
    with pytest.raises(CheckpointError, match="does not exist; start without --resume"):
        _open(AdaptRunConfig(run_dir=str(tmp_path / "nowhere"), resume=True))
    assert not (tmp_path / "nowhere").exists()


def test_resume_with_a_damaged_or_foreign_config_says_what_to_do(tmp_path):
    run = _earlier_run(tmp_path / "r")
    run.config_path.unlink()
    with pytest.raises(CheckpointError, match="has no config.json: it is not a daftrl run directory"):
        _open(AdaptRunConfig(run_dir=str(run.path), resume=True))
    run.config_path.write_text('{"config": {"task": "x", ')
    with pytest.raises(CheckpointError, match="config.json is damaged"):
        _open(AdaptRunConfig(run_dir=str(run.path), resume=True))
    newer = {**config_to_dict(PretrainConfig()), "an_option_of_a_newer_version": 1}
    _earlier_run(tmp_path / "p", kind="pretrain", config=newer)
    with pytest.raises(CheckpointError, match="does not match the pretrain options of this daftrl version"):
        Run(PretrainConfig(run_dir=str(tmp_path / "p"), resume=True), "pretrain", 1)


def test_a_resume_removes_the_stale_result(tmp_path):
    run = _earlier_run(tmp_path / "r")
    run.write_result({"status": "finished", "steps": 100})
    run.record_resume({**run.read_config(), "steps": 200})
    assert not run.result_path.exists()


def _adapt_run_dir(tmp_path):
    """An adapt run's config.json (FT, seed 0, TensorBoard on) in `tmp_path`; returns the path."""
    from daftrl.algos import method_spec
    from daftrl.configs import json_ready

    config_cls = method_spec("ft").config_cls
    cfg = {**config_to_dict(AdaptRunConfig(method="ft", steps=100, seed=0, logger=("tensorboard",))),
           "method_config": json_ready(dataclasses.asdict(config_cls()))}
    RunDir(tmp_path).write_config(cfg)
    return str(tmp_path)


def test_resume_refuses_flags_that_contradict_the_saved_run(tmp_path, capsys):
    d = _adapt_run_dir(tmp_path)
    assert main(["adapt", "--resume", "--run-dir", d, "--seed", "7", "--actor-lr", "0.1", "--steps", "500"]) == 2
    err = capsys.readouterr().err
    assert "--seed 7 (the run has 0); --actor-lr 0.1 (the run has 0.0003)" in err and "drop those flags" in err
    # the same flags as the saved run, a new budget and no TensorBoard are fine: the loop then looks for the
    # checkpoint
    assert main(["adapt", "ft", "--resume", "--run-dir", d, "--seed", "0", "--steps", "500", "--logger"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint.safetensors does not exist" in err and "the run has" not in err


def test_pretrain_resume_refuses_another_env_and_a_nested_negated_flag(tmp_path, capsys):
    from daftrl.sac import PRESETS

    cfg = PretrainConfig(env="halfcheetah", steps=100, preset="sb3", sac=PRESETS["sb3"])
    assert cfg.sac.learn_alpha
    RunDir(tmp_path).write_config(config_to_dict(cfg))
    assert main(["pretrain", "--resume", "--run-dir", str(tmp_path), "--env", "hopper"]) == 2
    assert "--env 'hopper' (the run has 'halfcheetah')" in capsys.readouterr().err
    assert main(["pretrain", "--resume", "--run-dir", str(tmp_path), "--preset", "sb3", "--sac.no-learn-alpha"]) == 2
    assert "--sac.learn-alpha False (the run has True)" in capsys.readouterr().err


def test_resume_checks_flags_against_the_default_run_dir_too(tmp_path, monkeypatch, capsys):
    """Without --run-dir the run is the default directory of the given options: checked all the same."""
    monkeypatch.setenv("DAFTRL_HOME", str(tmp_path))
    _adapt_run_dir(AdaptRunConfig(method="ft").default_run_dir())
    args = ["adapt", "ft", "--resume"]
    assert main([*args, "--actor-lr", "0.1"]) == 2
    assert "--actor-lr 0.1 (the run has 0.0003)" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- logs
def test_a_torn_last_log_line_is_skipped_and_dropped_on_resume_a_damaged_one_is_an_error(tmp_path):
    run = _earlier_run(tmp_path / "r", kind=None)
    run.log({"kind": "train", "step": 10})
    with open(run.metrics_path, "a") as f:
        f.write('{"kind": "train", "step": 2')  # a crash mid-write
    with pytest.warns(UserWarning, match="skipping its last line, which was cut short"):
        assert [r["step"] for r in run.rows()] == [0, 10]
    with pytest.warns(UserWarning):
        run.truncate_logs(10)
    assert [json.loads(x)["step"] for x in run.metrics_path.read_text().splitlines()] == [0, 10]
    lines = run.metrics_path.read_text().splitlines()
    run.metrics_path.write_text("\n".join([lines[0], "garbage", lines[1]]) + "\n")
    with pytest.raises(CheckpointError, match=r"metrics.jsonl line 2 is not valid JSON"):
        run.rows()


# ---------------------------------------------------------------------------------------------- demo
def test_demo_never_deletes_a_directory_it_did_not_write(tmp_path, capsys):
    from daftrl.demo import MARKER, is_demo_dir

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    assert main(["demo", "--out", str(precious), "--method", "bogus"]) == 2
    assert "unknown method" in capsys.readouterr().err
    assert main(["demo", "--out", str(precious), "--steps", "10"]) == 2
    assert "is not an earlier demo's directory" in capsys.readouterr().err
    assert (precious / "thesis.txt").read_text() == "years of work"
    (precious / MARKER).write_text("")  # as if a demo had written it: the next demo may replace it
    assert is_demo_dir(precious)
    (tmp_path / "empty").mkdir()
    assert is_demo_dir(tmp_path / "empty") and not is_demo_dir(tmp_path / "missing")
    older = tmp_path / "older-demo"  # a finished demo of a daftrl version before the marker
    older.mkdir()
    (older / "summary.md").write_text("# daftrl demo: daft on halfcheetah-broken-back-thigh\n")
    assert is_demo_dir(older)


def test_an_interrupted_demo_writes_no_summary_and_exits_with_the_signals_code(tmp_path, monkeypatch, capsys):
    import daftrl.loops

    def stopped(cfg, *a, **k):
        return {"status": "interrupted", "signal": "SIGTERM", "step": 1013, "run_dir": cfg.run_dir}

    monkeypatch.setattr(daftrl.loops, "adapt", stopped)
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 143
    assert "demo interrupted at step 1,013: continue it with `daftrl adapt --resume" in capsys.readouterr().err
    assert not (tmp_path / "demo" / "summary.md").exists()


def test_atomic_writes_respect_the_umask_without_resetting_it(tmp_path, monkeypatch):
    """Files get the mode a plain open() would give (0o666 minus the umask), read from /proc: setting the
    umask (even to restore it) is process-wide and races with other threads creating files."""
    import os
    import stat

    from daftrl.checkpoint import atomic_write_bytes

    old = os.umask(0o027)
    try:
        with monkeypatch.context() as m:
            m.setattr(os, "umask", lambda *_: pytest.fail("os.umask called during a write"))
            atomic_write_bytes(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o640


def test_the_lock_lasts_as_long_as_the_loop_even_when_it_fails(tmp_path):
    """A loop that raises after locking its run dir (here: a resume whose checkpoint holds no adapter) releases it
    at once, not when the exception is garbage-collected (a notebook keeps it)."""
    from daftrl.loops import adapt

    run = _earlier_run(tmp_path / "r", kind="adapt")
    with pytest.raises(KeyError, match="adapter") as kept:
        adapt(AdaptRunConfig(run_dir=str(run.path), resume=True), quiet=True)
    lock = "import sys; from daftrl.rundir import RunDir; RunDir(sys.argv[1]).lock()"
    other = subprocess.run([sys.executable, "-c", lock, str(run.path)], capture_output=True, text=True)
    assert other.returncode == 0, other.stderr
    assert kept.value is not None


def test_a_filesystem_without_locks_runs_unlocked_with_a_warning(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_locks(*_):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "lockf", no_locks)
    with pytest.warns(UserWarning, match="cannot lock this directory"):
        RunDir(tmp_path).lock()


def test_only_a_finished_result_counts_as_done(tmp_path):
    run = RunDir(tmp_path)
    assert not run.finished()
    run.write_result({"status": "interrupted", "step": 10})
    assert not run.finished()
    run.write_result({"status": "finished", "steps": 20})
    assert run.finished()


def test_the_logged_rate_waits_for_the_dispatched_updates(tmp_path, monkeypatch):
    """JAX runs updates asynchronously: the steps/s of a training row must count the wait for their results (the
    fetch of the losses), or the first row after a start or a resume reports updates that were only queued."""
    import time

    import jax
    import jax.numpy as jnp

    from daftrl.monitor import Monitor

    fetch = jax.device_get

    def slow_fetch(x):  # stands for updates still running on the device when the row is logged
        time.sleep(0.5)
        return fetch(x)

    monkeypatch.setattr(jax, "device_get", slow_fetch)
    run = RunDir(tmp_path / "r")
    run.write_config({"env": "Pendulum-v1"})
    with Monitor(run, "test", 1000, 100, 0.0, None, (), True, "pretrain") as monitor:
        monitor.train(200, {"critic_loss": jnp.float32(1.0)})
    [row] = run.rows("train")
    assert row["critic_loss"] == 1.0 and row["sps"] <= 100 / 0.5


def test_portable_removes_machine_paths():
    from daftrl.provenance import portable

    home = str(Path.home())
    command = f"/opt/x/src/daftrl/cli.py adapt --run-dir {home}/.daftrl/r"
    assert portable(command) == "daftrl adapt --run-dir ~/.daftrl/r"
    assert portable("/work/main/.venv/bin/daftrl grid run g.toml") == "daftrl grid run g.toml"
    assert portable("--run /tmp/pytest-1/x/run") == "--run .../run"
    assert portable("daftrl/walker/medium-v0") == "daftrl/walker/medium-v0"  # a dataset id is not a path
    assert portable(f"{home}fs/data/x.npz") == ".../x.npz"  # a sibling of home (/rootfs beside /root) is not in it


def test_portable_gives_a_path_in_the_checkout_as_its_repository_path():
    from daftrl.provenance import _checkout_root, portable

    root = _checkout_root()
    if root is None:
        pytest.skip("daftrl is not running from a source checkout")
    assert portable(f"daftrl bench sac --out {root}/benchmarks/results/b.json") == \
        "daftrl bench sac --out benchmarks/results/b.json"
    assert portable(f"{root}/benchmarks/learning_quality.py") == "benchmarks/learning_quality.py"
    assert portable(f"{root}x/a/b.json") == ".../b.json"  # a sibling directory is not in the checkout


def test_portable_with_home_at_the_root_leaves_ids_and_urls_alone(monkeypatch):
    from daftrl.provenance import portable

    monkeypatch.setattr(Path, "home", classmethod(lambda cls: Path("/")))
    assert portable("daftrl/walker/medium-v0 https://github.com/a/b") == "daftrl/walker/medium-v0 https://github.com/a/b"
    assert portable("--run /data/runs/x") == "--run .../x"


def test_portable_tree_keeps_the_structure_and_every_non_string():
    from daftrl.provenance import portable_tree

    home = str(Path.home())
    tree = {"run_dir": f"{home}/.daftrl/runs/x", "hidden": (256, 256), "steps": 5, "none": None,
            "nested": [{"command": f"{home}/.venv/bin/daftrl zoo export walker-cql"}]}
    assert portable_tree(tree) == {"run_dir": "~/.daftrl/runs/x", "hidden": (256, 256), "steps": 5, "none": None,
                                   "nested": [{"command": "daftrl zoo export walker-cql"}]}
    Pair = collections.namedtuple("Pair", "path n")
    assert portable_tree(Pair(f"{home}/a", 1)) == Pair("~/a", 1)


def test_committed_provenance_is_portable_and_a_record_keeps_its_fields_without_the_host(monkeypatch):
    from daftrl.experiments.store import portable_provenance
    from daftrl.provenance import committed_provenance, provenance

    monkeypatch.setattr(sys, "argv", [f"{Path.home()}/.venv/bin/daftrl", "bench", "sac", "--out", "/tmp/a/b.json"])
    prov = provenance()
    assert committed_provenance(prov)["command"] == "daftrl bench sac --out .../b.json"
    assert committed_provenance()["command"] == committed_provenance(prov)["command"]
    record = portable_provenance(prov)
    assert record["command"] == "daftrl bench sac --out .../b.json" and record["machine"] == {
        "cpu": prov["machine"]["cpu"], "cores": prov["machine"]["cores"]}  # no host name in a committed record
    assert {k: record[k] for k in ("git_commit", "date", "python", "versions")} == \
        {k: prov[k] for k in ("git_commit", "date", "python", "versions")}
