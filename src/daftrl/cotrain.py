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

Offline source (`--dataset D`; DAFT Table 2, ODRL's offline-online mode; docs/cotraining.md, "Offline source"): the
source replay buffer is a fixed dataset, loaded and validated once (as `daftrl offline` does) and never stepped;
every iteration is one target step followed by `--updates-per-step` updates (default: the method's,
`MethodSpec.dataset_updates_per_step`, 10 as ODRL's loop), once the target buffer holds a batch. Steps are target
steps. The checkpoint holds the train state, the target buffer and env, the RNG and the dataset's checksum, never
the dataset: a resume with a dataset of another checksum is refused. H2O, BC-PAR and BC-VGDF need a dataset
(`MethodSpec.needs_dataset`); the simulator methods accept one too.
"""

from __future__ import annotations

import dataclasses
import functools
from functools import partial
from pathlib import Path

import numpy as np

from daftrl.checkpoint import daftrl_home, describe, flatten_tree, unflatten_like
from daftrl.configs import check_counts, config_from_dict, json_ready
from daftrl.rundir import releases_run_locks
from daftrl.runs import LoopCounter, Run
from daftrl.trackers import Tracker


@dataclasses.dataclass(frozen=True)
class CotrainRunConfig:
    """Co-train a policy from scratch with a source simulator (or a source dataset: --dataset) and the target domain
    (PAR, VGDF, ...; H2O, BC-PAR, BC-VGDF with --dataset)."""

    task: str = "halfcheetah-broken-back-thigh"
    """Task whose source and target domains are co-trained on (`daftrl tasks`)."""
    method: str = "par"
    """A co-training method (`daftrl cotrain --help` lists them)."""
    steps: int | None = None
    """Target environment steps (default 1e5 = 1e6 source steps with --target-every 10; on --resume,
    the saved total unless given)."""
    source_steps: int | None = None
    """Alternative to --steps, counted in source steps as the PAR/VGDF papers do (1e6 = 1e5 target steps
    with --target-every 10); must be a multiple of --target-every."""
    target_every: int = 10
    """One target step every this many source steps (and updates)."""
    dataset: str | None = None
    """Offline source: a dataset (id or file, as `daftrl offline --dataset`) replaces the source simulator; each
    target step is then followed by --updates-per-step updates (h2o, bc-par and bc-vgdf need it)."""
    updates_per_step: int | None = None
    """With --dataset: updates after each target step (default: the method's, 10 as ODRL's offline-online loop)."""
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
        check_counts(self, "steps", "source_steps", "target_every", "updates_per_step", "eval_every",
                     "eval_episodes", "checkpoint_every", "log_every")

    @property
    def total_source_steps(self) -> int:
        return (self.steps or 0) * self.target_every

    def resolved(self, saved: CotrainRunConfig | None = None) -> CotrainRunConfig:
        """--source-steps turned into --steps (target steps), with clear errors for inconsistent input. On resume
        `saved` is the run's saved config: the source steps are counted with its --target-every. `daftrl.runs.Run`
        calls this before it fixes the budget."""
        if self.target_every < 1:
            raise ValueError(f"--target-every must be >= 1, got {self.target_every}")
        if (saved or self).dataset is not None:
            return self.resolved_offline(saved)
        if self.updates_per_step is not None:
            raise ValueError("--updates-per-step applies to an offline source (--dataset); with a simulator there is "
                             "one update per source step (--target-every sets the target steps)")
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

    def resolved_offline(self, saved: CotrainRunConfig | None) -> CotrainRunConfig:
        """The checks of an offline-source run: no source steps to count, no --target-every to honour."""
        if self.source_steps is not None:
            raise ValueError("--source-steps counts simulator steps, but this run's source is a dataset (--dataset): "
                             "give the budget in target steps with --steps")
        if saved is None and self.target_every != CotrainRunConfig.target_every:
            raise ValueError("--target-every paces a source simulator; with --dataset every iteration is one target "
                             "step followed by --updates-per-step updates")
        if self.updates_per_step is None and saved is None:  # the method's default, frozen into the run's config
            from daftrl.algos import method_spec

            return dataclasses.replace(self, updates_per_step=method_spec(self.method,
                                                                          "cotrain").dataset_updates_per_step)
        return self

    def default_run_dir(self) -> Path:
        return daftrl_home() / "runs" / "cotrain" / self.task / f"{self.method}-s{self.seed}"


def check_source(spec, cfg: CotrainRunConfig) -> None:
    """ValueError (one line) if a method that learns from an offline source is started without --dataset."""
    if spec.needs_dataset and cfg.dataset is None:
        raise ValueError(f"{spec.name} adapts from an offline source dataset: give --dataset (a dataset id or file "
                         "as for `daftrl offline`; build one with `daftrl dataset build --robot ROBOT`)")


@releases_run_locks
def cotrain(cfg: CotrainRunConfig, method_config=None, source=None, target=None, quiet: bool = False,
            dataset=None) -> dict:
    """Run (or resume) one co-training run. `source`/`target` (EnvHandles) override the task's envs
    (tests use small custom pairs); `dataset` (an object shaped like `daftrl.datasets.Dataset`) replaces loading
    `cfg.dataset`."""
    import jax

    from daftrl.algos import method_spec
    from daftrl.envs.collect import Collector
    from daftrl.envs.factory import resolve_env
    from daftrl.evaluate import evaluate
    from daftrl.replay import ReplayBuffer

    if method_config is None:  # task-dependent defaults (PAR's beta per robot, VGDF's termination rule)
        method_config = method_spec(cfg.method, "cotrain").default_config(cfg.task)
    if not cfg.resume:
        check_source(method_spec(cfg.method, "cotrain"), cfg)
    run = Run(cfg, "cotrain", 100_000,
              {"method_config": json_ready(dataclasses.asdict(method_config))})
    cfg = run.cfg
    spec = method_spec(cfg.method, "cotrain")  # on resume: the saved run's method
    method_cls, method_config = spec.method_cls, config_from_dict(spec.config_cls, run.config["method_config"])
    target = target or resolve_env(cfg.task, "target")
    if cfg.dataset is not None:
        return offline_source(run, spec, method_config, target, dataset, quiet)
    source = source or resolve_env(cfg.task, "source")
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


def load_source_dataset(cfg: CotrainRunConfig, target, dataset=None):
    """The run's source dataset (`daftrl.offline.load_dataset`: validated arrays, checksum), refused (ValueError, one
    line) if its robot or its observation/action sizes are not the target's."""
    from daftrl.offline import load_dataset

    dataset = dataset if dataset is not None else load_dataset(cfg.dataset)
    if dataset.robot is not None and target.robot is not None and dataset.robot != target.robot:
        raise ValueError(f"dataset {dataset.name!r} was collected on {dataset.robot}, but task {cfg.task} is a "
                         f"{target.robot} task: give a {target.robot} dataset")
    buf = dataset.buffer
    if (buf.obs_dim, buf.act_dim) != (target.obs_dim, target.act_dim):
        raise ValueError(f"dataset {dataset.name!r} has observation/action sizes {buf.obs_dim}/{buf.act_dim}, but "
                         f"{target.name} has {target.obs_dim}/{target.act_dim}")
    return dataset


@functools.lru_cache(maxsize=4)
def learner(method_cls, method_config, obs_dim: int, act_dim: int):
    """The method, built once per process for a class, config and sizes: runs that share them (a resume in the same
    process, tests, a grid's serial runs) share its compiled update instead of compiling it again."""
    return method_cls(method_config, obs_dim, act_dim)


def offline_source(run: Run, spec, method_config, target, dataset=None, quiet: bool = False) -> dict:
    """The co-training loop with a fixed source dataset (`cotrain` with --dataset; see the module docstring): one
    target step, then `updates_per_step` updates on a target minibatch and a minibatch of the dataset."""
    import jax

    from daftrl.envs.collect import Collector
    from daftrl.evaluate import evaluate
    from daftrl.offline import check_same_dataset, dataset_record
    from daftrl.replay import ReplayBuffer

    cfg = run.cfg
    dataset = load_source_dataset(cfg, target, dataset)
    src_buf = dataset.buffer
    B = method_config.batch_size
    B_src = method_config.source_batch_size or B
    if len(src_buf) < B_src:
        raise ValueError(f"dataset {dataset.name!r} holds {len(src_buf):,} transitions, fewer than one source "
                         f"minibatch ({B_src})")
    k = cfg.updates_per_step or spec.dataset_updates_per_step
    obs_dim, act_dim = target.obs_dim, target.act_dim
    method = learner(spec.method_cls, method_config, obs_dim, act_dim)
    method.load_host_state({})  # a cached learner starts clean (a resume restores its own below)
    state = method.init(cfg.seed)
    tar_buf = ReplayBuffer(obs_dim, act_dim, method_config.buffer_size)
    rng = np.random.default_rng(cfg.seed)
    tar_env = Collector(target.make(), seed=cfg.seed + 1)
    tar_key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 12)
    updates = 0
    if run.resumed:
        arrays, meta = run.checkpoint_data()
        check_same_dataset(dataset, meta["dataset"], run.path)
        state = unflatten_like(state, arrays, "state", str(run.dir.checkpoint))
        tar_buf = ReplayBuffer.from_state_dict(arrays, "target_replay")
        tar_env.restore(arrays, meta["target_env"], "target_env")
        rng.bit_generator.state = meta["rng"]
        updates = meta["updates"]
        method.load_host_state(meta["method"])

    def save() -> tuple[dict, dict]:
        t_arrays, t_meta = tar_env.state("target_env")
        arrays = {**flatten_tree(state, "state"), **tar_buf.state_dict("target_replay"), **t_arrays}
        return arrays, {"rng": rng.bit_generator.state, "target_env": t_meta, "updates": updates,
                        "dataset": dataset_record(dataset), "method": method.host_state(),
                        **describe(obs_dim, act_dim, method_config.hidden, cfg.task, "target")}

    def evaluate_now(tar_step: int):
        return evaluate(partial(method.mean_actions, state.actor), target.make, cfg.eval_episodes, cfg.seed,
                        target.robot), {}

    def train_fields() -> dict:
        return {"updates": updates, "target_return": tar_env.recent_return(), **periodic_info}

    info, periodic_info = None, {}
    with run.start(f"{cfg.method} {cfg.task} from {dataset.name}", cfg.steps, save, evaluate_now, learner="state/",
                   counter=LoopCounter("iteration", "target step", 1), eval_at_start=True, quiet=quiet):
        it = run.it  # target steps
        while it < cfg.steps and not run.stop:
            a = np.asarray(method.sample_actions(method.behaviour_actor(state, "target"), tar_env.obs[None],
                                                 tar_key, it))[0]
            tar_buf.add(*tar_env.step(a))
            it += 1
            if len(tar_buf) >= B:
                for _ in range(k):
                    state, info = method.update(state, tar_buf.sample(rng, B), {"src": src_buf.sample(rng, B_src)})
                    updates += 1
                    state, p_info = method.periodic(state, tar_buf, rng, updates)
                    periodic_info = p_info or periodic_info
            run.tick(it, info, train_fields)
    return run.result(task=cfg.task, method=cfg.method, source_steps=0, dataset=str(dataset.name),
                      dataset_checksum=str(dataset.checksum), updates=updates, updates_per_step=k,
                      initial_return=run.first_return())
