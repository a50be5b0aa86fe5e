"""``agora bench commands --encrypted`` at a small size: ``new``, ``save``, ``load`` and one IC tick on an
encrypted world beside the same on a clear one, and the files on the encrypted side really encrypted."""

from __future__ import annotations

import sqlite3
import stat

import pytest
from conftest import agora

from sim.bench.commands import ENCRYPTION_OPS, bench_commands
from sim.core import sealed, worldkey

pytestmark = pytest.mark.skipif(not worldkey.available(), reason="needs the crypto extra")


def _positive(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0


@pytest.mark.subprocess
def test_the_encryption_section_times_each_operation_on_both_worlds(tmp_path):
    seen: dict[str, bool] = {}

    def look(what: str, share: float) -> None:
        """While the bench runs, after each encrypted-side step: its files are what they say they are."""
        if what == "agora new encrypted (1/1)":
            enc, clear = str(tmp_path / "encrypted.db"), str(tmp_path / "clear.db")
            key = tmp_path / "world.key"
            seen["key_private"] = stat.S_IMODE(key.stat().st_mode) == 0o600
            seen["world_encrypted"] = worldkey.is_encrypted(enc) and not worldkey.is_encrypted(clear)
            with open(enc, "rb") as fh:
                seen["no_clear_header"] = not fh.read(16).startswith(b"SQLite format 3")
            try:  # plain SQLite cannot read it
                sqlite3.connect(enc).execute("SELECT count(*) FROM sqlite_master").fetchone()
                seen["unreadable"] = False
            except sqlite3.DatabaseError:
                seen["unreadable"] = True
            seen["clear_is_sqlite"] = (
                sqlite3.connect(clear).execute("SELECT count(*) FROM agent_rows").fetchone()[0] > 0
            )
        elif what == "agora save encrypted (1/1)":
            seen["snapshot_sealed"] = sealed.sealed_file(str(tmp_path / "encrypted.snap")) and not (
                sealed.sealed_file(str(tmp_path / "clear.snap"))
            )
        elif what == "agora load encrypted (1/1)":
            seen["loaded_encrypted"] = worldkey.is_encrypted(str(tmp_path / "encrypted-loaded.db"))

    r = bench_commands(
        3000, repeats=1, analysis=False, events=False, encrypted=True, folder=str(tmp_path), progress=look
    )
    assert seen == {
        "key_private": True,
        "world_encrypted": True,
        "no_clear_header": True,
        "unreadable": True,
        "clear_is_sqlite": True,
        "snapshot_sealed": True,
        "loaded_encrypted": True,
    }
    enc = r["encryption"]
    assert set(enc) == {*ENCRYPTION_OPS, "yardstick", "all_within_target"}
    for op in ENCRYPTION_OPS:
        e = enc[op]
        for kind in ("clear", "encrypted"):
            assert len(e[f"{kind}_seconds"]) == 1 and len(e[f"{kind}_peak_rss_mb"]) == 1, op
            values = [*e[f"{kind}_seconds"], *e[f"{kind}_peak_rss_mb"]]
            values += [e[f"{kind}_seconds_median"], e[f"{kind}_peak_rss_mb_median"]]
            assert all(_positive(v) for v in values), (op, kind, values)
            assert e[f"{kind}_seconds_median"] == pytest.approx(e[f"{kind}_seconds"][0], abs=1e-3)
        key = (
            "W/world.key" if op in ("tick", "checkpoint") else "--key-file"
        )  # the tick's child takes the key file's path
        assert (key in e["encrypted_command"]) and (key not in e["clear_command"])
        assert str(tmp_path) not in e["encrypted_command"]
        assert e["ratio"] == pytest.approx(e["encrypted_seconds_median"] / e["clear_seconds_median"], rel=0.02)
        assert _positive(e["rss_ratio"]) and e["target_ratio"] == 1.3
        assert e["within_target"] is (e["ratio"] <= 1.3)
    assert "--encrypt" in enc["new"]["encrypted_command"]
    # The run and the live tick spread: the same seeds reach the same agents beyond them on both worlds.
    for op in ("run", "tick"):
        reached = enc[op]["graph_reached"]
        assert reached["clear"][0] > 0 and reached["clear"] == reached["encrypted"], op
    assert enc["tick"]["clear_command"].startswith("python -m sim.bench.commands tick ")
    assert enc["all_within_target"] is all(enc[op]["within_target"] for op in ENCRYPTION_OPS)
    assert "encryption" not in bench_commands(1500, repeats=1, analysis=False, events=False, folder=str(tmp_path))
    assert list(tmp_path.iterdir()) == []  # the worlds and the key file are removed as it goes


def test_the_command_lists_encrypted(tmp_path):
    res = agora(tmp_path, "bench", "commands", "--help")
    assert res.returncode == 0, res.stderr
    assert "--encrypted" in res.stdout
