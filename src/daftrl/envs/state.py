"""Capture and restore a live gymnasium env mid-episode, so a resumed run continues exactly.

Saved: the simulator state (MuJoCo's full integration state, incl. solver warm-start, via
`mj_getState`; or a classic-control env's `state`), the env's `np_random` generator state and the
TimeLimit step counter. The caller saves the current observation and episode statistics itself.

MuJoCo detail: after `mj_step`, position-derived quantities (body `xpos`, contact forces, ...) belong
to the state *before* the integration, and envs read them (Ant's x velocity uses the torso `xpos`
before and after the step). Recomputing them with `mj_forward` at the restored state would shift them
by one step, so they are saved and written back verbatim.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

# Fixed-size, position/velocity-derived mjData fields that gymnasium's envs may read before a step.
MJ_DERIVED = (
    "xpos", "xquat", "xmat", "xipos", "ximat", "xanchor", "xaxis", "geom_xpos", "geom_xmat",
    "site_xpos", "site_xmat", "subtree_com", "cinert", "cdof", "cvel", "cacc", "cfrc_int", "cfrc_ext",
    "qfrc_bias", "qfrc_passive", "qfrc_actuator", "qfrc_constraint", "actuator_force", "sensordata",
)


def _time_limit(env: gym.Env):
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.TimeLimit):
            return env
        env = env.env
    return None


def capture_env_state(env: gym.Env) -> tuple[dict[str, np.ndarray], dict]:
    """Arrays and JSON metadata describing `env`'s current state."""
    base = env.unwrapped
    arrays: dict[str, np.ndarray] = {}
    if hasattr(base, "model") and hasattr(base, "data"):
        import mujoco

        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        state = np.empty(mujoco.mj_stateSize(base.model, spec), np.float64)
        mujoco.mj_getState(base.model, base.data, state, spec)
        arrays["env/mj_state"] = state
        for name in MJ_DERIVED:
            arrays[f"env/mj/{name}"] = np.array(getattr(base.data, name))
    elif hasattr(base, "state"):
        arrays["env/state"] = np.array(base.state, np.float64)
    else:
        raise TypeError(f"cannot checkpoint the state of {type(base).__name__} (neither MuJoCo nor `state`)")
    limit = _time_limit(env)
    meta = {
        "np_random": base.np_random.bit_generator.state,
        "elapsed_steps": None if limit is None else int(limit._elapsed_steps),
    }
    return arrays, meta


def restore_env_state(env: gym.Env, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Put a freshly built, already reset env into the captured state."""
    base = env.unwrapped
    if "env/mj_state" in arrays:
        import mujoco

        mujoco.mj_setState(base.model, base.data, arrays["env/mj_state"], mujoco.mjtState.mjSTATE_INTEGRATION)
        mujoco.mj_forward(base.model, base.data)
        for name in MJ_DERIVED:
            getattr(base.data, name)[...] = arrays[f"env/mj/{name}"]
    else:
        base.state = np.array(arrays["env/state"])
    base.np_random.bit_generator.state = meta["np_random"]
    limit = _time_limit(env)
    if limit is not None and meta["elapsed_steps"] is not None:
        limit._elapsed_steps = meta["elapsed_steps"]
