"""The layer rule of docs/architecture.md, read from the source with ``ast`` (so an import inside a
function, a relative import and an import under ``TYPE_CHECKING`` all count):

    cli -> bench -> api | lab -> live -> runs | authoring -> engine -> social | analysis | llm -> store -> model
        -> plugin -> core -> errors

A module may import its own package and anything to its right, never to its left nor a package of the same
rank (social, analysis and llm do not import each other; nor do runs and authoring; nor do api and lab). The
benchmarks stand on the Python API, as a user's script does: ``import sim`` (whose names are ``sim.lab``'s) is
an import of ``sim.lab``, which only ``sim.bench`` and ``sim.cli`` may make. One world kept live
(``sim.live``) stands on the many-run room below it: a live forecast calls ``sim.runs.forecast`` directly,
with no engine installed by a front end. ``sim`` has at most six top-level modules. No package's modules
import each other in a circle (the second rule below).
The terminal UI (``tui``, beside ``cli``) imports only ``sim.live`` (which re-exports the forecast's values
the UI shows), the request and result values, the plugins' schemas and ``sim.errors``; its entry-point glue
also the command line and the benchmarks (the last rule below).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parents[1] / "sim"

#: Rank of each part of ``sim``: a part may import only parts of lower rank (and itself).
RANK = {
    "sim.errors": 0,
    "sim.core": 1,
    "sim.plugin": 2,
    "sim.model": 3,
    "sim.store": 4,
    "sim.social": 5,
    "sim.analysis": 5,
    "sim.llm": 5,
    "sim.engine": 6,
    "sim.runs": 7,
    "sim.authoring": 7,
    "sim.live": 8,
    "sim.api": 9,
    "sim.lab": 9,
    "sim.bench": 10,
    "sim.cli": 11,
    "sim.__main__": 12,
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
        found += [n for n in names if n == "sim" or n.startswith("sim.") or _outside(n)]
    return found


#: Packages ``sim`` never imports: the terminal UI (and its toolkit) sits above it, and the built-in plugins
#: are reached only through the registry (``sim.model.registry`` imports them by discovery, not by name).
OUTSIDE = ("tui", "textual", "plugins")


def _outside(name: str) -> bool:
    """Whether the dotted ``name`` is one of :data:`OUTSIDE` or inside one (``plugins.ic``; not ``tuition``)."""
    return name.split(".")[0] in OUTSIDE


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
                if _outside(name):
                    bad.append(name)
                    continue
                theirs = "sim.lab" if name == "sim" else part_of(name)  # the package's names are sim.lab's
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


def test_sim_importing_a_plugin_or_the_ui_by_name_is_a_violation(tmp_path, monkeypatch):
    """The rule itself: a module of ``sim`` that imports a built-in plugin (or the UI) by name is named,
    whatever its layer: the engine knows plugins only through the registry."""
    (tmp_path / "sim" / "engine").mkdir(parents=True)
    (tmp_path / "sim" / "engine" / "fast.py").write_text(
        "def f():\n    from plugins.ic import IndependentCascade\n    from sim.core.world import World\n"
    )
    (tmp_path / "sim" / "cli").mkdir()
    (tmp_path / "sim" / "cli" / "ui.py").write_text("import tui.app\nfrom sim.engine import fast\n")
    monkeypatch.setattr(sys.modules[__name__], "SIM", tmp_path / "sim")
    assert violations() == {"sim/cli/ui.py": ["tui.app"], "sim/engine/fast.py": ["plugins.ic"]}


def test_import_sim_is_an_import_of_the_python_api(tmp_path, monkeypatch):
    """``import sim`` reaches ``sim.lab`` (the package re-exports its names): the benchmarks may, as a user's
    script does; the HTTP API, beside the Python API, may not, nor may the layers below."""
    for part, name in (("bench", "fit"), ("api", "app"), ("runs", "fit")):
        (tmp_path / "sim" / part).mkdir(parents=True)
        (tmp_path / "sim" / part / f"{name}.py").write_text("import sim\n")
    monkeypatch.setattr(sys.modules[__name__], "SIM", tmp_path / "sim")
    assert violations() == {"sim/api/app.py": ["sim"], "sim/runs/fit.py": ["sim"]}


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
    source = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sim.engine.simulation import Simulation\n"
        "def f():\n    from ..cli import main\n    from . import worldfile\n"
    )
    found = imports(source, "sim.store.snapshot")
    assert found == ["sim.engine.simulation", "sim.cli", "sim.store.worldfile"]
    assert imports("from sim import plugin\nimport textual.app\n", "sim.core.world") == ["sim.plugin", "textual.app"]
    # The built-in plugins and the UI by name, at any depth (batched.py imported plugins.ic in a function).
    source = "def f():\n    from plugins.ic import IndependentCascade\n    import plugins\n    import tui.app\n"
    assert imports(source, "sim.runs.batched") == ["plugins.ic", "plugins", "tui.app"]
    assert imports("import tuition\nimport pluginsx\n", "sim.core.world") == []
    assert part_of("sim.engine.simulation") == "sim.engine" and part_of("sim") is None


# -- no import circle inside a package ----------------------------------------------------------------------

ROOT = SIM.parent
#: The packages whose modules may not import each other in a circle: each part of ``sim``, ``sim`` itself
#: (its top-level modules), the terminal UI and the built-in plugins.
CIRCLE_PACKAGES = sorted(
    [f"sim.{p.name}" for p in SIM.iterdir() if p.is_dir() and (p / "__init__.py").exists()] + ["sim", "tui", "plugins"]
)


def all_modules() -> dict[str, Path]:
    """Every module of ``sim``, ``tui`` and ``plugins`` by dotted name (a package by its own name)."""
    out = {}
    for top in ("sim", "tui", "plugins"):
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(rel[:-1] if rel[-1] == "__init__" else rel)] = path
    return out


def imported_modules(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The modules of ``known`` that a module's code imports, at any depth (function bodies and
    ``TYPE_CHECKING`` blocks too): ``from a.b import c`` is module ``a.b.c`` when there is one, else ``a.b``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - (node.level - 1)] if node.level else []
            target = ".".join([*base, node.module] if node.module else base)
            for alias in node.names:
                name = f"{target}.{alias.name}"
                found.add(name if name in known else target)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                # import a.b.c: the deepest known module is the one imported (its packages are its parents,
                # imported before it whoever imports it)
                deepest = [".".join(parts[:i]) for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in known]
                found.update(deepest[:1])
    return {m for m in found if m in known and m != module}


def import_graph(package: str) -> dict[str, set[str]]:
    """The imports between the modules inside ``package`` (the package's own ``__init__`` included; for
    ``sim``, only its top-level modules)."""
    modules = all_modules()
    known = set(modules)
    if package == "sim":
        inside = {m for m in known if m == "sim" or (m.count(".") == 1 and modules[m].parent == SIM)}
    else:
        inside = {m for m in known if m == package or m.startswith(package + ".")}
    return {
        m: imported_modules(modules[m].read_text(encoding="utf-8"), m, modules[m].name == "__init__.py", known) & inside
        for m in sorted(inside)
    }


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (or a module importing itself), by
    Tarjan's algorithm: each is an import circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def a_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One closed path through ``component`` (``a -> b -> a``), to name the circle in a failure."""
    members = set(component)
    start = component[0]
    path, seen = [start], {start}
    while True:
        nxt = sorted(graph[path[-1]] & members)
        back = [w for w in nxt if w == start]
        if back and len(path) > 1 or not nxt:
            return path + [start]
        step = next((w for w in nxt if w not in seen), None)
        if step is None:  # close the loop at the first module seen again
            w = nxt[0]
            return path[path.index(w) :] + [w]
        path.append(step)
        seen.add(step)


def _says_why(line: str) -> bool:
    """Whether an import's line says why after its ``# noqa: PLC0415``."""
    return "PLC0415" in line and bool(line.split("PLC0415", 1)[1].strip(" -"))


def unexplained_lazy_imports(root: Path) -> list[str]:
    """Each import of Agora's own modules inside a function that says no reason: docs/architecture.md keeps
    imports at module level, a lazy one only where it keeps a heavy dependency (or many modules) off a path
    that does not need it, and says so on its line (after ``# noqa: PLC0415``), on a line of the imports just
    above it, or in the comment above them."""
    found = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        lazy: set[int] = set()
        for fn in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(fn):
                    if isinstance(node, ast.ImportFrom):
                        own = node.level > 0 or (node.module or "").split(".")[0] == "sim"
                    elif isinstance(node, ast.Import):
                        own = any(a.name.split(".")[0] == "sim" for a in node.names)
                    else:
                        continue
                    if own:
                        lazy.add(node.lineno)

        for n in sorted(lazy):
            first, last = n, n  # the run of imports it belongs to: a reason on one of them serves them all
            while first - 1 in lazy:
                first -= 1
            while last + 1 in lazy:
                last += 1
            explained = any(_says_why(lines[k - 1]) for k in range(first, last + 1))
            if not explained and not lines[first - 2].strip().startswith("#"):
                found.append(f"{path.relative_to(root.parent)}:{n}")
    return found


def test_every_lazy_import_of_agoras_own_modules_says_why():
    assert unexplained_lazy_imports(SIM) == []


def test_the_lazy_import_rule_finds_an_unexplained_one(tmp_path):
    (tmp_path / "sim" / "runs").mkdir(parents=True)
    (tmp_path / "sim" / "runs" / "a.py").write_text(
        "def f():\n    from sim.core import world  # noqa: PLC0415\n    return world\n"
        "def g():\n    from sim.core import world  # noqa: PLC0415 - heavy\n    return world\n"
        "def h():\n    # numba loads only here\n    from sim.runs import kernels  # noqa: PLC0415\n    return kernels\n"
    )
    assert unexplained_lazy_imports(tmp_path / "sim") == ["sim/runs/a.py:2"]


@pytest.mark.parametrize("package", CIRCLE_PACKAGES)
def test_no_import_circle_inside_a_package(package):
    graph = import_graph(package)
    assert graph, package
    found = [
        " -> ".join(a_cycle(graph, c)) + (f" (modules in the circle: {', '.join(c)})" if len(c) > 2 else "")
        for c in circles(graph)
    ]
    assert not found, f"import circle in {package}: " + "; ".join(found)


def test_the_circle_rule_finds_a_circle():
    """The rule itself: a two-module and a three-module circle are found and named; a chain is not a circle."""
    graph = {
        "p.a": {"p.b"},
        "p.b": {"p.a"},
        "p.c": {"p.d"},
        "p.d": {"p.e"},
        "p.e": {"p.c"},
        "p.f": {"p.a"},
        "p.g": set(),
    }
    assert circles(graph) == [["p.a", "p.b"], ["p.c", "p.d", "p.e"]]
    assert a_cycle(graph, ["p.a", "p.b"]) == ["p.a", "p.b", "p.a"]
    assert a_cycle(graph, ["p.c", "p.d", "p.e"]) == ["p.c", "p.d", "p.e", "p.c"]
    assert circles({"p.a": {"p.b"}, "p.b": set()}) == []
    known = {"sim", "sim.cli", "sim.cli.main", "sim.cli.args", "sim.store", "sim.store.worldfile"}
    source = "from sim.cli import args\nfrom . import main\ndef f():\n    import sim.store.worldfile\n"
    assert imported_modules(source, "sim.cli.run", False, known) == {
        "sim.cli.args",
        "sim.cli.main",
        "sim.store.worldfile",
    }


# -- plugins import only the contract; the contract imports only the core ---------------------------------


def plugin_contract_violations() -> dict[str, list[str]]:
    """What each file of ``plugins/`` imports from ``sim`` other than ``sim.plugin`` (and its modules),
    and what ``sim/plugin/`` imports above ``sim.core`` and ``sim.errors``."""
    out: dict[str, list[str]] = {}
    top = SIM.parent
    for path in sorted((top / "plugins").rglob("*.py")):
        module = ".".join(path.relative_to(top).with_suffix("").parts)
        found = imports(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
        # A plugin may import another built-in plugin (lt builds on threshold): the package is its own.
        bad = [
            n for n in found if not (n == "sim.plugin" or n.startswith("sim.plugin.") or n.split(".")[0] == "plugins")
        ]
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
    (fake / "bad.py").write_text(
        "from sim.plugin import Param\nfrom sim.social import aggregate_pairs\ndef f():\n    import sim.llm.prompts\n"
    )
    (fake / "good.py").write_text("from sim.plugin import Param\nfrom sim.plugin.arrays import union_agents\n")
    (tmp_path / "sim" / "plugin").mkdir(parents=True)
    (tmp_path / "sim" / "plugin" / "x.py").write_text(
        "from sim.core.graph import Graph\nfrom sim.model import session\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "SIM", tmp_path / "sim")
    assert plugin_contract_violations() == {
        "plugins/bad.py": ["sim.social", "sim.llm.prompts"],
        "sim/plugin/x.py": ["sim.model"],
    }


# -- the terminal UI imports only the doors ---------------------------------------------------------------

TUI = SIM.parent / "tui"
#: What the terminal UI may import of ``sim`` (docs/architecture.md, ``../shared/ARCHITECTURE.md``): one world
#: kept live (``sim.live``; ``sim.live.frontend`` is its door to the rooms below, ``sim.live.forecasts`` re-exports
#: the forecast's result and job types from ``sim.runs``, which the UI does not import itself), the request and
#: result values, the plugins' schemas, the errors, and the version.
TUI_ALLOWED = ("sim.live", "sim.engine.requests", "sim.runs.results", "sim.plugin", "sim.errors", "sim.__version__")
#: The entry-point glue that plugs the UI into the command line (``agora tui`` and ``agora bench tui``) sits
#: where the command line does: it may also import the command line's helpers, the benchmarks' and the public
#: Python API (``import sim``, whose names reach every room); nothing else in ``tui`` may.
TUI_GLUE = ("tui/commands.py", "tui/bench.py")
GLUE_ALLOWED = ("sim.cli", "sim.bench")


def _inside(name: str, parts: tuple[str, ...]) -> bool:
    """Whether the dotted ``name`` is one of ``parts`` or inside one (``sim.live.views``; not ``sim.lively``)."""
    return any(name == part or name.startswith(part + ".") for part in parts)


def tui_violations() -> dict[str, list[str]]:
    """What each file of ``tui/`` imports of ``sim`` (or of the built-in plugins, reached only through the
    registry) beyond :data:`TUI_ALLOWED`, at any depth of its code; the glue's own allowance counted."""
    out: dict[str, list[str]] = {}
    top = TUI.parent
    for path in sorted(TUI.rglob("*.py")):
        rel = path.relative_to(top)
        parts = rel.with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        glue = rel.as_posix() in TUI_GLUE
        allowed = TUI_ALLOWED + (GLUE_ALLOWED if glue else ())
        bad = [
            name
            for name in imports(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
            if name.split(".")[0] in ("sim", "plugins") and not _inside(name, allowed) and not (glue and name == "sim")
        ]
        if bad:
            out[rel.as_posix()] = bad
    return out


def test_the_ui_imports_only_the_live_world_the_values_the_schemas_and_the_errors():
    assert (TUI / "app.py").exists(), "the terminal UI is tui/"
    assert tui_violations() == {}


def test_the_ui_rule_names_a_ui_module_reaching_below_the_doors(tmp_path, monkeypatch):
    """The rule itself: a UI module importing the core, the engine's tick, the benchmarks or a built-in
    plugin (at any depth, relative imports resolved) is named; the doors are not; the glue may import the
    command line, the benchmarks and ``sim`` itself, and nothing more below the doors."""
    fake = tmp_path / "tui"
    (fake / "views").mkdir(parents=True)
    (fake / "views" / "bad.py").write_text(
        "from sim.live.frontend import shown\nfrom sim.core.safe import shown as raw\n"
        "from sim.engine.requests import Inject\nfrom ..protocol import AgoraHost\n"
        "def f():\n    from sim.engine.simulation import Simulation\n    import sim\n    import plugins.ic\n"
    )
    (fake / "good.py").write_text(
        "from sim import __version__, errors\nfrom sim.errors import AgoraError\nfrom sim.plugin import Param\n"
        "from sim.runs.results import Series\nfrom sim.live.views import WorldViews\nimport textual.app\n"
        "from .views import bad\n"
    )
    (fake / "palette.py").write_text("from sim.bench.engine import PeakRSS\nfrom sim.lively import x\n")
    (fake / "commands.py").write_text(
        "import sim\nfrom sim.cli.args import positive_int\nfrom sim.bench.engine import PeakRSS\n"
        "from sim.store.create import saves_dir\nfrom tui.app import run_app\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "TUI", fake)
    assert tui_violations() == {
        "tui/commands.py": ["sim.store.create"],
        "tui/palette.py": ["sim.bench.engine", "sim.lively"],
        "tui/views/bad.py": ["sim.core.safe", "sim.engine.simulation", "sim", "plugins.ic"],
    }
