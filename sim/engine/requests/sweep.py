"""A sweep over a grid of arms or a design's points (``Sweep``), and the grid's helpers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sim.engine.bounds import MAX_TICKS
from sim.engine.requests.common import (
    KERNELS,
    _frozen,
    _optional,
    _run_length,
    _settings,
    _text,
    _topics,
    interventions,
    positive,
)
from sim.engine.requests.design import Design, ParamRange, grid_text
from sim.errors import BadParameterError
from sim.model.groupby import By, parse_bys
from sim.model.intervene import ACTIONS, Intervention
from sim.model.seeds import LOCAL, SeedSpec

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
            raise BadParameterError(f"grid {item[:80]!r} is not KEY=V1,V2,... (for example p=0.05,0.1)", fields="grid")
        listed = [v.strip() for v in values.split(",") if v.strip()]
        if not listed:
            raise BadParameterError(
                f"grid {key[:40]} lists no values: give them as {key[:40]}=V1,V2,...", fields="grid"
            )
        if any(k == key for k, _ in grid):
            raise BadParameterError(
                f"grid {key[:40]} is given twice: list all its values in one {key[:40]}=V1,V2,...", fields="grid"
            )
        grid.append((key, listed))
    return grid


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
        series, trees: keep every run's series, adoption forest. interventions: every run's, parsed
            (``TICK:ACTION``, the tick 0 where none was given).
        swept_seeds, swept_interventions: the grid's ``seeds`` and ``intervene`` values (the grid keeps their
            text, which names the arms), parsed, by text (``none``: no intervention).
        kernel: one of :data:`KERNELS`; ``auto`` judges by the sweep's total runs.
        design: the design whose points are the combinations (None: the grid's product); its ranges are not
            in ``params``. A series measure keeps the series (``series`` is then true).
        keep_running: every run also continues the sessions the world holds running (by default they are left
            out: the runs study the injected message alone).
        by: also count each run's new infections per tick by group (``new@GROUP`` series, as ``agora run --by``;
            with ``series``).
    """

    grid: tuple[tuple[str, tuple[str, ...]], ...] = ()
    model: str | None = None
    params: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    runs: int = 10
    seeds: SeedSpec = field(default_factory=lambda: SeedSpec.parse("random:10"))
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
    interventions: tuple[Intervention, ...] = ()
    kernel: str = "auto"
    design: Design | None = None
    keep_running: bool = False
    swept_seeds: Mapping[str, SeedSpec] = field(default_factory=lambda: _frozen({}))
    swept_interventions: Mapping[str, tuple[Intervention, ...]] = field(default_factory=lambda: _frozen({}))
    by: tuple[By, ...] = ()

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
        "by",
    )

    @property
    def seeds_text(self) -> str:
        """The seed selection as the report names it."""
        return str(self.seeds)

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
            raise BadParameterError(f"ray must be a Ray address or 'auto', got {type(ray).__name__}", fields="ray")
        if workers is not None and ray not in (None, "auto", "local"):
            raise BadParameterError(
                "workers sizes the local pool or a local Ray cluster (ray='auto'), and a Ray "
                "cluster at an address brings its own CPUs: drop workers",
                fields="workers",
            )
        seed = data.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise BadParameterError(f"seed must be a whole number, got {seed!r}", fields="seed")
        steps, max_ticks = _run_length(data)
        text = _text(data.get("text", "sweep"), LOCAL)
        if not text.strip():
            raise BadParameterError("text is empty: give the sweep's message a text", fields="text")
        seeds = data.get("seeds") or "random:10"
        if not isinstance(seeds, str):
            raise BadParameterError(
                f'seeds must be a seed selection such as "random:10", got {type(seeds).__name__}', fields="seeds"
            )
        spec = SeedSpec.parse(seeds)  # its form; the world and the registry check the rest before any run
        kernel = data.get("kernel") or "auto"
        if kernel not in KERNELS:
            raise BadParameterError(
                f"kernel {str(kernel)[:30]!r} is unknown: choose one of {', '.join(KERNELS)}", fields="kernel"
            )
        model = data.get("model")
        if model is not None and not isinstance(model, str):
            raise BadParameterError(
                f'model must be a model name such as "ic", got {type(model).__name__}', fields="model"
            )
        params = _settings(data.get("params"), "params")
        design = cls._design(data, params, bool(grid))
        if design is not None:
            params = _frozen({k: v for k, v in params.items() if not ParamRange.is_range(v)})
        listed = data.get("intervene")
        swept = dict(grid)
        keep_running = data.get("keep_running", False)
        if not isinstance(keep_running, bool):
            raise BadParameterError(
                f"keep_running must be true or false, got {type(keep_running).__name__}", fields="keep_running"
            )
        return cls(
            grid=tuple(grid),
            model=model,
            params=_frozen({k: grid_text(v) for k, v in params.items()}),
            runs=runs,
            seeds=spec,
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
            interventions=() if listed is None else interventions(listed),  # type: ignore[arg-type]
            kernel=str(kernel),
            design=design,
            keep_running=keep_running,
            swept_seeds=_frozen({t: SeedSpec.parse(t) for t in swept.get("seeds", ())}),
            swept_interventions=_frozen({t: interventions(t) for t in swept.get("intervene", ())}),
            by=parse_bys(data.get("by")),
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
                    "(sobol:N, morris:N or lhs:N)",
                    fields="measure",
                )
            if ranged:
                shown = f"{ranged[0]}={grid_text(params[ranged[0]])}"[:60]
                raise BadParameterError(
                    f"{shown} is a range: give design=sobol:N, morris:N or lhs:N to draw from it, or a single value",
                    fields="design",
                )
            return None
        if grid:
            raise BadParameterError(
                "design draws its points from the params ranges, and grid lists values of its own: give one of them",
                fields=("design", "params", "grid"),
            )
        ranges = [ParamRange.parse(k, params[k]) for k in ranged]
        return Design.parse(spec, ranges, measure)
