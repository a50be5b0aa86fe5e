"""The sim/cli/main.py refusals proposed to the lead (cases to merge into tests/test_ignored_options.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ignored_options import agora, state, world  # noqa: F401  (the fixture)

CLI_REFUSED = {
    "new --graph with --edges": (["new", "{out}.db", "--edges", "{edges}", "--graph", "ba"], "--graph", None),
    "new --avg-degree with --edges": (
        ["new", "{out}.db", "--edges", "{edges}", "--avg-degree", "4"],
        "--avg-degree",
        None,
    ),
    "new --communities with --edges": (
        ["new", "{out}.db", "--edges", "{edges}", "--communities", "3"],
        "--communities",
        None,
    ),
    "new --mixing with --edges": (["new", "{out}.db", "--edges", "{edges}", "--mixing", "0.3"], "--mixing", None),
    "new --directed without --edges": (["new", "{out}.db", "--agents", "100", "--directed"], "--directed", None),
    "new --communities with er": (
        ["new", "{out}.db", "--agents", "100", "--graph", "er", "--communities", "3"],
        "--communities",
        None,
    ),
    "new --mixing with ba": (
        ["new", "{out}.db", "--agents", "100", "--graph", "ba", "--mixing", "0.3"],
        "--mixing",
        None,
    ),
    "new --recommender-param without a recommender": (
        ["new", "{out}.db", "--agents", "100", "--recommender-param", "half_life=3"],
        "--recommender-param",
        None,
    ),
    "social --recommender-param without a recommender": (
        ["social", "{world}", "--recommender-param", "half_life=3"],
        "--recommender-param",
        None,
    ),
    "social --friend-param without a friend recommender": (
        ["social", "{world}", "--friend-param", "fanout=3"],
        "--friend-param",
        None,
    ),
    "run --recommender-param without a recommender": (
        ["run", "{world}", "--steps", "1", "--recommender-param", "half_life=3"],
        "--recommender-param",
        None,
    ),
    "run --metrics-host without --metrics-port": (
        ["run", "{world}", "--steps", "1", "--metrics-host", "0.0.0.0"],
        "--metrics-host",
        None,
    ),
    "run --ticks-per-second 0": (
        ["run", "{world}", "--steps", "1", "--ticks-per-second", "0"],
        "--ticks-per-second",
        None,
    ),
    "run --llm client setting offline": (
        ["run", "{world}", "--steps", "1", "--llm", "model=gpt-4o"],
        "--llm model",
        None,
    ),
    "tui --metrics-port without a terminal": (["tui", "{world}", "--metrics-port", "0"], "--metrics-port", None),
    "tui --checkpoint-every without a terminal": (
        ["tui", "{world}", "--checkpoint-every", "5"],
        "--checkpoint-every",
        None,
    ),
    "tui --plugins without a terminal": (["tui", "{world}", "--plugins", "{tmp}"], "--plugins", None),
    "tui --metrics-host without --metrics-port": (
        ["tui", "{world}", "--metrics-host", "0.0.0.0"],
        "--metrics-host",
        None,
    ),
    "bench world --run-ticks negative": (
        ["bench", "world", "--agents", "100", "--run-ticks", "-1"],
        "--run-ticks",
        None,
    ),
}


@pytest.mark.parametrize("case", list(CLI_REFUSED))
def test_cli_py_refusals(case: str, world: Path, tmp_path: Path) -> None:  # noqa: F811
    args, flag, env = CLI_REFUSED[case]
    edges = tmp_path.parent / f"{tmp_path.name}-edges.txt"
    edges.write_text("1 2\n2 3\n3 1\n")
    out = tmp_path / "out"
    before = state(world)
    r = agora(*(a.format(world=world, out=out, edges=edges, tmp=tmp_path) for a in args), env=env)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "error: " in lines[0] and flag in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert state(world) == before
    assert not list(tmp_path.iterdir()), "a refused command wrote a file"
