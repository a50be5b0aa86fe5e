"""Requests: what a front end asks of the engine, as frozen values, each built by one parser.

The command line builds them from its arguments, the HTTP API from JSON, the terminal UI from its forms and
Python from keywords; all call the same ``parse``, so the same mistake gets the same sentence wherever it
is made. Below the door nobody checks the fields again: the engine checks only what needs the world
(that seed ids exist, that a community holds enough agents, that an author is an agent).

What a front end may ask differs in a few bounds (:class:`~sim.model.seeds.Limits`, kept with the seed
selection's parser, which enforces them wherever a selection arrives; ``Limits``, ``LOCAL``, ``SERVED``, ``FIT``,
``MAX_TEXT``, ``MAX_SEED_IDS`` and ``SEEDS_HINT`` are importable from here too): a request to a server never
names a file on it, never asks for a seed method that can take minutes, and has a bounded text and seed list.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

import numpy as np

from sim.core.topics import topics_mask
from sim.errors import BadParameterError
from sim.model.guard import plugin_budget
from sim.model.intervene import ACTIONS, Intervention
from sim.model.registry import PluginError, Registry
from sim.model.seeds import FIT as FIT
from sim.model.seeds import INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, LOCAL, Limits, SeedSpec
from sim.model.seeds import MAX_SEED_IDS as MAX_SEED_IDS
from sim.model.seeds import MAX_TEXT as MAX_TEXT
from sim.model.seeds import SEEDS_HINT as SEEDS_HINT
from sim.model.seeds import SERVED as SERVED
from sim.social.dynamics import NONE

T = TypeVar("T")

#: The kinds of seed selection that are not seed methods.
SELECTIONS = ("ids", "random", "top", "community", "file", "none")


def whole(value: object, what: str, lo: int, hi: int, give: str) -> int:
    """``value`` as an int from ``lo`` to ``hi`` (a bool is no number, nor a float; a numpy integer is).

    Raises:
        BadParameterError: ``{what} {value} is invalid: give {give}``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= int(value) <= hi:
        raise BadParameterError(f"{what} {str(value)[:30]} is invalid: give {give}")
    return int(value)


def bounded(value: object, what: str, lo: int, hi: int) -> int:
    """``value`` (an int, or its text: a flag's or a JSON field's) as an int from ``lo`` to ``hi``.

    Raises:
        BadParameterError: ``{what} must be from {lo} to {hi}, not {value}`` (or not a whole number).
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, str)):
        raise BadParameterError(f"{what} must be a whole number from {lo} to {hi}, not {str(value)[:30]!r}")
    try:
        number = int(value)
    except ValueError:
        raise BadParameterError(f"{what} must be a whole number from {lo} to {hi}, not {str(value)[:30]!r}") from None
    if not lo <= number <= hi:
        raise BadParameterError(f"{what} must be from {lo} to {hi}, not {number}")
    return number


def _text(value: object, limits: Limits) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadParameterError(f"text must be a string, got {type(value).__name__}")
    if limits.max_text is not None and len(value) > limits.max_text:
        raise BadParameterError(
            f"the text is {len(value):,} characters, more than the {limits.max_text:,} a message may have: "
            "send a shorter one"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadParameterError(
            "the message text is not valid Unicode (it holds a lone surrogate, such as bytes "
            "that are not UTF-8 given on a command line): write it in UTF-8"
        ) from None
    return value


def _id_list(ids: list[object], limits: Limits) -> str:
    """A JSON list of original agent ids as the selection ``ids:a,b,c``."""
    if not ids:
        raise BadParameterError(f"the seed list is empty: {SEEDS_HINT}")
    if limits.max_seed_ids is not None and len(ids) > limits.max_seed_ids:
        raise BadParameterError(
            f"the seed list has {len(ids):,} ids, more than the {limits.max_seed_ids:,} one message "
            "may name: use random:K or top:K for large seed sets"
        )
    for x in ids:
        if type(x) is not int or not INT64_MIN <= x <= INT64_MAX:  # a bool is no id, nor a float
            raise BadParameterError(
                f"seed {str(x)[:30]} is not an agent id: a seed list holds whole numbers "
                "that fit in 64 bits (original agent ids)"
            )
    return "ids:" + ",".join(map(str, ids))


def parse_seeds(value: object, registry: Registry, limits: Limits = LOCAL) -> SeedSpec:
    """A seed selection (``random:K``, ``top:K``, ``ids:a,b,c``, ``community:C:K``, ``file:PATH``, ``none``,
    ``METHOD:K`` or a list of original agent ids) as a :class:`SeedSpec`, its method known to ``registry``
    and within ``limits`` (:meth:`SeedSpec.parse` enforces them; a file is read there, once, where they allow it).

    Raises:
        BadParameterError: one sentence naming the mistake.
    """
    if isinstance(value, list):
        value = _id_list(value, limits)
    if isinstance(value, bool) or not isinstance(value, str):
        raise BadParameterError(
            f'seeds must be a seed selection such as "random:10" or a list of agent ids, got {type(value).__name__}'
        )
    return SeedSpec.parse(value, limits, registry)


def _topics(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise BadParameterError("topics must be a list of topic names (strings)")
    if not all(isinstance(t, str) for t in value):
        raise BadParameterError("topics must be a list of topic names (strings)")
    topics = tuple(value)
    topics_mask(topics)  # an unknown topic: one sentence naming it
    return topics


def _frozen(params: Mapping[str, T]) -> Mapping[str, T]:
    return MappingProxyType(dict(params))


@dataclass(frozen=True, slots=True)
class Inject:
    """A message to inject and how its cascade runs (``agora run --inject``, ``POST /api/v1/messages``,
    the terminal UI's form, ``live.inject``).

    Attributes:
        text: the message, kept literally ("" when ``author`` writes it).
        model: the propagation model's name; params: its parameters, checked against its schema and typed
            (as given when the model could not be loaded: its session then fails and says why).
        seeds: the seed selection. topics: topic names. author: the writing agent's original id.
        priority: higher runs first when more sessions are queued than may run (a 32-bit integer).
        seed: the session's seed (an ensemble's run r uses ``seed + r``).
        recommender: the content recommender that puts it in feeds (None: the world's; ``"none"``: none).
    """

    text: str = ""
    model: str = "ic"
    params: Mapping[str, object] = field(default_factory=lambda: _frozen({}))
    seeds: SeedSpec = field(default_factory=lambda: SeedSpec("random", k=10))
    topics: tuple[str, ...] = ()
    author: int | None = None
    priority: int = 0
    seed: int = 0
    recommender: str | None = None

    #: The fields a request may name.
    FIELDS = ("text", "model", "params", "seeds", "topics", "author", "priority", "seed", "recommender")

    @classmethod
    def parse(cls, data: Mapping[str, object], registry: Registry | None = None, limits: Limits = LOCAL) -> Inject:
        """The injection ``data`` asks for (the keys of :attr:`FIELDS`, all optional but a text or author),
        its model, seed method and recommender known to ``registry`` (None: the built-in plugins and
        ``$AGORA_PLUGINS``).

        Raises:
            BadParameterError: an unknown field, a value of the wrong type or out of range, an unknown
                model, parameter, seed method, topic or recommender, or no text and no author: one sentence.
            PluginError: not raised; a model that cannot be loaded keeps its parameters as given.
        """
        extra = sorted(set(data) - set(cls.FIELDS))
        if extra:
            raise BadParameterError(f"unknown field {str(extra[0])[:60]!r}: the fields are {', '.join(cls.FIELDS)}")
        registry = Registry() if registry is None else registry
        text = _text(data.get("text"), limits)
        model = data.get("model", "ic")
        if isinstance(model, bool) or not isinstance(model, str):
            raise BadParameterError(f'model must be a model name such as "ic", got {type(model).__name__}')
        params = data.get("params")
        if params is None:
            params = {}
        if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
            raise BadParameterError(
                f"params must be an object of parameter names and values, got {type(params).__name__}"
            )
        seeds = parse_seeds(data.get("seeds", "random:10"), registry, limits)
        topics = _topics(data.get("topics"))
        author = data.get("author")
        if author is not None:
            author = whole(author, "author", INT64_MIN, INT64_MAX, "an agent's original id, which fits in 64 bits")
        priority = whole(
            0 if data.get("priority") is None else data.get("priority"),
            "priority",
            INT32_MIN,
            INT32_MAX,
            "a whole number from -2,147,483,648 to 2,147,483,647",
        )
        seed = whole(
            0 if data.get("seed") is None else data.get("seed"),
            "session seed",
            0,
            INT64_MAX,
            "a whole number from 0 to 2^63 - 1",
        )
        recommender = data.get("recommender")
        if recommender is not None:
            if isinstance(recommender, bool) or not isinstance(recommender, str):
                raise BadParameterError(
                    f"recommender must be a content recommender's name, got {type(recommender).__name__}"
                )
            if recommender != NONE:
                registry.content_recommender(recommender)
        if not text.strip() and author is None:
            raise BadParameterError("the message has no text: write one, or name an author to write it")
        try:
            clean = registry.model(model).validate(dict(params))
        except PluginError:  # the model's code cannot be loaded: its session fails, with the traceback
            clean = dict(params)
        return cls(
            text=text,
            model=model,
            params=_frozen(clean),
            seeds=seeds,
            topics=topics,
            author=author,
            priority=priority,
            seed=seed,
            recommender=recommender,
        )

    def to_dict(self) -> dict[str, object]:
        """The request as JSON (what ``parse`` takes back)."""
        return {
            "text": self.text,
            "model": self.model,
            "params": dict(self.params),
            "seeds": str(self.seeds),
            "topics": list(self.topics),
            "author": self.author,
            "priority": self.priority,
            "seed": self.seed,
            "recommender": self.recommender,
        }


def interventions(items: Iterable[str] | str) -> tuple[Intervention, ...]:
    """``[TICK:]ACTION`` texts (``--intervene``, an ensemble's ``intervene``) as interventions, TICK counted
    from the injection (without one, 0: the injection's tick).

    Raises:
        BadParameterError: one sentence naming the intervention and its mistake.
    """
    if isinstance(items, str):
        items = [items]
    out = []
    for item in items:
        if not isinstance(item, str):
            raise BadParameterError(
                f"an intervention is a text such as '5:block:degree:100', got {type(item).__name__}"
            )
        if item.strip().lower() == "none":  # a sweep arm's "no intervention"
            continue
        iv = Intervention.parse(item, with_tick=item.strip().split(":", 1)[0] not in ACTIONS)
        out.append(iv if iv.tick is not None else dataclasses.replace(iv, tick=0))
    return tuple(out)


def finite(value: object, what: str, *, above: float = 0.0) -> float:
    """``value`` as a finite float above ``above``.

    Raises:
        BadParameterError: ``{what} {value} is invalid: give a number above {above}``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= above:
        raise BadParameterError(f"{what} {str(value)[:30]} is invalid: give a number above {above:g}")
    return float(value)


#: How an ensemble may run: ``auto`` batches where it can, ``batched`` always (or refuses), ``engine`` never.
KERNELS = ("auto", "batched", "engine")
#: The most ticks a run until done takes when no ``max_ticks`` is given.
MAX_TICKS = 10_000


def positive(value: object, what: str, least: int = 1) -> int:
    """A whole number of at least ``least`` (``runs``, ``steps``, ``workers``...).

    Raises:
        BadParameterError: ``{what} must be a whole number of at least {least}, got {value}``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise BadParameterError(f"{what} must be a whole number of at least {least}, got {str(value)[:30]}")
    return value


def _optional(data: Mapping[str, object], key: str, what: str) -> int | None:
    value = data.get(key)
    return None if value is None else positive(value, what)


def _settings(value: object, what: str) -> Mapping[str, object]:
    if value is None:
        return _frozen({})
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise BadParameterError(f"{what} must be an object of setting names and values, got {type(value).__name__}")
    return _frozen(value)


@dataclass(frozen=True, slots=True)
class Ensemble:
    """One cascade run ``runs`` times from the world as it is (run r with session seed ``message.seed + r``;
    the world file is not modified), or, with ``runs`` None, run once and persisted into the world file
    (``agora run`` without ``--runs``).

    Attributes:
        message: the injected message (None: no message; a persisted run of the world alone).
        runs: how many runs (None: one, persisted).
        steps: ticks of each run (None: until its cascade ends, at most ``max_ticks``).
        interventions: applied in every run, their ticks counted from the injection.
        social: living-network settings for these runs (``agora social``'s keys); the file keeps its own.
        llm: LLM settings for these runs (``agora llm``'s keys); llm_wait: seconds answers in flight get at
            the end of a run.
        workers: processes the runs are spread over (None: one per CPU; 1: this process).
        kernel: one of :data:`KERNELS`. trees: keep every run's adoption forest.
        ticks_per_second: pace the ticks (None: as fast as possible).
        plugin_budget: seconds a plugin call may take before its session fails (None: the default).
        checkpoint_every, checkpoint_seconds: how often a persisted run checkpoints (None or 0: never by
            that measure).
    """

    message: Inject | None
    runs: int | None = None
    steps: int | None = None
    max_ticks: int = MAX_TICKS
    interventions: tuple[Intervention, ...] = ()
    social: Mapping[str, object] = field(default_factory=lambda: _frozen({}))
    llm: Mapping[str, object] | None = None
    llm_wait: float = 30.0
    workers: int | None = 1
    kernel: str = "auto"
    trees: bool = False
    ticks_per_second: float | None = None
    plugin_budget: float | None = None
    checkpoint_every: int | None = 50
    checkpoint_seconds: float | None = None
    #: The runs ``kernel="auto"`` judges by (None: these runs; a sweep's arm judges by the sweep's total).
    auto_runs: int | None = None

    #: The fields of an ensemble beyond its message's (:attr:`Inject.FIELDS`).
    FIELDS = (
        "runs",
        "steps",
        "until_done",
        "max_ticks",
        "intervene",
        "social",
        "llm",
        "llm_wait",
        "workers",
        "kernel",
        "trees",
        "ticks_per_second",
        "plugin_budget",
        "checkpoint_every",
        "checkpoint_seconds",
    )

    @property
    def until_done(self) -> bool:
        """Each run goes until its cascade ends (at most :attr:`max_ticks` ticks)."""
        return self.steps is None

    @property
    def limit(self) -> int:
        """The most ticks a run takes."""
        return self.steps if self.steps is not None else self.max_ticks

    @classmethod
    def parse(cls, data: Mapping[str, object], registry: Registry | None = None, limits: Limits = LOCAL) -> Ensemble:
        """The ensemble ``data`` asks for: the message's fields (:attr:`Inject.FIELDS`; ``text`` None: no
        message) and :attr:`FIELDS`. Say how long each run goes with ``steps`` or ``until_done`` (or both
        left out with ``runs``: until done).

        Raises:
            BadParameterError: an unknown field, a value of the wrong type or out of range, an option that
                needs another, or a mistake in the message: one sentence.
        """
        extra = sorted(set(data) - set(cls.FIELDS) - set(Inject.FIELDS))
        if extra:
            fields = ", ".join((*Inject.FIELDS, *cls.FIELDS))
            raise BadParameterError(f"unknown field {str(extra[0])[:60]!r}: the fields are {fields}")
        runs = _optional(data, "runs", "runs")
        steps = _optional(data, "steps", "steps")
        max_ticks = _optional(data, "max_ticks", "max_ticks")
        if steps is not None and max_ticks is not None:
            raise BadParameterError("max_ticks limits runs until done: with steps=N every run takes exactly N ticks")
        if steps is None and not data.get("until_done") and runs is None:
            raise BadParameterError("say how long to run: --steps N or --until-done")
        kernel = data.get("kernel") or "auto"
        if kernel not in KERNELS:
            raise BadParameterError(f"kernel {str(kernel)[:30]!r} is unknown: choose one of {', '.join(KERNELS)}")
        if data.get("text") is None and data.get("author") is None:
            if runs is not None:
                raise BadParameterError("--runs repeats an injected cascade: give the message with --inject TEXT")
            message = None
        else:
            message = Inject.parse({k: v for k, v in data.items() if k in Inject.FIELDS}, registry, limits)
        listed = interventions(() if data.get("intervene") is None else data["intervene"])  # type: ignore[arg-type]
        if listed and message is None:
            raise BadParameterError("--intervene changes a run of an injected message: give it with --inject TEXT")
        tps = data.get("ticks_per_second")
        budget = data.get("plugin_budget")
        seconds = data.get("checkpoint_seconds")
        every = data.get("checkpoint_every", 50)
        return cls(
            message=message,
            runs=runs,
            steps=steps,
            max_ticks=MAX_TICKS if max_ticks is None else max_ticks,
            interventions=listed,
            social=_settings(data.get("social"), "social"),
            llm=None if data.get("llm") is None else _settings(data.get("llm"), "llm"),
            llm_wait=0.0 if data.get("llm_wait") == 0 else finite(data.get("llm_wait", 30.0), "llm_wait", above=0.0),
            workers=_optional(data, "workers", "workers") if "workers" in data else 1,
            kernel=str(kernel),
            trees=bool(data.get("trees")),
            ticks_per_second=None if not tps else finite(tps, "ticks_per_second"),
            plugin_budget=None if budget is None else plugin_budget(budget),
            checkpoint_every=None if not every else positive(every, "checkpoint_every"),
            checkpoint_seconds=None if not seconds else finite(seconds, "checkpoint_seconds"),
        )


# -- sweeps ---------------------------------------------------------------------------------------------------
#: Grid keys that choose an arm's model or recommenders (with their spellings) rather than a parameter.
ARM_KEYS = {
    "model": "model",
    "recommender": "recommender",
    "friend_recommender": "friend_recommender",
    "friend-recommender": "friend_recommender",
    "seeds": "seeds",
    "intervene": "intervene",
}
#: The grid keys that are not model parameters.
NOT_PARAMS = ("model", "recommender", "friend_recommender", "seeds", "intervene")


# -- the grid ------------------------------------------------------------------------------------------
def parse_grid(items: Iterable[str]) -> list[tuple[str, list[str]]]:
    """``["p=0.05,0.1", "trust_weighted=false,true"]`` -> ``[("p", ["0.05", "0.1"]), ...]`` (order kept).
    ``friend-recommender`` is spelled ``friend_recommender``. A value may be listed twice (an A/A check).

    Raises:
        BadParameterError: an item that is not KEY=V1,V2,..., an empty value list, or a key given twice.
    """
    grid: list[tuple[str, list[str]]] = []
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        key = ARM_KEYS.get(key, key)
        if not sep or not key:
            raise BadParameterError(f"--grid {item!r} is not KEY=V1,V2,... (for example --grid p=0.05,0.1)")
        listed = [v.strip() for v in values.split(",") if v.strip()]
        if not listed:
            raise BadParameterError(f"--grid {key} lists no values: give them as --grid {key}=V1,V2,...")
        if any(k == key for k, _ in grid):
            raise BadParameterError(f"--grid {key} is given twice: list all its values in one --grid {key}=V1,V2,...")
        grid.append((key, listed))
    return grid


def grid_text(value: object) -> str:
    """A Python value as the command line spells it (``True`` -> ``true``, ``0.1`` -> ``0.1``), so that a grid or a
    parameter given from Python is read exactly as the same one given to ``agora sweep``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)


def grid_from_mapping(grid: object) -> list[tuple[str, list[str]]]:
    """``{"p": [0.05, 0.1], "model": ["ic", "sir"]}`` -> the grid :func:`parse_grid` makes of
    ``--grid p=0.05,0.1 --grid model=ic,sir`` (order kept; a single value is a list of one).

    Raises:
        BadParameterError: not a mapping of names to values, or a key with no values.
    """
    if not isinstance(grid, Mapping):
        raise BadParameterError(
            f"the grid must map names to lists of values, such as {{'p': [0.05, 0.1]}}, got {type(grid).__name__}"
        )
    out: list[tuple[str, list[str]]] = []
    for key, values in grid.items():
        key = ARM_KEYS.get(str(key).strip(), str(key).strip())
        listed = [values] if isinstance(values, (str, int, float, bool)) else list(values)
        if not key:
            raise BadParameterError(
                "a grid key is empty: name a model parameter, model, recommender or friend_recommender"
            )
        if not listed:
            raise BadParameterError(f"grid key {key} lists no values: give it a list of values")
        if any(k == key for k, _ in out):
            raise BadParameterError(f"grid key {key} is given twice: list all its values under one key")
        out.append((key, [grid_text(v).strip() for v in listed]))
    return out


def intervention_texts(items: Iterable[str] | str) -> tuple[str, ...]:
    """Interventions as a sweep's runs take them, ``TICK:ACTION``: an ``ACTION`` given without its tick
    (``block:degree:100``) applies at the run's first tick, the injection's (tick 0); ``none`` (a grid's
    control arm) is kept as it is.

    Raises:
        BadParameterError: a malformed intervention (one sentence quoting it).
    """
    listed = [items] if isinstance(items, str) else list(items)
    interventions(listed)  # every mistake refused, in one sentence quoting it
    return tuple(f"0:{t.strip()}" if t.strip().split(":", 1)[0] in ACTIONS else t for t in listed)


#: The kinds of ``--design``: Sobol' indices, Morris screening, a Latin hypercube (``sim.runs.fit.design``).
DESIGN_KINDS = ("sobol", "morris", "lhs")
#: The measures a design analyses besides ``series:MEASURE@TICK``.
DESIGN_MEASURES = ("reached", "peak_tick", "rounds", "cascade.depth", "cascade.structural_virality")
#: The most base samples a design may ask for (a Sobol' design of D parameters runs N * (D + 2) points).
MAX_DESIGN_N = 2**20
_MEASURES_HINT = (
    "choose reached, peak_tick, rounds, cascade.depth, cascade.structural_virality or series:MEASURE@TICK "
    "(a series value at a tick, such as series:I@10)"
)


@dataclass(frozen=True, slots=True)
class ParamRange:
    """The range a design draws one model parameter from: ``NAME=LO..HI`` (uniform) or ``NAME=LO..HI:log``
    (log-uniform: uniform in ``ln x``)."""

    name: str
    lo: float
    hi: float
    log: bool = False

    @property
    def scale(self) -> str:
        """``uniform`` or ``log-uniform``, as the report names it."""
        return "log-uniform" if self.log else "uniform"

    @staticmethod
    def is_range(value: object) -> bool:
        """Whether a ``params`` value asks for a range (``"LO..HI"``, ``(LO, HI)`` or ``(LO, HI, "log")``)."""
        return (isinstance(value, str) and ".." in value) or isinstance(value, (list, tuple))

    @classmethod
    def parse(cls, name: str, value: object) -> ParamRange:
        """``"LO..HI"``, ``"LO..HI:log"``, ``(LO, HI)`` or ``(LO, HI, "log")`` as the range of ``name``.

        Raises:
            BadParameterError: not a range, a bound that is not a finite number, LO >= HI, or a log range whose
                LO is not above 0: one sentence.
        """
        if isinstance(value, (list, tuple)):
            if len(value) not in (2, 3):
                raise BadParameterError(f"the range of {name} must be (LO, HI) or (LO, HI, 'log'), not {value!r}")
            scale = f":{value[2]}" if len(value) == 3 else ""
            value = f"{grid_text(value[0])}..{grid_text(value[1])}{scale}"
        text = str(value).strip()
        body, colon, scale = text.partition(":")
        if colon and scale.strip().lower() not in ("log", "log-uniform", "loguniform"):
            raise BadParameterError(
                f"the range {name}={text} has scale {scale.strip()!r}: write LO..HI (uniform) or LO..HI:log"
            )
        lo_text, dots, hi_text = body.partition("..")
        if not dots:
            raise BadParameterError(f"{name}={text} is not a range: write LO..HI (uniform) or LO..HI:log")
        bounds = []
        for part in (lo_text.strip(), hi_text.strip()):
            try:
                bound = float(part)
            except ValueError:
                bound = math.nan
            if not math.isfinite(bound):
                raise BadParameterError(f"the range {name}={text} has {part!r}, which is not a number: write LO..HI")
            bounds.append(bound)
        lo, hi = bounds
        if lo >= hi:
            raise BadParameterError(f"the range {name}={text} is empty: its low end must be below its high end")
        if colon and lo <= 0:
            raise BadParameterError(
                f"the log range {name}={text} starts at {lo:g}: a log-uniform range must start above 0"
            )
        return cls(name, lo, hi, bool(colon))

    def __str__(self) -> str:
        return f"{self.name}={self.lo:g}..{self.hi:g}" + (":log" if self.log else "")


@dataclass(frozen=True, slots=True)
class Design:
    """A sweep's design (``--design KIND:N``): points drawn in the box of the parameters' ranges instead of a
    grid's product, and what is measured at each point to compute the sensitivity indices.

    Attributes:
        kind: one of :data:`DESIGN_KINDS`. n: base samples (Sobol': ``n * (D + 2)`` points for D ranges, best a
            power of 2), trajectories (Morris: ``n * (D + 1)`` points) or points (a Latin hypercube).
        ranges: the varied parameters, in order. measure: one of :data:`DESIGN_MEASURES` or
            ``series:MEASURE@TICK``.
    """

    kind: str
    n: int
    ranges: tuple[ParamRange, ...]
    measure: str = "reached"

    @property
    def points(self) -> int:
        """How many points the design draws (the sweep's combinations)."""
        d = len(self.ranges)
        return self.n * (d + 2) if self.kind == "sobol" else self.n * (d + 1) if self.kind == "morris" else self.n

    @property
    def series_at(self) -> tuple[str, int] | None:
        """``(MEASURE, TICK)`` of a ``series:MEASURE@TICK`` measure (None for another)."""
        if not self.measure.startswith("series:"):
            return None
        name, _, tick = self.measure.removeprefix("series:").rpartition("@")
        return name, int(tick)

    @classmethod
    def parse(cls, spec: object, ranges: Iterable[ParamRange], measure: object = None) -> Design:
        """``"sobol:256"``, ``"morris:20"`` or ``"lhs:100"`` over ``ranges``, measuring ``measure`` (None:
        ``reached``).

        Raises:
            BadParameterError: not KIND:N, an unknown kind, N below 2 or above :data:`MAX_DESIGN_N`, no range,
                an unknown measure: one sentence.
        """
        if not isinstance(spec, str):
            raise BadParameterError(f"design must be a text such as 'sobol:256', got {type(spec).__name__}")
        kind, colon, count = spec.strip().partition(":")
        kind = kind.strip().lower()
        if not colon:
            raise BadParameterError(
                f"design {spec[:40]!r} is not KIND:N: give sobol:N, morris:N or lhs:N (such as sobol:256)"
            )
        if kind not in DESIGN_KINDS:
            raise BadParameterError(f"design kind {kind[:30]!r} is unknown: choose sobol:N, morris:N or lhs:N")
        what = {"sobol": "base samples", "morris": "trajectories", "lhs": "points"}[kind]
        try:
            n = int(count.strip())
        except ValueError:
            n = 0
        if not 2 <= n <= MAX_DESIGN_N:
            best = " (best a power of 2, such as 256)" if kind == "sobol" else ""
            raise BadParameterError(
                f"design {spec.strip()[:40]} is invalid: N, its {what}, must be a whole number from 2 to "
                f"{MAX_DESIGN_N:,}{best}"
            )
        listed = tuple(ranges)
        if not listed:
            raise BadParameterError(
                f"design {kind}:{n} has no parameter to vary: give a range as --param NAME=LO..HI (or LO..HI:log)"
            )
        return cls(kind, n, listed, cls.check_measure(measure))

    @staticmethod
    def check_measure(measure: object) -> str:
        """``measure`` if a design can analyse it (None: ``reached``).

        Raises:
            BadParameterError: an unknown measure, or a series measure without a whole tick: one sentence.
        """
        if measure is None:
            return "reached"
        if not isinstance(measure, str):
            raise BadParameterError(f"measure must be a name such as 'reached', got {type(measure).__name__}")
        text = measure.strip()
        if text in DESIGN_MEASURES:
            return text
        if text.startswith("series:"):
            name, at, tick = text.removeprefix("series:").rpartition("@")
            if not at or not name.strip() or not tick.strip().isdigit():
                raise BadParameterError(
                    f"measure {text[:40]!r} is not series:MEASURE@TICK: give a series measure and a whole tick "
                    "counted from the injection, such as series:I@10"
                )
            return f"series:{name.strip()}@{int(tick)}"
        raise BadParameterError(f"measure {text[:40]!r} is unknown: {_MEASURES_HINT}")


@dataclass(frozen=True, slots=True)
class Sweep:
    """Every combination of a grid run ``runs`` times on a world file (``agora sweep``, ``world.sweep``), or the
    points of a design (``--design``) run ``runs`` times each, with the sensitivity of a measure to the design's
    parameters.

    Attributes:
        grid: swept names and their values as text, in order (the first varies slowest): model parameters
            (``ic.p`` for one model's), ``model``, ``recommender``, ``friend_recommender``, ``seeds``,
            ``intervene`` (``none`` for none).
        model: the model when it is not swept (None: ic, or swept). params: fixed parameters as text.
        runs: runs per combination, run r with session seed ``seed + r`` in every combination.
        seeds: the seed selection when it is not swept. steps: ticks per run (None: until done, at most
            ``max_ticks``). text, topics: the injected message. social: living-network settings.
        workers: processes (None: one per CPU). ray: a Ray address or ``auto`` (None: local processes).
        series, trees: keep every run's series, adoption forest. interventions: every run's (``TICK:ACTION``).
        kernel: one of :data:`KERNELS`; ``auto`` judges by the sweep's total runs.
        design: the design whose points are the combinations (None: the grid's product); its ranges are not
            in ``params``. A series measure keeps the series (``series`` is then true).
        keep_running: every run also continues the sessions the world holds running (by default they are left
            out: the runs study the injected message alone).
    """

    grid: tuple[tuple[str, tuple[str, ...]], ...] = ()
    model: str | None = None
    params: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    runs: int = 10
    seeds: str = "random:10"
    seed: int = 0
    steps: int | None = None
    max_ticks: int = MAX_TICKS
    text: str = "sweep"
    topics: tuple[str, ...] = ()
    social: Mapping[str, object] = field(default_factory=lambda: _frozen({}))
    workers: int | None = None
    ray: str | None = None
    series: bool = False
    trees: bool = False
    interventions: tuple[str, ...] = ()
    kernel: str = "auto"
    design: Design | None = None
    keep_running: bool = False

    FIELDS = (
        "grid",
        "model",
        "params",
        "runs",
        "seeds",
        "seed",
        "steps",
        "max_ticks",
        "text",
        "topics",
        "social",
        "workers",
        "ray",
        "series",
        "trees",
        "intervene",
        "kernel",
        "design",
        "measure",
        "keep_running",
    )

    @property
    def seeds_text(self) -> str:
        """The seed selection as the report names it."""
        return str(SeedSpec.parse(self.seeds)) if not self.seeds.lower().startswith("file:") else self.seeds

    @property
    def total_runs(self) -> int:
        """Runs over every combination (every point of a design)."""
        if self.design is not None:
            return self.design.points * self.runs
        combinations = 1
        for _, values in self.grid:
            combinations *= len(values)
        return combinations * self.runs

    @classmethod
    def parse(cls, data: Mapping[str, object]) -> Sweep:
        """The sweep ``data`` asks for (the keys of :attr:`FIELDS`; ``grid`` a mapping of names to values).
        With ``design`` (``"sobol:N"``, ``"morris:N"`` or ``"lhs:N"``) a ``params`` value ``"LO..HI"``,
        ``"LO..HI:log"``, ``(LO, HI)`` or ``(LO, HI, "log")`` is a range the design draws from, the others fixed,
        and ``measure`` says what the indices are of. What needs the registry and the world (models,
        parameters and their bounds, recommenders, seed methods) is checked by the sweep before any run, once.

        Raises:
            BadParameterError: an unknown field, a value of the wrong type or out of range, two options
                that exclude each other, a bad design, range or measure: one sentence.
        """
        extra = sorted(set(data) - set(cls.FIELDS))
        if extra:
            raise BadParameterError(f"unknown field {str(extra[0])[:60]!r}: the fields are {', '.join(cls.FIELDS)}")
        grid = [
            (key, intervention_texts(values) if key == "intervene" else tuple(values))
            for key, values in grid_from_mapping(data.get("grid") or {})
        ]
        runs = positive(data.get("runs", 10), "runs")
        workers = _optional(data, "workers", "workers")
        ray = data.get("ray")
        if ray is not None and not isinstance(ray, str):
            raise BadParameterError(f"ray must be a Ray address or 'auto', got {type(ray).__name__}")
        if workers is not None and ray not in (None, "auto", "local"):
            raise BadParameterError(
                "workers sizes the local pool or a local Ray cluster (ray='auto'), and a Ray "
                "cluster at an address brings its own CPUs: drop workers"
            )
        seed = data.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise BadParameterError(f"seed must be a whole number, got {seed!r}")
        steps = _optional(data, "steps", "steps")
        max_ticks = _optional(data, "max_ticks", "max_ticks")
        if steps is not None and max_ticks is not None:
            raise BadParameterError("max_ticks limits runs until done: with steps=N every run takes exactly N ticks")
        text = _text(data.get("text", "sweep"), LOCAL)
        if not text.strip():
            raise BadParameterError("the sweep's message has no text: give one with --inject TEXT")
        seeds = data.get("seeds") or "random:10"
        if not isinstance(seeds, str):
            raise BadParameterError(f'seeds must be a seed selection such as "random:10", got {type(seeds).__name__}')
        SeedSpec.parse(seeds)  # its form; the world and the registry check the rest before any run
        kernel = data.get("kernel") or "auto"
        if kernel not in KERNELS:
            raise BadParameterError(f"kernel {str(kernel)[:30]!r} is unknown: choose one of {', '.join(KERNELS)}")
        model = data.get("model")
        if model is not None and not isinstance(model, str):
            raise BadParameterError(f'model must be a model name such as "ic", got {type(model).__name__}')
        params = _settings(data.get("params"), "params")
        design = cls._design(data, params, bool(grid))
        if design is not None:
            params = _frozen({k: v for k, v in params.items() if not ParamRange.is_range(v)})
        listed = data.get("intervene")
        keep_running = data.get("keep_running", False)
        if not isinstance(keep_running, bool):
            raise BadParameterError(f"keep_running must be true or false, got {type(keep_running).__name__}")
        return cls(
            grid=tuple(grid),
            model=model,
            params=_frozen({k: grid_text(v) for k, v in params.items()}),
            runs=runs,
            seeds=seeds,
            seed=seed,
            steps=steps,
            max_ticks=MAX_TICKS if max_ticks is None else max_ticks,
            text=text,
            topics=_topics(data.get("topics")),
            social=_settings(data.get("social"), "social"),
            workers=workers,
            ray=ray,
            series=bool(data.get("series")) or (design is not None and design.series_at is not None),
            trees=bool(data.get("trees")),
            interventions=() if listed is None else intervention_texts(listed),  # type: ignore[arg-type]
            kernel=str(kernel),
            design=design,
            keep_running=keep_running,
        )

    @staticmethod
    def _design(data: Mapping[str, object], params: Mapping[str, object], grid: bool) -> Design | None:
        """The design ``data`` asks for, its ranges taken from ``params`` (None: none asked for).

        Raises:
            BadParameterError: a design with a grid, a range or a measure without a design, a bad design.
        """
        spec, measure = data.get("design"), data.get("measure")
        ranged = [k for k, v in params.items() if ParamRange.is_range(v)]
        if spec is None:
            if measure is not None:
                raise BadParameterError(
                    "measure says what a design's sensitivity indices are of: give a design too "
                    "(--design sobol:N, morris:N or lhs:N)"
                )
            if ranged:
                shown = f"{ranged[0]}={grid_text(params[ranged[0]])}"[:60]
                raise BadParameterError(
                    f"{shown} is a range, which only a design draws from: give --design sobol:N, morris:N or "
                    "lhs:N, or a single value"
                )
            return None
        if grid:
            raise BadParameterError(
                "--design draws its points from the --param ranges, and --grid lists values of its own: "
                "give one of them"
            )
        ranges = [ParamRange.parse(k, params[k]) for k in ranged]
        return Design.parse(spec, ranges, measure)


# -- seed choice ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SeedChoice:
    """``k`` seeds chosen by a seed method for a model (``agora seeds``, ``sim.choose_seeds``, a ``METHOD:K``
    selection): the same world, method, k, model, parameters and ``seed`` give the same agents.

    Attributes:
        method: the seed method's name; k: how many seeds.
        model, params: the propagation model the seeds are for, and its typed parameters.
        method_params: the method's own typed parameters (``celf``'s ``mc_runs``, ``ris``'s ``epsilon``...).
        seed: the choice draws from ``seed`` plus :data:`sim.engine.seeding.CHOICE_SEED_OFFSET`.
    """

    method: str
    k: int
    model: str = "ic"
    params: Mapping[str, object] = field(default_factory=lambda: _frozen({}))
    method_params: Mapping[str, object] = field(default_factory=lambda: _frozen({}))
    seed: int = 0

    FIELDS = ("method", "k", "model", "params", "method_params", "seed")

    @classmethod
    def parse(cls, data: Mapping[str, object], registry: Registry | None = None) -> SeedChoice:
        """The choice ``data`` asks for, its method and model known to ``registry`` (None: the built-in plugins
        and ``$AGORA_PLUGINS``). What needs the world (k no more than its eligible agents) is checked when the
        seeds are chosen.

        Raises:
            BadParameterError: an unknown field, method or model, a bad parameter, k or seed that is not a
                whole number, a method not derived for the model: one sentence.
        """
        extra = sorted(set(data) - set(cls.FIELDS))
        if extra:
            raise BadParameterError(f"unknown field {str(extra[0])[:60]!r}: the fields are {', '.join(cls.FIELDS)}")
        registry = Registry() if registry is None else registry
        method, model = data.get("method"), data.get("model", "ic")
        if not isinstance(method, str) or not isinstance(model, str):
            raise BadParameterError(
                f"method and model must be names (strings), got {type(method).__name__} and {type(model).__name__}"
            )
        k, seed = data.get("k"), data.get("seed", 0)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise BadParameterError(f"k must be a whole number, got {k!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise BadParameterError(f"seed must be a whole number of at least 0, got {seed!r}")
        params = _settings(data.get("params"), "params")
        clean = registry.model(model).validate(dict(params))
        seeder = registry.seeder(method)
        if seeder.models and model not in seeder.models:
            raise BadParameterError(
                f"seed method {method} is derived for {', '.join(seeder.models)}, not {model!r}: "
                "choose another method, or a model it is derived for"
            )
        chosen = seeder.validate(dict(_settings(data.get("method_params"), "method_params")))
        return cls(method, int(k), model, _frozen(clean), _frozen(chosen), int(seed))
