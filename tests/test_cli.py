"""`daftrl` on the command line: the commands, methods as subcommands with exactly their flags, resume with the
saved configuration as defaults, positional forms, light imports and --cpus before JAX starts."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from daftrl.algos import method_names, method_spec
from daftrl.cli import COMMANDS, main
from daftrl.configs import config_to_dict, json_ready
from daftrl.cotrain import CotrainRunConfig
from daftrl.loops import AdaptRunConfig, PretrainConfig
from daftrl.rundir import RunDir

ROOT = Path(__file__).resolve().parents[1]


def flat(text: str) -> str:
    """Help text with rich's boxes and line breaks squeezed to single spaces."""
    return re.sub(r"[\s│╭╮╰╯─]+", " ", text)


def help_of(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as e:
        main([*argv, "--help"])
    assert e.value.code == 0
    return flat(capsys.readouterr().out)


def flags(text: str) -> set[str]:
    return {f.rstrip(".") for f in re.findall(r"--[a-z0-9][a-z0-9.-]*", text)}


def test_help_lists_every_command_and_the_version_prints(capsys):
    assert all(f" {name} " in help_of([], capsys) for name in COMMANDS)
    with pytest.raises(SystemExit) as e:
        main([])  # no command: the overview, not an error
    assert e.value.code == 0 and "usage: daftrl" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


def test_output_into_a_closed_pipe_ends_quietly():
    """`daftrl grid list GRID | head -1`: the reader went away; no traceback, exit 141 as for SIGPIPE."""
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-m", "daftrl.cli", "grid", "list", str(root / "grids" / "online.toml")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # gone before the command writes anything: its first write fails
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == ""


def test_a_misspelt_command_is_refused_with_the_commands_listed(capsys):
    with pytest.raises(SystemExit) as e:
        main(["adpat", "--task", "x"])
    assert e.value.code == 2
    err = flat(capsys.readouterr().err)
    assert "adpat" in err and "adapt" in err and "Traceback" not in err


@pytest.mark.parametrize("kind", ["adapt", "cotrain"])
def test_each_method_subcommand_shows_exactly_its_flags(kind, capsys):
    """`daftrl adapt daft --help`: the run options, --cpus and DAFTConfig's options, nothing else (no --method)."""
    import dataclasses

    listing = help_of([kind], capsys)
    for name in method_names(kind):
        assert method_spec(name).summary[:40] in listing, name
    options = lambda cls: {f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(cls)}  # noqa: E731
    run_flags = options(AdaptRunConfig if kind == "adapt" else CotrainRunConfig) - {"--method"}
    for name in method_names(kind):
        shown = flags(help_of([kind, name], capsys)) - {"--help"}
        shown = {f for f in shown if not (f.startswith("--no-") and f"--{f[5:]}" in shown)}  # --x, --no-x: one
        assert shown == run_flags | options(method_spec(name).config_cls) | {"--cpus"}, name


def test_adapt_alone_runs_the_default_method_and_takes_its_flags(capsys):
    text = help_of(["adapt", "--task", "hopper-big-head"], capsys)
    assert f"usage: daftrl adapt {AdaptRunConfig.method} " in text and "--horizon" in text


def _adapt_run(path: Path, method: str = "ft", **run) -> str:
    """A run dir with the config.json an adapt run writes (method options included)."""
    config = {**config_to_dict(AdaptRunConfig(method=method, steps=100, **run)),
              "method_config": json_ready(config_to_dict(method_spec(method).default_config()))}
    RunDir(path).write_config(config)
    return str(path)


def test_resume_parses_with_the_saved_config_as_the_defaults(tmp_path, capsys):
    d = _adapt_run(tmp_path, "sgft", task="hopper-big-head", seed=3)
    text = help_of(["adapt", "--resume", "--run-dir", d], capsys)
    assert "usage: daftrl adapt sgft" in text and "--horizon" in text
    assert "(default: hopper-big-head)" in text and re.search(r"--seed INT \(default: 3\)", text)
    # repeating the original command is fine: the loop then looks for the checkpoint
    assert main(["adapt", "sgft", "--task", "hopper-big-head", "--seed", "3", "--resume", "--run-dir", d]) == 2
    err = capsys.readouterr().err
    assert "checkpoint.safetensors does not exist" in err and "the run has" not in err


def test_resume_refuses_another_method_in_one_line(tmp_path, capsys):
    d = _adapt_run(tmp_path, "ft")
    assert main(["adapt", "daft", "--resume", "--run-dir", d]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "method 'daft' (the run has 'ft')" in err[0] and err[0].startswith("daftrl adapt: error")


def test_resume_may_change_the_budget_without_disagreeing_with_itself(tmp_path, capsys):
    """--source-steps on a resumed cotrain run: the saved --steps is not taken as a default (it would clash)."""
    from daftrl.cotrain import CotrainRunConfig

    config = {**config_to_dict(CotrainRunConfig(method="sac-mix", steps=100)),
              "method_config": json_ready(config_to_dict(method_spec("sac-mix").default_config()))}
    RunDir(tmp_path).write_config(config)
    assert main(["cotrain", "--resume", "--run-dir", str(tmp_path), "--source-steps", "2000"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint.safetensors does not exist" in err, err


def test_pretrain_resume_takes_the_saved_preset_and_sac_options(tmp_path, capsys):
    from daftrl.sac import PRESETS

    saved = PretrainConfig(env="hopper", preset="sb3", sac=PRESETS["sb3"], steps=100)
    RunDir(tmp_path).write_config(config_to_dict(saved))
    text = help_of(["pretrain", "--resume", "--run-dir", str(tmp_path)], capsys)
    assert "--preset {paper,expert,sb3} Hyperparameter preset" in text and "(default: sb3)" in text
    assert re.search(r"--sac.learn-alpha, --sac.no-learn-alpha (\S+ )*\(default: True\)", text)


def test_a_preset_sets_the_sac_defaults(capsys):
    from daftrl.sac import PRESETS

    text = help_of(["pretrain", "--preset", "expert"], capsys)
    assert f"--sac.batch-size INT (default: {PRESETS['expert'].batch_size})" in text


def test_another_commands_run_is_refused_as_before(tmp_path, capsys):
    from daftrl.checkpoint import save_arrays

    save_arrays(tmp_path / "checkpoint.safetensors", {"x": __import__("numpy").zeros(1)}, kind="pretrain", meta={})
    assert main(["adapt", "--resume", "--run-dir", str(tmp_path)]) == 2
    assert "holds a 'pretrain' run, not a 'adapt' one" in capsys.readouterr().err


def test_positional_forms(tmp_path, capsys, monkeypatch):
    assert main(["tasks", "show", "hopper-big-head"]) == 0
    assert "body_mass[torso]" in capsys.readouterr().out
    assert main(["tasks", "show"]) == 2
    assert "name a task" in capsys.readouterr().err
    toml = tmp_path / "g.toml"
    toml.write_text('campaign = "c"\n[[block]]\ntasks = ["hopper-big-head"]\nmethods = ["ft"]\nseeds = [0, 1]\n')
    assert main(["grid", "list", str(toml)]) == 0
    assert capsys.readouterr().out.count("hopper-big-head") >= 2
    import daftrl.experiments.report as report

    monkeypatch.setattr(report, "write_report", lambda root, out, figures, reps: print(f"report of {root}"))
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.md")]) == 0
    assert f"report of {tmp_path}" in capsys.readouterr().out


def _run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_help_and_tasks_import_no_jax():
    out = _run("import json, sys\nfrom daftrl.cli import main\n"
               "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
               "main(['tasks'])\nprint(json.dumps(sorted(m for m in ('jax', 'flax') if m in sys.modules)))")
    assert json.loads(out.splitlines()[-1]) == []


def test_cpus_pins_the_process_before_jax_starts_a_backend():
    """--cpus reaches apply_cpu_settings after parsing but before any JAX computation (XLA sizes its thread pool
    from the process's cores when its first backend starts)."""
    out = _run("import json, daftrl.provenance as provenance\n"
               "def pin(cpus):\n"
               "    from jax._src import xla_bridge\n"
               "    print(json.dumps([cpus, len(xla_bridge._backends)]))\n"
               "    raise SystemExit(0)\n"
               "provenance.apply_cpu_settings = pin\n"
               "from daftrl.cli import main\n"
               "main(['adapt', 'ft', '--cpus', '0', '--task', 'hopper-big-head'])")
    assert json.loads(out.splitlines()[-1]) == ["0", 0]


def _imports_the_cli(source: str) -> bool:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(a.name == "daftrl.cli" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module == "daftrl.cli" or (
                node.module == "daftrl" and any(a.name == "cli" for a in node.names))):
            return True
    return False


def test_nothing_imports_the_cli():
    """The library and the benchmark scripts never import the CLI (running it as a subprocess is fine)."""
    sources = [*(ROOT / "src").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]
    assert [p for p in sources if p.name != "cli.py" and _imports_the_cli(p.read_text())] == []
    assert _imports_the_cli("from daftrl.cli import main") and _imports_the_cli("from daftrl import cli")
    assert _imports_the_cli("import daftrl.cli") and not _imports_the_cli('cmd = ["-m", "daftrl.cli"]')
