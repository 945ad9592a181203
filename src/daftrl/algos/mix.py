"""SAC-mix: the co-training base every simulator baseline (PAR, VGDF, DARC, SAC-IW) extends.

Co-training (notes/algorithms.md sections 6-9, 14) learns from scratch with a source simulator and the
target domain side by side: one target step every `target_every` source steps, one update per source
step on a source minibatch and a target minibatch of `batch_size` each (the PAR/VGDF/ODRL protocol).
SAC-mix is the no-correction reference: plain SAC (critic and actor) on the concatenated batches.

An update is ``SAC._update(state, target_batch, aux)`` with ``aux["src"]`` the source minibatch;
methods change the losses (`critic_loss`, `actor_loss`), train their auxiliary networks in
`pre_update` (kept with their Adam states in ``state.extra``), and may run host-side work every few
steps in `periodic` (VGDF's dynamics model). `behaviour_actor` names the actor that collects each
domain's data (VGDF's optimistic explorer collects the source data).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from daftrl.sac import SAC, Batch, SACConfig, SACState


@dataclasses.dataclass(frozen=True)
class MixConfig:
    """Hyperparameters shared by the co-training methods (PAR/VGDF/ODRL SAC: notes section 14)."""

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

    def __init__(self, config: MixConfig, obs_dim: int, act_dim: int):
        self.mix_config = config
        super().__init__(config.sac_config(), obs_dim, act_dim)

    # ------------------------------------------------------------------ state
    def init(self, seed: int) -> SACState:
        state = super().init(seed)
        return state.replace(extra=self.initial_extra(jax.random.fold_in(state.key, 0xE7)))

    def initial_extra(self, key: jax.Array) -> dict:
        """Auxiliary networks and their optimiser states (none for SAC-mix)."""
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
