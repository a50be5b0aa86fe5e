"""The plugin author kit: list what the registry holds, write a new plugin from a template, and check
any plugin file against the contract.

- :func:`plugin_rows` — one plain dict per registry entry (``agora plugins list``).
- :func:`new_plugin` — writes ``NAME.py`` (a working, documented model or recommender) and
  ``test_NAME.py`` beside it (``agora plugins new``).
- :func:`check_plugin` — the conformance suite (``agora plugins check``): every
  :class:`~sim.plugin.PropagationModel`, :class:`~sim.plugin.ContentRecommender` and
  :class:`~sim.plugin.FriendRecommender` subclass in a file is imported with
  :func:`sim.model.registry.load_file` and run through real :class:`~sim.engine.simulation.Simulation`
  ticks on small synthetic worlds. Each check passes or fails with a reason; a plugin that raises is
  reported with its traceback (its own frames, ``file:line``) and never crashes the checker.

Checks of a model:

  ``schema``        name, version, description; every parameter's default passes its own validation and
                    its bounds are consistent; states, adopted/transmitting states, ``transmit`` and
                    ``seed_state`` agree with each other.
  ``run``           a run with the default parameters does not raise (in ``__init__``, ``start``,
                    ``step`` or ``is_done``).
  ``shapes``        every :class:`~sim.plugin.StepResult` of that run has the shapes and dtypes the core
                    accepts (``PropagationSession.advance`` raises ``ModelContractError`` otherwise),
                    and ``exposed``, which the core does not validate, is a 1-D integer array in range.
  ``monotonicity``  a model that declares ``progressive`` never moves an agent out of its adopted states
                    (checked on every round's answer before the core applies it).
  ``determinism``   two runs, each on a fresh import of the file, with the same seeds give identical
                    ``state`` and ``adopted_from`` arrays in every round (global ``np.random``, an unseeded
                    generator or the clock break this).
  ``zero-probability``  with every probability-like float parameter (``p``, ``beta``, ``prob*``,
                    ``rate``, ``*_rate``, ``p_*``, ``*_p``) and every parameter named in an optional class
                    attribute ``zero_params`` set to 0, nobody but the seeds ever adopts. A model whose
                    spread no parameter stops (deterministic thresholds) declares ``zero_params = ()``:
                    the check is then skipped, saying so.
  ``isolation``     two sessions run interleaved in one Simulation (one import of the module) give exactly
                    what each gives run alone, and no run writes to the world's columns or trust: a model
                    keeps nothing outside its session (module globals, class attributes, the world).
                    Not judged for a model that changes edges (every session shares the graph).
  ``resume``        saved and reloaded mid-run, the run goes on exactly as without the reload.
  ``states``        at every tick of the default run the state counts sum to the number of agents.
  ``variables``     every continuous variable stays inside its declared range.
  ``feeds``         a model that reads feed exposures declares ``uses_feed = True``.
  ``edges``         a model that answers with edge changes declares ``changes_edges = True``.
  ``end``           the default run ends, or the model declares an end of its own (``is_done``) or
                    ``endless = True``; a model that runs on under the default ``is_done`` is flagged.
                    ``is_done`` is asked once right after ``start`` and after every round: a run that
                    ended right after start is run again with ``is_done`` held false for
                    :data:`PROBE_ROUNDS` rounds, and fails when those rounds change anything (the end came
                    before anything could happen); when they change nothing, the end was right.
  ``explore``       the parameter space (:func:`param_space`): the defaults, each parameter alone at its
                    extremes (bounds; far-out values where none is declared, said so; 0 when inside; a
                    bool's other value; every choice), and random joint draws seeded by ``seed``, each run
                    for up to :data:`EXPLORE_ROUNDS` rounds on both worlds of :func:`explore_worlds` (a
                    scale-free one, and a directed one with isolated agents). A set fails when its run
                    raises, breaks the contract (an answer the core refuses, states that do not sum, a
                    variable out of range, a write to the world) or ends right after start while rounds
                    would change something (as ``end``). The detail and the verdict name the first failing
                    set (``explore at delta=0 (others default): ...``); ``--json`` lists every run. Sets the
                    plugin's own validation refuses (a rule across parameters) are not run, said so.

  Then a figure, not a pass/fail: speed on a graph of ``agents`` agents (edge attempts per second and
  seconds per round). If the model raises at that size, a failing ``scale`` check is added.

Checks of a recommender (driven through the real engine: a Simulation whose social settings use it,
with live messages carried by the checker's own model so that feeds have something to score; the
social layer learns nothing, so the world changes only if the recommender writes to it):

  ``schema``        name, version, description, parameters as for a model; ``score`` or ``suggest``
                    overridden.
  ``run``           8 ticks on the contract world without raising (in ``__init__``, ``score``/``suggest``).
  ``shapes``        every answer passes the core's validation (``sim.social.dynamics``): an (R, M) array of
                    numbers, no ``+inf``, aligned integer sharers; three aligned 1-D arrays of agents,
                    candidates and finite scores.
  ``read-only``     no write to the read-only arrays of the context (reported with the plugin's line and
                    what to do), and the world's columns and trust unchanged.
  ``hidden``        content: no item the recommender scored ``-inf`` or ``nan`` was put in a feed.
  ``determinism``   one call made twice with the same generator state answers the same, and two runs on
                    fresh imports agree in every answer and in what the core made of them.
  ``explore``       as for a model, :data:`RECOMMENDER_EXPLORE_TICKS` ticks per set.

  Then a figure: time per tick in ``score``/``suggest`` on ``agents`` agents (and a failing ``scale``
  check if it fails at that size).

The checker runs the plugin's code in this process: the file is imported here (several times: each
fresh import runs its module-level code again), and its methods are called by the simulations the
checker runs, in their plugin worker thread under the plugin time budget (``AGORA_PLUGIN_BUDGET``,
10 s per call by default), so a call that never returns fails its check instead of hanging. Plugins are
code and run with your rights.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import inspect
import keyword
import math
import os
import pkgutil
import re
import sys
import time
import traceback
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.authoring.templates import TEMPLATES, template_files
from sim.core.events import EventBus
from sim.core.topics import TOPICS
from sim.core.world import World, build_world, world_rng
from sim.engine.simulation import Simulation
from sim.errors import BadFileError, BadParameterError, TargetExistsError
from sim.llm.config import LLMConfig
from sim.llm.service import LLMService
from sim.model.registry import PluginInfo, Registry, load_file
from sim.model.session import PropagationSession
from sim.plugin import ContentRecommender, FriendRecommender, Param, PropagationModel, Recommender, StepResult, Variable
from sim.store.create import synthetic_world

Progress = Callable[[str, float], None] | None

#: Agents of the world the contract checks run on (the speed figure uses ``agents``).
CONTRACT_AGENTS = 2000
#: Rounds a contract run may last before it is cut (an SIR-like model may run long).
CONTRACT_ROUNDS = 40
#: Longest the speed run may take, in seconds (checked between rounds).
SPEED_BUDGET_S = 20.0
#: Names of float parameters that the zero-probability check sets to 0.
PROBABILITY_NAME = re.compile(r"^(p|p_\w+|\w+_p|beta(_\w+)?|prob\w*|\w+_prob\w*|rate|\w+_rate)$")

_STATUS_ORDER = {"fail": 0, "pass": 1, "skip": 2}


# -- agora plugins list ----------------------------------------------------------------------------


def plugin_rows(registry: Registry) -> list[dict[str, Any]]:
    """One plain dict per plugin the registry knows, for ``agora plugins list [--json]``.

    Keys: ``name``, ``kind`` (``model``, ``recommender`` or ``friend-recommender``; ``unknown`` for an
    entry point not imported yet; a failed plugin has the kind its source declares, ``none`` when it
    declares no plugin class), ``version``, ``description``, ``source`` (``builtin``, a file path or
    ``entry-point:<dist>``), ``loaded``, ``status`` (``loaded``, ``not imported`` or ``failed``),
    ``params`` (the schema, for loaded plugins), ``error`` and ``traceback`` (failed ones), ``notes``.
    A failed file that a working plugin of the same name shadows is listed too.
    """
    infos: list[PluginInfo] = registry.list()
    listed = {id(i) for i in infos}
    infos += [f for f in registry.failures if id(f) not in listed]
    rows = []
    for info in infos:
        row = info.to_dict()
        row["status"] = "failed" if info.error else ("loaded" if info.loaded else "not imported")
        rows.append(row)
    return rows


# -- agora plugins new -----------------------------------------------------------------------------


def _builtin_names() -> set[str]:
    """Names of the built-in plugins and the module names of the ``plugins`` package."""
    names: set[str] = set()
    try:  # found without importing it: sim knows the plugins only through the registry
        spec = importlib.util.find_spec("plugins")
        if spec is not None:
            names.update(m.name for m in pkgutil.iter_modules(list(spec.submodule_search_locations or [])))
    except Exception:  # pragma: no cover - the package ships with Agora
        pass
    registry = Registry((), builtins=True, entry_points=False, env=False)
    names.update(registry.entries)
    return names


def _class_name(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or "Model"


def new_plugin(name: str, folder: str = ".", template: str = "cascade") -> list[str]:
    """Write a new plugin ``<folder>/<name>.py`` and its tests ``<folder>/test_<name>.py``.

    The plugin is a working, documented propagation model or recommender: the code of a built-in plugin,
    renamed, chosen by the template of :mod:`sim.authoring.templates` (``cascade``: ``topic-cascade``, a
    cascade that only reaches agents who share a topic with the message; ``compartmental``: ``sirs``;
    ``opinion``: ``hegselmann-krause``, bounded-confidence averaging of a continuous opinion; ``network``:
    ``rewiring-cascade``, a cascade whose unconvinced followers rewire; ``recommender``: ``topic-fresh``,
    topic match and freshness; ``friend-recommender``: ``friends-of-friends``); the test file runs the
    conformance suite on it and checks its behaviour. Nothing is overwritten.

    Args:
        name: the plugin's name (what users pass as the model or recommender): a Python identifier, not a
            keyword, not the name of a built-in plugin or a standard-library module, not starting with
            ``_`` or ``test``.
        folder: where to write the files (created if missing).
        template: one of :data:`sim.authoring.templates.TEMPLATES`.

    Returns:
        The paths written (model first).

    Raises:
        BadParameterError: the name is not acceptable (the reason is named), or ``folder`` is a file.
        TargetExistsError: one of the two files exists already (nothing is written then).
    """
    if template not in TEMPLATES:
        raise BadParameterError(
            f"template {template!r} is not one of {', '.join(TEMPLATES)}: choose one with --template"
        )
    if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
        raise BadParameterError(
            f"plugin name {name!r} is not valid: use letters, digits and underscores, starting with a letter "
            "(e.g. topic_cascade)"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise BadParameterError(f"plugin name {name!r} is a Python keyword: choose another name")
    if name.startswith("_"):
        raise BadParameterError(
            f"plugin name {name!r} starts with '_': plugin folders skip such files, so choose a name starting "
            "with a letter"
        )
    if name.lower().startswith("test"):
        raise BadParameterError(
            f"plugin name {name!r} starts with 'test': pytest would collect the model as a test file; choose "
            "another name"
        )
    if name in sys.stdlib_module_names or name in ("sim", "plugins", "tui", "numpy"):
        raise BadParameterError(
            f"plugin name {name!r} is the name of a Python module it would shadow in its folder: choose another name"
        )
    if name in _builtin_names():
        raise BadParameterError(
            f"plugin name {name!r} is taken by a built-in plugin: choose another name (see 'agora plugins list')"
        )
    folder = os.path.abspath(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise BadParameterError(f"{folder} is a file, not a folder: pass a folder to write the plugin into")
    model_path = os.path.join(folder, f"{name}.py")
    test_path = os.path.join(folder, f"test_{name}.py")
    for path in (model_path, test_path):
        if os.path.exists(path):
            raise TargetExistsError(f"{path} exists already: choose another name or folder (nothing was written)")
    cls_name = _class_name(name)
    subs = {"NAME": name, "CLASS": cls_name, "TITLE": name.replace("_", " ").capitalize()}
    os.makedirs(folder, exist_ok=True)
    written: list[str] = []
    try:
        model_text, test_text = template_files(template)
        for path, source in ((model_path, model_text), (test_path, test_text)):
            text = re.sub(r"@(NAME|CLASS|TITLE)@", lambda m: subs[m.group(1)], source)
            with open(path, "x", encoding="utf-8") as fh:  # "x": never overwrite, even on a race
                fh.write(text)
            written.append(path)
    except FileExistsError:
        for path in written:
            os.unlink(path)
        raise TargetExistsError(f"a file appeared in {folder} while writing: nothing was written") from None
    return written


# -- worlds and runs -------------------------------------------------------------------------------

_WORLDS: OrderedDict[tuple[int, int], World] = OrderedDict()


def _base_world(agents: int, seed: int) -> World:
    """A cached synthetic world, frozen: its arrays are read-only, runs use :meth:`World.fork`."""
    key = (int(agents), int(seed))
    world = _WORLDS.get(key)
    if world is None:
        world = synthetic_world(f"check-{agents}", agents, avg_degree=10.0, seed=seed)
        # Forks copy the columns and trust but share the rest of the graph: freezing the base keeps a
        # model that writes into the graph from spoiling the checks that follow (it fails instead).
        for arr in (
            *world.columns.values(),
            world.graph.out_indptr,
            world.graph.out_indices,
            world.graph.trust,
            world.graph.in_indptr,
            world.graph.in_indices,
            world.graph.in_edge,
        ):
            arr.flags.writeable = False
        _WORLDS[key] = world
        while len(_WORLDS) > 2:
            _WORLDS.popitem(last=False)
    else:
        _WORLDS.move_to_end(key)
    return world


def check_world(agents: int = CONTRACT_AGENTS, seed: int = 0) -> World:
    """The synthetic world the checks run on (a community graph, mean degree 10), as a fresh copy.

    Built once per (agents, seed) and cached; copies share its graph arrays, which are read-only.

    Raises:
        BadParameterError: ``agents`` below 100.
    """
    if agents < 100:
        raise BadParameterError(f"a check world needs at least 100 agents, got {agents}")
    return _base_world(agents, seed).fork()


def common_topics(world: World, k: int = 3, skip: int = 0) -> list[str]:
    """Names of the topics most agents are interested in (ranks ``skip`` .. ``skip + k - 1``)."""
    interests = world.columns["interests"]
    bits = np.arange(64, dtype=np.uint64)
    counts = np.array([np.count_nonzero((interests >> b) & np.uint64(1)) for b in bits])
    order = np.argsort(-counts, kind="stable")
    return [TOPICS[int(t)] for t in order[skip : skip + k]]


def _run_sync(make_coro: Callable[[], Any]) -> Any:
    """Run a coroutine to the end from synchronous code, also when an event loop runs in this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coro())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make_coro())).result()


@dataclass(frozen=True)
class _Message:
    """One message of a run: a label, its topics, its seed selection and its generator key."""

    label: str
    topics: tuple[str, ...]
    seeds: str
    key: int


@dataclass
class _Watch:
    """What the wrapped ``step`` saw: problems the core does not catch, progressive violations, time."""

    problems: dict[str, list[str]] = field(default_factory=dict)
    violations: dict[str, str] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    model_seconds: float = 0.0
    #: Labels whose model read the feed exposures, and whose model answered with edge changes.
    feed_used: set[str] = field(default_factory=set)
    edge_answers: set[str] = field(default_factory=set)

    def install(self, label: str, session: PropagationSession) -> None:
        model = session.model
        if model is None or getattr(model, "_agora_watched", False):
            return
        original = model.step

        def step(ctx: Any) -> Any:
            t0 = time.perf_counter()
            result = original(ctx)
            self.model_seconds += time.perf_counter() - t0
            self.calls[label] = self.calls.get(label, 0) + 1  # answers returned
            if getattr(ctx, "feed_used", False):
                self.feed_used.add(label)
            if isinstance(result, StepResult) and (result.remove_edges is not None or result.add_edges is not None):
                self.edge_answers.add(label)
            try:
                self._inspect(label, session, ctx, result)
            except Exception:  # the core's own validation reports what this cannot read
                pass
            return result

        model.step = step  # type: ignore[method-assign]
        model._agora_watched = True  # type: ignore[attr-defined]

    def _inspect(self, label: str, session: PropagationSession, ctx: Any, result: Any) -> None:
        if not isinstance(result, StepResult):
            return
        rnd = session.round + 1
        n = ctx.n
        if result.exposed is not None:
            ex = np.asarray(result.exposed)
            if ex.ndim != 1 or (ex.size and ex.dtype.kind not in "iu"):
                self.problems.setdefault(label, []).append(
                    f"round {rnd}: exposed has shape {ex.shape} and dtype {ex.dtype}; expected a 1-D integer "
                    "array of agent indices"
                )
            elif ex.size and (ex.min() < 0 or ex.max() >= n):
                self.problems.setdefault(label, []).append(
                    f"round {rnd}: exposed holds agent indices outside 0..{n - 1}"
                )
        cls = type(session.model)
        if not getattr(cls, "progressive", False) or label in self.violations:
            return
        agents = np.asarray(result.agents)
        if (
            agents.ndim != 1
            or not agents.size
            or agents.dtype.kind not in "iu"
            or agents.min() < 0
            or agents.max() >= n
        ):
            return
        new_state = np.broadcast_to(np.asarray(result.new_state), agents.shape)
        before = ctx.state[agents]
        adopted = np.asarray(session.adopted_states)
        left = np.isin(before, adopted) & ~np.isin(new_state, adopted)
        if left.any():
            i = int(np.flatnonzero(left)[0])
            names = session.state_names

            def state_name(s: int) -> str:
                return f"{names[s]} ({s})" if 0 <= s < len(names) else str(s)

            self.violations[label] = (
                f"round {rnd}: {int(left.sum())} agents left the adopted states (agent {int(agents[i])}: "
                f"{state_name(int(before[i]))} -> {state_name(int(new_state[i]))}) although the model declares "
                "progressive = True"
            )


@dataclass
class _Run:
    """The trace of one simulation run: per message, the state and adopted_from after every round."""

    n: int
    states: dict[str, list[np.ndarray]] = field(default_factory=dict)
    sources: dict[str, list[np.ndarray]] = field(default_factory=dict)
    sessions: dict[str, PropagationSession] = field(default_factory=dict)
    fail_tick: dict[str, int] = field(default_factory=dict)
    watch: _Watch = field(default_factory=_Watch)
    round_seconds: list[float] = field(default_factory=list)
    world_writes: list[str] = field(default_factory=list)
    #: An exception that escaped the simulation (or the run's setup): (error, traceback), and its type.
    crash: tuple[str, str] | None = None
    crash_type: type | None = None
    #: Per message, the values of the model's variables after seeding and after every round (``record``).
    variables: dict[str, list[dict[str, np.ndarray]]] = field(default_factory=dict)

    @property
    def rounds(self) -> int:
        return max((s.round for s in self.sessions.values()), default=0)

    def outcome(self, label: str) -> tuple[str, str, str] | None:
        """None when the message's session did not fail; else (kind, what happened, traceback) with
        kind ``raised``, ``contract`` or ``progressive``."""
        if self.crash is not None:
            return ("raised", self.crash[0], self.crash[1])
        s = self.sessions.get(label)
        if s is None or s.status != "failed":
            return None
        error = s.error or "unknown error"
        where = (
            "while starting (in __init__ or start)" if self.fail_tick.get(label, 0) == 0 else f"in round {s.round + 1}"
        )
        if error.startswith("ModelContractError"):
            detail = error.split(": ", 1)[-1]
            kind = "progressive" if label in self.watch.violations else "contract"
            return (kind, f"{where}: {detail}", s.traceback or "")
        problems = self.watch.problems.get(label)
        if problems and self.fail_tick.get(label, 0) > 0:
            # The answer was malformed in a way the core does not validate, and the core choked on it.
            return ("contract", f"{problems[-1]}; applying it failed with {error}", s.traceback or "")
        return ("raised", f"raised {error} {where}", s.traceback or "")


def _fresh_class(path: str, qualname: str) -> type[PropagationModel]:
    """The class ``qualname`` from a fresh import of ``path`` (fresh module globals)."""
    obj: Any = load_file(path)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _trace(
    make_cls: Callable[[], type[PropagationModel]],
    base: World,
    messages: list[_Message],
    params: dict[str, Any] | None = None,
    *,
    rounds: int = CONTRACT_ROUNDS,
    seed: int = 0,
    record: bool = True,
    budget_s: float | None = None,
    reraise: bool = False,
    resume_after: int | None = None,
    quick: bool = False,
) -> _Run:
    """Run ``messages`` side by side in one Simulation on a fork of ``base``, round by round.

    With ``resume_after=k`` the world is forked after tick ``k`` (as saving and loading it would: the
    sessions are copied and their models made again without ``start``) and the run goes on in the copy.

    What escapes the simulation (a failed import, SystemExit from a model) is kept in ``crash``, or
    raised with ``reraise``. ``quick``: the ensembles' tight loop (``Simulation.step_now``, no agent
    texts), for the many short runs of the exploring checks."""
    run = _Run(n=base.n)
    worlds = [base.fork()]

    async def drive() -> None:
        cls = make_cls()
        name = cls.name if isinstance(getattr(cls, "name", None), str) and cls.name else "unnamed"
        registry = Registry((), builtins=True, entry_points=False, env=False)  # built-ins: a model may wrap one
        registry.entries[name] = PluginInfo(name=name, kind="model", source="check", cls=cls)
        world = worlds[0]
        sim = Simulation(world, registry=registry, bus=EventBus(), llm=_offline_llm(world, quick))
        for m in messages:
            s = sim.inject(
                f"checker message {m.label}",
                topics=list(m.topics),
                seeds=m.seeds,
                model=name,
                params=dict(params or {}),
                seed=seed,
            )
            # Each message's generator depends on its key only, so a message draws the same numbers
            # whether it runs alone or beside another.
            s.rng = world_rng(world.seed, 100, seed, m.key)
            run.sessions[m.label] = s
            run.states[m.label] = []
            run.sources[m.label] = []
        t_start = time.perf_counter()
        for tick in range(rounds + 1):
            t0 = time.perf_counter()
            if quick:
                sim.step_now()
            else:
                await sim.step()
            if tick:
                run.round_seconds.append(time.perf_counter() - t0)
            for label, s in run.sessions.items():
                run.watch.install(label, s)
                if s.status == "failed" and label not in run.fail_tick:
                    run.fail_tick[label] = tick
                if record and s.started_tick is not None:
                    while len(run.states[label]) < s.round + 1:
                        run.states[label].append(s.state.copy())
                        run.sources[label].append(s.adopted_from.copy())
                        run.variables.setdefault(label, []).append({k: v.copy() for k, v in s.variables.items()})
            if all(s.done for s in run.sessions.values()):
                break
            if budget_s is not None and time.perf_counter() - t_start > budget_s:
                break
            if tick == resume_after:
                world = world.fork()
                worlds.append(world)
                sim = Simulation(world, registry=registry, bus=EventBus(), llm=LLMService.offline(world))
                by_id = {s.id: s for s in world.sessions}
                run.sessions = {label: by_id[s.id] for label, s in run.sessions.items()}

    try:
        _run_sync(drive)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a model may raise anything; SystemExit escapes the simulation
        if reraise:
            raise
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        escaped = "" if isinstance(exc, Exception) else " (it escapes the simulation: it would stop the whole app)"
        run.crash = (f"{type(exc).__name__}: {exc}{escaped}", tb)
        run.crash_type = type(exc)
    for world in worlds:
        for key, col in world.columns.items():
            if not np.array_equal(col, base.columns[key]) and f"column {key}" not in run.world_writes:
                run.world_writes.append(f"column {key}")
        same_edges = np.array_equal(world.graph.out_indptr, base.graph.out_indptr) and np.array_equal(
            world.graph.out_indices, base.graph.out_indices
        )
        # A model changes edges only through its answers (the ``edges`` check); trust is compared on the same edges.
        if (
            same_edges
            and not np.array_equal(world.graph.trust, base.graph.trust)
            and "edge trust" not in run.world_writes
        ):
            run.world_writes.append("edge trust")
    return run


def _offline_llm(world: World, quiet: bool = False) -> Any:
    """The LLM service of a check run: never online; ``quiet``: no agent texts either (as in an ensemble)."""
    return LLMService(world, LLMConfig(offline=True, texts_per_tick=0)) if quiet else LLMService.offline(world)


def run_model(
    model: type[PropagationModel],
    world: World,
    *,
    params: dict[str, Any] | None = None,
    seeds: str = "random:10",
    topics: Iterable[str] = (),
    rounds: int = 100,
    seed: int = 0,
) -> PropagationSession:
    """Run one propagation session of ``model`` on a copy of ``world`` until it ends (at most ``rounds``).

    For tests of a model: the session's arrays (``state``, ``adopted_at``, ``adopted_from``,
    ``exposed``) and counters (``reached``, ``attempts``, ``new_per_tick``) tell what happened; a model
    that raised leaves the session ``failed`` with ``error`` and ``traceback``.

    Raises:
        BadParameterError: bad parameters, seeds or topics.
    """
    run = _trace(
        lambda: model,
        world,
        [_Message("A", tuple(topics), seeds, 1)],
        params,
        rounds=rounds,
        seed=seed,
        record=False,
        reraise=True,
    )
    return run.sessions["A"]


# -- the report ------------------------------------------------------------------------------------


@dataclass
class CheckReport:
    """The outcome of :func:`check_plugin`.

    Attributes:
        path: the model file checked.
        models: names of the models found in it.
        checks: one dict per check: ``model``, ``name``, ``ok``, ``status`` (``pass``, ``fail`` or
            ``skip`` — a check that could not be judged because an earlier one failed or it does not
            apply; it does not fail the report), ``detail`` (the reason, one line) and ``traceback``.
        figures: per model name, the speed figures (``agents``, ``edges``, ``rounds``, ``attempts``,
            ``seconds_per_round``, ``model_seconds_per_round``, ``attempts_per_second``, ``reached``) or
            an ``error``.
    """

    path: str
    models: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    world: dict[str, Any] = field(default_factory=dict)
    #: Names of the recommenders found in the file (their checks carry the name in ``model`` too).
    recommenders: list[str] = field(default_factory=list)
    #: What each checked plugin is, by name: ``model``, ``recommender`` or ``friend-recommender``.
    kinds: dict[str, str] = field(default_factory=dict)
    #: Per plugin, one dict per exploring run: ``params`` (the values set; the rest default), ``how``
    #: (``defaults``, ``one``, ``draw``), ``world`` (``scale-free``, ``directed``), ``status`` (``ok``,
    #: ``fail``), ``kind`` (of the failure), ``rounds`` or ``ticks``, ``error``.
    explored: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: The small worlds parameters are explored on: key -> agents, edges, isolated agents, what.
    explore_worlds: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every check passed or was skipped, and at least one plugin (model or recommender) was checked."""
        return bool(self.models or self.recommenders) and all(c["ok"] for c in self.checks)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if c["status"] == "fail"]

    def add(
        self,
        model: str | None,
        name: str,
        status: str,
        detail: str,
        tb: str | None = None,
        *,
        params: dict[str, Any] | None = None,
        world: str | None = None,
        summary: str | None = None,
    ) -> dict[str, Any]:
        """Add one check. ``model`` names the plugin (a model or a recommender; None for the file);
        ``params`` and ``world``: the parameter set and world a failure was found at; ``summary``: the
        few words the verdict line shows after the check's name."""
        check = {
            "model": model,
            "name": name,
            "ok": status != "fail",
            "status": status,
            "detail": detail,
            "traceback": tb or None,
            "params": params,
            "world": world,
            "summary": summary,
        }
        self.checks.append(check)
        return check

    def check(self, name: str, model: str | None = None) -> dict[str, Any]:
        """The first check called ``name`` (of ``model`` when given).

        Raises:
            KeyError: no such check in this report.
        """
        for c in self.checks:
            if c["name"] == name and (model is None or c["model"] == model):
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "models": list(self.models),
            "checks": [dict(c) for c in self.checks],
            "figures": {k: dict(v) for k, v in self.figures.items()},
            "world": dict(self.world),
            "failed": len(self.failed),
            "recommenders": list(self.recommenders),
            "kinds": dict(self.kinds),
            "explored": {k: [dict(r) for r in v] for k, v in self.explored.items()},
            "explore_worlds": {k: dict(v) for k, v in self.explore_worlds.items()},
        }

    def _check_lines(self, c: dict[str, Any]) -> list[str]:
        mark = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}[c["status"]]
        out = [f"  {mark}  {c['name']:<17} {c['detail']}"]
        if c["status"] == "fail" and c.get("traceback"):
            out += ["          " + ln for ln in _short_traceback(c["traceback"], self.path).splitlines()]
        return out

    def render(self) -> str:
        """What a terminal shows: every check with its reason, the plugin's frames of each traceback,
        the speed figures and a verdict that names each failed check (and the parameter set it failed at)."""
        lines = [f"checking {self.path}"]
        if self.world:
            w = self.world
            lines.append(
                f"contract runs on a synthetic world of {w['agents']:,} agents and {w['edges']:,} edges, seed "
                f"{w['seed']}"
            )
        if self.explore_worlds:
            lines.append(
                "parameters explored on "
                + " and ".join(
                    f"a {v['agents']:,}-agent {v['what']} ({v['edges']:,} edges)" for v in self.explore_worlds.values()
                )
            )
        for c in self.checks:
            if c["model"] is None:
                lines += self._check_lines(c)
        for name in [*self.models, *self.recommenders]:
            kind = self.kinds.get(name, "model")
            lines.append(
                {
                    "model": "model",
                    "recommender": "content recommender",
                    "friend-recommender": "friend recommender",
                }.get(kind, kind)
                + f" {name}"
            )
            for c in self.checks:
                if c["model"] == name:
                    lines += self._check_lines(c)
            fig = self.figures.get(name)
            if fig and "error" not in fig:
                lines.append(_speed_line(kind, fig))
            elif fig:
                lines.append(f"  speed not measured: {fig['error']}")
        n_fail = len(self.failed)
        if not (self.models or self.recommenders) and not n_fail:
            lines.append("result: no plugin found")
        elif n_fail:
            several = len(self.models) + len(self.recommenders) > 1
            parts = []
            for c in self.failed:
                text = c["name"] + (f" of {c['model']}" if several and c["model"] else "")
                parts.append(text + (f" {c['summary']}" if c.get("summary") else ""))
            lines.append(f"result: {n_fail} of {len(self.checks)} checks failed ({'; '.join(dict.fromkeys(parts))})")
        else:
            lines.append(f"result: all {len(self.checks)} checks passed")
        return "\n".join(lines)


def _speed_line(kind: str, fig: dict[str, Any]) -> str:
    """The speed figure of one plugin, in words."""
    if kind == "recommender":
        return (
            f"  speed on {fig['agents']:,} agents, {fig['edges']:,} edges: {fig['ticks']} ticks, "
            f"{fig['readers_per_tick']:,.0f} readers x {fig['messages']} live messages per tick, "
            f"{fig['seconds_per_tick'] * 1000:.1f} ms per tick in score ({fig['feed_seconds_per_tick'] * 1000:.1f} ms "
            f"building feeds in all), {_fmt_rate(fig['scores_per_second'])} scores/s"
        )
    if kind == "friend-recommender":
        return (
            f"  speed on {fig['agents']:,} agents, {fig['edges']:,} edges: {fig['ticks']} ticks, "
            f"{fig['agents_per_tick']:,.0f} agents looking per tick, {fig['seconds_per_tick'] * 1000:.1f} ms "
            "per tick in "
            f"suggest, {fig['suggestions_per_tick']:,.0f} suggestions per tick, "
            f"{_fmt_rate(fig['agents_per_second'])} agents/s"
        )
    return (
        f"  speed on {fig['agents']:,} agents, {fig['edges']:,} edges: {fig['rounds']} rounds, "
        f"{fig['attempts']:,} edge attempts, {fig['seconds_per_round'] * 1000:.1f} ms per round "
        f"({fig['model_seconds_per_round'] * 1000:.1f} ms in the model), "
        f"{_fmt_rate(fig['attempts_per_second'])} edge attempts/s"
    )


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _fmt_rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.1f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def _short_traceback(tb: str, path: str) -> str:
    """The traceback's header, the frames in the plugin file (or the last frame) and the error lines."""
    lines = tb.rstrip("\n").splitlines()
    frame_starts = [i for i, ln in enumerate(lines) if ln.startswith('  File "')]
    if not frame_starts:
        return tb.rstrip("\n")
    tail_start = len(lines)
    for i in range(frame_starts[-1] + 1, len(lines)):
        if not lines[i].startswith(" "):
            tail_start = i
            break
    blocks = []
    for j, start in enumerate(frame_starts):
        end = frame_starts[j + 1] if j + 1 < len(frame_starts) else tail_start
        blocks.append(lines[start:end])
    real = os.path.realpath(path)
    mine = [b for b in blocks if f'"{path}"' in b[0] or f'"{real}"' in b[0]]
    keep = mine or blocks[-1:]
    out = ["Traceback (most recent call last):"]
    if len(keep) < len(blocks):
        out.append("  ...")
    for b in keep:
        out += b
    out += lines[tail_start:]
    return "\n".join(out)


# -- the checks ------------------------------------------------------------------------------------


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _plugin_schema_problems(cls: type, what: str) -> list[str]:
    """What is wrong with the declarations every plugin shares: name, version, description and the
    parameter schema. ``what`` names the plugin's kind in the advice ("model", "recommender")."""
    problems: list[str] = []
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.strip():
        problems.append(f'name is empty: set name = "..." (what users pass to choose the {what})')
    elif re.search(r"\s", name):
        problems.append(f"name {name!r} contains whitespace: use letters, digits, '_', '-' or '.'")
    for attr in ("version", "description"):
        value = getattr(cls, attr, None)
        if not isinstance(value, str) or not value.strip():
            problems.append(f'{attr} is empty: set {attr} = "..."')
    params = getattr(cls, "params", None)
    if not isinstance(params, dict):
        problems.append(f"params is a {type(params).__name__}: it must be a dict of name -> Param")
        params = {}
    for key, spec in params.items():
        if not isinstance(key, str) or not key.isidentifier():
            problems.append(f"parameter name {key!r} is not an identifier")
        if not isinstance(spec, Param):
            problems.append(f"parameter {key}: is a {type(spec).__name__}, not a Param(type, default, min, max, help)")
            continue
        if spec.type not in (float, int, bool, str):
            problems.append(
                f"parameter {key}: type {getattr(spec.type, '__name__', spec.type)!r} is not one of float, int, "
                "bool, str"
            )
            continue
        for bound in ("min", "max"):
            b = getattr(spec, bound)
            if b is None:
                continue
            if spec.type in (bool, str):
                problems.append(f"parameter {key}: a {spec.type.__name__} parameter cannot have a {bound}")
            elif (
                not isinstance(b, (int, float, np.integer, np.floating)) or isinstance(b, bool) or math.isnan(float(b))
            ):
                problems.append(f"parameter {key}: {bound} {b!r} is not a number")
        if (
            spec.min is not None
            and spec.max is not None
            and spec.type in (float, int)
            and not isinstance(spec.min, bool)
            and not isinstance(spec.max, bool)
        ):
            try:
                if float(spec.min) > float(spec.max):
                    problems.append(
                        f"parameter {key}: min {spec.min:g} is above max {spec.max:g}, so no value is valid"
                    )
            except (TypeError, ValueError):
                pass
        if spec.choices is not None:
            if spec.type is not str:
                problems.append(f"parameter {key}: choices only apply to str parameters")
            elif not spec.choices or not all(isinstance(c, str) for c in spec.choices):
                problems.append(f"parameter {key}: choices must be a non-empty tuple of strings")
        d = spec.default
        type_ok = {
            float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            int: lambda v: _is_int(v),
            bool: lambda v: isinstance(v, bool),
            str: lambda v: isinstance(v, str),
        }[spec.type](d)
        if not type_ok:
            problems.append(f"parameter {key}: default {d!r} is a {type(d).__name__}, not a {spec.type.__name__}")
        else:
            try:
                spec.coerce(key, d)
            except BadParameterError:
                problems.append(
                    f"parameter {key}: default {d!r} fails its own validation: expected {spec.describe_range()}"
                )
            except Exception as exc:
                problems.append(f"parameter {key}: validating its default raised {type(exc).__name__}: {exc}")
        if not spec.help:
            pass  # help is optional; the UI shows the name alone
    return problems


def schema_problems(cls: type) -> list[str]:
    """What is wrong with a model class's declarations (empty when nothing is)."""
    problems = _plugin_schema_problems(cls, "model")
    params = getattr(cls, "params", None)
    if not isinstance(params, dict):
        params = {}
    states = getattr(cls, "states", None)
    if not isinstance(states, (tuple, list)) or len(states) < 2 or not all(isinstance(s, str) and s for s in states):
        problems.append(
            f"states {states!r} must be a tuple of at least two non-empty names (state 0 is the untouched one)"
        )
        return problems
    if len(set(states)) != len(states):
        problems.append(f"states {tuple(states)!r} repeat a name")
    if len(states) > 127:
        problems.append(f"{len(states)} states do not fit the int8 state array (at most 127)")
    k = len(states)

    def state_set(attr: str, allow_empty: bool) -> tuple[int, ...] | None:
        value = getattr(cls, attr, None)
        if not isinstance(value, (tuple, list, set, frozenset)) or not all(_is_int(v) for v in value):
            problems.append(f"{attr} {value!r} must be a tuple of state numbers")
            return None
        if not value and not allow_empty:
            problems.append(f"{attr} is empty: name at least one of the states 1..{k - 1}")
        bad = [int(v) for v in value if not 1 <= int(v) < k]
        if bad:
            problems.append(
                f"{attr} {tuple(value)!r} holds {bad[0]}, but the states that can be entered are 1..{k - 1} "
                f"({', '.join(states[1:])})"
            )
        return tuple(int(v) for v in value)

    adopted = state_set("adopted_states", allow_empty=False)
    # A model that decides its own end (opinion dynamics: every agent acts every round) may have no
    # transmitting state; a cascade needs one, or it ends at once.
    own_end = getattr(cls, "is_done", None) is not PropagationModel.is_done
    transmitting = state_set("transmitting_states", allow_empty=own_end)
    transmit = getattr(cls, "transmit", None)
    if transmit not in ("once", "while"):
        problems.append(
            f'transmit {transmit!r} must be "once" (the round after entering) or "while" (every round in a '
            "transmitting state)"
        )
    seed_state: Any = getattr(cls, "seed_state", None)
    if not _is_int(seed_state) or not 1 <= int(seed_state) < k:
        problems.append(f"seed_state {seed_state!r} must be one of the states 1..{k - 1}")
    elif transmitting is not None and int(seed_state) not in transmitting and not own_end:
        problems.append(
            f"seed_state {seed_state} ({states[int(seed_state)]}) is not a transmitting state, so the seeds "
            "never transmit and the "
            "session ends at once: make it transmitting or override is_done"
        )
    if not isinstance(getattr(cls, "progressive", None), bool):
        problems.append(f"progressive {getattr(cls, 'progressive', None)!r} must be True or False")
    if adopted is not None and transmitting is not None and not (set(adopted) | set(transmitting)):
        problems.append("no state is adopted or transmitting")
    zero = getattr(cls, "zero_params", None)
    if zero is not None:
        if isinstance(zero, str) or not isinstance(zero, Iterable):
            problems.append(f"zero_params {zero!r} must be a tuple of parameter names")
        else:
            for z in zero:
                spec = params.get(z) if isinstance(params, dict) else None
                if not isinstance(spec, Param):
                    problems.append(f"zero_params names {z!r}, which is not a parameter")
                elif spec.type not in (float, int):
                    problems.append(
                        f"zero_params names {z!r}, a {spec.type.__name__} parameter: only numbers can be set to 0"
                    )
                else:
                    try:
                        spec.coerce(z, 0)
                    except BadParameterError:
                        problems.append(
                            f"zero_params names {z!r}, but 0 is outside its range ({spec.describe_range()})"
                        )
    for flag in ("uses_feed", "changes_edges", "endless"):
        if not isinstance(getattr(cls, flag, False), bool):
            problems.append(f"{flag} {getattr(cls, flag, None)!r} must be True or False")
    variables = getattr(cls, "variables", {})
    if not isinstance(variables, dict):
        problems.append(f"variables is a {type(variables).__name__}: it must be a dict of name -> Variable")
    else:
        for vname, spec in variables.items():
            if not isinstance(spec, Variable):
                problems.append(f"variable {vname!r}: is a {type(spec).__name__}, not a Variable(min, max, init, ...)")
            else:
                problems += spec.problems(vname)
    if getattr(cls, "step", None) is PropagationModel.step:
        problems.append("step is not overridden: the model does nothing")
    return problems


def _zero_params(cls: type[PropagationModel]) -> tuple[dict[str, Any], list[str]]:
    """The parameters the zero-probability check sets to 0, and notes on those it cannot."""
    params = cls.params if isinstance(getattr(cls, "params", None), dict) else {}
    wanted = [k for k, s in params.items() if isinstance(s, Param) and s.type is float and PROBABILITY_NAME.match(k)]
    extra = getattr(cls, "zero_params", None) or ()
    if isinstance(extra, str):
        extra = (extra,)
    wanted += [k for k in extra if k not in wanted]
    out: dict[str, Any] = {}
    notes = []
    for k in wanted:
        spec = params.get(k)
        if not isinstance(spec, Param):
            continue
        try:
            out[k] = spec.coerce(k, 0)
        except Exception:
            notes.append(f"{k} cannot be 0 ({spec.describe_range()})")
    return out, notes


def _compare(a: _Run, la: str, b: _Run, lb: str) -> str | None:
    """Where two traces of one message first differ, or None when they agree round by round."""
    oa, ob = a.outcome(la), b.outcome(lb)
    if (oa is None) != (ob is None):
        failed, other = (oa, "the first") if oa is not None else (ob, "the second")
        assert failed is not None
        return f"{other} run failed and the other did not: {failed[1]}"
    sa, sb = a.states[la], b.states[lb]
    fa, fb = a.sources[la], b.sources[lb]
    for r in range(min(len(sa), len(sb))):
        for what, x, y in (("state", sa[r], sb[r]), ("adopted_from", fa[r], fb[r])):
            if not np.array_equal(x, y):
                diff = np.flatnonzero(x != y)
                i = int(diff[0])
                when = "after seeding" if r == 0 else f"in round {r}"
                return (
                    f"{when}: {diff.size} agents have a different {what} (agent {i}: {int(x[i])} vs {int(y[i])}); "
                    f"{int(np.count_nonzero(x))} vs {int(np.count_nonzero(y))} non-zero"
                )
    if len(sa) != len(sb):
        return f"one run lasted {len(sa) - 1} rounds, the other {len(sb) - 1}"
    return None


# -- exploring the parameter space -----------------------------------------------------------------

#: Rounds of each exploring run (small worlds, few rounds: a defect at a parameter extreme shows early;
#: the default run goes on for ``CONTRACT_ROUNDS``).
EXPLORE_ROUNDS = 12
#: Random joint draws of every parameter, besides each parameter's extremes one at a time.
EXPLORE_DRAWS = 4
#: Longest the exploring runs of one plugin may take, in seconds; the parameter sets not reached by then
#: are not run, and the check says so.
EXPLORE_BUDGET_S = 30.0
#: A numeric parameter that declares no ``min`` (``max``) is tried at ``default -`` (``+``) this
#: ``* max(1, |default|)``: far out, finite, and said so in the check's detail.
OPEN_BOUND_SPAN = 100.0

_EXPLORE_WORLDS: OrderedDict[int, tuple[ExploreWorld, ...]] = OrderedDict()


@dataclass(frozen=True)
class ExploreWorld:
    """One of the small worlds the checker explores parameters on: ``key`` (``scale-free``,
    ``directed``), ``text`` (how a detail names it) and the frozen world (runs use forks)."""

    key: str
    text: str
    world: World


def _freeze(world: World) -> World:
    # Forks copy the columns and trust but share the rest of the graph: freezing the base keeps a
    # plugin that writes into the graph from spoiling the checks that follow (it fails instead).
    for arr in (
        *world.columns.values(),
        world.graph.out_indptr,
        world.graph.out_indices,
        world.graph.trust,
        world.graph.in_indptr,
        world.graph.in_indices,
        world.graph.in_edge,
    ):
        arr.flags.writeable = False
    return world


def explore_worlds(seed: int = 0) -> tuple[ExploreWorld, ...]:
    """The small worlds every parameter set is run on, built once per seed (frozen; runs use forks):

    - ``scale-free``: 500 agents, a Barabási–Albert graph of mean degree 6 (hubs, no communities);
    - ``directed``: 300 agents whose follows go one way only (no pair follows each other), a sixth of
      them isolated (they follow nobody and nobody follows them; community -1).

    Both differ from the 2,000-agent community graph of the default run, so a model that silently
    assumes reciprocal edges, communities or followers for everybody shows it here.
    """
    key = int(seed)
    worlds = _EXPLORE_WORLDS.get(key)
    if worlds is not None:
        _EXPLORE_WORLDS.move_to_end(key)
        return worlds
    ba = _freeze(synthetic_world("check-scale-free", 500, graph="ba", avg_degree=6.0, seed=seed))
    n = 300
    rng = np.random.default_rng([abs(key) % 2**32, 29])
    isolated = n // 6
    linked = np.sort(rng.permutation(n)[: n - isolated])
    a = linked[rng.integers(0, linked.size, size=linked.size * 5)]
    b = linked[rng.integers(0, linked.size, size=linked.size * 5)]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pair = np.unique(lo[lo != hi].astype(np.int64) * n + hi[lo != hi])
    lo, hi = pair // n, pair % n
    flip = rng.random(pair.size) < 0.5  # one direction per pair: never reciprocal
    src, dst = np.where(flip, hi, lo).astype(np.int32), np.where(flip, lo, hi).astype(np.int32)
    directed = build_world(
        "check-directed", seed, n, src, dst, config={"source": {"kind": "synthetic", "graph": "directed"}}
    )
    lonely = int(np.count_nonzero((np.diff(directed.graph.out_indptr) == 0) & (np.diff(directed.graph.in_indptr) == 0)))
    directed = _freeze(directed)
    worlds = (
        ExploreWorld("scale-free", f"the {ba.n}-agent scale-free world", ba),
        ExploreWorld("directed", f"the {n}-agent directed world ({lonely} isolated agents)", directed),
    )
    _EXPLORE_WORLDS[key] = worlds
    while len(_EXPLORE_WORLDS) > 2:
        _EXPLORE_WORLDS.popitem(last=False)
    return worlds


def _fmt_value(v: Any) -> str:
    """A parameter value as ``agora run --param`` takes it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


@dataclass(frozen=True)
class ParamSet:
    """One point of a plugin's parameter space the checker runs: the values that differ from the
    defaults' list (``values``), and how it was chosen (``how``: ``defaults``, ``one`` — one parameter
    at an extreme, the others default — or ``draw`` — a random joint draw)."""

    values: tuple[tuple[str, Any], ...]
    how: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.values)

    def describe(self, n_params: int = 2) -> str:
        """``delta=0 (others default)``, ``p=0.734, q=3 (a random draw)`` or ``default parameters``."""
        if not self.values:
            return "default parameters"
        text = ", ".join(f"{k}={_fmt_value(v)}" for k, v in self.values)
        if self.how == "one":
            return text + (" (others default)" if n_params > 1 else "")
        return text + " (a random draw)"


def _numeric_range(key: str, spec: Param) -> tuple[float, float, list[str]]:
    """The finite extremes of a numeric parameter: its bounds, or far-out values where it declares none
    (said in the notes)."""
    d = float(spec.default)
    span = OPEN_BOUND_SPAN * max(1.0, abs(d))
    lo = float(spec.min) if spec.min is not None else d - span
    hi = float(spec.max) if spec.max is not None else d + span
    if spec.type is int:
        lo, hi = float(math.ceil(lo)), float(math.floor(hi))
    notes = []
    if spec.min is None:
        notes.append(f"{key} declares no min: tried {_fmt_value(int(lo) if spec.type is int else lo)}")
    if spec.max is None:
        notes.append(f"{key} declares no max: tried {_fmt_value(int(hi) if spec.type is int else hi)}")
    return lo, hi, notes


def _draw(spec: Param, span: tuple[float, float] | None, rng: np.random.Generator) -> Any:
    """A random value of one parameter: uniform (log-uniform over a range of many decades), rounded to
    three significant digits so that the value shown is the value run."""
    if spec.type is bool:
        return bool(rng.integers(2))
    if spec.type is str:
        return spec.choices[int(rng.integers(len(spec.choices)))] if spec.choices else spec.default
    assert span is not None
    lo, hi = span
    if hi <= lo:
        return spec.default
    floor = max(lo, 1e-3)
    if lo >= 0 and hi / floor > 1e3:
        x = float(math.exp(rng.uniform(math.log(floor), math.log(hi))))
    else:
        x = float(rng.uniform(lo, hi))
    if spec.type is int:
        return int(min(hi, max(lo, round(x))))
    return min(hi, max(lo, float(f"{x:.3g}")))


def param_space(cls: type, seed: int = 0, draws: int = EXPLORE_DRAWS) -> tuple[list[ParamSet], list[str]]:
    """The parameter sets the checker runs a plugin with, and notes on how they were chosen.

    First the defaults; then each parameter alone at each extreme with the others at their defaults —
    a number at its ``min`` and ``max`` (and at 0 when 0 lies strictly between), a bool at the value
    that is not its default, a ``str`` with ``choices`` at every other choice (free text keeps its
    default); then ``draws`` random joint draws from a generator seeded by ``seed`` and the plugin's
    name. A number without a declared bound is tried far out (see :data:`OPEN_BOUND_SPAN`), said in
    the notes. Values that fail the parameter's own validation are left out.
    """
    params = getattr(cls, "params", None)
    specs = {
        k: s
        for k, s in (params.items() if isinstance(params, dict) else ())
        if isinstance(k, str) and isinstance(s, Param) and s.type in (float, int, bool, str)
    }
    sets = [ParamSet((), "defaults")]
    notes: list[str] = []
    spans: dict[str, tuple[float, float]] = {}
    for key, spec in specs.items():
        if spec.type is bool:
            values: list[Any] = [not spec.default]
        elif spec.type is str:
            values = [c for c in spec.choices if c != spec.default] if spec.choices else []
            if not spec.choices:
                notes.append(f"{key} is free text: only its default was tried")
        else:
            try:
                lo, hi, more = _numeric_range(key, spec)
            except (TypeError, ValueError, OverflowError):
                continue  # a broken schema: the schema check says what is wrong
            spans[key] = (lo, hi)
            notes += more
            values = [lo, hi] + ([0.0] if lo < 0 < hi else [])
            if spec.type is int:
                values = [int(v) for v in values]
        for v in values:
            try:
                v = spec.coerce(key, v)
            except Exception:  # noqa: BLE001 - a value the schema refuses is not a point of its space
                continue
            if v != spec.default:
                sets.append(ParamSet(((key, v),), "one"))
    refused = [ps for ps in sets if _refused(cls, ps.params)]
    if refused:
        notes.append(
            f"{_plural(len(refused), 'set')} refused by the plugin's own validation, not run: "
            + "; ".join(ps.describe(len(specs)) for ps in refused[:3])
            + (" ..." if len(refused) > 3 else "")
        )
        sets = [ps for ps in sets if ps not in refused]
    name = str(getattr(cls, "name", "") or "")
    rng = np.random.default_rng([abs(int(seed)) % 2**32, zlib.crc32(name.encode())])
    drawn = [k for k, s in specs.items() if k in spans or s.type is bool or (s.type is str and s.choices)]
    redrawn = 0
    for _ in range(draws if drawn else 0):
        for _attempt in range(10):  # a draw the plugin refuses (a cross-parameter rule) is drawn again
            values_drawn = []
            for key in drawn:
                spec = specs[key]
                try:
                    values_drawn.append((key, spec.coerce(key, _draw(spec, spans.get(key), rng))))
                except Exception:  # noqa: BLE001 - keep the default
                    values_drawn.append((key, spec.default))
            if not _refused(cls, dict(values_drawn)):
                sets.append(ParamSet(tuple(values_drawn), "draw"))
                break
            redrawn += 1
    if redrawn:
        notes.append(f"{_plural(redrawn, 'random draw')} refused by the plugin's own validation, drawn again")
    seen: set[tuple[tuple[str, Any], ...]] = set()
    unique = []
    for ps in sets:
        key_ = tuple(sorted((k, repr(v)) for k, v in ps.values))
        if key_ not in seen:
            seen.add(key_)
            unique.append(ps)
    return unique, notes


def _refused(cls: type, params: dict[str, Any]) -> bool:
    """Whether the plugin's own validation refuses ``params`` (a rule across parameters, such as
    ``min <= max``): such a set is the user's mistake to make, not a point of the space to run. Anything
    else it raises is left for the run to report."""
    validate = getattr(cls, "validate", None)
    if validate is None:
        return False
    try:
        validate(dict(params))
    except BadParameterError:
        return True
    except Exception:  # noqa: BLE001 - the run reports it, with its traceback
        return False
    return False


@dataclass
class _Finding:
    """What went wrong in one exploring run: ``kind`` (``raised``, ``contract``, ``progressive``,
    ``states``, ``variables``, ``writes``, ``ended-at-start``), what happened, and a traceback."""

    kind: str
    what: str
    traceback: str | None = None


def _judge_model_run(run: _Run, cls: type[PropagationModel]) -> _Finding | None:
    """The first contract problem of message ``A``'s session in an exploring run, or None."""
    out = run.outcome("A")
    if out is not None:
        return _Finding(out[0], out[1], out[2] or None)
    problems = run.watch.problems.get("A")
    if problems:
        return _Finding("contract", problems[0])
    s = run.sessions.get("A")
    if s is None:
        return _Finding("raised", "the session did not start")
    if s.series is not None and s.series.length:
        sums = s.series.counts.sum(axis=1)
        bad = np.flatnonzero(sums != run.n)
        if bad.size:
            t = int(bad[0])
            return _Finding(
                "states", f"at tick {t} the states counted {int(sums[t]):,} agents, not the world's {run.n:,}"
            )
    for vname, spec in (getattr(cls, "variables", {}) or {}).items():
        col = s.variables.get(vname)
        if col is None or not col.size:
            continue
        if np.isnan(col).any() or float(col.min()) < spec.min or float(col.max()) > spec.max:
            return _Finding(
                "variables",
                f"variable {vname} left its declared range [{spec.min:g}, {spec.max:g}] "
                f"(now [{float(np.nanmin(col)):g}, {float(np.nanmax(col)):g}])",
            )
    if run.world_writes:
        return _Finding("writes", f"the model wrote to the world ({', '.join(run.world_writes)})")
    return None


#: Rounds a session that ended right after start is run again with ``is_done`` held false, to tell an
#: end that is right (nothing can change) from one that came too early.
PROBE_ROUNDS = 3


def _forced_rounds(
    make_cls: Callable[[], type[PropagationModel]], base: World, msg: _Message, params: dict[str, Any] | None, seed: int
) -> tuple[str | None, str | None]:
    """Run a session that ended right after start again, with ``is_done`` held false for its first
    :data:`PROBE_ROUNDS` rounds. Returns ``(change, error)``: what those rounds changed (states,
    adoptions, variables; None when nothing), and what went wrong running them (None when nothing)."""

    def make() -> type[PropagationModel]:
        cls = make_cls()

        class Forced(cls):  # type: ignore[valid-type, misc]
            def is_done(self, ctx: Any) -> bool:
                return False if ctx.round < PROBE_ROUNDS else super().is_done(ctx)

        Forced.__name__, Forced.__qualname__, Forced.__module__ = cls.__name__, cls.__qualname__, cls.__module__
        return Forced

    try:
        run = _trace(make, base, [msg], params, rounds=PROBE_ROUNDS, seed=seed, quick=True)
    except Exception as exc:  # noqa: BLE001 - a class that cannot be subclassed: no probe
        return None, f"{type(exc).__name__}: {exc}"
    out = run.outcome(msg.label)
    if out is not None:
        return None, out[1]
    states = run.states.get(msg.label) or []
    if len(states) < 2:
        return None, "the rounds did not run"
    first, last = states[0], states[-1]
    moved = int(np.count_nonzero(first != last))
    variables = run.variables.get(msg.label) or []
    changed_vars = []
    if len(variables) >= 2:
        for name, col in variables[-1].items():
            before = variables[0].get(name)
            if before is not None and not np.array_equal(before, col):
                changed_vars.append(f"{name} of {int(np.count_nonzero(before != col)):,} agents")
    if not moved and not changed_vars:
        return None, None
    parts = ([f"the state of {moved:,} agents"] if moved else []) + changed_vars
    return f"{PROBE_ROUNDS} rounds run anyway changed {' and '.join(parts)}", None


def _where_defined(cls: type, method: str) -> str:
    """`` (file.py:LINE)``: where a class defines a method, for a finding without a traceback (empty when
    it cannot be found)."""
    try:
        func = getattr(cls, method)
        path = inspect.getsourcefile(func)
        line = inspect.getsourcelines(func)[1]
    except (TypeError, OSError, AttributeError):
        return ""
    return f" ({os.path.basename(path)}:{line})" if path else ""


def _explore_verdict(
    report: CheckReport,
    label: str,
    results: list[dict[str, Any]],
    failures: list[tuple[ParamSet, ExploreWorld, _Finding]],
    sets: list[ParamSet],
    worlds: tuple[ExploreWorld, ...],
    notes: list[str],
    defaults: dict[str, Any],
    ran: int,
    total: int,
    ticks: str,
    seed: int,
) -> None:
    """Add the ``explore`` check from the exploring runs' results."""
    report.explored[label] = results
    n_params = len(defaults)
    cut = f"; the time budget ({EXPLORE_BUDGET_S:g} s) stopped it after {ran} of {total} runs" if ran < total else ""
    if not failures:
        tried = sorted({k for ps in sets for k, _ in ps.values})
        how = (
            f"each parameter at its extremes ({', '.join(tried)}) with the others default"
            if tried
            else "the defaults (the plugin has no parameter to vary)"
        )
        n_draws = sum(1 for ps in sets if ps.how == "draw")
        if n_draws:
            how += f", and {n_draws} random draws (seed {seed})"
        where = "both small worlds" if len(worlds) == 2 else " and ".join(w.text for w in worlds)
        detail = (
            f"{_plural(len(sets), 'parameter set')} ({how}) on {where}, {ticks}: none raised or broke the contract{cut}"
        )
        if notes:
            detail += f" ({'; '.join(notes)})"
        report.add(label, "explore", "pass", detail)
        return
    # One line per failing parameter set (the worlds it failed on together), first found first.
    by_set: OrderedDict[ParamSet, list[tuple[ExploreWorld, _Finding]]] = OrderedDict()
    for ps, w, f in failures:
        by_set.setdefault(ps, []).append((w, f))
    first_set, hits = next(iter(by_set.items()))
    world, finding = hits[0]
    on = "on both worlds" if len(hits) == len(worlds) > 1 else f"on {world.text}"
    detail = f"fails at {first_set.describe(n_params)} {on}: {finding.what}"
    others = [ps.describe(n_params) for ps in list(by_set)[1:]]
    if others:
        shown = others[:2]
        detail += f"; also fails at {'; '.join(shown)}" + (f" (and {len(others) - 2} more)" if len(others) > 2 else "")
    detail += cut
    report.add(
        label,
        "explore",
        "fail",
        detail,
        finding.traceback,
        params={**defaults, **first_set.params},
        world=world.key,
        summary=f"at {first_set.describe(n_params)}: {_short_what(finding)}",
    )


def _param_defaults(cls: type) -> dict[str, Any]:
    params = getattr(cls, "params", None)
    return {k: s.default for k, s in (params.items() if isinstance(params, dict) else ()) if isinstance(s, Param)}


def _short_what(f: _Finding) -> str:
    """A few words on a finding, for the verdict line."""
    if f.kind == "ended-at-start":
        return "ended right after start"
    text = f.what
    m = re.search(r"raised (\w+(?:Error|Exception|Exit|Timeout|Failure)?)", text)
    if f.kind == "raised" and m:
        return f"raised {m.group(1)}"
    return text if len(text) <= 60 else text[:57].rstrip() + "..."


def _explore_model(
    report: CheckReport,
    label: str,
    cls: type[PropagationModel],
    fresh: Callable[[], type[PropagationModel]],
    *,
    seed: int,
) -> None:
    """The ``explore`` check of a model: every parameter set of :func:`param_space` on every world of
    :func:`explore_worlds`, for up to :data:`EXPLORE_ROUNDS` rounds. A set fails when its run raises,
    breaks the contract (an answer the core refuses, states that do not sum to the agents, a variable
    out of its range, a write to the world), or ends right after start (``is_done`` true before any
    round) while :data:`PROBE_ROUNDS` rounds run anyway (:func:`_forced_rounds`) change something; an
    end right after start where they change nothing is right, and noted."""
    sets, notes = param_space(cls, seed)
    worlds = explore_worlds(seed)
    n_params = len(_param_defaults(cls))
    results: list[dict[str, Any]] = []
    failures: list[tuple[ParamSet, ExploreWorld, _Finding]] = []
    still: list[str] = []  # sets that ended right after start because nothing could change
    total = len(sets) * len(worlds)
    ran = 0
    t0 = time.perf_counter()
    # One import for all the exploring runs (the isolation check has judged what a module keeps).
    try:
        once = fresh()
    except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything at import; the run reports it
        if isinstance(exc, KeyboardInterrupt):
            raise
        once = None

    def make() -> type[PropagationModel]:
        return once if once is not None else fresh()

    for ps in sets:
        for w in worlds:
            if ran and time.perf_counter() - t0 > EXPLORE_BUDGET_S:
                break
            msg = _Message("A", tuple(common_topics(w.world, 3)), "random:5", 1)
            run = _trace(make, w.world, [msg], ps.params, rounds=EXPLORE_ROUNDS, seed=seed, record=False, quick=True)
            ran += 1
            finding = _judge_model_run(run, cls)
            s = run.sessions.get("A")
            rounds = s.round if s is not None else 0
            if finding is None and s is not None and s.status == "completed" and rounds == 0:
                change, _ = _forced_rounds(make, w.world, msg, ps.params, seed)
                if change is not None:
                    finding = _Finding(
                        "ended-at-start",
                        "the session ended right after start, before any round: is_done"
                        f"{_where_defined(cls, 'is_done')}, asked once right after start, was already true, "
                        f"yet {change}",
                    )
                elif ps.describe(n_params) not in still:
                    still.append(ps.describe(n_params))
            results.append(
                {
                    "params": ps.params,
                    "how": ps.how,
                    "world": w.key,
                    "status": "fail" if finding else "ok",
                    "kind": finding.kind if finding else None,
                    "rounds": rounds,
                    "reached": s.reached if s is not None else 0,
                    "ended": s.status == "completed" if s is not None else False,
                    "error": finding.what if finding else None,
                }
            )
            if finding is not None:
                failures.append((ps, w, finding))
    if still:
        notes = [
            *notes,
            "ended right after start where nothing could change (rounds run anyway changed nothing) at "
            + "; ".join(still[:3])
            + (" ..." if len(still) > 3 else ""),
        ]
    _explore_verdict(
        report,
        label,
        results,
        failures,
        sets,
        worlds,
        notes,
        _param_defaults(cls),
        ran,
        total,
        f"up to {EXPLORE_ROUNDS} rounds each",
        seed,
    )


def _check_model(
    report: CheckReport,
    path: str,
    cls: type[PropagationModel],
    base: World,
    speed_base: Callable[[], World],
    *,
    seed: int,
    rounds: int,
    progress: Progress,
    frac: tuple[float, float],
) -> None:
    label = cls.name
    qualname = cls.__qualname__
    lo, hi = frac

    def step_progress(what: str, i: int, total: int = 8) -> None:
        if progress is not None:
            progress(f"{label}: {what}", lo + (hi - lo) * i / total)

    def fresh() -> type[PropagationModel]:
        return _fresh_class(path, qualname)

    n_seeds = max(1, min(10, base.n // 100))
    msg_a = _Message("A", tuple(common_topics(base, 3)), f"random:{n_seeds}", 1)
    msg_b = _Message("B", tuple(common_topics(base, 3, skip=3)), f"random:{n_seeds}", 2)

    # schema
    step_progress("schema", 0)
    problems = schema_problems(cls)
    if problems:
        report.add(label, "schema", "fail", "; ".join(problems))
    else:
        params = cls.params
        report.add(
            label,
            "schema",
            "pass",
            f"name, version, description, {len(params)} parameter{'s' * (len(params) != 1)} "
            f"with valid defaults and bounds, {len(cls.states)} consistent states",
        )

    # the default run: run, shapes, monotonicity
    step_progress("run", 1)
    a1 = _trace(fresh, base, [msg_a], rounds=rounds, seed=seed)
    out = a1.outcome("A")
    sa = a1.sessions.get("A")
    if out is not None and out[0] == "raised":
        report.add(label, "run", "fail", out[1], out[2])
    else:
        if sa is not None and sa.status == "completed":
            status = "ended"
        elif out is not None:
            status = "then the core rejected an answer (see below)"
        else:
            status = f"still running after {rounds} rounds (cut there)"
        reached = sa.reached if sa is not None else 0
        seeds = sa.seeds_count if sa is not None else 0
        report.add(
            label,
            "run",
            "pass",
            f"{_plural(a1.rounds, 'round')} on {base.n:,} agents without raising: reached {reached:,} from "
            f"{seeds} seeds, {status}",
        )
    stepped = a1.watch.calls.get("A", 0) > 0
    problems_seen = a1.watch.problems.get("A", [])
    if out is not None and out[0] == "contract":
        report.add(label, "shapes", "fail", out[1], out[2])
    elif problems_seen:
        report.add(
            label,
            "shapes",
            "fail",
            "; ".join(problems_seen[:3]) + (f" (and {len(problems_seen) - 3} more)" if len(problems_seen) > 3 else ""),
        )
    elif not stepped:
        report.add(label, "shapes", "skip", "not judged: the model never stepped")
    else:
        report.add(
            label,
            "shapes",
            "pass",
            f"every StepResult of {_plural(a1.watch.calls['A'], 'round')} had 1-D integer agents, states in "
            f"0..{len(cls.states) - 1}, "
            "aligned sources and a count of attempts",
        )
    if not getattr(cls, "progressive", False):
        report.add(label, "monotonicity", "skip", "the model does not declare progressive: agents may leave adoption")
    elif "A" in a1.watch.violations:
        report.add(label, "monotonicity", "fail", a1.watch.violations["A"], out[2] if out else None)
    else:
        left = _left_adoption(a1, "A", sa)
        if left:
            report.add(label, "monotonicity", "fail", left)
        elif a1.rounds == 0:
            report.add(label, "monotonicity", "skip", "not judged: no round was completed")
        else:
            report.add(
                label, "monotonicity", "pass", f"no agent left the adopted states in {_plural(a1.rounds, 'round')}"
            )
    _check_declarations(
        report, label, cls, a1, sa, out, rounds, probe=lambda: _forced_rounds(fresh, base, msg_a, None, seed)
    )
    if out is not None:
        why = "not judged: the run with default parameters failed (see above)"
        for name in ("determinism", "zero-probability", "isolation", "resume", "explore"):
            report.add(label, name, "skip", why)
    else:
        # determinism: the same run again, on a fresh import
        step_progress("determinism", 2)
        a2 = _trace(fresh, base, [msg_a], rounds=rounds, seed=seed)
        diff = _compare(a1, "A", a2, "A")
        deterministic = diff is None
        if diff is not None:
            o2 = a2.outcome("A")
            report.add(
                label,
                "determinism",
                "fail",
                f"two runs with the same seeds differ {diff}. Draw random numbers only from "
                "ctx.rng, ctx.random_edges or ctx.random_agents",
                o2[2] if o2 else None,
            )
        else:
            report.add(
                label,
                "determinism",
                "pass",
                f"two runs with the same seeds agreed after seeding and in {_plural(len(a1.states['A']) - 1, 'round')}",
            )

        # zero probability
        step_progress("zero probability", 3)
        zero, notes = _zero_params(cls)
        declared = getattr(cls, "zero_params", None)
        if declared is not None and not isinstance(declared, str) and len(tuple(declared)) == 0:
            report.add(
                label,
                "zero-probability",
                "skip",
                "not judged: the model declares zero_params = (), no parameter "
                "stops its spread (a deterministic rule, or adoption from outside the graph)",
            )
        elif not zero:
            why = "; ".join(notes) if notes else "no probability parameter (p, beta, prob*, rate)"
            report.add(
                label, "zero-probability", "skip", f"not judged: {why}; list parameters in zero_params to enable it"
            )
        else:
            z = _trace(fresh, base, [msg_a], zero, rounds=rounds, seed=seed)
            setting = ", ".join(f"{k}=0" for k in zero)
            oz = z.outcome("A")
            sz = z.sessions.get("A")
            if oz is not None:
                report.add(label, "zero-probability", "fail", f"with {setting} the model {oz[1]}", oz[2])
            elif sz is None or not z.states["A"]:
                report.add(label, "zero-probability", "skip", "not judged: the session did not start")
            else:
                seeds_mask = z.states["A"][0] != 0
                adopted = sz.adopted_at >= 0
                extra = adopted & ~seeds_mask
                if extra.any():
                    report.add(
                        label,
                        "zero-probability",
                        "fail",
                        f"with {setting}, {int(extra.sum()):,} agents besides the {int(seeds_mask.sum())} "
                        f"seeds adopted (reached {sz.reached:,}): a probability of 0 must stop the spread",
                    )
                else:
                    weak = ""
                    if sa is not None and sa.reached <= sa.seeds_count:
                        weak = " (but the default run did not spread beyond the seeds either, so this proves little)"
                    report.add(
                        label,
                        "zero-probability",
                        "pass",
                        f"with {setting} only the {int(seeds_mask.sum())} seeds adopted{weak}"
                        + (f"; {'; '.join(notes)}" if notes else ""),
                    )

        # isolation: A and B interleaved in one simulation vs each alone
        step_progress("isolation", 4)
        writes = sorted(set(a1.world_writes) | set(a2.world_writes))
        if not deterministic:
            report.add(label, "isolation", "skip", "not judged: the model is not deterministic")
        elif getattr(cls, "changes_edges", False):
            report.add(label, "isolation", "skip", "not judged: the model changes edges, which every session shares")
        else:
            b = _trace(fresh, base, [msg_b], rounds=rounds, seed=seed)
            ab = _trace(fresh, base, [msg_a, msg_b], rounds=rounds, seed=seed)
            writes = sorted(set(writes) | set(b.world_writes) | set(ab.world_writes))
            ob = b.outcome("B")
            diff_a = _compare(a1, "A", ab, "A")
            diff_b = _compare(b, "B", ab, "B")
            if ob is not None and ob[0] == "raised":
                report.add(label, "isolation", "fail", f"a run of a second message {ob[1]}", ob[2])
            elif diff_a is not None or diff_b is not None:
                which, diff = ("first", diff_a) if diff_a is not None else ("second", diff_b)
                report.add(
                    label,
                    "isolation",
                    "fail",
                    f"the {which} of two sessions run side by side differs from the same session run alone, "
                    f"{diff}. Keep per-session data in ctx.store or on self, never in module globals or class "
                    "attributes",
                )
            elif writes:
                report.add(
                    label,
                    "isolation",
                    "fail",
                    f"the model wrote to the world ({', '.join(writes)}): it may change only its session, "
                    "through StepResult and ctx.store",
                )
            else:
                report.add(
                    label,
                    "isolation",
                    "pass",
                    "two sessions run side by side gave what each gives alone, and the world was left unchanged",
                )
        if writes and not deterministic:
            report.add(label, "world-writes", "fail", f"the model wrote to the world ({', '.join(writes)})")

        # resume: save and reload mid-run (fork the world) and go on: the same rounds must follow
        step_progress("resume", 5)
        if not deterministic:
            report.add(label, "resume", "skip", "not judged: the model is not deterministic")
        elif a1.rounds < 2:
            report.add(label, "resume", "skip", "not judged: the run lasted less than two rounds")
        else:
            k = max(1, min(3, a1.rounds // 2))
            rs = _trace(fresh, base, [msg_a], rounds=rounds, seed=seed, resume_after=k)
            diff = _compare(a1, "A", rs, "A")
            if diff is not None:
                ors = rs.outcome("A")
                report.add(
                    label,
                    "resume",
                    "fail",
                    f"saved and reloaded after round {k} (the model is made again and start is not "
                    f"called), the run went differently: {diff}. Keep what start computes in ctx.store, which is saved "
                    "with the session",
                    ors[2] if ors else None,
                )
            else:
                report.add(
                    label,
                    "resume",
                    "pass",
                    f"saved and reloaded after round {k}, the run went on exactly as without the reload",
                )

        # explore: the parameter space, on other worlds
        step_progress("exploring parameters", 6)
        _explore_model(report, label, cls, fresh, seed=seed)

    # speed
    step_progress("speed", 7)
    try:
        big = speed_base()
    except Exception as exc:  # pragma: no cover - only a machine out of memory
        report.figures[label] = {"error": f"could not build the speed world: {exc}"}
        return
    n_seeds = max(10, big.n // 100)  # enough senders in the first rounds to measure throughput
    sp = _trace(
        fresh,
        big,
        [_Message("A", msg_a.topics, f"random:{n_seeds}", 1)],
        rounds=rounds,
        seed=seed,
        record=False,
        budget_s=SPEED_BUDGET_S,
    )
    osp = sp.outcome("A")
    ssp = sp.sessions.get("A")
    if osp is not None and out is None:
        report.add(label, "scale", "fail", f"on {big.n:,} agents the model {osp[1]}", osp[2])
    if osp is not None or ssp is None:
        report.figures[label] = {
            "agents": big.n,
            "edges": big.num_edges,
            "error": osp[1] if osp else "the session did not start",
        }
        return
    n_rounds = max(1, len(sp.round_seconds))
    secs = sum(sp.round_seconds)
    report.figures[label] = {
        "agents": big.n,
        "edges": big.num_edges,
        "seeds": ssp.seeds_count,
        "rounds": ssp.round,
        "attempts": ssp.attempts,
        "reached": ssp.reached,
        "seconds": round(secs, 6),
        "seconds_per_round": secs / n_rounds,
        "model_seconds_per_round": sp.watch.model_seconds / n_rounds,
        "attempts_per_second": ssp.attempts / secs if secs > 0 else 0.0,
    }
    step_progress("done", 8)


def _check_declarations(
    report: CheckReport,
    label: str,
    cls: type[PropagationModel],
    run: _Run,
    session: PropagationSession | None,
    out: tuple[str, str, str] | None,
    rounds: int,
    probe: Callable[[], tuple[str | None, str | None]] | None = None,
) -> None:
    """The checks of what a model declares against what its default run did: ``states`` (the counts
    sum to the agents at every tick), ``variables`` (every value within its declared range), ``feeds``
    (reading feed exposures only with ``uses_feed``), ``edges`` (edge changes only with
    ``changes_edges``) and ``end`` (the run ended, or the model declares an end or ``endless``; a run
    that ended right after start is run again with ``is_done`` held false by ``probe``, and fails when
    those rounds change anything)."""
    if session is None or session.series is None or session.series.length == 0:
        for name in ("states", "variables", "feeds", "edges", "end"):
            report.add(label, name, "skip", "not judged: the session did not start")
        return
    counts = session.series.counts
    sums = counts.sum(axis=1)
    bad = np.flatnonzero(sums != run.n)
    if bad.size:
        t = int(bad[0])
        report.add(
            label,
            "states",
            "fail",
            f"at tick {t} the {len(session.state_names)} states counted {int(sums[t]):,} agents, "
            f"not the world's {run.n:,}",
        )
    else:
        report.add(
            label,
            "states",
            "pass",
            f"at each of {_plural(len(sums), 'tick')} the {len(session.state_names)} states "
            f"({', '.join(session.state_names)}) summed to the {run.n:,} agents",
        )
    declared = getattr(cls, "variables", {}) or {}
    if not declared:
        report.add(label, "variables", "skip", "the model declares no continuous variable")
    elif out is not None and "outside its declared range" in out[1]:
        report.add(label, "variables", "fail", out[1], out[2])
    else:
        spans = []
        for vname, spec in declared.items():
            col = session.variables.get(vname)
            if col is None:
                continue
            lo, hi = float(col.min()), float(col.max())
            if not (spec.min <= lo and hi <= spec.max):
                report.add(
                    label,
                    "variables",
                    "fail",
                    f"variable {vname} ranges over [{lo:g}, {hi:g}], outside its declared "
                    f"range [{spec.min:g}, {spec.max:g}]",
                )
                break
            spans.append(f"{vname} in [{lo:.3g}, {hi:.3g}] of [{spec.min:g}, {spec.max:g}]")
        else:
            report.add(
                label,
                "variables",
                "pass",
                f"every value set in {_plural(run.rounds, 'round')} stayed in its declared range "
                f"({'; '.join(spans)}, after the last round)",
            )
    used_feed = "A" in run.watch.feed_used  # the default run's message
    if used_feed and not getattr(cls, "uses_feed", False):
        report.add(
            label,
            "feeds",
            "fail",
            "the model reads feed exposures (ctx.feed_open, ctx.with_feed or ctx.feed_agents) but does not "
            "declare it: set uses_feed = True",
        )
    elif used_feed:
        report.add(label, "feeds", "pass", "reads feed exposures and declares uses_feed = True")
    elif getattr(cls, "uses_feed", False):
        report.add(label, "feeds", "pass", "declares uses_feed = True (no feed exposure was read in the run)")
    else:
        report.add(label, "feeds", "pass", "reads no feed exposure and does not declare uses_feed")
    if "A" in run.watch.edge_answers and not getattr(cls, "changes_edges", False):
        report.add(
            label,
            "edges",
            "fail",
            "the model answers with remove_edges or add_edges but does not declare it: set changes_edges = True",
        )
    elif getattr(cls, "changes_edges", False):
        report.add(
            label,
            "edges",
            "pass",
            f"declares changes_edges = True; removed {session.edges_removed:,} and added "
            f"{session.edges_added:,} edges in the run",
        )
    else:
        report.add(label, "edges", "pass", "changes no edge")
    if out is not None:
        report.add(label, "end", "skip", "not judged: the run with default parameters failed (see above)")
    elif session.status == "completed" and session.round == 0:
        change, error = probe() if probe is not None else (None, None)
        if change is not None:
            report.add(
                label,
                "end",
                "fail",
                "the session ended right after start, before any round: is_done is asked once "
                f"right after start and after every round, and it{_where_defined(cls, 'is_done')} was already true "
                f"after start, yet {change}. So every "
                "session ends at tick 0 before anything happens: make is_done true only when nothing can change any "
                "more (keep what it reads in ctx.store, set by step)",
                summary="ended right after start",
            )
        else:
            why = f" (could not tell: {error})" if error else f" ({PROBE_ROUNDS} rounds run anyway changed nothing)"
            report.add(
                label, "end", "pass", f"the run ended right after start, before any round: nothing could change{why}"
            )
    elif session.status == "completed":
        report.add(label, "end", "pass", f"the run ended after {_plural(session.round, 'round')} (is_done)")
    elif getattr(cls, "endless", False):
        report.add(
            label,
            "end",
            "pass",
            f"declares endless = True (still running after {rounds} rounds): runs until --max-ticks",
        )
    elif cls.is_done is not PropagationModel.is_done:
        report.add(label, "end", "pass", f"declares an end (is_done) that this run did not reach in {rounds} rounds")
    else:
        report.add(
            label,
            "end",
            "fail",
            f"still running after {rounds} rounds and keeps the default is_done (nobody transmits), "
            "which its agents never reach: declare an end in is_done (an absorbing state, consensus, no change) or "
            "set endless = True",
        )


def _left_adoption(run: _Run, label: str, session: PropagationSession | None) -> str | None:
    """Per-round check on the recorded states: does any agent leave the adopted states?"""
    if session is None:
        return None
    adopted = np.asarray(session.adopted_states)
    states = run.states[label]
    for r in range(1, len(states)):
        left = np.isin(states[r - 1], adopted) & ~np.isin(states[r], adopted)
        if left.any():
            return (
                f"round {r}: {int(left.sum())} agents left the adopted states although the model declares "
                "progressive = True"
            )
    return None


# -- recommenders ------------------------------------------------------------------------------------

#: Ticks of a recommender's contract run on the contract world.
RECOMMENDER_TICKS = 8
#: Ticks of each exploring run of a recommender.
RECOMMENDER_EXPLORE_TICKS = 5
#: Ticks of a recommender's speed run (the first tick starts the messages: nothing is live yet).
RECOMMENDER_SPEED_TICKS = 4
#: Name of the checker's own model, which carries the messages of a recommender run.
CARRIER = "agora-check-carrier"


class _Carrier(PropagationModel):
    """The checker's own model, carrying the messages of a recommender run: a cascade at 0.05 per edge
    attempt, and an agent shown the message in a feed adopts it with probability 0.3; the session ends
    after ``rounds`` rounds whatever happened, so its message stays live as long as the run needs."""

    name = CARRIER
    version = "1.0"
    description = "The plugin checker's message carrier (feeds adopt at 0.3; ends after 'rounds' rounds)."
    params = {"rounds": Param(int, RECOMMENDER_TICKS, 1, 10**6, "rounds before the session ends")}
    uses_feed = True

    def step(self, ctx: Any) -> StepResult:
        targets, edges = ctx.gather_targets()
        open_ = np.flatnonzero(ctx.state[targets] == 0)
        hit = open_[ctx.random_edges(edges[open_]) < 0.05]
        winners, first = np.unique(targets[hit], return_index=True)
        result = StepResult(
            winners, 1, ctx.gather_sources()[hit[first]], attempts=int(open_.size), exposed=targets[open_]
        )
        shown, sharers = ctx.feed_open()
        if shown.size:
            take = ctx.random_agents(shown) < 0.3
            result = ctx.with_feed(result, shown[take], sharers[take])
        return result

    def is_done(self, ctx: Any) -> bool:
        return ctx.round >= self.p["rounds"]


def recommender_schema_problems(cls: type) -> list[str]:
    """What is wrong with a recommender class's declarations (empty when nothing is)."""
    problems = _plugin_schema_problems(cls, "recommender")
    if issubclass(cls, FriendRecommender):
        if getattr(cls, "suggest", None) is FriendRecommender.suggest:
            problems.append("suggest is not overridden: the recommender suggests nothing")
    elif issubclass(cls, ContentRecommender):
        if getattr(cls, "score", None) is ContentRecommender.score:
            problems.append("score is not overridden: the recommender scores nothing")
    else:
        problems.append(
            "it subclasses Recommender directly: subclass ContentRecommender (feeds, score) or "
            "FriendRecommender (whom to follow, suggest)"
        )
    return problems


@dataclass
class Answer:
    """One call of a recommender in a run: the tick, who it was for (``readers`` of a content
    recommender, the agents looking of a friend recommender), the live sessions' ids (content), and
    its answer as arrays — ``(scores,)`` or ``(scores, sharers)``; ``(agents, candidates, scores)`` for a
    friend recommender — or None when the answer could not be read as arrays."""

    tick: int
    who: np.ndarray
    sessions: tuple[int, ...]
    arrays: tuple[np.ndarray, ...] | None


@dataclass
class RecommenderRun:
    """What a recommender did in a run of :func:`run_recommender` (and of the checker).

    Attributes:
        world: the copy of the world the run changed.
        sessions: the messages' sessions: a short one first (finished early: history for a recommender
            that reads past messages), then three live ones (the first written by the most followed
            agent, the last without topics).
        answers: every call (:class:`Answer`), in order (kept with ``record``).
        shown: content: what the core put in feeds, ``(tick, session id, agents, credited sharers)``;
            friend: the suggestions left after the core's rules, ``(tick, -1, agents, candidates)``.
        error, traceback: why the engine switched the recommender off (None when it did not).
        crash: an exception that escaped the simulation (such as the recommender's ``__init__``
            raising): ``(error, traceback)``.
        calls, seconds: calls of ``score``/``suggest`` and the seconds spent in them.
        timings: per call ``(tick, who, messages, seconds)``.
        engine_seconds: seconds the core spent building feeds (content) or friend suggestions in all.
        replay: what differed when one call was made twice with the same generator (None: nothing).
        world_writes: what of the world changed that only a plugin could have changed.
    """

    world: World
    role: str
    sessions: list[PropagationSession] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    shown: list[tuple[int, int, np.ndarray, np.ndarray]] = field(default_factory=list)
    error: str | None = None
    traceback: str | None = None
    crash: tuple[str, str] | None = None
    calls: int = 0
    seconds: float = 0.0
    timings: list[tuple[int, int, int, float]] = field(default_factory=list)
    engine_seconds: float = 0.0
    #: Items the core put in feeds (content) or suggestions it kept (friend), counted with or without ``record``.
    kept: int = 0
    ticks: int = 0
    replay: str | None = None
    replayed: bool = False
    world_writes: list[str] = field(default_factory=list)


def _answer_arrays(answer: Any, role: str) -> tuple[np.ndarray, ...] | None:
    """Copies of a recommender's answer as arrays (None when it is not a readable answer: the core's
    own validation says what is wrong with it)."""
    try:
        parts = answer if isinstance(answer, tuple) else (answer,)
        if role == "friend" and len(parts) != 3:
            return None
        if not 1 <= len(parts) <= 3:
            return None
        return tuple(np.array(p) for p in parts)
    except Exception:  # noqa: BLE001 - anything unreadable: the core refuses it
        return None


def _answer_diff(
    a: tuple[np.ndarray, ...] | None,
    b: tuple[np.ndarray, ...] | None,
    role: str,
    who: np.ndarray | None = None,
    sessions: tuple[int, ...] = (),
) -> str | None:
    """Where two answers first differ, in words, or None when they are equal (nan equals nan)."""
    if a is None or b is None:
        return None if a is None and b is None else "one answer could not be read, the other could"
    if len(a) != len(b):
        return f"one answer has {len(a)} parts, the other {len(b)}"
    names = ("agents", "candidates", "scores") if role == "friend" else ("scores", "sharers")
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        what = names[k] if k < len(names) else f"part {k}"
        if x.shape != y.shape:
            return f"{what} of shape {x.shape} vs {y.shape}"
        equal_nan = x.dtype.kind in "fc" and y.dtype.kind in "fc"
        if np.array_equal(x, y, equal_nan=equal_nan):
            continue
        bad = np.flatnonzero(~((x == y) | (np.isnan(x) & np.isnan(y)) if equal_nan else x == y).ravel())
        i = int(bad[0]) if bad.size else 0
        xi, yi = x.ravel()[i].item(), y.ravel()[i].item()
        if role == "content" and x.ndim == 2 and x.shape[1]:
            r, j = divmod(i, x.shape[1])
            reader = int(who[r]) if who is not None and r < len(who) else r
            message = f"session {sessions[j]}" if j < len(sessions) else f"column {j}"
            return f"{what} for reader {reader} and {message}: {xi!r} vs {yi!r} ({bad.size:,} differ)"
        return f"{what}[{i}]: {xi!r} vs {yi!r} ({bad.size:,} differ)"
    return None


def _recommender_messages(world: World) -> list[tuple[str, list[str], int | None, str, int]]:
    """The messages of a recommender run: (text, topics, author id, seeds, rounds)."""
    topics = common_topics(world, 5)
    g = world.graph
    author = int(world.columns["ids"][int(np.argmax(np.diff(g.out_indptr)))]) if world.n else None
    return [
        ("checker history", topics[:2], None, "random:10", 2),
        ("checker message 1", topics[:3], author, "random:5", 10**6),
        ("checker message 2", topics[3:5], None, "random:5", 10**6),
        ("checker message 3 (no topics)", [], None, "random:5", 10**6),
    ]


def run_recommender(
    recommender: type,
    world: World,
    *,
    params: dict[str, Any] | None = None,
    ticks: int = RECOMMENDER_TICKS,
    seed: int = 0,
    record: bool = True,
    replay: bool = False,
    quick: bool = False,
    budget_s: float | None = None,
) -> RecommenderRun:
    """Run a simulation on a copy of ``world`` that uses ``recommender`` (a content or friend
    recommender class) for ``ticks`` ticks, with four messages carried by the checker's own model (see
    :class:`RecommenderRun`), and return what the recommender answered and what the core made of it.

    For tests of a recommender: ``shown`` tells who was shown (content) or suggested (friend) what;
    ``error``/``traceback`` why the engine switched it off. The social layer learns nothing in this run
    (trust, reputation and reports are off), so the world's columns change only if the recommender
    writes to them. ``replay``: make one call twice with the same generator and keep what differed in
    ``replay``; ``quick``: the ensembles' tight loop (no agent texts).
    """
    role = "friend" if issubclass(recommender, FriendRecommender) else "content"
    run = RecommenderRun(world=world.fork(), role=role)
    fork = run.world

    async def drive() -> None:
        cls: Any = recommender
        name = str(cls.name)
        registry = Registry((), builtins=True, entry_points=False, env=False)
        registry.register(cls, source="check")
        registry.register(_Carrier, source="check")
        sim = Simulation(fork, registry=registry, bus=EventBus(), llm=_offline_llm(fork, quiet=True))
        quiet = {
            "trust_gain": 0.0,
            "trust_loss": 0.0,
            "reputation_gain": 0.0,
            "reputation_loss": 0.0,
            "report_rate": 0.0,
            "unfollow_rate": 0.0,
            "fatigue_rate": 0.0,
        }
        rec: Recommender | None
        if role == "content":
            sim.social.configure(recommender=name, recommender_params=dict(params or {}), **quiet)
            rec = sim.social.content_recommender(name)
            key, method = name, "score"
        else:
            sim.social.configure(friend_recommender=name, friend_params=dict(params or {}), **quiet)
            rec = sim.social.friend_recommender()
            key, method = f"friend:{name}", "suggest"
        assert rec is not None
        original = getattr(rec, method)

        def answered(ctx: Any) -> Any:
            before = ctx.rng.bit_generator.state if replay and not run.replayed else None
            t0 = time.perf_counter()
            answer = original(ctx)
            spent = time.perf_counter() - t0
            run.seconds += spent
            run.calls += 1
            who = ctx.readers if role == "content" else ctx.agents
            sids = tuple(int(s.id) for s in ctx.sessions) if role == "content" else ()
            run.timings.append((int(ctx.tick), int(who.size), len(sids), spent))
            if not (record or before is not None):
                return answer
            arrays = _answer_arrays(answer, role)
            if before is not None and who.size and (sids or role == "friend"):
                run.replayed = True
                after = ctx.rng.bit_generator.state
                ctx.rng.bit_generator.state = before
                again = _answer_arrays(original(ctx), role)
                ctx.rng.bit_generator.state = after
                diff = _answer_diff(arrays, again, role, who, sids)
                if diff is not None:
                    run.replay = f"at tick {ctx.tick}, {diff}"
            if record:
                run.answers.append(Answer(int(ctx.tick), np.array(who), sids, arrays))
            return answer

        setattr(rec, method, answered)
        social = sim.social
        if role == "content":
            feeds = social.feeds

            def fed(tick: int, online: Any, live: Any, out: Any) -> Any:
                result = feeds(tick, online, live, out)
                run.engine_seconds += out.feed_seconds
                run.kept += sum(int(agents.size) for agents, _ in result.values())
                if record:
                    for sid, (agents, sharers) in result.items():
                        run.shown.append((int(tick), int(sid), agents.copy(), sharers.copy()))
                return result

            social.feeds = fed  # type: ignore[method-assign]
        else:
            suggestions = social.suggestions

            def suggested(tick: int, looking: Any, rng: Any = None, out: Any = None) -> Any:
                t0 = time.perf_counter()
                a, c, sc = suggestions(tick, looking, rng, out)
                run.engine_seconds += time.perf_counter() - t0
                run.kept += int(a.size)
                if record:
                    run.shown.append((int(tick), -1, a.copy(), c.copy()))
                return a, c, sc

            social.suggestions = suggested  # type: ignore[method-assign]
        for text, topics, author, seeds, rounds in _recommender_messages(fork):
            run.sessions.append(
                sim.inject(
                    text, topics=topics, author=author, seeds=seeds, model=CARRIER, params={"rounds": rounds}, seed=seed
                )
            )
        t_start = time.perf_counter()
        for _ in range(ticks):
            if quick:
                sim.step_now()
            else:
                await sim.step()
            run.ticks += 1
            if key in social.errors:
                run.error = social.errors[key]
                run.traceback = social.tracebacks.get(key) or None
                break
            if budget_s is not None and time.perf_counter() - t_start > budget_s:
                break

    try:
        _run_sync(drive)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a plugin may raise anything (its __init__ runs in configure)
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        escaped = "" if isinstance(exc, Exception) else " (it escapes the simulation: it would stop the whole app)"
        run.crash = (f"{type(exc).__name__}: {exc}{escaped}", tb)
    for key_, col in fork.columns.items():
        base_col = world.columns.get(key_)
        if base_col is not None and (col.shape != base_col.shape or not np.array_equal(col, base_col)):
            run.world_writes.append(f"column {key_}")
    same_edges = np.array_equal(fork.graph.out_indptr, world.graph.out_indptr) and np.array_equal(
        fork.graph.out_indices, world.graph.out_indices
    )
    if same_edges and not np.array_equal(fork.graph.trust, world.graph.trust):
        run.world_writes.append("edge trust")
    return run


_READ_ONLY = re.compile(r"read-only|WRITEABLE", re.IGNORECASE)


def _plugin_line(tb: str | None, path: str) -> str | None:
    """``file:line: code`` of the last frame of the traceback that lies in the plugin file."""
    if not tb:
        return None
    real = os.path.realpath(path)
    found = None
    for m in re.finditer(r'  File "([^"]+)", line (\d+), in [^\n]*\n((?:    [^\n]*\n)?)', tb + "\n"):
        if m.group(1) in (path, real):
            found = f"{os.path.basename(m.group(1))}:{m.group(2)}" + (
                f": {m.group(3).strip()}" if m.group(3).strip() else ""
            )
    return found


def _judge_recommender_run(run: RecommenderRun, path: str) -> _Finding | None:
    """The first problem of a recommender run, or None. Kinds: ``raised``, ``contract`` (an answer the
    core refused), ``read-only`` (a write to an array of the context), ``writes`` (the world changed),
    ``shown`` (an item scored -inf or nan was put in a feed)."""
    method = "suggest" if run.role == "friend" else "score"
    if run.crash is not None:
        return _Finding("raised", f"raised {run.crash[0]} while making it or running the simulation", run.crash[1])
    if run.error is not None:
        at = f" at tick {run.ticks - 1}"
        if run.error.startswith("RecommenderFailure"):
            return _Finding("contract", run.error.split(": ", 1)[-1] + at, run.traceback)
        if _READ_ONLY.search(run.error):
            where = _plugin_line(run.traceback, path)
            return _Finding(
                "read-only",
                f"{method} wrote to a read-only array{at} ({run.error}"
                + (f", at {where}" if where else "")
                + "): the arrays of the context are the world's own, "
                "handed read-only; copy one before changing it (x = ctx.columns['reputation'].copy())",
                run.traceback,
            )
        return _Finding("raised", f"{method} raised {run.error}{at}", run.traceback)
    if run.world_writes:
        return _Finding(
            "writes", f"the recommender changed the world ({', '.join(run.world_writes)}): it may only answer"
        )
    if run.role == "content":
        bad = _shown_unshowable(run)
        if bad is not None:
            return _Finding("shown", bad)
    return None


def _shown_unshowable(run: RecommenderRun) -> str | None:
    """Whether the core put in a feed an item the recommender scored -inf or nan (None: it did not)."""
    by_tick: dict[int, list[Answer]] = {}
    for a in run.answers:
        by_tick.setdefault(a.tick, []).append(a)
    for tick, sid, agents, _ in run.shown:
        for a in by_tick.get(tick, []):
            if a.arrays is None or sid not in a.sessions or not a.who.size:
                continue
            scores = np.asarray(a.arrays[0], dtype=np.float64)
            if scores.ndim != 2:
                continue
            pos = np.searchsorted(a.who, agents)
            ok = pos < a.who.size
            ok[ok] = a.who[pos[ok]] == agents[ok]
            s = scores[pos[ok], a.sessions.index(sid)]
            hidden = ~np.isfinite(s)
            if hidden.any():
                i = int(np.flatnonzero(hidden)[0])
                return (
                    f"at tick {tick} the feed of agent {int(agents[ok][i])} showed session {sid}, which the "
                    "recommender "
                    f"scored {float(s[i])!r} ({int(hidden.sum())} such items): -inf and nan mean never show"
                )
    return None


def _score_stats(run: RecommenderRun) -> tuple[int, int, int, int]:
    """(scores, -inf, nan, shown items) over a content run's answers."""
    total = neg = nan = 0
    for a in run.answers:
        if a.arrays is None:
            continue
        s = np.asarray(a.arrays[0])
        if s.dtype.kind != "f":
            total += s.size
            continue
        total += s.size
        neg += int(np.count_nonzero(np.isneginf(s)))
        nan += int(np.count_nonzero(np.isnan(s)))
    shown = sum(int(x[2].size) for x in run.shown)
    return total, neg, nan, shown


def _compare_recommender_runs(a: RecommenderRun, b: RecommenderRun) -> str | None:
    """Where two runs of a recommender first differ (answers, then what was shown), or None."""
    if (a.error is None) != (b.error is None) or (a.crash is None) != (b.crash is None):
        return "one run failed and the other did not: " + str(a.error or b.error or (a.crash or b.crash or ("",))[0])
    if len(a.answers) != len(b.answers):
        return f"one run made {len(a.answers)} calls, the other {len(b.answers)}"
    for x, y in zip(a.answers, b.answers, strict=True):
        if x.tick != y.tick or not np.array_equal(x.who, y.who) or x.sessions != y.sessions:
            return f"at tick {x.tick} the calls were made for different agents or messages"
        diff = _answer_diff(x.arrays, y.arrays, a.role, x.who, x.sessions)
        if diff is not None:
            return f"at tick {x.tick}, {diff}"
    if len(a.shown) != len(b.shown):
        return "the core showed different items"
    for one, two in zip(a.shown, b.shown, strict=True):
        if (
            one[0] != two[0]
            or one[1] != two[1]
            or not np.array_equal(one[2], two[2])
            or not np.array_equal(one[3], two[3])
        ):
            return f"at tick {one[0]} the core showed different items"
    return None


def _explore_recommender(
    report: CheckReport, label: str, cls: type, fresh: Callable[[], type], *, seed: int, path: str
) -> None:
    """The ``explore`` check of a recommender: every parameter set of :func:`param_space` on every world
    of :func:`explore_worlds`, for :data:`RECOMMENDER_EXPLORE_TICKS` ticks each."""
    sets, notes = param_space(cls, seed)
    worlds = explore_worlds(seed)
    results: list[dict[str, Any]] = []
    failures: list[tuple[ParamSet, ExploreWorld, _Finding]] = []
    total = len(sets) * len(worlds)
    ran = 0
    t0 = time.perf_counter()
    try:
        once = fresh()
    except BaseException as exc:  # noqa: BLE001 - reported by the runs
        if isinstance(exc, KeyboardInterrupt):
            raise
        once = None
    for ps in sets:
        for w in worlds:
            if ran and time.perf_counter() - t0 > EXPLORE_BUDGET_S:
                break
            run = run_recommender(
                once if once is not None else fresh(),
                w.world,
                params=ps.params,
                ticks=RECOMMENDER_EXPLORE_TICKS,
                seed=seed,
                quick=True,
            )
            ran += 1
            finding = _judge_recommender_run(run, path)
            results.append(
                {
                    "params": ps.params,
                    "how": ps.how,
                    "world": w.key,
                    "status": "fail" if finding else "ok",
                    "kind": finding.kind if finding else None,
                    "ticks": run.ticks,
                    "calls": run.calls,
                    "shown": sum(int(x[2].size) for x in run.shown),
                    "error": finding.what if finding else None,
                }
            )
            if finding is not None:
                failures.append((ps, w, finding))
    _explore_verdict(
        report,
        label,
        results,
        failures,
        sets,
        worlds,
        notes,
        _param_defaults(cls),
        ran,
        total,
        f"{RECOMMENDER_EXPLORE_TICKS} ticks each",
        seed,
    )


def _check_recommender(
    report: CheckReport,
    path: str,
    cls: type,
    label: str,
    base: World,
    speed_base: Callable[[], World],
    *,
    seed: int,
    progress: Progress,
    frac: tuple[float, float],
) -> None:
    """The checks of one recommender (see the module docstring)."""
    role = "friend" if issubclass(cls, FriendRecommender) else "content"
    method = "suggest" if role == "friend" else "score"
    qualname = cls.__qualname__
    lo, hi = frac

    def step_progress(what: str, i: int, total: int = 5) -> None:
        if progress is not None:
            progress(f"{label}: {what}", lo + (hi - lo) * i / total)

    def fresh() -> type:
        return _fresh_class(path, qualname)

    step_progress("schema", 0)
    problems = recommender_schema_problems(cls)
    if problems:
        report.add(label, "schema", "fail", "; ".join(problems))
        if not issubclass(cls, (ContentRecommender, FriendRecommender)) or any("not overridden" in p for p in problems):
            for name in ("run", "shapes", "read-only", "hidden", "determinism", "explore"):
                report.add(label, name, "skip", "not judged: the schema is broken (see above)")
            return
    else:
        params = getattr(cls, "params", {}) or {}
        report.add(
            label,
            "schema",
            "pass",
            f"name, version, description, {_plural(len(params), 'parameter')} with valid "
            f"defaults and bounds, {method} overridden",
        )

    step_progress("run", 1)
    r1 = run_recommender(fresh(), base, ticks=RECOMMENDER_TICKS, seed=seed, replay=True)
    f1 = _judge_recommender_run(r1, path)
    who = sum(t[1] for t in r1.timings)
    shown = sum(int(x[2].size) for x in r1.shown)
    if role == "content":
        did = (
            f"scored {who:,} readers against the live messages in {_plural(r1.calls, 'call')}; the core showed "
            f"{shown:,} feed items"
        )
    else:
        did = (
            f"suggested for {who:,} agents in {_plural(r1.calls, 'call')}; "
            f"{shown:,} suggestions passed the core's rules"
        )
    if f1 is not None and f1.kind == "raised":
        report.add(label, "run", "fail", f1.what, f1.traceback, summary=_short_what(f1))
    elif f1 is not None and f1.kind == "read-only":
        report.add(label, "run", "skip", "not judged: stopped by a write to a read-only array (see read-only)")
    else:
        tail = ", then the core refused an answer (see shapes)" if f1 is not None and f1.kind == "contract" else ""
        report.add(
            label, "run", "pass", f"{_plural(r1.ticks, 'tick')} on {base.n:,} agents without raising: {did}{tail}"
        )
    if f1 is not None and f1.kind == "contract":
        report.add(label, "shapes", "fail", f1.what, f1.traceback, summary="an answer the core refused")
    elif f1 is not None and f1.kind in ("raised", "read-only"):
        report.add(
            label, "shapes", "skip", f"not judged: the run failed (see {'run' if f1.kind == 'raised' else 'read-only'})"
        )
    elif r1.calls == 0:
        report.add(label, "shapes", "skip", f"not judged: {method} was never called")
    elif role == "content":
        report.add(
            label,
            "shapes",
            "pass",
            f"every answer of {_plural(r1.calls, 'call')} was an (R, M) array of numbers "
            "(R readers, M live messages), with aligned integer sharers where given",
        )
    else:
        report.add(
            label,
            "shapes",
            "pass",
            f"every answer of {_plural(r1.calls, 'call')} was three aligned 1-D arrays: "
            "integer agents and candidates in range, finite scores",
        )
    if f1 is not None and f1.kind in ("read-only", "writes"):
        report.add(
            label,
            "read-only",
            "fail",
            f1.what,
            f1.traceback,
            summary="wrote to the world" if f1.kind == "writes" else "wrote to a read-only array",
        )
    elif f1 is not None and f1.kind == "raised":
        report.add(label, "read-only", "skip", "not judged: the run failed (see run)")
    else:
        report.add(
            label,
            "read-only",
            "pass",
            "wrote to no array of the context, and the world's columns and trust were left unchanged",
        )
    if role == "friend":
        report.add(
            label,
            "hidden",
            "skip",
            "a friend recommender has no hidden items: its scores must be finite (the core refuses others: see shapes)",
        )
    elif f1 is not None and f1.kind == "shown":
        report.add(label, "hidden", "fail", f1.what)
    elif f1 is not None:
        report.add(label, "hidden", "skip", "not judged: the run failed (see above)")
    else:
        total, neg, nan, n_shown = _score_stats(r1)
        if neg or nan:
            detail = (
                f"of {total:,} scores {neg:,} were -inf and {nan:,} nan, and none of those items was shown "
                f"({n_shown:,} items shown)"
            )
        else:
            detail = f"no score of {total:,} was -inf or nan (nothing to hide); {n_shown:,} items shown"
        if not n_shown:
            detail += "; note: nothing at all was shown in the run"
        report.add(label, "hidden", "pass", detail)

    if f1 is not None:
        report.add(label, "determinism", "skip", "not judged: the run failed (see above)")
        report.add(label, "explore", "skip", "not judged: the run with default parameters failed (see above)")
    else:
        step_progress("determinism", 2)
        r2 = run_recommender(fresh(), base, ticks=RECOMMENDER_TICKS, seed=seed, replay=True)
        diff = _compare_recommender_runs(r1, r2)
        if r1.replay is not None:
            report.add(
                label,
                "determinism",
                "fail",
                f"called twice with the same generator, {method} answered differently "
                f"{r1.replay}: keep nothing between calls on self and draw random numbers only from ctx.rng",
            )
        elif diff is not None:
            report.add(
                label,
                "determinism",
                "fail",
                f"two runs with the same seeds, each on a fresh import, differ {diff}: "
                "draw random numbers only from ctx.rng",
            )
        else:
            report.add(
                label,
                "determinism",
                "pass",
                f"called twice with the same generator it answered the same, and two "
                f"runs on fresh imports agreed in all {_plural(len(r1.answers), 'answer')} and what the core "
                "made of them",
            )
        step_progress("exploring parameters", 3)
        _explore_recommender(report, label, cls, fresh, seed=seed, path=path)

    step_progress("speed", 4)
    try:
        big = speed_base()
    except Exception as exc:  # pragma: no cover - only a machine out of memory
        report.figures[label] = {"error": f"could not build the speed world: {exc}"}
        return
    sp = run_recommender(
        fresh(), big, ticks=RECOMMENDER_SPEED_TICKS, seed=seed, record=False, quick=True, budget_s=SPEED_BUDGET_S
    )
    fsp = _judge_recommender_run(sp, path)
    if fsp is not None and f1 is None:
        report.add(label, "scale", "fail", f"on {big.n:,} agents: {fsp.what}", fsp.traceback)
    calls = [t for t in sp.timings if t[1]]
    if fsp is not None or not calls:
        report.figures[label] = {
            "agents": big.n,
            "edges": big.num_edges,
            "error": fsp.what if fsp is not None else f"{method} was never called",
        }
        return
    ticks = len({t[0] for t in calls})
    secs = sum(t[3] for t in calls)
    who = sum(t[1] for t in calls)
    fig: dict[str, Any] = {
        "agents": big.n,
        "edges": big.num_edges,
        "ticks": ticks,
        "calls": len(calls),
        "seconds": round(secs, 6),
        "seconds_per_tick": secs / ticks,
    }
    if role == "content":
        pairs = sum(t[1] * t[2] for t in calls)
        fig.update(
            readers_per_tick=who / ticks,
            messages=max(t[2] for t in calls),
            scores_per_second=pairs / secs if secs > 0 else 0.0,
            feed_seconds_per_tick=sp.engine_seconds / ticks,
            items_per_tick=sp.kept / ticks,
        )
    else:
        fig.update(
            agents_per_tick=who / ticks,
            agents_per_second=who / secs if secs > 0 else 0.0,
            suggestions_per_tick=sp.kept / ticks,
            friend_seconds_per_tick=sp.engine_seconds / ticks,
        )
    report.figures[label] = fig


def check_plugin(
    path: str, *, agents: int = 100_000, seed: int = 0, rounds: int = CONTRACT_ROUNDS, progress: Progress = None
) -> CheckReport:
    """Run the conformance suite on every plugin in the file ``path``: its propagation models, content
    recommenders and friend recommenders.

    The contract checks run on a synthetic world of ``min(agents, 2000)`` agents, the parameters are
    explored on two small worlds (:func:`explore_worlds`), and the speed figure is measured on a world
    of ``agents`` agents. See the module docstring for the checks. The plugin's code runs in this
    process (in the simulation's plugin worker thread, under the plugin time budget).

    Args:
        path: a Python file defining one or more plugin classes.
        agents: agents of the graph the speed figure is measured on.
        seed: seed of the synthetic worlds, of the sessions' generators and of the random parameter draws.
        rounds: the most rounds a model's contract run lasts.
        progress: optional ``(phase, fraction)`` callback.

    Returns:
        The report; a file that fails to import, or defines no plugin, gives a report with a failed check.

    Raises:
        BadFileError: ``path`` does not exist, is a folder or is not a ``.py`` file.
        BadParameterError: ``agents`` below 100 or ``rounds`` below 1.
    """
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise BadFileError(f"plugin file {path} does not exist: give the path of a .py file")
    if os.path.isdir(path):
        raise BadFileError(f"{path} is a folder: give the path of one plugin file (.py)")
    if not path.endswith(".py"):
        raise BadFileError(f"{path} is not a Python file: plugin files end in .py")
    if agents < 100:
        raise BadParameterError(f"--agents must be at least 100 for a meaningful check, got {agents}")
    if rounds < 1:
        raise BadParameterError(f"rounds must be at least 1, got {rounds}")
    report = CheckReport(path)
    try:
        module = load_file(path)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a plugin may raise anything at import, even SystemExit
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        report.add(None, "import", "fail", f"the file failed to import: {type(exc).__name__}: {exc}", tb)
        return report
    defined = [obj for _, obj in inspect.getmembers(module, inspect.isclass) if obj.__module__ == module.__name__]
    models = [c for c in defined if issubclass(c, PropagationModel) and c is not PropagationModel and c.name]
    recommenders = [
        c
        for c in defined
        if issubclass(c, Recommender) and c.name and c not in (Recommender, ContentRecommender, FriendRecommender)
    ]
    recommenders.sort(key=lambda c: issubclass(c, FriendRecommender))  # content first, each by class name
    if not models and not recommenders:
        nameless = [c.__name__ for c in defined if issubclass(c, (PropagationModel, Recommender))]
        if nameless:
            why = (
                f"{', '.join(nameless)} subclass a plugin class but set no name, so the registry ignores them: "
                'set name = "..."'
            )
        else:
            why = (
                "the file defines no subclass of sim.plugin.PropagationModel, ContentRecommender or FriendRecommender "
                "with a name: it holds no plugin to check"
            )
        report.add(None, "models", "fail", why)
        return report
    names = [str(c.name) for c in models]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        report.add(
            None, "models", "fail", f"two classes in the file are both named {dup!r}: the registry would keep only one"
        )
    rec_keys = [(str(c.name), issubclass(c, FriendRecommender)) for c in recommenders]
    if len(set(rec_keys)) != len(rec_keys):
        dup = next(k for k in rec_keys if rec_keys.count(k) > 1)[0]
        report.add(
            None,
            "recommenders",
            "fail",
            f"two recommender classes in the file are both named {dup!r}: the registry would keep only one",
        )
    report.models = names
    labels: list[tuple[type, str]] = []
    for c in recommenders:
        kind = "friend-recommender" if issubclass(c, FriendRecommender) else "recommender"
        label = str(c.name)
        if label in names or label in report.recommenders:  # a model or the other kind has the same name
            label = f"{label} ({'content recommender' if kind == 'recommender' else kind})"
        report.recommenders.append(label)
        report.kinds[label] = kind
        labels.append((c, label))
    if progress is not None:
        progress("building the check world", 0.0)
    base = _base_world(min(agents, CONTRACT_AGENTS), seed)
    report.world = {"agents": base.n, "edges": base.num_edges, "seed": seed}

    def speed_world() -> World:
        if progress is not None:
            progress(f"building a {agents:,}-agent world", 0.0)
        return _base_world(agents, seed)

    report.explore_worlds = _explore_world_rows(seed)
    count = len(models) + len(labels)
    for i, cls in enumerate(models):
        report.kinds[str(cls.name)] = "model"
        _check_model(
            report,
            path,
            cls,
            base,
            speed_world,
            seed=seed,
            rounds=rounds,
            progress=progress,
            frac=(i / count, (i + 1) / count),
        )
    for j, (cls, label) in enumerate(labels, start=len(models)):
        _check_recommender(
            report, path, cls, label, base, speed_world, seed=seed, progress=progress, frac=(j / count, (j + 1) / count)
        )
    return report


def _explore_world_rows(seed: int) -> dict[str, dict[str, Any]]:
    out = {}
    for w in explore_worlds(seed):
        g = w.world.graph
        isolated = int(np.count_nonzero((np.diff(g.out_indptr) == 0) & (np.diff(g.in_indptr) == 0)))
        what = "scale-free world" if w.key == "scale-free" else f"directed world with {isolated} isolated agents"
        out[w.key] = {"agents": w.world.n, "edges": w.world.num_edges, "isolated": isolated, "what": what}
    return out
