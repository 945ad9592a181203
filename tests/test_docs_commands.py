"""The docs stay true: every `daftrl ...` command in a shell code block of README.md or docs/*.md names a real
subcommand (and sub-action: `zoo export`, `tasks show`, `bench cotrain`), and every `--flag` it uses is one that
subcommand's `--help` (for that `--method`) lists."""

import re
import shlex
from pathlib import Path

import pytest

from daftrl.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]
SHELL_LANGS = {"", "bash", "sh", "shell", "console"}
PRE_PARSED = {"--cpus"}  # taken off argv before the command's parser (documented in each --help's description)


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


def _help(command: list[str], method: str | None, capsys, monkeypatch) -> str:
    """`daftrl COMMAND [POSITIONALS] [--method M] --help` (positionals: `bench cotrain`, `zoo export ROBOT`)."""
    key = (*command, method)
    if key not in _HELP:
        monkeypatch.setenv("COLUMNS", "200")
        argv = [*command, *(["--method", method] if method else []), "--help"]
        try:
            code = main(argv)  # `bench --help` returns; tyro's --help exits
        except SystemExit as e:
            code = e.code
        assert code in (0, None), f"daftrl {' '.join(argv)} failed"
        _HELP[key] = capsys.readouterr().out
    return _HELP[key]


def _method(argv: list[str]) -> str | None:
    """The value of `--method M` or `--method=M`."""
    for i, t in enumerate(argv):
        if t.startswith("--method="):
            return t.split("=", 1)[1]
        if t == "--method" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def _actions(help_text: str) -> list[str]:
    """The sub-actions a command's --help lists (`--action STR  list | show | ...`, or `usage: daftrl bench a|b`);
    [] for a command without any. The --help of `daftrl zoo exprot` exits before the action is checked."""
    listed = re.search(r"--action STR\s+((?:[a-z-]+ \| )+[a-z-]+)", help_text)
    if listed:
        return listed.group(1).split(" | ")
    usage = re.search(r"usage: daftrl \w+ ((?:[a-z-]+\|)+[a-z-]+)", help_text)
    return usage.group(1).split("|") if usage else []


def test_sub_actions_are_read_from_the_help(capsys, monkeypatch):
    """The check above must see the actions of every command that has them, or it would pass anything."""
    for command, expected in {"zoo": {"list", "show", "export"}, "tasks": {"list", "show", "render"},
                              "bench": {"sac", "adapt", "cotrain"}}.items():
        assert expected <= set(_actions(_help([command], None, capsys, monkeypatch))), command
    assert _actions(_help(["adapt"], "daft", capsys, monkeypatch)) == []
    assert _method(["cotrain", "--method=vgdf", "--seed", "1"]) == "vgdf" and _method(["adapt"]) is None


@pytest.mark.parametrize(("where", "argv"), DOCUMENTED, ids=[w for w, _ in DOCUMENTED])
def test_documented_command_uses_real_flags(where, argv, capsys, monkeypatch):
    assert argv and argv[0] in COMMANDS, f"{where}: `daftrl {' '.join(argv)}` is not a daftrl command"
    flags = [t.split("=")[0] for t in argv[1:] if t.startswith("--")]
    method = _method(argv)
    positionals = next((argv[:i] for i, t in enumerate(argv) if t.startswith("--")), argv)
    text = _help(positionals, method, capsys, monkeypatch)
    actions = _actions(text)
    if actions and len(positionals) > 1:  # `zoo export ROBOT`, `tasks show NAME`, `bench cotrain`
        assert positionals[1] in actions, f"{where}: `{positionals[1]}` is not one of daftrl {argv[0]}'s {actions}"
    listed = set(re.findall(r"--[a-z0-9][a-z0-9-]*", text))
    unknown = [f for f in flags if f not in listed and f not in PRE_PARSED and f != "--help"]
    assert not unknown, f"{where}: `daftrl {' '.join(argv)}` uses {unknown}, not in `daftrl {argv[0]} --help`"
