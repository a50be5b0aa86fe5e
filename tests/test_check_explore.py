"""``agora plugins check`` explores a model's parameter space, and judges an ``is_done`` that ends a
session right after start.

A model that is sound at its defaults but breaks at one parameter extreme used to pass every check
(the checker ran the defaults only); so did a model whose ``is_done``, asked once right after ``start``,
ended every session at tick 0. Each fixture below breaks in exactly one such way and must fail with a
verdict that names the parameter set; the models that end at start because nothing can change, and the
built-in models, must pass.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sim.authoring import ParamSet, check_plugin, explore_worlds, param_space
from sim.plugin import Param, PropagationModel

ROOT = Path(__file__).resolve().parents[1]
AGENTS = 2000

HEADER = "import numpy as np\nfrom sim.plugin import Param, PropagationModel, StepResult\n\n"

# A cascade; ``{odds}``, ``{params}``, ``{start}`` and ``{is_done}`` vary per fixture.
CASCADE = """
class Model(PropagationModel):
    name = "{name}"
    version = "1.0"
    description = "a test cascade"
    params = {params}
{start}
    def step(self, ctx):
        p = {prob}
        targets, edges = ctx.gather_targets()
        open_ = np.flatnonzero(ctx.state[targets] == 0)
        hit = open_[ctx.random_edges(edges[open_]) < p]
        winners, first = np.unique(targets[hit], return_index=True)
        {remember}
        return StepResult(winners, 1, ctx.gather_sources()[hit[first]], attempts=int(open_.size))
{is_done}
"""


def write_model(
    folder: Path,
    name: str,
    *,
    params: str = '{"p": Param(float, 0.3, 0.0, 1.0, "probability per edge")}',
    prob: str = 'self.p["p"]',
    start: str = "",
    remember: str = "pass",
    is_done: str = "",
) -> Path:
    path = folder / f"{name}.py"
    body = CASCADE.format(
        name=name,
        params=params,
        prob=prob,
        remember=remember,
        start=textwrap.indent(textwrap.dedent(start), "    "),
        is_done=textwrap.indent(textwrap.dedent(is_done), "    "),
    )
    path.write_text(HEADER + body)
    return path


def failed(report) -> set[str]:
    return {c["name"] for c in report.failed}


def verdict(report) -> str:
    return report.render().splitlines()[-1]


def run_cli(*argv: str) -> int:
    from sim.cli.args import Parser as _Parser
    from sim.cli.parser import add_plugins as add_commands
    from sim.cli.plugins import handle

    parser = _Parser(prog="agora")
    add_commands(parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser))
    return handle(parser.parse_args(list(argv)))


# -- a model that breaks only at a parameter extreme --------------------------------------------------


def test_a_model_that_raises_only_at_its_maximum_fails_explore_and_the_verdict_names_the_set(tmp_path, capsys):
    # The odds p / (1 - p) divide by zero at p = 1, the maximum its schema allows; the defaults are fine.
    path = write_model(
        tmp_path, "odds", prob='(self.p["p"] / (1.0 - self.p["p"])) / (1.0 + self.p["p"] / (1.0 - self.p["p"]))'
    )
    report = check_plugin(str(path), agents=AGENTS)
    assert failed(report) == {"explore"}, report.render()
    explore = report.check("explore")
    assert explore["detail"].startswith("fails at p=1 on both worlds: raised ZeroDivisionError"), explore["detail"]
    assert explore["params"] == {"p": 1.0} and explore["world"] == "scale-free"
    assert str(path) in explore["traceback"] and "1.0 - self.p" in explore["traceback"]
    assert verdict(report) == "result: 1 of 14 checks failed (explore at p=1: raised ZeroDivisionError)"
    runs = {(r["world"], json.dumps(r["params"])): r for r in report.explored["odds"]}
    assert runs[("directed", '{"p": 1.0}')]["status"] == "fail" and runs[("directed", '{"p": 1.0}')]["kind"] == "raised"
    assert runs[("directed", '{"p": 0.0}')]["status"] == "ok"

    assert run_cli("plugins", "check", str(path), "--agents", str(AGENTS)) == 1
    out = capsys.readouterr().out
    assert "FAIL  explore           fails at p=1" in out and out.rstrip().endswith(
        "(explore at p=1: raised ZeroDivisionError)"
    )
    assert run_cli("plugins", "check", str(path), "--agents", str(AGENTS), "--json") == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and [c["name"] for c in data["checks"] if not c["ok"]] == ["explore"]
    assert next(c for c in data["checks"] if c["name"] == "explore")["params"] == {"p": 1.0}


def test_is_done_true_right_after_start_at_one_extreme_fails_explore(tmp_path):
    # Ends when a round adds fewer than delta * n adopters, and start records the seeds as the last
    # round's count: at delta's maximum is_done, asked right after start, is already true, so every
    # session ends at tick 0 although rounds would spread the message.
    path = write_model(
        tmp_path,
        "quitter",
        params='{"p": Param(float, 0.3, 0.0, 1.0, "probability"), '
        '"delta": Param(float, 0.001, 0.0, 0.05, "end below delta * n")}',
        start="""
            def start(self, ctx):
                ctx.store["last"] = np.array([float(ctx.frontier.size)])
        """,
        remember='ctx.store["last"] = np.array([float(winners.size)])',
        is_done="""
            def is_done(self, ctx):
                return ctx.frontier.size == 0 or ctx.store["last"][0] < self.p["delta"] * ctx.n
        """,
    )
    report = check_plugin(str(path), agents=AGENTS)
    assert failed(report) == {"explore"}, report.render()
    explore = report.check("explore")
    assert explore["detail"].startswith(
        "fails at delta=0.05 (others default) on both worlds: the session ended right after start, before any round"
    ), explore["detail"]
    assert "rounds run anyway changed the state of" in explore["detail"]
    line = path.read_text().splitlines().index("    def is_done(self, ctx):") + 1
    assert f"is_done (quitter.py:{line})" in explore["detail"]  # no traceback here: the detail points at is_done
    assert explore["params"] == {"p": 0.3, "delta": 0.05}
    assert (
        verdict(report)
        == "result: 1 of 14 checks failed (explore at delta=0.05 (others default): ended right after start)"
    )
    assert report.check("end")["status"] == "pass"  # the defaults run rounds
    kinds = {r["kind"] for r in report.explored["quitter"] if r["params"] == {"delta": 0.05}}
    assert kinds == {"ended-at-start"}


def test_a_model_that_ends_every_session_right_after_start_fails_end(tmp_path):
    # "No opinion moved more than tolerance in the last round": the store is empty right after start,
    # and the default 0.0 reads as "nothing moved", so is_done ends every session at tick 0.
    path = write_model(
        tmp_path,
        "hasty",
        params='{"p": Param(float, 0.3, 0.0, 1.0, "probability"), '
        '"tolerance": Param(float, 1e-6, 0.0, 1.0, "tolerance")}',
        remember='ctx.store["moved"] = np.array([float(winners.size)])',
        is_done="""
            def is_done(self, ctx):
                return float(ctx.store.get("moved", np.zeros(1))[0]) <= self.p["tolerance"]
        """,
    )
    report = check_plugin(str(path), agents=AGENTS)
    end = report.check("end")
    assert end["status"] == "fail", report.render()
    assert (
        "ended right after start, before any round" in end["detail"]
        and "is asked once right after start" in end["detail"]
    )
    assert "rounds run anyway changed the state of" in end["detail"]
    assert "(end ended right after start" in verdict(report)
    assert report.check("run")["status"] == "pass"


def test_an_end_right_after_start_where_nothing_can_change_passes(tmp_path):
    # At p = 0 nobody can ever adopt: ending right after start is right, and the check says so.
    path = write_model(
        tmp_path,
        "still",
        is_done="""
        def is_done(self, ctx):
            return self.p["p"] == 0 or ctx.frontier.size == 0
    """,
    )
    report = check_plugin(str(path), agents=AGENTS)
    assert report.ok, report.render()
    explore = report.check("explore")
    assert (
        "ended right after start where nothing could change (rounds run anyway changed nothing) at p=0"
        in explore["detail"]
    )


def test_sets_the_model_itself_refuses_are_not_run_and_draws_are_drawn_again():
    class Ranged(PropagationModel):
        name = "ranged"
        version = "1"
        description = "x"
        params = {"lo": Param(float, 0.2, 0.0, 1.0), "hi": Param(float, 0.8, 0.0, 1.0)}

        @classmethod
        def validate(cls, params):
            from sim.errors import BadParameterError

            out = super().validate(params)
            if out["lo"] > out["hi"]:
                raise BadParameterError("lo above hi")
            return out

        def step(self, ctx):  # pragma: no cover - never run
            raise NotImplementedError

    sets, notes = param_space(Ranged, seed=3)
    assert ParamSet((("lo", 1.0),), "one") not in sets and ParamSet((("hi", 0.0),), "one") not in sets
    assert ParamSet((("lo", 0.0),), "one") in sets and ParamSet((("hi", 1.0),), "one") in sets
    assert "refused by the plugin's own validation, not run: lo=1 (others default); hi=0 (others default)" in notes[0]
    draws = [ps.params for ps in sets if ps.how == "draw"]
    assert len(draws) == 4 and all(d["lo"] <= d["hi"] for d in draws)


def test_param_space_covers_every_kind_of_parameter_and_is_seeded():
    class Every(PropagationModel):
        name = "every"
        version = "1"
        description = "x"
        params = {
            "p": Param(float, 0.3, 0.0, 1.0),
            "bias": Param(float, 0.5),  # no bounds: tried far out, and said so
            "k": Param(int, 3, 1, None),
            "flag": Param(bool, False),
            "mode": Param(str, "a", choices=("a", "b", "c")),
            "label": Param(str, "free"),
            "scale": Param(float, 1.0, 0.001, 1e6),
        }

        def step(self, ctx):  # pragma: no cover - never run
            raise NotImplementedError

    sets, notes = param_space(Every, seed=0)
    ones = {ps.values for ps in sets if ps.how == "one"}
    for expected in (
        (("p", 0.0),),
        (("p", 1.0),),
        (("bias", -99.5),),
        (("bias", 100.5),),
        (("bias", 0.0),),
        (("k", 1),),
        (("k", 303),),
        (("flag", True),),
        (("mode", "b"),),
        (("mode", "c"),),
        (("scale", 0.001),),
        (("scale", 1e6),),
    ):
        assert expected in ones, expected
    assert not any(k == "label" for ps in sets for k, _ in ps.values)  # free text keeps its default
    assert sets[0] == ParamSet((), "defaults")
    assert "bias declares no min: tried -99.5" in notes and "bias declares no max: tried 100.5" in notes
    assert "k declares no max: tried 303" in notes and "label is free text: only its default was tried" in notes
    draws = [ps.params for ps in sets if ps.how == "draw"]
    assert len(draws) == 4
    for d in draws:
        Every.validate(d)  # every draw is valid
        assert isinstance(d["k"], int) and isinstance(d["flag"], bool) and d["mode"] in ("a", "b", "c")
    assert any(d["scale"] < 1000 for d in draws), "a range of many decades is drawn log-uniformly"
    again, _ = param_space(Every, seed=0)
    other, _ = param_space(Every, seed=1)
    assert again == sets and [ps for ps in other if ps.how == "draw"] != [ps for ps in sets if ps.how == "draw"]
    assert ParamSet((("p", 0.5), ("k", 3)), "draw").describe(7) == "p=0.5, k=3 (a random draw)"
    assert ParamSet((("p", 0.0),), "one").describe(7) == "p=0 (others default)"


def test_the_explore_worlds_are_small_and_unlike_the_contract_world():
    scale_free, directed = explore_worlds(0)
    assert scale_free.world.n == 500 and directed.world.n == 300
    g = directed.world.graph
    src = np.repeat(np.arange(g.n), np.diff(g.out_indptr))
    forward = set(zip(src.tolist(), g.out_indices.tolist()))
    assert forward and not any((b, a) in forward for a, b in forward), "some follows are reciprocated"
    isolated = (np.diff(g.out_indptr) == 0) & (np.diff(g.in_indptr) == 0)
    assert isolated.sum() >= 50
    with pytest.raises(ValueError):  # frozen: runs work on forks
        directed.world.columns["reputation"][0] = 1.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "plugin",
    [
        "ic",
        "lt",
        "threshold",
        "viral",
        "llm",
        "epidemic",
        "compartmental",
        "opinion_binary",
        "opinion_continuous",
        "threshold_models",
        "cascades",
    ],
)
def test_the_builtin_models_pass_the_explorative_checker(plugin):
    report = check_plugin(str(ROOT / "plugins" / f"{plugin}.py"), agents=AGENTS)
    assert report.ok, report.render()
    assert report.models and all(report.check("explore", m)["status"] == "pass" for m in report.models)
