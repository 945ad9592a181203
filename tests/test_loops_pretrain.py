"""The pretraining loop: learns, is deterministic, and resumes bit-exactly (also after SIGTERM)."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from daftrl.checkpoint import load_arrays
from daftrl.loops import PretrainConfig, pretrain
from daftrl.sac import SACConfig

TINY = SACConfig(hidden=(32, 32), batch_size=32)


def cfg(tmp_path, name, **kw):
    base = dict(env="Pendulum-v1", sac=TINY, warmup_steps=200, eval_every=400, eval_episodes=1,
                checkpoint_every=10_000, log_every=100, run_dir=str(tmp_path / name))
    return PretrainConfig(**{**base, **kw})


def same_training_state(a: str, b: str) -> list[str]:
    A, _ = load_arrays(a)
    B, _ = load_arrays(b)
    assert A.keys() == B.keys()
    return [k for k in A if not np.array_equal(A[k], B[k])]


def eval_rows(run_dir):
    rows = [json.loads(x) for x in open(os.path.join(run_dir, "metrics.jsonl"))]
    return [(r["step"], r["returns"]) for r in rows if r["kind"] == "eval"]


def test_resume_equals_no_stop(tmp_path):
    straight = pretrain(cfg(tmp_path, "straight", steps=900), quiet=True)
    # stop mid-episode (Pendulum episodes are 200 steps), then resume to the same total
    pretrain(cfg(tmp_path, "stopped", steps=530), quiet=True)
    started = json.loads((tmp_path / "stopped" / "config.json").read_text())["provenance"]
    resumed = pretrain(PretrainConfig(run_dir=str(tmp_path / "stopped"), resume=True, steps=900), quiet=True)
    assert resumed["steps"] == straight["steps"] == 900
    assert same_training_state(f"{tmp_path}/straight/checkpoint.safetensors",
                               f"{tmp_path}/stopped/checkpoint.safetensors") == []
    # the learning curve is the same too (the resumed run adds only its stop-point evaluation)
    resumed_rows = [r for r in eval_rows(tmp_path / "stopped") if r[0] != 530]
    assert resumed_rows == eval_rows(tmp_path / "straight")
    # config.json records the extended budget and the resume, keeping the first start's provenance
    doc = json.loads((tmp_path / "stopped" / "config.json").read_text())
    assert doc["config"]["steps"] == 900 and doc["provenance"] == started
    assert [r["steps"] for r in doc["resumes"]] == [900] and "command" in doc["resumes"][0]
    assert "resumes" not in json.loads((tmp_path / "straight" / "config.json").read_text())


def test_same_seed_twice_is_identical_and_other_seed_differs(tmp_path):
    pretrain(cfg(tmp_path, "a", steps=400), quiet=True)
    pretrain(cfg(tmp_path, "b", steps=400), quiet=True)
    pretrain(cfg(tmp_path, "c", steps=400, seed=1), quiet=True)
    assert same_training_state(f"{tmp_path}/a/checkpoint.safetensors", f"{tmp_path}/b/checkpoint.safetensors") == []
    assert same_training_state(f"{tmp_path}/a/checkpoint.safetensors", f"{tmp_path}/c/checkpoint.safetensors")


def test_refuses_to_overwrite_and_to_resume_nothing(tmp_path):
    pretrain(cfg(tmp_path, "a", steps=250), quiet=True)
    with pytest.raises(FileExistsError, match="--resume"):
        pretrain(cfg(tmp_path, "a", steps=250), quiet=True)
    with pytest.raises(ValueError, match="does not exist"):
        pretrain(cfg(tmp_path, "nothing", steps=250, resume=True), quiet=True)


@pytest.mark.slow  # make test-slow (CI runs it); kept out of make test's 5-minute budget
def test_sigterm_checkpoints_and_resume_matches(tmp_path):
    run = tmp_path / "killed"
    args = [sys.executable, "-m", "daftrl.cli", "pretrain", "--env", "Pendulum-v1", "--steps", "1500",
            "--sac.hidden", "32", "32", "--sac.batch-size", "32", "--warmup-steps", "200", "--eval-every", "400",
            "--eval-episodes", "1", "--log-every", "100", "--run-dir", str(run)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until learning has started
        if (run / "metrics.jsonl").exists() and "critic_loss" in (run / "metrics.jsonl").read_text():
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err  # 143: stopped, resumable (not finished)
    assert "stopped by SIGTERM" in out
    _, meta = load_arrays(run / "checkpoint.safetensors")
    assert 200 < meta["step"] < 1500
    stopped = json.loads((run / "result.json").read_text())
    assert (stopped["status"], stopped["step"]) == ("interrupted", meta["step"])
    pretrain(PretrainConfig(run_dir=str(run), resume=True), quiet=True)
    assert json.loads((run / "result.json").read_text())["status"] == "finished"
    pretrain(cfg(tmp_path, "straight", steps=1500), quiet=True)
    assert same_training_state(f"{run}/checkpoint.safetensors", f"{tmp_path}/straight/checkpoint.safetensors") == []


@pytest.mark.slow  # trains an expert for ~30 s: make test-slow (CI runs it)
def test_sac_learns_pendulum(pendulum_expert):
    """A random policy scores about -1200 on Pendulum-v1; SAC gets above -400 in 6000 steps (10 episodes)."""
    run, result = pendulum_expert
    assert result["final_eval"]["return_mean"] > -400, eval_rows(run)
