"""The session chart by group (the g key, issue 77): a small screen asks for one word of ``agora run --by``
(``layer``, a category such as ``SEX``, bands of a number such as ``AGE:0,5,15,65``), and the Dashboard's session
chart then draws the session's new infections per tick in each group (``new@household``, ``new@AGE:5-14``...),
which sum to its ``new`` at every tick (``sim.analysis.bygroup``). An empty line goes back to the states.

A word the world cannot group by (a column it lacks, a number without bands, ``layer`` on a world of one graph) is
one line in the notices, and the screen stays open with the word typed: nothing changes on the chart. One
grouping per world; it is kept in this run of the UI.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from sim.errors import AgoraError
from sim.live.frontend import BY_SYNTAX, By, parse_by, shown

from .host import AppHost


class GroupingScreen(ModalScreen[By | None]):
    """Ask for a grouping (:data:`BY_SYNTAX`): dismissed with the grouping (an empty line: ``By("")``, the states
    again), or None when cancelled. ``check`` says what is wrong with a word (None: it can be drawn); a word it
    refuses keeps the screen open, filled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    GroupingScreen { align: center middle; }
    GroupingScreen > Vertical {
        width: 90; max-width: 100%; height: auto; border: thick $primary; background: $surface; padding: 1 2;
    }
    GroupingScreen #grouping-hint { height: auto; color: $text-muted; }
    """

    def __init__(self, text: str, columns: str, check: Callable[[By], str | None]) -> None:
        super().__init__()
        self.text, self.columns, self.check = text, columns, check

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("New infections per tick by group, on the session chart (empty: its states again):")
            yield Input(value=self.text, placeholder="e.g. layer, or AGE:0,5,15,65", id="grouping-by")
            yield Static(
                f"{BY_SYNTAX}.\nThis world: {self.columns}.\nenter: draw · escape: cancel",
                id="grouping-hint",
                markup=False,
            )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        word = event.value.strip()
        if not word:
            self.dismiss(By(""))
            return
        try:
            by = parse_by(word)
        except AgoraError as exc:
            self.app.notify(str(exc), severity="error", markup=False)
            return
        wrong = self.check(by)
        if wrong is not None:
            self.app.notify(wrong, severity="error", markup=False)
            return
        self.dismiss(by)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Grouping:
    """The grouping of each world's session chart (by the views' world key).

    Args:
        app: the app (its live world, its screens and notifications).
    """

    def __init__(self, app: AppHost) -> None:
        self.app = app
        self._by: dict[int, By] = {}

    def by_for(self, world: int) -> By | None:
        """The grouping on world ``world``'s session chart (None: its states)."""
        return self._by.get(world)

    def ask(self) -> None:
        """The g key: ask for a grouping (the current one offered again)."""
        live = self.app.live
        if live is None:
            return
        current = self._by.get(live.key)
        world = self.app.controller.world if self.app.controller is not None else None
        columns = "no columns"
        if world is not None:
            named = (["layer"] if world.layers else []) + [
                f"{name} ({spec.get('kind')})" for name, spec in world.attributes.items()
            ]
            columns = shown(", ".join(named) or "no layers and no attributes", 300)
        self.app.push_screen(
            GroupingScreen(current.text if current is not None else "", columns, self._check), self.chosen
        )

    def _check(self, by: By) -> str | None:
        """What is wrong with grouping the live world by ``by`` (None: nothing)."""
        live = self.app.live
        if live is None:
            return "no world is open"
        try:
            live.sessions.check_by(by)
        except AgoraError as exc:
            return str(exc)
        return None

    def chosen(self, by: By | None) -> None:
        """Draw the chart by ``by`` (an empty column: by state again; None: cancelled)."""
        live = self.app.live
        if by is None or live is None:
            return
        if not by.column:
            if self._by.pop(live.key, None) is not None:
                self.app.notify("the session chart shows its states again", markup=False)
        else:
            self._by[live.key] = by
            self.app.notify(f"the session chart shows new infections per tick by {by.text}", markup=False)
        self.app.refresh_ui()


__all__ = ["Grouping", "GroupingScreen"]
