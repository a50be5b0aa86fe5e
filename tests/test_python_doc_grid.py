"""docs/python.md and ``WorldFile.sweep``'s docstring name every grid key a sweep takes besides model
parameters (issue 45: ``seeds`` and ``intervene`` were missing)."""

from __future__ import annotations

import re
from pathlib import Path

from sim.lab.world import WorldFile
from sim.runs.sweep import NOT_PARAMS

DOC = Path(__file__).resolve().parents[1] / "docs" / "python.md"


def test_python_md_lists_every_grid_key():
    text = DOC.read_text(encoding="utf-8")
    start = text.index("The grid's keys are")
    sentence = text[start : text.index("; values may be", start)]
    named = set(re.findall(r"`([a-z_]+)`", sentence))
    assert set(NOT_PARAMS) <= named, sorted(set(NOT_PARAMS) - named)


def test_the_sweep_docstring_lists_every_grid_key():
    doc = WorldFile.sweep.__doc__ or ""
    grid = doc[doc.index("grid:") : doc.index("model:", doc.index("grid:"))]
    assert all(f"``{key}``" in grid for key in NOT_PARAMS), grid
