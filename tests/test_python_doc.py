"""docs/python.md is a walkthrough whose every ```python block runs: the blocks are collected from the
Markdown and executed in order, in one namespace, in a scratch folder (the doc makes its own small world)."""

from __future__ import annotations

import re
import time
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "python.md"
FENCE = re.compile(r"^```python\n(.*?)^```\s*$", re.S | re.M)


def blocks(text: str) -> list[tuple[int, str]]:
    """Every fenced ```python block of ``text``: (its first line's number, its code)."""
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in FENCE.finditer(text)]


def test_the_block_finder():
    text = "intro\n```python\nx = 1\n```\n\n```bash\nagora run\n```\n```python\ny = x + 1\n```\n"
    assert blocks(text) == [(3, "x = 1\n"), (10, "y = x + 1\n")]


def test_every_python_block_of_python_md_runs(tmp_path, monkeypatch):
    found = blocks(DOC.read_text(encoding="utf-8"))
    assert len(found) >= 10
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__python_md__"}
    t0 = time.perf_counter()
    for line, code in found:
        # Compiled under the doc's name and line, so a failure's traceback points into python.md.
        exec(compile("\n" * (line - 1) + code, str(DOC), "exec"), namespace)  # noqa: S102 - the doc's own code
    assert (tmp_path / "city.db").is_file() and (tmp_path / "sir.csv").is_file() and (tmp_path / "ab.csv.gz").is_file()
    assert namespace["sim"].open_world("live.db").tick == 15
    # Issue 60's: a fit's figure, a forecast from the fit in memory, a live session's series, w.agents in a figure.
    assert all((tmp_path / name).stat().st_size > 0 for name in ("fit.png", "flu.csv", "reached.png"))
    assert namespace["ahead"].posterior == "a fit of sir" and len(namespace["curve"]) == 12
    assert time.perf_counter() - t0 < 60
