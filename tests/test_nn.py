"""Networks: tanh-Gaussian log-probability against a numerical reference, ensemble shapes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from daftrl.nn import QEnsemble, TanhGaussianActor, tanh_gaussian_log_prob, tanh_gaussian_sample


def reference_log_prob(a: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float:
    """Change of variables in float64: p(a) = N(atanh a; mean, std) / prod(1 - a^2)."""
    u = np.arctanh(a)
    gauss = -0.5 * ((u - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
    return float(np.sum(gauss - np.log1p(-(a**2))))


@pytest.mark.parametrize("mean,log_std", [(0.0, 0.0), (1.5, -1.0), (-0.7, 0.5), (2.5, -3.0)])
def test_log_prob_matches_change_of_variables(mean, log_std):
    u = jnp.array([[0.3, -1.2, 2.0]], jnp.float32) * np.exp(log_std) + mean
    m = jnp.full_like(u, mean)
    ls = jnp.full_like(u, log_std)
    got = float(tanh_gaussian_log_prob(u, m, ls)[0])
    ref = reference_log_prob(np.tanh(np.asarray(u, np.float64))[0], np.full(3, mean), np.full(3, np.exp(log_std)))
    assert got == pytest.approx(ref, rel=1e-4, abs=1e-3)


def test_density_integrates_to_one():
    """The 1-D density exp(log pi(a)) integrates to 1 over (-1, 1)."""
    a = np.linspace(-1 + 1e-6, 1 - 1e-6, 200_001)
    u = jnp.asarray(np.arctanh(a)[:, None], jnp.float32)
    logp = np.asarray(tanh_gaussian_log_prob(u, jnp.full_like(u, 0.4), jnp.full_like(u, -0.5)), np.float64)
    assert np.trapezoid(np.exp(logp), a) == pytest.approx(1.0, abs=2e-3)


def test_sample_is_squashed_and_consistent():
    key = jax.random.PRNGKey(0)
    mean = jnp.zeros((1000, 2))
    log_std = jnp.full((1000, 2), -0.5)
    a, logp = tanh_gaussian_sample(mean, log_std, key)
    assert a.shape == (1000, 2) and logp.shape == (1000,)
    assert float(jnp.abs(a).max()) <= 1.0
    # away from saturation, atanh recovers the pre-squash sample and its log-probability
    ok = np.asarray(jnp.abs(a).max(axis=1) < 0.95)
    u = jnp.arctanh(a)
    np.testing.assert_allclose(np.asarray(logp)[ok], np.asarray(tanh_gaussian_log_prob(u, mean, log_std))[ok],
                               rtol=1e-3, atol=1e-3)


def test_actor_clamps_log_std():
    actor = TanhGaussianActor(act_dim=3, hidden=(8,), log_std_min=-1.0, log_std_max=0.5)
    params = actor.init(jax.random.PRNGKey(0), jnp.zeros((1, 4)))
    params = jax.tree.map(lambda x: x * 1000.0, params)  # huge outputs
    _, log_std = actor.apply(params, jax.random.normal(jax.random.PRNGKey(1), (16, 4)))
    assert float(log_std.min()) >= -1.0 and float(log_std.max()) <= 0.5


@pytest.mark.parametrize("members", [1, 2, 5])
def test_q_ensemble_members_are_independent(members):
    q = QEnsemble(num_members=members, hidden=(16, 16))
    obs, act = jnp.ones((7, 3)), jnp.ones((7, 2))
    params = q.init(jax.random.PRNGKey(0), obs, act)
    out = q.apply(params, obs, act)
    assert out.shape == (members, 7)
    if members > 1:
        assert len(np.unique(np.asarray(out[:, 0]))) == members
