"""Sizes the machine cannot hold are refused up front, with the estimate, and nothing is left behind."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections import namedtuple

import psutil
import pytest

from sim.cli.main import main
from sim.core import memory
from sim.errors import ResourceError
from sim.store.create import synthetic_world
from sim.store.worldfile import open_world, save_world

Usage = namedtuple("Usage", "total used free")


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_new_refuses_an_impossible_size_before_starting(tmp_path, capsys):
    target = tmp_path / "huge.db"
    code = main(["new", str(target), "--agents", "1000000000"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1
    assert "1,000,000,000 agents" in err[0] and "needs about" in err[0] and "GiB of memory" in err[0]
    assert "fewer agents" in err[0]
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_memory_estimate_follows_what_is_available(monkeypatch):
    need = memory.build_peak_bytes(10_000_000, 100_000_000)
    # The 10M-agent, 100M-edge world fits a machine with 24 GiB and its estimate stays in single GiB.
    assert 3 * 2**30 < need < 8 * 2**30
    vm = psutil.virtual_memory()
    monkeypatch.setattr(memory.psutil, "virtual_memory", lambda: vm._replace(available=need))
    with pytest.raises(ResourceError, match=r"needs about 5\.\d GiB of memory but only 5\.\d GiB"):
        memory.ensure_fits(10_000_000, 100_000_000)
    monkeypatch.setattr(memory.psutil, "virtual_memory", lambda: vm._replace(available=2 * need))
    assert memory.ensure_fits(10_000_000, 100_000_000) == need


def test_new_refuses_when_the_disk_is_too_small(tmp_path, capsys, monkeypatch):
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: Usage(*real(p)[:2], 10 * 2**20))  # 10 MiB free
    target = tmp_path / "w.db"
    code = main(["new", str(target), "--agents", "1000000"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "GiB of disk" in err[0] and "0.0 GiB free" in err[0]
    assert not target.exists()


def test_save_refuses_a_full_disk_and_keeps_the_previous_file(tmp_path, monkeypatch):
    world = synthetic_world("w", 2000, avg_degree=6, seed=1)
    path = tmp_path / "w.db"
    asyncio.run(save_world(world, str(path)))
    before = _digest(path)
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: Usage(*real(p)[:2], 1000))
    with pytest.raises(ResourceError, match="of disk"):
        asyncio.run(save_world(world, str(path), force=True))
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.db"]


def test_open_refuses_a_world_larger_than_memory(tmp_path, monkeypatch):
    world = synthetic_world("w", 2000, avg_degree=6, seed=1)
    path = tmp_path / "w.db"
    asyncio.run(save_world(world, str(path)))
    before = _digest(path)
    vm = psutil.virtual_memory()
    monkeypatch.setattr(memory.psutil, "virtual_memory", lambda: vm._replace(available=10_000))
    with pytest.raises(ResourceError, match="opening world .* needs about .* of memory"):
        asyncio.run(open_world(str(path)))
    monkeypatch.undo()
    assert _digest(path) == before
    assert asyncio.run(open_world(str(path))).n == 2000
