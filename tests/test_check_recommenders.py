"""``agora plugins check`` on content and friend recommenders, driven through the real engine.

The checker used to refuse a recommender file ("the checker checks propagation models only", exit 1).
Each broken recommender below breaks the contract in one way and must fail the check that names it,
with a reason its author can act on; the good ones, the built-ins and the two templates must pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sim.authoring import check_plugin, check_world, new_plugin, run_recommender
from sim.model.registry import load_file

ROOT = Path(__file__).resolve().parents[1]
AGENTS = 2000
RECOMMENDER_CHECKS = {"schema", "run", "shapes", "read-only", "hidden", "determinism", "explore"}

HEADER = "import numpy as np\nfrom sim.plugin import ContentRecommender, FriendRecommender, Param\n\n"


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def content(name: str, score: str, params: str = "{}", extra: str = "") -> str:
    return f'''
class Rec(ContentRecommender):
    name = "{name}"
    version = "1.0"
    description = "a test recommender"
    params = {params}
{textwrap.indent(textwrap.dedent(extra), "    ")}
    def score(self, ctx):
{textwrap.indent(textwrap.dedent(score).strip(), "        ")}
'''


def friend(name: str, suggest: str, params: str = "{}", extra: str = "") -> str:
    return f'''
class Friends(FriendRecommender):
    name = "{name}"
    version = "1.0"
    description = "a test friend recommender"
    params = {params}
{textwrap.indent(textwrap.dedent(extra), "    ")}
    def suggest(self, ctx):
{textwrap.indent(textwrap.dedent(suggest).strip(), "        ")}
'''


GOOD_SCORE = """
match = ctx.interest_match()
return np.where(match > 0, match * np.log1p(ctx.adopted)[None, :], -np.inf)
"""


def check(path: Path):
    return check_plugin(str(path), agents=AGENTS)


def failed(report) -> set[str]:
    return {c["name"] for c in report.failed}


def run_cli(*argv: str) -> int:
    from sim.cli.args import Parser as _Parser
    from sim.cli.parser import add_plugins as add_commands
    from sim.cli.plugins import handle

    parser = _Parser(prog="agora")
    add_commands(parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser))
    return handle(parser.parse_args(list(argv)))


# -- good recommenders -----------------------------------------------------------------------------


def test_a_good_content_recommender_passes_every_check(tmp_path, capsys):
    path = write(tmp_path, "good", content("good", GOOD_SCORE))
    report = check(path)
    assert report.ok, report.render()
    assert report.models == [] and report.recommenders == ["good"] and report.kinds == {"good": "recommender"}
    assert {c["name"] for c in report.checks} == RECOMMENDER_CHECKS
    assert all(c["status"] == "pass" for c in report.checks), report.render()
    hidden = report.check("hidden")["detail"]
    assert "were -inf" in hidden and "none of those items was shown" in hidden  # the -inf items existed and stayed out
    assert "0 items shown" not in hidden
    fig = report.figures["good"]
    assert (
        fig["agents"] == AGENTS and fig["readers_per_tick"] > 0 and fig["messages"] >= 3 and fig["seconds_per_tick"] > 0
    )
    text = report.render()
    assert "content recommender good" in text and "readers x" in text and "result: all 7 checks passed" in text

    # The command that used to answer "the checker checks propagation models only" and exit 1.
    assert run_cli("plugins", "check", str(path), "--agents", str(AGENTS), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["recommenders"] == ["good"] and data["kinds"] == {"good": "recommender"}


def test_nan_and_minus_inf_scores_are_never_shown_and_do_not_crash_the_engine(tmp_path):
    score = """
    match = ctx.interest_match()
    scores = match.copy()
    scores[match == 0] = np.nan
    scores[:, -1] = -np.inf
    return scores
    """
    report = check(write(tmp_path, "holes", content("holes", score)))
    assert report.ok, report.render()
    detail = report.check("hidden")["detail"]
    neg, nan = (
        int(x.replace(",", ""))
        for x in (detail.split(" were -inf")[0].split()[-1], detail.split(" nan")[0].split()[-1])
    )
    assert neg > 0 and nan > 0, detail
    # Driven by hand: no shown item was scored nan or -inf.
    run = run_recommender(load_file(str(tmp_path / "holes.py")).Rec, check_world(AGENTS), ticks=6, seed=0)
    assert run.error is None and run.shown
    for tick, sid, agents, _ in run.shown:
        answer = next(a for a in run.answers if a.tick == tick and sid in a.sessions)
        rows = np.searchsorted(answer.who, agents)
        assert np.isfinite(answer.arrays[0][rows, answer.sessions.index(sid)]).all()


def test_a_good_friend_recommender_passes(tmp_path):
    suggest = """
    a, _, c = ctx.two_hop(4)
    return a, c, ctx.compatibility(a, c)
    """
    report = check(write(tmp_path, "fof", friend("fof", suggest)))
    assert report.ok, report.render()
    assert report.kinds == {"fof": "friend-recommender"}
    assert report.check("hidden")["status"] == "skip"
    assert report.figures["fof"]["agents_per_tick"] > 0 and report.figures["fof"]["suggestions_per_tick"] > 0
    assert "friend recommender fof" in report.render() and "agents looking per tick" in report.render()


# -- broken recommenders: each fails the check that names its fault ------------------------------------


def test_a_recommender_that_raises_fails_run_with_its_traceback(tmp_path, capsys):
    path = write(
        tmp_path,
        "raiser",
        content(
            "raiser",
            """
        if ctx.tick >= 2:
            raise RuntimeError("boom in score")
        return np.zeros(ctx.shape)
    """,
        ),
    )
    report = check(path)
    run = report.check("run")
    assert run["status"] == "fail", report.render()
    assert run["detail"] == "score raised RuntimeError: boom in score at tick 2"
    line = path.read_text().splitlines().index('            raise RuntimeError("boom in score")') + 1
    assert (
        f'File "{path}", line {line}, in score' in run["traceback"]
        and 'raise RuntimeError("boom in score")' in run["traceback"]
    )
    assert failed(report) == {"run"}
    assert report.render().splitlines()[-1] == "result: 1 of 7 checks failed (run raised RuntimeError)"
    assert run_cli("plugins", "check", str(path), "--agents", str(AGENTS)) == 1
    assert str(path) in capsys.readouterr().out


def test_a_recommender_whose_init_raises_fails_run(tmp_path):
    extra = """
    def __init__(self, **params):
        super().__init__(**params)
        raise KeyError("no table")
    """
    report = check(write(tmp_path, "unmade", content("unmade", GOOD_SCORE, extra=extra)))
    run = report.check("run")
    assert run["status"] == "fail" and "KeyError" in run["detail"] and "no table" in run["detail"], report.render()
    assert "unmade.py" in run["traceback"]


@pytest.mark.parametrize(
    "score, needle",
    [
        ("return np.zeros((len(ctx.sessions), ctx.readers.size))", "returned scores of shape (4, "),
        ("return np.zeros(ctx.readers.size)", "returned scores of shape ("),
        ("return np.full(ctx.shape, 'high')", "dtype <U4"),
        ("return np.full(ctx.shape, np.inf)", "returned +inf scores"),
        ("return np.zeros(ctx.shape), np.full(ctx.shape, 1.5)", "returned sharers of shape"),
    ],
    ids=["transposed", "one-per-reader", "text", "plus-inf", "float-sharers"],
)
def test_a_recommender_with_the_wrong_shape_or_dtype_fails_shapes(tmp_path, score, needle):
    path = write(tmp_path, "shapeless", content("shapeless", score))
    report = check(path)
    shapes = report.check("shapes")
    assert shapes["status"] == "fail", report.render()
    assert needle in shapes["detail"], shapes["detail"]
    assert failed(report) == {"shapes"} and report.check("run")["status"] == "pass"
    assert "shapeless.py" in shapes["traceback"] and "(its answer was refused)" in shapes["traceback"]


def test_a_recommender_that_writes_to_a_read_only_array_is_reported_clearly(tmp_path):
    path = write(
        tmp_path,
        "vandal",
        content(
            "vandal",
            """
        rep = ctx.columns["reputation"]
        rep /= rep.max()
        return np.zeros(ctx.shape)
    """,
        ),
    )
    report = check(path)
    ro = report.check("read-only")
    assert ro["status"] == "fail", report.render()
    line = path.read_text().splitlines().index("        rep /= rep.max()") + 1
    assert ro["detail"].startswith(
        "score wrote to a read-only array at tick 1 (ValueError: output array is read-only, "
        f"at vandal.py:{line}: rep /= rep.max())"
    ), ro["detail"]
    assert f'vandal.py", line {line}, in score' in ro["traceback"]
    assert "copy one before changing it" in ro["detail"]
    assert report.check("run")["status"] == "skip" and failed(report) == {"read-only"}
    assert "wrote to a read-only array" in report.render().splitlines()[-1]


def test_a_recommender_that_writes_to_the_world_behind_the_context_fails_read_only(tmp_path):
    path = write(
        tmp_path,
        "sneak",
        content(
            "sneak",
            """
        ctx._world.columns["reputation"][ctx.readers] = 1.0
        return np.zeros(ctx.shape)
    """,
        ),
    )
    ro = check(path).check("read-only")
    assert ro["status"] == "fail" and "changed the world (column reputation)" in ro["detail"], ro["detail"]


@pytest.mark.parametrize(
    "body, needle",
    [
        (
            content("dice", "return np.random.random(ctx.shape)"),
            "called twice with the same generator, score answered differently",
        ),
        (
            content(
                "drift", "self.calls = getattr(self, 'calls', 0) + 1\nreturn np.full(ctx.shape, float(self.calls))"
            ),
            "called twice with the same generator, score answered differently",
        ),
        (
            friend(
                "counter",
                "self.calls = getattr(self, 'calls', 0) + 1\na, c = ctx.candidates_random(3)\n"
                "return a, c, np.full(a.size, float(self.calls))",
            ),
            "called twice with the same generator, suggest answered differently",
        ),
    ],
    ids=["global-numpy-random", "state-on-self", "friend-state-on-self"],
)
def test_a_recommender_that_is_not_a_function_of_the_tick_generator_fails_determinism(tmp_path, body, needle):
    report = check(write(tmp_path, "undetermined", body))
    det = report.check("determinism")
    assert det["status"] == "fail", report.render()
    assert needle in det["detail"] and "ctx.rng" in det["detail"]
    assert failed(report) == {"determinism"}


def test_a_seeded_random_recommender_is_deterministic(tmp_path):
    report = check(write(tmp_path, "lucky", content("lucky", "return ctx.rng.random(ctx.shape)")))
    assert report.ok, report.render()


def test_a_friend_recommender_that_breaks_at_a_parameter_extreme_fails_explore(tmp_path):
    path = write(
        tmp_path,
        "extreme",
        friend(
            "extreme",
            """
        a, c = ctx.candidates_random(self.p["k"])
        if self.p["k"] == 50:
            c = c + ctx.n
        return a, c, np.ones(a.size)
    """,
            params='{"k": Param(int, 3, 1, 50, "candidates per agent")}',
        ),
    )
    report = check(path)
    assert failed(report) == {"explore"}, report.render()
    explore = report.check("explore")
    assert explore["detail"].startswith(
        "fails at k=50 on both worlds: friend recommender extreme returned agent indices outside"
    )
    assert explore["params"] == {"k": 50}
    assert report.render().splitlines()[-1].startswith("result: 1 of 7 checks failed (explore at k=50: ")


def test_a_file_with_a_model_and_recommenders_checks_all_of_them(tmp_path, capsys):
    body = (
        content("feed", GOOD_SCORE)
        + friend("feed", "a, c = ctx.candidates_random(2)\nreturn a, c, np.zeros(a.size)")
        + """
from sim.plugin import PropagationModel, StepResult


class Cascade(PropagationModel):
    name = "mixed_cascade"
    version = "1.0"
    description = "a cascade beside two recommenders"
    params = {"p": Param(float, 0.2, 0.0, 1.0, "probability")}

    def step(self, ctx):
        targets, edges = ctx.gather_targets()
        open_ = np.flatnonzero(ctx.state[targets] == 0)
        hit = open_[ctx.random_edges(edges[open_]) < self.p["p"]]
        winners, first = np.unique(targets[hit], return_index=True)
        return StepResult(winners, 1, ctx.gather_sources()[hit[first]], attempts=int(open_.size))
"""
    )
    path = write(tmp_path, "mixed", body)
    report = check(path)
    assert report.ok, report.render()
    assert report.models == ["mixed_cascade"]
    # A content and a friend recommender may share a name (the registry keeps them apart): labels tell them apart.
    assert report.recommenders == ["feed", "feed (friend-recommender)"]
    assert report.kinds == {
        "mixed_cascade": "model",
        "feed": "recommender",
        "feed (friend-recommender)": "friend-recommender",
    }
    assert {c["name"] for c in report.checks if c["model"] == "feed (friend-recommender)"} == RECOMMENDER_CHECKS
    assert len(report.checks) == 14 + 7 + 7
    assert run_cli("plugins", "check", str(path), "--agents", str(AGENTS)) == 0
    assert "result: all 28 checks passed" in capsys.readouterr().out


def test_a_recommender_that_does_not_override_its_method_fails_schema(tmp_path):
    report = check(
        write(
            tmp_path,
            "empty",
            """
class Nothing(ContentRecommender):
    name = "nothing"
    version = "1.0"
    description = "forgot score"
""",
        )
    )
    schema = report.check("schema")
    assert schema["status"] == "fail" and "score is not overridden" in schema["detail"]
    assert report.check("run")["status"] == "skip"


# -- templates and built-ins ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template, broken",
    [
        ("recommender", ("return np.where(match > 0, scores, -np.inf)", "return scores")),
        (
            "friend-recommender",
            (
                'agents, _, candidates = ctx.two_hop(self.p["fanout"])',
                'agents, candidates = ctx.candidates_random(self.p["fanout"])',
            ),
        ),
    ],
)
def test_the_recommender_templates_pass_the_check_and_their_tests_pass_and_can_fail(tmp_path, template, broken):
    written = new_plugin(f"my_{template.replace('-', '_')}", str(tmp_path), template)
    plugin, test = (Path(p) for p in written)
    report = check(plugin)
    assert report.ok, report.render()
    assert report.recommenders == [plugin.stem]
    text = plugin.read_text()
    flag = "--friend-recommender" if template == "friend-recommender" else "--recommender"
    assert f"agora run WORLD --plugins FOLDER {flag} {plugin.stem}" in text and "AGORA_PLUGINS=FOLDER" in text
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test.name]
    proc = subprocess.run(cmd, cwd=plugin.parent, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "2 passed" in proc.stdout, proc.stdout + proc.stderr
    # The behavioural test really tests the rule: break it and it fails.
    assert broken[0] in text
    plugin.write_text(text.replace(*broken))
    proc = subprocess.run(
        cmd + ["-k", "not conformance"], cwd=plugin.parent, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr


def test_cli_new_writes_a_recommender_with_the_right_next_steps(tmp_path, capsys):
    assert run_cli("plugins", "new", "fresh_feed", "--template", "recommender", "--dir", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "(recommender template)" in out and "--recommender fresh_feed --inject TEXT --steps 50" in out
    assert "--model fresh_feed" not in out


@pytest.mark.parametrize("plugin", ["feeds", "friends"])
def test_the_builtin_recommenders_pass(plugin):
    report = check_plugin(str(ROOT / "plugins" / f"{plugin}.py"), agents=AGENTS)
    assert report.ok, report.render()
    assert len(report.recommenders) >= 4 and not report.models


# -- what the checker says about where plugin code runs ----------------------------------------------------


def test_the_help_and_the_guide_say_the_checker_runs_plugin_code_in_this_process():
    from sim.cli.args import Parser as _Parser
    from sim.cli.parser import add_plugins as add_commands

    parser = _Parser(prog="agora")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    add_commands(sub)
    plugins = sub.choices["plugins"]
    help_text = " ".join(plugins._subparsers._group_actions[0].choices["check"].format_help().split())
    assert "runs in this process" in help_text and "plugin time budget" in help_text
    guide = " ".join((ROOT / "docs" / "writing-a-model.md").read_text().split())
    assert "runs your code in this process" in guide and "its own process" not in guide
    assert "asked once right after `start`" in guide
