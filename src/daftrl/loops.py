"""Training loops. `pretrain`: SAC in one domain (source experts), resumable bit-exactly.

Read top to bottom like a CleanRL script: act, step, store, update, evaluate, checkpoint.
The first `warmup_steps` actions are uniform random (DAFT Table 1: 1e4); afterwards every
`update_every` env steps run that many gradient updates in one compiled call (1 = the paper's
one-update-per-step schedule).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Literal

import numpy as np

from daftrl.checkpoint import CheckpointError, daftrl_home, flatten_tree, load_arrays, save_arrays, unflatten_like
from daftrl.sac import PRESETS, SACConfig


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """Train a SAC policy from scratch in one domain (the source expert of the zoo)."""

    env: str = "halfcheetah"
    """Robot name (its Gymnasium v5 source env), daftrl task name (with --domain) or gymnasium id."""
    domain: Literal["source", "target"] = "source"
    """Domain of a task to train in (source for experts)."""
    steps: int | None = None
    """Total environment steps (default 1e6; on --resume, the saved total unless given)."""
    seed: int = 0
    preset: Literal["paper", "expert", "sb3"] = "paper"
    """Hyperparameter preset (see daftrl.sac.PRESETS); --sac.* flags override single values."""
    sac: SACConfig = PRESETS["paper"]
    warmup_steps: int = 10_000
    """Uniform-random actions before learning starts (DAFT Table 1: 1e4)."""
    buffer_size: int = 1_000_000
    update_every: int = 1
    """Collect K steps, then run K updates in one compiled call (K > 1 lags the policy by < K steps)."""
    eval_every: int = 10_000
    eval_episodes: int = 10
    checkpoint_every: int = 25_000
    log_every: int = 1_000
    save_actors: bool = True
    """Keep the actor of every evaluation (small) under actors/, e.g. to pick a 'medium' policy."""
    run_dir: str | None = None
    """Default: $DAFTRL_HOME/runs/pretrain/<env>-<preset>-s<seed>."""
    resume: bool = False
    """Continue the run in run_dir from its checkpoint (its saved config is used)."""
    tensorboard: bool = False

    def default_run_dir(self) -> Path:
        name = self.env.replace("/", "_") + ("" if self.domain == "source" else "-target")
        return daftrl_home() / "runs" / "pretrain" / f"{name}-{self.preset}-s{self.seed}"


def config_to_dict(cfg) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def pretrain_config_from_dict(d: dict) -> PretrainConfig:
    d = dict(d)
    sac = d.pop("sac")
    sac["hidden"] = tuple(sac["hidden"])
    return PretrainConfig(**d, sac=SACConfig(**sac))


def _resolve_resume(cfg: PretrainConfig):
    from daftrl.runs import RunDir

    run = RunDir(cfg.run_dir or cfg.default_run_dir())
    if cfg.resume:
        if not run.has_checkpoint():
            raise CheckpointError(f"--resume given but {run.checkpoint} does not exist; start without --resume")
        saved = pretrain_config_from_dict(run.read_config())
        steps = cfg.steps if cfg.steps is not None else saved.steps
        cfg = dataclasses.replace(saved, steps=steps, resume=True, run_dir=str(run.path), tensorboard=cfg.tensorboard)
    else:
        if run.has_checkpoint():
            raise FileExistsError(
                f"{run.path} already holds a run; pass --resume to continue it or --run-dir for a new one"
            )
        cfg = dataclasses.replace(cfg, steps=cfg.steps or 1_000_000, run_dir=str(run.path))
        for p in (run.metrics_path, run.eval_csv, run.result_path):
            p.unlink(missing_ok=True)
        run.write_config(config_to_dict(cfg))
    return cfg, run


def save_actor(path: Path, sac, actor, meta: dict) -> None:
    """A standalone actor file (policy only) with what is needed to rebuild it."""
    meta = {**meta, "obs_dim": sac.obs_dim, "act_dim": sac.act_dim, "hidden": list(sac.config.hidden)}
    save_arrays(path, flatten_tree(actor, "actor"), kind="actor", meta=meta)


def pretrain(cfg: PretrainConfig, quiet: bool = False) -> dict:
    """Run (or resume) SAC pretraining; returns the result dict also written to result.json."""
    import jax

    from daftrl.collect import Collector
    from daftrl.env_factory import resolve_env
    from daftrl.evaluate import evaluate
    from daftrl.replay import ReplayBuffer
    from daftrl.runs import graceful_stop, progress_bar
    from daftrl.sac import SAC

    cfg, run = _resolve_resume(cfg)
    handle = resolve_env(cfg.env, cfg.domain)
    sac = SAC(cfg.sac, handle.obs_dim, handle.act_dim)
    state = sac.init(cfg.seed)
    buffer = ReplayBuffer(handle.obs_dim, handle.act_dim, cfg.buffer_size)
    rng = np.random.default_rng(cfg.seed)
    collector = Collector(handle.make(), seed=cfg.seed)
    act_key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1)
    step, wall_before, best = 0, 0.0, None

    if cfg.resume:
        arrays, meta = load_arrays(run.checkpoint, kind="pretrain")
        state = unflatten_like(state, arrays, "sac", str(run.checkpoint))
        buffer = ReplayBuffer.from_state_dict(arrays)
        rng.bit_generator.state = meta["rng"]
        collector.restore(arrays, meta["collector"])
        step, wall_before, best = meta["step"], meta["wall_time"], meta["best"]
        run.truncate_logs(step)

    writer = None
    if cfg.tensorboard:
        from tensorboardX import SummaryWriter

        writer = SummaryWriter(str(run.path / "tb"))

    def checkpoint(step: int) -> None:
        arrays = {**flatten_tree(state, "sac"), **buffer.state_dict()}
        c_arrays, c_meta = collector.state()
        arrays.update(c_arrays)
        meta = {
            "step": step,
            "rng": rng.bit_generator.state,
            "collector": c_meta,
            "wall_time": wall_before + time.perf_counter() - t0,
            "best": best,
            "config": config_to_dict(cfg),
        }
        save_arrays(run.checkpoint, arrays, kind="pretrain", meta=meta)

    learning_starts = max(cfg.warmup_steps, cfg.sac.batch_size)
    K = cfg.update_every
    info = None
    last_eval = None
    saved_at = step
    t0 = time.perf_counter()
    rate_t, rate_step = t0, step
    progress, task = progress_bar(f"pretrain {cfg.env}", cfg.steps, step)
    with graceful_stop() as stop, progress:
        while step < cfg.steps and not stop:
            if step < cfg.warmup_steps:
                action = rng.uniform(-1.0, 1.0, handle.act_dim).astype(np.float32)
            else:
                action = np.asarray(sac.sample_actions(state.actor, collector.obs[None], act_key, step))[0]
            collector.step(action, buffer)
            step += 1

            if step >= learning_starts and step % K == 0:
                if K == 1:
                    state, info = sac.update(state, buffer.sample(rng, cfg.sac.batch_size))
                else:
                    state, info = sac.update_many(state, buffer.sample(rng, cfg.sac.batch_size, K))

            if step % cfg.log_every == 0:
                now = time.perf_counter()
                sps = (step - rate_step) / max(now - rate_t, 1e-9)
                rate_t, rate_step = now, step
                row = {"kind": "train", "step": step, "episode_return": collector.recent_return(), "sps": sps}
                if info is not None:
                    row.update({k: float(v) for k, v in jax.device_get(info).items()})
                run.log(row)
                if writer:
                    for k, v in row.items():
                        if isinstance(v, float):
                            writer.add_scalar(f"train/{k}", v, step)
                progress.update(task, completed=step, rate=f"{sps:,.0f} steps/s",
                                status=_status(collector.recent_return(), last_eval))

            if step % cfg.eval_every == 0 or step == cfg.steps:
                res = evaluate(lambda o: sac.mean_actions(state.actor, o), handle.make,
                               cfg.eval_episodes, cfg.seed, handle.robot)
                last_eval = res.mean
                wall = wall_before + time.perf_counter() - t0
                run.log({"kind": "eval", "step": step, "wall_time": wall, **res.as_dict()})
                if writer:
                    writer.add_scalar("eval/return", res.mean, step)
                if best is None or res.mean > best["return_mean"]:
                    best = {"step": step, "return_mean": res.mean, "return_std": res.std}
                if cfg.save_actors:
                    save_actor(run.path / "actors" / f"step_{step:08d}.safetensors", sac, state.actor,
                               {"step": step, "env": cfg.env, "eval": res.as_dict()})
                if not quiet and progress.disable:
                    print(f"[{run.path.name}] step {step:,}/{cfg.steps:,}  eval {res.mean:,.1f} ± {res.std:,.1f}"
                          f"  ({wall / 60:.1f} min)", flush=True)

            if step % cfg.checkpoint_every == 0:
                checkpoint(step)
                saved_at = step

        if saved_at != step:
            checkpoint(step)
    if writer:
        writer.close()
    wall = wall_before + time.perf_counter() - t0
    if stop:
        if not quiet:
            print(f"stopped by {stop.signal} at step {step:,}; checkpoint saved in {run.path} "
                  f"(continue with --resume --run-dir {run.path})", flush=True)
        return {"status": "interrupted", "step": step, "run_dir": str(run.path)}
    evals = run.rows("eval")
    result = {
        "status": "finished",
        "env": cfg.env,
        "domain": cfg.domain,
        "steps": step,
        "wall_time": wall,
        "final_eval": evals[-1] if evals else None,
        "best_eval": best,
        "run_dir": str(run.path),
    }
    run.write_result(result)
    return result


def _status(recent: float | None, last_eval: float | None) -> str:
    parts = []
    if recent is not None:
        parts.append(f"return {recent:,.0f}")
    if last_eval is not None:
        parts.append(f"eval {last_eval:,.0f}")
    return "  ".join(parts)
