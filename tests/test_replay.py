"""Replay buffer: ring semantics, terminated vs truncated, segments, persistence."""

import numpy as np
import pytest

from daftrl.replay import ReplayBuffer


def fill(buf, n, start=0):
    for i in range(start, start + n):
        buf.add(np.full(3, i), np.full(2, -i), float(i), np.full(3, i + 1), terminated=(i % 7 == 6),
                truncated=(i % 5 == 4))


def test_ring_buffer_overwrites_oldest():
    buf = ReplayBuffer(3, 2, capacity=10)
    fill(buf, 13)
    assert len(buf) == 10 and buf.pos == 3
    assert sorted(buf.data["rew"].tolist()) == list(range(3, 13))


def test_terminated_and_truncated_are_stored_apart():
    buf = ReplayBuffer(3, 2, capacity=20)
    fill(buf, 20)
    assert buf.data["terminated"][6] == 1 and buf.data["truncated"][6] == 0
    assert buf.data["truncated"][4] == 1 and buf.data["terminated"][4] == 0
    batch = buf.sample(np.random.default_rng(0), 64)
    # the batch carries `terminated` only: truncated steps bootstrap
    np.testing.assert_array_equal(batch.terminated, (batch.rew % 7 == 6).astype(np.float32))


def test_sample_shapes_and_determinism():
    buf = ReplayBuffer(3, 2, capacity=50)
    fill(buf, 50)
    b1 = buf.sample(np.random.default_rng(1), 8, num_batches=4)
    b2 = buf.sample(np.random.default_rng(1), 8, num_batches=4)
    assert b1.obs.shape == (4, 8, 3) and b1.act.shape == (4, 8, 2) and b1.rew.shape == (4, 8)
    np.testing.assert_array_equal(b1.obs, b2.obs)


def test_segments_are_consecutive_and_masked_after_episode_end():
    buf = ReplayBuffer(3, 2, capacity=30)
    fill(buf, 45)  # wrapped: oldest stored transition is 15
    seg, alive = buf.sample_segments(np.random.default_rng(0), 64, horizon=4)
    assert seg.rew.shape == (64, 4)
    np.testing.assert_array_equal(np.diff(seg.rew, axis=1), 1.0)  # consecutive in time
    assert seg.rew.min() >= 15
    ended = (seg.rew % 7 == 6) | (seg.rew % 5 == 4)
    for b in range(64):
        first_end = np.argmax(ended[b]) if ended[b].any() else 4
        np.testing.assert_array_equal(alive[b], (np.arange(4) <= first_end).astype(np.float32))


def test_state_dict_round_trip():
    buf = ReplayBuffer(3, 2, capacity=10)
    fill(buf, 13)
    copy = ReplayBuffer.from_state_dict(buf.state_dict())
    assert (copy.pos, copy.size, copy.capacity) == (buf.pos, buf.size, buf.capacity)
    for k in buf.data:
        np.testing.assert_array_equal(copy.data[k], buf.data[k])


def test_empty_buffer_sampling_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(3, 2, 5).sample(np.random.default_rng(0), 4)
