"""The docs stay true: every `daftrl ...` command in a shell code block of README.md or docs/*.md names a real
command (and sub-action or method: `zoo export`, `tasks show`, `bench cotrain`, `adapt sgft`), and every `--flag` it
uses is one that its `--help` lists."""

import re
import shlex
from pathlib import Path

import pytest

from daftrl.algos import method_names
from daftrl.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]
SHELL_LANGS = {"", "bash", "sh", "shell", "console"}


def documented_commands() -> list[tuple[str, list[str]]]:
    """(file:line, argv after `daftrl`) for each daftrl command line in a shell code block."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        in_block, lang, pending = False, "", ""
        for no, line in enumerate(path.read_text().splitlines(), 1):
            fence = re.match(r"\s*```(\w*)", line)
            if fence:
                in_block, lang, pending = not in_block, fence.group(1), ""
                continue
            if not in_block or lang not in SHELL_LANGS:
                continue
            pending += line.rstrip().removesuffix("\\")
            if line.rstrip().endswith("\\"):
                continue
            tokens, pending = shlex.split(pending.strip().removeprefix("$ "), comments=True), ""
            if tokens[:1] == ["daftrl"]:
                found.append((f"{path.name}:{no}", tokens[1:]))
            elif tokens[:3] == ["python", "-m", "daftrl.cli"]:
                found.append((f"{path.name}:{no}", tokens[3:]))
    return found


DOCUMENTED = documented_commands()


def test_the_docs_show_commands():
    commands = {argv[0] for _, argv in DOCUMENTED if argv}
    assert {"adapt", "cotrain", "pretrain", "zoo"} <= commands, commands


_HELP: dict[tuple, str] = {}


def _help(argv: list[str], capsys, monkeypatch) -> str:
    """The --help of a documented command line: `daftrl ARGV --help` (for `adapt sgft ...`, SGFT's options; for
    `adapt --task T`, those of the default method; for `bench cotrain`, that benchmark's)."""
    key = tuple(argv)
    if key not in _HELP:
        monkeypatch.setenv("COLUMNS", "200")
        with pytest.raises(SystemExit) as e:
            main([*argv, "--help"])
        assert e.value.code in (0, None), f"daftrl {' '.join(argv)} --help failed: {capsys.readouterr().err}"
        _HELP[key] = capsys.readouterr().out
    return _HELP[key]


def _actions(help_text: str) -> list[str]:
    """The sub-actions or subcommands the usage line of a --help offers (`[{list,show,render}]`, `{sac,adapt,...}`);
    [] for a command without any."""
    usage = re.search(r"usage: daftrl[^{\n]*\{([a-z][a-z0-9,-]*)\}", help_text)
    return usage.group(1).split(",") if usage else []


def test_sub_actions_are_read_from_the_help(capsys, monkeypatch):
    """The check below must see the actions of every command that has them, or it would pass anything."""
    for command, expected in {"zoo": {"list", "show", "export"}, "tasks": {"list", "show", "render"},
                              "bench": {"sac", "adapt", "cotrain"}, "grid": {"run", "status", "store"}}.items():
        assert expected <= set(_actions(_help([command], capsys, monkeypatch))), command
    for kind in ("adapt", "cotrain"):
        assert _actions(_help([kind], capsys, monkeypatch)) == list(method_names(kind))
    assert _actions(_help(["adapt", "daft"], capsys, monkeypatch)) == []


@pytest.mark.parametrize(("where", "argv"), DOCUMENTED, ids=[w for w, _ in DOCUMENTED])
def test_documented_command_uses_real_flags(where, argv, capsys, monkeypatch):
    assert argv and argv[0] in COMMANDS, f"{where}: `daftrl {' '.join(argv)}` is not a daftrl command"
    flags = [t.split("=")[0] for t in argv[1:] if t.startswith("--")]
    positionals = next((argv[:i] for i, t in enumerate(argv) if t.startswith("--")), argv)
    text = _help(argv, capsys, monkeypatch)
    actions = _actions(text)
    if actions and len(positionals) > 1:  # `zoo export ROBOT`, `tasks show NAME`
        assert positionals[1] in actions, f"{where}: `{positionals[1]}` is not one of daftrl {argv[0]}'s {actions}"
    listed = set(re.findall(r"--[a-z0-9][a-z0-9.-]*", text))
    unknown = [f for f in flags if f not in listed and f != "--help"]
    assert not unknown, f"{where}: `daftrl {' '.join(argv)}` uses {unknown}, not in its --help"
