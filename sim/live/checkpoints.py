"""A live world's checkpoints: taken every ``every`` ticks or ``seconds`` seconds (and after every change of a
durable world), a failure said once (its sentence, a ``checkpoint_failed`` event, the ``on_checkpoint``
callbacks) and tried again every ``retry_seconds`` until one succeeds; a durable world's change answered
once its journal row is on disk."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import traceback
from collections.abc import Callable

from sim.core.tracebacks import one_line
from sim.errors import AgoraError
from sim.live.policy import CheckpointFailedError, CheckpointState, Host

#: Seconds between two attempts at a checkpoint that failed (each call that changes the world tries too).
RETRY_SECONDS = 10.0


class Checkpoints:
    """The checkpoints of the world ``host`` keeps live (see the module docstring).

    Attributes:
        every, seconds: a checkpoint is due after that many ticks, or seconds with a tick run (None or 0:
            never by that measure). retry_seconds: between two attempts after a failure.
        failure: the one sentence of the last checkpoint when it failed; None once one succeeds.
        failures: checkpoints that failed since the world was opened.
        on_checkpoint: called with (the failure's sentence or None, the tick the file holds) when a
            checkpoint fails after one that succeeded, and when one succeeds after a failure.
    """

    def __init__(
        self, host: Host, *, every: int | None, seconds: float | None, retry_seconds: float = RETRY_SECONDS
    ) -> None:
        self.host = host
        self.every, self.seconds, self.retry_seconds = every, seconds, retry_seconds
        self.failure: str | None = None
        self.failures = 0
        self.on_checkpoint: list[Callable[[str | None, int], None]] = []
        self._last = (host.world.tick, time.monotonic())
        self._retry_task: asyncio.Task | None = None

    @property
    def disk_tick(self) -> int:
        """The tick the world file holds: that of its last committed checkpoint."""
        return int(getattr(self.host.sim.writer, "checkpoint_tick", self.host.world.tick))

    def state(self) -> CheckpointState:
        """Whether the last checkpoint succeeded (``ok``), its failure's sentence (``error``), the tick the
        file holds (``tick_on_disk``) and the failures counted since the server started."""
        return {
            "ok": self.failure is None,
            "error": self.failure,
            "tick_on_disk": self.disk_tick,
            "failures": self.failures,
        }

    def restart(self, tick: int) -> None:
        """Count the next periodic checkpoint from ``tick`` (a world just loaded is on disk)."""
        self._last = (tick, time.monotonic())

    async def now(self) -> None:
        """Write the world's state into its file now (see ``WorldWriter.checkpoint``).

        Raises:
            CheckpointFailedError: it could not be written (the file keeps its previous checkpoint); the
                failure stays recorded, and loud, until a checkpoint succeeds.
        """
        self._last = (self.host.world.tick, time.monotonic())
        try:
            await self.host.sim.checkpoint()
        except Exception as exc:  # noqa: BLE001 - any failure, a bug included, must be said, never swallowed
            self._failed(exc)
            raise CheckpointFailedError(self.failure) from exc
        self._succeeded()

    async def periodic(self) -> None:
        """A checkpoint when one is due; a failure is recorded and said, and the run goes on."""
        tick, at = self._last
        ticks = self.host.world.tick - tick
        if (self.every and ticks >= self.every) or (
            self.seconds and ticks > 0 and time.monotonic() - at >= self.seconds
        ):
            with contextlib.suppress(CheckpointFailedError):  # recorded and said; tried again later
                await self.now()

    async def require(self) -> None:
        """Before a change (the caller holds the host's ``lock``): while the last checkpoint failed, try it
        again, and refuse the change if it still fails (a durable world).

        Raises:
            CheckpointFailedError: the checkpoint still fails.
        """
        if self.failure is not None and self.host.policy.durable:
            await self.now()

    async def after(self, done: str, *, always: bool = False) -> None:
        """Checkpoint after a change that is done whatever happens to the checkpoint (a world that is not
        ``durable``: only when ``always``, else when one is due).

        Raises:
            CheckpointFailedError: ``done``, but the checkpoint failed (one sentence saying both).
        """
        if not (self.host.policy.durable or always):
            await self.periodic()
            return
        try:
            await self.now()
        except CheckpointFailedError as exc:
            raise CheckpointFailedError(f"{done}, but {exc}") from exc

    async def durable(self, change: int) -> None:
        """A durable world (a server) answers a change only once it is on disk: wait until the writer has
        committed change number ``change`` (its journal row, grouped with others in one transaction).

        Raises:
            NotDurableError: it could not be written (the change stands in memory; the answer says so).
        """
        host = self.host
        writer = host.sim.writer
        if host.policy.durable and host.acknowledge == "durable" and writer is not None and change:
            await writer.wait_durable(change)

    async def close(self) -> None:
        """Stop trying a failed checkpoint again."""
        if self._retry_task is not None:
            self._retry_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._retry_task
            self._retry_task = None

    def _sentence(self, exc: BaseException) -> str:
        """One sentence for a failed checkpoint (a bug's traceback goes to a server's log)."""
        host = self.host
        if isinstance(exc, AgoraError):
            return one_line(str(exc)) or type(exc).__name__
        detail = f"{type(exc).__name__}: {(one_line(str(exc)) or '')[:200]}"
        if not host.policy.log_bugs:  # the terminal UI owns the terminal: the sentence says what failed
            return (
                f"the world file could not be checkpointed ({detail}): it keeps its last checkpoint "
                f"(tick {self.disk_tick})"
            )
        path = os.path.basename(str(getattr(host.sim.writer, "path", "") or host.world.path or "the world file"))
        sys.stderr.write(
            "agora: a checkpoint failed with an unexpected error:\n"
            + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        )
        sys.stderr.flush()
        return (
            f"the world file {path!r} could not be checkpointed ({detail}): it keeps its last checkpoint "
            f"(tick {self.disk_tick}); see the server's log"
        )

    def _failed(self, exc: BaseException) -> None:
        sentence = self._sentence(exc)
        first = self.failure is None
        self.failures += 1
        self.failure = sentence
        if first:
            self.host.events.publish(
                {
                    "type": "checkpoint_failed",
                    "error": sentence,
                    "tick": self.host.world.tick,
                    "tick_on_disk": self.disk_tick,
                }
            )
            for callback in self.on_checkpoint:
                callback(sentence, self.disk_tick)
        if self._retry_task is None or self._retry_task.done():
            with contextlib.suppress(RuntimeError):  # no running loop: the next call retries
                self._retry_task = asyncio.get_running_loop().create_task(self._retry(), name="agora-checkpoint-retry")

    def _succeeded(self) -> None:
        # Every row queued before a checkpoint is committed with it: an earlier write error is over.
        writer = self.host.sim.writer
        if getattr(writer, "error", None) is not None:
            writer.error = None
        if self.failure is None:
            return
        self.failure = None
        self.host.events.publish(
            {"type": "checkpoint_recovered", "tick": self.host.world.tick, "tick_on_disk": self.disk_tick}
        )
        for callback in self.on_checkpoint:
            callback(None, self.disk_tick)

    async def _retry(self) -> None:
        """Try a failed checkpoint again every ``retry_seconds`` until one succeeds."""
        while self.failure is not None:
            await asyncio.sleep(self.retry_seconds)
            async with self.host.lock:
                if self.failure is None:
                    return
                with contextlib.suppress(CheckpointFailedError):
                    await self.now()
