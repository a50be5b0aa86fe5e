"""One cascade run R times, or once and persisted (``Ensemble``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sim.engine.bounds import MAX_TICKS, MAX_TICKS_PER_SECOND, MIN_TICKS_PER_SECOND
from sim.engine.requests.common import (
    KERNELS,
    _frozen,
    _optional,
    _run_length,
    _settings,
    finite,
    interventions,
    positive,
)
from sim.engine.requests.inject import Inject
from sim.errors import BadParameterError
from sim.model.groupby import By, parse_bys
from sim.model.guard import plugin_budget
from sim.model.intervene import Intervention
from sim.model.registry import Registry
from sim.model.seeds import LOCAL, Limits


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
        kernel: one of :data:`KERNELS`. trees: keep every run's adoption forest. by: also count each run's new
            infections per tick by group (:mod:`sim.analysis.bygroup`: ``new@GROUP`` series; the engine runs them).
        ticks_per_second: pace the ticks, from :data:`~sim.engine.bounds.MIN_TICKS_PER_SECOND` to
            :data:`~sim.engine.bounds.MAX_TICKS_PER_SECOND` (None: as fast as possible).
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
    by: tuple[By, ...] = ()
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
        "by",
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
        steps, max_ticks = _run_length(data)
        if steps is None and not data.get("until_done") and runs is None:
            raise BadParameterError("say how long to run: steps N or until_done", fields=("steps", "until_done"))
        kernel = data.get("kernel") or "auto"
        if kernel not in KERNELS:
            raise BadParameterError(
                f"kernel {str(kernel)[:30]!r} is unknown: choose one of {', '.join(KERNELS)}", fields="kernel"
            )
        if data.get("text") is None and data.get("author") is None:
            if runs is not None:
                raise BadParameterError(
                    "runs repeats an injected cascade: give the message as text=TEXT", fields=("runs", "text")
                )
            message = None
        else:
            message = Inject.parse({k: v for k, v in data.items() if k in Inject.FIELDS}, registry, limits)
        listed = interventions(() if data.get("intervene") is None else data["intervene"])  # type: ignore[arg-type]
        if listed and message is None:
            raise BadParameterError(
                "intervene changes a run of an injected message: give it as text=TEXT", fields=("intervene", "text")
            )
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
            by=parse_bys(data.get("by")),
            ticks_per_second=None if not tps else _pace(tps),
            plugin_budget=None if budget is None else plugin_budget(budget),
            checkpoint_every=None if not every else positive(every, "checkpoint_every"),
            checkpoint_seconds=None if not seconds else finite(seconds, "checkpoint_seconds"),
        )


def _pace(value: object) -> float:
    """``ticks_per_second``: a number from :data:`MIN_TICKS_PER_SECOND` to :data:`MAX_TICKS_PER_SECOND`.

    Raises:
        BadParameterError: one sentence naming the field and its bounds.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not MIN_TICKS_PER_SECOND <= value <= MAX_TICKS_PER_SECOND
    ):
        raise BadParameterError(
            f"ticks_per_second {str(value)[:30]} is invalid: give a number from {MIN_TICKS_PER_SECOND:g} to "
            f"{MAX_TICKS_PER_SECOND:,.0f} ticks a second (or leave it out to run as fast as possible)",
            fields="ticks_per_second",
        )
    return float(value)
