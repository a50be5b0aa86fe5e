"""Odd words a probe found (issue 71), each now one true sentence:

- a run's cascades file of more than 256 runs given to ``agora backtest`` was told "replicates must be from 1 to 256"
  (the fit's plan, made before the observation's kind was looked at, simulates one run per observed cascade), with
  no ``--replicates`` given; it is told what a backtest forecasts, as one of fewer runs is;
- docs/security.md said 16 KiB pages and the message 4,096-byte pages: encrypted worlds are written with
  ``cipher_page_size`` :data:`sim.core.worldkey.PAGE` (16 KiB), and the docs, the message and the check of a world
  cut short all use it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from sim.cli.main import main
from sim.core import worldkey

ROOT = Path(__file__).resolve().parents[1]


def agora(capsys, *argv: str) -> tuple[int, str]:
    """``agora ARGV`` in process: its exit code and the last line of its stderr."""
    capsys.readouterr()
    try:
        rc = main(list(argv))
    except SystemExit as exc:
        rc = int(exc.code or 0)
    err = capsys.readouterr().err.strip().splitlines()
    return rc, err[-1] if err else ""


def test_backtest_of_many_run_cascades_says_it_forecasts_series(capsys, tmp_path):
    world = str(tmp_path / "w.db")
    assert main(["new", world, "--agents", "50", "--seed", "1"]) == 0
    cascades = tmp_path / "c.csv"
    with cascades.open("w") as fh:  # 300 runs of one seed agent each: 300 cascades
        fh.write("run,agent,source,tick,generation\n")
        fh.writelines(f"{r},{r % 50},,0,0\n" for r in range(300))
    for methods in ("agora", "agora,persistence", "persistence"):
        rc, said = agora(
            capsys, "backtest", world, "--observed", str(cascades), "--param", "p=0.01..0.2", "--method", methods
        )
        assert rc == 2, said
        assert "a backtest forecasts a series of counts per tick" in said and "is cascades" in said, said
        assert "replicates" not in said, said


def test_an_abc_fit_of_many_cascades_says_so_not_replicates(capsys, tmp_path):
    """``agora fit --method abc`` on a cascades file of more runs than a fit may simulate was told "replicates
    must be from 1 to 256" with no --replicates given: it is told how many cascades the file holds and what to
    give; with --replicates the fit's own bound stands."""
    world = str(tmp_path / "w.db")
    assert main(["new", world, "--agents", "50", "--seed", "1"]) == 0
    cascades = tmp_path / "c.csv"
    with cascades.open("w") as fh:
        fh.write("run,agent,source,tick,generation\n")
        fh.writelines(f"{r},{r % 50},,0,0\n" for r in range(300))
    rc, said = agora(
        capsys, "fit", world, "--observed", str(cascades), "--param", "p=0.01..0.2", "--method", "abc", "--budget", "20"
    )
    assert rc == 2, said
    assert "holds 300 cascades" in said and "--replicates R (at most 256)" in said, said


def test_encrypted_worlds_pages_are_the_documented_size():
    assert f"cipher_page_size = {worldkey.PAGE}" in worldkey._CIPHER_SETTINGS
    text = (ROOT / "docs" / "security.md").read_text()
    kib = {int(n) for n in re.findall(r"every (\d+) KiB page", text)}
    assert kib == {worldkey.PAGE // 1024}, kib
    quoted = {int(n.replace(",", "")) for n in re.findall(r"whole number of ([\d,]+)-byte pages", text)}
    assert quoted == {worldkey.PAGE}, quoted


def test_an_encrypted_world_cut_at_a_whole_number_of_4k_pages_is_cut_short(capsys, tmp_path, monkeypatch):
    pytest.importorskip("sqlcipher3")
    key = tmp_path / "world.key"
    key.write_text("correct horse battery staple\n")
    key.chmod(0o600)
    world = tmp_path / "enc.db"
    try:
        assert main(["new", str(world), "--agents", "300", "--encrypt", "--key-file", str(key)]) == 0
        size = world.stat().st_size
        assert size % worldkey.PAGE == 0 and size >= 2 * worldkey.PAGE
        cut = tmp_path / "cut.db"
        cut.write_bytes(world.read_bytes()[: 5 * 4096])  # a whole number of SQLCipher's default 4 KiB pages
        for args in (["info", str(cut), "--key-file", str(key)], ["info", str(cut)]):
            rc, said = agora(capsys, *args)
            assert rc == 2 and "encrypted world cut short" in said, said
            assert f"not a whole number of {worldkey.PAGE:,}-byte pages" in said, said
    finally:
        worldkey.use_key(None)
    assert os.path.exists(world)


def test_a_run_paced_slower_than_a_tick_in_days_or_faster_than_a_million_is_refused(capsys, tmp_path):
    """``--ticks-per-second 5e-324`` ran a world that never ticked (the wait before the next tick is infinite), and
    a live world's run said 1000000.1 was not "above 0"; both are refused with the bounds, as the API's run is."""
    from sim.engine.bounds import MAX_TICKS_PER_SECOND, MIN_TICKS_PER_SECOND
    from sim.engine.requests import Ensemble
    from sim.errors import BadParameterError
    from sim.model.registry import Registry

    registry = Registry()
    for rate in (5e-324, MIN_TICKS_PER_SECOND / 2, MAX_TICKS_PER_SECOND * 1.0000001, "5"):
        with pytest.raises(BadParameterError, match="is invalid: give a number from 0.001 to 1,000,000 ticks a second"):
            Ensemble.parse({"text": "hi", "steps": 1, "ticks_per_second": rate}, registry)
    assert Ensemble.parse({"text": "hi", "steps": 1, "ticks_per_second": 0.5}, registry).ticks_per_second == 0.5
    world = str(tmp_path / "w.db")
    assert main(["new", world, "--agents", "50", "--seed", "1"]) == 0
    for rate in ("5e-324", "1000000.1"):
        rc, said = agora(capsys, "run", world, "--steps", "1", "--ticks-per-second", rate)
        assert rc == 2 and f"--ticks-per-second {rate} is invalid: give a number from 0.001" in said, said


def test_new_world_from_python_refuses_a_text_for_a_number(tmp_path):
    """``sim.new_world(avg_degree="x")`` was a ValueError quoting a string repeated 300 times (``agents *
    avg_degree``), ``"٣"`` a world of 10^300 edges refused for memory, ``communities="x"`` a TypeError."""
    import sim
    from sim.errors import BadParameterError

    path = str(tmp_path / "w.db")
    for options, said in (
        ({"avg_degree": "x"}, "avg_degree 'x' is invalid: give a finite number of zero or more"),
        ({"avg_degree": "٣"}, "avg_degree '٣' is invalid"),
        ({"avg_degree": float("inf")}, "avg_degree 'inf' is invalid"),
        ({"mixing": "0.2"}, "mixing '0.2' is invalid: give a number from 0 to 1"),
        ({"communities": "x"}, "communities must be a whole number of at least 1"),
    ):
        with pytest.raises(BadParameterError, match=re.escape(said)):
            sim.new_world(path, agents=300, **options)
    assert not os.path.exists(path)
    assert sim.new_world(path, agents=300, avg_degree=4, mixing=0.3, communities=3).agents == 300


def test_every_test_the_probe_table_names_exists():
    """docs/security.md's table of what the probe of issue 71 tried names, for each finding, the tests that fail
    on the code before its fix: each named test is a test function of this folder."""
    text = (ROOT / "docs" / "security.md").read_text()
    section = text[text.index("## What a probe tried (issue 71)") :]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| finding")]
    named = {name for row in rows for name in re.findall(r"`(test_\w+)`", row.rsplit("|", 2)[-2])}
    assert len(rows) >= 25 and len(named) >= 30, (len(rows), len(named))
    defined = {
        m for path in (ROOT / "tests").glob("test_*.py") for m in re.findall(r"def (test_\w+)", path.read_text())
    }
    assert not named - defined, sorted(named - defined)
