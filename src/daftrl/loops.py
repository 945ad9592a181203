"""Training loops, each readable top to bottom like a CleanRL script (act, step, store, update,
evaluate, checkpoint) and resumable bit-exactly:

- `pretrain`: SAC from scratch in one domain (the source experts). The first `warmup_steps` actions
  are uniform random (DAFT Table 1: 1e4); then every `update_every` env steps run that many updates
  in one compiled call (1 = the paper's one-update-per-step schedule).
- `adapt`: an expert adapted in the target domain by one method through `daftrl.Adapter` (the same
  code path a user runs on a real robot); evaluation at target step 0 (zero-shot) and every
  `eval_every` target steps (the curves of the paper's Figure 2).
"""

from __future__ import annotations

import dataclasses
import json
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np

from daftrl.checkpoint import (
    CheckpointError,
    checkpoint_kind,
    daftrl_home,
    describe,
    flatten_tree,
    load_arrays,
    save_arrays,
    unflatten_like,
)
from daftrl.runs import releases_run_locks
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

    def __post_init__(self):
        check_counts(self, "steps", "eval_every", "eval_episodes", "checkpoint_every", "log_every", "update_every",
                     "buffer_size")
        if self.warmup_steps < 0:
            raise ValueError(f"--warmup-steps must be >= 0, got {self.warmup_steps}")

    def default_run_dir(self) -> Path:
        name = self.env.replace("/", "_") + ("" if self.domain == "source" else "-target")
        return daftrl_home() / "runs" / "pretrain" / f"{name}-{self.preset}-s{self.seed}"


def check_counts(cfg, *names: str) -> None:
    """ValueError naming the flag if one of these integer options of a run config is < 1 (None is allowed:
    the default is used), before anything is written or computed."""
    for name in names:
        value = getattr(cfg, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")


def config_to_dict(cfg) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def pretrain_config_from_dict(d: dict) -> PretrainConfig:
    d = dict(d)
    sac = d.pop("sac")
    sac["hidden"] = tuple(sac["hidden"])
    return PretrainConfig(**d, sac=SACConfig(**sac))


def check_run_kind(checkpoint: Path, kind: str) -> None:
    """CheckpointError naming the right command if `checkpoint` is not a `daftrl {kind}` run's."""
    found = checkpoint_kind(checkpoint)
    if found != kind:
        raise CheckpointError(f"{checkpoint.parent} holds a {found!r} run, not a {kind!r} one: continue it with "
                              f"`daftrl {found} --resume --run-dir {checkpoint.parent}`")


def open_run(cfg, default_dir: Path, from_dict, default_steps: int, extra_config: dict | None = None,
             kind: str = "pretrain"):
    """Create a run directory, or reopen it with --resume (the saved config wins, except `steps`
    when given: the returned dict carries it; the loop passes that dict to `RunDir.record_resume` once the
    checkpoint has loaded). Returns (cfg, RunDir, saved config dict).

    The directory is locked for this process (`RunDir.lock`). A new run refuses a directory holding an earlier
    run's checkpoint or logs (nothing is deleted); a resume checks that the checkpoint is a `kind` run
    (`daftrl {kind}`) and that its config.json can be read by this version, before anything is written."""
    from daftrl.runs import RunDir

    path = Path(cfg.run_dir or default_dir).expanduser()
    if cfg.resume:
        if not (path / "checkpoint.safetensors").is_file():
            raise CheckpointError(f"--resume given but {path / 'checkpoint.safetensors'} does not exist; start "
                                  "without --resume (or check --run-dir)")
        run = RunDir(path)
        run.lock()
        check_run_kind(run.checkpoint, kind)
        saved_dict = run.read_config()
        try:
            saved = from_dict(saved_dict)
        except (KeyError, TypeError) as e:
            raise CheckpointError(f"{run.config_path} does not match the {kind} options of this daftrl version "
                                  f"({type(e).__name__}: {e}); resume with the version that started the run (its "
                                  "commit is under provenance in that file)") from None
        steps = cfg.steps if cfg.steps is not None else saved.steps
        cfg = dataclasses.replace(saved, steps=steps, resume=True, run_dir=str(run.path), tensorboard=cfg.tensorboard)
        return cfg, run, {**saved_dict, "steps": steps}  # the loop records the resume once it has loaded
    run = RunDir(path)
    run.lock()
    if run.has_checkpoint():
        raise FileExistsError(
            f"{run.path} already holds a run; pass --resume to continue it or --run-dir for a new one"
        )
    earlier = run.partial_files()
    if earlier:
        raise FileExistsError(f"{run.path} holds an earlier run's {', '.join(earlier)} but no checkpoint to "
                              "continue from; delete them (or the directory) to start over there, or pass "
                              "another --run-dir")
    cfg = dataclasses.replace(cfg, steps=cfg.steps if cfg.steps is not None else default_steps, run_dir=str(run.path))
    saved_dict = {**config_to_dict(cfg), **(extra_config or {})}
    run.write_config(saved_dict)
    return cfg, run, saved_dict


def save_actor(path: Path, sac, actor, meta: dict) -> None:
    """A standalone actor file (policy only) with what is needed to rebuild it."""
    meta = {**meta, **describe(sac.obs_dim, sac.act_dim, sac.config.hidden, meta["env"], meta["domain"])}
    save_arrays(path, flatten_tree(actor, "actor"), kind="actor", meta=meta)


@releases_run_locks
def pretrain(cfg: PretrainConfig, quiet: bool = False) -> dict:
    """Run (or resume) SAC pretraining; returns the result dict also written to result.json."""
    import jax

    from daftrl.collect import Collector
    from daftrl.env_factory import resolve_env
    from daftrl.evaluate import evaluate
    from daftrl.replay import ReplayBuffer
    from daftrl.runs import Monitor, check_finite_state, graceful_stop
    from daftrl.sac import SAC

    cfg, run, saved = open_run(cfg, cfg.default_run_dir(), pretrain_config_from_dict, 1_000_000)
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
        run.record_resume(saved)

    def checkpoint(step: int) -> None:
        c_arrays, c_meta = collector.state()
        learner = flatten_tree(state, "sac")
        check_finite_state(learner, "sac/", f"pretrain {cfg.env} at step {step:,}")
        arrays = {**learner, **buffer.state_dict(), **c_arrays}
        meta = {"step": step, "rng": rng.bit_generator.state, "collector": c_meta,
                "wall_time": monitor.wall_time(), "best": monitor.best, "config": config_to_dict(cfg),
                **describe(sac.obs_dim, sac.act_dim, cfg.sac.hidden, cfg.env, cfg.domain)}
        save_arrays(run.checkpoint, arrays, kind="pretrain", meta=meta)

    learning_starts = max(cfg.warmup_steps, cfg.sac.batch_size)
    K = cfg.update_every
    info, saved_at = None, step
    monitor = Monitor(run, f"pretrain {cfg.env}", cfg.steps, step, wall_before, best, cfg.tensorboard, quiet)
    with graceful_stop() as stop, monitor:
        while step < cfg.steps and not stop:
            if step < cfg.warmup_steps:
                action = rng.uniform(-1.0, 1.0, handle.act_dim).astype(np.float32)
            else:
                action = np.asarray(sac.sample_actions(state.actor, collector.obs[None], act_key, step))[0]
            buffer.add(*collector.step(action))
            step += 1

            if step >= learning_starts and step % K == 0:
                if K == 1:
                    state, info = sac.update(state, buffer.sample(rng, cfg.sac.batch_size))
                else:
                    state, info = sac.update_many(state, buffer.sample(rng, cfg.sac.batch_size, K))

            if step % cfg.log_every == 0:
                monitor.train(step, info, episode_return=collector.recent_return())
            if step % cfg.eval_every == 0 or step == cfg.steps:
                res = evaluate(partial(sac.mean_actions, state.actor), handle.make,
                               cfg.eval_episodes, cfg.seed, handle.robot)
                monitor.evaluation(step, res)
                if cfg.save_actors:
                    save_actor(run.path / "actors" / f"step_{step:08d}.safetensors", sac, state.actor,
                               {"step": step, "env": cfg.env, "domain": cfg.domain, "eval": res.as_dict()})
            if step % cfg.checkpoint_every == 0:
                checkpoint(step)
                saved_at = step
        if saved_at != step:
            checkpoint(step)
    if stop:
        return monitor.stopped(stop.signal, step)
    return monitor.finish(step, env=cfg.env, domain=cfg.domain)


@dataclasses.dataclass(frozen=True)
class AdaptRunConfig:
    """Adapt a source expert in a task's target domain with one method (DAFT, FT, SGFT, ...)."""

    task: str = "halfcheetah-broken-back-thigh"
    """Target task (`daftrl tasks`)."""
    method: str = "daft"
    """daft | ft | sgft | single-critic | reward-shaping | zero-shot"""
    expert: str | None = None
    """Zoo name, expert file or pretraining run directory (default: the zoo expert of the task's robot)."""
    steps: int | None = None
    """Target environment steps (default 1e5; on --resume, the saved total unless given)."""
    seed: int = 0
    eval_every: int = 1000
    """Evaluate every this many target steps (and at step 0: the zero-shot return)."""
    eval_episodes: int = 10
    checkpoint_every: int = 10_000
    log_every: int = 1000
    source_size: int = 100_000
    """With a pretraining run as expert: how many of its latest transitions form D_src."""
    run_dir: str | None = None
    """Default: $DAFTRL_HOME/runs/adapt/<task>/<method>-s<seed>."""
    resume: bool = False
    tensorboard: bool = False

    def __post_init__(self):
        check_counts(self, "eval_every", "eval_episodes", "checkpoint_every", "log_every", "source_size")
        if self.steps is not None and self.steps < 0:
            raise ValueError(f"--steps must be >= 0, got {self.steps}")

    def default_run_dir(self) -> Path:
        return daftrl_home() / "runs" / "adapt" / self.task / f"{self.method}-s{self.seed}"


def adapt_config_from_dict(d: dict) -> AdaptRunConfig:
    fields = {f.name for f in dataclasses.fields(AdaptRunConfig)}
    return AdaptRunConfig(**{k: v for k, v in d.items() if k in fields})


@releases_run_locks
def adapt(cfg: AdaptRunConfig, method_config=None, target=None, expert=None, quiet: bool = False) -> dict:
    """Run (or resume) one adaptation run. `target` (an EnvHandle) and `expert` (an Expert) override
    the task's target env and the zoo expert, e.g. for tests with small custom envs."""
    from daftrl.adapter import Adapter, json_ready
    from daftrl.algos import method_class
    from daftrl.collect import Collector
    from daftrl.env_factory import resolve_env
    from daftrl.evaluate import evaluate
    from daftrl.experts import load_expert
    from daftrl.runs import Monitor, check_finite_state, graceful_stop

    _, config_cls = method_class(cfg.method)
    method_config = method_config or config_cls()
    cfg, run, saved = open_run(cfg, cfg.default_run_dir(), adapt_config_from_dict, 100_000,
                               {"method_config": json_ready(dataclasses.asdict(method_config))}, kind="adapt")
    target = target or resolve_env(cfg.task, "target")
    step, wall_before, best = 0, 0.0, None
    if cfg.resume:
        arrays, meta = load_arrays(run.checkpoint, kind="adapt")
        adapter = Adapter._from_arrays(arrays, meta["adapter"], str(run.checkpoint))
        collector = Collector(target.make(), seed=cfg.seed)
        collector.restore(arrays, meta["collector"])
        step, wall_before, best = meta["step"], meta["wall_time"], meta["best"]
        run.truncate_logs(step)
        run.record_resume(saved)
    else:
        if expert is None:
            expert = load_expert(cfg.expert or target.robot or "", cfg.source_size)
        expert.check_compatible(target.obs_dim, target.act_dim, f"task {cfg.task!r}")
        adapter = Adapter(expert, cfg.method, config_cls(**saved["method_config"]), cfg.seed)
        collector = Collector(target.make(), seed=cfg.seed)

    def checkpoint(step: int) -> None:
        a_arrays, a_meta = adapter.to_arrays()
        check_finite_state(a_arrays, "state/", f"{cfg.method} {cfg.task} at step {step:,}")
        c_arrays, c_meta = collector.state()
        meta = {"step": step, "task": cfg.task, "adapter": a_meta, "collector": c_meta,
                "wall_time": monitor.wall_time(), "best": monitor.best,
                **describe(adapter.obs_dim, adapter.act_dim, adapter.method.config.hidden, cfg.task, "target")}
        save_arrays(run.checkpoint, {**a_arrays, **c_arrays}, kind="adapt", meta=meta)

    def evaluate_now(step: int) -> None:
        res = evaluate(adapter.policy, target.make, cfg.eval_episodes, cfg.seed, target.robot)
        monitor.evaluation(step, res, **collector.experience())

    total = cfg.steps if adapter.method.learns else 0
    warmup = adapter.config.warmup_steps
    info, saved_at = None, step
    monitor = Monitor(run, f"{cfg.method} {cfg.task}", total, step, wall_before, best, cfg.tensorboard, quiet)
    with graceful_stop() as stop, monitor:
        if step == 0:
            evaluate_now(0)  # zero-shot: the expert before any target update
        while step < total and not stop:
            if step < warmup:
                action = adapter.rng.uniform(-1.0, 1.0, target.act_dim).astype(np.float32)
            else:
                action = adapter.act(collector.obs)
            adapter.observe(*collector.step(action))
            info = adapter.update() or info
            step += 1

            if step % cfg.log_every == 0:
                beta = adapter.beta
                monitor.train(step, info, episode_return=collector.recent_return(), falls=collector.terminations,
                              **({"beta_schedule": beta} if beta is not None else {}))
            if step % cfg.eval_every == 0 or step == total:
                evaluate_now(step)
            if step % cfg.checkpoint_every == 0:
                checkpoint(step)
                saved_at = step
        if saved_at != step or step == 0:
            checkpoint(step)
    if stop:
        return monitor.stopped(stop.signal, step)
    evals = run.rows("eval")
    return monitor.finish(step, task=cfg.task, method=cfg.method, expert=adapter.expert_info,
                          zero_shot=evals[0]["return_mean"] if evals else None)
