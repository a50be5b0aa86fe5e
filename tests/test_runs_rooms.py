"""``sim/runs`` in rooms by purpose (issue 58): no two of its rooms import each other, and none reaches into
another's private names.

A room is a top-level module of ``sim.runs`` (``sweep``, ``runner``, ``transport``, ...) or a subpackage taken
whole (``sim.runs.fit``). Arrows are read from the source with the import scanner of ``tests/test_layers.py``
(imports at any depth of the code, ``TYPE_CHECKING`` blocks and relative imports included): if room A imports
room B, B imports nothing of A. The same holds between any two modules. A module imports only public names
from another module of ``sim.runs`` (a name with a leading underscore is that module's own business: give it a
public name, or a public door, and use that).
"""

from __future__ import annotations

import ast

from test_layers import all_modules, import_graph

PACKAGE = "sim.runs"


def room_of(module: str) -> str:
    """``sim.runs.fit.abc`` -> ``sim.runs.fit``; a top-level module (or the package) is its own room."""
    parts = module.split(".")
    if len(parts) <= 3:
        return module
    return ".".join(parts[:3])


def two_way(graph: dict[str, set[str]]) -> list[str]:
    """Every pair that imports each other, as ``a <-> b``."""
    return sorted(
        {" <-> ".join(sorted((a, b))) for a, targets in graph.items() for b in targets if a in graph.get(b, ())}
    )


def rooms(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The module graph folded into rooms (arrows inside one room dropped)."""
    out: dict[str, set[str]] = {}
    for a, targets in graph.items():
        out.setdefault(room_of(a), set()).update(room_of(b) for b in targets if room_of(b) != room_of(a))
    return out


def private_names(source: str, module: str, is_package: bool = False, package: str = PACKAGE) -> list[str]:
    """``module: name from other`` for every private name ``module``'s source imports from another module of
    ``package`` (at any depth of the code; relative imports resolved)."""
    base = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom):
            continue
        parent = base[: len(base) - (node.level - 1)] if node.level else []
        target = ".".join([*parent, node.module] if node.module else parent)
        if target != module and (target == package or target.startswith(package + ".")):
            found += [f"{module}: {a.name} from {target}" for a in node.names if a.name.startswith("_")]
    return found


def private_imports(package: str = PACKAGE) -> list[str]:
    """Every private name a module of ``package`` imports from another."""
    found = []
    for module, path in sorted(all_modules().items()):
        if module == package or module.startswith(package + "."):
            source = path.read_text(encoding="utf-8")
            found += private_names(source, module, path.name == "__init__.py", package)
    return found


def test_no_two_rooms_of_runs_import_each_other():
    graph = import_graph(PACKAGE)
    assert any(m.startswith(PACKAGE + ".fit.") for m in graph), "the scanner sees sim.runs.fit"
    assert not two_way(graph), "modules of sim.runs that import each other: " + "; ".join(two_way(graph))
    found = two_way(rooms(graph))
    assert not found, "rooms of sim.runs that import each other: " + "; ".join(found)


def test_no_module_of_runs_imports_a_private_name_of_another():
    found = private_imports()
    assert not found, "private names imported across sim.runs (give them a public name): " + "; ".join(found)


def test_runs_takes_no_private_name_from_below():
    """Fits, forecasts, sweeps and ensembles reach the rooms below through public doors: no module of
    ``sim.runs`` imports a private name from any module of ``sim`` (13 such names before issue 58)."""
    found = []
    for module, path in sorted(all_modules().items()):
        if module == PACKAGE or module.startswith(PACKAGE + "."):
            found += private_names(path.read_text(encoding="utf-8"), module, path.name == "__init__.py", "sim")
    assert not found, "private names sim.runs imports from below (give them a public name): " + "; ".join(found)


def test_the_room_rules_see_what_they_forbid():
    """The rules themselves: a two-way arrow between rooms (through any of a subpackage's modules) is found,
    a one-way chain is not; a private name taken from another module is found, a public one is not."""
    graph = {
        "sim.runs.sweep": {"sim.runs.fit.design"},
        "sim.runs.fit.fitting": {"sim.runs.sweep"},
        "sim.runs.fit.design": set(),
        "sim.runs.runner": {"sim.runs.transport"},
        "sim.runs.transport": set(),
    }
    assert two_way(graph) == []
    assert two_way(rooms(graph)) == ["sim.runs.fit <-> sim.runs.sweep"]
    assert two_way(rooms({"sim.runs.a": {"sim.runs.b"}, "sim.runs.b": set()})) == []
    assert room_of("sim.runs") == "sim.runs" and room_of("sim.runs.fit") == "sim.runs.fit"
    source = "from sim.runs.runner import run_entry\ndef f():\n    from .results import _columns_frame, plot\n"
    assert private_names(source, "sim.runs.forecast") == ["sim.runs.forecast: _columns_frame from sim.runs.results"]
    below = "from sim.analysis.plot import _save, figure_format\n"
    assert private_names(below, "sim.runs.forecast", package="sim") == [
        "sim.runs.forecast: _save from sim.analysis.plot"
    ]
    assert private_names("from ..sweep import _ray_world\n", "sim.runs.fit.fitting") == [
        "sim.runs.fit.fitting: _ray_world from sim.runs.sweep"
    ]
