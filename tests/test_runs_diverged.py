"""A run whose losses stop being finite ends with a clear error instead of training on (and saving) NaNs."""

import json
import math

import numpy as np
import pytest

from daftrl.cli import main
from daftrl.loops import PretrainConfig, pretrain
from daftrl.monitor import TrainingDiverged, check_finite_state, diverged_metrics
from daftrl.sac import SACConfig

ABSURD = SACConfig(hidden=(32, 32), batch_size=32, actor_lr=1e12, critic_lr=1e12)


def absurd_run(run, steps: int, log_every: int) -> PretrainConfig:
    """Pendulum pretraining whose learning rates blow the networks up within a few hundred updates."""
    return PretrainConfig(env="Pendulum-v1", sac=ABSURD, warmup_steps=100, steps=steps, eval_every=max(1000, log_every),
                          eval_episodes=1, log_every=log_every, run_dir=str(run))


def test_only_losses_and_q_count_as_divergence():
    row = {"critic_loss": 1.0, "actor_loss": math.nan, "q": math.inf, "q_src": 2.0, "log_lambda_mean": -math.inf,
           "sps": 3.0, "kind": "train"}
    assert diverged_metrics(row) == ["actor_loss", "q"]
    assert diverged_metrics({**row, "actor_loss": 0.0, "q": 0.0}) == []


def test_diverging_run_stops_before_checkpointing(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="diverged by step"):
        pretrain(absurd_run(run, 2000, 100), quiet=True)
    rows = [json.loads(x) for x in open(run / "metrics.jsonl")]
    assert diverged_metrics(rows[-1])  # the offending row is logged
    assert not (run / "checkpoint.safetensors").exists() and not (run / "result.json").exists()


def test_cli_reports_divergence_with_exit_code_1(tmp_path, capsys):
    code = main(["pretrain", "--env", "Pendulum-v1", "--steps", "2000", "--warmup-steps", "100", "--log-every", "100",
                 "--eval-every", "1000", "--eval-episodes", "1", "--sac.hidden", "32", "32", "--sac.batch-size", "32",
                 "--sac.actor-lr", "1e12", "--sac.critic-lr", "1e12", "--run-dir", str(tmp_path / "cli")])
    assert code == 1
    assert "training diverged" in capsys.readouterr().err


def test_a_diverged_state_is_never_checkpointed_even_between_log_rows(tmp_path):
    # no training row is logged before the end (log_every > steps): the final checkpoint itself refuses
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="checkpoint was not written"):
        pretrain(absurd_run(run, 600, 10_000), quiet=True)
    assert not (run / "checkpoint.safetensors").exists()


def test_check_finite_state_looks_only_at_the_learner():
    good = {"state/w": np.ones(3, np.float32), "state/step": np.array(3), "replay/obs": np.array([np.inf])}
    check_finite_state(good, "state/", "here")  # replay data and integer arrays are not the learner's floats
    with pytest.raises(TrainingDiverged, match="state/w"):
        check_finite_state({**good, "state/w": np.array([1.0, np.nan])}, "state/", "here")
