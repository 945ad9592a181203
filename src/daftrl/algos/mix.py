"""SAC-mix: the co-training base every simulator baseline (PAR, VGDF, DARC, SAC-IW) extends.

Co-training learns from scratch with a source simulator and the target domain side by side (the
PAR/VGDF/ODRL protocol, docs/cotraining.md): one update per source step on a source and a target minibatch.
SAC-mix is the no-correction reference, SAC (Haarnoja et al., 2018) on the concatenated batch B = [B_src; B_tar]:

    J_Q = E_B sum_j (Q_j(s, a) - y)^2,   J_pi = E_B [alpha log pi(a~|s) - min_j Q_j(s, a~)].

Methods change the losses, train auxiliary networks in `pre_update` (kept in `state.extra`, created by
`init_auxiliary`), run host-side work in `periodic`, and name each domain's data collector in
`behaviour_actor`. Differences from the reference code: docs/assumptions.md.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from daftrl.replay import Batch
from daftrl.sac import SAC, SACConfig, SACState


@dataclasses.dataclass(frozen=True)
class SACMixConfig:
    """Hyperparameters shared by the co-training methods (the SAC of the PAR, VGDF and ODRL code)."""

    hidden: tuple[int, ...] = (256, 256)
    batch_size: int = 128
    """Minibatch size per domain (128 source + 128 target)."""
    source_batch_size: int | None = None
    """Source rows per update if different from batch_size (DARC: 256, as ODRL)."""
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 5e-3
    alpha: float = 0.2
    """Entropy temperature (fixed, as in PAR, VGDF and ODRL)."""
    learn_alpha: bool = False
    src_action_noise: float = 0.2
    """Gaussian noise std added to the sampled source action (PAR `expl_noise`, ODRL; the VGDF code adds none;
    clipped to [-1, 1])."""
    buffer_size: int = 1_000_000
    """Capacity of each replay buffer."""

    def sac_config(self) -> SACConfig:
        return SACConfig(hidden=tuple(self.hidden), actor_lr=self.actor_lr, critic_lr=self.critic_lr,
                         alpha_lr=self.actor_lr, gamma=self.gamma, tau=self.tau, batch_size=self.batch_size,
                         init_alpha=self.alpha, learn_alpha=self.learn_alpha)


def concat_batches(a: Batch, b: Batch) -> Batch:
    """Rows of `a` then rows of `b` (source first, as in the reference code)."""
    return Batch(*(jnp.concatenate([x, y], axis=0) for x, y in zip(a, b, strict=True)))


class SACMix(SAC):
    """Plain SAC on [source batch; target batch]: no correction for the dynamics gap."""

    name = "sac-mix"
    method_config: SACMixConfig
    """The method's own hyperparameters (`self.config` is the SAC core's SACConfig built from them)."""

    def __init__(self, config: SACMixConfig, obs_dim: int, act_dim: int):
        self.method_config = config
        super().__init__(config.sac_config(), obs_dim, act_dim)

    # ------------------------------------------------------------------ state
    def init(self, seed: int) -> SACState:
        state = super().init(seed)
        return state.replace(extra=self.init_auxiliary(jax.random.fold_in(state.key, 0xE7)))

    def init_auxiliary(self, key: jax.Array) -> dict:
        """Fresh auxiliary networks and their optimiser states, kept in `state.extra` (none for SAC-mix)."""
        del key
        return {}

    # ------------------------------------------------------------------ acting and host-side work
    def behaviour_actor(self, state: SACState, domain: str):
        """Parameters of the actor that collects data in `domain` ("source" or "target")."""
        del domain
        return state.actor

    def periodic(self, state: SACState, target_buffer, rng: np.random.Generator, step: int) -> tuple[SACState, dict]:
        """Host-side work after update `step` (e.g. refit a model); returns (state, info to log)."""
        del target_buffer, rng, step
        return state, {}

    def host_state(self) -> dict:
        """JSON-able host state to checkpoint besides `state` (e.g. a model's early-stopping counters)."""
        return {}

    def load_host_state(self, meta: dict) -> None:
        del meta

    # ------------------------------------------------------------------ losses
    def critic_loss(self, critic, state: SACState, batch: Batch, key, aux: Any = None):
        return super().critic_loss(critic, state, concat_batches(aux["src"], batch), key, aux)

    def actor_loss(self, actor, state: SACState, batch: Batch, key, aux: Any = None):
        return super().actor_loss(actor, state, concat_batches(aux["src"], batch), key, aux)

