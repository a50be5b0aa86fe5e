"""The tree screen: one session's adoption forest drawn as text, generation by generation (the t key of
the Messages view). The text is built headless by ``sim.live.cascadeview.tree_lines`` and trimmed to the
screen, with counts of what was cut; it is drawn again when the terminal is resized."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from sim.live.cascadeview import measures_line, tree_lines
from sim.live.frontend import Forest


class CascadeTreeScreen(ModalScreen[None]):
    """A session's forest: a title (the session, its model and message, shown literally), its measures,
    then each generation's agents under their parents, as many as the screen holds. Escape closes it."""

    BINDINGS = [Binding("escape,q,t", "close", "Close")]
    DEFAULT_CSS = """
    CascadeTreeScreen { align: center middle; }
    CascadeTreeScreen > Vertical {
        width: 100%; height: 100%; max-width: 140; border: thick $primary; background: $surface; padding: 0 1;
    }
    CascadeTreeScreen #tree-title { height: auto; text-style: bold; }
    CascadeTreeScreen #tree-measures { height: auto; color: $text-muted; }
    CascadeTreeScreen #tree-text { height: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    CascadeTreeScreen #tree-hint { height: 1; color: $text-muted; }
    """

    def __init__(self, title: Text, forest: Forest, ids: np.ndarray) -> None:
        """
        Args:
            title: what the screen is of (a session, its model and its message), as a ``Text``: never parsed
                as markup.
            forest: the session's forest (``sim.live.frontend.Forest``).
            ids: the world's original agent ids (agents are named by them).
        """
        super().__init__()
        self.title_text = title
        self.forest = forest
        self.ids = ids
        #: The lines drawn last (for a reader that wants the text, not the screen).
        self.lines: list[str] = []
        self._drawn_for: tuple[int, int] | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, id="tree-title", markup=False)
            yield Static(
                measures_line(self.forest.measures()) + " · agents by original id", id="tree-measures", markup=False
            )
            yield Static("", id="tree-text", markup=False)
            yield Static("escape: close", id="tree-hint", markup=False)

    def on_mount(self) -> None:
        self.call_after_refresh(self.draw)

    def on_resize(self, _event: Any) -> None:
        self.call_after_refresh(self.draw)

    def draw(self) -> None:
        """Lay the forest out in the room the text has now (again only when that room changed)."""
        body = self.query_one("#tree-text", Static)
        width = body.content_size.width or max(30, self.app.size.width - 6)
        height = body.content_size.height or max(4, self.app.size.height - 8)
        if self._drawn_for == (width, height):
            return
        self._drawn_for = (width, height)
        self.lines = tree_lines(self.forest, self.ids, width, height)
        body.update(Text("\n".join(self.lines)))

    def action_close(self) -> None:
        self.dismiss(None)
