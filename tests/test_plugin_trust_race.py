"""A trusted plugin folder is imported from the bytes that were hashed (issue 45).

``agora plugins trust WORLD`` remembers a hash of the folder beside a world; every later command hashes
it again and loads it only when the hash matches. The files used to be read a second time, by path, to
import them: a file swapped between the two reads ran although it was never trusted (2 of 18 runs with a
swap every 2 ms). Here the swap is made deterministic: the moment the hash is finished (its
``hexdigest``), the plugin file on disk is replaced with code that was never trusted. That code must never
run, in this process or in a sweep worker the folder is handed to.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from pathlib import Path

import pytest

from sim.model import registry as reg
from sim.model.registry import (
    Registry,
    TrustedFolder,
    plugin_folder_trust,
    trust_plugin_folder,
    world_plugin_folders,
)

PLUGIN = """
from pathlib import Path
from sim.plugin import PropagationModel

Path({marker!r}).write_text({who!r})


class Racer(PropagationModel):
    name = "racer"
    description = {who!r}

    def step(self, ctx):
        raise NotImplementedError
"""


@pytest.fixture
def folder(tmp_path, monkeypatch) -> tuple[Path, Path, Path]:
    """A world's plugin folder with one trusted plugin (its trust kept in a config folder of this test)."""
    monkeypatch.setenv(reg.CONFIG_ENV, str(tmp_path / "config"))
    monkeypatch.delenv(reg.ENV_VAR, raising=False)
    world = tmp_path / "w.db"
    world.write_bytes(b"")  # only its name matters: the folder beside it
    plugins = tmp_path / "w.plugins"
    plugins.mkdir()
    marker = tmp_path / "ran.txt"
    (plugins / "racer.py").write_text(PLUGIN.format(marker=str(marker), who="trusted"))
    trust_plugin_folder(str(world))
    assert plugin_folder_trust(str(plugins)) == "trusted"
    return world, plugins, marker


def swap_right_after_hashing(monkeypatch, file: Path, evil: str) -> threading.Event:
    """From now on, each SHA-256 of this module swaps ``file`` for ``evil`` code the moment its hash is
    finished (on a thread, waited for: the swap is done before the hash is returned). Returns an event set
    once a swap happened."""
    swapped = threading.Event()
    real = hashlib.sha256

    def swap() -> None:
        file.write_text(evil)
        swapped.set()

    class Swapping:
        def __init__(self, *args):
            self._h = real(*args)

        def update(self, data):
            self._h.update(data)

        def hexdigest(self):
            digest = self._h.hexdigest()
            t = threading.Thread(target=swap)
            t.start()
            t.join()
            return digest

    monkeypatch.setattr(reg.hashlib, "sha256", Swapping)
    return swapped


def test_a_file_swapped_after_the_hash_never_runs(folder, monkeypatch):
    world, plugins, marker = folder
    evil = PLUGIN.format(marker=str(marker), who="swapped")
    swapped = swap_right_after_hashing(monkeypatch, plugins / "racer.py", evil)
    extra, notice = world_plugin_folders(str(world))  # hashed (matching what was trusted), then swapped
    assert swapped.is_set() and (plugins / "racer.py").read_text() == evil
    assert notice is None and extra == [str(plugins)]
    registry = Registry(extra, builtins=False, entry_points=False, env=False)  # as every command builds it
    assert registry.get("racer").description == "trusted"
    assert marker.read_text() == "trusted", "the swapped file ran"
    registry.reload()  # a reload imports the trusted bytes again, not the file
    assert registry.get("racer").description == "trusted" and marker.read_text() == "trusted"
    # The swapped folder is not trusted as it is now: the next command says so and loads nothing.
    monkeypatch.undo()
    monkeypatch.setenv(reg.CONFIG_ENV, str(world.parent / "config"))
    extra, notice = world_plugin_folders(str(world))
    assert extra == [] and "changed since you trusted it" in notice


def test_sweep_workers_get_the_trusted_bytes_too(folder):
    """A sweep hands its registry's folders to worker processes (pickled): they carry the bytes."""
    world, plugins, marker = folder
    (extra,), _ = world_plugin_folders(str(world))
    assert isinstance(extra, TrustedFolder)
    (plugins / "racer.py").write_text(PLUGIN.format(marker=str(marker), who="swapped"))
    copy = pickle.loads(pickle.dumps(Registry([extra], builtins=False, entry_points=False, env=False).user_dirs))
    assert copy == [str(plugins)] and isinstance(copy[0], TrustedFolder)
    worker = Registry(copy, builtins=False, entry_points=False, env=False)
    assert worker.get("racer").description == "trusted" and marker.read_text() == "trusted"


def test_ray_workers_get_the_trusted_bytes_too(folder):
    """A Ray sweep ships the plugin folders' files with the world: those of a trusted folder are its bytes."""
    from sim.runs.transport import ray_payload
    from sim.store.create import synthetic_world

    world, plugins, marker = folder
    (extra,), _ = world_plugin_folders(str(world))
    (plugins / "racer.py").write_text(PLUGIN.format(marker=str(marker), who="swapped"))
    payload = ray_payload(synthetic_world("w", 50, avg_degree=4, seed=1), [extra])
    ((name, source),) = payload["plugins"][0]
    assert name == "racer.py" and b"'trusted'" in source and b"swapped" not in source


def test_tracebacks_show_the_lines_that_ran(folder, tmp_path):
    """A failing trusted plugin's traceback quotes the trusted bytes, not what the file holds now."""
    world, plugins, marker = folder
    (plugins / "racer.py").write_text("raise RuntimeError('trusted failure')  # the line that ran\n")
    trust_plugin_folder(str(world))
    (extra,), _ = world_plugin_folders(str(world))
    (plugins / "racer.py").write_text("x = 1  # written later\n")
    registry = Registry([extra], builtins=False, entry_points=False, env=False)
    (failure,) = registry.failures
    assert "trusted failure" in failure.error and "# the line that ran" in failure.traceback
    assert "written later" not in failure.traceback
