"""The co-training loop of the simulator baselines (PAR, VGDF, DARC, SAC-IW, SAC-mix).

Protocol of PAR/VGDF/ODRL (docs/cotraining.md, "The protocol"): a source env and a target env built
fresh; every iteration takes one source step (the behaviour actor's sample plus N(0, 0.2) noise,
clipped), every `target_every`-th iteration also one target step (the policy's sample), then one
update on a source and a target minibatch (`batch_size` rows each, or `source_batch_size` source rows)
once both buffers hold a batch. 1e6 source iterations with
target_every = 10 give the paper's 1e5 target steps.

Every step count the user sees (progress bar, `step` of metrics.jsonl and eval.csv, `--eval-every`)
counts **target** steps, so co-training curves share their x-axis with the adaptation methods;
train rows also carry `source_step`. Evaluation runs the deterministic policy on fresh target envs at
target step 0 and every `eval_every` target steps. Checkpoints hold both buffers, both envs'
mid-episode states and the RNGs: a resumed run equals one that never stopped.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path

import numpy as np

from daftrl.checkpoint import daftrl_home, describe, flatten_tree, unflatten_like
from daftrl.runs import LoopCounter, Run, Tracker, check_counts, config_from_dict, json_ready, releases_run_locks


@dataclasses.dataclass(frozen=True)
class CotrainRunConfig:
    """Co-train a policy from scratch with a source simulator and the target domain (PAR, VGDF, ...)."""

    task: str = "halfcheetah-broken-back-thigh"
    """Task whose source and target domains are co-trained on (`daftrl tasks`)."""
    method: str = "par"
    """par | vgdf | darc | sac-iw | sac-mix"""
    steps: int | None = None
    """Target environment steps (default 1e5 = 1e6 source steps with --target-every 10; on --resume,
    the saved total unless given)."""
    source_steps: int | None = None
    """Alternative to --steps, counted in source steps as the PAR/VGDF papers do (1e6 = 1e5 target steps
    with --target-every 10); must be a multiple of --target-every."""
    target_every: int = 10
    """One target step every this many source steps (and updates)."""
    seed: int = 0
    eval_every: int = 1000
    """Evaluate on the target every this many target steps (and at step 0)."""
    eval_episodes: int = 10
    checkpoint_every: int = 5000
    """Checkpoint every this many target steps (both replay buffers: ~100-200 MB late in a run)."""
    log_every: int = 100
    """Log a training row every this many target steps."""
    run_dir: str | None = None
    """Default: $DAFTRL_HOME/runs/cotrain/<task>/<method>-s<seed>."""
    resume: bool = False
    logger: tuple[Tracker, ...] = ()
    """Also log to these trackers (docs/training.md, "Logging"); metrics.jsonl and eval.csv are always written."""

    def __post_init__(self):
        check_counts(self, "steps", "source_steps", "target_every", "eval_every", "eval_episodes",
                     "checkpoint_every", "log_every")

    @property
    def total_source_steps(self) -> int:
        return (self.steps or 0) * self.target_every

    def resolved(self, saved: CotrainRunConfig | None = None) -> CotrainRunConfig:
        """--source-steps turned into --steps (target steps), with clear errors for inconsistent input. On resume
        `saved` is the run's saved config: the source steps are counted with its --target-every. `daftrl.runs.Run`
        calls this before it fixes the budget."""
        if self.target_every < 1:
            raise ValueError(f"--target-every must be >= 1, got {self.target_every}")
        if self.source_steps is None:
            return self
        every = (saved or self).target_every
        if self.source_steps < every or self.source_steps % every:
            raise ValueError(f"--source-steps {self.source_steps:,} must be a positive multiple of --target-every "
                             f"{every}")
        steps = self.source_steps // every
        if self.steps is not None and self.steps != steps:
            raise ValueError(f"--steps {self.steps:,} (target) and --source-steps {self.source_steps:,} disagree "
                             f"with --target-every {every}: give only one of them")
        return dataclasses.replace(self, steps=steps, source_steps=None, target_every=every)

    def default_run_dir(self) -> Path:
        return daftrl_home() / "runs" / "cotrain" / self.task / f"{self.method}-s{self.seed}"


@releases_run_locks
def cotrain(cfg: CotrainRunConfig, method_config=None, source=None, target=None, quiet: bool = False) -> dict:
    """Run (or resume) one co-training run. `source`/`target` (EnvHandles) override the task's envs
    (tests use small custom pairs)."""
    import jax

    from daftrl.algos import method_spec
    from daftrl.envs.collect import Collector
    from daftrl.envs.factory import resolve_env
    from daftrl.evaluate import evaluate
    from daftrl.replay import ReplayBuffer

    if method_config is None:  # task-dependent defaults (PAR's beta per robot, VGDF's termination rule)
        method_config = method_spec(cfg.method, "cotrain").default_config(cfg.task)
    run = Run(cfg, "cotrain", 100_000,
              {"method_config": json_ready(dataclasses.asdict(method_config))})
    cfg = run.cfg
    spec = method_spec(cfg.method, "cotrain")  # on resume: the saved run's method
    method_cls, method_config = spec.method_cls, config_from_dict(spec.config_cls, run.config["method_config"])
    source = source or resolve_env(cfg.task, "source")
    target = target or resolve_env(cfg.task, "target")
    if (source.obs_dim, source.act_dim) != (target.obs_dim, target.act_dim):
        raise ValueError(f"source {source.name} and target {target.name} differ in observation/action size: "
                         f"{(source.obs_dim, source.act_dim)} vs {(target.obs_dim, target.act_dim)}")
    obs_dim, act_dim = target.obs_dim, target.act_dim
    method = method_cls(method_config, obs_dim, act_dim)
    state = method.init(cfg.seed)
    src_buf = ReplayBuffer(obs_dim, act_dim, method_config.buffer_size)
    tar_buf = ReplayBuffer(obs_dim, act_dim, method_config.buffer_size)
    rng = np.random.default_rng(cfg.seed)
    src_env = Collector(source.make(), seed=cfg.seed)
    tar_env = Collector(target.make(), seed=cfg.seed + 1)
    key = jax.random.PRNGKey(cfg.seed)
    src_key, tar_key = jax.random.fold_in(key, 11), jax.random.fold_in(key, 12)
    if run.resumed:
        arrays, meta = run.checkpoint_data()
        state = unflatten_like(state, arrays, "state", str(run.dir.checkpoint))
        src_buf = ReplayBuffer.from_state_dict(arrays, "source_replay")
        tar_buf = ReplayBuffer.from_state_dict(arrays, "target_replay")
        src_env.restore(arrays, meta["source_env"], "source_env")
        tar_env.restore(arrays, meta["target_env"], "target_env")
        rng.bit_generator.state = meta["rng"]
        method.load_host_state(meta["method"])

    def save() -> tuple[dict, dict]:
        s_arrays, s_meta = src_env.state("source_env")
        t_arrays, t_meta = tar_env.state("target_env")
        arrays = {**flatten_tree(state, "state"), **src_buf.state_dict("source_replay"),
                  **tar_buf.state_dict("target_replay"), **s_arrays, **t_arrays}
        return arrays, {"rng": rng.bit_generator.state, "source_env": s_meta, "target_env": t_meta,
                        "method": method.host_state(), **describe(obs_dim, act_dim, method_config.hidden, cfg.task,
                                                                  "target")}

    def evaluate_now(tar_step: int):
        policy = partial(method.mean_actions, state.actor)
        return evaluate(policy, target.make, cfg.eval_episodes, cfg.seed, target.robot), {}

    def train_fields() -> dict:
        return {"source_step": run.it, "target_return": tar_env.recent_return(),
                "source_return": src_env.recent_return(), **periodic_info}

    B, every, noise = method_config.batch_size, cfg.target_every, method_config.src_action_noise
    B_src = method_config.source_batch_size or B
    total_it = cfg.total_source_steps
    info, periodic_info = None, {}
    with run.start(f"{cfg.method} {cfg.task}", cfg.steps, save, evaluate_now, learner="state/",
                   counter=LoopCounter("iteration", "source step", every), eval_at_start=True, quiet=quiet):
        it = run.it  # iterations = source steps = updates attempted; one target step every `every`
        while it < total_it and not run.stop:
            a = np.asarray(method.sample_actions(method.behaviour_actor(state, "source"), src_env.obs[None],
                                                 src_key, it))[0]
            a = np.clip(a + rng.normal(0.0, noise, act_dim), -1.0, 1.0).astype(np.float32)
            src_buf.add(*src_env.step(a))
            if it % every == 0:
                a = np.asarray(method.sample_actions(method.behaviour_actor(state, "target"), tar_env.obs[None],
                                                     tar_key, it))[0]
                tar_buf.add(*tar_env.step(a))
            it += 1
            if len(src_buf) >= B_src and len(tar_buf) >= B:
                state, info = method.update(state, tar_buf.sample(rng, B), {"src": src_buf.sample(rng, B_src)})
                state, p_info = method.periodic(state, tar_buf, rng, it)
                periodic_info = p_info or periodic_info
            run.tick(it, info, train_fields)
    return run.result(task=cfg.task, method=cfg.method, source_steps=run.it, initial_return=run.first_return())
