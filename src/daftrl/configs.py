"""Run and method configs as JSON: a config dataclass to a dict (`config_to_dict`, `json_ready`) and back
(`config_from_dict`, which reads the options of earlier daftrl versions under their new names), and the check of a
run config's counts (`check_counts`). config.json of a run directory, an `Adapter` save and the results store hold
configs this way."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable

RENAMED_OPTIONS = {"tensorboard": lambda on: {"logger": ["tensorboard"] if on else []}}
"""Run options of earlier daftrl versions -> what they are now, so their runs still resume (`config_from_dict`)."""


def check_counts(cfg, *names: str) -> None:
    """ValueError naming the flag if one of these integer options of a run config is < 1 (None is allowed:
    the default is used), before anything is written or computed."""
    for name in names:
        value = getattr(cfg, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")


def json_ready(d: dict) -> dict:
    """`d` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(d, default=list))


def config_to_dict(cfg) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def config_from_dict(cls, d: dict, extra: Iterable[str] = ()):
    """Rebuild a config dataclass saved as JSON by `config_to_dict` (a run's or a method's): nested config
    dataclasses are rebuilt and lists become tuples where the field's default is a tuple (JSON has no tuples).
    TypeError for a key that is neither a field nor in `extra` (what config.json holds beside the run options,
    e.g. "method_config"): an option of another daftrl version must not be dropped silently. Options renamed since
    (RENAMED_OPTIONS) are read under their new name."""
    fields = {f.name for f in dataclasses.fields(cls)}
    for old, new in RENAMED_OPTIONS.items():
        if old in d and old not in fields:
            d = {**{k: v for k, v in d.items() if k != old}, **new(d[old])}
    unknown = set(d) - fields - set(extra)
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(sorted(unknown))}")
    defaults = cls()
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in d:
            continue
        value, default = d[f.name], getattr(defaults, f.name)
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            value = config_from_dict(type(default), value)
        elif isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)
