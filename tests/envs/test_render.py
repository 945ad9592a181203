"""`daftrl tasks render`: source and target side by side, headless."""

import numpy as np
import pytest

from daftrl.envs import render_task
from daftrl.envs.render import GAP


def test_render_source_and_target_side_by_side(tmp_path):
    out = tmp_path / "hopper-big-head.png"
    try:
        render_task("hopper-big-head", str(out), width=80, height=60)
    except RuntimeError as e:  # no EGL or OSMesa on this machine: the message says what to install
        assert "MUJOCO_GL" in str(e)
        pytest.skip(str(e))
    import imageio.v3 as iio

    image = iio.imread(out)
    assert image.shape == (60, 2 * 80 + GAP, 3)
    source, target = image[:, :80], image[:, -80:]
    assert source.std() > 0 and not np.array_equal(source, target)  # the big head shows
