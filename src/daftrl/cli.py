"""`daftrl` command line: one tyro-parsed subcommand per entry; logic lives in the library.

Heavy imports (JAX) happen inside the subcommands, after per-process thread/affinity settings,
so `daftrl --help` and `daftrl tasks` are fast.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable

from daftrl.runs import apply_cpu_settings

COMMANDS: dict[str, tuple[str, Callable[[list[str]], int | None]]] = {}


def command(name: str, summary: str):
    def register(fn):
        COMMANDS[name] = (summary, fn)
        return fn

    return register


def exit_code(result: dict) -> int:
    """0 for a finished run; 128 + the signal number for a run stopped (and checkpointed) by Ctrl-C or
    SIGTERM (130, 143: the shell's convention), so scripts can tell a finished run from one to resume."""
    import signal

    if result.get("status") != "interrupted":
        return 0
    return 128 + int(getattr(signal, result.get("signal") or "", signal.SIGTERM))


def _saved_config(argv: list[str], kind: str, default_dir=None) -> dict | None:
    """With `--resume`: the saved config (config.json) of --run-dir, or of `default_dir` (the run dir the parsed
    options give) without it; else None (also when there is none: the loop then reports the missing
    checkpoint). CheckpointError if the directory holds another command's run than `kind`."""
    import argparse
    from pathlib import Path

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--resume", action="store_true")
    pre.add_argument("--run-dir", default=None)
    known, _ = pre.parse_known_args(argv)
    if not known.resume or not (known.run_dir or default_dir):
        return None
    path = Path(known.run_dir or default_dir).expanduser()
    if not (path / "config.json").exists():
        return None
    from daftrl.runs import RunDir, check_run_kind

    if (path / "checkpoint.safetensors").is_file():
        check_run_kind(path / "checkpoint.safetensors", kind)
    return RunDir(path).read_config()


def _resumed_defaults(argv: list[str], kind: str, keys: tuple[str, ...]) -> dict:
    """With `--resume --run-dir D`: the saved run's `keys` (e.g. method, task) from D/config.json, so that
    `--resume --run-dir D` alone continues the run D holds (its method's options, not the default method's).
    Flags that contradict the saved run are refused by `_check_resume_flags`."""
    saved = _saved_config(argv, kind)
    return {} if saved is None else {k: saved[k] for k in keys if k in saved}


RESUME_MAY_CHANGE = frozenset({"steps", "source_steps", "resume", "run_dir", "cpus", "tensorboard"})
"""Flags a --resume may give with a new value: the budget and how this process runs; everything else is the run's."""


def _lookup(config: dict, name: str):
    """The value of flag `name` (dots for nested fields, e.g. sac.batch_size) in a saved-config dict; method
    options live under "method_config". KeyError if the config has no such field."""
    for node in (config, config.get("method_config")):
        value = node
        try:
            for part in name.split("."):
                value = value[part]
            return value
        except (KeyError, TypeError):
            continue
    raise KeyError(name)


def _check_resume_flags(argv: list[str], given: dict, saved: dict | None) -> None:
    """With --resume the saved config is what runs: every flag on the command line other than those in
    RESUME_MAY_CHANGE must agree with it (repeating the original command plus --resume is fine). ValueError
    listing the flags that differ, instead of silently ignoring them."""
    import json

    if saved is None:
        return
    normal = lambda v: json.loads(json.dumps(v, default=list))  # noqa: E731 - tuples as lists, like config.json
    clashes = []
    for flag in dict.fromkeys(a[2:].split("=", 1)[0] for a in argv if a.startswith("--")):
        name = flag.replace("-", "_")
        parent, _, leaf = name.rpartition(".")
        negated = f"{parent}.{leaf[3:]}" if parent else leaf[3:]
        for candidate in (name, negated if leaf.startswith("no_") else None):  # tyro's --no-X / --a.no-x
            if candidate is None or candidate in RESUME_MAY_CHANGE:
                break
            try:
                new, old = normal(_lookup(given, candidate)), normal(_lookup(saved, candidate))
            except KeyError:
                continue
            if new != old:
                clashes.append(f"--{candidate.replace('_', '-')} {new!r} (the run has {old!r})")
            break
    if clashes:
        raise ValueError("--resume continues the saved run with its own configuration, but "
                         f"{'; '.join(clashes)}: drop {'that flag' if len(clashes) == 1 else 'those flags'} (only "
                         "--steps/--source-steps, --cpus and --tensorboard may change on resume), or start a new run "
                         "with another --run-dir")


# ----------------------------------------------------------------------------- tasks
@dataclasses.dataclass
class TasksArgs:
    """List the domain-shift tasks (`daftrl tasks`), show one (`show NAME`) or render one."""

    action: str = "list"
    """list | show | render"""
    name: str | None = None
    """Task name for show/render."""
    family: str | None = None
    """With list: only this family (paper, inverted, gravity, friction, kinematic, morph)."""
    out: str | None = None
    """With render: output PNG path (default <name>.png)."""


@command("tasks", "list tasks; `tasks show NAME`; `tasks render NAME --out F.png`")
def _tasks(argv: list[str]) -> int:
    import tyro

    args = tyro.cli(TasksArgs, args=_positional(argv, ("action", "name")), prog="daftrl tasks")
    from rich.console import Console
    from rich.table import Table

    from daftrl.envs import describe_task, render_task, task_table

    console = Console()
    if args.action == "list":
        table = Table(title="daftrl tasks (target domains)")
        table.add_column("task", no_wrap=True)
        table.add_column("family")
        table.add_column("description")
        for name, family, desc in task_table():
            if args.family in (None, family):
                table.add_row(name, family, desc)
        console.print(table)
        console.print("ODRL gravity/friction factors: any positive number, e.g. halfcheetah-gravity-0.37")
    elif args.action == "show":
        if not args.name:
            raise SystemExit("usage: daftrl tasks show NAME")
        table = Table(title=args.name)
        for col in ("quantity", "source", "target"):
            table.add_column(col, overflow="fold")
        from rich.markup import escape

        for row in describe_task(args.name):
            table.add_row(*(escape(x) for x in row))
        console.print(table)
    elif args.action == "render":
        if not args.name:
            raise SystemExit("usage: daftrl tasks render NAME [--out FILE.png]")
        out = args.out or f"{args.name}.png"
        render_task(args.name, out)
        console.print(f"wrote {out}")
    else:
        raise SystemExit(f"unknown action {args.action!r}: use list, show or render")
    return 0


def _positional(argv: list[str], names: tuple[str, ...]) -> list[str]:
    """Let `daftrl tasks show NAME` work as well as `--action show --name NAME`."""
    out, i = [], 0
    for arg in argv:
        if not arg.startswith("-") and i < len(names) and (not out or not out[-1].startswith("--")):
            out += [f"--{names[i]}", arg]
            i += 1
        else:
            out.append(arg)
    return out


# ----------------------------------------------------------------------------- pretrain
@command("pretrain", "train a SAC source expert (resumable): --env hopper --steps 1000000")
def _pretrain(argv: list[str]) -> int:
    import argparse

    import tyro

    from daftrl.loops import PretrainConfig
    from daftrl.sac import PRESETS

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset", default="paper", choices=sorted(PRESETS))
    pre.add_argument("--cpus", default=None)
    known, rest = pre.parse_known_args(argv)
    default = PretrainConfig(preset=known.preset, sac=PRESETS[known.preset])
    cfg = tyro.cli(PretrainConfig, args=rest + ["--preset", known.preset], default=default,
                   prog="daftrl pretrain", description=_PRETRAIN_HELP)
    from daftrl.loops import pretrain
    from daftrl.runs import config_to_dict

    _check_resume_flags(argv, config_to_dict(cfg), _saved_config(argv, "pretrain", cfg.default_run_dir()))
    apply_cpu_settings(known.cpus)
    result = pretrain(cfg)
    if result["status"] == "finished":
        ev = result["final_eval"]
        print(f"done: {result['steps']:,} steps in {result['wall_time'] / 60:.1f} min; final eval "
              f"{ev['return_mean']:,.1f} ± {ev['return_std']:,.1f}; run dir {result['run_dir']}")
    return exit_code(result)


_PRETRAIN_HELP = """Train SAC from scratch in one domain (the source experts of the zoo).

Resumable: a checkpoint (params, optimiser states, replay buffer, RNG and env state) is written every
--checkpoint-every steps and on Ctrl-C/SIGTERM (exit code 130/143); `--resume` continues bit-exactly
(the saved configuration runs: other flags must agree with it, except --steps). Presets: paper
(DAFT Table 1), expert (Tianshou MuJoCo SAC, batch 256, lr 1e-3), sb3 (learned alpha). Use
--cpus 0 / --cpus 1 to pin two runs to one core each."""


# ----------------------------------------------------------------------------- adapt
def _run_with_method_config(command: str, argv: list[str], run_default, config_default, help_text: str,
                            methods, method: str):
    """Parse `--run options` and the chosen method's Config options as one flat set of flags."""
    import tyro

    args_cls = dataclasses.make_dataclass(f"{command.capitalize()}Args", [
        ("run", type(run_default), dataclasses.field(default=run_default)),
        ("method_config", type(config_default), dataclasses.field(default=config_default)),
    ])
    description = (f"{help_text}\n\nMethods: {', '.join(methods)}. The options below are those of "
                   f"--method {method}; see `daftrl {command} --method NAME --help` for another.")
    return tyro.cli(tyro.conf.OmitArgPrefixes[args_cls], args=argv, prog=f"daftrl {command}", description=description)


@command("adapt", "adapt an expert in a target domain: --task T --method daft|ft|sgft|...")
def _adapt(argv: list[str]) -> int:
    import argparse

    from daftrl.algos import METHODS, method_class
    from daftrl.loops import AdaptRunConfig

    saved = _resumed_defaults(argv, "adapt", ("method",))
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--method", default=saved.get("method", "daft"))
    pre.add_argument("--cpus", default=None)
    known, rest = pre.parse_known_args(argv)
    _, config_cls = method_class(known.method)
    args = _run_with_method_config("adapt", rest + ["--method", known.method], AdaptRunConfig(method=known.method),
                                   config_cls(), _ADAPT_HELP, METHODS, known.method)
    _check_resume_flags(argv, _given(args), _saved_config(argv, "adapt", args.run.default_run_dir()))
    apply_cpu_settings(known.cpus)
    from daftrl.loops import adapt

    result = adapt(args.run, args.method_config)
    if result["status"] == "finished":
        ev = result["final_eval"]
        print(f"done: {result['method']} on {result['task']}: zero-shot {result['zero_shot']:,.1f} -> "
              f"{ev['return_mean']:,.1f} ± {ev['return_std']:,.1f} after {result['steps']:,} target steps "
              f"({result['wall_time'] / 60:.1f} min); run dir {result['run_dir']}")
    return exit_code(result)


def _given(args) -> dict:
    """The parsed run and method options in the shape of a saved config.json ("method_config" nested)."""
    from daftrl.runs import json_ready

    return {**json_ready(dataclasses.asdict(args.run)),
            "method_config": json_ready(dataclasses.asdict(args.method_config))}


_ADAPT_HELP = """Adapt a pretrained source expert in a task's target domain.

The expert acts from the first target step (no random warm-up); one gradient update per target step
once the target buffer holds a batch; evaluation on a freshly built target env at step 0 (zero-shot)
and every --eval-every steps. Checkpoints every --checkpoint-every steps and on Ctrl-C/SIGTERM (exit code
130/143); --resume continues bit-exactly (`--resume --run-dir D` alone: the method and options come from D;
other flags must agree with them, except --steps). Results:
metrics.jsonl, eval.csv, result.json in the run dir. --cpus 0 (or 0,1) pins the run to those cores."""


# ----------------------------------------------------------------------------- cotrain
@command("cotrain", "co-train a simulator baseline from scratch: --task T --method par|vgdf|darc|sac-iw|sac-mix")
def _cotrain(argv: list[str]) -> int:
    import argparse

    from daftrl.algos import COTRAIN_METHODS, cotrain_method_class
    from daftrl.cotrain import CotrainRunConfig

    saved = _resumed_defaults(argv, "cotrain", ("method", "task"))
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--method", default=saved.get("method", "par"))
    pre.add_argument("--task", default=saved.get("task", CotrainRunConfig.task))
    pre.add_argument("--cpus", default=None)
    known, rest = pre.parse_known_args(argv)
    _, config_cls = cotrain_method_class(known.method)
    # task-dependent defaults (e.g. PAR's recommended beta per robot) when the config offers them
    default_config = config_cls.for_task(known.task) if hasattr(config_cls, "for_task") else config_cls()
    args = _run_with_method_config("cotrain", rest + ["--method", known.method, "--task", known.task],
                                   CotrainRunConfig(method=known.method, task=known.task), default_config,
                                   _COTRAIN_HELP, COTRAIN_METHODS, known.method)
    _check_resume_flags(argv, _given(args), _saved_config(argv, "cotrain", args.run.default_run_dir()))
    apply_cpu_settings(known.cpus)
    from daftrl.cotrain import cotrain

    result = cotrain(args.run, args.method_config)
    if result["status"] == "finished":
        ev = result["final_eval"]
        print(f"done: {result['method']} on {result['task']}: {ev['return_mean']:,.1f} ± {ev['return_std']:,.1f} "
              f"after {result['steps']:,} target + {result['source_steps']:,} source steps "
              f"({result['wall_time'] / 60:.1f} min); run dir {result['run_dir']}")
    return exit_code(result)


_COTRAIN_HELP = """Co-train a policy from scratch with the task's source simulator and its target domain
(the protocol of PAR, VGDF and ODRL: one update per source step, one target step every --target-every
source steps, 1e6 source + 1e5 target steps by default).

--steps counts TARGET steps (the x-axis of every daftrl curve, shared with `daftrl adapt`);
--source-steps gives the budget in source steps instead, as the papers do (1000000 = --steps 100000).
Evaluation
of the deterministic policy on fresh target envs at step 0 and every --eval-every target steps.
Checkpoints (both replay buffers, both envs mid-episode, RNGs) every --checkpoint-every target steps and
on Ctrl-C/SIGTERM (exit code 130/143); --resume continues bit-exactly (`--resume --run-dir D` alone: method,
task and options come from D; other flags must agree with them, except --steps/--source-steps). --cpus 0
(or 0,1) pins the run to those cores."""


# ----------------------------------------------------------------------------- eval
@dataclasses.dataclass
class EvalArgs:
    """Evaluate a checkpoint or actor file with the daftrl protocol (fresh env, tanh(mean))."""

    checkpoint: str
    """A run directory, checkpoint.safetensors or an actor .safetensors file."""
    task: str | None = None
    """Task, robot or gymnasium id (default: the env the checkpoint was trained on)."""
    domain: str | None = None
    """source | target (default: the domain it was trained in - the target for adapt and cotrain runs - when
    --task is omitted or is its own task; else source)."""
    episodes: int = 10
    seed: int = 0


@command("eval", "evaluate a checkpoint: CHECKPOINT --task T --domain target")
def _eval(argv: list[str]) -> int:
    import json

    import tyro

    args = tyro.cli(EvalArgs, args=_positional(argv, ("checkpoint",)), prog="daftrl eval")
    from daftrl.policy import load_policy

    policy, trained_env = load_policy(args.checkpoint)
    from daftrl.envs.factory import resolve_env
    from daftrl.evaluate import evaluate

    domain = args.domain or (policy.trained_domain if args.task in (None, trained_env) else "source")
    handle = resolve_env(args.task or trained_env, domain)
    if (handle.obs_dim, handle.act_dim) != (policy.obs_dim, policy.act_dim):
        raise SystemExit(
            f"the policy expects obs/act sizes {policy.obs_dim}/{policy.act_dim} but {handle.name} has "
            f"{handle.obs_dim}/{handle.act_dim}"
        )
    res = evaluate(policy.deterministic, handle.make, args.episodes, args.seed, handle.robot)
    print(json.dumps({"env": handle.name, "domain": handle.domain, **res.as_dict()}, indent=2))
    return 0


# ----------------------------------------------------------------------------- grid
@dataclasses.dataclass
class GridArgs:
    """Run an experiment grid in pieces (`grid run`), see where it stands (`grid status`), list its jobs
    (`grid list`) or store finished run directories made outside a grid (`grid store RUN_DIR ...`).

    The grid is a TOML file (docs/experiments.md) or one block given by --tasks/--methods/--seeds. Re-running
    skips runs whose record is in the store, resumes interrupted ones, and stores each record as it finishes:
    commit results/ to keep them across machines."""

    action: str = "run"
    """run | status | list | store"""
    spec: str | None = None
    """Grid TOML file (run, status, list); with store: the run directory to store."""
    executor: str = "serial"
    """serial | local (a process per core, pinned) | ray (RAY_ADDRESS or a local Ray instance)."""
    workers: int | None = None
    """local/ray: processes (default: one per usable core)."""
    cpus: str | None = None
    """Cores to use, e.g. 0,1 (local: one worker pinned per core; serial: pin this process)."""
    results: str = "results"
    """The results store (a directory; commit it)."""
    campaign: str | None = None
    """Without a spec: the campaign; with one: only this campaign's blocks. With store: required."""
    tasks: list[str] = dataclasses.field(default_factory=list)
    methods: list[str] = dataclasses.field(default_factory=list)
    seeds: list[int] = dataclasses.field(default_factory=lambda: [0])
    steps: int | None = None
    kind: str = "adapt"
    """adapt | cotrain (without a spec)."""
    label: str = "{method}"
    """Cell name in the store (without a spec; with store: default the run's method)."""
    option: list[str] = dataclasses.field(default_factory=list)
    """Run or method option name=value (repeatable), e.g. --option learning_starts=10000."""


@command("grid", "run an experiment grid (serial, local processes or Ray): `grid run GRID.toml --executor local`")
def _grid(argv: list[str]) -> int:
    import tyro

    args = tyro.cli(GridArgs, args=_positional(argv, ("action", "spec")), prog="daftrl grid")
    from daftrl.experiments import grid

    if args.action == "store":
        return _grid_store(args)
    if args.spec:
        spec = grid.load_spec(args.spec)
        if args.campaign:
            own = lambda b: b.get("campaign", spec.get("campaign")) == args.campaign  # noqa: E731
            spec["block"] = [b for b in spec.get("block", []) if own(b)]
    elif args.tasks and args.methods:
        spec = grid.spec_from_flags(args.campaign, args.tasks, args.methods, args.seeds, args.steps, args.kind,
                                    args.label, args.option)
    else:
        raise SystemExit("usage: daftrl grid run|status|list GRID.toml, or --campaign C --tasks ... --methods ... "
                         "[--seeds ...] (see --help)")
    jobs = grid.expand(spec, args.spec or "command line")
    if args.action == "list":
        for job in jobs:
            print(f"{job.run_id}  {job.name()}  {job.run_dir()}")
        return 0
    if args.action == "status":
        return _grid_status(grid.status(jobs, args.results))
    if args.action != "run":
        raise SystemExit(f"unknown action {args.action!r}: use run, status, list or store")
    from daftrl.experiments.executors import run_grid

    res = run_grid(jobs, args.results, args.executor, args.workers, args.cpus)
    print(f"grid: {res['done']} stored, {res['skipped']} already stored, {res['identical']} identical, "
          f"{res['interrupted']} interrupted, {res['busy']} running elsewhere, {res['failed']} failed "
          f"({res['wall_time_s'] / 60:.1f} min); records in {args.results}/")
    for error in res["errors"]:
        print(f"  {error}", file=sys.stderr)
    if res["interrupted"]:
        print("interrupted runs resume when the same command runs again", file=sys.stderr)
        return 143
    return 1 if res["failed"] else 0


def _grid_status(rows: list[dict]) -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table("campaign", "task", "label", "done", "running", "failed", "resumable", "pending", "core-h left",
                  title="grid status")
    total, unknown = 0.0, False
    for r in rows:
        hours = r["remaining_core_hours"]
        total += hours or 0.0
        unknown |= hours is None
        table.add_row(r["campaign"], r["task"], r["label"], str(r.get("done", 0) + r.get("finished", 0)),
                      str(r.get("running", 0)), str(r.get("failed", 0)), str(r.get("interrupted", 0)),
                      str(r.get("pending", 0)), "?" if hours is None else f"{hours:.2f}")
    console = Console(width=None if sys.stdout.isatty() else 160)  # a log file gets whole names
    console.print(table)
    console.print(f"remaining: {total:.1f} core-hours" + (" (+ cells with no finished run to estimate from)"
                                                            if unknown else ""))
    for r in rows:
        for error in r["failed_errors"]:
            console.print(f"failed in {r['label']} {r['task']}: {error}", markup=False)
    return 0


def _grid_store(args: GridArgs) -> int:
    from daftrl.experiments import store

    if not (args.spec and args.campaign):
        raise SystemExit("usage: daftrl grid store RUN_DIR --campaign C [--label L] [--results results]")
    record = store.record_from_run(args.spec, args.campaign, None if args.label == "{method}" else args.label)
    written = store.write_record(args.results, record)
    print(f"{written}: {store.record_path(args.results, record)} (run {record['run_id']}, final return "
          f"{record['final_return']:,.1f})")
    return 0


# ----------------------------------------------------------------------------- report
@dataclasses.dataclass
class ReportArgs:
    """Tables, learning curves, rliable aggregates and the runtime figure of a results store, as markdown with
    PNG/SVG figures. `daftrl report results --out docs/results.md` writes the committed docs/results.md."""

    root: str = "results"
    """A results store, or one campaign in it (results/<campaign>)."""
    out: str = "report/results.md"
    """Markdown file to write."""
    figures: str | None = None
    """Directory for the figures (default: img/<name of --out> next to it)."""
    reps: int = 2000
    """Bootstrap repetitions for the confidence intervals."""


@command("report", "tables, curves and statistics of a results store: `report results --out docs/results.md`")
def _report(argv: list[str]) -> int:
    from pathlib import Path

    import tyro

    args = tyro.cli(ReportArgs, args=_positional(argv, ("root",)), prog="daftrl report")
    from daftrl.experiments.report import write_report

    write_report(Path(args.root), Path(args.out), Path(args.figures) if args.figures else None, reps=args.reps)
    print(f"wrote {args.out}")
    return 0


# ----------------------------------------------------------------------------- bench
@command("bench", "measure speed: `bench sac` (vs SB3/SBX), `bench adapt`, `bench cotrain`, `bench grid`")
def _bench(argv: list[str]) -> int:
    import tyro

    usage = ("usage: daftrl bench sac|adapt|cotrain|grid [OPTIONS]\n\n"
             "  sac      SAC update and end-to-end speed against SB3 and SBX (benchmarks/results/bench_sac.json)\n"
             "  adapt    per-update cost of each adaptation method relative to FT (bench_adapt.json)\n"
             "  cotrain  per-update cost of each co-training method relative to SAC (bench_cotrain.json)\n"
             "  grid     runs per hour with --executor local vs serial, evaluation share of runs (bench_grid.json)\n\n"
             "`daftrl bench NAME --help` lists the options of one.")
    if argv[:1] in (["-h"], ["--help"]):
        print(usage)
        return 0
    if not argv or argv[0] not in ("sac", "adapt", "cotrain", "grid"):
        got = f"unknown benchmark {argv[0]!r}; " if argv else ""
        raise SystemExit(f"{got}{usage}")
    if argv[0] == "grid":
        from daftrl.experiments.bench_grid import GridBenchArgs, run_grid_bench

        args = tyro.cli(GridBenchArgs, args=argv[1:], prog="daftrl bench grid")
        res = run_grid_bench(args)
        print("runs per hour:", {k: round(v, 1) for k, v in res["runs_per_hour"].items()},
              f"local/serial {res['local_vs_serial']:.2f}x")
        for row in res["evaluation_share"]:
            print(f"evaluation share, {row['campaign']} (every {row['eval_every']}, {row['eval_episodes']} episodes): "
                  f"{100 * row['median_share']:.1f} % (median of {row['runs']} runs)")
        print(f"wrote {args.out}")
        return 0
    if argv[0] == "cotrain":
        from daftrl.experiments.bench_cotrain import CotrainBenchArgs, run_cotrain_bench

        args = tyro.cli(CotrainBenchArgs, args=argv[1:], prog="daftrl bench cotrain")
        res = run_cotrain_bench(args)
        print("ms per update:", {k: round(v, 2) for k, v in res["ms_per_update"].items()})
        print("cost vs SAC:", {k: round(v, 2) for k, v in res["cost_vs_sac"].items()})
        print(f"wrote {args.out}")
        return 0
    if argv[0] == "adapt":
        from daftrl.experiments.bench import AdaptBenchArgs, run_adapt_bench

        args = tyro.cli(AdaptBenchArgs, args=argv[1:], prog="daftrl bench adapt")
        res = run_adapt_bench(args)
        print("update cost vs FT:", {k: round(v, 2) for k, v in res["update"]["cost_vs_ft"].items()})
        print("adapt loop:", {k: f"{v['steps_per_s']:.0f} steps/s, {v['minutes_per_1e5_steps']:.1f} min/1e5"
                              for k, v in res["loop"].items()})
        print(f"wrote {args.out}")
        return 0
    from daftrl.experiments.bench import BenchArgs, run_bench

    args = tyro.cli(BenchArgs, args=argv[1:], prog=f"daftrl bench {argv[0]}")
    res = run_bench(args)
    for u in res["update"]:
        print(f"update B={u['batch_size']}: {u['updates_per_s']:.0f} updates/s, {u['gflops']:.0f} GFLOP/s "
              f"({100 * u['fraction_of_peak']:.0f}% of measured peak {res['matmul_gflops']['peak']:.0f})")
    e2e = res["end_to_end"]
    print("end-to-end steps/s:", {k: round(v, 1) for k, v in e2e["steps_per_s"].items()},
          "ratios:", {k: round(v, 2) for k, v in e2e["ratios"].items()})
    print(f"wrote {args.out}")
    return 0


# ----------------------------------------------------------------------------- zoo
@dataclasses.dataclass
class ZooArgs:
    """Bundled source experts: `zoo list`, `zoo show ROBOT`, `zoo verify [ROBOT]`,
    `zoo export ROBOT --run RUN_DIR` (maintainers: turn a pretraining run into a zoo entry),
    `zoo rescore [ROBOT]` (maintainers: recompute the card's zero-shot returns on every task)."""

    action: str = "list"
    """list | show | verify | export | rescore"""
    robot: str | None = None
    run: str | None = None
    """With export: the pretraining run directory."""
    episodes: int = 10
    note: str | None = None
    """With export: a remark stored in card.json (e.g. that an expert is provisional)."""


@command("zoo", "bundled experts: `zoo list`, `zoo show ROBOT`, `zoo verify`")
def _zoo(argv: list[str]) -> int:
    import json

    import tyro

    args = tyro.cli(ZooArgs, args=_positional(argv, ("action", "robot")), prog="daftrl zoo")
    from rich.console import Console
    from rich.table import Table

    from daftrl import zoo

    console = Console()
    if args.action == "list":
        from daftrl.zoo.build import HEADLINE_FAMILIES, robot_tasks

        table = Table("robot", "steps", "source return", "zero-shot returns", title="daftrl zoo")
        for name in zoo.names():
            c = zoo.card(name)
            shown = [t for t in robot_tasks(name, HEADLINE_FAMILIES) if t in c["zero_shot_return"]]
            zs = ", ".join(f"{t}: {c['zero_shot_return'][t]['return_mean']:,.0f}" for t in shown)
            more = len(c["zero_shot_return"]) - len(shown)
            table.add_row(name, f"{c['steps']:,}", f"{c['source_return']['return_mean']:,.0f}",
                          zs + (f" (+{more} more: zoo show {name})" if more else ""))
        console.print(table if zoo.names() else "no bundled experts")
    elif args.action == "show":
        console.print_json(json.dumps(zoo.card(args.robot or "")))
    elif args.action == "verify":
        from daftrl.zoo.build import verify

        bad = []
        for name in [args.robot] if args.robot else zoo.names():
            problems = verify(name)
            bad += problems
            console.print(f"{name}: " + ("ok" if not problems else "; ".join(problems)))
        return 1 if bad else 0
    elif args.action == "export":
        if not (args.robot and args.run):
            raise SystemExit("usage: daftrl zoo export ROBOT --run RUN_DIR")
        from daftrl.zoo.build import export

        c = export(args.run, args.robot, episodes=args.episodes, note=args.note)
        console.print(f"exported {args.robot}: source return {c['source_return']['return_mean']:,.1f}")
    elif args.action == "rescore":
        from daftrl.runs import provenance
        from daftrl.zoo.build import rescore

        prov = provenance()  # before any card changes
        for name in [args.robot] if args.robot else zoo.names():
            c = rescore(name, episodes=args.episodes, prov=prov)
            console.print(f"{name}: zero-shot returns on {len(c['zero_shot_return'])} tasks written to its card")
    else:
        raise SystemExit(f"unknown action {args.action!r}: use list, show, verify, export or rescore")
    return 0


# ----------------------------------------------------------------------------- demo
@command("demo", "adapt a bundled expert to a broken robot in a few minutes (make demo)")
def _demo(argv: list[str]) -> int:
    import tyro

    from daftrl.demo import DemoArgs, run_demo

    args = tyro.cli(DemoArgs, args=argv, prog="daftrl demo")
    res = run_demo(args)
    if res["status"] != "finished":
        print(f"demo interrupted at step {res['step']:,}: continue it with `daftrl adapt --resume --run-dir "
              f"{res['out']}`, or run the demo again to start over", file=sys.stderr)
        return exit_code(res)
    print(f"\nzero-shot return {res['zero_shot']:,.1f} -> adapted {res['adapted']:,.1f} "
          f"({args.method}, {args.steps:,} target steps, {res['wall_time'] / 60:.1f} min)")
    print(f"learning curve and summary in {res['out']}/ (learning_curve.png, summary.md)")
    return 0


# ----------------------------------------------------------------------------- main
def _usage() -> str:
    lines = ["usage: daftrl COMMAND [--help] [ARGS]", "", "Adapt pretrained RL policies to changed dynamics.", "",
             "commands:"]
    lines += [f"  {name:<10} {summary}" for name, (summary, _) in COMMANDS.items()]
    lines += ["", "Run `daftrl COMMAND --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from daftrl import __version__

        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        import difflib

        close = difflib.get_close_matches(name, COMMANDS, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        print(f"daftrl: unknown command {name!r}{hint}\n\n{_usage()}", file=sys.stderr)
        return 2
    try:
        return COMMANDS[name][1](rest) or 0
    except (ValueError, FileExistsError) as e:
        print(f"daftrl {name}: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        from daftrl.runs import TrainingDiverged

        if not isinstance(e, TrainingDiverged):
            raise
        print(f"daftrl {name}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
