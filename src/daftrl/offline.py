"""The offline training loop (`daftrl offline METHOD --dataset D`): gradient updates on a fixed dataset, no
environment steps, then the result exported as a source expert.

The run is the skeleton's (`daftrl.runs.Run`, as `daftrl.loops` and `daftrl.cotrain`): run directory, resume,
logging, evaluation and checkpoint schedule, divergence check, graceful stop. A "step" is one gradient update.

- The dataset goes to the device once; every update draws its minibatch there (uniform indices from a key derived
  from the train state: `fold_in(fold_in(state.key, stream), state.step)`), and one compiled call runs up to
  `updates_per_call` updates (a `lax.fori_loop` whose trip count is an argument, so every chunk length shares one
  compiled program and a resumed run repeats the uninterrupted one bit for bit whatever its chunks).
- The checkpoint is the train state alone (its key is the only randomness); the dataset is not copied into it. The
  run config records the dataset's name and checksum, and a resume with another dataset is refused.
- Evaluation: the deterministic policy on fresh envs of the dataset's robot (its source env) or of --env, every
  --eval-every updates and at the end (`daftrl.evaluate`).
- At the end of a finished run `expert.safetensors` is written next to the checkpoint (`export_expert`): the actor,
  critics and temperature with D_src = the dataset's latest whole episodes, so that `daftrl adapt ft|daft|zero-shot
  --expert RUN_DIR/expert.safetensors` runs CQL+SAC, DAFT from CQL and CQL-0 (DAFT appendix C).
"""

from __future__ import annotations

import dataclasses
import functools
from functools import partial
from pathlib import Path

from daftrl.checkpoint import CheckpointError, daftrl_home, describe, flatten_tree, load_arrays, unflatten_like
from daftrl.configs import check_counts, config_from_dict, json_ready
from daftrl.rundir import RunDir, releases_run_locks
from daftrl.runs import Run
from daftrl.trackers import Tracker

DEFAULT_STEPS = 1_000_000
"""Gradient updates of a run unless --steps says otherwise: CORL's CQL and VGDF's "Offline only" baseline (DAFT's
Table 1 quotes the original launcher's 2000 epochs x 1000 steps = 2e6, its text 200 epochs = 2e5). Costly: a CQL
update is 23x a SAC update (3 x 256 networks, batch 256), ~5 updates/s on 2 busy cores, so 1e6 take one to two days
(docs/assumptions.md, "CQL and the offline loop")."""
_SAMPLE_STREAM = 0xDA7A


@dataclasses.dataclass(frozen=True)
class OfflineRunConfig:
    """Train a policy on a fixed dataset (CQL), then export it as a source expert (actor, critics, D_src)."""

    dataset: str = "daftrl/halfcheetah/medium-v0"
    """Dataset to train on (`daftrl.datasets.load_dataset`: a dataset id or a file)."""
    method: str = "cql"
    """cql"""
    steps: int | None = None
    """Gradient updates (default 1e6, as CORL: 1-2 days of CQL on 2 cores; on --resume, the saved total unless
    given)."""
    seed: int = 0
    eval_every: int = 10_000
    """Evaluate every this many updates (and after the last)."""
    eval_episodes: int = 10
    checkpoint_every: int = 25_000
    log_every: int = 1000
    updates_per_call: int = 50
    """Updates per compiled call (speed only: the results are the same for every value; a Ctrl-C waits for the call
    in progress, ~10 s for CQL's 50 on 2 cores)."""
    env: str | None = None
    """Env to evaluate in (robot, gymnasium id, or task in its source domain); default: the dataset's robot."""
    source_size: int = 100_000
    """Rows of D_src in the exported expert: the dataset's latest at most this many, from an episode start (the
    paper's D_src is the whole dataset: give its size)."""
    export: bool = True
    """Write expert.safetensors into the run directory when the run finishes."""
    run_dir: str | None = None
    """Default: $DAFTRL_HOME/runs/offline/<dataset-name>/<method>-s<seed>."""
    resume: bool = False
    logger: tuple[Tracker, ...] = ()
    """Also log to these trackers (docs/training.md, "Logging"); metrics.jsonl and eval.csv are always written."""

    def __post_init__(self):
        check_counts(self, "steps", "eval_every", "eval_episodes", "checkpoint_every", "log_every",
                     "updates_per_call", "source_size")

    def default_run_dir(self) -> Path:
        return daftrl_home() / "runs" / "offline" / dataset_dir_name(self.dataset) / f"{self.method}-s{self.seed}"


def dataset_dir_name(spec: str) -> str:
    """A directory name for a dataset spec: a file's stem, or an id with '/' as '-' (daftrl/hopper/medium-v0 ->
    hopper-medium-v0)."""
    path = Path(spec)
    if path.suffix.lower() in (".hdf5", ".h5", ".npz", ".safetensors"):
        return path.stem
    return spec.strip("/").removeprefix("daftrl/").replace("/", "-") or "dataset"


def dataset_record(dataset) -> dict:
    """What a run stores about its dataset (config.json): enough to recognise it, never its rows."""
    return {"name": str(dataset.name), "checksum": str(dataset.checksum), "robot": dataset.robot,
            "size": int(len(dataset.buffer)), "obs_dim": int(dataset.buffer.obs_dim),
            "act_dim": int(dataset.buffer.act_dim)}


def load_dataset(spec: str):
    from daftrl.datasets import load_dataset as load

    return load(spec)


class DatasetMismatch(ValueError):
    """A run resumed or exported with a dataset other than the one it was trained on."""


def check_same_dataset(dataset, saved: dict, run_dir) -> None:
    if str(dataset.checksum) != saved["checksum"]:
        raise DatasetMismatch(
            f"{run_dir} was trained on dataset {saved['name']!r} (checksum {saved['checksum'][:16]}...), but dataset "
            f"{dataset.name!r} has checksum {str(dataset.checksum)[:16]}...: use the run's own dataset, or start a new "
            "run (another --run-dir) for this one")


# --------------------------------------------------------------------------- updates on a device-resident dataset
def device_dataset(buffer):
    """The dataset's transitions in insertion order as a `Batch` of device arrays (copied once per run)."""
    import jax

    from daftrl.replay import Batch

    order = buffer.insertion_order()
    d = buffer.data
    return Batch(*(jax.device_put(d[k][order]) for k in ("obs", "act", "rew", "next_obs", "terminated")))


def sample_minibatch(state, data, batch_size: int):
    """A uniform minibatch (with replacement) of the device dataset, drawn with a key that depends only on the
    state's key and update counter."""
    import jax

    key = jax.random.fold_in(jax.random.fold_in(state.key, _SAMPLE_STREAM), state.step)
    idx = jax.random.randint(key, (batch_size,), 0, data.rew.shape[0])
    return jax.tree.map(lambda x: x[idx], data)


def offline_updates(method, batch_size: int):
    """A jitted `(state, data, n) -> (state, info of the last update)` running n >= 1 updates of `method`
    (any SAC-core method), each on a minibatch drawn inside the call from the device dataset `data`. `n` is a traced
    trip count: one compiled program serves every chunk length. The state is donated."""
    import jax
    import jax.numpy as jnp

    def one(state, data):
        return method._update(state, sample_minibatch(state, data, batch_size))

    def run(state, data, n):
        info = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(one, state, data)[1])
        return jax.lax.fori_loop(0, n, lambda _, carry: one(carry[0], data), (state, info))

    return jax.jit(run, donate_argnums=0)


@functools.lru_cache(maxsize=4)
def learner(method_cls, method_config, obs_dim: int, act_dim: int):
    """(method, its `offline_updates`), built once per process for a method, config and sizes: runs that share them
    (a resume in the same process, tests) share the compiled programs instead of compiling them again."""
    method = method_cls(method_config, obs_dim, act_dim)
    return method, offline_updates(method, method_config.batch_size)


def next_chunk(step: int, total: int, cfg: OfflineRunConfig) -> int:
    """Updates until the next point where the skeleton logs, evaluates, checkpoints or stops (at most
    updates_per_call), so every such point falls on a chunk's end."""
    ends = [total] + [(step // every + 1) * every for every in (cfg.log_every, cfg.eval_every, cfg.checkpoint_every,
                                                                   cfg.updates_per_call)]
    return min(ends) - step


# --------------------------------------------------------------------------- the loop
@releases_run_locks
def offline(cfg: OfflineRunConfig, method_config=None, dataset=None, quiet: bool = False) -> dict:
    """Run (or resume) one offline run; returns the result dict also written to result.json. `dataset` (an object
    with .name, .robot, .buffer (a ReplayBuffer), .checksum, .meta) replaces loading `cfg.dataset` (tests, callers
    holding the data already)."""
    from daftrl.algos import method_spec
    from daftrl.envs.factory import resolve_env
    from daftrl.evaluate import evaluate

    method_config = method_config or method_spec(cfg.method, "offline").default_config()
    if not cfg.resume:
        dataset = dataset if dataset is not None else load_dataset(cfg.dataset)
    record = dataset_record(dataset) if dataset is not None else None  # on resume: the saved run's (checked below)
    run = Run(cfg, "offline", DEFAULT_STEPS, {"method_config": json_ready(dataclasses.asdict(method_config)),
                                              "dataset_record": record})
    cfg = run.cfg
    spec = method_spec(cfg.method, "offline")  # on resume: the saved run's method and options
    method_config = config_from_dict(spec.config_cls, run.config["method_config"])
    if run.resumed:
        dataset = dataset if dataset is not None else load_dataset(cfg.dataset)
        check_same_dataset(dataset, run.config["dataset_record"], run.path)
    buffer = dataset.buffer
    if len(buffer) == 0:
        raise ValueError(f"dataset {dataset.name!r} holds no transitions")
    env_name = cfg.env or dataset.robot
    if not env_name:
        raise ValueError(f"dataset {dataset.name!r} names no robot: give --env to evaluate in")
    handle = resolve_env(env_name, "source")
    if dataset.robot and handle.robot and dataset.robot != handle.robot:  # sizes alone cannot tell them apart
        raise ValueError(f"dataset {dataset.name!r} was collected on {dataset.robot}, but --env {handle.name} is a "
                         f"{handle.robot} env; evaluate in {dataset.robot}'s env (--env {dataset.robot}, or leave "
                         f"--env out) or give a {handle.robot} dataset")
    obs_dim, act_dim = buffer.obs_dim, buffer.act_dim
    if (handle.obs_dim, handle.act_dim) != (obs_dim, act_dim):
        raise ValueError(f"dataset {dataset.name!r} has observation/action sizes {obs_dim}/{act_dim}, but "
                         f"{handle.name} has {handle.obs_dim}/{handle.act_dim}; evaluate in the dataset's env (--env)")
    if cfg.export:
        source_sample(buffer, cfg.source_size)  # refuse now what the export at the end would refuse
    method, train = learner(spec.method_cls, method_config, obs_dim, act_dim)
    state = method.init(cfg.seed)
    if run.resumed:
        arrays, _ = run.checkpoint_data()
        state = unflatten_like(state, arrays, "state", str(run.dir.checkpoint))
    data = device_dataset(buffer)

    def save() -> tuple[dict, dict]:
        return flatten_tree(state, "state"), {
            "dataset": dataset_record(dataset),
            **describe(obs_dim, act_dim, method_config.hidden, env_name, "source")}

    def evaluate_now(step: int):
        return evaluate(partial(method.mean_actions, state.actor), handle.make, cfg.eval_episodes, cfg.seed,
                        handle.robot), {}

    def train_fields() -> dict:
        return {"epoch": run.step * method_config.batch_size / len(buffer)}  # passes over the dataset

    with run.start(f"{cfg.method} {dataset.name}", cfg.steps, save, evaluate_now, learner="state/", quiet=quiet):
        step = run.step
        while step < cfg.steps and not run.stop:
            n = next_chunk(step, cfg.steps, cfg)
            state, info = train(state, data, n)
            step += n
            run.tick(step, info, train_fields)
    expert = None
    if cfg.export and not run.stop:
        expert = str(export_expert(run.path, dataset=dataset))
    return run.result(dataset=dataset.name, dataset_checksum=str(dataset.checksum), method=cfg.method, env=env_name,
                      expert=expert)


# --------------------------------------------------------------------------- export as a source expert
def source_sample(buffer, size: int):
    """(D_src for the exported expert, its [first, stop) positions in the dataset): the dataset's latest at most
    `size` transitions, starting at an episode start (`daftrl.datasets.sample_source`), as the tail of a pretraining
    run's replay buffer is for the online experts."""
    from daftrl.datasets import sample_source

    source = sample_source(buffer, size)
    return source, (len(buffer) - len(source), len(buffer))


def export_expert(run_dir, out=None, source_size: int | None = None, dataset=None, checkpoint=None) -> Path:
    """Write the offline run in `run_dir` (its latest checkpoint) as an expert file (`daftrl.experts.save_expert`):
    its actor, critics and temperature, and D_src = the latest whole episodes of its dataset (`source_sample`, at
    most `source_size` rows, default the run's --source-size). `out` defaults to RUN_DIR/expert.safetensors. The dataset
    is loaded from the run's config unless given; either way its checksum must be the run's. `checkpoint`: read the
    weights from this copy of the run's checkpoint (a snapshot taken while the run goes on). Returns the path."""
    from daftrl.experts import Expert, save_expert
    from daftrl.nn import param_templates
    from daftrl.rundir import check_run_kind

    run = RunDir(Path(run_dir).expanduser())
    if not run.has_checkpoint():
        raise CheckpointError(f"{run.path} holds no checkpoint to export (is it an offline run directory?)")
    ckpt = Path(checkpoint) if checkpoint is not None else run.checkpoint
    check_run_kind(ckpt, "offline")
    saved = run.read_config()
    cfg = config_from_dict(OfflineRunConfig, saved, extra=("method_config", "dataset_record"))
    arrays, meta = load_arrays(ckpt, kind="offline")
    if dataset is None:
        dataset = load_dataset(cfg.dataset)
    check_same_dataset(dataset, saved["dataset_record"], run.path)
    obs_dim, act_dim, hidden = meta["obs_dim"], meta["act_dim"], tuple(meta["hidden"])
    actor_t, critic_t = param_templates(obs_dim, act_dim, hidden)
    actor = unflatten_like(actor_t, arrays, "state/actor", str(ckpt))
    critic = unflatten_like(critic_t, arrays, "state/critic", str(ckpt))
    source, (first, stop) = source_sample(dataset.buffer, source_size or cfg.source_size)
    info = {"method": cfg.method, "dataset": str(dataset.name), "dataset_checksum": str(dataset.checksum),
            "source_rows": f"{first}:{stop}", "steps": int(meta["step"]), "run_dir": str(run.path),
            "seed": cfg.seed}
    evals = run.rows("eval")
    if evals:
        info["source_return"] = float(evals[-1]["return_mean"])
    expert = Expert(f"{cfg.method}-{dataset_dir_name(str(dataset.name))}-s{cfg.seed}", meta["env"], obs_dim, act_dim,
                    hidden, actor, critic, float(arrays["state/log_alpha"]), source, info)
    path = Path(out).expanduser() if out is not None else run.path / "expert.safetensors"
    save_expert(path, expert)
    return path


__all__ = ["OfflineRunConfig", "offline", "export_expert", "source_sample", "offline_updates",
           "DatasetMismatch", "DEFAULT_STEPS"]
