"""The Plugins view (5): every plugin, its status and detail; f and w choose the world's recommenders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from sim.live.frontend import NONE
from sim.live.views import PluginDetail, PluginLine, Recommenders, WorldViews

from ..recommenders import RECOMMENDER_ROLES, error_key
from ._base import View, literal, literal_lines, show


@dataclass(frozen=True)
class PluginsSnapshot:
    """Everything the Plugins view shows: every plugin, the world's recommenders (and which failed), and
    the highlighted plugin in full."""

    plugins: tuple[PluginLine, ...]
    recommenders: Recommenders
    detail: PluginDetail | None


class PluginsView(View):
    """Every plugin with its kind and status; f and w choose the world's feed and friend recommenders."""

    BINDINGS = [
        Binding("r", "reload_plugins", "Reload plugins"),
        Binding(
            "f",
            "use_for('feed')",
            "Use for feeds",
            tooltip="make the highlighted content recommender the world's feed recommender (again: off)",
        ),
        Binding(
            "w",
            "use_for('friend')",
            "Use for friends",
            tooltip="make the highlighted friend recommender the world's friend recommender (again: off)",
        ),
    ]
    DEFAULT_CSS = """
    PluginsView #social-choice { height: auto; padding: 0 1; }
    PluginsView DataTable { height: 1fr; }
    PluginsView #plugin-detail { height: 1fr; padding: 0 1; border: round $primary-darken-2; }
    """

    snapshot: reactive[PluginsSnapshot | None] = reactive(None, init=False, repaint=False)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._table_painted: Any = None
        self._highlighted: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="social-choice", markup=False)
        yield DataTable(id="plugins", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="plugin-detail"):
            yield Static(
                "Select a plugin to see its parameters (or its traceback if it failed).", id="plugin-text", markup=False
            )

    def on_mount(self) -> None:
        t = self.query_one("#plugins", DataTable)
        for key, label in (
            ("name", "name"),
            ("kind", "kind"),
            ("version", "version"),
            ("status", "status"),
            ("source", "source"),
        ):
            t.add_column(label, key=key)
        self.refresh_view()

    def fetch(self, live: WorldViews) -> None:
        self.snapshot = PluginsSnapshot(
            live.plugins.lines(),
            live.recommenders(),
            live.plugins.detail(self._highlighted) if self._highlighted is not None else None,
        )

    def watch_snapshot(self, snapshot: PluginsSnapshot | None) -> None:
        if snapshot is None:
            return
        painted = (snapshot.plugins, snapshot.recommenders)
        if painted != self._table_painted:
            self._table_painted = painted
            show(self.query_one("#social-choice", Static), self.choice_text(snapshot.recommenders))
            self.paint_table(snapshot)
        if snapshot.detail is not None:
            show(self.query_one("#plugin-text", Static), self.detail_text(snapshot.detail, snapshot.recommenders))

    def paint_table(self, snapshot: PluginsSnapshot) -> None:
        t = self.query_one("#plugins", DataTable)
        cursor = t.cursor_row
        t.clear()
        for e in snapshot.plugins:
            t.add_row(
                literal(e.name, 30),
                Text(e.kind),
                literal(e.version or "-", 12),
                self.status(e, snapshot.recommenders),
                literal(e.source, 60),
                key=e.key,
            )
        if snapshot.plugins and cursor < t.row_count:
            t.move_cursor(row=cursor)

    @staticmethod
    def choice_text(recommenders: Recommenders) -> Text:
        """The world's current recommenders, and the keys that change them."""
        t = Text()
        for setting, kind, words in RECOMMENDER_ROLES.values():
            name = recommenders.setting(setting)
            t.append(f"{words}: ", style="bold")
            t.append_text(literal(name, 30))
            if recommenders.failed(error_key(kind, name)):
                t.append(" (failed, switched off)", style="red")
            t.append("   ")
        t.append("f: feeds · w: friends (the highlighted row; again: off)", style="grey50")
        return t

    @staticmethod
    def status(e: PluginLine, recommenders: Recommenders) -> Text:
        """Loaded, failed to load, or (a recommender) in use by the world or failed while running."""
        if e.failed:
            return Text("failed", style="red")
        text = Text("loaded" if e.loaded else "not imported yet")
        for setting, kind, _words in RECOMMENDER_ROLES.values():
            if e.kind == kind and recommenders.failed(error_key(kind, e.name)):
                return Text("failed at run time", style="red")
            if e.kind == kind and recommenders.setting(setting) == e.name:
                text.append(" · in use", style="bold green")
        return text

    def highlighted_entry(self) -> PluginLine | None:
        t = self.query_one("#plugins", DataTable)
        snapshot = self.snapshot
        if t.row_count == 0 or snapshot is None:
            return None
        row_key = t.coordinate_to_cell_key(t.cursor_coordinate).row_key
        return next((e for e in snapshot.plugins if e.key == row_key.value), None)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is None or event.row_key.value is None:
            return
        self._highlighted = str(event.row_key.value)
        self.refresh_view()

    @staticmethod
    def detail_text(d: PluginDetail, recommenders: Recommenders) -> Text:
        text = Text()
        text.append_text(literal(f"{d.name} {d.version or ''} ({d.kind}) from {d.source}", None))
        text.append("\n")
        text.append_text(literal(d.description or "", None))
        for k, p in d.params:
            text.append("\n  ")
            text.append_text(
                literal(f"{k}: {p['type']} = {p['default']!r}  [{p['min']}, {p['max']}]  {p['help']}", None)
            )
        for note in d.notes:
            text.append_text(literal(f"\nnote: {note}", None))
        if d.kind == "recommender":
            text.append("\n\npress f to make it the world's feed recommender (again: off)", style="grey50")
        elif d.kind == "friend-recommender":
            text.append("\n\npress w to make it the world's friend recommender (again: off)", style="grey50")
        if d.error:
            text.append("\n\nfailed to load:\n", style="bold red")
            text.append_text(literal_lines(d.traceback or d.error))
        key = error_key(d.kind, d.name)
        if d.kind in ("recommender", "friend-recommender") and recommenders.failed(key):
            text.append("\n\nfailed while the simulation ran, and was switched off:\n", style="bold red")
            text.append_text(literal_lines(recommenders.failure(key)))
        return text

    def action_reload_plugins(self) -> None:
        self.agora.plugin_actions.reload()

    async def action_use_for(self, role: str) -> None:
        await self.use_highlighted(role)

    async def use_highlighted(self, role: str) -> None:
        """Make the highlighted recommender the world's ``role`` ("feed" or "friend") recommender; when it
        already is (and has not failed), turn that role off. Anything else highlighted: a warning."""
        app = self.agora
        self.refresh_view()  # the world's recommenders now
        setting, kind, words = RECOMMENDER_ROLES[role]
        entry = self.highlighted_entry()
        key = "f" if role == "feed" else "w"
        if entry is None or entry.kind != kind or self.snapshot is None:
            other = {"recommender": "f", "friend-recommender": "w"}.get(entry.kind if entry is not None else "")
            hint = (
                f" ({literal(entry.name, 30).plain} is a {entry.kind}: press {other})"
                if entry is not None and other
                else ""
            )
            app.notify(
                f"{key} makes the highlighted {'content' if role == 'feed' else 'friend'} recommender the world's "
                f"{words}: highlight one first{hint}",
                severity="warning",
                markup=False,
            )
            return
        recommenders = self.snapshot.recommenders
        in_use = recommenders.setting(setting) == entry.name and not recommenders.failed(error_key(kind, entry.name))
        # Choosing the one in use turns the role off; choosing one that failed gives it another try.
        name = NONE if in_use else entry.name
        await app.plugin_actions.set_recommender(role, name)
        self.refresh_view()
