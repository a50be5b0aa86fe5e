"""The Agents view (3): find an agent, its profile, followers and follows, what became of each message for it
(adopted, exposed, not reached) and its memory."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import DataTable, Input, Static

from sim.errors import AgoraError
from sim.live.views import AgentProfile, AgentSession, Memory, Neighbour, WorldViews

from ._base import View, literal, show


class SearchBox(Input):
    """A search box that leaves ``/`` to the app: ``/`` means "to the search box" everywhere (no id or name
    holds one), so pressing it in the box keeps the focus there instead of typing it."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return key != "slash" and super().check_consume_key(key, character)

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "slash":
            event.prevent_default()  # not typed (Input's handler would): the app's binding has it
            return
        await super()._on_key(event)


class AgentsView(View):
    DEFAULT_CSS = """
    AgentsView #agent-query { margin: 0 1; }
    AgentsView #agent-profile { height: auto; padding: 0 1; border: round $primary-darken-2; }
    AgentsView #agent-lists { height: 1fr; }
    AgentsView #agent-lists DataTable { width: 1fr; }
    AgentsView #agent-events { height: auto; max-height: 10; padding: 0 1; }
    AgentsView #agent-memory { height: auto; max-height: 14; padding: 0 1; border: round $primary-darken-2; }
    """
    #: Recent memories listed in the memory panel at most.
    MEMORIES_SHOWN = 10
    #: The agent is read again every this many ticks while the world runs (and whenever it is shown).
    EVERY = 5

    #: The agent shown (its profile, neighbours, adoptions and memory): the view's snapshot.
    snapshot: reactive[AgentProfile | None] = reactive(None, init=False, repaint=False)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.agent_index: int | None = None

    #: What the profile says before an agent is shown.
    HINT = (
        "Type an id or a name and press enter: the search box has the keys while the view is open. "
        "Escape leaves it (then a asks the agent shown, 1-6 switch views); / comes back to it."
    )

    def compose(self) -> ComposeResult:
        yield SearchBox(placeholder="find an agent: its id, or a name (e.g. Ada Okafor)", id="agent-query")
        yield Static(self.HINT, id="agent-profile", markup=False)
        with Horizontal(id="agent-lists"):
            yield DataTable(id="followers", cursor_type="row")
            yield DataTable(id="followees", cursor_type="row")
        yield Static(id="agent-events", markup=False)
        yield Static(id="agent-memory", markup=False)

    def on_mount(self) -> None:
        for tid, title in (("#followers", "followers"), ("#followees", "follows")):
            t = self.query_one(tid, DataTable)
            t.add_column(f"{title}: id", key="id")
            t.add_column("name", key="name")
            t.add_column("influence", key="influence")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "agent-query":
            self.find(event.value)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.show(int(event.row_key.value))

    def find(self, query: str) -> None:
        live = self.agora.live
        if live is None:
            return
        try:
            hits = live.agents.find(query)
        except AgoraError as exc:
            self.agora.notify(str(exc), severity="error", markup=False)
            return
        if len(hits) > 1:
            self.agora.notify(
                f"{len(hits):,} agents are called {query.strip()}; showing the first (id {live.agents.id_of(hits[0])})",
                markup=False,
            )
        self.show(hits[0], searched=True)

    def show(self, idx: int, *, searched: bool = False) -> None:
        """Show agent ``idx``. Shown by a search, the search box keeps the focus (for the next search);
        shown any other way (a row chosen, the app), the box gives the keys back, so ``a`` asks them."""
        self.agent_index = idx
        if not searched and self.screen.focused is self.query_one("#agent-query", Input):
            self.screen.set_focus(None)
        self.refresh_view(full=True)

    def target_agent(self) -> int | None:
        """Who the ask key (a) interviews: the highlighted row of the followers or follows list when that
        list has the focus, else the agent whose profile is shown (None before one is found)."""
        focused = self.screen.focused
        if isinstance(focused, DataTable) and focused.id in ("followers", "followees") and focused.row_count:
            key = focused.coordinate_to_cell_key(focused.cursor_coordinate).row_key.value
            if key is not None:
                return int(key)
        live = self.agora.live
        if self.agent_index is not None and live is not None and self.agent_index < live.population:
            return self.agent_index
        return None

    # -- the snapshot -------------------------------------------------------------------------------------
    def refresh_view(self, full: bool = False) -> None:
        """Read the agent shown again: when it is shown (``full``), else every :attr:`EVERY` ticks."""
        live = self.agora.live
        if live is None or self.agent_index is None or not full and live.tick % self.EVERY:
            return
        self.fetch(live)

    def fetch(self, live: WorldViews) -> None:
        if self.agent_index is not None and self.agent_index < live.population:
            self.snapshot = live.agents.profile(self.agent_index, memories=self.MEMORIES_SHOWN)

    def watch_snapshot(self, agent: AgentProfile | None) -> None:
        if agent is None:
            return
        show(self.query_one("#agent-profile", Static), self.profile_text(agent))
        for tid, neighbours in (("#followers", agent.top_followers), ("#followees", agent.top_followees)):
            self.paint_neighbours(self.query_one(tid, DataTable), neighbours)
        show(self.query_one("#agent-events", Static), self.events_text(agent))
        show(self.query_one("#agent-memory", Static), self.memory_text(agent.memory))

    @staticmethod
    def community_text(agent: AgentProfile) -> str:
        """An agent's community for its profile: the number; before any detection "unknown"; after
        one, an isolated agent's -1 reads "none (isolated, no links)" (or says it had none then, when
        the living network has linked it since)."""
        if agent.community >= 0:
            return str(agent.community)
        if not agent.detected:
            return "unknown"
        if agent.followers + agent.followees:
            return "none (it had no links when communities were detected: press c to place it)"
        return "none (isolated, no links)"

    def profile_text(self, agent: AgentProfile) -> Text:
        profile = Text()
        profile.append_text(literal(agent.name, 80, style="bold"))
        profile.append(f"   id {agent.id}   community {self.community_text(agent)}   {agent.status}\n")
        profile.append_text(literal(agent.bio, 600))
        profile.append("\nwrites: ")
        profile.append_text(literal(agent.style, 200))
        profile.append(f"\ninterests: {', '.join(agent.interests)}\n")
        profile.append(
            f"reputation {agent.reputation:.2f}   influence {agent.influence:.3f} (rank {agent.rank:,} of "
            f"{agent.agents:,})   susceptibility {agent.susceptibility:.2f}   activity {agent.activity_profile}\n"
        )
        profile.append(f"{agent.followers:,} followers, follows {agent.followees:,}")
        profile.append("   a: ask them a question", style="grey50")
        if agent.attributes:
            profile.append_text(self.attributes_text(agent))
        return profile

    @staticmethod
    def attributes_text(agent: AgentProfile) -> Text:
        """The agent's attributes from data on one wrapped line: ``AGE 7 · CL preschool · DEAD -`` (- missing);
        names and labels come from a file, so they are shown literally, never as markup."""
        out = Text("\nattributes: ", style="bold")
        for i, (name, value) in enumerate(agent.attributes):
            if i:
                out.append(" · ", style="grey50")
            out.append_text(literal(name, 64, style="italic"))
            out.append(" ")
            out.append_text(literal("-" if value is None else f"{value:g}" if isinstance(value, float) else value, 80))
        return out

    @staticmethod
    def paint_neighbours(table: DataTable[Any], neighbours: tuple[Neighbour, ...]) -> None:
        """The most influential followers (or follows), rebuilt only when they or their influence changed."""
        if getattr(table, "_agora_rows", None) == neighbours:
            return
        table._agora_rows = neighbours  # type: ignore[attr-defined]
        table.clear()
        for n in neighbours:
            table.add_row(str(n.id), literal(n.name, 30), f"{n.influence:.3f}", key=str(n.index))

    @staticmethod
    def outcome_text(s: AgentSession) -> Text:
        """What one session's message became for the agent, in words: ``adopted at tick 4 from 13``
        (``as a seed``), ``exposed, not adopted``, ``not reached``, ``not started``; with the agent's state
        in the session when the model names more than adopted or not (``now recovered``)."""
        if s.outcome == "adopted":
            who = "as a seed" if s.source is None else f"from {s.source}"
            line = Text(f"adopted at tick {s.tick} {who}", style="bold green")
        elif s.outcome == "exposed":
            line = Text("exposed, not adopted", style="yellow")
        else:
            line = Text(s.outcome, style="grey50")
        if s.state and s.state not in ("adopted", "susceptible"):
            line.append(" (now ")
            line.append_text(literal(s.state, 30))
            line.append(")")
        return line

    @classmethod
    def events_text(cls, agent: AgentProfile) -> Text:
        """For each of the latest sessions, newest first: the message and what became of it for the agent
        (adopted, when and from whom; exposed and not adopted; not reached)."""
        events = Text("messages: ", style="bold")
        if agent.blocked:
            events.append("blocked by an intervention (it neither adopts nor transmits); ", style="red")
        if not agent.sessions:
            events.append("none injected yet", style="grey50")
        for s in agent.sessions:
            events.append(f"\n  session {s.session_id} ({s.status}) message {s.message_id} ")
            events.append_text(literal(s.text, 40))
            events.append(" (")
            events.append_text(literal(s.model_name, 30))
            events.append("): ")
            events.append_text(cls.outcome_text(s))
        return events

    @staticmethod
    def memory_text(mem: Memory) -> Text:
        """What the agent remembers (``sim.core.agentmemory``): its size, its summary and its latest
        events, every text shown literally."""
        out = Text("memory: ", style="bold")
        if not mem.remembers:
            out.append(f"none (the LLM has not spoken for this agent; setting: {mem.setting})", style="grey50")
            return out
        out.append(f"{mem.events:,} events, {mem.text_bytes:,} bytes of text")
        if mem.summary is not None:
            text, tick, written_by = mem.summary
            out.append("\nsummary: ", style="bold")
            out.append_text(literal(text, 600))
            out.append(f" (tick {tick}, {written_by})", style="grey50")
        for tick, kind, other_name, text in reversed(mem.recent):
            out.append(f"\n  tick {tick}  {kind}  ")
            if other_name:
                out.append_text(literal(other_name, 30, style="italic"))
                out.append(" ")
            out.append_text(literal(text, 120))
        return out
