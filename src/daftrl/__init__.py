"""daftrl: adapt pretrained RL policies to changed dynamics (DAFT and baselines).

`import daftrl` registers every target domain as a gymnasium id `daftrl/<task>-v0`. Heavy modules
(JAX) load only when first used: `daftrl.Adapter` imports on access.
"""

from __future__ import annotations

from daftrl.envs import TASKS, make_env, register_envs
from daftrl.version import __version__

register_envs()


def __getattr__(name: str):
    if name == "Adapter":
        from daftrl.adapter import Adapter

        return Adapter
    raise AttributeError(f"module 'daftrl' has no attribute {name!r}")


__all__ = ["TASKS", "Adapter", "make_env", "register_envs", "__version__"]
