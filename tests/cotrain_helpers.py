"""Helpers shared by the co-training tests: a cheap Pendulum source/target pair and a short run."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np

from daftrl.checkpoint import load_arrays
from daftrl.cotrain import CotrainRunConfig, cotrain
from daftrl.envs.factory import EnvHandle


def pendulum(g: float, domain: str) -> EnvHandle:
    """Pendulum-v1 with gravity g, actions rescaled to [-1, 1]."""

    def make():
        one = np.ones(1, np.float32)
        return gym.wrappers.RescaleAction(gym.make("Pendulum-v1", g=g), -one, one)

    return EnvHandle(f"pendulum-g{g}", domain, None, 3, 1, make)


SOURCE, TARGET = pendulum(10.0, "source"), pendulum(14.0, "target")


def run_cotrain(run_dir, method: str, method_config, steps: int = 40, target_every: int = 5, resume: bool = False,
                **overrides) -> dict:
    """A short co-training run on the Pendulum pair (steps = target steps); returns result.json's dict."""
    cfg = CotrainRunConfig(task="pendulum", method=method, steps=steps, target_every=target_every,
                           eval_every=overrides.pop("eval_every", 20), eval_episodes=overrides.pop("eval_episodes", 1),
                           checkpoint_every=overrides.pop("checkpoint_every", 20), log_every=10,
                           run_dir=str(run_dir), resume=resume, **overrides)
    return cotrain(cfg, method_config, source=SOURCE, target=TARGET, quiet=True)


def final_state(run_dir) -> dict:
    arrays, meta = load_arrays(f"{run_dir}/checkpoint.safetensors", kind="cotrain")
    return {k: v for k, v in arrays.items() if k.startswith("state/")}


def assert_resume_equals_no_stop(tmp_path, method: str, method_config, steps: int = 40, stop_at: int = 20,
                                 **kw) -> None:
    """Run `steps` target steps straight, and `stop_at` then resume to `steps`: identical states and evals."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    run_cotrain(straight, method, method_config, steps=steps, **kw)
    run_cotrain(split, method, method_config, steps=stop_at, **kw)
    run_cotrain(split, method, method_config, steps=steps, resume=True, **kw)
    a, b = final_state(straight), final_state(split)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    from daftrl.rundir import RunDir

    ev = lambda d: [(r["step"], r["return_mean"]) for r in RunDir(d).rows("eval")]  # noqa: E731
    assert ev(straight) == ev(split)


def tiny(config, **changes):
    """Any co-training config shrunk for tests: small networks and batches (plus `changes`)."""
    return dataclasses.replace(config, **{"hidden": (32, 32), "batch_size": 16, "source_batch_size": None, **changes})
