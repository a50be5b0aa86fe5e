"""The plugin contract: what a propagation model or a recommender declares and how it steps.

A plugin is a class. It declares ``name``, ``version``, ``description`` and a typed parameter schema
(``params``: name -> :class:`Param`), and the registry finds it in the built-in ``plugins`` package, in
user folders, or through the ``agora.plugins`` entry-point group. One instance is made per propagation
session, so anything a model keeps on ``self`` belongs to that session alone.

A propagation model works on arrays only. Each round the simulation hands it a :class:`StepContext`
(see ``sim.session``) with the frontier, a gather of the frontier's out-edges, the session's state and
generator and read-only agent columns; the model answers with a :class:`StepResult` — which agents
change to which state, and from whom they adopted. The core validates the answer (shapes, dtypes,
ranges) and applies it; a model never writes the state array itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .errors import BadParameterError

if TYPE_CHECKING:  # pragma: no cover
    from .session import StepContext


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a plugin: its type, default, bounds and help text.

    ``type`` is ``float``, ``int``, ``bool`` or ``str``; ``choices`` restricts a ``str``.
    """

    type: type
    default: Any
    min: float | None = None
    max: float | None = None
    help: str = ""
    choices: tuple[str, ...] | None = None

    def describe_range(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.type is bool:
            return "true or false"
        lo = "-inf" if self.min is None else f"{self.min:g}"
        hi = "inf" if self.max is None else f"{self.max:g}"
        kind = "a whole number" if self.type is int else "a number"
        return f"{kind} in [{lo}, {hi}]"

    def coerce(self, name: str, value: Any) -> Any:
        """Convert ``value`` (possibly text from a command line or a form) and check its range.

        Raises:
            BadParameterError: naming the parameter and its allowed range.
        """

        def bad() -> BadParameterError:
            shown = value if isinstance(value, str) else repr(value)
            return BadParameterError(f"parameter {name}={shown} is invalid: expected {self.describe_range()}")

        if self.type is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                return value.strip().lower() in ("1", "true", "yes", "on")
            if isinstance(value, (int, np.integer)) and value in (0, 1):
                return bool(value)
            raise bad()
        if self.type is str:
            if not isinstance(value, str):
                raise bad()
            if self.choices and value not in self.choices:
                raise bad()
            return value
        try:
            if isinstance(value, bool):
                raise ValueError
            if self.type is int:
                if isinstance(value, str):
                    value_n = int(value.strip().replace("_", ""))
                elif isinstance(value, (float, np.floating)):
                    if not float(value).is_integer():
                        raise ValueError
                    value_n = int(value)
                else:
                    value_n = int(value)
            else:
                value_n = float(value.strip()) if isinstance(value, str) else float(value)
                if not math.isfinite(value_n):
                    raise ValueError
        except (TypeError, ValueError):
            raise bad() from None
        if (self.min is not None and value_n < self.min) or (self.max is not None and value_n > self.max):
            raise bad()
        return value_n


class Plugin:
    """Base of every plugin. Subclasses set the class attributes below."""

    kind: ClassVar[str] = "plugin"
    name: ClassVar[str] = ""
    version: ClassVar[str] = "0.1"
    description: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}

    def __init__(self, **params: Any) -> None:
        self.p: dict[str, Any] = self.validate(params)

    @classmethod
    def validate(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in, every value converted and range-checked.

        Raises:
            BadParameterError: an unknown parameter, or a value outside its range (named).
        """
        unknown = sorted(set(params) - set(cls.params))
        if unknown:
            known = ", ".join(sorted(cls.params)) or "none"
            raise BadParameterError(f"{cls.name} has no parameter {unknown[0]!r}: its parameters are {known}")
        out = {}
        for key, spec in cls.params.items():
            out[key] = spec.coerce(key, params[key]) if key in params else spec.default
        return out

    @classmethod
    def schema(cls) -> dict[str, dict[str, Any]]:
        """The parameter schema as plain data (for forms, ``--json`` and docs)."""
        return {
            k: {
                "type": p.type.__name__, "default": p.default, "min": p.min, "max": p.max,
                "help": p.help, "choices": list(p.choices) if p.choices else None,
            }
            for k, p in cls.params.items()
        }


@dataclass(slots=True)
class StepResult:
    """A model's answer for one round.

    Attributes:
        agents: indices of the agents whose state changes (int, 1-D, no repeats).
        new_state: the state each of them enters: one int for all, or an int array aligned with ``agents``.
        sources: who each adopting agent adopted from (int32, aligned with ``agents``; -1 unknown or none).
        attempts: edge attempts made this round (for throughput metrics).
        exposed: agents that received an attempt this round (counts ``exposed``); optional.
        via_feed: see below; optional.
    """

    agents: np.ndarray
    new_state: np.ndarray | int
    sources: np.ndarray | None = None
    attempts: int = 0
    exposed: np.ndarray | None = None
    #: Whether each adopting agent adopted through a feed exposure (bool, aligned with ``agents``).
    #: When None the core decides: an agent shown the message in a feed this round that received no
    #: graph attempt counts as a feed adoption.
    via_feed: np.ndarray | None = None

    @classmethod
    def nothing(cls, attempts: int = 0, exposed: np.ndarray | None = None) -> "StepResult":
        return cls(np.empty(0, dtype=np.int32), 0, None, attempts, exposed)


class PropagationModel(Plugin):
    """A propagation model. Override :meth:`step`; optionally :meth:`start` and :meth:`is_done`.

    Class attributes describe the compartments:

    - ``states``: names of the states; state 0 is the untouched/susceptible one.
    - ``adopted_states``: states that count as having adopted (``reached`` counts agents that ever
      entered one of them; for SIR-like models, ever infected).
    - ``transmitting_states``: states whose agents spread the message.
    - ``transmit``: ``"once"`` — an agent transmits only in the round after it entered a transmitting
      state (independent cascade); ``"while"`` — in every round while it is in one (SIR).
    - ``seed_state``: the state seeds are put in.
    - ``progressive``: adoption never decreases (no agent leaves ``adopted_states``); checked.
    """

    kind: ClassVar[str] = "model"
    states: ClassVar[tuple[str, ...]] = ("susceptible", "adopted")
    adopted_states: ClassVar[tuple[int, ...]] = (1,)
    transmitting_states: ClassVar[tuple[int, ...]] = (1,)
    transmit: ClassVar[str] = "once"
    seed_state: ClassVar[int] = 1
    progressive: ClassVar[bool] = True

    def start(self, ctx: "StepContext") -> None:
        """Called once when the session starts, after seeding (draw per-session thresholds here)."""

    def step(self, ctx: "StepContext") -> StepResult:  # pragma: no cover - abstract
        """One synchronous round. Must not loop over agents or edges in Python."""
        raise NotImplementedError

    def is_done(self, ctx: "StepContext") -> bool:
        """Whether nothing can change any more; default: nobody transmits."""
        return ctx.frontier.size == 0


class Recommender(Plugin):
    """A recommender: :class:`ContentRecommender` (feeds) or :class:`FriendRecommender` (whom to follow)."""

    kind: ClassVar[str] = "recommender"
    #: ``"content"`` or ``"friend"``.
    role: ClassVar[str] = ""


class ContentRecommender(Recommender):
    """Builds feeds: every tick, for the agents online, which live messages to show.

    Override :meth:`score`. The core calls it with a :class:`~sim.social.FeedContext` holding a block
    of online readers (``ctx.readers``, R of them) and the live messages (M: the messages whose
    propagation sessions are running). It answers with an (R, M) array of scores — higher is shown
    first; ``-inf`` or ``nan`` means never show that message to that reader — or a pair ``(scores,
    sharers)`` where ``sharers`` (R, M) int32 names the agent credited for each item (a followee who
    shared it; ``-1`` for none, in which case the message's author is credited when it has one).

    The core then drops messages the reader already adopted or wrote, keeps each reader's ``K`` best
    (``feed_size``; ties go to the older message) and hands each item to its session's model as a
    feed exposure. One instance is made per simulation; per-tick randomness comes from ``ctx.rng``.
    """

    role: ClassVar[str] = "content"

    def score(self, ctx: Any) -> np.ndarray | tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError


class FriendRecommender(Recommender):
    """Suggests whom to follow.

    Override :meth:`suggest`. The core calls it with a :class:`~sim.social.FriendContext` holding the
    agents looking for suggestions this tick (``ctx.agents``, online ones) and answers with three aligned
    arrays ``(agents, candidates, scores)``: a suggestion that ``agents[i]`` follow ``candidates[i]``,
    higher scores first. The core drops self-suggestions, agents already followed and candidates that are
    not active, keeps each agent's ``k`` best (``suggestions``; ties go to the lower index) and lets the
    agent accept with a probability from compatibility. No Python loop over agents.
    """

    role: ClassVar[str] = "friend"

    def suggest(self, ctx: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError
