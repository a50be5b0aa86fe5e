"""What a propagation model is, what it sees each round, and how it answers.

A model is a :class:`PropagationModel` subclass. One instance is made per propagation session, so
anything it keeps on ``self`` belongs to that session alone. Each round the engine hands it a context
(``ctx``) that satisfies :class:`StepContext`: the frontier, a gather of the frontier's out-edges, the
session's state, store and generator, the feed exposures and read-only agent columns. The model answers
with a :class:`StepResult` — which agents change to which state, and from whom they adopted. The engine
validates the answer (shapes, dtypes, ranges) and applies it; a model never writes the state array.

:class:`StepContext` lists everything a model may use; the engine's context (``sim.model.context``) has
a few more members for the engine's own use, which a model must not touch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from sim.plugin.base import Plugin
from sim.plugin.params import Variable
from sim.plugin.views import GraphView, SessionView, WorldView


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
    #: New values of the model's continuous variables, by name: a whole column (length N) or a pair
    #: ``(agents, values)`` for some agents. Values must lie in the variable's declared range.
    variables: dict[str, Any] | None = None
    #: Edges to remove and to add, each a pair ``(sources, targets)`` of aligned agent arrays, in the
    #: graph's direction (``u -> v``: v follows u). The engine applies them between ticks, to the CSR
    #: graph, the world file and snapshots alike: removals first, then additions; removing a missing
    #: edge or adding an existing one changes nothing. New edges get trust ``new_trust``.
    remove_edges: tuple[np.ndarray, np.ndarray] | None = None
    add_edges: tuple[np.ndarray, np.ndarray] | None = None
    new_trust: float = 0.5

    @classmethod
    def nothing(
        cls, attempts: int = 0, exposed: np.ndarray | None = None, *, variables: dict[str, Any] | None = None
    ) -> StepResult:
        """No agent changes state this round (the model's variables may change: ``variables``)."""
        return cls(np.empty(0, dtype=np.int32), 0, None, attempts, exposed, variables=variables)


# -- the LLM, as a model may use it ------------------------------------------------------------------


@runtime_checkable
class Recollection(Protocol):
    """What an agent brings to a prompt from its memory (``LLMAgents.prepare``)."""

    @property
    def text(self) -> str:
        """The memory part of the prompt (empty when the agent remembers nothing)."""

    @property
    def tokens(self) -> int:
        """Its estimated tokens."""

    @property
    def new(self) -> bool:
        """Whether the agent started to remember just now."""


@runtime_checkable
class Answer(Protocol):
    """An LLM request's outcome, handed to the ``on_done`` of :meth:`LLMAgents.ask`."""

    @property
    def text(self) -> str: ...
    @property
    def source(self) -> str:
        """``"llm"`` (a server answered), ``"cache"`` or ``"offline"`` (a fallback)."""

    @property
    def value(self) -> Any:
        """What ``parse`` made of the text (None for a fallback or without ``parse``)."""


@runtime_checkable
class Decision(Protocol):
    """A parsed decision (:meth:`LLMAgents.parse_decision`): ``repost``, ``reply``, ``like`` or ``ignore``, and a
    text."""

    @property
    def action(self) -> str: ...
    @property
    def text(self) -> str: ...


@runtime_checkable
class LLMAgents(Protocol):
    """The simulation's LLM agents as a model may use them (``ctx.llm``; None without LLM agents): ask
    what an agent does with a message within the tick's request budget, with its persona, interests and
    memory in the prompt. Answers land later (at the start of a tick), never inside the round that asked."""

    @property
    def online(self) -> bool:
        """Whether requests go to a server (False: offline, nobody is asked)."""

    @property
    def budget_left(self) -> int:
        """Requests left in this tick's budget."""

    def interests(self, i: int) -> list[str]:
        """Agent ``i``'s interests, as topic names."""

    def name(self, i: int | None) -> str | None:
        """Agent ``i``'s name (None for None or -1)."""

    def memory(self, i: int, *, skip_message: int | None = None, limit: int = 3) -> tuple[list[str], list[str]]:
        """Texts of messages agent ``i`` was shown and adopted, newest first."""

    def prepare(self, agents: list[int], about: str) -> Mapping[int, Recollection]:
        """The memory part of the prompt of each of ``agents``, about the text ``about`` (they remember from now on)."""

    def note_seen(self, seen: list[tuple[int, int]], tick: int, message: Mapping[str, Any]) -> None:
        """``(agent, sharer)`` pairs shown ``message`` outside the round's exposures (they started to remember)."""

    def ask(
        self,
        messages: list[dict[str, Any]],
        on_done: Callable[[Any], None],
        *,
        parse: Callable[[str], Any] | None = None,
        memory_tokens: int = 0,
        schema: dict[str, Any] | None = None,
    ) -> bool:
        """Spend one request of this tick's budget; ``on_done`` gets an :class:`Answer` when it lands.
        False (and nothing else) offline or over the budget. ``schema``: a JSON schema the answer is constrained
        to where the server supports it (:attr:`decision_schema` for a decision); ``parse`` still checks it."""

    def post(
        self, tick: int, agent: int, message_id: int, session_id: int, kind: str, text: str, written_by: str
    ) -> int:
        """Record a text an agent wrote; returns the post's id."""

    def decision_prompt(
        self,
        persona: Any,
        interests: Sequence[str],
        message: str,
        *,
        author: str | None = None,
        sharer: str | None = None,
        seen: Sequence[str] = (),
        memory: str = "",
    ) -> list[dict[str, str]]:
        """The chat messages asking what an agent does with ``message`` (its answer: see :meth:`parse_decision`)."""

    def parse_decision(self, text: str) -> Decision:
        """An answer to :meth:`decision_prompt` parsed strictly (raises ``ValueError`` when malformed)."""

    @property
    def decision_schema(self) -> dict[str, Any]:
        """The JSON schema of an answer to :meth:`decision_prompt`, for :meth:`ask`'s ``schema``."""

    def archetype_prompt(
        self,
        persona: Any,
        interests: Sequence[str],
        group: str,
        size: int,
        message: str,
        situation: int,
        *,
        author: str | None = None,
    ) -> list[dict[str, str]]:
        """The chat messages asking for the action probabilities (repost, reply, like, ignore) of an archetype
        (its representative's ``persona`` and ``interests``, the group's description and size) in ``situation``
        (:func:`sim.plugin.archetypes.situations`); the answer is parsed by :meth:`parse_probabilities`."""

    def parse_probabilities(self, text: str) -> np.ndarray:
        """An answer to :meth:`archetype_prompt`: four probabilities summing to 1 (raises ``ValueError`` when
        malformed)."""

    @property
    def probability_schema(self) -> dict[str, Any]:
        """The JSON schema of an answer to :meth:`archetype_prompt`."""


# -- the context of a round --------------------------------------------------------------------------


@runtime_checkable
class StepContext(Protocol):
    """What a model sees in ``start``, ``step`` and ``is_done``: everything it may use, and nothing else.

    Arrays are read-only views (writing to one raises ``ValueError`` and fails the session); the world,
    the session and the graph are read-only views. A model changes the world only through its
    :class:`StepResult` and its own ``store``. Randomness comes only from ``rng``, ``random_edges``,
    ``random_agents`` and ``stream_rng``, so a run replays exactly.
    """

    # -- where the session is ------------------------------------------------------------------------
    @property
    def starting(self) -> bool:
        """True in ``start`` (seeding), False in every round; ``round`` is 0 in both."""

    @property
    def n(self) -> int:
        """Agents in the world (the length of every column)."""

    @property
    def tick(self) -> int: ...
    @property
    def round(self) -> int:
        """Rounds this session has run (0 in ``start`` and in the first round)."""

    @property
    def params(self) -> Mapping[str, Any]:
        """The session's parameters, validated (``self.p`` holds the same values)."""

    @property
    def message(self) -> Mapping[str, Any]:
        """The message: ``id``, ``text``, ``topics`` (a 64-bit topic mask), ``author``, ``created_tick``."""

    @property
    def rng(self) -> np.random.Generator:
        """The session's own seeded generator."""

    # -- the session's arrays ------------------------------------------------------------------------
    @property
    def state(self) -> np.ndarray:
        """int8 (N,): each agent's state (0 untouched; then the model's states)."""

    @property
    def frontier(self) -> np.ndarray:
        """int32: the agents that transmit this round, ascending."""

    @property
    def store(self) -> MutableMapping[str, np.ndarray]:
        """The model's own arrays, saved with the session (numpy arrays of numbers, booleans or text)."""

    @property
    def variables(self) -> Mapping[str, np.ndarray]:
        """The model's continuous variables (name -> read-only float column of length N)."""

    @property
    def session(self) -> SessionView:
        """This session, read-only."""

    # -- the world -----------------------------------------------------------------------------------
    @property
    def columns(self) -> Mapping[str, np.ndarray]:
        """The world's agent columns by name, read-only."""

    @property
    def trust(self) -> np.ndarray:
        """float32 (E,): the trust of each out-edge."""

    @property
    def graph(self) -> GraphView:
        """The follower graph, read-only."""

    @property
    def world(self) -> WorldView:
        """The world, read-only: personas, ids, the clock."""

    @property
    def online(self) -> np.ndarray | None:
        """Who is online this tick (bool column), or None when the caller gave no activation."""

    @property
    def frozen(self) -> np.ndarray | None:
        """Agents the engine never lets change state (not joined, suspended, deactivated) as a bool
        column, or None when there are none."""

    @property
    def llm(self) -> LLMAgents | None:
        """The simulation's LLM agents, or None (no LLM agents in this run)."""

    def model_class(self, name: str) -> type[PropagationModel]:
        """The registered model called ``name`` (for a model that wraps another, like ``llm``).

        Raises:
            BadParameterError: no such model."""

    def stream_rng(self, stream: int) -> np.random.Generator:
        """A generator of this session's own for this round, apart from ``rng`` (drawing from it leaves
        ``rng``'s numbers unchanged): seeded from the world's seed, ``stream``, the session and the round."""

    # -- randomness that tests can couple to a reference ---------------------------------------------
    def random_edges(self, edge_ids: np.ndarray) -> np.ndarray:
        """One uniform [0, 1) number per listed edge, in order."""

    def random_agents(self, agents: np.ndarray) -> np.ndarray:
        """One uniform [0, 1) number per listed agent, in order."""

    # -- the frontier's edges ------------------------------------------------------------------------
    def gather(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Out-edges of the frontier: ``(sources, targets, trust, edge_ids)``, sources ascending."""

    def gather_targets(self) -> tuple[np.ndarray, np.ndarray]:
        """The cheap part of :meth:`gather`: ``(targets, edge_ids)``."""

    def gather_sources(self) -> np.ndarray:
        """The sending agent of each edge of :meth:`gather_targets` (aligned, ascending)."""

    def edge_sources(self, edge_ids: np.ndarray) -> np.ndarray:
        """The sending agent of each listed out-edge (int32)."""

    # -- contact layers and attributes ----------------------------------------------------------------
    @property
    def layers(self) -> tuple[str, ...]:
        """The world's contact layers by name (bit ``i`` of an edge's mask is ``layers[i]``); empty for a
        world of one layer."""

    def edge_layers(self, edge_ids: np.ndarray) -> np.ndarray:
        """The layer mask (uint8) of each listed out-edge; zeros on a world of one layer."""

    def edge_param(self, name: str, edge_ids: np.ndarray) -> np.ndarray | float:
        """The session's parameter ``name`` on each listed out-edge: its per-layer values (``beta@class``)
        combined over each edge's layers as its ``Param.per_edge`` says; one float on a world of one layer."""

    def attribute(self, name: str) -> np.ndarray | None:
        """The world's measured attribute column ``name`` (a people table's column, or ``agora set``),
        read-only, or None (a drawn column is not an attribute)."""

    def transmission(self, name: str, edge_ids: np.ndarray, *, weighted: bool = False) -> np.ndarray | float:
        """The chance an attempt along each listed out-edge succeeds: :meth:`edge_param` times the edge's
        weight (when ``weighted``), the sender's ``infectivity`` and the receiver's ``susceptibility``
        attributes (when the world has them), capped at 1; one float when none of these apply."""

    def gather_in(self, agents: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """In-edges of ``agents``: ``(targets, sources, edge_ids)`` grouped by target in the given order."""

    def followees(self, agents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The agents each listed agent follows: ``(targets, sources)``, as :meth:`gather_in` without edge ids."""

    def adopted_mask(self, agents: np.ndarray) -> np.ndarray:
        """Whether each listed agent is in one of the model's adopted states."""

    def adopted_in_counts(self, agents: np.ndarray) -> np.ndarray:
        """For each listed agent, how many of the agents it follows have adopted."""

    def in_degree(self, agents: np.ndarray) -> np.ndarray:
        """How many agents each listed agent follows."""

    # -- feeds (declare ``uses_feed = True``) --------------------------------------------------------
    @property
    def feed_agents(self) -> np.ndarray:
        """This round's feed exposures: agents shown the message by the content recommender (int32, ascending)."""

    @property
    def feed_sources(self) -> np.ndarray:
        """The agent credited for each item of :attr:`feed_agents` (int32, -1 none)."""

    def feed_open(self) -> tuple[np.ndarray, np.ndarray]:
        """The feed exposures of agents still in state 0: ``(agents, sources)``."""

    def with_feed(self, result: StepResult, agents: np.ndarray, sources: np.ndarray, new_state: int = 1) -> StepResult:
        """``result`` plus adoptions through the feed (``agents`` from :meth:`feed_open`)."""


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

    And what else the model uses:

    - ``variables``: its continuous per-agent variables (name -> :class:`Variable`), kept by the engine
      as columns (``ctx.variables``) and changed through ``StepResult.variables``.
    - ``uses_feed``: whether it reads feed exposures (``ctx.feed_open``, ``ctx.with_feed``,
      ``ctx.feed_agents``); ``agora plugins check`` flags a model that does without saying so.
    - ``changes_edges``: whether it answers with ``remove_edges``/``add_edges`` (checked likewise).
    - ``endless``: the model may run for ever by design (SIS near its endemic level); without it a model
      that never ends in ``agora plugins check`` and keeps the default :meth:`is_done` is flagged.
    - ``gives_sources``: whether ``StepResult.sources`` names who each adoption came from, so a run has a
      cascade tree (``sim.core.cascade``). False for a model where no one agent causes an adoption (a
      group decides, an opinion crosses a level): its runs report ``"cascade": null``.

    And what its series count (``sim.model.series``; every series has ``new.STATE``, the entries into each
    state per tick, beside ``new``, the agents newly reached):

    - ``onset_states``: the states whose entries are the series' ``onsets`` (what surveillance usually
      observes: the first symptomatic or infectious state). None (the default): the first of
      ``adopted_states`` that is also transmitting, else the first adopted state (seir: ``I``; ic: ``adopted``).
    - ``removal_states``: the states whose entries are ``removals``. None (the default): the adopted states
      named ``R``, ``removed`` or ``recovered``; a model with none has no ``removals`` measure.

    - ``observables``: further measures surveillance may record, each named and counting the entries into some
      states per tick: ``{"admissions": (3,)}`` gives the series' ``new.admissions``, the entries into the
      fourth state (a hospital's admissions, to fit beside cases with ``--observe hosp=new.admissions`` and
      ``--channel hosp:ihr``). Empty (the default): none.

    All three are checked when the class is defined (so when its file is loaded): a tuple of the states
    1 .. len(states) - 1; an observable's name a word that is no state's.
    """

    kind: ClassVar[str] = "model"
    states: ClassVar[tuple[str, ...]] = ("susceptible", "adopted")
    adopted_states: ClassVar[tuple[int, ...]] = (1,)
    transmitting_states: ClassVar[tuple[int, ...]] = (1,)
    transmit: ClassVar[str] = "once"
    seed_state: ClassVar[int] = 1
    progressive: ClassVar[bool] = True
    variables: ClassVar[dict[str, Variable]] = {}
    uses_feed: ClassVar[bool] = False
    changes_edges: ClassVar[bool] = False
    endless: ClassVar[bool] = False
    gives_sources: ClassVar[bool] = True
    onset_states: ClassVar[tuple[int, ...] | None] = None
    removal_states: ClassVar[tuple[int, ...] | None] = None
    observables: ClassVar[dict[str, tuple[int, ...]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        problems = [_counted_problem(cls, attr) for attr in ("onset_states", "removal_states")]
        problems.append(observables_problem(getattr(cls, "observables", None), getattr(cls, "states", None)))
        for problem in problems:
            if problem:
                raise TypeError(f"model {getattr(cls, 'name', '') or cls.__name__}: {problem}")

    @classmethod
    def counted_observables(cls) -> dict[str, tuple[int, ...]]:
        """The model's ``observables``: a name -> the states whose entries its measure ``new.NAME`` counts."""
        return {str(k): tuple(int(x) for x in v) for k, v in (cls.observables or {}).items()}

    @classmethod
    def counted_onsets(cls) -> tuple[int, ...]:
        """The states whose entries are the series' ``onsets`` (``onset_states``, or its default)."""
        if cls.onset_states is not None:
            return tuple(int(x) for x in cls.onset_states)
        return default_onsets(tuple(cls.adopted_states), tuple(cls.transmitting_states))

    @classmethod
    def counted_removals(cls) -> tuple[int, ...]:
        """The states whose entries are the series' ``removals`` (``removal_states``, or its default)."""
        if cls.removal_states is not None:
            return tuple(int(x) for x in cls.removal_states)
        return default_removals(tuple(cls.states), tuple(cls.adopted_states))

    def start(self, ctx: StepContext) -> StepResult | None:
        """Called once when the session starts, after seeding (draw per-session thresholds here).

        May answer a :class:`StepResult` applied with the seeding, at tick 0: agents still untouched
        moved to other states (blocked, immune; or adopted ones, which count as reached at tick 0 with no
        source, like the seeds), and starting values of the variables. The seeds themselves are the
        engine's."""

    def step(self, ctx: StepContext) -> StepResult:  # pragma: no cover - abstract
        """One synchronous round. Must not loop over agents or edges in Python."""
        raise NotImplementedError

    def is_done(self, ctx: StepContext) -> bool:
        """Whether the session has ended (an absorbing state, consensus, no change); ``--until-done``
        stops there. Default: nobody transmits (answered by the core without calling the model).

        Asked once right after :meth:`start` (in the tick the session starts, before any round:
        ``ctx.round`` is 0 and nothing ``step`` stores exists yet) and then after every round. True right
        after start ends the session at tick 0 with only its seeds: right when nothing can ever change
        (a rate of 0), wrong when rounds would still change something, which ``agora plugins check``
        fails (it runs such a session again with ``is_done`` held false for a few rounds)."""
        return ctx.frontier.size == 0


#: Names of a removed state (any case): an adopted state so named is a model's default ``removal_states``.
REMOVED_NAMES = ("r", "removed", "recovered")


def default_onsets(adopted: tuple[int, ...], transmitting: tuple[int, ...]) -> tuple[int, ...]:
    """The default ``onset_states``: the first adopted state that is also transmitting, else the first adopted
    state (none for a model without adopted states)."""
    first = next((a for a in adopted if a in transmitting), adopted[0] if adopted else None)
    return () if first is None else (int(first),)


def default_removals(states: tuple[str, ...], adopted: tuple[int, ...]) -> tuple[int, ...]:
    """The default ``removal_states``: the adopted states named ``R``, ``removed`` or ``recovered``."""
    return tuple(int(a) for a in adopted if 0 <= a < len(states) and str(states[a]).lower() in REMOVED_NAMES)


#: An observable's name: a word (letters, digits, ``_``, ``-``) starting with a letter, at most 40 characters.
_OBSERVABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}")


def observables_problem(value: Any, states: Any) -> str | None:
    """What is wrong with a model's declared ``observables`` (None: nothing, or ``states`` malformed, which is
    left to ``agora plugins check``): a dict from a name (a word that is no state's, nor ``onsets`` or
    ``removals``) to a tuple of the states 1 .. len(states) - 1 (each once, at least one)."""
    if not isinstance(states, (tuple, list)):
        return None
    if not isinstance(value, dict):
        return (
            f"observables {value!r} must be a dict from a name to a tuple of state numbers, e.g. {{'admissions': (3,)}}"
        )
    names = {str(s) for s in states}
    for name, chosen in value.items():
        if not isinstance(name, str) or not _OBSERVABLE_NAME.fullmatch(name):
            return (
                f"observables has the name {str(name)[:40]!r}: give a word of letters, digits, _ or - (at most 40, "
                "starting with a letter)"
            )
        if name in names or name in ("onsets", "removals"):
            return (
                f"observables names {name!r}, which the series have already (new.{name}): give the measure a name "
                "of its own"
            )
        problem = _states_problem(f"observables[{name!r}]", chosen, states)
        if problem:
            return problem
        if not len(chosen):
            return f"observables[{name!r}] names no state: give the states whose entries it counts, e.g. (3,)"
    return None


def _counted_problem(cls: type, attr: str) -> str | None:
    """What is wrong with a model's declared ``onset_states`` or ``removal_states`` (None: nothing, or not
    declared; a class whose ``states`` are malformed is left to ``agora plugins check``)."""
    value = getattr(cls, attr, None)
    states = getattr(cls, "states", None)
    if value is None or not isinstance(states, (tuple, list)):
        return None
    return _states_problem(attr, value, states)


def _states_problem(attr: str, value: Any, states: tuple | list) -> str | None:
    """What is wrong with ``value``, declared as ``attr``: a tuple of state numbers 1 .. len(states) - 1, each
    once (None: nothing)."""
    k = len(states)
    ints = isinstance(value, (tuple, list)) and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in value
    )
    if not ints:
        return f"{attr} {value!r} must be a tuple of state numbers (e.g. (2,) for the third state)"
    bad = [int(v) for v in value if not 1 <= int(v) < k]
    if bad:
        names = ", ".join(map(str, states[1:]))
        return f"{attr} holds {bad[0]}, but the states that can be entered are 1..{k - 1} ({names})"
    if len(set(value)) != len(value):
        return f"{attr} {tuple(value)!r} names a state twice"
    return None
