"""Building envs prints none of MuJoCo's settotalmass deprecation (the stock half_cheetah.xml's, whose physics daftrl
keeps), neither on the terminal nor into MUJOCO_LOG.TXT; MuJoCo's other warnings still show."""

import subprocess
import sys

BUILD = """
import mujoco
from daftrl.envs import describe_task, make_env
from daftrl.envs.make import quiet_settotalmass
for task in ("halfcheetah-no-thighs", "halfcheetah-broken-back-thigh", "hopper-big-head"):
    for domain in ("source", "target"):
        make_env(task, domain, seed=0).reset()
describe_task("halfcheetah-no-thighs")  # what `daftrl tasks show` reads
with quiet_settotalmass():  # another warning passes through the filter
    model = mujoco.MjModel.from_xml_string("<mujoco><worldbody><body><joint/><geom size='1'/></body></worldbody>"
                                           "</mujoco>")
    data = mujoco.MjData(model)
    data.qpos[0] = float("nan")
    mujoco.mj_checkPos(model, data)
print("built")
"""


def _run(code: str, cwd) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_building_envs_prints_no_settotalmass_warning(tmp_path):
    output = _run(BUILD, tmp_path)
    assert "built" in output and "settotalmass" not in output
    assert "QPOS" in output  # MuJoCo's other warnings are not swallowed
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()


def test_the_stock_model_does_warn_without_the_filter(tmp_path):
    """The control: gymnasium's own HalfCheetah-v5 prints the message, so the test above can see it."""
    output = _run("import gymnasium as gym\ngym.make('HalfCheetah-v5')\n", tmp_path)
    assert "compiler attribute 'settotalmass' is deprecated" in output
