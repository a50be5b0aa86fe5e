"""The six views of the terminal UI, one private module each (as Textual's own widgets: its CSS, bindings,
reactives, messages and snapshot beside it), behind this facade: Dashboard (1), Communities (2), Agents (3),
Messages (4, with its inject form), Plugins (5) and Compare (6), and the helpers that put text on screen
safely (:func:`literal`, :func:`show`). Each view repaints from a frozen snapshot of what it shows, built
by :class:`sim.live.views.WorldViews`.

The views are one table (:data:`VIEWS`): the app mounts them, binds their keys, offers them in the command
palette and finds their search boxes from it. A new view is its module, its row here and its attribute of
:class:`ViewSet` (issue 74; before: six places in four files)."""

from __future__ import annotations

from collections.abc import Callable
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


@dataclass(frozen=True)
class ViewEntry:
    """One view: its name (the widget's id), its class, its key and the footer's label for it, its command
    palette title and help, the box ``/`` focuses in it (``find``) and the widget that takes the focus when it
    is shown (``focus``; none: the app's keys)."""

    name: str
    cls: type[View]
    key: str
    label: str
    title: str
    help: str
    find: str | None = None
    focus: str | None = None


#: The views, in the order of their keys.
VIEWS = (
    ViewEntry(
        "dashboard", DashboardView, "1", "Dashboard", "View: dashboard", "Show the dashboard (metrics and charts)"
    ),
    ViewEntry(
        "communities",
        CommunitiesView,
        "2",
        "Communities",
        "View: communities",
        "Show the communities table",
        find="#comm-filter",
    ),
    # One opens Agents to find an agent: what is typed (an id: digits) goes into its search box, not to the
    # view keys; escape gives the keys back, / returns to the box.
    ViewEntry(
        "agents",
        AgentsView,
        "3",
        "Agents",
        "View: agents",
        "Show the agents view (find an agent by id or name)",
        find="#agent-query",
        focus="#agent-query",
    ),
    ViewEntry(
        "messages",
        MessagesView,
        "4",
        "Messages",
        "View: messages",
        "Show the messages view (inject, sessions and their states)",
        find="#msg-text",
    ),
    # Its keys (r, f, w) act on the highlighted row: the table takes the focus so they work at once.
    ViewEntry(
        "plugins",
        PluginsView,
        "5",
        "Plugins",
        "View: plugins",
        "Show the plugins view (models and recommenders)",
        focus="#plugins",
    ),
    ViewEntry(
        "compare", CompareView, "6", "Compare", "View: compare sessions", "Show the sessions' reach side by side"
    ),
)


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
    NAMES = tuple(entry.name for entry in VIEWS)

    @classmethod
    def mounted(cls, switcher: ContentSwitcher, loading: Static, query: Callable[[type[View]], View]) -> ViewSet:
        """The views as mounted, each found by ``query`` (the app's ``query_one``) from its class."""
        return cls(switcher, loading, **{entry.name: query(entry.cls) for entry in VIEWS})  # type: ignore[arg-type]

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
    "VIEWS",
    "View",
    "ViewEntry",
    "ViewSet",
    "bar",
    "file_stem",
    "fmt_int",
    "literal",
    "literal_lines",
    "method_seeds",
    "show",
]
