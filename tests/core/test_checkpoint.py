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
