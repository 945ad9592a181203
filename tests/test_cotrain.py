"""The co-training loop (daftrl.cotrain) with SAC-mix, the base of every co-training method."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from cotrain_helpers import SOURCE, TARGET, assert_resume_equals_no_stop, run_cotrain, tiny
from daftrl.algos import method_names, method_spec
from daftrl.algos.mix import SACMix, SACMixConfig, concat_batches
from daftrl.checkpoint import load_arrays
from daftrl.replay import Batch
from daftrl.rundir import RunDir
from daftrl.sac import SAC


def test_counts_source_and_target_steps(tmp_path):
    res = run_cotrain(tmp_path, "sac-mix", tiny(SACMixConfig()), steps=40, target_every=5)
    assert res["status"] == "finished" and res["steps"] == 40 and res["source_steps"] == 200
    arrays, meta = load_arrays(tmp_path / "checkpoint.safetensors", kind="cotrain")
    assert len(arrays["source_replay/obs"]) == 200 and len(arrays["target_replay/obs"]) == 40
    evals = RunDir(tmp_path).rows("eval")
    assert [r["step"] for r in evals] == [0, 20, 40]  # target steps: the x-axis of the adaptation curves
    train = RunDir(tmp_path).rows("train")
    assert [r["source_step"] for r in train] == [50, 100, 150, 200]
    # updates start once both buffers hold a batch (16 target steps = 76 source steps at target_every 5)
    assert int(arrays["state/step"]) == 200 - 76 + 1  # iterations 76..200


def test_source_actions_carry_exploration_noise(tmp_path):
    """Source actions are policy samples plus N(0, noise): with a huge noise they pile up at the bounds."""
    import dataclasses

    run_cotrain(tmp_path, "sac-mix", dataclasses.replace(tiny(SACMixConfig()), src_action_noise=10.0), steps=20)
    arrays, _ = load_arrays(tmp_path / "checkpoint.safetensors", kind="cotrain")
    src, tar = np.abs(arrays["source_replay/act"]), np.abs(arrays["target_replay/act"])
    assert (src == 1.0).mean() > 0.8 and (tar == 1.0).mean() < 0.2


def test_sac_mix_losses_are_sac_on_the_concatenated_batch():
    rng = np.random.default_rng(0)
    mk = lambda n: Batch(*(jnp.asarray(x, jnp.float32) for x in (  # noqa: E731
        rng.normal(size=(n, 3)), rng.uniform(-1, 1, (n, 1)), rng.normal(size=n), rng.normal(size=(n, 3)),
        (rng.random(n) < 0.2).astype(float))))
    src, tar = mk(8), mk(8)
    mix = SACMix(SACMixConfig(hidden=(16, 16)), 3, 1)
    sac = SAC(mix.config, 3, 1)
    state = mix.init(0)
    key = jnp.asarray(np.array([0, 7], np.uint32))
    both = concat_batches(src, tar)
    assert np.allclose(both.obs[:8], src.obs) and np.allclose(both.obs[8:], tar.obs)
    for loss in ("critic_loss", "actor_loss"):
        params = state.critic if loss == "critic_loss" else state.actor
        got = getattr(mix, loss)(params, state, tar, key, {"src": src})[0]
        want = getattr(sac, loss)(params, state, both, key)[0]
        assert np.isclose(got, want)


def test_resume_equals_no_stop(tmp_path):
    assert_resume_equals_no_stop(tmp_path, "sac-mix", tiny(SACMixConfig()))


def test_resume_continues_the_saved_method_whatever_the_callers_default(tmp_path):
    """A resumed run is the run its directory holds: resuming a sac-mix run with a config whose `method`
    is left at its default (par) must rebuild the sac-mix config and method, not PAR's."""
    run_cotrain(tmp_path, "sac-mix", tiny(SACMixConfig()), steps=20)
    resumed = run_cotrain(tmp_path, "par", None, steps=40, resume=True)
    assert (resumed["method"], resumed["steps"]) == ("sac-mix", 40)


def test_resume_counts_source_steps_with_the_runs_own_target_every(tmp_path):
    """--source-steps on resume is converted with the saved --target-every (5), not the default (10)."""
    from daftrl.cotrain import CotrainRunConfig, cotrain

    run_cotrain(tmp_path, "sac-mix", tiny(SACMixConfig()), steps=20, target_every=5)
    resumed = cotrain(CotrainRunConfig(source_steps=150, resume=True, run_dir=str(tmp_path)), source=SOURCE,
                      target=TARGET, quiet=True)
    assert (resumed["steps"], resumed["source_steps"]) == (30, 150)


def test_unknown_method_is_refused_with_suggestion():
    with pytest.raises(ValueError, match="did you mean par"):
        method_spec("parr", "cotrain")
    assert set(method_names("cotrain")) == {"par", "vgdf", "darc", "sac-iw", "sac-mix", "h2o", "bc-vgdf", "bc-par"}


def test_mismatched_source_and_target_are_refused(tmp_path):
    from daftrl.cotrain import CotrainRunConfig, cotrain
    from daftrl.envs.factory import EnvHandle

    bad = EnvHandle("x", "target", None, 4, 1, SOURCE.factory)
    with pytest.raises(ValueError, match="differ in observation"):
        cotrain(CotrainRunConfig(task="pendulum", method="sac-mix", steps=10, run_dir=str(tmp_path / "r")),
                tiny(SACMixConfig()), source=SOURCE, target=bad, quiet=True)
    assert not (tmp_path / "r").exists()  # refused before the run directory is created


def test_updates_wait_for_source_batch_size(tmp_path):
    """With source_batch_size (DARC: 256) the first update waits until the source buffer holds that many."""
    run_cotrain(tmp_path, "sac-mix", tiny(SACMixConfig(), source_batch_size=150), steps=40, target_every=5)
    arrays, _ = load_arrays(tmp_path / "checkpoint.safetensors", kind="cotrain")
    assert int(arrays["state/step"]) == 200 - 150 + 1
