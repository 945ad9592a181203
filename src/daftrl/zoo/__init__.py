"""The bundled source experts: `src/daftrl/zoo/<robot>/expert.safetensors` + `card.json`."""

from __future__ import annotations

import json
from pathlib import Path

ZOO_DIR = Path(__file__).resolve().parent


def names() -> list[str]:
    """Robots with a bundled expert."""
    return sorted(p.parent.name for p in ZOO_DIR.glob("*/expert.safetensors"))


def has(name: str) -> bool:
    return (ZOO_DIR / name / "expert.safetensors").is_file()


def check(name: str) -> None:
    """Raise ValueError, naming the bundled robots, unless `name` has a bundled expert."""
    if not name:
        raise ValueError(f"name a robot; bundled: {', '.join(names()) or 'none yet'}")
    if not has(name):
        raise ValueError(f"no bundled expert {name!r}; bundled: {', '.join(names()) or 'none yet'}")


def expert_path(name: str) -> Path:
    check(name)
    return ZOO_DIR / name / "expert.safetensors"


def card(name: str) -> dict:
    """The card of a bundled expert (ValueError for a robot without one)."""
    check(name)
    return json.loads((ZOO_DIR / name / "card.json").read_text())
