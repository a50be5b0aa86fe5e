"""Files are data: a ``<world>.plugins/`` folder that came with a world (an unzipped share) is code, and
Agora runs it only when the user names it (``--plugins``, ``AGORA_PLUGINS``) or trusted it
(``sim.model.registry.trust_plugin_folder``, remembered outside the world by the folder's real path and a
hash of its files: a changed folder must be trusted again). A folder left out is said once on stderr,
with how to load it.

The folder's plugin writes a marker file when it is imported: the marker says whether its code ran.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from inprocess import run_cli

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = """
import pathlib
pathlib.Path({marker!r}).write_text("the shared world's plugin ran")
from plugins.ic import IndependentCascade

class Shared(IndependentCascade):
    name = "shared_model"
    description = "came with the world"
"""


def agora(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k != "AGORA_PLUGINS"}
    e.update(env or {})
    return run_cli(args, cwd=ROOT, env=e, timeout=300)


@pytest.fixture(scope="module")
def base_world(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("pluginworld")
    assert agora("new", str(d / "w.db"), "--agents", "400").returncode == 0
    return d / "w.db"


@pytest.fixture
def shared(tmp_path, base_world, monkeypatch):
    """A world unzipped with its plugin folder, and a user whose Agora settings live in tmp_path/config."""
    world = tmp_path / "shared.db"
    world.write_bytes(base_world.read_bytes())
    folder = tmp_path / "shared.plugins"
    folder.mkdir()
    marker = tmp_path / "RAN"
    (folder / "shared_model.py").write_text(PLUGIN.format(marker=str(marker)))
    config = tmp_path / "config"
    monkeypatch.setenv("AGORA_CONFIG_HOME", str(config))
    return world, folder, marker, {"AGORA_CONFIG_HOME": str(config)}


def notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("agora: note: plugin folder")]


def test_run_and_sweep_do_not_run_a_folder_that_came_with_the_world(shared):
    world, folder, marker, env = shared
    r = agora("run", str(world), "--inject", "hello", "--steps", "2", env=env)
    assert r.returncode == 0, r.stderr
    assert not marker.exists()
    said = notes(r.stderr)
    assert len(said) == 1 and str(folder) in said[0] and f"--plugins {folder}" in said[0]
    assert f"agora plugins trust {world}" in said[0]
    r = agora("run", str(world), "--inject", "hello", "--steps", "2", "--model", "shared_model", env=env)
    assert r.returncode == 2 and "unknown model 'shared_model'" in r.stderr and not marker.exists()
    r = agora("sweep", str(world), "--runs", "2", "--steps", "2", "--workers", "1", "--grid", "p=0.1,0.2", env=env)
    assert r.returncode == 0, r.stderr
    assert not marker.exists() and len(notes(r.stderr)) == 1
    r = agora("run", str(world), "--inject", "hello", "--steps", "2", "--runs", "2", env=env)
    assert r.returncode == 0 and not marker.exists() and len(notes(r.stderr)) == 1


def test_a_named_folder_is_loaded(shared):
    world, folder, marker, env = shared
    r = agora(
        "run",
        str(world),
        "--inject",
        "hello",
        "--steps",
        "2",
        "--model",
        "shared_model",
        "--plugins",
        str(folder),
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert marker.exists() and not notes(r.stderr)
    marker.unlink()
    r = agora(
        "run",
        str(world),
        "--inject",
        "hi",
        "--steps",
        "1",
        "--model",
        "shared_model",
        env={**env, "AGORA_PLUGINS": str(folder)},
    )
    assert r.returncode == 0 and marker.exists() and not notes(r.stderr)


def test_a_trusted_folder_is_loaded_until_it_changes(shared, tmp_path):
    from sim.model.registry import plugin_folder_trust, trust_file, trust_plugin_folder, untrust_plugin_folder

    world, folder, marker, env = shared
    record = trust_plugin_folder(str(world))
    assert record["folder"] == str(folder.resolve()) and record["files"] == 1
    assert Path(trust_file()).is_file() and Path(trust_file()).parent == tmp_path / "config"
    assert not any(p.name == "trusted.json" for p in tmp_path.iterdir())  # never beside the world
    assert plugin_folder_trust(str(folder)) == "trusted"
    r = agora("run", str(world), "--inject", "hello", "--steps", "2", "--model", "shared_model", env=env)
    assert r.returncode == 0, r.stderr
    assert marker.exists() and not notes(r.stderr)
    marker.unlink()
    # An edit (a new file, here) after it was trusted: not loaded until trusted again.
    (folder / "helper.py").write_text("# added later\n")
    assert plugin_folder_trust(str(folder)) == "changed"
    r = agora("run", str(world), "--inject", "hello", "--steps", "2", env=env)
    assert r.returncode == 0 and not marker.exists()
    said = notes(r.stderr)
    assert len(said) == 1 and "changed since you trusted it" in said[0]
    trust_plugin_folder(str(folder))
    assert agora("run", str(world), "--inject", "x", "--steps", "1", "--model", "shared_model", env=env).returncode == 0
    assert marker.exists()
    assert untrust_plugin_folder(str(world)) and plugin_folder_trust(str(folder)) == "untrusted"


def test_trust_is_kept_by_real_path_so_a_copy_elsewhere_is_not_trusted(shared, tmp_path):
    from sim.model.registry import plugin_folder_trust, trust_plugin_folder, world_plugin_folders

    world, folder, marker, env = shared
    trust_plugin_folder(str(folder))
    other = tmp_path / "elsewhere"
    other.mkdir()
    copy_world = other / "shared.db"
    copy_world.write_bytes(world.read_bytes())
    (other / "shared.plugins").mkdir()
    (other / "shared.plugins" / "shared_model.py").write_text((folder / "shared_model.py").read_text())
    assert plugin_folder_trust(str(other / "shared.plugins")) == "untrusted"
    extra, notice = world_plugin_folders(str(copy_world))
    assert extra == [] and "was not loaded" in notice
    assert world_plugin_folders(str(world)) == ([str(folder)], None)
    assert world_plugin_folders(str(tmp_path / "none.db")) == ([], None)


def test_a_missing_folder_cannot_be_trusted(tmp_path, monkeypatch):
    from sim.errors import BadParameterError
    from sim.model.registry import trust_plugin_folder

    monkeypatch.setenv("AGORA_CONFIG_HOME", str(tmp_path / "config"))
    with pytest.raises(BadParameterError, match="no plugin folder"):
        trust_plugin_folder(str(tmp_path / "nothing.db"))


def test_agora_plugins_trust_and_untrust(shared):
    """The trust step from the command line: the note a run prints names it, and it works."""
    import json

    world, folder, marker, env = shared
    r = agora("run", str(world), "--inject", "x", "--steps", "1", env=env)
    assert f"agora plugins trust {world}" in notes(r.stderr)[0] and not marker.exists()
    r = agora("plugins", "trust", str(world), "--json", env=env)
    assert r.returncode == 0, r.stderr
    record = json.loads(r.stdout)
    assert record["folder"] == str(folder.resolve()) and record["files"] == 1
    r = agora("run", str(world), "--inject", "x", "--steps", "1", "--model", "shared_model", env=env)
    assert r.returncode == 0 and marker.exists() and not notes(r.stderr)
    r = agora("plugins", "untrust", str(world), env=env)
    assert r.returncode == 0 and "no longer trusted" in r.stdout
    marker.unlink()
    r = agora("run", str(world), "--inject", "x", "--steps", "1", env=env)
    assert r.returncode == 0 and not marker.exists() and len(notes(r.stderr)) == 1
    r = agora("plugins", "trust", str(world.with_name("nothing.db")), env=env)
    assert r.returncode == 2 and "there is no plugin folder" in r.stderr and len(r.stderr.splitlines()) == 1
