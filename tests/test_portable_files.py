"""Committed files that travel between machines (zoo cards, result records) hold no absolute path of the machine
they were made on: commands read `daftrl ...`, homes read `~`."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ABSOLUTE = re.compile(r"(?<![\w.~$])/(?:root|home|work|tmp|Users|private|var)/")
FILES = sorted(ROOT.glob("src/daftrl/zoo/*/card.json")) + sorted(ROOT.glob("results/**/*.json"))


def _strings(x):
    if isinstance(x, dict):
        for v in x.values():
            yield from _strings(v)
    elif isinstance(x, list):
        for v in x:
            yield from _strings(v)
    elif isinstance(x, str):
        yield x


def test_there_are_files_to_check():
    assert any(p.name == "card.json" for p in FILES) and any(p.parent.parent.parent.name == "results" or
                                                               "results" in p.parts for p in FILES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_machine_paths(path):
    bad = [s for s in _strings(json.loads(path.read_text())) if ABSOLUTE.search(s)]
    assert not bad, f"{path.relative_to(ROOT)} holds absolute paths: {bad[:3]}"


def test_the_pattern_catches_what_it_should():
    assert ABSOLUTE.search("/work/main/src/daftrl/cli.py zoo export")
    assert ABSOLUTE.search("run --run /root/.daftrl/runs/x")
    assert not ABSOLUTE.search("~/.daftrl/runs/x") and not ABSOLUTE.search("daftrl zoo export walker")


MACHINE = re.compile(r"(?<![\w.~$])/(?:root|home|work|Users|private)/")  # /tmp/... in an example command is fine
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_name_no_path_of_the_machine_they_were_written_on(path):
    bad = [line for line in path.read_text().splitlines() if MACHINE.search(line)]
    assert not bad, f"{path.relative_to(ROOT)}: {bad[0][:200]}"
