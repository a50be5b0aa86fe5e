"""The layer rule of docs/architecture.md, read from the source with ``ast`` (so an import inside a
function, a relative import and an import under ``TYPE_CHECKING`` all count):

    cli  ->  bench | api  ->  engine  ->  social | analysis | llm  ->  store  ->  model  ->  plugin  ->  core  ->  errors

A module may import its own package and anything to its right, never to its left nor a package of the
same rank (social, analysis and llm do not import each other; nor do bench and api). ``sim`` has at most six top-level modules.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SIM = Path(__file__).resolve().parents[1] / "sim"

#: Rank of each part of ``sim``: a part may import only parts of lower rank (and itself).
RANK = {
    "sim.errors": 0, "sim.core": 1, "sim.plugin": 2, "sim.model": 3, "sim.store": 4,
    "sim.social": 5, "sim.analysis": 5, "sim.llm": 5, "sim.engine": 6, "sim.bench": 7, "sim.api": 7, "sim.lab": 7, "sim.cli": 8,
    "sim.__main__": 9,
}
TOP_LEVEL = {"__init__.py", "__main__.py", "errors.py"}


def part_of(module: str) -> str | None:
    """The layer a dotted ``sim`` module belongs to (``None`` for ``sim`` itself)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else None


def module_name(path: Path) -> str:
    rel = path.relative_to(SIM.parent).with_suffix("").parts
    return ".".join(rel[:-1] if rel[-1] == "__init__" else rel)


def imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """Every ``sim`` module (or name) that a module imports, at any depth of its code."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - (node.level - 1)] if node.level else []
            target = ".".join([*base, node.module] if node.module else base)
            names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            if target == "sim":  # from sim import x: x is the module imported
                names = [f"sim.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [n for n in names if n == "sim" or n.startswith("sim.") or n.startswith(("tui", "textual"))]
    return found


def violations() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted(SIM.rglob("*.py")):
        module = module_name(path)
        mine = part_of(module)
        if mine is None:  # sim/__init__.py: imports nothing of sim
            bad = [n for n in imports(path.read_text(encoding="utf-8"), module, True) if n != "sim"]
        else:
            rank = RANK[mine]
            bad = []
            for name in imports(path.read_text(encoding="utf-8"), module, path.name == "__init__.py"):
                if name.startswith(("tui", "textual")):
                    bad.append(name)
                    continue
                theirs = part_of(name)
                if theirs is None or theirs == mine:
                    continue
                if theirs == "sim.__version__":
                    continue
                if theirs not in RANK or RANK[theirs] >= rank:
                    bad.append(name)
        if bad:
            out[str(path.relative_to(SIM.parent))] = bad
    return out


def test_every_import_points_down_the_layers():
    assert violations() == {}


def test_the_tree_is_the_architecture():
    """Few top-level modules; every package is a layer the rule knows; the documented tree matches."""
    top = {p.name for p in SIM.glob("*.py")}
    assert top <= TOP_LEVEL and len(top) <= 6, top
    packages = {f"sim.{p.name}" for p in SIM.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == {k for k in RANK if k.count(".") == 1 and not k.endswith(("errors", "__main__"))}
    assert len(packages) >= 5
    doc = (SIM.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for package in packages:
        assert f"sim/{package.split('.')[1]}/" in doc, package


def test_the_rule_sees_lazy_relative_and_type_checking_imports():
    """The scan itself: function-level, relative and TYPE_CHECKING imports are found, at any depth."""
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sim.engine.simulation import Simulation\n"
              "def f():\n    from ..cli import main\n    from . import worldfile\n")
    found = imports(source, "sim.store.snapshot")
    assert found == ["sim.engine.simulation", "sim.cli", "sim.store.worldfile"]
    assert imports("from sim import plugin\nimport textual.app\n", "sim.core.world") == ["sim.plugin", "textual.app"]
    assert part_of("sim.engine.simulation") == "sim.engine" and part_of("sim") is None


# -- plugins import only the contract; the contract imports only the core ---------------------------------


def plugin_contract_violations() -> dict[str, list[str]]:
    """What each file of ``plugins/`` imports from ``sim`` other than ``sim.plugin`` (and its modules),
    and what ``sim/plugin/`` imports above ``sim.core`` and ``sim.errors``."""
    out: dict[str, list[str]] = {}
    top = SIM.parent
    for path in sorted((top / "plugins").rglob("*.py")):
        module = ".".join(path.relative_to(top).with_suffix("").parts)
        found = imports(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
        bad = [n for n in found if not (n == "sim.plugin" or n.startswith("sim.plugin."))]
        if bad:
            out[str(path.relative_to(top))] = bad
    for path in sorted((SIM / "plugin").rglob("*.py")):
        found = imports(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")
        bad = [n for n in found if part_of(n) not in ("sim.plugin", "sim.core", "sim.errors")]
        if bad:
            out[str(path.relative_to(top))] = bad
    return out


def test_plugins_import_only_the_contract_and_the_contract_only_the_core():
    assert (SIM / "plugin" / "__init__.py").exists(), "sim.plugin is a package"
    assert plugin_contract_violations() == {}


def test_the_plugin_rule_sees_a_plugin_reaching_into_sim(tmp_path, monkeypatch):
    """The rule itself: a plugin file importing ``sim.social`` (or ``import sim.llm``) is named."""
    fake = tmp_path / "plugins"
    fake.mkdir()
    (fake / "bad.py").write_text("from sim.plugin import Param\nfrom sim.social import aggregate_pairs\n"
                                 "def f():\n    import sim.llm.prompts\n")
    (fake / "good.py").write_text("from sim.plugin import Param\nfrom sim.plugin.arrays import union_agents\n")
    (tmp_path / "sim" / "plugin").mkdir(parents=True)
    (tmp_path / "sim" / "plugin" / "x.py").write_text("from sim.core.graph import Graph\nfrom sim.model import session\n")
    monkeypatch.setattr(sys.modules[__name__], "SIM", tmp_path / "sim")
    assert plugin_contract_violations() == {"plugins/bad.py": ["sim.social", "sim.llm.prompts"],
                                            "sim/plugin/x.py": ["sim.model"]}
