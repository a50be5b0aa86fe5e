"""No option is accepted and then ignored: a combination that makes one meaningless ends with exit code 2,
one sentence on stderr naming it, and nothing written (the world file byte for byte as before).

These cover ``analyze``, ``export``, ``audit``, ``interview`` and ``llm``; every refusal runs the real
command line in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from inprocess import run_cli

ROOT = Path(__file__).resolve().parents[1]
LLM_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AGORA_LLM_MODEL", "AGORA_LLM_OFFLINE")


def agora(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m sim ARGS`` with no LLM settings from this environment (plus ``env``)."""
    e = {k: v for k, v in os.environ.items() if k not in LLM_ENV}
    e["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    e.update(env or {})
    return run_cli(args, cwd=None, env=e, timeout=120)


def state(world: Path) -> bytes:
    """The world file and its write-ahead log, as bytes (what a write would change)."""
    wal = Path(f"{world}-wal")
    return world.read_bytes() + b"\0WAL\0" + (wal.read_bytes() if wal.exists() else b"")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ignored") / "w.db"
    made = agora("new", str(path), "--agents", "300", "--avg-degree", "6", "--seed", "3")
    assert made.returncode == 0, made.stderr
    return path


# (arguments after the command's WORLD, the option the sentence must name, extra environment)
REFUSED = {
    "analyze --method without communities": (
        ["analyze", "{world}", "--pagerank", "--method", "louvain"],
        "--method",
        None,
    ),
    "analyze --resolution without communities": (
        ["analyze", "{world}", "--pagerank", "--resolution", "2"],
        "--resolution",
        None,
    ),
    "analyze --resolution with label-propagation": (
        ["analyze", "{world}", "--method", "label-propagation", "--resolution", "2"],
        "--resolution",
        None,
    ),
    "analyze --samples without --structure": (["analyze", "{world}", "--samples", "4"], "--samples", None),
    "analyze --seed with PageRank alone": (["analyze", "{world}", "--pagerank", "--seed", "4"], "--seed", None),
    "export --max-edges with csv": (["export", "{world}", "{out}.csv", "--max-edges", "10"], "--max-edges", None),
    "export --radius without --ego": (["export", "{world}", "{out}.gexf", "--radius", "1"], "--radius", None),
    "audit --action unknown": (["audit", "{world}", "--action", "injetc"], "--action", None),
    "interview --llm run budget": (
        ["interview", "{world}", "3", "Why?", "--llm", "calls_per_tick=5"],
        "calls_per_tick",
        None,
    ),
    "interview --llm with --offline": (
        ["interview", "{world}", "3", "Why?", "--offline", "--llm", "model=gpt-4o"],
        "--llm model",
        None,
    ),
    "interview --llm without a key": (
        ["interview", "{world}", "3", "Why?", "--llm", "base_urls=http://127.0.0.1:9/v1"],
        "--llm base_urls",
        None,
    ),
    "interview --llm while offline is forced": (
        ["interview", "{world}", "3", "Why?", "--llm", "timeout=5"],
        "--llm timeout",
        {"OPENAI_API_KEY": "sk-test", "AGORA_LLM_OFFLINE": "1"},
    ),
    "llm --ping without a key": (["llm", "{world}", "--ping"], "--ping", None),
    "llm --ping with --offline, before --set writes": (
        ["llm", "{world}", "--ping", "--offline", "--set", "calls_per_tick=3"],
        "--ping",
        {"OPENAI_API_KEY": "sk-test"},
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_meaningless_option_is_refused_and_nothing_is_written(case: str, world: Path, tmp_path: Path) -> None:
    args, flag, env = REFUSED[case]
    out = tmp_path / "out"
    before = state(world)
    r = agora(*(a.format(world=world, out=out) for a in args), env=env)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("agora: error: "), r.stderr
    assert flag in lines[0] and "Traceback" not in r.stderr
    assert state(world) == before, "a refused command changed the world file"
    assert not list(tmp_path.iterdir()), "a refused export wrote a file"


def test_the_same_options_are_accepted_where_they_apply(
    world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sim.cli.main import main

    for name in LLM_ENV:
        monkeypatch.delenv(name, raising=False)
    before = state(world)
    ok = [
        [
            "analyze",
            str(world),
            "--communities",
            "--method",
            "louvain",
            "--resolution",
            "2",
            "--seed",
            "1",
            "--no-store",
        ],
        ["analyze", str(world), "--pagerank", "--structure", "--seed", "1", "--samples", "4", "--no-store"],
        ["export", str(world), str(tmp_path / "e.gexf"), "--ego", "3", "--radius", "1", "--max-edges", "100000"],
        ["export", str(world), str(tmp_path / "c.csv")],
        ["audit", str(world), "--action", "inject", "--limit", "1"],
        ["llm", str(world), "--offline", "--json"],
    ]
    for args in ok:
        assert main(args) == 0, (args, capsys.readouterr().err)
    assert state(world) == before
    capsys.readouterr()
    assert main(["audit", str(world), "--action", "inject"]) == 0
    assert "no 'inject' entries" in capsys.readouterr().out


def test_run_keeps_the_llm_settings_the_offline_generator_uses() -> None:
    """``refuse_unused_llm(command="run")``, the check ``agora run`` can call: texts_per_tick and reply_share
    shape offline runs too; a client setting is refused offline and accepted online."""
    import argparse

    from sim.cli.llm import refuse_unused_llm
    from sim.errors import BadParameterError
    from sim.llm.config import LLMConfig

    offline, online = LLMConfig.resolve(env={}), LLMConfig.resolve(env={"OPENAI_API_KEY": "sk-test"})
    uses = argparse.Namespace(llm=["texts_per_tick=5", "reply_share=0.5", "calls_per_tick=9"], offline=False)
    refuse_unused_llm(uses, online, command="run")
    with pytest.raises(BadParameterError, match="--llm calls_per_tick=9 has no effect without OPENAI_API_KEY"):
        refuse_unused_llm(uses, offline, command="run")
    refuse_unused_llm(
        argparse.Namespace(llm=["texts_per_tick=5", "reply_share=0.5"], offline=True), offline, command="run"
    )
