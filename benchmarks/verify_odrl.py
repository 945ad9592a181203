"""Check daftrl's ODRL-family targets against ODRL's own XML files (not shipped with daftrl).

    git clone https://github.com/OffDynamicsRL/off-dynamics-rl   # commit 34bba73
    python benchmarks/verify_odrl.py off-dynamics-rl/envs/mujoco/assets

Every ODRL XML that current MuJoCo can load (HalfCheetah and Ant; the Hopper/Walker2d files use global
coordinates, which MuJoCo >= 2.3.3 refuses) is compiled and compared, array by array, with the
daftrl target of the same name. Exit status 1 if any differs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import mujoco

from daftrl.envs import ROBOTS, TASKS, compile_model, model_diff

ROBOT_OF = {"halfcheetah": "halfcheetah", "ant": "ant", "hopper": "hopper", "walker2d": "walker"}


def main(assets: str) -> int:
    bad = 0
    for path in sorted(Path(assets).glob("*_*_*.xml")):
        robot, *rest = path.stem.split("_")
        name = f"{ROBOT_OF.get(robot, robot)}-{'-'.join(rest)}"
        if name not in TASKS:
            continue
        try:
            theirs = mujoco.MjModel.from_xml_path(str(path))
        except ValueError as e:
            print(f"{name:40s} skipped: {str(e).splitlines()[0][:70]}")
            continue
        diff = model_diff(theirs, compile_model(ROBOTS[TASKS[name].robot], TASKS[name].shifts), atol=1e-9)
        bad += bool(diff)
        print(f"{name:40s} {'IDENTICAL' if not diff else 'DIFFERS in ' + ', '.join(sorted(diff))}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
