"""What a live world's front ends share: its :class:`Policy` (a served world, the terminal UI), its bounds, and
the errors its calls raise (each with its HTTP status in ``sim.api``)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypedDict

from sim.core.world import World
from sim.engine.bounds import MAX_TICKS_PER_SECOND, MIN_TICKS_PER_SECOND
from sim.engine.simulation import Simulation
from sim.errors import AgoraError, ResourceError
from sim.live.events import EventHub
from sim.llm.local import LocalServer
from sim.model.registry import Registry
from sim.store.eventrows import History

if TYPE_CHECKING:
    from sim.engine.requests import Inject
    from sim.llm.estimate import LLMEstimate

#: How a snapshot may be named: letters, digits, dot, dash and underscore (no folders). Always matched
#: whole (``fullmatch``): ``$`` alone would let a name end with a newline.
SNAPSHOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
#: The most messages a served world holds: an injection past it is refused (409).
MAX_MESSAGES = 100_000
#: The most characters of an intervention sent by a client.
MAX_INTERVENTION = 2_000
#: The most ticks an LLM cost estimate of a live world runs (a dry run on a copy; its work is bounded too:
#: ``sim.live.estimates.Estimates.MAX_WORK``).
MAX_ESTIMATE_STEPS = 10_000
#: The slowest and fastest pace a live world's run takes (``ticks_per_second``), as any run's
#: (:mod:`sim.engine.bounds`): a tick every 1,000 s at most (5e-324 made a world that ran and never ticked), and a
#: million a second at most.
MIN_RATE, MAX_RATE = MIN_TICKS_PER_SECOND, MAX_TICKS_PER_SECOND
#: The largest snapshot file the server reads (bytes): a larger one is refused before it is opened.
MAX_SNAPSHOT_BYTES = 8 * 2**30
#: Seconds between two attempts at a checkpoint that failed (each call that changes the world tries too).
RETRY_SECONDS = 10.0
#: Sessions in one page of :meth:`WorldController.sessions` unless asked otherwise, and the most one page holds.
PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class StateError(AgoraError):
    """An action the world's current state forbids (HTTP 409)."""


class NotFoundError(AgoraError):
    """An id or name that does not exist (HTTP 404)."""


class CheckpointFailedError(ResourceError):
    """The world file could not be checkpointed (HTTP 503): calls that change the world are refused until a
    checkpoint succeeds again."""


@dataclass(frozen=True)
class Policy:
    """How a front end wants its world kept (see the module docstring).

    Attributes:
        durable: checkpoint after every change (step, pause, save) and refuse changes while the file
            cannot be checkpointed (a server: what a client was told is on disk); otherwise checkpoint
            every ``checkpoint_every`` ticks or ``checkpoint_seconds`` and let the user go on.
        audit_runs: record run, pause and step in the audit log (who started a served world matters;
            a key pressed in the terminal UI is not a change of the world's settings).
        refuse_failed_model: an injection whose model cannot be used is an error (HTTP 400); otherwise
            its session fails like any other and says so on the event bus.
        log_bugs: an unexpected checkpoint failure writes its traceback on stderr (a server's log; the
            terminal UI owns the terminal and shows the sentence instead).
    """

    durable: bool = True
    audit_runs: bool = True
    refuse_failed_model: bool = True
    log_bugs: bool = True


#: A world served over HTTP (``agora serve``), and driven from Python.
SERVER = Policy()
#: A world in the terminal UI.
INTERACTIVE = Policy(durable=False, audit_runs=False, refuse_failed_model=False, log_bugs=False)


class Host(Protocol):
    """What the parts of a live world (its checkpoints, snapshots, readings, tools and interventions) use of
    the world controller that holds them: the simulation (a loaded snapshot replaces it), its policy, its
    stream of events, the lock every change takes, and the audit log."""

    sim: Simulation
    policy: Policy
    events: EventHub
    lock: asyncio.Lock
    acknowledge: str
    max_messages: int
    #: Bumped by every change a :class:`WorldSnapshot` shows that is not a tick.
    version: int
    #: The local model's server while this world serves it (``--llm local``), else None.
    local_server: LocalServer | None

    @property
    def world(self) -> World: ...

    @property
    def registry(self) -> Registry: ...

    @property
    def checkpoints(self) -> Checkpointing: ...

    @property
    def estimates(self) -> EstimateJobs: ...

    @property
    def state(self) -> str: ...

    @property
    def ticks_per_second(self) -> float | None: ...

    def audit(self, action: str, details: Mapping[str, object], actor: str | None = None) -> None: ...

    async def replace(self, new_world: World, history: History | None, recorded: str, actor: str | None) -> None: ...


class CheckpointState(TypedDict):
    """Whether the last checkpoint succeeded (``ok``), its failure's sentence (``error``), the tick the file
    holds (``tick_on_disk``) and the failures counted since the world was opened."""

    ok: bool
    error: str | None
    tick_on_disk: int
    failures: int


class EstimateJobs(Protocol):
    """What a front end asks of a live world's LLM cost estimates (:class:`sim.live.estimates.Estimates`; a
    protocol here so that the policy does not import the room that imports it)."""

    async def estimate(
        self,
        request: Inject,
        *,
        steps: object,
        actor: str | None = None,
        gone: asyncio.Future | None = None,
        timeout: float | None = None,
    ) -> LLMEstimate: ...


class Checkpointing(Protocol):
    """What the parts of a live world use of its checkpoints (:class:`sim.live.checkpoints.Checkpoints`)."""

    failure: str | None

    @property
    def disk_tick(self) -> int: ...

    def state(self) -> CheckpointState: ...

    async def require(self) -> None: ...

    async def after(self, done: str, *, always: bool = False) -> None: ...

    async def durable(self, change: int) -> None: ...
