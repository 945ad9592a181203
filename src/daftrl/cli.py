"""`daftrl`: the command line, parsed by tyro (`daftrl --help`, `daftrl COMMAND --help`).

tyro reads the command's name and the command parses its own flags: JAX is imported only by the commands that use
it (`daftrl --help` and `daftrl tasks` stay fast), and a resumed run is parsed with its saved configuration as the
defaults. The methods of `adapt` and `cotrain` are subcommands taken from the registry (`daftrl.algos`). What a
command does and prints lives in the library; this module only dispatches.
"""

from __future__ import annotations

import functools
import os
import sys

import tyro


# ----------------------------------------------------------------------------- the training commands
def _start(kind: str, cpus: str | None, train) -> int:
    """Pin the process (JAX has not started a thread pool yet), run `train()`, print how it ended; the exit code."""
    from daftrl.provenance import apply_cpu_settings
    from daftrl.run_summary import exit_code, finished_line

    apply_cpu_settings(cpus)
    result = train()
    if result["status"] == "finished":
        print(finished_line(kind, result))
    return exit_code(result)


def pretrain(argv: list[str]) -> int:
    """train a SAC source expert (resumable): `pretrain --env hopper --steps 1000000`"""
    from daftrl import loops, run_options

    job = run_options.parse("pretrain", argv, run_options.pretrain)
    return _start("pretrain", job.cpus, lambda: loops.pretrain(job.run))


def _method_command(kind: str, argv: list[str], run_cls, loop) -> int:
    """`daftrl KIND METHOD ...` for a kind of the method registry: parse (the saved run's options on --resume), run."""
    from daftrl import run_options

    job = run_options.parse(kind, argv, run_options.method_subcommands(kind, run_cls))
    run = run_options.as_config(run_cls, job.run)
    return _start(kind, job.cpus, lambda: loop(run, job.method_config))


def adapt(argv: list[str]) -> int:
    """adapt an expert in a target domain: `adapt METHOD --task T` (`adapt --help` lists the methods)"""
    from daftrl import loops

    return _method_command("adapt", argv, loops.AdaptRunConfig, loops.adapt)


def cotrain(argv: list[str]) -> int:
    """co-train a simulator baseline from scratch: `cotrain METHOD --task T` (`cotrain --help` lists the methods)"""
    import daftrl.cotrain as loop

    return _method_command("cotrain", argv, loop.CotrainRunConfig, loop.cotrain)


def offline(argv: list[str]) -> int:
    """train on a fixed dataset and export an expert: `offline METHOD --dataset D` (`offline --help`: the methods)"""
    import daftrl.offline as loop

    return _method_command("offline", argv, loop.OfflineRunConfig, loop.offline)


# ----------------------------------------------------------------------------- the other commands
def tasks(argv: list[str]) -> int:
    """list the tasks; `tasks show NAME`; `tasks render NAME --out F.png`"""
    from daftrl.envs import command

    return command.run(tyro.cli(command.TasksArgs, args=argv, prog="daftrl tasks"))


def evaluate(argv: list[str]) -> int:
    """evaluate a checkpoint: `eval CHECKPOINT --task T --domain target`"""
    from daftrl import eval_command

    return eval_command.run(tyro.cli(eval_command.EvalArgs, args=argv, prog="daftrl eval"))


def dataset(argv: list[str]) -> int:
    """offline datasets: `dataset build --robot R`, `dataset list`, `dataset show NAME`"""
    from daftrl.datasets import command

    return command.run(tyro.cli(command.DatasetArgs, args=argv, prog="daftrl dataset"))


def grid(argv: list[str]) -> int:
    """run an experiment grid (serial, local processes or Ray): `grid run GRID.toml --executor local`"""
    from daftrl.experiments import grid_command

    return grid_command.run(tyro.cli(grid_command.GridArgs, args=argv, prog="daftrl grid"))


def report(argv: list[str]) -> int:
    """tables, curves and statistics of a results store: `report results --out docs/results.md`"""
    from daftrl.experiments import report_command

    return report_command.run(tyro.cli(report_command.ReportArgs, args=argv, prog="daftrl report"))


def bench(argv: list[str]) -> int:
    """measure speed: `bench sac` (vs SB3/SBX), `bench adapt`, `bench cotrain`, `bench offline`, `bench grid`"""
    from daftrl.experiments import bench_command

    return bench_command.run(argv)


def zoo(argv: list[str]) -> int:
    """bundled experts: `zoo list`, `zoo show ROBOT`, `zoo verify`"""
    from daftrl.zoo import command

    return command.run(tyro.cli(command.ZooArgs, args=argv, prog="daftrl zoo"))


def expert(argv: list[str]) -> int:
    """bring your own expert: `expert import --sb3 MODEL.zip --env ENV` (a Stable-Baselines3 / SBX SAC save)"""
    from daftrl.importers.command import ExpertArgs, run

    return run(tyro.cli(ExpertArgs, args=argv, prog="daftrl expert"))


def demo(argv: list[str]) -> int:
    """adapt a bundled expert to a broken robot in a few minutes (make demo)"""
    from daftrl import demo as command

    return command.run(tyro.cli(command.DemoArgs, args=argv, prog="daftrl demo"))


# ----------------------------------------------------------------------------- main
COMMANDS = {"tasks": tasks, "pretrain": pretrain, "adapt": adapt, "cotrain": cotrain, "dataset": dataset,
            "offline": offline, "eval": evaluate, "grid": grid, "report": report, "bench": bench, "zoo": zoo,
            "expert": expert, "demo": demo}
"""The commands in `daftrl --help` order: tyro parses the name, the function the rest of the command line."""


def main(argv: list[str] | None = None) -> int:
    """Run one command; exit code 2 and a one-line message for bad input, 1 for a diverged run."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-V"], ["--version"]):
        from daftrl import __version__

        print(__version__)
        return 0
    try:
        return tyro.extras.subcommand_cli_from_dict(
            {name: functools.partial(run, argv[1:]) for name, run in COMMANDS.items()}, args=argv[:1] or ["--help"],
            prog="daftrl", description="Adapt pretrained RL policies to changed dynamics. `daftrl COMMAND --help` "
                                       "shows a command's options; `daftrl --version` the version.")
    except (ValueError, FileExistsError) as e:
        print(f"daftrl {argv[0]}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`daftrl grid list ... | head`): stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141
    except Exception as e:
        from daftrl.monitor import TrainingDiverged

        if not isinstance(e, TrainingDiverged):
            raise
        print(f"daftrl {argv[0]}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
