"""daftrl: adapt pretrained RL policies to changed dynamics (DAFT and baselines).

`import daftrl` registers every target domain as a gymnasium id `daftrl/<task>-v0`; heavy modules
(JAX) load only when used.
"""

from __future__ import annotations

__version__ = "0.1.0"

try:  # TEMP while envs is being written
    from daftrl.envs import TASKS, make_env, register_envs

    register_envs()
except ImportError:
    pass

__all__ = ["TASKS", "make_env", "register_envs", "__version__"]
