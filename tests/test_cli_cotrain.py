"""`daftrl cotrain` on the command line: every method's options parse, task defaults apply, errors are clear."""

from __future__ import annotations

import re

import pytest

from daftrl.algos import method_names
from daftrl.cli import main


@pytest.mark.parametrize("method", method_names("cotrain"))
def test_help_lists_the_method_options(method, capsys):
    """A method's --help shows its own config's options and none that only other methods' configs have."""
    import dataclasses

    from daftrl.algos import method_spec

    with pytest.raises(SystemExit) as e:
        main(["cotrain", method, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--target-every" in out and "--dataset" in out and "--batch-size" in out
    def shown(name: str) -> bool:
        return re.search(rf"--{name.replace('_', '-')}(?![\w-])", out) is not None

    mine = {f.name for f in dataclasses.fields(method_spec(method).config_cls)}
    others = {f.name for m in method_names("cotrain") for f in dataclasses.fields(method_spec(m).config_cls)} - mine
    assert mine and [name for name in mine if not shown(name)] == [], method
    assert [name for name in others if shown(name)] == [], method


def test_par_beta_defaults_to_the_robots_recommendation(capsys):
    with pytest.raises(SystemExit):
        main(["cotrain", "par", "--task", "hopper-big-head", "--help"])
    out = capsys.readouterr().out
    flat = re.sub(r"[\s│]+", " ", out)
    beta_help = flat[flat.index("--beta"):][:200]
    assert "(default: 0.05)" in beta_help, beta_help


def test_unknown_method_is_an_error_that_lists_the_methods(capsys):
    with pytest.raises(SystemExit) as e:
        main(["cotrain", "vgfd"])
    assert e.value.code == 2
    err = re.sub(r"[\s│]+", " ", capsys.readouterr().err)
    assert "vgfd" in err and ", ".join(method_names("cotrain")) in err and "Traceback" not in err


def test_source_steps_is_the_papers_budget_in_source_steps():
    from daftrl.cotrain import CotrainRunConfig

    cfg = CotrainRunConfig(source_steps=1_000_000, target_every=10).resolved()
    assert (cfg.steps, cfg.source_steps, cfg.total_source_steps) == (100_000, None, 1_000_000)
    assert CotrainRunConfig(steps=50, source_steps=500, target_every=10).resolved().steps == 50
    with pytest.raises(ValueError, match="multiple of --target-every"):
        CotrainRunConfig(source_steps=1005, target_every=10).resolved()
    with pytest.raises(ValueError, match="disagree"):
        CotrainRunConfig(steps=10, source_steps=1000, target_every=10).resolved()


def test_inconsistent_budget_is_a_clear_error(capsys):
    assert main(["cotrain", "sac-mix", "--steps", "10", "--source-steps", "1000"]) == 2
    assert "give only one of them" in capsys.readouterr().err


def _saved_run(tmp_path, method="vgdf", task="hopper-big-head"):
    """A run dir whose config.json is written as the loops write it (RunDir.write_config)."""
    from daftrl.configs import config_to_dict
    from daftrl.cotrain import CotrainRunConfig
    from daftrl.rundir import RunDir

    RunDir(tmp_path).write_config(config_to_dict(CotrainRunConfig(method=method, task=task, steps=100)))
    return str(tmp_path)


def test_resume_takes_the_method_and_task_from_the_run_dir(tmp_path, capsys):
    """`daftrl cotrain --resume --run-dir D` alone continues the run D holds: the options shown and parsed
    are those of its method (here VGDF's --keep-ratio), not of the default method PAR, with the run's values as
    the defaults."""
    with pytest.raises(SystemExit) as e:
        main(["cotrain", "--resume", "--run-dir", _saved_run(tmp_path), "--help"])
    assert e.value.code == 0
    out = re.sub(r"[\s│]+", " ", capsys.readouterr().out)
    assert "usage: daftrl cotrain vgdf" in out and "--keep-ratio" in out
    assert "--task STR Task whose source and target domains are co-trained on (`daftrl tasks`). (default: " \
           "hopper-big-head)" in out


def test_resume_with_a_contradicting_method_is_a_clear_error(tmp_path, capsys):
    assert main(["cotrain", "par", "--resume", "--run-dir", _saved_run(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "method 'par' (the run has 'vgdf')" in err and "drop that flag" in err
    # the options of another method are not compared with the run's (PAR's beta is not VGDF's)
    assert "--beta" not in err and "--task" not in err


def test_bench_help_lists_the_benchmarks_and_a_wrong_name_says_which(capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("sac", "adapt", "cotrain", "offline", "grid"))
    with pytest.raises(SystemExit) as e:
        main(["bench", "sca"])
    assert e.value.code == 2
    err = re.sub(r"[\s│]+", " ", capsys.readouterr().err)
    assert "sca" in err and "sac, adapt, cotrain, offline, grid" in err
