"""The layer rule for the command line: only the CLI modules (``sim/cli*.py``) and ``sim/__main__.py``
import ``sim.cli`` or a ``sim.cli_*`` module; everything below them (engine, store, social, analysis,
LLM) never points back up. Read from the source with ``ast``, so a lazy import inside a function counts."""

from __future__ import annotations

import ast
from pathlib import Path

SIM = Path(__file__).resolve().parents[1] / "sim"


def package_of(path: Path) -> str:
    return ".".join(path.relative_to(SIM.parent).with_suffix("").parts[:-1])


def cli_imports(source: str, package: str) -> list[str]:
    """The CLI modules a module of ``package`` with this source imports (absolute ``sim.cli...`` or
    relative ``.cli...``/``..cli...``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            names = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [n for n in names if n == "sim.cli" or n.startswith(("sim.cli.", "sim.cli_"))]
    return found


def test_only_the_cli_imports_the_cli():
    offenders = {}
    for path in sorted(SIM.rglob("*.py")):
        if path.parent == SIM and (path.name.startswith("cli") or path.name == "__main__.py"):
            continue
        bad = cli_imports(path.read_text(encoding="utf-8"), package_of(path))
        if bad:
            offenders[str(path.relative_to(SIM.parent))] = bad
    assert offenders == {}, offenders


def test_the_rule_sees_lazy_and_relative_imports():
    """The scan itself: function-level and relative imports of the CLI are found, at any depth."""
    probe = SIM / "llm" / "service.py"
    assert cli_imports(probe.read_text(encoding="utf-8"), package_of(probe)) == []  # sim.llm.client: the HTTP client
    source = "def f():\n    from .cli import _emit\n    from . import cli_sweep\n"
    assert cli_imports(source, "sim") == ["sim.cli", "sim.cli_sweep"]
    assert cli_imports("from ..cli_llm import x\nimport sim.cli\n", "sim.llm") == ["sim.cli_llm", "sim.cli"]
    assert cli_imports("from .client import LLMClient\n", "sim.llm") == []
