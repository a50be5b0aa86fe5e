"""The shape of the code (issue 46), read from the source with ``ast``: values at the doors, rooms by purpose.

- No public signature in ``sim/lab``, ``sim/runs`` or ``sim/live`` names ``Any`` (a public function or method:
  a name without a leading underscore, in a module without one, of a class without one).
- No function takes more than 10 parameters (``self``/``cls`` not counted), except the constructors of the
  request values (``sim/engine/requests/``), whose fields are the parameters.
- No function in ``sim/`` or ``tui/`` is over 100 lines, except the declarative tables named in
  :data:`TABLES` (each a list of literal declarations: an argparse command, the OpenAPI description).
- ``WorldController`` and ``AgoraApp`` have fewer than 30 methods each (properties count).
- No file in ``sim/`` or ``tui/`` is over 1,000 lines.

The layer ranks, ``tui`` included, are ``tests/test_layers.py``'s.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Functions that are one declarative table each, kept whole because they read as one literal: the OpenAPI
#: description of the HTTP API (``path:name``).
TABLES = {"sim/api/openapi.py:spec"}
#: Where public signatures may not say ``Any``.
TYPED_ROOMS = ("sim/lab", "sim/runs", "sim/live")
#: Where the request values live: their constructors take every field.
REQUESTS = "sim/engine/requests/"


def _files(*tops: str) -> Iterator[Path]:
    for top in tops:
        yield from sorted((ROOT / top).rglob("*.py"))


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _name(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)} {getattr(node, 'name', '')}"


def parameters(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Positional, keyword-only, ``*args`` and ``**kwargs`` parameters, ``self`` and ``cls`` not counted."""
    a = fn.args
    names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
    count = len(names) + (a.vararg is not None) + (a.kwarg is not None)
    return count - (1 if names and names[0] in ("self", "cls") else 0)


def _mentions_any(node: ast.AST | None) -> bool:
    if node is None:
        return False
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id == "Any":
            return True
        if isinstance(sub, ast.Attribute) and sub.attr == "Any":
            return True
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and "Any" in sub.value.split("[")[0:1]:
            return True
    return False


def public_signatures_with_any(path: Path) -> list[str]:
    """The public functions and methods of a module whose parameters or return type name ``Any``."""
    if path.name.startswith("_") and path.name != "__init__.py":
        return []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def check(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if fn.name.startswith("_") and fn.name != "__init__":
            return
        a = fn.args
        annotated = [x.annotation for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
        annotated += [a.vararg.annotation if a.vararg else None, a.kwarg.annotation if a.kwarg else None]
        if any(_mentions_any(x) for x in annotated) or _mentions_any(fn.returns):
            found.append(_name(path, fn))

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            check(node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    check(item)
    return found


def methods(path: str, cls: str) -> list[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            return [n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    raise AssertionError(f"no class {cls} in {path}")


def test_no_public_signature_in_lab_runs_or_live_says_any():
    found = [x for path in _files(*TYPED_ROOMS) for x in public_signatures_with_any(path)]
    assert found == []


def test_no_function_takes_more_than_ten_parameters():
    found = [
        f"{_name(path, fn)} ({parameters(fn)})"
        for path in _files("sim", "tui", "plugins")
        for fn in _functions(ast.parse(path.read_text(encoding="utf-8")))
        if parameters(fn) > 10 and not str(path.relative_to(ROOT)).startswith(REQUESTS)
    ]
    assert found == []


def test_no_function_is_over_a_hundred_lines():
    found = [
        f"{_name(path, fn)} ({fn.end_lineno - fn.lineno + 1} lines)"
        for path in _files("sim", "tui")
        for fn in _functions(ast.parse(path.read_text(encoding="utf-8")))
        if (fn.end_lineno or 0) - fn.lineno + 1 > 100 and f"{path.relative_to(ROOT)}:{fn.name}" not in TABLES
    ]
    assert found == []


@pytest.mark.parametrize(("path", "cls"), [("sim/live/controller.py", "WorldController"), ("tui/app.py", "AgoraApp")])
def test_the_controller_and_the_app_are_thin(path, cls):
    assert len(methods(path, cls)) < 30, methods(path, cls)


def test_no_file_is_over_1000_lines():
    found = [
        f"{path.relative_to(ROOT)} ({n} lines)"
        for path in _files("sim", "tui")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 1000
    ]
    assert found == []


def test_the_rules_see_what_they_should():
    """The checks themselves, on small sources: a parameter count, an ``Any`` in a signature, a long function."""
    fn = ast.parse("def f(self, a, b, *c, d, **e): pass").body[0]
    assert isinstance(fn, ast.FunctionDef) and parameters(fn) == 5
    sig = ast.parse("def f(x: dict[str, Any]) -> int: pass").body[0]
    assert isinstance(sig, ast.FunctionDef) and _mentions_any(sig.args.args[0].annotation)
    assert not _mentions_any(ast.parse("x: dict[str, object]").body[0].annotation)  # type: ignore[attr-defined]
