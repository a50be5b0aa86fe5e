"""The plugin author kit: the template that ``new_plugin`` writes, the conformance suite of
``check_plugin`` on good and deliberately broken models, the registry's handling of user folders and
entry points, and the ``agora plugins`` commands.

Broken models are written to tmp files from the reference cascade below with one fault each; every one
must fail the check that names its fault, with a reason a plugin author can act on.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sim.authoring import check_plugin, new_plugin, plugin_rows, schema_problems
from sim.authoring.templates import SOURCES, TEMPLATES, builtin_class, plugin_code
from sim.errors import AgoraError, BadFileError, BadParameterError, TargetExistsError
from sim.model.registry import PluginError, Registry, load_file

ROOT = Path(__file__).resolve().parents[1]
AGENTS = 2000  # small worlds keep the suite fast; the speed figure is measured on this size too

# A correct cascade; each broken model below replaces one marked piece of it.
CASCADE = """
import numpy as np
from sim.plugin import Param, PropagationModel, StepResult
{globals}

class Model(PropagationModel):
    name = "{name}"
    version = "1.0"
    description = "a test cascade"
    params = {{"{pname}": {param}}}
    progressive = True
{members}
    def step(self, ctx):
        src, dst, trust, eid = ctx.gather()
        open_ = ctx.state[dst] == 0
        src, dst, eid = src[open_], dst[open_], eid[open_]
{pre}
        hit = {draw} < {prob}
        winners, first = np.unique(dst[hit], return_index=True)
{post}
        return {result}
"""

DEFAULTS = {
    "globals": "",
    "param": 'Param(float, 0.3, 0.0, 1.0, "probability per edge")',
    "members": "",
    "pre": "",
    "draw": "ctx.random_edges(eid)",
    "pname": "p",
    "prob": 'self.p["{pname}"]',
    "post": "",
    "result": "StepResult(winners, 1, src[hit][first], attempts=int(eid.size), exposed=dst)",
}


def write_model(folder: Path, name: str, **changes: str) -> Path:
    parts = {**DEFAULTS, **changes}
    for key in ("pre", "post", "members"):
        parts[key] = textwrap.indent(
            textwrap.dedent(parts[key]).strip("\n"), "        " if key != "members" else "    "
        )
    parts["prob"] = parts["prob"].replace("{pname}", parts["pname"])
    path = folder / f"{name}.py"
    path.write_text(CASCADE.format(name=name, **parts))
    return path


def check(path: Path):
    report = check_plugin(str(path), agents=AGENTS)
    assert report.models or report.checks, "the checker produced no checks"
    return report


def failed_names(report) -> set[str]:
    return {c["name"] for c in report.checks if c["status"] == "fail"}


# -- good models -------------------------------------------------------------------------------------


def test_the_reference_cascade_passes(tmp_path):
    report = check(write_model(tmp_path, "good"))
    assert report.ok, report.render()
    assert {c["name"] for c in report.checks} == {
        "schema",
        "run",
        "shapes",
        "monotonicity",
        "determinism",
        "zero-probability",
        "isolation",
        "resume",
        "states",
        "variables",
        "feeds",
        "edges",
        "end",
        "explore",
    }
    assert all(c["status"] == "pass" for c in report.checks if c["name"] != "variables"), report.render()
    assert report.check("variables")["status"] == "skip"  # it declares none
    fig = report.figures["good"]
    assert (
        fig["agents"] == AGENTS
        and fig["attempts"] > 0
        and fig["attempts_per_second"] > 0
        and fig["seconds_per_round"] > 0
    )
    assert "result: all 14 checks passed" in report.render()
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is True and data["failed"] == 0 and data["models"] == ["good"]
    # The JSON only grew: every earlier key is there, with the new ones beside it.
    assert {"path", "ok", "models", "checks", "figures", "world", "failed"} <= set(data)
    assert data["recommenders"] == [] and data["kinds"] == {"good": "model"}
    assert (
        set(data["explore_worlds"]) == {"scale-free", "directed"} and data["explore_worlds"]["directed"]["isolated"] > 0
    )
    explored = data["explored"]["good"]
    assert {r["how"] for r in explored} == {"defaults", "one", "draw"} and all(r["status"] == "ok" for r in explored)
    assert {r["world"] for r in explored} == {"scale-free", "directed"}
    assert {(r["how"], r["world"]) for r in explored if r["params"] == {"p": 1.0}} == {
        ("one", "scale-free"),
        ("one", "directed"),
    }


def test_builtin_ic_passes():
    report = check_plugin(str(ROOT / "plugins" / "ic.py"), agents=AGENTS)
    assert report.ok, report.render()
    assert report.models == ["ic"]
    assert report.check("zero-probability")["detail"].startswith("with p=0 only the")


@pytest.mark.slow
def test_new_plugin_writes_a_model_that_passes_and_a_test_that_passes_and_can_fail(tmp_path):
    written = new_plugin("topic_cascade", str(tmp_path / "mine"))
    model, test = (Path(p) for p in written)
    assert model == tmp_path / "mine" / "topic_cascade.py" and test == tmp_path / "mine" / "test_topic_cascade.py"
    report = check(model)
    assert report.ok, report.render()
    assert report.models == ["topic_cascade"]

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test.name]
    proc = subprocess.run(cmd, cwd=model.parent, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout

    # The behavioural test really tests the topic filter: let off-topic agents adopt and it fails.
    src = model.read_text()
    broken = src.replace('"off_topic": Param(float, 0.0,', '"off_topic": Param(float, 1.0,')
    assert broken != src
    model.write_text(broken)
    proc = subprocess.run(cmd + ["-k", "topic"], cwd=model.parent, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "share no topic with the message" in proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize("template", ["compartmental", "opinion", "network"])
def test_every_template_writes_a_model_that_passes_the_check_and_tests_that_pass(tmp_path, template):
    written = new_plugin(f"my_{template}", str(tmp_path), template)
    model, test = (Path(p) for p in written)
    report = check(model)
    assert report.ok, report.render()
    text = model.read_text()
    # The text names the flags that exist: --plugins on run/sweep/tui, AGORA_PLUGINS; never 'agora --plugins'.
    assert "agora run WORLD --plugins FOLDER" in text and "AGORA_PLUGINS=FOLDER" in text
    assert "agora --plugins" not in text
    declared = {"compartmental": "progressive = False", "opinion": "variables = {", "network": "changes_edges = True"}
    assert declared[template] in text
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test.name],
        cwd=model.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and "2 passed" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_is_the_code_of_its_built_in_renamed(tmp_path, template):
    """Written out and loaded, a template's class has its built-in's methods line for line, its schema and
    its declarations, under the new name: the template is made from the built-in, so it cannot drift."""
    builtin = builtin_class(template)
    assert builtin.name == SOURCES[template][1]
    model_path, _ = new_plugin("mine", str(tmp_path), template)
    text = Path(model_path).read_text()
    assert "@NAME@" not in text and "@CLASS@" not in text and "@TITLE@" not in text
    assert "The code of the built-in" in text and f"``{builtin.name}``" in text
    mine = load_file(model_path).Mine
    assert mine.name == "mine" and mine.__name__ == "Mine"
    own = {k: v for k, v in vars(builtin).items() if inspect.isfunction(v) or isinstance(v, classmethod)}
    assert own, "the built-in defines no method"
    for key, value in own.items():
        func = value.__func__ if isinstance(value, classmethod) else value
        got = vars(mine)[key]
        got = got.__func__ if isinstance(got, classmethod) else got
        assert inspect.getsource(got) == inspect.getsource(func), f"{template}: {key} differs from {builtin.name}'s"
    assert mine.schema() == builtin.schema()
    for attr in (
        "states",
        "adopted_states",
        "transmitting_states",
        "transmit",
        "progressive",
        "variables",
        "uses_feed",
        "changes_edges",
        "role",
        "kind",
    ):
        assert getattr(mine, attr, None) == getattr(builtin, attr, None), attr


def test_a_template_refuses_a_built_in_that_needs_another_plugin_module():
    """A template must stand alone: ``lt`` subclasses ``plugins.threshold``'s class, so it cannot be one."""
    lt = Registry(entry_points=False, env=False).model("lt")
    with pytest.raises(ValueError, match="needs plugins.threshold: a template must stand alone"):
        plugin_code(lt, "lt")


def test_new_plugin_refuses_an_unknown_template(tmp_path):
    with pytest.raises(
        BadParameterError, match="template 'graph' is not one of cascade, compartmental, opinion, network"
    ):
        new_plugin("mine", str(tmp_path), "graph")
    assert list(tmp_path.iterdir()) == []


def test_new_plugin_refuses_to_overwrite_and_bad_names(tmp_path):
    new_plugin("mine", str(tmp_path))
    before = (tmp_path / "mine.py").read_text()
    with pytest.raises(TargetExistsError, match="mine.py exists"):
        new_plugin("mine", str(tmp_path))
    assert (tmp_path / "mine.py").read_text() == before
    # Only the test file exists: still nothing is written.
    (tmp_path / "test_other.py").write_text("# mine\n")
    with pytest.raises(TargetExistsError):
        new_plugin("other", str(tmp_path))
    assert not (tmp_path / "other.py").exists()
    assert (tmp_path / "test_other.py").read_text() == "# mine\n"
    for bad, why in (
        ("my-model", "not valid"),
        ("2fast", "not valid"),
        ("class", "keyword"),
        ("ic", "built-in"),
        ("_hidden", "starts with '_'"),
        ("random", "shadow"),
        ("test_x", "pytest"),
    ):
        with pytest.raises(BadParameterError, match=why):
            new_plugin(bad, str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.py", "test_mine.py", "test_other.py"]


# -- broken models: each fails the check that names its fault -----------------------------------------


def test_a_model_that_raises_in_step_fails_run_with_its_traceback(tmp_path):
    path = write_model(
        tmp_path,
        "raiser",
        pre="""
        if ctx.round >= 1:
            raise RuntimeError("boom in round two")
    """,
    )
    report = check(path)
    assert not report.ok
    run = report.check("run")
    assert run["status"] == "fail"
    assert "RuntimeError: boom in round two" in run["detail"] and "in round 2" in run["detail"]
    assert "raise RuntimeError" in run["traceback"] and str(path) in run["traceback"]
    assert report.check("schema")["status"] == "pass"
    assert report.check("determinism")["status"] == "skip"
    text = report.render()
    assert "FAIL  run" in text and "boom in round two" in text and str(path) in text


@pytest.mark.parametrize(
    "change, needle",
    [
        (
            {"result": "StepResult(winners.astype(np.float64), 1, src[hit][first], attempts=int(eid.size))"},
            "dtype float64",
        ),
        (
            {"result": "StepResult(winners, np.full(winners.size, 1.0), src[hit][first], attempts=int(eid.size))"},
            "new_state",
        ),
        (
            {"result": "StepResult(winners, 1, np.append(src[hit][first], -1), attempts=int(eid.size))"},
            "sources of shape",
        ),
        (
            {"result": "StepResult(winners, 1, src[hit][first], attempts=int(eid.size), exposed=dst.astype(float))"},
            "exposed",
        ),
    ],
    ids=["agents-float", "new-state-float", "sources-misaligned", "exposed-float"],
)
def test_wrong_dtypes_and_shapes_fail_shapes(tmp_path, change, needle):
    report = check(write_model(tmp_path, "shapeless", **change))
    shapes = report.check("shapes")
    assert shapes["status"] == "fail", report.render()
    assert needle in shapes["detail"]
    assert report.check("run")["status"] == "pass"
    assert not report.ok


@pytest.mark.parametrize(
    "change",
    [
        {"draw": "np.random.random(eid.size)"},
        {
            "members": (
                "def __init__(self, **kw):\n    super().__init__(**kw)\n    self.gen = np.random.default_rng()\n"
            ),
            "draw": "self.gen.random(eid.size)",
        },
    ],
    ids=["global-numpy-random", "unseeded-generator"],
)
def test_non_deterministic_models_fail_determinism(tmp_path, change):
    report = check(write_model(tmp_path, "dice", **change))
    det = report.check("determinism")
    assert det["status"] == "fail", report.render()
    assert "differ" in det["detail"] and "ctx.rng" in det["detail"]
    assert report.check("run")["status"] == "pass" and report.check("shapes")["status"] == "pass"


def test_a_model_that_ignores_p_fails_zero_probability(tmp_path):
    report = check(write_model(tmp_path, "deaf", prob="0.5"))
    zero = report.check("zero-probability")
    assert zero["status"] == "fail", report.render()
    assert "with p=0" in zero["detail"] and "besides the 10 seeds adopted" in zero["detail"]
    assert failed_names(report) == {"zero-probability"}


def test_zero_params_names_a_parameter_to_zero(tmp_path):
    # No probability-like name: skipped unless the model lists it in zero_params; then a model that
    # ignores it fails.
    kw = {"pname": "strength", "param": 'Param(float, 0.3, 0.0, 1.0, "strength")'}
    skipped = check(write_model(tmp_path, "strength_a", **kw)).check("zero-probability")
    assert skipped["status"] == "skip" and "zero_params" in skipped["detail"]
    honest = check(write_model(tmp_path, "strength_b", members="zero_params = ('strength',)", **kw))
    assert honest.check("zero-probability")["detail"].startswith("with strength=0 only the 10 seeds adopted")
    liar = check(write_model(tmp_path, "strength_c", members="zero_params = ('strength',)", prob="0.4", **kw))
    assert liar.check("zero-probability")["status"] == "fail"
    none = check(write_model(tmp_path, "strength_e", members="zero_params = ()", **kw)).check("zero-probability")
    assert none["status"] == "skip" and "no parameter stops its spread" in none["detail"]
    assert (
        "zero_params names 'nope', which is not a parameter"
        in check(write_model(tmp_path, "strength_d", members="zero_params = ('nope',)", **kw)).check("schema")["detail"]
    )


def test_module_level_state_fails_isolation(tmp_path):
    # Remembers every agent any session reached, in a module global: the second of two sessions that
    # run side by side then skips agents the first one reached.
    path = write_model(
        tmp_path,
        "leaky",
        globals="_REACHED = {}",
        pre="""
        seen = _REACHED.setdefault(ctx.n, np.zeros(ctx.n, dtype=bool))
        keep = ~seen[dst]
        src, dst, eid = src[keep], dst[keep], eid[keep]
    """,
        post="seen[winners] = True",
    )
    report = check(path)
    iso = report.check("isolation")
    assert iso["status"] == "fail", report.render()
    assert "side by side differs from the same session run alone" in iso["detail"]
    assert report.check("determinism")["status"] == "pass"  # each run on a fresh import agrees with itself
    assert failed_names(report) == {"isolation"}


def test_a_model_that_writes_to_the_world_fails_isolation(tmp_path):
    # The graph a model sees is read-only (as are the columns): the write itself raises, so the run fails
    # there, naming the line, and the world is untouched.
    report = check(write_model(tmp_path, "vandal", pre="ctx.graph.trust[:] = 0.5"))
    run = report.check("run")
    assert run["status"] == "fail" and "read-only" in run["detail"], report.render()
    assert "ctx.graph.trust[:] = 0.5" in run["traceback"], report.render()


def test_data_kept_on_self_by_start_fails_resume(tmp_path):
    # start() draws a per-agent factor and keeps it on self: after a save and reload the model is made
    # again without start, so the factor is gone. ctx.store is what is saved with a session.
    members = """
    def start(self, ctx):
        self.factor = ctx.random_agents(np.arange(ctx.n)) + 0.5
    """
    report = check(write_model(tmp_path, "forgetful", members=members, prob='self.p["p"] * self.factor[dst]'))
    resume = report.check("resume")
    assert resume["status"] == "fail", report.render()
    assert "saved and reloaded after round" in resume["detail"] and "AttributeError" in resume["detail"]
    assert "ctx.store" in resume["detail"] and "self.factor" in resume["traceback"]
    assert failed_names(report) == {"resume"}
    fixed = members.replace("self.factor =", "ctx.store['factor'] =")
    report = check(write_model(tmp_path, "remembering", members=fixed, prob='self.p["p"] * ctx.store["factor"][dst]'))
    assert report.ok, report.render()


def test_progressive_model_that_unadopts_fails_monotonicity(tmp_path):
    path = write_model(
        tmp_path,
        "fickle",
        post="""
        back = ctx.frontier[:1]
        agents = np.concatenate([winners, back])
        states = np.concatenate([np.ones(winners.size, dtype=np.int8), np.zeros(back.size, dtype=np.int8)])
        sources = np.concatenate([src[hit][first], np.full(back.size, -1)])
    """,
        result="StepResult(agents, states, sources, attempts=int(eid.size))",
    )
    report = check(path)
    mono = report.check("monotonicity")
    assert mono["status"] == "fail", report.render()
    assert "left the adopted states" in mono["detail"] and "adopted (1) -> susceptible (0)" in mono["detail"]
    assert "progressive = True" in mono["detail"]
    assert report.check("shapes")["status"] == "pass"
    assert report.check("run")["status"] == "pass"


def test_the_same_model_not_declared_progressive_passes(tmp_path):
    path = write_model(
        tmp_path,
        "fickle_ok",
        members="progressive = False",
        post="""
        back = ctx.frontier[:1]
        agents = np.concatenate([winners, back])
        states = np.concatenate([np.ones(winners.size, dtype=np.int8), np.zeros(back.size, dtype=np.int8)])
        sources = np.concatenate([src[hit][first], np.full(back.size, -1)])
    """,
        result="StepResult(agents, states, sources, attempts=int(eid.size))",
    )
    report = check(path)
    assert report.check("monotonicity")["status"] == "skip"
    assert report.ok, report.render()


def test_a_schema_default_outside_its_own_bounds_fails_schema(tmp_path):
    report = check(write_model(tmp_path, "overdone", param='Param(float, 1.5, 0.0, 1.0, "probability")'))
    schema = report.check("schema")
    assert schema["status"] == "fail"
    assert "parameter p: default 1.5 fails its own validation: expected a number in [0, 1]" in schema["detail"]
    assert not report.ok


def test_schema_problems_name_each_inconsistency():
    from sim.plugin import Param, PropagationModel

    class Bad(PropagationModel):
        name = "bad model"
        version = ""
        description = "x"
        params = {"k": Param(int, 2, 5, 1), "mode": Param(str, "c", choices=("a", "b")), "q": 0.5}
        states = ("s", "i", "r")
        adopted_states = (1, 3)
        transmitting_states = (2,)
        transmit = "sometimes"
        seed_state = 1

        def step(self, ctx):  # pragma: no cover - never run
            raise NotImplementedError

    text = "\n".join(schema_problems(Bad))
    for needle in (
        "contains whitespace",
        "version is empty",
        "parameter k: min 5 is above max 1",
        "parameter mode: default 'c' fails",
        "parameter q: is a float, not a Param",
        "adopted_states (1, 3) holds 3",
        "transmit 'sometimes'",
        "seed_state 1 (i) is not a transmitting state",
    ):
        assert needle in text, text
    assert schema_problems(load_file(str(ROOT / "plugins" / "ic.py")).IndependentCascade) == []


@pytest.mark.parametrize(
    "source, needle",
    [
        ("import definitely_not_a_module_xyz\n", "ModuleNotFoundError"),
        ("def broken(:\n", "SyntaxError"),
        ("raise SystemExit(3)\n", "SystemExit"),
    ],
    ids=["missing-import", "syntax-error", "system-exit"],
)
def test_a_file_that_fails_to_import_is_reported(tmp_path, source, needle):
    path = tmp_path / "unloadable.py"
    path.write_text(source)
    report = check_plugin(str(path), agents=AGENTS)
    assert not report.ok and report.models == []
    imp = report.check("import")
    assert imp["status"] == "fail" and needle in imp["detail"] and needle in imp["traceback"]
    assert "FAIL  import" in report.render()


def test_a_file_without_a_model_is_reported(tmp_path):
    path = tmp_path / "empty.py"
    path.write_text("X = 1\n")
    report = check_plugin(str(path), agents=AGENTS)
    assert not report.ok and "defines no subclass" in report.check("models")["detail"]
    with pytest.raises(BadFileError, match="does not exist"):
        check_plugin(str(tmp_path / "missing.py"))
    with pytest.raises(BadParameterError, match="at least 100"):
        check_plugin(str(path), agents=10)


# -- the registry ---------------------------------------------------------------------------------------


def registry(*folders: Path, entry_points: bool = False) -> Registry:
    return Registry([str(f) for f in folders], builtins=False, entry_points=entry_points, env=False)


def test_a_user_folder_plugin_is_discovered_and_reload_picks_up_edits(tmp_path):
    path = write_model(tmp_path, "mine")
    reg = registry(tmp_path)
    assert reg.get("mine").version == "1.0"
    row = next(r for r in plugin_rows(reg) if r["name"] == "mine")
    assert row["loaded"] and row["source"] == str(path) and row["params"]["p"]["default"] == 0.3
    path.write_text(path.read_text().replace('version = "1.0"', 'version = "2.0.1"'))
    assert reg.get("mine").version == "1.0"  # nothing changes until a reload
    assert reg.reload() == []
    assert reg.get("mine").version == "2.0.1"


def test_reload_picks_up_a_same_size_edit_made_within_a_second(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    path = write_model(tmp_path, "quick")
    reg = registry(tmp_path)
    assert reg.get("quick").version == "1.0"
    st = path.stat()
    path.write_text(path.read_text().replace('version = "1.0"', 'version = "2.0"'))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # an editor saving within the same second
    reg.reload()
    assert reg.get("quick").version == "2.0"


def test_a_failed_import_is_listed_with_its_traceback(tmp_path):
    (tmp_path / "broken.py").write_text("import numpy\nraise ValueError('plugin exploded at import')\n")
    write_model(tmp_path, "fine")
    reg = registry(tmp_path)
    rows = {r["name"]: r for r in plugin_rows(reg)}
    assert rows["fine"]["status"] == "loaded"
    broken = rows["broken"]
    assert broken["status"] == "failed" and not broken["loaded"]
    assert broken["error"] == "ValueError: plugin exploded at import"
    assert "plugin exploded at import" in broken["traceback"] and "broken.py" in broken["traceback"]
    with pytest.raises(PluginError) as info:
        reg.get("broken")
    assert "plugin exploded at import" in info.value.traceback


def test_an_entry_point_is_listed_without_importing_and_fails_on_use(tmp_path, monkeypatch):
    site = tmp_path / "site"
    dist = site / "agora_fake_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: agora-fake-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[agora.plugins]\nexplode = agora_fake_explode:Model\n")
    (site / "agora_fake_explode.py").write_text("raise RuntimeError('the fake plugin exploded on import')\n")
    monkeypatch.syspath_prepend(str(site))
    reg = registry(entry_points=True)
    rows = {r["name"]: r for r in plugin_rows(reg)}
    assert "explode" in rows, rows
    row = rows["explode"]
    assert row["source"] == "entry-point:agora-fake-plugin"
    assert row["status"] == "not imported" and row["kind"] == "unknown" and row["error"] is None
    assert "agora_fake_explode" not in sys.modules  # listed from metadata only
    with pytest.raises(PluginError) as info:
        reg.get("explode")
    assert "the fake plugin exploded on import" in str(info.value)
    assert (
        "the fake plugin exploded on import" in info.value.traceback and "agora_fake_explode.py" in info.value.traceback
    )
    assert next(r for r in plugin_rows(reg) if r["name"] == "explode")["status"] == "failed"


# -- the commands ------------------------------------------------------------------------------------------


def run_cli(*argv: str) -> int:
    from sim.cli.args import Parser as _Parser
    from sim.cli.parser import add_plugins as add_commands
    from sim.cli.plugins import handle

    parser = _Parser(prog="agora")
    add_commands(parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser))
    return handle(parser.parse_args(list(argv)))


def test_cli_new_list_and_check(tmp_path, capsys):
    folder = tmp_path / "plugs"
    assert run_cli("plugins", "new", "echo_chamber", "--dir", str(folder), "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["files"] == [str(folder / "echo_chamber.py"), str(folder / "test_echo_chamber.py")]
    with pytest.raises(TargetExistsError):
        run_cli("plugins", "new", "echo_chamber", "--dir", str(folder))

    (folder / "broken.py").write_text("raise ImportError('no luck')\n")
    assert run_cli("plugins", "list", "--plugins", str(folder), "--json") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    rows = {r["name"]: r for r in json.loads(lines[0])["plugins"]}
    assert rows["echo_chamber"]["status"] == "loaded" and rows["broken"]["status"] == "failed"
    assert "no luck" in rows["broken"]["traceback"]
    assert run_cli("plugins", "list", "--plugins", str(folder)) == 0
    text = capsys.readouterr().out
    assert "echo_chamber" in text and "ImportError: no luck" in text and "broken.py, line 1" in text

    assert run_cli("plugins", "check", str(folder / "echo_chamber.py"), "--agents", str(AGENTS)) == 0
    assert "result: all 14 checks passed" in capsys.readouterr().out
    bad = write_model(tmp_path, "deaf", prob="0.5")
    assert run_cli("plugins", "check", str(bad), "--agents", str(AGENTS), "--json") == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and [c["name"] for c in data["checks"] if not c["ok"]] == ["zero-probability"]
    with pytest.raises(AgoraError, match="does not exist"):
        run_cli("plugins", "check", str(tmp_path / "nope.py"))
    with pytest.raises(AgoraError, match="does not exist"):
        run_cli("plugins", "list", "--plugins", str(tmp_path / "nowhere"))


def test_cli_usage_mistakes_exit_2(capsys):
    for argv in (["plugins"], ["plugins", "check"], ["plugins", "check", "x.py", "--agents", "0"]):
        with pytest.raises(SystemExit) as info:
            run_cli(*argv)
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error:" in err


def test_check_runs_inside_an_event_loop(tmp_path):
    """A UI on an event loop may call the checker directly: it runs its simulations on a private loop."""
    import asyncio

    path = write_model(tmp_path, "looped")

    async def main():
        return check_plugin(str(path), agents=AGENTS)

    t0 = time.perf_counter()
    assert asyncio.run(main()).ok
    assert time.perf_counter() - t0 < 300  # no deadlock with the caller's loop (a bound on a hang only)
