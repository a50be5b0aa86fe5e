"""The six views of the terminal UI, one private module each (as Textual's own widgets: its CSS, bindings,
reactives, messages and snapshot beside it), behind this facade: Dashboard (1), Communities (2), Agents (3),
Messages (4, with its inject form), Plugins (5) and Compare (6), and the helpers that put text on screen
safely (:func:`literal`, :func:`show`). Each view repaints from a frozen snapshot of what it shows, built
by :class:`sim.live.views.WorldViews`."""

from __future__ import annotations

from dataclasses import dataclass

from textual.widgets import ContentSwitcher, Static

# The seed methods' chooser: a slow method chooses the seeds of a message from the inject form through this
# name, looked up here when it chooses (``tui.inject``), so a test can hold it while it watches the form.
from sim.live.frontend import method_seeds

from ._agents import AgentsView, SearchBox
from ._base import View, bar, file_stem, fmt_int, literal, literal_lines, show
from ._communities import CommunitiesView
from ._compare import CompareView
from ._dashboard import DashboardView
from ._inject_form import InjectForm
from ._messages import MessagesView
from ._plugins import PluginsView


@dataclass
class ViewSet:
    """The app's six views as mounted (kept: its timers reach them while a modal screen is on top), the
    switcher that shows one of them, and the line shown while the world opens."""

    switcher: ContentSwitcher
    loading: Static
    dashboard: DashboardView
    communities: CommunitiesView
    agents: AgentsView
    messages: MessagesView
    plugins: PluginsView
    compare: CompareView

    #: The views by name, in the order of their keys (1-6).
    NAMES = ("dashboard", "communities", "agents", "messages", "plugins", "compare")

    @property
    def current(self) -> str | None:
        """The name of the view shown (``loading`` while the world opens)."""
        return self.switcher.current

    def by_name(self) -> dict[str, View]:
        views: dict[str, View] = {name: getattr(self, name) for name in self.NAMES}
        return views


__all__ = [
    "AgentsView",
    "CommunitiesView",
    "CompareView",
    "DashboardView",
    "InjectForm",
    "MessagesView",
    "PluginsView",
    "SearchBox",
    "View",
    "ViewSet",
    "bar",
    "file_stem",
    "fmt_int",
    "literal",
    "literal_lines",
    "method_seeds",
    "show",
]
