"""Every request is one typed value parsed at the door, and its errors name its fields (issue 58).

- Below the command line (every module of ``sim/`` but ``sim/cli``) no error spells a command-line flag: no
  string in an exception's construction or a ``raise`` (f-strings' parts included) says ``--something``, and
  no string constant is exactly a flag (``"--budget"``: a name an error would be built from). The command line
  prints a field as its flag (:mod:`sim.cli.fields`).
- ``world.fit(budget=0)`` says ``budget must be from 1 to 10,000,000, not 0``; ``agora fit --budget 0`` says the
  same of ``--budget`` (exit 2); ``POST /api/v1/forecasts {"runs": 0}`` names ``runs`` and states the bound a
  live world's forecast from Python states.
- ``sim.Fit``, ``sim.Forecast`` and ``sim.Arm`` are the values the command line, the API and Python build.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: A command-line flag inside a text: ``--`` and a letter, not after a word character or another ``-``.
FLAG = re.compile(r"(?<![\w-])--[A-Za-z][\w-]*")
#: The benches run ``agora`` as a subprocess, and the local model's server is llama.cpp's program run as one: their
#: argv lists (a list or tuple display, or ``+`` of them, whose items are plain strings) may name the flags of the
#: commands they run (llama.cpp's ``--n_threads`` is no flag of Agora's). Its errors are still checked.
ARGV_ROOTS = ("sim/bench/", "sim/llm/local.py")


def _strings(node: ast.AST) -> list[ast.Constant]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _error_nodes(tree: ast.AST) -> list[ast.AST]:
    """The ``raise`` statements and the calls that build an exception (a name ending in Error, Exception or
    Warning, or ``warn``)."""
    out: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            out.append(node.exc)
        elif isinstance(node, ast.Call):
            fn = node.func
            name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
            if name.endswith(("Error", "Exception", "Warning")) or name in ("warn",):
                out.append(node)
    return out


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _argv_constants(tree: ast.AST) -> set[int]:
    """The string items of list or tuple displays whose items are all plain strings or starred names (an argv)."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
            items = [e for e in node.elts if not isinstance(e, ast.Starred)]
            simple = (ast.Constant, ast.Name, ast.Attribute, ast.Subscript, ast.Call, ast.JoinedStr)
            flags = any(isinstance(e, ast.Constant) and FLAG.fullmatch(str(e.value)) for e in items)
            if items and flags and all(isinstance(e, simple) for e in items):
                ids.update(id(e) for e in items if isinstance(e, ast.Constant))
    return ids


def flag_mentions(source: str, path: str = "<string>") -> list[str]:
    """``path:line text`` of each string below the command line that spells a flag: one in an error's
    construction or a ``raise``, or a constant that is exactly a flag (docstrings never count; a bench's argv
    lists do not)."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    argv = _argv_constants(tree) if path.startswith(ARGV_ROOTS) else set()
    found: dict[int, str] = {}
    for node in _error_nodes(tree):
        for const in _strings(node):
            if id(const) not in docs and FLAG.search(const.value):
                found[id(const)] = f"{path}:{const.lineno} {const.value[:80]!r}"
    parts = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    for const in _strings(tree):
        if id(const) in docs or id(const) in argv or id(const) in parts:  # an f-string's part is no name
            continue
        if FLAG.fullmatch(const.value.strip()):
            found[id(const)] = f"{path}:{const.lineno} {const.value[:80]!r}"
    return sorted(found.values())


def _below_cli() -> list[Path]:
    return [p for p in sorted((ROOT / "sim").rglob("*.py")) if "sim/cli/" not in p.as_posix()]


def test_the_rule_catches_a_flag_in_an_error() -> None:
    """A made-up module: each way of spelling a flag in an error is caught, a docstring and a hint naming a
    command are not."""
    fake = '''
"""Docs may say --budget."""
from sim.errors import BadParameterError

def f(n, what="--seed"):
    """--budget here is a docstring."""
    if n < 1:
        raise BadParameterError(f"--budget must be at least 1, not {n}")
    if n > 9:
        raise ValueError("give " + "--population N")
    err = BadParameterError(f"{n} is too many: lower --workers")
    raise BadParameterError("run agora analyze on it, " + f"{n:,} ticks") from err
'''
    found = flag_mentions(fake, "sim/fake.py")
    assert {line.split(" ", 1)[0] for line in found} == {
        "sim/fake.py:5",
        "sim/fake.py:8",
        "sim/fake.py:10",
        "sim/fake.py:11",
    }, found


def test_no_error_below_the_command_line_spells_a_flag() -> None:
    found = [
        m for p in _below_cli() for m in flag_mentions(p.read_text(encoding="utf-8"), p.relative_to(ROOT).as_posix())
    ]
    assert not found, f"{len(found)} strings below sim/cli spell a flag:\n" + "\n".join(found)


# -- (b) the same bound, named as each front end names the field ------------------------------------------------
@pytest.fixture(scope="module")
def small_world(tmp_path_factory) -> Path:
    import sim

    folder = tmp_path_factory.mktemp("door")
    sim.new_world(str(folder / "w.db"), agents=300, seed=3)
    (folder / "curve.csv").write_text("tick,I\n0,10\n1,20\n2,25\n")
    return folder / "w.db"


BUDGET_0 = "budget must be from 1 to 10,000,000, not 0"


@pytest.mark.subprocess
def test_world_fit_names_the_field_and_the_command_line_its_flag(small_world: Path) -> None:
    import sim
    from sim.errors import BadParameterError

    with pytest.raises(BadParameterError) as caught:
        sim.open_world(str(small_world)).fit(observed=str(small_world.parent / "curve.csv"), budget=0)
    assert str(caught.value) == BUDGET_0 and caught.value.fields == ("budget",)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sim",
            "fit",
            str(small_world),
            "--observed",
            "curve.csv",
            "--param",
            "p=0.01..0.2",
            "--budget",
            "0",
        ],  # fmt: skip
        cwd=small_world.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"agora: error: --{BUDGET_0}", proc.stderr


@pytest.mark.subprocess
def test_a_served_forecast_names_runs_and_states_the_live_bound(tmp_path: Path, small_world: Path) -> None:
    """``POST /api/v1/forecasts {"runs": 0}`` and a live world's forecast from Python say the same sentence."""
    import shutil

    from test_api import Server

    import sim
    from sim.errors import BadParameterError

    shutil.copy(small_world, tmp_path / "w.db")
    with sim.open_world(str(tmp_path / "w.db")).simulation() as live, pytest.raises(BadParameterError) as caught:
        live.forecast(runs=0, ticks=5)
    python = str(caught.value)
    assert python.startswith("runs must be from 1 to ") and python.endswith(", not 0") and "--" not in python
    server = Server(tmp_path, "w.db")
    try:
        status, answer, _ = server.call("POST", "/api/v1/forecasts", {"runs": 0, "ticks": 5})
    finally:
        server.stop()
    assert status == 400, answer
    assert answer["error"] == python, (answer, python)


# -- (c) the classes every front end builds ---------------------------------------------------------------------
def test_the_front_ends_build_sim_fit_and_sim_forecast(small_world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``agora fit``/``agora forecast`` and ``world.fit``/``world.forecast`` hand to the engine is a
    ``sim.Fit``/``sim.Forecast`` whose arms are ``sim.Arm`` values holding parsed interventions."""
    import sim
    import sim.runs.fit.fitting as fitting
    import sim.runs.forecast as forecast
    from sim.cli.main import main
    from sim.errors import AgoraError

    got: list[object] = []

    async def fake_fit(world, registry, request, progress=None):  # noqa: ANN001, ANN202
        got.append(request)
        raise AgoraError("stop here")

    async def fake_forecast(world, registry, request, progress=None, posterior=None):  # noqa: ANN001, ANN202
        got.append(request)
        raise AgoraError("stop here")

    monkeypatch.setattr(fitting, "run_fit", fake_fit)
    monkeypatch.setattr(forecast, "run_forecast", fake_forecast)
    curve = str(small_world.parent / "curve.csv")
    world = sim.open_world(str(small_world))
    for call in (
        lambda: world.fit(observed=curve, params={"p": (0.01, 0.2)}),
        lambda: world.forecast(runs=2, ticks=3, arms={"block": ["block:degree:5"]}),
    ):
        with pytest.raises(AgoraError, match="stop here"):
            call()
    assert main(["fit", str(small_world), "--observed", curve, "--param", "p=0.01..0.2"]) == 2
    assert main(["forecast", str(small_world), "--runs", "2", "--ticks", "3", "--arm", "block=block:degree:5"]) == 2
    assert [type(r) for r in got] == [sim.Fit, sim.Forecast, sim.Fit, sim.Forecast]
    for fit in (got[0], got[2]):
        assert isinstance(fit, sim.Fit) and isinstance(fit.params.priors, sim.Priors)
        assert fit.params.priors.items == (sim.Prior("p", 0.01, 0.2),)
    for request in (got[1], got[3]):
        assert isinstance(request, sim.Forecast)
        (arm,) = request.arms
        assert type(arm) is sim.Arm and arm.name == "block"
        assert arm.interventions == (sim.Intervention(None, "block", seeds="degree:5"),)
    assert sim.SweepArm is not sim.Arm  # a sweep result's arm keeps its name there
