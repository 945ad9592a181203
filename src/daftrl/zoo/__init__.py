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


def expert_path(name: str) -> Path:
    if not has(name):
        raise ValueError(f"no bundled expert {name!r}; bundled: {', '.join(names()) or 'none yet'}")
    return ZOO_DIR / name / "expert.safetensors"


def card(name: str) -> dict:
    return json.loads((ZOO_DIR / name / "card.json").read_text())
