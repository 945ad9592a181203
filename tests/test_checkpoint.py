"""Checkpoints: round trip, and corrupt / truncated / foreign / mismatched files are rejected whole."""

import numpy as np
import pytest
from safetensors.numpy import save_file

from daftrl import checkpoint as ck
from daftrl.checkpoint import CheckpointError, flatten_tree, load_arrays, save_arrays, unflatten_like


def sample_arrays():
    return {"a/w": np.arange(12, dtype=np.float32).reshape(3, 4), "a/s": np.array(3.5, np.float32),
            "k": np.array([1, 2], np.uint32)}


def test_round_trip_keeps_shapes_dtypes_and_meta(tmp_path):
    p = tmp_path / "c.safetensors"
    save_arrays(p, sample_arrays(), kind="test", meta={"step": 7, "rng": {"x": [1, 2]}})
    arrays, meta = load_arrays(p, kind="test")
    assert meta == {"step": 7, "rng": {"x": [1, 2]}}
    for k, v in sample_arrays().items():
        assert arrays[k].shape == v.shape and arrays[k].dtype == v.dtype
        np.testing.assert_array_equal(arrays[k], v)


def test_corrupt_file_fails_checksum(tmp_path):
    p = tmp_path / "c.safetensors"
    save_arrays(p, sample_arrays(), kind="test", meta={})
    raw = bytearray(p.read_bytes())
    raw[-3] ^= 0xFF  # flip bits inside the tensor data
    p.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="checksum"):
        load_arrays(p)


def test_edited_metadata_fails_its_checksum(tmp_path):
    """The header's meta (step, RNG and env states) is covered too: a changed digit is not a silent resume."""
    p = tmp_path / "c.safetensors"
    save_arrays(p, sample_arrays(), kind="test", meta={"step": 300})
    raw = p.read_bytes()
    assert raw.count(b'\\"step\\": 300') == 1  # the meta JSON sits escaped inside the JSON header
    p.write_bytes(raw.replace(b'\\"step\\": 300', b'\\"step\\": 900'))  # same length: still valid safetensors
    with pytest.raises(CheckpointError, match="checksum of its metadata"):
        load_arrays(p)


def test_truncated_file_is_rejected(tmp_path):
    p = tmp_path / "c.safetensors"
    save_arrays(p, sample_arrays(), kind="test", meta={})
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_arrays(p)


def test_foreign_safetensors_and_wrong_kind_are_rejected(tmp_path):
    p = tmp_path / "foreign.safetensors"
    save_file({"x": np.zeros(3, np.float32)}, str(p))
    with pytest.raises(CheckpointError, match="not a daftrl checkpoint"):
        load_arrays(p)
    q = tmp_path / "c.safetensors"
    save_arrays(q, sample_arrays(), kind="actor", meta={})
    with pytest.raises(CheckpointError, match="expected 'pretrain'"):
        load_arrays(q, kind="pretrain")
    r = tmp_path / "junk.safetensors"
    r.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError):
        load_arrays(r)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_arrays(tmp_path / "missing.safetensors")


def test_failed_write_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    p = tmp_path / "c.safetensors"
    save_arrays(p, sample_arrays(), kind="test", meta={"v": 1})

    real_fsync = ck.os.fsync

    def boom(fd):  # the disk fills up after part of the file was written
        real_fsync(fd)
        raise OSError("disk full")

    monkeypatch.setattr(ck.os, "fsync", boom)
    with pytest.raises(OSError):
        save_arrays(p, {"z": np.ones(2, np.float32)}, kind="test", meta={"v": 2})
    assert load_arrays(p)[1] == {"v": 1}
    assert [f.name for f in tmp_path.iterdir()] == ["c.safetensors"]  # no temp file left behind


def test_unflatten_checks_shapes():
    tree = {"layer": {"kernel": np.zeros((4, 2), np.float32)}}
    flat = flatten_tree(tree, "p")
    assert list(flat) == ["p/layer/kernel"]
    back = unflatten_like(tree, flat, "p")
    np.testing.assert_array_equal(back["layer"]["kernel"], tree["layer"]["kernel"])
    with pytest.raises(CheckpointError, match="shape"):
        unflatten_like({"layer": {"kernel": np.zeros((5, 2), np.float32)}}, flat, "p")
    with pytest.raises(CheckpointError, match="lacks"):
        unflatten_like({"other": np.zeros(1, np.float32)}, flat, "p")


def test_describe_rejects_an_unknown_domain():
    assert ck.describe(3, 1, (8, 8), "Pendulum-v1", "target") == {"obs_dim": 3, "act_dim": 1, "hidden": [8, 8],
                                                                  "env": "Pendulum-v1", "domain": "target"}
    with pytest.raises(ValueError, match="domain"):
        ck.describe(3, 1, (8,), "x", "sim")


def deep_actor(hidden, obs_dim=5, act_dim=2):
    import jax

    from daftrl.nn import TanhGaussianActor

    return TanhGaussianActor(act_dim, hidden).init(jax.random.PRNGKey(0), np.zeros((1, obs_dim), np.float32))


def test_read_spec_of_a_file_without_the_fields_uses_the_array_shapes(tmp_path):
    """A pretraining checkpoint of an earlier version records neither sizes nor widths in its header: they come from
    the actor's kernels in layer order (here 11 hidden layers: Dense_10 comes after Dense_9, the output is Dense_11)."""
    hidden = (4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)
    arrays = flatten_tree(deep_actor(hidden), "sac/actor")
    arrays["sac/actor_opt/0/mu/params/MLP_0/Dense_0/kernel"] = np.zeros((99, 4), np.float32)  # not the actor
    meta = {"config": {"env": "ant", "domain": "target"}}
    save_arrays(tmp_path / "p.safetensors", arrays, kind="pretrain", meta=meta)
    assert ck.read_spec(tmp_path / "p.safetensors") == ck.ModelSpec("pretrain", 5, 2, hidden, "ant", "target")
    assert ck.actor_sizes({k: v.shape for k, v in arrays.items()}, "sac/actor") == (5, 2, hidden)
    with pytest.raises(CheckpointError, match="no tanh-Gaussian actor under state/actor/"):
        ck.actor_sizes({k: v.shape for k, v in arrays.items()}, "state/actor")


def test_read_spec_prefers_the_recorded_fields_and_refuses_other_kinds(tmp_path):
    arrays = flatten_tree(deep_actor((8,)), "state/actor")
    save_arrays(tmp_path / "c.safetensors", arrays, kind="cotrain", meta=ck.describe(5, 2, (8,), "hopper-x", "target"))
    assert ck.read_spec(tmp_path / "c.safetensors") == ck.ModelSpec("cotrain", 5, 2, (8,), "hopper-x", "target")
    save_arrays(tmp_path / "old.safetensors", arrays, kind="cotrain", meta={})  # its task is in its run's config.json
    assert ck.read_spec(tmp_path / "old.safetensors", run_config=lambda: {"task": "t"}).env == "t"
    with pytest.raises(CheckpointError, match="give the run directory"):
        ck.read_spec(tmp_path / "old.safetensors")
    save_arrays(tmp_path / "r.safetensors", arrays, kind="replay", meta={})
    with pytest.raises(CheckpointError, match="holds a 'replay' checkpoint; a policy loads from"):
        ck.read_spec(tmp_path / "r.safetensors")
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        ck.read_spec(tmp_path / "missing.safetensors")


def test_checkpoint_file_resolves_a_directory_in_the_callers_order(tmp_path):
    """A file is itself; a run directory gives its checkpoint, an expert directory its expert; an offline run
    directory holds both, and the caller says which comes first; an empty directory is a clear error."""
    f = tmp_path / "c.safetensors"
    assert ck.checkpoint_file(f) == f  # a file, even a missing one (its loader says it is missing)
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(CheckpointError, match="without checkpoint.safetensors or expert.safetensors"):
        ck.checkpoint_file(run)
    (run / ck.EXPERT_FILE).write_bytes(b"")
    assert ck.checkpoint_file(run) == run / ck.EXPERT_FILE
    (run / ck.RUN_CHECKPOINT).write_bytes(b"")
    assert ck.checkpoint_file(run) == run / ck.RUN_CHECKPOINT
    assert ck.checkpoint_file(run, prefer=(ck.EXPERT_FILE, ck.RUN_CHECKPOINT)) == run / ck.EXPERT_FILE
