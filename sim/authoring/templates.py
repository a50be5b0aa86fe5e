"""The templates of ``agora plugins new NAME --template T``: for each, a working, documented plugin (a
propagation model or a recommender) and its tests. Each template's plugin is the code of a built-in plugin,
read from its source file when a template is written and renamed, so a template cannot drift from the
built-in it shows (and passes ``agora plugins check`` as the built-in does):

- ``cascade``: ``topic-cascade``, an independent cascade that only reaches agents who share a topic with the
  message (``plugins/cascades.py``).
- ``compartmental``: ``sirs``, an SIR epidemic whose immunity wanes (``plugins/compartmental.py``).
- ``opinion``: ``hegselmann-krause``, bounded-confidence averaging of a continuous ``opinion`` variable
  (``plugins/opinion_continuous.py``).
- ``network``: ``rewiring-cascade``, a cascade whose unconvinced followers unfollow adopters and follow
  someone else instead (``plugins/cascades.py``).
- ``recommender``: ``topic-fresh``, a content recommender: messages that share a topic with the reader,
  fresher and more adopted first (``plugins/feeds.py``).
- ``friend-recommender``: ``friends-of-friends``, more paths and more compatible first (``plugins/friends.py``).
- ``forecaster``: ``trend``, the log-linear trend of the last week carried on, a forecaster that ``agora backtest
  --method NAME`` scores beside persistence (``plugins/forecasters.py``).

A built-in's class is taken with what it needs from its module (imports, helpers, constants, base classes
of the same module), in source order. ``@NAME@``, ``@CLASS@`` and ``@TITLE@`` in a template are replaced
by the plugin's name, class name and title.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sim.errors import BadParameterError

if TYPE_CHECKING:  # pragma: no cover
    from sim.plugin import Plugin

#: The templates users can ask for, in the order ``--help`` lists them.
TEMPLATES = ("cascade", "compartmental", "opinion", "network", "recommender", "friend-recommender", "forecaster")
#: The templates that write a recommender (the others write a propagation model).
RECOMMENDER_TEMPLATES = ("recommender", "friend-recommender")
#: template -> (the registry's kind, the built-in plugin whose code it is)
SOURCES = {
    "cascade": ("model", "topic-cascade"),
    "compartmental": ("model", "sirs"),
    "opinion": ("model", "hegselmann-krause"),
    "network": ("model", "rewiring-cascade"),
    "recommender": ("recommender", "topic-fresh"),
    "friend-recommender": ("friend-recommender", "friends-of-friends"),
    "forecaster": ("forecaster", "trend"),
}

#: What the first lines of every model file say about using it (the right flags).
_USE = """Written by `agora plugins new @NAME@`: edit it freely. Check it with `agora plugins check @NAME@.py`,
run its tests with `python -m pytest test_@NAME@.py`, and use it by naming its folder:
`agora run WORLD --plugins FOLDER --inject TEXT --model @NAME@` (also `agora sweep ... --plugins FOLDER`,
`agora tui WORLD --plugins FOLDER`, or `AGORA_PLUGINS=FOLDER` for every command). See docs/writing-a-model.md."""


#: The frame of every test file: ``{what}`` is what the plugin is ("model", "recommender", "friend
#: recommender"), ``{imports}`` its imports, ``{FILE}`` and ``{load}`` the names of its path and loader,
#: ``{kind}`` the class it loads, and ``{behaviour}`` the behavioural check.
_TEST_FRAME = '''"""Tests of the @NAME@ {what}: the conformance suite and one behavioural check.

Run them with:  python -m pytest test_@NAME@.py
"""

from __future__ import annotations

{imports}

{FILE} = os.path.join(os.path.dirname(os.path.abspath(__file__)), "@NAME@.py")


def {load}():
    """The {kind} class, from a fresh import of the file (edits take effect)."""
    return load_file({FILE}).@CLASS@


def test_conformance():
    report = check_plugin({FILE}, agents=2000)
    assert report.ok, report.render()


{behaviour}'''


def _test_file(what: str, imports: str, behaviour: str) -> str:
    """The test file of a template: the frame around its imports and its behavioural check."""
    if what == "model":
        names = {"FILE": "MODEL_FILE", "load": "load_model", "kind": "model"}
    elif what == "forecaster":
        names = {"FILE": "FORECASTER_FILE", "load": "load_forecaster", "kind": "forecaster"}
    else:
        names = {"FILE": "RECOMMENDER_FILE", "load": "load_recommender", "kind": "recommender"}
    return _TEST_FRAME.format(what=what, imports=imports.strip("\n"), behaviour=behaviour.lstrip("\n"), **names)


CASCADE_TEST = _test_file(
    "model",
    """
import os

import numpy as np

from sim.authoring import check_plugin, check_world, common_topics, run_model
from sim.model.registry import load_file
from sim.core.topics import topics_mask
""",
    """
def test_only_agents_sharing_a_topic_with_the_message_adopt():
    world = check_world(2000)
    topics = common_topics(world, 3)
    session = run_model(load_model(), world, params={"p": 0.6}, topics=topics, seeds="random:20")
    assert session.status == "completed", session.error
    # Everyone who adopted after the seeds did.
    later = np.flatnonzero(session.adopted_at > session.started_tick)
    assert later.size > 0, "nothing spread beyond the seeds, so the check below would prove nothing"
    shares = (world.columns["interests"][later] & np.uint64(topics_mask(topics))) != 0
    assert shares.all(), f"{int((~shares).sum())} of {later.size} adopters share no topic with the message"
""",
)


COMPARTMENTAL_TEST = _test_file(
    "model",
    """
import os

import numpy as np

from sim.authoring import check_plugin, check_world, run_model
from sim.model.registry import load_file
""",
    """
def test_with_certain_recovery_every_agent_is_infectious_for_exactly_one_round():
    world = check_world(2000)
    session = run_model(load_model(), world, params={"beta": 0.5, "gamma": 1.0, "eta": 0.0}, seeds="random:20")
    assert session.status == "completed", session.error
    assert session.reached > 100, "the epidemic did not spread, so the check below would prove nothing"
    # Every agent ever infected is recovered at the end (eta = 0: nobody lost immunity).
    ever = session.adopted_at >= 0
    assert np.array_equal(np.flatnonzero(ever), np.flatnonzero(session.state == 2))
""",
)


OPINION_TEST = _test_file(
    "model",
    """
import os

import numpy as np

from sim.authoring import check_plugin, check_world, run_model
from sim.model.registry import load_file
""",
    """
def test_averaging_never_widens_the_range_of_opinions():
    world = check_world(2000)
    session = run_model(load_model(), world, params={"epsilon": 0.3}, seeds="random:20", rounds=30)
    assert session.error is None, session.error
    lo = np.array(session.series.moments[:, 2])  # opinion.min per tick
    hi = np.array(session.series.moments[:, 3])  # opinion.max per tick
    assert hi[0] - lo[0] > 0.9, "the opinions did not start spread out"
    assert np.all(np.diff(hi - lo) <= 1e-12), "a round widened the range of opinions"
    assert (hi - lo)[-1] < (hi - lo)[0], "the opinions never came closer"
""",
)


NETWORK_TEST = _test_file(
    "model",
    """
import asyncio
import os

from sim.authoring import check_plugin, check_world
from sim.model.registry import Registry, load_file
from sim.engine.simulation import Simulation
""",
    """
def test_rewiring_keeps_the_number_of_edges_and_the_graph_consistent():
    world = check_world(2000).fork()
    edges = world.num_edges
    registry = Registry(entry_points=False, env=False)
    registry.register(load_model())
    sim = Simulation(world, registry=registry, plugin_budget=0)
    session = sim.inject("x", model="@NAME@", params={"p": 0.2, "w": 0.5}, seeds="random:20")
    asyncio.run(sim.run(until_done=True, max_ticks=200))
    assert session.status == "completed", session.error
    assert session.edges_removed > 0, "nobody rewired, so the check below would prove nothing"
    assert session.edges_removed == session.edges_added
    assert world.num_edges == edges
    assert world.graph.check() == []
""",
)


#: What the first lines of every recommender file say about using it (the right flags).
_USE_RECOMMENDER = """Written by `agora plugins new @NAME@ --template @TEMPLATE@`: edit it freely. Check it with
`agora plugins check @NAME@.py`, run its tests with `python -m pytest test_@NAME@.py`, and use it by naming its
folder: `agora run WORLD --plugins FOLDER --@FLAG@ @NAME@ --inject TEXT --steps 50` (also `agora social WORLD
--plugins FOLDER --@FLAG@ @NAME@`, `agora tui WORLD --plugins FOLDER` and its Plugins view, or
`AGORA_PLUGINS=FOLDER` for every command). See docs/writing-a-recommender.md."""


#: What the first lines of a forecaster's file say about using it.
_USE_FORECASTER = """Written by `agora plugins new @NAME@ --template forecaster`: edit it freely. Check it with
`agora plugins check @NAME@.py`, run its tests with `python -m pytest test_@NAME@.py`, and score it by naming
its folder: `agora backtest WORLD --observed FILE ... --method @NAME@,persistence --plugins FOLDER` (and `agora
forecast WORLD --observed FILE ... --method @NAME@ --plugins FOLDER`). See docs/backtesting.md, "A forecaster of
your own"."""


def _recommender_test(what: str, numpy: bool, test: str, ticks: int, checks: str, why: str = "") -> str:
    """The test file of a recommender template: its behavioural check, ``test``, runs the recommender on a check
    world for ``ticks`` ticks (``why``: a comment line on that number), then ``checks``."""
    imports = "import os\n\n" + ("import numpy as np\n\n" if numpy else "")
    imports += "from sim.authoring import check_plugin, check_world, run_recommender\n"
    imports += "from sim.model.registry import load_file\n"
    run = f"    run = run_recommender(load_recommender(), world, ticks={ticks})\n"
    opening = f"def {test}():\n    world = check_world(2000)\n{why}{run}    assert run.error is None, run.traceback\n"
    return _test_file(what, imports, opening + checks.lstrip("\n"))


RECOMMENDER_TEST = _recommender_test(
    "recommender",
    True,
    "test_only_messages_that_share_a_topic_with_the_reader_are_shown",
    8,
    """
    interests = world.columns["interests"]
    topics = {s.id: np.uint64(int(s.message.get("topics", 0) or 0)) for s in run.sessions}
    shown = 0
    for tick, session_id, readers, _ in run.shown:  # what the core put in feeds
        shares = (interests[readers] & topics[session_id]) != 0
        missed = int((~shares).sum())
        assert shares.all(), f"tick {tick}: {missed} readers were shown a message that shares no topic with them"
        shown += readers.size
    assert shown > 0, "nothing was shown, so the check above would prove nothing"
""",
)


FRIEND_TEST = _recommender_test(
    "friend recommender",
    False,
    "test_every_suggestion_is_followed_by_someone_the_agent_follows",
    4,
    """
    g = world.graph

    def followees(agent):
        return set(g.in_indices[g.in_indptr[agent]:g.in_indptr[agent + 1]].tolist())

    checked = 0
    for _, _, agents, candidates in run.shown:  # the suggestions the core kept
        for a, c in zip(agents[:100].tolist(), candidates[:100].tolist()):  # a slow, obvious check: a sample
            why = f"agent {a} was suggested {c}, whom none of its followees follows"
            assert any(c in followees(f) for f in followees(a)), why
            checked += 1
    assert checked > 0, "nothing was suggested, so the check above would prove nothing"
""",
    "    # Accepted follows reach the graph every 6 ticks (merge_every): in 4 ticks the graph stays as it was.\n",
)

FORECASTER_TEST = _test_file(
    "forecaster",
    """
import os
from types import SimpleNamespace

import numpy as np

from sim.authoring import check_plugin
from sim.model.registry import load_file
""",
    """
def test_a_rise_is_forecast_to_go_on_rising():
    history = np.round(3.0 * np.exp(0.2 * np.arange(21)))  # doubling about every 3.5 ticks
    ctx = SimpleNamespace(
        history=history, horizon=7, draws=500, rng=np.random.default_rng(1), tick_days=1, serial_interval=None,
        imported=None, level=7, window=7,
    )
    draws = load_forecaster()().forecast(ctx)
    assert draws.shape == (500, 7)
    medians = np.median(draws, axis=0)
    assert medians[-1] > history[-1], f"the median a week ahead ({medians[-1]}) is not above the last count"
    assert (np.diff(medians) >= 0).all(), "the medians of a rise do not rise"
""",
)

#: template -> its test file
TESTS = {
    "cascade": CASCADE_TEST,
    "compartmental": COMPARTMENTAL_TEST,
    "opinion": OPINION_TEST,
    "network": NETWORK_TEST,
    "recommender": RECOMMENDER_TEST,
    "friend-recommender": FRIEND_TEST,
    "forecaster": FORECASTER_TEST,
}


def builtin_class(template: str) -> type[Plugin]:
    """The built-in plugin class a template is made from.

    Raises:
        BadParameterError: not a template.
    """
    if template not in SOURCES:
        known = ", ".join(TEMPLATES)
        raise BadParameterError(f"template {template!r} is not one of {known}: choose one of them", fields="template")
    # Imported here to keep `agora --help` light: the parser reads TEMPLATES, and the registry brings numpy.
    from sim.model.registry import Registry  # noqa: PLC0415

    kind, name = SOURCES[template]
    return Registry(entry_points=False, env=False).get(name, kind)


@functools.cache
def template_files(template: str) -> tuple[str, str]:
    """``(plugin text, test text)`` of a template, ``@NAME@``, ``@CLASS@`` and ``@TITLE@`` still in them.

    Raises:
        BadParameterError: not a template.
    """
    cls = builtin_class(template)
    _, name = SOURCES[template]
    if template in RECOMMENDER_TEMPLATES:
        flag = "friend-recommender" if template == "friend-recommender" else "recommender"
        use = _USE_RECOMMENDER.replace("@TEMPLATE@", template).replace("@FLAG@", flag)
        what = "friend recommender" if flag == "friend-recommender" else "content recommender"
    elif template == "forecaster":
        use, what = _USE_FORECASTER, "forecaster"
    else:
        use, what = _USE, "model"
    path = Path(inspect.getsourcefile(cls) or "")
    summary = (inspect.getdoc(cls) or cls.description).strip().splitlines()[0].rstrip(".")
    first = summary.split()[0]
    if first.isalpha() and (len(first) == 1 or first[1:].islower()):  # "An ..." -> "an ..."; "SIRS: ..." stays
        summary = summary[:1].lower() + summary[1:]
    header = (
        f'"""@TITLE@: {summary}.\n\n{use}\n\nThe code of the built-in {what} ``{name}`` (plugins/{path.name} in '
        'Agora), renamed:\nthe class docstring says what it does.\n"""\n\n'
    )
    return header + plugin_code(cls, name), TESTS[template]


def plugin_code(cls: type[Plugin], name: str) -> str:
    """A plugin class's code made self-contained: ``from __future__``, the imports it uses, the module-level
    definitions it needs (helpers, constants, base classes of its module; transitively) and the class, in
    source order; the class named ``@CLASS@`` and the plugin ``@NAME@`` (``name`` is the built-in's).

    Raises:
        ValueError: the class needs another module of ``plugins`` (a template must stand alone).
    """
    source = Path(inspect.getsourcefile(cls) or "").read_text(encoding="utf-8")
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    defined: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                defined.update((n.id, node) for n in ast.walk(target) if isinstance(n, ast.Name))
    needed: dict[int, ast.stmt] = {}
    used: set[str] = set()
    todo = [cls.__name__]
    while todo:
        found = defined.get(todo.pop())
        if found is None or id(found) in needed:
            continue
        needed[id(found)] = found
        names = {n.id for n in ast.walk(found) if isinstance(n, ast.Name)}
        used |= names
        todo.extend(names)
    imports = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            keep = [a for a in node.names if (a.asname or a.name) in used]
            if keep and (node.module or "").split(".")[0] == "plugins":
                raise ValueError(f"{cls.__name__} needs {node.module}: a template must stand alone")
            if keep:
                imports.append(ast.unparse(ast.ImportFrom(node.module, keep, node.level)))
        elif isinstance(node, ast.Import):
            keep = [a for a in node.names if (a.asname or a.name.split(".")[0]) in used]
            if keep:
                imports.append(ast.unparse(ast.Import(keep)))
    ours = [i for i in imports if i.startswith(("from sim", "import sim"))]
    third = [i for i in imports if i not in ours]
    blocks = ["from __future__ import annotations", "\n".join(third), "\n".join(ours)]
    out = "\n\n".join(b for b in blocks if b) + "\n"
    previous: ast.stmt | None = None
    for node in sorted(needed.values(), key=lambda n: n.lineno):
        decorators = getattr(node, "decorator_list", [])
        start = min([node.lineno] + [d.lineno for d in decorators]) - 1
        # The comment lines right above a definition belong to it (a "# --" section rule does not).
        while (
            start > 0 and lines[start - 1].lstrip().startswith("#") and not lines[start - 1].lstrip().startswith("# --")
        ):
            start -= 1
        text = "".join(lines[start : node.end_lineno])
        if node is defined[cls.__name__]:
            text = re.sub(rf"^class {re.escape(cls.__name__)}\b", "class @CLASS@", text, count=1, flags=re.M)
            text = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", "@NAME@", text)
        assignment = isinstance(node, (ast.Assign, ast.AnnAssign))
        gap = "\n\n" if not assignment else "" if isinstance(previous, (ast.Assign, ast.AnnAssign)) else "\n"
        out += gap + text.rstrip("\n") + "\n"
        previous = node
    return out
