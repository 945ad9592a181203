"""Training loops, each readable top to bottom like a CleanRL script (act, step, store, update) and
resumable bit-exactly; the run directory, resume, logging, evaluation and checkpoint schedule, divergence
check and graceful stop are the skeleton's (`daftrl.runs.Run`, shared with `daftrl.cotrain`):

- `pretrain`: SAC from scratch in one domain (the source experts). The first `warmup_steps` actions
  are uniform random (DAFT Table 1: 1e4); then every `update_every` env steps run that many updates
  in one compiled call (1 = the paper's one-update-per-step schedule).
- `adapt`: an expert adapted in the target domain by one method through `daftrl.Adapter` (the same
  code path a user runs on a real robot); evaluation at target step 0 (zero-shot) and every
  `eval_every` target steps (the curves of the paper's Figure 2).
"""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np

from daftrl.checkpoint import daftrl_home, describe, flatten_tree, save_arrays, unflatten_like
from daftrl.configs import check_counts, config_from_dict, config_to_dict, json_ready
from daftrl.rundir import releases_run_locks
from daftrl.runs import Run
from daftrl.sac import PRESETS, SACConfig
from daftrl.trackers import Tracker


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
    logger: tuple[Tracker, ...] = ()
    """Also log to these trackers (docs/training.md, "Logging"); metrics.jsonl and eval.csv are always written."""

    def __post_init__(self):
        check_counts(self, "steps", "eval_every", "eval_episodes", "checkpoint_every", "log_every", "update_every",
                     "buffer_size")
        if self.warmup_steps < 0:
            raise ValueError(f"--warmup-steps must be >= 0, got {self.warmup_steps}")

    def default_run_dir(self) -> Path:
        name = self.env.replace("/", "_") + ("" if self.domain == "source" else "-target")
        return daftrl_home() / "runs" / "pretrain" / f"{name}-{self.preset}-s{self.seed}"


def save_actor(path: Path, sac, actor, meta: dict) -> None:
    """A standalone actor file (policy only) with what is needed to rebuild it."""
    meta = {**meta, **describe(sac.obs_dim, sac.act_dim, sac.config.hidden, meta["env"], meta["domain"])}
    save_arrays(path, flatten_tree(actor, "actor"), kind="actor", meta=meta)


@releases_run_locks
def pretrain(cfg: PretrainConfig, quiet: bool = False) -> dict:
    """Run (or resume) SAC pretraining; returns the result dict also written to result.json."""
    import jax

    from daftrl.envs.collect import Collector
    from daftrl.envs.factory import resolve_env
    from daftrl.evaluate import evaluate
    from daftrl.replay import ReplayBuffer
    from daftrl.sac import SAC

    run = Run(cfg, "pretrain", 1_000_000)
    cfg = run.cfg
    handle = resolve_env(cfg.env, cfg.domain)
    sac = SAC(cfg.sac, handle.obs_dim, handle.act_dim)
    state = sac.init(cfg.seed)
    buffer = ReplayBuffer(handle.obs_dim, handle.act_dim, cfg.buffer_size)
    rng = np.random.default_rng(cfg.seed)
    collector = Collector(handle.make(), seed=cfg.seed)
    act_key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1)
    if run.resumed:
        arrays, meta = run.checkpoint_data()
        state = unflatten_like(state, arrays, "sac", str(run.dir.checkpoint))
        buffer = ReplayBuffer.from_state_dict(arrays)
        rng.bit_generator.state = meta["rng"]
        collector.restore(arrays, meta["collector"])

    def save() -> tuple[dict, dict]:
        c_arrays, c_meta = collector.state()
        return {**flatten_tree(state, "sac"), **buffer.state_dict(), **c_arrays}, {
            "rng": rng.bit_generator.state, "collector": c_meta, "config": config_to_dict(cfg),
            **describe(sac.obs_dim, sac.act_dim, cfg.sac.hidden, cfg.env, cfg.domain)}

    def evaluate_now(step: int):
        res = evaluate(partial(sac.mean_actions, state.actor), handle.make, cfg.eval_episodes, cfg.seed, handle.robot)
        if cfg.save_actors:
            save_actor(run.dir.path / "actors" / f"step_{step:08d}.safetensors", sac, state.actor,
                       {"step": step, "env": cfg.env, "domain": cfg.domain, "eval": res.as_dict()})
        return res, {}

    learning_starts = max(cfg.warmup_steps, cfg.sac.batch_size)
    K, info = cfg.update_every, None
    with run.start(f"pretrain {cfg.env}", cfg.steps, save, evaluate_now, learner="sac/", quiet=quiet):
        step = run.step
        while step < cfg.steps and not run.stop:
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
            run.tick(step, info, lambda: {"episode_return": collector.recent_return()})
    return run.result(env=cfg.env, domain=cfg.domain)


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
    logger: tuple[Tracker, ...] = ()
    """Also log to these trackers (docs/training.md, "Logging"); metrics.jsonl and eval.csv are always written."""

    def __post_init__(self):
        check_counts(self, "eval_every", "eval_episodes", "checkpoint_every", "log_every", "source_size")
        if self.steps is not None and self.steps < 0:
            raise ValueError(f"--steps must be >= 0, got {self.steps}")

    def default_run_dir(self) -> Path:
        return daftrl_home() / "runs" / "adapt" / self.task / f"{self.method}-s{self.seed}"


@releases_run_locks
def adapt(cfg: AdaptRunConfig, method_config=None, target=None, expert=None, quiet: bool = False) -> dict:
    """Run (or resume) one adaptation run. `target` (an EnvHandle) and `expert` (an Expert) override
    the task's target env and the zoo expert, e.g. for tests with small custom envs."""
    from daftrl.adapter import Adapter
    from daftrl.algos import method_spec
    from daftrl.envs.collect import Collector
    from daftrl.envs.factory import resolve_env
    from daftrl.evaluate import evaluate
    from daftrl.experts import load_expert

    method_config = method_config or method_spec(cfg.method, "adapt").default_config(cfg.task)
    run = Run(cfg, "adapt", 100_000,
              {"method_config": json_ready(dataclasses.asdict(method_config))})
    cfg = run.cfg
    target = target or resolve_env(cfg.task, "target")
    if run.resumed:
        arrays, meta = run.checkpoint_data()
        adapter = Adapter._from_arrays(arrays, meta["adapter"], str(run.dir.checkpoint))
        collector = Collector(target.make(), seed=cfg.seed)
        collector.restore(arrays, meta["collector"])
    else:
        if expert is None:
            expert = load_expert(cfg.expert or target.robot or "", cfg.source_size)
        expert.check_compatible(target.obs_dim, target.act_dim, f"task {cfg.task!r}")
        config_cls = method_spec(cfg.method, "adapt").config_cls  # as saved: config.json is what runs
        adapter = Adapter(expert, cfg.method, config_from_dict(config_cls, run.config["method_config"]), cfg.seed)
        collector = Collector(target.make(), seed=cfg.seed)

    def save() -> tuple[dict, dict]:
        a_arrays, a_meta = adapter.to_arrays()
        c_arrays, c_meta = collector.state()
        return {**a_arrays, **c_arrays}, {
            "task": cfg.task, "adapter": a_meta, "collector": c_meta,
            **describe(adapter.obs_dim, adapter.act_dim, adapter.method.config.hidden, cfg.task, "target")}

    def evaluate_now(step: int):
        return evaluate(adapter.policy, target.make, cfg.eval_episodes, cfg.seed, target.robot), collector.experience()

    def train_fields() -> dict:
        beta = adapter.beta
        return {"episode_return": collector.recent_return(), "falls": collector.terminations,
                **({"beta_schedule": beta} if beta is not None else {})}

    total = cfg.steps if adapter.method.learns else 0
    info = None
    with run.start(f"{cfg.method} {cfg.task}", total, save, evaluate_now, learner="state/", eval_at_start=True,
                   quiet=quiet):
        step = run.step
        while step < total and not run.stop:
            adapter.observe(*collector.step(adapter.act(collector.obs)))  # uniform while warming up (Adapter.act)
            info = adapter.update() or info
            step += 1
            run.tick(step, info, train_fields)
    return run.result(task=cfg.task, method=cfg.method, expert=adapter.expert_info, zero_shot=run.first_return())
