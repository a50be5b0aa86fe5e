"""A forecast of a world's running session under arms (``Forecast``, ``Arm``: ``agora forecast``,
``world.forecast``, ``POST /api/v1/forecasts``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from sim.engine.bounds import (
    FORECAST_RUNS,
    MAX_ARMS,
    MAX_HORIZON,
    MAX_RUNS,
    MAX_TICKS,
)
from sim.engine.fields import FORECAST
from sim.engine.options import Options, json_kind
from sim.errors import BadParameterError, RuleError
from sim.model.intervene import ACTIONS, Intervention
from sim.model.registry import Registry
from sim.model.seeds import LOCAL, Limits


@dataclass(frozen=True)
class Arm:
    """One arm of a forecast: its ``name``, the interventions it applies now (parsed, without a tick: at the
    first tick of the continuation) and the parameters it sets (``set:NAME=VALUE``; the session's model types
    the values)."""

    name: str
    interventions: tuple[Intervention, ...] = ()
    sets: tuple[tuple[str, str], ...] = ()

    @property
    def batched_ok(self) -> bool:
        """Whether the compiled kernels can continue it (no intervention: they keep no blocked agents or rivals)."""
        return not self.interventions

    @property
    def actions(self) -> list[str]:
        """The arm's actions as texts (``block:degree:100``, ``set:p=0.01``; ``none`` for none)."""
        out = [iv.action_text() for iv in self.interventions] + [f"set:{k}={v}" for k, v in self.sets]
        return out or ["none"]


#: A value's JSON kind, for a sentence (``the number 5``, ``null``...), never the value at length.
_kind = json_kind


def parse_action(
    text: str, limits: Limits = LOCAL, registry: Registry | None = None
) -> tuple[str, str] | Intervention | None:
    """One arm action: ``none`` (None), ``set:NAME=VALUE`` (``(name, value)``) or an intervention (parsed
    without a tick), its seeds parsed within ``limits`` (:meth:`sim.model.seeds.SeedSpec.parse`: a live world's
    refuse a file before it is opened, and a slow seed method), their method known to ``registry`` when given.

    Raises:
        BadParameterError: anything else, or a malformed intervention (one sentence).
    """
    t = text.strip()
    if t.lower() == "none":
        return None
    if t.startswith("set:"):
        name, eq, value = t.removeprefix("set:").partition("=")
        if not eq or not name.strip() or not value.strip():
            raise BadParameterError(f"arm action {t[:80]!r}: write set:NAME=VALUE (a parameter of the session's model)")
        return name.strip(), value.strip()
    if t.split(":", 1)[0] not in ACTIONS:
        raise BadParameterError(
            f"arm action {t[:80]!r} is not none, set:NAME=VALUE or an intervention ({', '.join(ACTIONS)}): "
            "e.g. block:degree:100"
        )
    try:
        return Intervention.parse(t, with_tick=False, limits=limits, registry=registry)
    except BadParameterError as exc:
        raise BadParameterError(f"arm action {t[:80]!r}: {exc}") from None


def parse_arms(items: object, limits: Limits = LOCAL, registry: Registry | None = None) -> tuple[Arm, ...]:
    """Arms from ``NAME=ACTION`` texts (a name given again adds an action to its arm) or a mapping
    ``{name: [actions]}``; none: one arm, ``none``. Every action is parsed by :func:`parse_action` within
    ``limits``.

    Raises:
        BadParameterError: not a list of texts nor a mapping of names to lists of texts, a text without ``=``,
            a bad name or action, too many arms (one sentence naming ``arms``; a RuleError for a list's texts
            naming more than :data:`MAX_ARMS`, each of them valid).
    """
    pairs: list[tuple[str, str]] = []
    if items is None:
        return (Arm("none"),)
    if isinstance(items, Mapping):
        for name, actions in items.items():
            if not isinstance(name, str):
                raise BadParameterError(f"an arm's name must be a text, not {_kind(name)}")
            if not isinstance(actions, (list, tuple)):
                raise BadParameterError(
                    f'arm {name[:40]!r} must list its actions, such as ["block:degree:100"] ([] for none), '
                    f"not {_kind(actions)}"
                )
            odd = [a for a in actions if not isinstance(a, str)][:1]
            if odd:
                raise BadParameterError(
                    f"arm {name[:40]!r} lists {_kind(odd[0])}, which is no action: each of its actions is a text, "
                    'such as "block:degree:100"'
                )
            pairs.extend((name, a) for a in (actions or ["none"]))
    elif isinstance(items, (list, tuple)):
        for text in items:
            if not isinstance(text, str):
                raise BadParameterError(f"arms lists NAME=ACTION texts, not {_kind(text)}", fields="arms")
            name, eq, action = text.partition("=")
            if not eq or not name.strip():
                raise BadParameterError(
                    f"arms {text[:80]!r} is not NAME=ACTION (e.g. block=block:degree:100, or none)", fields="arms"
                )
            pairs.append((name.strip(), action))
    else:
        raise BadParameterError(
            "arms must be an object of arm names and lists of actions, or a list of NAME=ACTION texts, not "
            f"{_kind(items)}",
            fields="arms",
        )
    if not pairs:
        return (Arm("none"),)
    order: list[str] = []
    ivs: dict[str, list[Intervention]] = {}
    sets: dict[str, list[tuple[str, str]]] = {}
    for name, action in pairs:
        if not name.replace("-", "").replace("_", "").isalnum() or len(name) > 40:
            raise BadParameterError(f"arm name {name[:40]!r}: use letters, digits, '-' and '_' (at most 40)")
        if name not in order:
            if len(order) == MAX_ARMS:  # a list's texts each valid, their names too many: a rule between them
                kind = BadParameterError if isinstance(items, Mapping) else RuleError
                raise kind(f"a forecast takes at most {MAX_ARMS} arms: name fewer")
            order.append(name)
            ivs[name], sets[name] = [], []
        got = parse_action(action, limits, registry)
        if isinstance(got, tuple):
            sets[name].append(got)
        elif got is not None:
            ivs[name].append(got)
    return tuple(Arm(n, tuple(ivs[n]), tuple(sets[n])) for n in order)


@dataclass(frozen=True)
class Forecast:
    """A forecast of a world's running session (``agora forecast``, ``world.forecast``, ``POST
    /api/v1/forecasts``).

    Attributes:
        session: the session (None: the latest running one). runs: continuations per arm, run r reseeded
            ``seed + r``. ticks: the horizon in ticks (None: until the session ends, at most ``max_ticks``).
        arms: the arms (:func:`parse_arms`). posterior: a fit's posterior samples (``agora fit -o``) to draw
            each run's parameters from. kernel: ``auto`` (batched where every arm and the session allow),
            ``batched`` or ``engine``. workers: processes for the engine's runs (None: one per CPU); the
            result is the same.
    """

    session: int | None = None
    runs: int = FORECAST_RUNS
    ticks: int | None = None
    max_ticks: int = MAX_TICKS
    arms: tuple[Arm, ...] = (Arm("none"),)
    seed: int = 0
    posterior: str | None = None
    kernel: str = "auto"
    workers: int | None = None

    #: Each field declared once (:data:`sim.engine.fields.FORECAST`): its checks, flag, schema and help.
    OPTIONS: ClassVar[Options] = FORECAST
    FIELDS: ClassVar[tuple[str, ...]] = OPTIONS.names

    @classmethod
    def parse(
        cls,
        data: Mapping[str, object],
        registry: Registry | None = None,
        limits: Limits = LOCAL,
        *,
        max_runs: int = MAX_RUNS,
    ) -> Forecast:
        """The forecast ``data`` asks for (the keys of :attr:`FIELDS`; ``arms`` as :func:`parse_arms` takes
        them, or :class:`Arm` values). Give a horizon with ``ticks`` or ``until_done``. Every field's type is
        checked (``"5"`` is no number of runs, ``1`` no ``until_done``); ``session``, ``ticks``, ``arms``,
        ``posterior`` and ``workers`` may be None (not given).

        Args:
            data: the fields.
            registry: the seed methods an arm may name (None: checked against the world's when it runs).
            limits: the front end's (:data:`~sim.model.seeds.LOCAL` on the command line and a world file's
                Python; :data:`~sim.model.seeds.SERVED` for a live world's, which refuse a file, an arm's or a
                posterior, before it is opened, and a slow seed method in an arm).
            max_runs: the most runs an arm may ask for here (a live world's bound is lower).

        Raises:
            BadParameterError: an unknown field, a value of the wrong type or out of range, both or neither of
                ``ticks`` and ``until_done``, a bad arm (one sentence naming the field).
        """
        values = cls.OPTIONS.read(data, {"runs": max_runs})
        if values["ticks"] is not None and values["until_done"]:
            raise BadParameterError(
                "give ticks H (ticks ahead of now) or until_done, not both", fields=("ticks", "until_done")
            )
        if values["ticks"] is None and not values["until_done"]:
            raise BadParameterError(
                "give the horizon: ticks H (ticks ahead of now) or until_done", fields=("ticks", "until_done")
            )
        posterior = values["posterior"]
        if posterior is not None:
            if not isinstance(posterior, str) or not posterior:
                raise BadParameterError(
                    f"posterior must be a file written by agora fit -o, not {_kind(posterior)}", fields="posterior"
                )
            if not limits.files:  # never opened: a request names no path on the server
                raise BadParameterError(
                    "posterior names a file, which a request to a live world may not: forecast the saved world "
                    "with a posterior (agora forecast, sim.open_world(path).forecast)",
                    fields="posterior",
                )
        arms = values["arms"]
        if isinstance(arms, tuple) and arms and all(isinstance(a, Arm) for a in arms):
            parsed = tuple(a for a in arms if isinstance(a, Arm))
            for arm in parsed:  # parsed already, maybe at another door: its actions within these limits too
                for iv in arm.interventions:
                    parse_action(iv.action_text(), limits, registry)
        else:
            parsed = parse_arms(arms, limits, registry)
        return cls(**cls.OPTIONS.stored({**values, "arms": parsed}))

    @property
    def limit(self) -> int:
        """The most ticks a run takes."""
        return self.ticks if self.ticks is not None else self.max_ticks


__all__ = ["MAX_ARMS", "MAX_HORIZON", "MAX_RUNS", "Arm", "Forecast", "parse_action", "parse_arms"]
