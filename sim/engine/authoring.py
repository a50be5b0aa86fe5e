"""The plugin author kit: list what the registry holds, write a new model from a template, and check
any model file against the contract.

- :func:`plugin_rows` — one plain dict per registry entry (``agora plugins list``).
- :func:`new_plugin` — writes ``NAME.py`` (a working, documented model) and ``test_NAME.py`` beside it
  (``agora plugins new``).
- :func:`check_plugin` — the conformance suite (``agora plugins check``): every
  :class:`~sim.plugin.PropagationModel` subclass in a file is imported with
  :func:`sim.model.registry.load_file` and run through real :class:`~sim.engine.simulation.Simulation` ticks on a
  small synthetic world. Each check passes or fails with a reason; a model that raises is reported with
  its traceback and never crashes the checker. Checks (per model):

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
  ``states``        at every tick of the default run the state counts sum to the number of agents.
  ``variables``     every continuous variable stays inside its declared range.
  ``feeds``         a model that reads feed exposures declares ``uses_feed = True``.
  ``edges``         a model that answers with edge changes declares ``changes_edges = True``.
  ``end``           the default run ends, or the model declares an end of its own (``is_done``) or
                    ``endless = True``; a model that runs on under the default ``is_done`` is flagged.

  Then a figure, not a pass/fail: speed on a graph of ``agents`` agents (edge attempts per second and
  seconds per round). If the model raises at that size, a failing ``scale`` check is added.

Models are code and run with your rights; the checker runs them in this process. A model that never
returns (an endless loop) hangs the checker as it would hang a simulation.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import keyword
import math
import os
import pkgutil
import re
import sys
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.errors import BadFileError, BadParameterError, TargetExistsError
from sim.core.events import EventBus
from sim.plugin import Param, PropagationModel, Recommender, StepResult, Variable
from sim.model.registry import PluginInfo, Registry, load_file
from sim.model.session import PropagationSession
from sim.core.topics import TOPICS
from sim.core.world import World, world_rng

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
    try:
        import plugins as pkg

        names.update(m.name for m in pkgutil.iter_modules(pkg.__path__))
    except Exception:  # pragma: no cover - the package ships with Agora
        pass
    registry = Registry((), builtins=True, entry_points=False, env=False)
    names.update(registry.entries)
    return names


def _class_name(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or "Model"


def new_plugin(name: str, folder: str = ".", template: str = "cascade") -> list[str]:
    """Write a new propagation model ``<folder>/<name>.py`` and its tests ``<folder>/test_<name>.py``.

    The model is a working, documented model written like the built-ins, from one of the templates of
    :mod:`sim.engine.templates` (``cascade``: a cascade that only reaches agents who share a topic with the
    message; ``compartmental``: SIRS; ``opinion``: bounded-confidence averaging of a continuous opinion;
    ``network``: a cascade whose unconvinced followers rewire); the test file runs the conformance suite
    on it and checks its behaviour. Nothing is overwritten.

    Args:
        name: the model's name (what users pass as the model): a Python identifier, not a keyword, not
            the name of a built-in plugin or a standard-library module, not starting with ``_`` or ``test``.
        folder: where to write the files (created if missing).
        template: one of :data:`sim.engine.templates.TEMPLATES`.

    Returns:
        The paths written (model first).

    Raises:
        BadParameterError: the name is not acceptable (the reason is named), or ``folder`` is a file.
        TargetExistsError: one of the two files exists already (nothing is written then).
    """
    from sim.engine.templates import FILES, TEMPLATES

    if template not in FILES:
        raise BadParameterError(f"template {template!r} is not one of {', '.join(TEMPLATES)}: choose one with --template")
    if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
        raise BadParameterError(f"plugin name {name!r} is not valid: use letters, digits and underscores, starting with a letter (e.g. topic_cascade)")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise BadParameterError(f"plugin name {name!r} is a Python keyword: choose another name")
    if name.startswith("_"):
        raise BadParameterError(f"plugin name {name!r} starts with '_': plugin folders skip such files, so choose a name starting with a letter")
    if name.lower().startswith("test"):
        raise BadParameterError(f"plugin name {name!r} starts with 'test': pytest would collect the model as a test file; choose another name")
    if name in sys.stdlib_module_names or name in ("sim", "plugins", "tui", "numpy"):
        raise BadParameterError(f"plugin name {name!r} is the name of a Python module it would shadow in its folder: choose another name")
    if name in _builtin_names():
        raise BadParameterError(f"plugin name {name!r} is taken by a built-in plugin: choose another name (see 'agora plugins list')")
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
        model_text, test_text = FILES[template]
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
        from sim.store.create import synthetic_world

        world = synthetic_world(f"check-{agents}", agents, avg_degree=10.0, seed=seed)
        # Forks copy the columns and trust but share the rest of the graph: freezing the base keeps a
        # model that writes into the graph from spoiling the checks that follow (it fails instead).
        for arr in (*world.columns.values(), world.graph.out_indptr, world.graph.out_indices, world.graph.trust,
                    world.graph.in_indptr, world.graph.in_indices, world.graph.in_edge):
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
    return [TOPICS[int(t)] for t in order[skip: skip + k]]


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
                    f"round {rnd}: exposed has shape {ex.shape} and dtype {ex.dtype}; expected a 1-D integer array of agent indices")
            elif ex.size and (ex.min() < 0 or ex.max() >= n):
                self.problems.setdefault(label, []).append(f"round {rnd}: exposed holds agent indices outside 0..{n - 1}")
        cls = type(session.model)
        if not getattr(cls, "progressive", False) or label in self.violations:
            return
        agents = np.asarray(result.agents)
        if agents.ndim != 1 or not agents.size or agents.dtype.kind not in "iu" or agents.min() < 0 or agents.max() >= n:
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
                f"{state_name(int(before[i]))} -> {state_name(int(new_state[i]))}) although the model declares progressive = True")


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
    #: An exception that escaped the simulation (or the run's setup): (error, traceback).
    crash: tuple[str, str] | None = None

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
        where = "while starting (in __init__ or start)" if self.fail_tick.get(label, 0) == 0 else f"in round {s.round + 1}"
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


def _trace(make_cls: Callable[[], type[PropagationModel]], base: World, messages: list[_Message],
           params: dict[str, Any] | None = None, *, rounds: int = CONTRACT_ROUNDS, seed: int = 0,
           record: bool = True, budget_s: float | None = None, reraise: bool = False,
           resume_after: int | None = None) -> _Run:
    """Run ``messages`` side by side in one Simulation on a fork of ``base``, round by round.

    With ``resume_after=k`` the world is forked after tick ``k`` (as saving and loading it would: the
    sessions are copied and their models made again without ``start``) and the run goes on in the copy.

    What escapes the simulation (a failed import, SystemExit from a model) is kept in ``crash``, or
    raised with ``reraise``."""
    run = _Run(n=base.n)
    worlds = [base.fork()]

    async def drive() -> None:
        from sim.llm.service import LLMService
        from sim.engine.simulation import Simulation

        cls = make_cls()
        name = cls.name if isinstance(getattr(cls, "name", None), str) and cls.name else "unnamed"
        registry = Registry((), builtins=True, entry_points=False, env=False)  # built-ins: a model may wrap one
        registry.entries[name] = PluginInfo(name=name, kind="model", source="check", cls=cls)
        world = worlds[0]
        sim = Simulation(world, registry=registry, bus=EventBus(), llm=LLMService.offline(world))
        for m in messages:
            s = sim.inject(f"checker message {m.label}", topics=list(m.topics), seeds=m.seeds, model=name,
                           params=dict(params or {}), seed=seed)
            # Each message's generator depends on its key only, so a message draws the same numbers
            # whether it runs alone or beside another.
            s.rng = world_rng(world.seed, 100, seed, m.key)
            run.sessions[m.label] = s
            run.states[m.label] = []
            run.sources[m.label] = []
        t_start = time.perf_counter()
        for tick in range(rounds + 1):
            t0 = time.perf_counter()
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
    for world in worlds:
        for key, col in world.columns.items():
            if not np.array_equal(col, base.columns[key]) and f"column {key}" not in run.world_writes:
                run.world_writes.append(f"column {key}")
        same_edges = (np.array_equal(world.graph.out_indptr, base.graph.out_indptr)
                      and np.array_equal(world.graph.out_indices, base.graph.out_indices))
        # A model changes edges only through its answers (the ``edges`` check); trust is compared on the same edges.
        if same_edges and not np.array_equal(world.graph.trust, base.graph.trust) and "edge trust" not in run.world_writes:
            run.world_writes.append("edge trust")
    return run


def run_model(model: type[PropagationModel], world: World, *, params: dict[str, Any] | None = None,
              seeds: str = "random:10", topics: Iterable[str] = (), rounds: int = 100, seed: int = 0) -> PropagationSession:
    """Run one propagation session of ``model`` on a copy of ``world`` until it ends (at most ``rounds``).

    For tests of a model: the session's arrays (``state``, ``adopted_at``, ``adopted_from``,
    ``exposed``) and counters (``reached``, ``attempts``, ``new_per_tick``) tell what happened; a model
    that raised leaves the session ``failed`` with ``error`` and ``traceback``.

    Raises:
        BadParameterError: bad parameters, seeds or topics.
    """
    run = _trace(lambda: model, world, [_Message("A", tuple(topics), seeds, 1)], params, rounds=rounds, seed=seed,
                 record=False, reraise=True)
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

    @property
    def ok(self) -> bool:
        """Every check passed or was skipped, and at least one model was checked."""
        return bool(self.models) and all(c["ok"] for c in self.checks)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if c["status"] == "fail"]

    def add(self, model: str | None, name: str, status: str, detail: str, tb: str | None = None) -> dict[str, Any]:
        check = {"model": model, "name": name, "ok": status != "fail", "status": status, "detail": detail, "traceback": tb or None}
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
        return {"path": self.path, "ok": self.ok, "models": list(self.models), "checks": [dict(c) for c in self.checks],
                "figures": {k: dict(v) for k, v in self.figures.items()}, "world": dict(self.world),
                "failed": len(self.failed)}

    def _check_lines(self, c: dict[str, Any]) -> list[str]:
        mark = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}[c["status"]]
        out = [f"  {mark}  {c['name']:<17} {c['detail']}"]
        if c["status"] == "fail" and c.get("traceback"):
            out += ["          " + ln for ln in _short_traceback(c["traceback"], self.path).splitlines()]
        return out

    def render(self) -> str:
        """What a terminal shows: every check with its reason, the plugin's frames of each traceback,
        the speed figures and a verdict."""
        lines = [f"checking {self.path}"]
        if self.world:
            w = self.world
            lines.append(f"contract runs on a synthetic world of {w['agents']:,} agents and {w['edges']:,} edges, seed {w['seed']}")
        for c in self.checks:
            if c["model"] is None:
                lines += self._check_lines(c)
        for model in self.models:
            lines.append(f"model {model}")
            for c in self.checks:
                if c["model"] == model:
                    lines += self._check_lines(c)
            fig = self.figures.get(model)
            if fig and "error" not in fig:
                lines.append(
                    f"  speed on {fig['agents']:,} agents, {fig['edges']:,} edges: {fig['rounds']} rounds, "
                    f"{fig['attempts']:,} edge attempts, {fig['seconds_per_round'] * 1000:.1f} ms per round "
                    f"({fig['model_seconds_per_round'] * 1000:.1f} ms in the model), {_fmt_rate(fig['attempts_per_second'])} edge attempts/s")
        n_fail = len(self.failed)
        if not self.models and not n_fail:
            lines.append("result: no model found")
        elif n_fail:
            names = ", ".join(dict.fromkeys(c["name"] for c in self.failed))
            lines.append(f"result: {n_fail} of {len(self.checks)} checks failed ({names})")
        else:
            lines.append(f"result: all {len(self.checks)} checks passed")
        return "\n".join(lines)


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


def schema_problems(cls: type) -> list[str]:
    """What is wrong with a model class's declarations (empty when nothing is)."""
    problems: list[str] = []
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.strip():
        problems.append("name is empty: set name = \"...\" (what users pass to choose the model)")
    elif re.search(r"\s", name):
        problems.append(f"name {name!r} contains whitespace: use letters, digits, '_', '-' or '.'")
    for attr in ("version", "description"):
        value = getattr(cls, attr, None)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{attr} is empty: set {attr} = \"...\"")
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
            problems.append(f"parameter {key}: type {getattr(spec.type, '__name__', spec.type)!r} is not one of float, int, bool, str")
            continue
        for bound in ("min", "max"):
            b = getattr(spec, bound)
            if b is None:
                continue
            if spec.type in (bool, str):
                problems.append(f"parameter {key}: a {spec.type.__name__} parameter cannot have a {bound}")
            elif not isinstance(b, (int, float, np.integer, np.floating)) or isinstance(b, bool) or math.isnan(float(b)):
                problems.append(f"parameter {key}: {bound} {b!r} is not a number")
        if (spec.min is not None and spec.max is not None and spec.type in (float, int)
                and not isinstance(spec.min, bool) and not isinstance(spec.max, bool)):
            try:
                if float(spec.min) > float(spec.max):
                    problems.append(f"parameter {key}: min {spec.min:g} is above max {spec.max:g}, so no value is valid")
            except (TypeError, ValueError):
                pass
        if spec.choices is not None:
            if spec.type is not str:
                problems.append(f"parameter {key}: choices only apply to str parameters")
            elif not spec.choices or not all(isinstance(c, str) for c in spec.choices):
                problems.append(f"parameter {key}: choices must be a non-empty tuple of strings")
        d = spec.default
        type_ok = {float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
                   int: lambda v: _is_int(v), bool: lambda v: isinstance(v, bool), str: lambda v: isinstance(v, str)}[spec.type](d)
        if not type_ok:
            problems.append(f"parameter {key}: default {d!r} is a {type(d).__name__}, not a {spec.type.__name__}")
        else:
            try:
                spec.coerce(key, d)
            except BadParameterError:
                problems.append(f"parameter {key}: default {d!r} fails its own validation: expected {spec.describe_range()}")
            except Exception as exc:
                problems.append(f"parameter {key}: validating its default raised {type(exc).__name__}: {exc}")
        if not spec.help:
            pass  # help is optional; the UI shows the name alone
    states = getattr(cls, "states", None)
    if not isinstance(states, (tuple, list)) or len(states) < 2 or not all(isinstance(s, str) and s for s in states):
        problems.append(f"states {states!r} must be a tuple of at least two non-empty names (state 0 is the untouched one)")
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
            problems.append(f"{attr} {tuple(value)!r} holds {bad[0]}, but the states that can be entered are 1..{k - 1} ({', '.join(states[1:])})")
        return tuple(int(v) for v in value)

    adopted = state_set("adopted_states", allow_empty=False)
    # A model that decides its own end (opinion dynamics: every agent acts every round) may have no
    # transmitting state; a cascade needs one, or it ends at once.
    own_end = getattr(cls, "is_done", None) is not PropagationModel.is_done
    transmitting = state_set("transmitting_states", allow_empty=own_end)
    transmit = getattr(cls, "transmit", None)
    if transmit not in ("once", "while"):
        problems.append(f"transmit {transmit!r} must be \"once\" (the round after entering) or \"while\" (every round in a transmitting state)")
    seed_state = getattr(cls, "seed_state", None)
    if not _is_int(seed_state) or not 1 <= int(seed_state) < k:
        problems.append(f"seed_state {seed_state!r} must be one of the states 1..{k - 1}")
    elif transmitting is not None and int(seed_state) not in transmitting and cls.is_done is PropagationModel.is_done:
        problems.append(f"seed_state {seed_state} ({states[int(seed_state)]}) is not a transmitting state, so the seeds never transmit and the "
                        "session ends at once: make it transmitting or override is_done")
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
                    problems.append(f"zero_params names {z!r}, a {spec.type.__name__} parameter: only numbers can be set to 0")
                else:
                    try:
                        spec.coerce(z, 0)
                    except BadParameterError:
                        problems.append(f"zero_params names {z!r}, but 0 is outside its range ({spec.describe_range()})")
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
                return (f"{when}: {diff.size} agents have a different {what} (agent {i}: {int(x[i])} vs {int(y[i])}); "
                        f"{int(np.count_nonzero(x))} vs {int(np.count_nonzero(y))} non-zero")
    if len(sa) != len(sb):
        return f"one run lasted {len(sa) - 1} rounds, the other {len(sb) - 1}"
    return None


def _check_model(report: CheckReport, path: str, cls: type[PropagationModel], base: World, speed_base: Callable[[], World],
                 *, seed: int, rounds: int, progress: Progress, frac: tuple[float, float]) -> None:
    label = cls.name
    qualname = cls.__qualname__
    lo, hi = frac

    def step_progress(what: str, i: int, total: int = 7) -> None:
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
        report.add(label, "schema", "pass", f"name, version, description, {len(params)} parameter{'s' * (len(params) != 1)} "
                   f"with valid defaults and bounds, {len(cls.states)} consistent states")

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
        report.add(label, "run", "pass", f"{_plural(a1.rounds, 'round')} on {base.n:,} agents without raising: reached {reached:,} from "
                   f"{seeds} seeds, {status}")
    stepped = a1.watch.calls.get("A", 0) > 0
    problems_seen = a1.watch.problems.get("A", [])
    if out is not None and out[0] == "contract":
        report.add(label, "shapes", "fail", out[1], out[2])
    elif problems_seen:
        report.add(label, "shapes", "fail", "; ".join(problems_seen[:3]) + (f" (and {len(problems_seen) - 3} more)" if len(problems_seen) > 3 else ""))
    elif not stepped:
        report.add(label, "shapes", "skip", "not judged: the model never stepped")
    else:
        report.add(label, "shapes", "pass", f"every StepResult of {_plural(a1.watch.calls['A'], 'round')} had 1-D integer agents, states in 0..{len(cls.states) - 1}, "
                   "aligned sources and a count of attempts")
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
            report.add(label, "monotonicity", "pass", f"no agent left the adopted states in {_plural(a1.rounds, 'round')}")
    _check_declarations(report, label, cls, a1, sa, out, rounds)
    if out is not None:
        why = "not judged: the run with default parameters failed (see above)"
        for name in ("determinism", "zero-probability", "isolation", "resume"):
            report.add(label, name, "skip", why)
    else:
        # determinism: the same run again, on a fresh import
        step_progress("determinism", 2)
        a2 = _trace(fresh, base, [msg_a], rounds=rounds, seed=seed)
        diff = _compare(a1, "A", a2, "A")
        deterministic = diff is None
        if diff is not None:
            o2 = a2.outcome("A")
            report.add(label, "determinism", "fail", f"two runs with the same seeds differ {diff}. Draw random numbers only from "
                       "ctx.rng, ctx.random_edges or ctx.random_agents", o2[2] if o2 else None)
        else:
            report.add(label, "determinism", "pass", f"two runs with the same seeds agreed after seeding and in "
                       f"{_plural(len(a1.states['A']) - 1, 'round')}")

        # zero probability
        step_progress("zero probability", 3)
        zero, notes = _zero_params(cls)
        declared = getattr(cls, "zero_params", None)
        if declared is not None and not isinstance(declared, str) and len(tuple(declared)) == 0:
            report.add(label, "zero-probability", "skip", "not judged: the model declares zero_params = (), no parameter "
                       "stops its spread (a deterministic rule, or adoption from outside the graph)")
        elif not zero:
            why = "; ".join(notes) if notes else "no probability parameter (p, beta, prob*, rate)"
            report.add(label, "zero-probability", "skip", f"not judged: {why}; list parameters in zero_params to enable it")
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
                    report.add(label, "zero-probability", "fail", f"with {setting}, {int(extra.sum()):,} agents besides the {int(seeds_mask.sum())} "
                               f"seeds adopted (reached {sz.reached:,}): a probability of 0 must stop the spread")
                else:
                    weak = ""
                    if sa is not None and sa.reached <= sa.seeds_count:
                        weak = " (but the default run did not spread beyond the seeds either, so this proves little)"
                    report.add(label, "zero-probability", "pass", f"with {setting} only the {int(seeds_mask.sum())} seeds adopted{weak}"
                               + (f"; {'; '.join(notes)}" if notes else ""))

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
                report.add(label, "isolation", "fail", f"the {which} of two sessions run side by side differs from the same session run alone, "
                           f"{diff}. Keep per-session data in ctx.store or on self, never in module globals or class attributes")
            elif writes:
                report.add(label, "isolation", "fail", f"the model wrote to the world ({', '.join(writes)}): it may change only its session, through StepResult and ctx.store")
            else:
                report.add(label, "isolation", "pass", "two sessions run side by side gave what each gives alone, and the world was left unchanged")
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
                report.add(label, "resume", "fail", f"saved and reloaded after round {k} (the model is made again and start is not "
                           f"called), the run went differently: {diff}. Keep what start computes in ctx.store, which is saved "
                           "with the session", ors[2] if ors else None)
            else:
                report.add(label, "resume", "pass", f"saved and reloaded after round {k}, the run went on exactly as without the reload")

    # speed
    step_progress("speed", 6)
    try:
        big = speed_base()
    except Exception as exc:  # pragma: no cover - only a machine out of memory
        report.figures[label] = {"error": f"could not build the speed world: {exc}"}
        return
    n_seeds = max(10, big.n // 100)  # enough senders in the first rounds to measure throughput
    sp = _trace(fresh, big, [_Message("A", msg_a.topics, f"random:{n_seeds}", 1)], rounds=rounds, seed=seed,
                record=False, budget_s=SPEED_BUDGET_S)
    osp = sp.outcome("A")
    ssp = sp.sessions.get("A")
    if osp is not None and out is None:
        report.add(label, "scale", "fail", f"on {big.n:,} agents the model {osp[1]}", osp[2])
    if osp is not None or ssp is None:
        report.figures[label] = {"agents": big.n, "edges": big.num_edges, "error": osp[1] if osp else "the session did not start"}
        return
    n_rounds = max(1, len(sp.round_seconds))
    secs = sum(sp.round_seconds)
    report.figures[label] = {
        "agents": big.n, "edges": big.num_edges, "seeds": ssp.seeds_count, "rounds": ssp.round, "attempts": ssp.attempts,
        "reached": ssp.reached, "seconds": round(secs, 6), "seconds_per_round": secs / n_rounds,
        "model_seconds_per_round": sp.watch.model_seconds / n_rounds,
        "attempts_per_second": ssp.attempts / secs if secs > 0 else 0.0,
    }
    step_progress("done", 7)


def _check_declarations(report: CheckReport, label: str, cls: type[PropagationModel], run: _Run,
                        session: PropagationSession | None, out: tuple[str, str, str] | None, rounds: int) -> None:
    """The checks of what a model declares against what its default run did: ``states`` (the counts
    sum to the agents at every tick), ``variables`` (every value within its declared range), ``feeds``
    (reading feed exposures only with ``uses_feed``), ``edges`` (edge changes only with
    ``changes_edges``) and ``end`` (the run ended, or the model declares an end or ``endless``)."""
    if session is None or session.series is None or session.series.length == 0:
        for name in ("states", "variables", "feeds", "edges", "end"):
            report.add(label, name, "skip", "not judged: the session did not start")
        return
    counts = session.series.counts
    sums = counts.sum(axis=1)
    bad = np.flatnonzero(sums != run.n)
    if bad.size:
        t = int(bad[0])
        report.add(label, "states", "fail", f"at tick {t} the {len(session.state_names)} states counted {int(sums[t]):,} agents, "
                   f"not the world's {run.n:,}")
    else:
        report.add(label, "states", "pass", f"at each of {_plural(len(sums), 'tick')} the {len(session.state_names)} states "
                   f"({', '.join(session.state_names)}) summed to the {run.n:,} agents")
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
                report.add(label, "variables", "fail", f"variable {vname} ranges over [{lo:g}, {hi:g}], outside its declared "
                           f"range [{spec.min:g}, {spec.max:g}]")
                break
            spans.append(f"{vname} in [{lo:.3g}, {hi:.3g}] of [{spec.min:g}, {spec.max:g}]")
        else:
            report.add(label, "variables", "pass", f"every value set in {_plural(run.rounds, 'round')} stayed in its declared range "
                       f"({'; '.join(spans)}, after the last round)")
    used_feed = "A" in run.watch.feed_used  # the default run's message
    if used_feed and not getattr(cls, "uses_feed", False):
        report.add(label, "feeds", "fail", "the model reads feed exposures (ctx.feed_open, ctx.with_feed or ctx.feed_agents) but does not "
                   "declare it: set uses_feed = True")
    elif used_feed:
        report.add(label, "feeds", "pass", "reads feed exposures and declares uses_feed = True")
    elif getattr(cls, "uses_feed", False):
        report.add(label, "feeds", "pass", "declares uses_feed = True (no feed exposure was read in the run)")
    else:
        report.add(label, "feeds", "pass", "reads no feed exposure and does not declare uses_feed")
    if "A" in run.watch.edge_answers and not getattr(cls, "changes_edges", False):
        report.add(label, "edges", "fail", "the model answers with remove_edges or add_edges but does not declare it: set changes_edges = True")
    elif getattr(cls, "changes_edges", False):
        report.add(label, "edges", "pass", f"declares changes_edges = True; removed {session.edges_removed:,} and added "
                   f"{session.edges_added:,} edges in the run")
    else:
        report.add(label, "edges", "pass", "changes no edge")
    if out is not None:
        report.add(label, "end", "skip", "not judged: the run with default parameters failed (see above)")
    elif session.status == "completed":
        report.add(label, "end", "pass", f"the run ended after {_plural(session.round, 'round')} (is_done)")
    elif getattr(cls, "endless", False):
        report.add(label, "end", "pass", f"declares endless = True (still running after {rounds} rounds): runs until --max-ticks")
    elif cls.is_done is not PropagationModel.is_done:
        report.add(label, "end", "pass", f"declares an end (is_done) that this run did not reach in {rounds} rounds")
    else:
        report.add(label, "end", "fail", f"still running after {rounds} rounds and keeps the default is_done (nobody transmits), "
                   "which its agents never reach: declare an end in is_done (an absorbing state, consensus, no change) or "
                   "set endless = True")


def _left_adoption(run: _Run, label: str, session: PropagationSession | None) -> str | None:
    """Per-round check on the recorded states: does any agent leave the adopted states?"""
    if session is None:
        return None
    adopted = np.asarray(session.adopted_states)
    states = run.states[label]
    for r in range(1, len(states)):
        left = np.isin(states[r - 1], adopted) & ~np.isin(states[r], adopted)
        if left.any():
            return f"round {r}: {int(left.sum())} agents left the adopted states although the model declares progressive = True"
    return None


def check_plugin(path: str, *, agents: int = 100_000, seed: int = 0, rounds: int = CONTRACT_ROUNDS,
                 progress: Progress = None) -> CheckReport:
    """Run the conformance suite on every propagation model in the file ``path``.

    The contract checks run on a synthetic world of ``min(agents, 2000)`` agents; the speed figure on one
    of ``agents`` agents. See the module docstring for the checks.

    Args:
        path: a Python file defining one or more :class:`~sim.plugin.PropagationModel` subclasses.
        agents: agents of the graph the speed figure is measured on.
        seed: seed of the synthetic worlds and of the sessions' generators.
        rounds: the most rounds a contract run lasts.
        progress: optional ``(phase, fraction)`` callback.

    Returns:
        The report; a file that fails to import, or defines no model, gives a report with a failed check.

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
    models = [c for c in defined if issubclass(c, PropagationModel) and c is not PropagationModel and getattr(c, "name", "")]
    if not models:
        nameless = [c.__name__ for c in defined if issubclass(c, PropagationModel)]
        recommenders = [c.__name__ for c in defined if issubclass(c, Recommender)]
        if nameless:
            why = f"{', '.join(nameless)} subclass PropagationModel but set no name, so the registry ignores them: set name = \"...\""
        elif recommenders:
            why = f"{', '.join(recommenders)} are recommenders; the checker checks propagation models only"
        else:
            why = "the file defines no subclass of sim.plugin.PropagationModel"
        report.add(None, "models", "fail", why)
        return report
    names = [str(c.name) for c in models]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        report.add(None, "models", "fail", f"two classes in the file are both named {dup!r}: the registry would keep only one")
    report.models = names
    if progress is not None:
        progress("building the check world", 0.0)
    base = _base_world(min(agents, CONTRACT_AGENTS), seed)
    report.world = {"agents": base.n, "edges": base.num_edges, "seed": seed}

    def speed_world() -> World:
        if progress is not None:
            progress(f"building a {agents:,}-agent world", 0.0)
        return _base_world(agents, seed)

    for i, cls in enumerate(models):
        _check_model(report, path, cls, base, speed_world, seed=seed, rounds=rounds, progress=progress,
                     frac=(i / len(models), (i + 1) / len(models)))
    return report
