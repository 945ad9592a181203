"""Test-wide settings: keep all run state in a temporary $DAFTRL_HOME."""

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("DAFTRL_HOME", str(tmp_path / "daftrl-home"))


def random_expert(obs_dim=3, act_dim=1, hidden=(32, 32), n_source=500, seed=0):
    """An untrained 'expert' with a random source buffer: for loss and plumbing tests."""
    import numpy as np

    from daftrl.experts import Expert
    from daftrl.replay import ReplayBuffer
    from daftrl.sac import SAC, SACConfig

    state = SAC(SACConfig(hidden=hidden), obs_dim, act_dim).init(seed)
    rng = np.random.default_rng(seed)
    src = ReplayBuffer(obs_dim, act_dim, n_source)
    src.add_many(obs=rng.normal(size=(n_source, obs_dim)), act=rng.uniform(-1, 1, (n_source, act_dim)),
                 rew=rng.normal(size=n_source), next_obs=rng.normal(size=(n_source, obs_dim)),
                 terminated=np.zeros(n_source), truncated=(np.arange(n_source) % 50 == 49).astype(float))
    return Expert("random", "Pendulum-v1", obs_dim, act_dim, hidden, state.actor, state.critic,
                  float(np.log(0.2)), src)


@pytest.fixture(scope="session")
def pendulum_expert(tmp_path_factory):
    """A real SAC expert on Pendulum-v1 (about a minute of training), shared by the learning tests."""
    from daftrl.loops import PretrainConfig, pretrain
    from daftrl.sac import SACConfig

    run = tmp_path_factory.mktemp("pendulum-expert")
    sac = SACConfig(actor_lr=1e-3, critic_lr=1e-3)  # the paper preset with lr 1e-3: learns in ~5000 steps
    result = pretrain(PretrainConfig(env="Pendulum-v1", steps=6000, warmup_steps=1000, eval_every=6000,
                                     eval_episodes=10, sac=sac, run_dir=str(run)), quiet=True)
    return run, result
