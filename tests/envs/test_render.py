"""`daftrl tasks render`: source and target side by side, labelled, under the task and its shift, headless."""

import numpy as np
import pytest

from daftrl.envs import get_task, render_task
from daftrl.envs.render import GAP, SideBySide, caption, headless_gl


def _has_text(strip: np.ndarray) -> bool:
    return bool((strip < 100).any())  # dark glyphs on a light background


def test_labels_and_caption_layout():
    images = [np.zeros((60, 80, 3), np.uint8), np.full((60, 80, 3), 128, np.uint8)]
    task = get_task("hopper-big-head")
    layout = SideBySide(["source", "target"], 80, 60, caption(task))
    frame = layout(images, ["stock Hopper-v5", "hopper-big-head"])
    assert frame.shape == layout.shape and frame.shape[1] == 2 * 80 + GAP
    title = layout.title.shape[0]
    assert title > 0 and _has_text(frame[:title])  # the caption, wrapped over several lines at this width
    header = frame.shape[0] - 60
    left, right = frame[title:header, :80], frame[title:header, -80:]
    assert _has_text(left) and _has_text(right) and not np.array_equal(left, right)  # "source" / "target"
    assert np.array_equal(frame[header:, :80], images[0]) and np.array_equal(frame[header:, -80:], images[1])
    assert "head 7.6x heavier" in caption(task) and caption(task).startswith("hopper-big-head: ")
    assert SideBySide(["a"], 80, 60).title.shape[0] == 0  # no caption, no title rows


def test_render_source_and_target_side_by_side(tmp_path):
    out = tmp_path / "hopper-big-head.png"
    try:
        render_task("hopper-big-head", str(out), width=80, height=60)
    except ValueError as e:  # no EGL or OSMesa on this machine: the message says what to install
        assert "MUJOCO_GL" in str(e)
        pytest.skip(str(e))
    import imageio.v3 as iio

    image = iio.imread(out)
    layout = SideBySide(["source", "target"], 80, 60, caption(get_task("hopper-big-head")))
    assert image.shape == layout.shape
    source, target = image[-60:, :80], image[-60:, -80:]
    assert source.std() > 0 and not np.array_equal(source, target)  # the big head shows
    assert _has_text(image[: -60])


def test_no_headless_gl_is_one_clear_error(monkeypatch):
    import ctypes.util

    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.delenv("PYOPENGL_PLATFORM", raising=False)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    with pytest.raises(ValueError, match=r"neither EGL nor OSMesa.*libegl1.*MUJOCO_GL=osmesa") as e:
        headless_gl()
    assert "\n" not in str(e.value)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libOSMesa.so.8" if name == "OSMesa" else None)
    assert headless_gl() == "osmesa"  # the fallback, with PyOpenGL told so
    import os

    assert os.environ["MUJOCO_GL"] == "osmesa" and os.environ["PYOPENGL_PLATFORM"] == "osmesa"
