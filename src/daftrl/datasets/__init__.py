"""Offline datasets (docs/datasets.md): build daftrl's medium datasets in Minari format, and load Minari datasets or
D4RL HDF5 files into a `ReplayBuffer`.

    from daftrl.datasets import build_dataset, load_dataset, sample_source
    build_dataset("hopper", transitions=100_000)             # $DAFTRL_HOME/datasets/daftrl/hopper/medium-v0
    data = load_dataset("daftrl/hopper/medium-v0", robot="hopper")
    d_src = sample_source(data, 100_000)                      # the latest whole episodes, for an expert's D_src

Importing this package loads numpy only; `minari`, `h5py` and JAX load when a dataset is built or read.
"""

from __future__ import annotations

from daftrl.datasets.build import build_dataset, dataset_id
from daftrl.datasets.d4rl import write_d4rl
from daftrl.datasets.data import Dataset, DatasetError, checksum, episode_returns, sample_source
from daftrl.datasets.load import datasets_root, list_datasets, load_dataset

__all__ = ["Dataset", "DatasetError", "build_dataset", "checksum", "dataset_id", "datasets_root", "episode_returns",
           "list_datasets", "load_dataset", "sample_source", "write_d4rl"]
