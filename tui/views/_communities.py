"""The Communities view (2): the communities table, its picture and the detail of the highlighted one.

On a world of people (issue 59) two selects above the table group the agents by a category attribute instead of
the communities (one row per label, shown as it is) and count on the edges of one contact layer only; both are
hidden on a world with neither."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Input, Select, Static
from textual.widgets.data_table import ColumnKey

from sim.errors import AgoraError
from sim.live.frontend import isolated_text, parse_by
from sim.live.views import AdoptionShares, CommunityRow, CommunityTableView, WorldViews

from ._base import View, bar, fmt_int, literal, show


@dataclass(frozen=True)
class CommunityDetail:
    """The highlighted community (or group): its row, its top influencers named (name, original id) and its
    largest flows to other communities (``(dst, edges)``: the id, or a group's label, as text)."""

    row: CommunityRow
    influencers: tuple[tuple[str, int], ...]
    flows: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class CommunitiesSnapshot:
    """Everything the Communities view shows: what the ids are (the caption), the rows as filtered and
    sorted, whether any community is known at all, the line about agents in no community, and the detail
    of the highlighted community."""

    caption: str
    rows: tuple[CommunityRow, ...]
    known: bool
    unassigned: str
    detail: CommunityDetail | None


#: The attribute a column of the table sorts by (the interests column sorts by id).
SORT_BY = {"id": "id", "size": "size", "density": "density", "interests": "id", "top": "top", "share": "share"}
#: The value of the grouping select for the detected (or planted) communities, and of the layer select for every
#: edge (a category or a layer is a plain name, never empty).
COMMUNITIES = ""
EVERY_LAYER = ""


class CommunitiesView(View):
    DEFAULT_CSS = """
    CommunitiesView #comm-filter { margin: 0 1; }
    CommunitiesView #comm-choose { height: auto; }
    CommunitiesView #comm-choose Select { width: 1fr; margin: 0 1; }
    CommunitiesView #comm-bands { width: 1fr; margin: 0 1; display: none; }
    CommunitiesView DataTable { height: 1fr; }
    CommunitiesView #comm-detail { height: auto; max-height: 12; padding: 0 1; border: round $primary-darken-2; }
    CommunitiesView #comm-picture { height: auto; padding: 0 1; }
    CommunitiesView #comm-isolated { height: auto; padding: 0 1; color: $text-muted; }
    CommunitiesView #comm-caption { height: auto; padding: 0 1; color: $text-muted; }
    """

    MAX_ROWS = 200

    snapshot: reactive[CommunitiesSnapshot | None] = reactive(None, init=False, repaint=False)

    class TableCounted(Message):
        """The communities table, counted off the event loop (for the world and analysis of its key)."""

        def __init__(self, table: CommunityTableView) -> None:
            super().__init__()
            self.table = table

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.sort_key = "size"
        self.sort_reverse = True
        self.filter_text = ""
        self.selected: int | None = None
        #: The table counted last (None: none yet), and the key of the count under way.
        self._table: CommunityTableView | None = None
        self._counting: tuple[Any, ...] | None = None
        #: How the selected session spread over the communities (counted last), and the count under way.
        self._shares: AdoptionShares | None = None
        self._shares_pending: tuple[Any, ...] | None = None
        self._rows_shown: Any = None
        self._fetched_from: Any = None
        #: The category the agents are grouped by (None: the communities) and the layer counted (None: all).
        self.group_by: str | None = None
        self.count_layer: str | None = None
        #: The categories and layers the selects offer (for the world they were filled for).
        self._choices: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None = None

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: community id, interest or influencer id", id="comm-filter")
        with Horizontal(id="comm-choose"):
            yield Select([(Text("communities"), COMMUNITIES)], id="comm-by", allow_blank=False, prompt="group by")
            yield Select([(Text("every layer"), EVERY_LAYER)], id="comm-layer", allow_blank=False, prompt="layer")
            yield Input(placeholder="bands' lower bounds: 0,5,15,65 (enter)", id="comm-bands")
        # What the ids are: the world's own communities, or detected ones (and how they were numbered).
        yield Static(id="comm-caption", markup=False)
        yield DataTable(id="comm-table", cursor_type="row", zebra_stripes=True)
        # Agents in no community (isolated after detection): one line, never rows of the table.
        yield Static(id="comm-isolated", markup=False)
        yield Static(id="comm-picture", markup=False)
        yield Static(id="comm-detail", markup=False)

    def on_mount(self) -> None:
        table = self.query_one("#comm-table", DataTable)
        for key, label in (
            ("id", "community"),
            ("size", "size"),
            ("density", "density"),
            ("interests", "dominant interests"),
            ("top", "top influencer"),
            ("share", "adoption share"),
            ("first", "first reached"),
        ):
            table.add_column(label, key=key)
        self.query_one("#comm-choose").display = False

    def fill_choices(self, live: WorldViews) -> None:
        """Offer the world's categories, number attributes (in bands) and layers in the selects (hidden when it
        has none); a choice the world no longer has goes back to the communities, every edge."""
        choices = (live.communities.categories(), live.communities.numbers(), live.communities.layers())
        if choices == self._choices:
            return
        self._choices = choices
        categories, numbers, layers = choices
        if self.group_by not in categories and (self.group_by or "").partition(":")[0] not in numbers:
            self.group_by = None
        if self.count_layer not in layers:
            self.count_layer = None
        by = self.query_one("#comm-by", Select)
        by.set_options(
            [(Text("communities"), COMMUNITIES)]
            + [(Text(f"category {c}"), c) for c in categories]
            + [(Text(f"{c} in bands"), f"{c}:") for c in numbers]
        )
        by.value = self._choice(self.group_by)
        by.display = bool(categories or numbers)
        lay = self.query_one("#comm-layer", Select)
        lay.set_options([(Text("every layer"), EVERY_LAYER)] + [(Text(f"layer {x}"), x) for x in layers])
        lay.value = self.count_layer or EVERY_LAYER
        lay.display = bool(layers)
        self.query_one("#comm-choose").display = bool(categories or numbers or layers)

    @staticmethod
    def _choice(group_by: str | None) -> str:
        """The grouping select's value for ``group_by`` (a number's bands: ``AGE:``)."""
        if group_by is None:
            return COMMUNITIES
        return group_by.partition(":")[0] + ":" if ":" in group_by else group_by

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id not in ("comm-by", "comm-layer"):
            return
        event.stop()
        value: str | None = event.value if isinstance(event.value, str) and event.value else None
        if event.select.id == "comm-by":
            if value == self._choice(self.group_by):
                return
            bands = self.query_one("#comm-bands", Input)
            live = self.agora.live
            if value is not None and value.endswith(":") and live is not None:  # a number: its bands, to edit
                bands.value = live.communities.default_bands(value[:-1])
                value = value + bands.value
            bands.display = value is not None and ":" in value
            self.group_by_chosen(value)
        else:
            if value == self.count_layer:
                return
            self.count_layer = value
        self._shares = None
        self.refresh_view()

    def group_by_chosen(self, value: str | None) -> None:
        """Group the table by ``value`` (None: the communities), its id column named after it."""
        self.group_by = value
        self.selected = None
        table = self.query_one("#comm-table", DataTable)
        label = "community" if value is None else f"{value.partition(':')[0]} band" if ":" in value else value
        table.columns[ColumnKey("id")].label = Text(label)
        table.refresh()
        self._shares = None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """New bands typed: the table grouped by them; bounds that are none is one line, the field kept."""
        if event.input.id != "comm-bands" or self.group_by is None:
            return
        event.stop()
        wanted = f"{self.group_by.partition(':')[0]}:{event.value.strip()}"
        try:
            parse_by(wanted)
        except AgoraError as exc:
            self.app.notify(str(exc), severity="error", markup=False)
            return
        self.group_by_chosen(wanted)
        self.refresh_view()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "comm-filter":
            self.filter_text = event.value.strip().lower()
            self.refresh_view()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, key != "id"
        self.refresh_view()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            self.selected = int(event.row_key.value)
            self.refresh_view()

    # -- the snapshot -------------------------------------------------------------------------------------
    def world_changed(self) -> None:
        """A world became live (or its communities were detected again): what was counted is forgotten."""
        self._table = None
        self._shares = None
        self._fetched_from = None
        self._choices = None

    def fetch(self, live: WorldViews) -> None:
        self.fill_choices(live)
        table = self.counted_table(live)
        shares = self.adoption(live)
        # What the snapshot is built from: the same, and it is the same (rows are not merged and sorted again).
        source = (
            table.key if table is not None else None,
            shares.key if shares is not None else None,
            self.filter_text,
            self.sort_key,
            self.sort_reverse,
            self.selected,
        )
        if source == self._fetched_from and self.snapshot is not None:
            return
        self._fetched_from = source
        rows = list(table.rows) if table is not None else []
        if shares is not None:
            rows = [shares.apply(r) for r in rows]
        by_id = {r.id: r for r in rows}
        shown_rows = self.sorted_rows(rows)
        detail = None
        row = by_id.get(self.selected) if self.selected is not None else None
        if row is not None and table is not None:
            detail = CommunityDetail(
                row,
                live.communities.influencers(row.top_influencers),
                tuple((self.name_of(dst, by_id), edges) for src, dst, edges in table.flows if src == row.id)[:8],
            )
        self.snapshot = CommunitiesSnapshot(
            caption=self.caption(live, table),
            rows=tuple(shown_rows),
            known=bool(rows),
            unassigned=self.unassigned_line(live, table),
            detail=detail,
        )

    @staticmethod
    def name_of(community: int, by_id: dict[int, CommunityRow]) -> str:
        """A community's id, or a group's label, as text."""
        row = by_id.get(community)
        return row.label if row is not None and row.label is not None else str(community)

    def counted_table(self, live: WorldViews) -> CommunityTableView | None:
        """The communities (or groups) table of the world as it is, counted off the event loop when what it
        counts changes; None until the count is ready."""
        key = live.communities.key(self.group_by, self.count_layer)
        if self._table is not None and self._table.key == key:
            return self._table
        if self._counting != key:
            self._counting = key
            self.count_table(live, key)
        return None

    @work(exclusive=True, group="community-table")
    async def count_table(self, live: WorldViews, key: tuple[Any, ...]) -> None:
        try:
            table = await asyncio.to_thread(live.communities.count, key)
        except AgoraError as exc:  # the world changed under the choice: said, and counted again at the next refresh
            self._counting = None
            self.app.notify(str(exc), severity="warning", markup=False)
            return
        self.post_message(self.TableCounted(table))

    def on_communities_view_table_counted(self, message: TableCounted) -> None:
        """The table worker's result: kept, and shown at once when the view is."""
        self._table = message.table
        self._counting = None
        if self.display and self.is_attached:
            self.refresh_view()

    def adoption(self, live: WorldViews) -> AdoptionShares | None:
        """How the selected (or first running) session spread over the communities, counted in a worker
        thread once per round (None until the first count is ready; meanwhile the figures of the session's
        previous round stay on screen)."""
        key = live.communities.adoption_key(self.agora.selected_session_id, self.group_by)
        if key is None:
            return None
        cached = self._shares
        if cached is None or cached.key != key:
            if self._shares_pending is None:  # one count at a time; the next refresh asks for the newest round
                self._shares_pending = key
                self.count_shares(live, key)
            return cached if cached is not None and cached.key[0] == key[0] else None
        return cached

    # Not exclusive: a count is never cancelled (a cancelled worker fails whoever waits for the app's workers).
    @work(group="share-stats")
    async def count_shares(self, live: WorldViews, key: tuple[Any, ...]) -> None:
        world = live.key
        try:
            shares = await asyncio.to_thread(live.communities.count_adoption, key)
        finally:
            self._shares_pending = None
        if shares is not None and world == live.key:
            self._shares = shares

    def sorted_rows(self, rows: list[CommunityRow]) -> list[CommunityRow]:
        """``rows`` as the filter keeps them and the chosen column sorts them."""
        f = self.filter_text
        if f:
            rows = [
                r
                for r in rows
                if f == str(r.id)
                or any(f in t for t in r.interests)
                or f == str(r.top)
                or (r.label is not None and f in r.label.lower())
            ]
        if self.sort_key == "first":
            return sorted(rows, key=lambda r: r.first_tick, reverse=self.sort_reverse)
        attribute = SORT_BY.get(self.sort_key, "id")

        def value(r: CommunityRow) -> float:
            v = getattr(r, attribute)
            return -1 if v is None else float(v)

        return sorted(rows, key=value, reverse=self.sort_reverse)

    def caption(self, live: WorldViews, table: CommunityTableView | None) -> str:
        """What the community ids are: the world's own (from when it was made) or detected, and how
        detected ones were numbered."""
        on = f" · counted on the edges of layer {self.count_layer} only" if self.count_layer is not None else ""
        if self.group_by is not None:
            column, banded, bounds = self.group_by.partition(":")
            grouped = (
                f"agents grouped by {column} in bands from {bounds} (edit them above, enter): one row per band"
                if banded
                else f"agents grouped by category {self.group_by}: one row per label"
            )
            return (
                grouped
                + (f"{on} (top influencers by that layer's PageRank)" if on else "")
                + " · shown only: the world's communities stay as they are"
            )
        return self.communities_caption(live, table) + (f"{on} (top influencers by its PageRank)" if on else "")

    @staticmethod
    def communities_caption(live: WorldViews, table: CommunityTableView | None) -> str:
        """What the community ids are (see :meth:`caption`)."""
        rec = live.communities.record()
        if not rec and table is not None and not table.rows:
            return "no communities known yet: c detects them"
        if not rec:
            return (
                "the world's own communities (from when it was made). c detects communities: a detected one "
                "keeps the id of the community most of its members are in here"
            )
        words = f"communities detected ({rec.get('method', '?')}) at tick {int(rec.get('tick', 0)):,}"
        if rec.get("ids") == "kept" and (rec["kept"] or rec["first_new"]):
            new = int(rec["count"]) - int(rec["kept"])
            return f"{words}: each keeps the id of the community most of its members were in before; " + (
                f"{new:,} new, numbered from {int(rec['first_new']):,}" if new else "none is new"
            )
        return f"{words}: numbered by size (0 the largest)"

    @staticmethod
    def unassigned_line(live: WorldViews, table: CommunityTableView | None) -> str:
        """The line under the communities table about agents in no community (empty when there are none):
        after detection they are the isolated agents, which are not communities and have no row; grouped by a
        category, the agents with no value."""
        if table is None or not table.unassigned or not table.rows:
            return ""
        n = table.unassigned
        if table.key[3] is not None:
            column = str(table.key[3]).partition(":")[0]
            return f"{n:,} {'agent has' if n == 1 else 'agents have'} no value of {column} (missing): in no group"
        if live.communities.detected():
            return f"{isolated_text(n)}: they belong to no community (community -1) and are not rows of this table"
        return f"{n:,} agents have no community"

    # -- painting -----------------------------------------------------------------------------------------
    def watch_snapshot(self, snapshot: CommunitiesSnapshot | None) -> None:
        if snapshot is None:
            return
        show(self.query_one("#comm-caption", Static), snapshot.caption)
        rows = snapshot.rows
        shown_rows = (rows[: self.MAX_ROWS], len(rows))
        if shown_rows != self._rows_shown:
            self._rows_shown = shown_rows
            self.paint_table(rows)
            show(self.query_one("#comm-picture", Static), self.picture(rows))
            line = self.query_one("#comm-isolated", Static)
            show(line, snapshot.unassigned)
            line.display = bool(snapshot.unassigned)
        detail = self.query_one("#comm-detail", Static)
        if not rows:
            show(
                detail,
                "No communities known for this world yet: press c to detect them."
                if not snapshot.known and self.group_by is None
                else "No agent has a value of this category."
                if not snapshot.known
                else "No community matches the filter.",
            )
        elif snapshot.detail is not None:
            show(detail, self.detail_text(snapshot.detail))

    def paint_table(self, rows: tuple[CommunityRow, ...]) -> None:
        table = self.query_one("#comm-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for r in rows[: self.MAX_ROWS]:
            table.add_row(
                literal(r.label, 40) if r.label is not None else str(r.id),
                fmt_int(r.size),
                f"{r.density:.4f}" if r.density is not None else "-",
                literal(", ".join(r.interests), 40),
                str(r.top) if r.top is not None else "-",
                bar(r.share, 10) if r.share is not None else Text("-"),
                (f"tick {r.first_tick}" + (" (home)" if r.home else "")) if r.first_tick >= 0 else "-",
                key=str(r.id),
            )
        if rows and cursor < table.row_count:
            table.move_cursor(row=cursor)

    @staticmethod
    def picture(rows: tuple[CommunityRow, ...]) -> Text:
        """A compact picture: one block per community (largest first), coloured by adoption share."""
        t = Text("sizes × adoption: ")
        for r in sorted(rows, key=lambda r: -r.size)[:60]:
            share = r.share or 0.0
            style = "grey39" if share == 0 else ("yellow" if share < 0.2 else ("dark_orange" if share < 0.5 else "red"))
            blocks = max(1, min(6, int(np.log10(max(r.size, 1))) + 1))
            t.append("■" * blocks, style=style)
            t.append(" ")
        return t

    @staticmethod
    def detail_text(detail: CommunityDetail) -> Text:
        r = detail.row
        t = Text(f"community {r.id}")
        if r.label is not None:
            t = Text("group ")
            t.append_text(literal(r.label, 60))
        t.append(f": {r.size:,} agents")
        if r.density is not None:
            t.append(f", internal density {r.density:.4f}")
        t.append("\ndominant interests: " + ", ".join(r.interests))
        t.append("\ntop influencers: ")
        for j, (name, oid) in enumerate(detail.influencers):
            if j:
                t.append(", ")
            t.append_text(literal(f"{name} ({oid})", 60))
        if detail.flows:
            t.append(f"\nedges to other {'groups' if r.label is not None else 'communities'}: ")
            t.append(", ".join(f"→{dst}: {edges:,}" for dst, edges in detail.flows))
        if r.share is not None:
            t.append(f"\nadoption share of the selected message: {100 * r.share:.1f} %")
            if r.home:
                t.append(" (its home community: where its seeds are)")
            if r.first_tick >= 0:
                t.append(f", first reached at tick {r.first_tick}")
        return t
