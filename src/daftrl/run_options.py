"""The options of `daftrl pretrain | adapt | cotrain` on the command line (tyro), resume included.

A run's flags are its run config's fields and, for adapt and cotrain, those of its method's config, all flat; the
method is a subcommand, one per registered method of the kind (`daftrl.algos`), e.g. `daftrl adapt sgft --horizon 5`.
`--resume` parses with the run's saved config (config.json) as the defaults and refuses any option given another
value, except RESUME_MAY_CHANGE.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Generic, TypeVar, Union

import tyro

R = TypeVar("R")
M = TypeVar("M")

RESUME_MAY_CHANGE = frozenset({"steps", "source_steps", "resume", "run_dir", "cpus", "logger"})
"""Options a --resume may give a new value: the budget and how this process runs; everything else is the run's."""
SAVED_BESIDE_OPTIONS = ("method_config", "dataset_record")
"""What a run's config.json holds beside its options: the method's, and an offline run's dataset (name, checksum)."""


@dataclasses.dataclass(frozen=True)
class Job(Generic[R]):
    """A run's options (flat: --seed, --sac.batch-size) and the cores to run it on."""

    run: Annotated[R, tyro.conf.arg(name="")]
    cpus: str | None = None
    """Pin this process to these cores before JAX starts, e.g. 0 or 0,1 (one run per core is fastest on 2 cores)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class MethodJob(Job[R], Generic[R, M]):
    """A run's options, its method's options (both flat) and the cores to run it on."""

    method_config: Annotated[M, tyro.conf.arg(name="")]


def parse(kind: str, argv: list[str], command) -> Job:
    """`argv` parsed as `daftrl {kind}` into the type `command(first, saved)` returns with its default (`pretrain`,
    `method_subcommands`).

    A quiet first pass with the plain defaults reads the options other defaults depend on (--task, --preset,
    --resume, --run-dir). With --resume the run's saved config is then the default, so `--resume --run-dir D`
    alone continues D as it was, and an option given another value than the run's is refused (ValueError)."""

    def cli(first, saved, **options):
        typ, default = command(first, saved)
        return tyro.cli(typ, args=argv, **options, **({} if default is None else {"default": default}))

    try:
        first, _ = cli(None, None, add_help=False, return_unknown_args=True, console_outputs=False)
    except SystemExit:  # a bad flag: the real pass reports it
        first = None
    saved = saved_config(first, kind) if first is not None and first.run.resume else None
    try:
        command(first, saved)
    except (KeyError, TypeError):  # a config.json of another daftrl version: the loop says what to do
        saved = None
    job = cli(first, saved, prog=f"daftrl {kind}", description=HELP[kind])
    if saved is not None:
        refuse_changes(job, saved)
    return job


def saved_config(first: Job, kind: str) -> dict | None:
    """The saved config of the run `first` resumes (None without config.json: the loop reports the missing run);
    CheckpointError if its checkpoint is another command's run."""
    from pathlib import Path

    from daftrl.rundir import RunDir, check_run_kind

    path = Path(first.run.run_dir or first.run.default_run_dir()).expanduser()
    if (path / "checkpoint.safetensors").is_file():
        check_run_kind(path / "checkpoint.safetensors", kind)
    return RunDir(path).read_config() if (path / "config.json").is_file() else None


RESUME_KEEPS_UNLESS_GIVEN = frozenset({"logger"})
"""Options of RESUME_MAY_CHANGE whose saved value is still a resume's default: `--resume` alone goes on logging to
the run's trackers (`--logger` without a value turns them off)."""


def _kept(saved: dict) -> dict:
    """The saved options a resume keeps as its defaults: all but RESUME_MAY_CHANGE (RESUME_KEEPS_UNLESS_GIVEN
    aside), whose defaults stay the usual ones."""
    return {k: v for k, v in saved.items() if k not in RESUME_MAY_CHANGE - RESUME_KEEPS_UNLESS_GIVEN}


def refuse_changes(job: Job, saved: dict) -> None:
    """ValueError naming each option whose parsed value differs from the saved run's (RESUME_MAY_CHANGE aside);
    the method's options are compared when the method is the run's."""
    from daftrl.configs import json_ready

    clashes = _differences(json_ready(dataclasses.asdict(job.run)), saved)
    if isinstance(job, MethodJob) and job.run.method == saved.get("method"):
        clashes += _differences(json_ready(dataclasses.asdict(job.method_config)), saved.get("method_config", {}))
    if clashes:
        raise ValueError("--resume continues the saved run with its own configuration, but "
                         f"{'; '.join(clashes)}: drop {'that flag' if len(clashes) == 1 else 'those flags'} (only "
                         "--steps/--source-steps, --cpus and --logger may change on resume), or start a new run "
                         "with another --run-dir")


def _differences(new: dict, old: dict, prefix: str = "") -> list[str]:
    """'--flag new (the run has old)' for each field of `new` (nested ones as --a.b) that `old` holds otherwise."""
    found = []
    for key, value in new.items():
        name = prefix + key
        if key not in old or name in RESUME_MAY_CHANGE:
            continue
        if isinstance(value, dict) and isinstance(old[key], dict):
            found += _differences(value, old[key], f"{name}.")
        elif value != old[key]:
            flag = "method" if name == "method" else f"--{name.replace('_', '-')}"
            found.append(f"{flag} {value!r} (the run has {old[key]!r})")
    return found


def pretrain(first: Job | None, saved: dict | None):
    """`command` for `parse` of `daftrl pretrain`: the SAC options default to the --preset's (`daftrl.sac.PRESETS`)."""
    from daftrl.configs import config_from_dict
    from daftrl.loops import PretrainConfig
    from daftrl.sac import PRESETS

    if saved is not None:
        return Job[PretrainConfig], Job(config_from_dict(PretrainConfig, _kept(saved)))
    preset = PretrainConfig.preset if first is None else first.run.preset
    return Job[PretrainConfig], Job(PretrainConfig(preset=preset, sac=PRESETS[preset]))


def as_config(cls, run, **changes):
    """`run`'s fields (with `changes`) as a `cls`: the run config class that a method subcommand's options extend."""
    return cls(**{f.name: getattr(run, f.name) for f in dataclasses.fields(cls)} | changes)


def _method_set_by_subcommand(run_cls):
    """`run_cls` without a --method flag: the subcommand names the method."""
    return dataclasses.make_dataclass(run_cls.__name__, [("method", tyro.conf.Suppress[str], run_cls.method)],
                                      bases=(run_cls,), frozen=True, namespace={"__doc__": run_cls.__doc__})


def method_subcommands(kind: str, run_cls):
    """`command` for `parse`: a subcommand per registered `kind` method, its flags the run's and its config's.
    Without one the run config's default method runs, or on --resume the saved run's; a method's options start
    from its defaults for the task (`MethodSpec.default_config`, e.g. PAR's beta per robot)."""
    from daftrl.algos import method_specs
    from daftrl.configs import config_from_dict

    run_type = _method_set_by_subcommand(run_cls)
    specs = method_specs(kind)

    def command(first: MethodJob | None, saved: dict | None):
        run = None if saved is None else config_from_dict(run_cls, _kept(saved), extra=SAVED_BESIDE_OPTIONS)
        task = getattr(run or (first.run if first else run_cls), "task", None)  # offline runs have no task
        default = run.method if run and run.method in [s.name for s in specs] else run_cls.method
        options = []
        for spec in specs:
            run_options = run_type(method=spec.name) if run is None else as_config(run_type, run, method=spec.name)
            method_config = (config_from_dict(spec.config_cls, saved.get("method_config", {}))
                             if run and spec.name == run.method else spec.default_config(task))
            options.append(Annotated[MethodJob[run_type, spec.config_cls], tyro.conf.subcommand(
                spec.name, default=MethodJob(run_options, method_config=method_config), description=spec.summary,
                is_default=spec.name == default)])
        if len(options) == 1:  # a Union of one type is that type, without subcommand: a hidden second keeps it
            options.append(Annotated[None, tyro.conf.subcommand("none", default=None), tyro.conf.Suppress])
        return Union[tuple(options)], None  # noqa: UP007 - a Union built at run time

    return command


HELP = {
    "pretrain": """Train SAC from scratch in one domain (the source experts of the zoo).

Resumable: a checkpoint (params, optimiser states, replay buffer, RNG and env state) is written every
--checkpoint-every steps and on Ctrl-C/SIGTERM (exit code 130/143); `--resume` continues bit-exactly
(the saved configuration runs: other flags must agree with it, except --steps, --cpus and --logger). Presets: paper
(DAFT Table 1), expert (Tianshou MuJoCo SAC, batch 256, lr 1e-3), sb3 (learned alpha). Use
--cpus 0 / --cpus 1 to pin two runs to one core each.""",
    "adapt": """Adapt a pretrained source expert in a task's target domain: `daftrl adapt METHOD [OPTIONS]`
(without METHOD, the default one below); `daftrl adapt METHOD --help` lists a method's options.

The expert acts from the first target step (no random warm-up); one gradient update per target step
once the target buffer holds a batch; evaluation on a freshly built target env at step 0 (zero-shot)
and every --eval-every steps. Checkpoints every --checkpoint-every steps and on Ctrl-C/SIGTERM (exit code
130/143); --resume continues bit-exactly (`--resume --run-dir D` alone: the method and options come from D;
other flags must agree with them, except --steps, --cpus and --logger). Results:
metrics.jsonl, eval.csv, result.json in the run dir. --cpus 0 (or 0,1) pins the run to those cores.""",
    "cotrain": """Co-train a policy from scratch with the task's source simulator and its target domain
(the protocol of PAR, VGDF and ODRL: one update per source step, one target step every --target-every
source steps, 1e6 source + 1e5 target steps by default): `daftrl cotrain METHOD [OPTIONS]` (without METHOD,
the default one below); `daftrl cotrain METHOD --help` lists a method's options, with its defaults for --task.

--steps counts TARGET steps (the x-axis of every daftrl curve, shared with `daftrl adapt`);
--source-steps gives the budget in source steps instead, as the papers do (1000000 = --steps 100000).
Evaluation of the deterministic policy on fresh target envs at step 0 and every --eval-every target steps.
Checkpoints (both replay buffers, both envs mid-episode, RNGs) every --checkpoint-every target steps and
on Ctrl-C/SIGTERM (exit code 130/143); --resume continues bit-exactly (`--resume --run-dir D` alone: method,
task and options come from D; other flags must agree with them, except --steps/--source-steps, --cpus and
--logger). --cpus 0 (or 0,1) pins the run to those cores.

Offline source (the paper's Table 2; h2o, bc-par and bc-vgdf need it): --dataset D (a dataset id or file, as for
`daftrl offline`) replaces the source simulator; every target step is followed by --updates-per-step updates (10 by
default) on a target and a dataset minibatch; the dataset is checked by its checksum on --resume.""",
    "offline": """Train a policy on a fixed dataset, no environment steps: `daftrl offline METHOD --dataset D`
(without METHOD, the default one below); `daftrl offline METHOD --help` lists a method's options.

--steps counts gradient updates (default 1e6). The dataset goes to memory once and every update draws its
minibatch there; evaluation of the deterministic policy on fresh envs of the dataset's robot (or --env) every
--eval-every updates. Checkpoints (the train state; the dataset is recorded by its checksum, not copied) every
--checkpoint-every updates and on Ctrl-C/SIGTERM (exit code 130/143); --resume continues bit-exactly and refuses
another dataset. A finished run writes expert.safetensors (actor, critics, temperature, D_src from the dataset)
into its directory: `daftrl adapt ft|daft|zero-shot --expert RUN_DIR` adapts it, and
`daftrl zoo export ROBOT-METHOD --run RUN_DIR` (maintainers) bundles it.
--cpus 0 (or 0,1) pins the run to those cores.""",
}
"""The description `daftrl pretrain|adapt|cotrain|offline --help` shows."""
