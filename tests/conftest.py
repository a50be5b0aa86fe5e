from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def data_file(name: str) -> Path:
    """A shared real network (../shared/data), or skip when the checkout has none beside it."""
    path = DATA / name
    if not path.exists():
        pytest.skip(f"shared dataset {name} not found at {path}")
    return path


@pytest.fixture
def small_world():
    from sim.create import synthetic_world

    return synthetic_world("small", 3000, avg_degree=8, seed=7)


@pytest.fixture(autouse=True)
def _saves_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("AGORA_SAVES", str(tmp_path / "saves"))
    # The LLM is offline in tests unless a test points it at its own local server.
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AGORA_LLM_MODEL", "AGORA_LLM_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    yield
