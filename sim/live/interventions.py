"""A live world's interventions: scheduled by a client or the terminal UI (``ACTION`` at the next tick,
``TICK:ACTION`` that many ticks from now), bounded in number, and listed."""

from __future__ import annotations

from sim.engine.requests.common import json_kind
from sim.errors import BadParameterError
from sim.live.policy import MAX_INTERVENTION, Host, StateError
from sim.model.intervene import MAX_INTERVENTIONS, Intervention, entries, pending_counters
from sim.model.seeds import SERVED


class Interventions:
    """The interventions of the world ``host`` keeps live."""

    def __init__(self, host: Host) -> None:
        self.host = host

    async def schedule(self, action: object, *, actor: str | None = None) -> dict[str, object]:
        """Schedule an intervention once no other call is changing the world (see :meth:`intervene_now`).

        Raises:
            see :meth:`intervene_now`; CheckpointFailedError: the last checkpoint failed and still does.
        """
        async with self.host.lock:
            await self.host.checkpoints.require()
            entry = self.now(action, actor=actor)
            change = self.host.sim.last_change
        await self.host.checkpoints.durable(change)
        return entry

    def now(self, action: object, *, actor: str | None = None) -> dict[str, object]:
        """Schedule an intervention (``sim.model.intervene``): ``ACTION`` applies at the start of the next
        tick, ``TICK:ACTION`` that many ticks from now. Its seeds are parsed within
        :data:`~sim.model.seeds.SERVED`: never a file (a path on the server; refused before it is opened), never
        a seed method that can take minutes.
        Returns the world's entry (pending until its tick).

        The world holds at most ``sim.max_interventions`` interventions (:data:`MAX_INTERVENTIONS` unless
        the server set another bound), and a counter-message is refused when the messages and the
        counter-messages already pending would pass ``max_messages`` (the engine also skips one that would
        pass it when its tick comes).

        Raises:
            BadParameterError: not a string, too long, a file, malformed or not possible in this world.
            StateError: the world holds as many interventions as it may, or a counter-message would pass
                ``max_messages``.
        """
        if isinstance(action, bool) or not isinstance(action, str):
            raise BadParameterError(f'action must be a string such as "block:degree:100", not {json_kind(action)}')
        if len(action) > MAX_INTERVENTION:
            raise BadParameterError(
                f"the action is {len(action):,} characters, more than the {MAX_INTERVENTION:,} one may have"
            )
        # The one parser of seeds, with a live world's limits: a file is refused before it is opened, and so is
        # a seed method that can take minutes.
        text = action.strip()
        ticked = bool(text) and text[0] in "0123456789"  # an ASCII digit: "١" starts no tick
        iv = Intervention.parse(text, with_tick=ticked, limits=SERVED, registry=self.host.registry)
        held, bound = (
            len(entries(self.host.world)),
            getattr(self.host.sim, "max_interventions", None) or MAX_INTERVENTIONS,
        )
        if held >= bound:
            raise StateError(
                f"the world holds {held:,} interventions, the most this server allows ({bound:,}, "
                "max_interventions): serve it with a higher bound to schedule more",
                fields="max_interventions",
            )
        if iv.action == "counter":
            messages, pending = len(self.host.world.messages), pending_counters(self.host.world)
            if messages + pending >= self.host.max_messages:
                raise StateError(
                    f"a counter-message would pass the {self.host.max_messages:,} messages this server allows "
                    f"(max_messages): the world holds {messages:,} and {pending:,} counter-messages are "
                    "pending; serve it with a higher bound for more",
                    fields="max_messages",
                )
        entry = self.host.sim.intervene(iv, actor=actor)
        self.host.version += 1
        return dict(entry)

    def listed(self, limit: int | None = None, offset: int = 0) -> list[dict[str, object]]:
        """The world's interventions, pending and applied, in the order given (block lists summarised by
        their count): all of them, or at most ``limit`` from the ``offset``-th (one page)."""
        listed = entries(self.host.world)
        out = []
        for e in listed[offset:] if limit is None else listed[offset : offset + limit]:
            row = {k: v for k, v in e.items() if k != "agents"}
            if "agents" in e:
                row["agents"] = len(e["agents"] or [])
            out.append(row)
        return out
