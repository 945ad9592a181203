"""The zip file `model.save()` writes in Stable-Baselines3 and SBX, read without running anything from it.

The zip holds `data` (JSON: the algorithm's attributes; those JSON cannot express are cloudpickled, marked
":serialized:"), `_stable_baselines3_version`, `system_info.txt` and, for SB3, `policy.pth` and
`pytorch_variables.pth` (torch tensors). Plain JSON fields are read as they are; a ":serialized:" field only through
`daftrl.importers.safe_pickle`, which builds numpy arrays and inert records of everything else (cloudpickle is never
called). `read_sac` tells SB3's SAC from SBX's by the policy class the save names, and refuses the rest.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from daftrl.importers import safe_pickle

SAC_POLICIES = {"stable_baselines3.sac.policies.SACPolicy": "stable-baselines3", "sbx.sac.policies.SACPolicy": "sbx"}
"""Policy classes this imports, by the `module.name` a save records -> the library that wrote it."""
_REFUSED = {
    "stable_baselines3.sac.policies.MultiInputPolicy": "a SAC on dict observations",
    "stable_baselines3.sac.policies.CnnPolicy": "a SAC on image observations",
    "stable_baselines3.td3.policies.TD3Policy": "a TD3 or DDPG agent",
    "stable_baselines3.common.policies.ActorCriticPolicy": "a PPO or A2C agent",
    "sb3_contrib.tqc.policies.TQCPolicy": "a TQC agent",
}


@dataclasses.dataclass
class SaveFile:
    """An SB3/SBX zip save: its path, checksum, `data` fields and the other entries' names."""

    path: Path
    sha256: str
    data: dict
    entries: frozenset[str]
    sb3_version: str
    system_info: dict

    @classmethod
    def open(cls, path: str | Path) -> SaveFile:
        path = Path(path).expanduser().absolute()
        if not path.is_file():
            raise ValueError(f"no file {str(path)!r}: give the .zip that model.save() wrote")
        raw = path.read_bytes()
        try:
            with zipfile.ZipFile(path) as z:
                entries = frozenset(z.namelist())
                if "data" not in entries:
                    raise ValueError(f"{path} has no `data` entry: it is not a Stable-Baselines3 / SBX save")
                data = json.loads(z.read("data"))
                version = z.read("_stable_baselines3_version").decode().strip() \
                    if "_stable_baselines3_version" in entries else "unknown"
                info = z.read("system_info.txt").decode(errors="replace") if "system_info.txt" in entries else ""
        except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, zlib.error, EOFError, OSError) as e:
            raise ValueError(f"{path} is not a readable Stable-Baselines3 / SBX save ({type(e).__name__}: {e}); it "
                             "may be damaged: give the .zip that model.save() wrote") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: its `data` entry is not a JSON object; it is not a Stable-Baselines3 save")
        system = dict(line.lstrip("- ").split(": ", 1) for line in info.splitlines() if ": " in line)
        return cls(path, hashlib.sha256(raw).hexdigest(), data, entries, version, system)

    def read(self, name: str) -> bytes:
        with zipfile.ZipFile(self.path) as z:
            return z.read(name)

    def field(self, key: str, default: Any = None) -> Any:
        """A `data` field: plain JSON as is, a cloudpickled one through `safe_pickle` (inert records, arrays)."""
        value = self.data.get(key, default)
        if isinstance(value, dict) and ":serialized:" in value:
            try:
                blob = base64.b64decode(value[":serialized:"], validate=True)
            except (binascii.Error, ValueError, TypeError):
                raise ValueError(f"{self.path}: its `{key}` field is not valid base64") from None
            return safe_pickle.load(blob, f"{self.path}: the `{key}` field")
        return value

    def box(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) of the Box space in `data[key]` (ValueError for any other space)."""
        space = self.field(key)
        kind = safe_pickle.class_name(space)
        if kind not in ("gymnasium.spaces.box.Box", "gym.spaces.box.Box"):
            raise ValueError(f"{self.path}: its {key.replace('_', ' ')} is a {kind or type(space).__name__}; daftrl "
                             "experts act on flat continuous (Box) spaces")
        attrs = safe_pickle.attributes(space)
        low, high = (np.asarray(attrs.get(k)) for k in ("low", "high"))
        if low.dtype.kind != "f" or low.shape != high.shape or low.ndim != 1:
            raise ValueError(f"{self.path}: its {key.replace('_', ' ')} is not a flat Box (bounds of shape "
                             f"{low.shape}); daftrl experts take flat observations and actions")
        return low.astype(np.float64), high.astype(np.float64)

    def policy_class(self) -> str:
        """`module.name` of the policy class the save records ('' if none)."""
        cls = self.field("policy_class")
        return getattr(cls, "pickle_name", "") if isinstance(cls, type) else safe_pickle.class_name(cls)

    def provenance(self, library: str) -> dict:
        return {"library": library, "file": str(self.path), "sha256": self.sha256, "sb3_version": self.sb3_version,
                "system_info": self.system_info, "num_timesteps": self.data.get("num_timesteps"),
                "seed": self.data.get("seed"), "gamma": self.data.get("gamma")}
