"""Interventions from the terminal UI (the v key): a small screen that asks for an action and schedules it
through the world's controller, and the sentences that say what was scheduled and, once applied, what it did.

An action is ``block:SEEDS``, ``counter:MODEL:SEEDS[:TEXT]`` or ``remove-edges:FRACTION[:random|between]``
(``sim.model.intervene``); alone it applies at the start of the next tick, ``TICKS:ACTION`` that many ticks
from now. A seed method that may take minutes (celf, ris) is refused here: it would run on the event loop
when the intervention is applied. Everything the world holds (specs, counter texts, plugin names) is shown
literally.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Select, Static

from sim.errors import AgoraError
from sim.live.frontend import InterventionApplied, Registry, shown
from sim.live.views import seed_methods

from .host import AppHost


def literal(value: Any, limit: int) -> Text:
    """Text shown exactly as written (``tui.views.literal``, which imports this module): never markup,
    control characters made visible, cut with an ellipsis."""
    return Text(shown(value, limit))


#: The three actions, each with an example the kind selector puts in the field.
EXAMPLES = {
    "block": "block:degree:100",
    "counter": "counter:ic:degree:20:that story is false",
    "remove-edges": "remove-edges:0.1:random",
}
#: What each form means (shown under the field).
FORMS = (
    ("block:SEEDS", "those agents neither adopt nor transmit from then on (SEEDS: METHOD:K, random:K, top:K, ids:a,b)"),
    ("counter:MODEL:SEEDS[:TEXT]", "a competing message from SEEDS; an adopter of one cannot adopt the other"),
    ("remove-edges:FRACTION[:random|between]", "cut that share of the edges (between: only across communities)"),
    ("TICKS:ACTION", "the action that many ticks from now (alone: at the start of the next tick)"),
)
#: What the field says when it is emptied: a hint that reads as one (the field opens holding an action).
PLACEHOLDER = "type an action, e.g. block:degree:100, or choose an example"
#: The line under the screen.
HINT = "enter: schedule the action in the field (typing replaces it) · escape: close"
#: How many of the world's interventions the screen lists (the latest).
LISTED = 8
#: Characters of an intervention's spec quoted in a sentence at most (a counter's text may be long).
SPEC_LIMIT = 80


def slow_method_refusal(action: str, registry: Registry) -> str | None:
    """The sentence refusing ``action`` when it names a seed method that may take minutes (None: it names
    none). The controller refuses them too; this says what to do instead, in the UI's words."""
    names = {name for name, _slow in seed_methods(registry)}
    for part in action.lower().split(":"):
        name = part.strip()
        if name in names and registry.seeder(name).expensive:
            quick = ", ".join(n for n, slow in seed_methods(registry) if not slow) or "degree"
            return (
                f"seed method {name} can take minutes on a large world and would stop the screen while it "
                f"chooses: use a quick method ({quick}) or ids:a,b,c"
            )
    return None


def _tick_of(entry: dict[str, Any]) -> int:
    return int(entry.get("tick", entry.get("at", 0)))


def _count(value: Any) -> int:
    """A count kept as a number or as the list it counts (a raw block entry's agents)."""
    return len(value) if isinstance(value, list) else int(value or 0)


def scheduled_text(entry: dict[str, Any], now: int) -> str:
    """``intervention scheduled for tick 12 (the next tick): block:degree:100``; ``now`` is the next tick to run."""
    at = int(entry.get("at", now))
    when = "the next tick" if at <= now else f"in {at - now:,} ticks"
    return f"intervention scheduled for tick {at:,} ({when}): {shown(entry.get('spec', ''), SPEC_LIMIT)}"


def applied_text(entry: dict[str, Any]) -> str:
    """What an applied intervention did, in one sentence: ``blocked 100 agents (degree:100) at tick 12``,
    ``counter-message (counter:ic:degree:5) started at tick 12 as session 3, against session 1``, ``cut
    1,200 edges (remove-edges:0.1:random) at tick 12``."""
    spec = str(entry.get("spec", ""))
    tick = _tick_of(entry)
    action = entry.get("action")
    if action == "block":
        chosen = _count(entry.get("agents"))
        fresh = int(entry.get("blocked", chosen))
        seeds = spec.partition(":")[2]
        text = f"blocked {fresh:,} agents ({shown(seeds, SPEC_LIMIT)}) at tick {tick:,}"
        if chosen > fresh:
            text += f"; {chosen - fresh:,} of the {chosen:,} chosen were blocked already"
        return text
    if action == "counter" and entry.get("skipped"):
        return f"counter-message ({shown(spec, SPEC_LIMIT)}) skipped at tick {tick:,}: {shown(entry['skipped'], 300)}"
    if action == "counter":
        rivals = [int(r) for r in entry.get("rivals") or []]
        against = (
            "against no running message"
            if not rivals
            else ("against session " if len(rivals) == 1 else "against sessions ") + ", ".join(map(str, rivals))
        )
        return (
            f"counter-message ({shown(spec, SPEC_LIMIT)}) started at tick {tick:,} as session "
            f"{int(entry.get('session', 0))}, {against}"
        )
    return f"cut {_count(entry.get('edges')):,} edges ({shown(spec, SPEC_LIMIT)}) at tick {tick:,}"


def entry_line(entry: dict[str, Any]) -> Text:
    """One line of the screen's list: what an intervention did (applied) or when it will apply (pending)."""
    if entry.get("applied"):
        return literal(applied_text(entry), 200)
    return literal(f"pending, at tick {int(entry.get('at', 0)):,}: {entry.get('spec', '')}", 200)


class InterveneScreen(ModalScreen[None]):
    """Ask for an intervention and schedule it. The field opens holding an action (``block:degree:100``),
    selected, so that enter schedules what it shows and typing replaces it; the kind selector puts an
    example of another kind there. Enter schedules what the field says through ``schedule`` (which answers
    None, or the sentence refusing it: shown under the field, and the screen stays for a correction).
    Escape closes. Closed, the keys go back to the widget that had them before (nothing: the app's)."""

    BINDINGS = [Binding("escape", "close", "Close")]
    DEFAULT_CSS = """
    InterveneScreen { align: center middle; }
    InterveneScreen > Vertical {
        width: 110; max-width: 100%; height: auto; max-height: 100%; border: thick $primary; background: $surface;
        padding: 0 1;
    }
    InterveneScreen Horizontal { height: auto; }
    InterveneScreen #intervene-kind { width: 22; }
    InterveneScreen #intervene-action { width: 1fr; }
    InterveneScreen #intervene-title { height: auto; text-style: bold; }
    InterveneScreen #intervene-forms { height: auto; color: $text-muted; }
    InterveneScreen #intervene-error { height: auto; color: $error; }
    InterveneScreen #intervene-list { height: auto; max-height: 10; }
    InterveneScreen #intervene-hint { height: 1; color: $text-muted; }
    """

    def __init__(
        self,
        tick: int,
        methods: Sequence[tuple[str, bool]],
        schedule: Callable[[str], str | None],
        listing: Callable[[], list[dict[str, Any]]],
    ) -> None:
        """
        Args:
            tick: the next tick to run (a plain action applies at its start).
            methods: the seed methods (name, whether slow) the examples name.
            schedule: schedules an action; returns None, or the sentence that refused it.
            listing: the world's interventions (``WorldController.interventions``).
        """
        super().__init__()
        self.tick = tick
        self.methods = list(methods)
        self.schedule = schedule
        self.listing = listing
        #: The sentence that refused the last action (None: none was refused).
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text(
                    f"Intervene: the action applies at the start of the next tick (tick {self.tick:,}); "
                    "TICKS:ACTION that many ticks from now."
                ),
                id="intervene-title",
            )
            with Horizontal():
                yield Select(
                    [(Text(kind), kind) for kind in EXAMPLES],
                    prompt="example",
                    allow_blank=True,
                    id="intervene-kind",
                    tooltip="put an example of this action in the field",
                )
                # The field holds a real action, selected: enter schedules what it shows, typing replaces it.
                # (A grey placeholder of the same text read as a value, and enter answered "empty".)
                yield Input(
                    value=EXAMPLES["block"],
                    placeholder=PLACEHOLDER,
                    id="intervene-action",
                    max_length=2_000,
                    select_on_focus=True,
                )
            yield Static(self.forms_text(), id="intervene-forms", markup=False)
            yield Static("", id="intervene-error", markup=False)
            yield Static(self.list_text(), id="intervene-list", markup=False)
            yield Static(HINT, id="intervene-hint", markup=False)

    def on_mount(self) -> None:
        self.query_one("#intervene-action", Input).focus()

    def forms_text(self) -> Text:
        """The forms of an action, and the seed methods by name (the slow ones said to be refused here)."""
        t = Text()
        for form, what in FORMS:
            t.append(f"{form}", style="bold")
            t.append(f"  {what}\n")
        quick = [name for name, slow in self.methods if not slow]
        slow = [name for name, slow in self.methods if slow]
        t.append("seed methods: ")
        t.append_text(literal(", ".join(quick) or "none", 200))
        if slow:
            t.append(" (")
            t.append_text(literal(", ".join(slow), 80))
            t.append(" may take minutes: not here; choose with 'agora seeds' and give ids:a,b)")
        return t

    def list_text(self) -> Text:
        """The world's latest interventions, one a line (literally), or a line saying there is none."""
        entries = self.listing()
        if not entries:
            return Text("no intervention in this world yet", style="italic")
        t = Text(f"interventions ({len(entries):,}):", style="bold")
        if len(entries) > LISTED:
            t.append(f" the latest {LISTED}", style="bold")
        for entry in entries[-LISTED:]:
            t.append("\n")
            t.append_text(entry_line(entry))
        return t

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "intervene-kind" and event.value is not Select.BLANK:
            field = self.query_one("#intervene-action", Input)
            field.value = EXAMPLES[str(event.value)]
            field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit(event.value)

    def submit(self, value: str) -> None:
        """Schedule ``value``; close on success, else say why under the field."""
        action = value.strip()
        error = (
            "the action is empty: type one (block:degree:100, counter:ic:degree:20, remove-edges:0.1) or "
            "choose an example"
            if not action
            else self.schedule(action)
        )
        self.error = error
        if error is None:
            self.dismiss(None)
            return
        if not action:
            self.app.notify(error, severity="warning", markup=False)
        self.query_one("#intervene-error", Static).update(literal(error, 400))
        self.query_one("#intervene-list", Static).update(self.list_text())

    def action_close(self) -> None:
        self.dismiss(None)


class Interventions:
    """The interventions of the live world from the UI: the screen that asks for one (v), scheduling it,
    the sentence that says what one did once applied (said once per intervention), and the charts' marks.

    Args:
        app: the app (its controller, its notices and its screens).
    """

    def __init__(self, app: AppHost) -> None:
        self.app = app
        #: InterventionApplied events seen (the charts' marks are read again after one).
        self.applied_events = 0
        #: Indices of the world's interventions whose application was announced (per world).
        self._announced: set[int] = set()
        self._marks: tuple[tuple[Any, ...], tuple[tuple[int, str], ...]] | None = None

    def attached(self) -> None:
        """A world became live: its interventions applied already were announced when they were applied."""
        controller = self.app.controller
        entries = controller.interventions.listed() if controller is not None else []
        self._announced = {i for i, e in enumerate(entries) if e.get("applied")}

    def ask(self) -> None:
        """Ask for an intervention (a modal) and schedule it for the next tick (or TICKS from now)."""
        controller = self.app.controller
        if controller is None:
            return
        self.app.push_screen(
            InterveneScreen(
                controller.world.tick, seed_methods(controller.registry), self.schedule, controller.interventions.listed
            )
        )

    def schedule(self, action: str) -> str | None:
        """Schedule ``action`` through the controller and say so (a notification and the log). A refusal
        (a malformed action, one this world cannot carry out, a seed method that may take minutes) is an
        error notification and changes nothing.

        Returns:
            None when scheduled, else the sentence that refused it.
        """
        controller = self.app.controller
        if controller is None:
            return "no world is open yet"
        refusal = slow_method_refusal(action, controller.registry)
        try:
            if refusal is not None:
                raise AgoraError(refusal)
            entry = controller.interventions.now(action)  # audited there
        except AgoraError as exc:
            self.app.notify(str(exc), severity="error", markup=False)
            return str(exc)
        text = scheduled_text(entry, controller.world.tick)
        self.app.notify(text, markup=False)
        self.app.notices.log(text)
        self.app.refresh_ui()
        return None

    def applied(self, event: InterventionApplied) -> str:
        """What the intervention of ``event`` did (from the world's entry), said once per entry."""
        self.applied_events += 1
        controller = self.app.controller
        entries = controller.interventions.listed() if controller is not None else []
        for i, entry in enumerate(entries):
            if i in self._announced or not entry.get("applied"):
                continue
            if entry.get("tick") == event.tick and entry.get("spec") == event.spec:
                self._announced.add(i)
                return applied_text(entry)
        return f"intervention applied at tick {event.tick:,}: {shown(event.spec, 80)}"

    def marks(self) -> tuple[tuple[int, str], ...]:
        """The world's applied interventions as ``(tick, spec)``, in the order given: the charts' marks.
        Read again only when the world, its list, its tick or the interventions applied changed."""
        live = self.app.live
        if live is None:
            return ()
        listed = live.interventions_listed()
        if not listed:
            return ()
        key = (live.key, listed, live.tick, self.applied_events)
        if self._marks is None or self._marks[0] != key:
            self._marks = (key, live.applied_interventions())
        return self._marks[1]


__all__ = [
    "InterveneScreen",
    "Interventions",
    "applied_text",
    "scheduled_text",
    "seed_methods",
    "slow_method_refusal",
]
