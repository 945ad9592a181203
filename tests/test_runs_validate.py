"""Validate, then create: a run that cannot start (a misspelt task, an unknown, unreadable or mismatched expert,
a bad method flag, an unusable $DAFTRL_HOME or --run-dir) is refused with a one-line message and leaves no run
directory behind."""

import os
from pathlib import Path

import pytest

from daftrl.cli import main

CASES = {
    "misspelt pretrain env": (["pretrain", "--env", "halfchetah"], "unknown task 'halfchetah'"),
    "misspelt adapt task": (["adapt", "--task", "hopper-big-hed"], "unknown task 'hopper-big-hed'"),
    "misspelt cotrain task": (["cotrain", "sac-mix", "--task", "hopper-big-hed"],
                              "unknown task 'hopper-big-hed'"),
    "unknown expert": (["adapt", "--task", "hopper-big-head", "--expert", "hoper"], "no expert 'hoper'"),
    "unreadable expert": (["adapt", "--task", "hopper-big-head", "--expert", "{tmp}/bad.safetensors"],
                          "is not a readable safetensors file"),
    "expert of another robot": (["adapt", "--task", "ant-broken-hips", "--expert", "hopper"],
                                "has observation/action sizes 11/3, but task 'ant-broken-hips' has 27/8"),
    "adapt method flag": (["adapt", "--task", "hopper-big-head", "--horizon", "0"], "horizon must be >= 1, got 0"),
    "cotrain method flag": (["cotrain", "vgdf", "--task", "hopper-big-head", "--keep-ratio", "0"],
                            "keep_ratio must be in (0, 1]"),
}


def refused(tmp_path, capsys, args: list[str], match: str, run_dir: Path | None = None) -> list[str]:
    """Run the CLI; check exit code 2, the message, and that neither $DAFTRL_HOME nor `run_dir` was created.
    Returns the lines written to stderr."""
    home = Path(os.environ["DAFTRL_HOME"])
    (tmp_path / "bad.safetensors").write_bytes(b"not a checkpoint")
    args = [a.format(tmp=tmp_path) for a in args]
    assert main([*args, "--steps", "10"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"daftrl {args[0]}: error: ") and match in err and "Traceback" not in err, err
    assert not home.exists(), list(home.rglob("*"))
    if run_dir is not None:
        assert not run_dir.exists()
    return err.splitlines()


@pytest.mark.parametrize("case", CASES)
def test_a_run_that_cannot_start_creates_nothing(case, tmp_path, capsys):
    refused(tmp_path, capsys, *CASES[case])
    refused(tmp_path, capsys, [*CASES[case][0], "--run-dir", str(tmp_path / "r")], CASES[case][1], tmp_path / "r")


@pytest.mark.parametrize("case", CASES)
def test_the_refusal_is_one_line(case, tmp_path, capsys):
    assert len(refused(tmp_path, capsys, *CASES[case])) == 1


def test_a_daftrl_home_that_is_a_file_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.write_text("not a directory")
    monkeypatch.setenv("DAFTRL_HOME", str(home))
    assert main(["adapt", "--task", "hopper-big-head", "--steps", "10"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"daftrl adapt: error: cannot create the run directory {home}/runs/adapt/hopper-big-head/daft-s0: "
                   f"{home} is a file, not a directory; $DAFTRL_HOME ({home}) must be a writable directory: set it "
                   "to one, or pass --run-dir"]
    assert home.read_text() == "not a directory"
    other = tmp_path / "other"
    other.write_text("")
    assert main(["pretrain", "--env", "Pendulum-v1", "--run-dir", str(other / "r")]) == 2  # not under $DAFTRL_HOME
    assert capsys.readouterr().err.splitlines() == [f"daftrl pretrain: error: cannot create the run directory "
                                                    f"{other}/r: {other} is a file, not a directory; pass another "
                                                    "--run-dir"]


def test_a_read_only_daftrl_home_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o555)
    if os.geteuid() == 0:  # root may write anywhere: see the directory as any other user would
        access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: access(p, mode) and Path(p) != home)
    monkeypatch.setenv("DAFTRL_HOME", str(home))
    try:
        assert main(["cotrain", "sac-mix", "--task", "hopper-big-head", "--steps", "10"]) == 2
        err = capsys.readouterr().err.splitlines()
        assert err == [f"daftrl cotrain: error: cannot write the run directory {home}/runs/cotrain/hopper-big-head/"
                       f"sac-mix-s0: {home} is not writable; $DAFTRL_HOME ({home}) must be a writable directory: "
                       "set it to one, or pass --run-dir"]
        assert list(home.iterdir()) == []
    finally:
        home.chmod(0o755)


def test_a_run_that_starts_creates_its_directory_after_validation(tmp_path):
    """The order a loop follows (`daftrl.runs.Run`): resolve and build first, create the directory last."""
    from daftrl.loops import PretrainConfig, pretrain
    from daftrl.sac import SACConfig

    cfg = PretrainConfig(env="Pendulum-v1", steps=40, warmup_steps=40, sac=SACConfig(hidden=(8, 8), batch_size=8),
                         eval_every=40, eval_episodes=1, save_actors=False, run_dir=str(tmp_path / "r"))
    assert pretrain(cfg, quiet=True)["status"] == "finished"
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [
        ".lock", "checkpoint.safetensors", "config.json", "eval.csv", "metrics.jsonl", "result.json"]
