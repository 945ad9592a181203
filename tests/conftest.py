"""Test-wide settings: keep all run state in a temporary $DAFTRL_HOME."""

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("DAFTRL_HOME", str(tmp_path / "daftrl-home"))
