"""What the views ask of the app they are mounted in (typing Protocols): what the world shows through
(:class:`~sim.live.views.WorldViews`), the state that screens share, and the few parts of the app a view
hands a request to. The views name these, never ``tui.app`` nor the parts' own modules: the app imports the
views, and nothing the views import imports them back."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover - names for annotations only
    from textual.screen import Screen

    from sim.engine.requests import Inject
    from sim.live.views import WorldViews


class Notices(Protocol):
    """How the app says what became of a long action."""

    def paths(self, what: str, paths: list[str], *, severity: str = ..., timeout: float | None = None) -> None:
        """Say ``what`` and quote ``paths``, each whole on a line of its own."""

    def failed(self, text: str, *, paths: list[str] | None = None, timeout: float | None = None) -> None:
        """Say why an action failed (an error notification; ``paths`` quoted whole)."""

    def log(self, text: str) -> None:
        """A line in the Dashboard's log."""


class Pace(Protocol):
    def rate_text(self) -> str:
        """The measured tick rate as the header and the dashboard show it."""


class Resources(Protocol):
    """The app's process: its memory and CPU, sampled once a second."""

    rss_mb: float
    cpu_percent: float
    history: deque[float]
    samples: int


class InjectRequester(Protocol):
    """Who asked for a message (the Messages view): told what became of it."""

    def failed(self, text: str) -> None:
        """Refused, in one sentence; nothing is injected."""

    def set_choosing(self, choosing: str | None) -> None:
        """A slow seed method is choosing the seeds (``METHOD:K``), or has finished (None)."""

    def clear_text(self) -> None:
        """The message's text is taken: its field is free again."""

    def injected(self, clear: bool) -> None:
        """Injected (its session selected); ``clear``: empty the message's field."""


class Injection(Protocol):
    """Messages injected, and sessions cancelled, from the UI."""

    def submit(self, request: Inject, requester: InjectRequester) -> None:
        """Inject what the inject form asks for (the value it built)."""

    def cancel(self, session_id: int) -> None:
        """Cancel a queued or running session."""


class PluginActions(Protocol):
    """The plugins: reloaded, and the world's recommenders chosen."""

    def reload(self) -> None:
        """Import the user's plugins again."""

    async def set_recommender(self, role: str, name: str) -> bool:
        """Make ``name`` the world's ``role`` (``"feed"``, ``"friend"``) recommender; whether it changed."""


class Forecasting(Protocol):
    """The live world's forecasts as the views read them."""

    def latest_for(self, world: int, session: int | None) -> Any:
        """The latest finished forecast of ``session`` (``tui.forecast.ForecastView``; None: none)."""


class Observing(Protocol):
    """The observed series on the charts, as the Dashboard reads them."""

    def view_for(self, world: int) -> Any:
        """The observed series on world ``world``'s chart (``tui.observed.ObservedView``; None: none)."""


class Grouping(Protocol):
    """The session chart's grouping, as the Dashboard reads it."""

    def by_for(self, world: int) -> Any:
        """The grouping on world ``world``'s session chart (``sim.live.frontend.By``; None: by state)."""


class AgoraHost(Protocol):
    """The app as the views see it (``self.app`` of a view)."""

    #: What the views show of the live world (None before one is open).
    live: WorldViews | None
    #: The session chosen in the Messages view (or injected last): the one the other views show.
    selected_session_id: int | None
    #: The tick rate as the latest refresh read it (the header and the dashboard show this one value).
    shown_rate: str

    @property
    def resources(self) -> Resources: ...
    @property
    def pace(self) -> Pace: ...
    @property
    def notices(self) -> Notices: ...
    @property
    def injection(self) -> Injection: ...
    @property
    def plugin_actions(self) -> PluginActions: ...
    @property
    def forecasting(self) -> Forecasting: ...
    @property
    def observing(self) -> Observing: ...
    @property
    def grouping(self) -> Grouping: ...

    def applied_interventions(self) -> tuple[tuple[int, str], ...]:
        """The world's applied interventions as ``(tick, spec)``: the charts' marks."""

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = True,
        limit: int = ...,
    ) -> None: ...
    def push_screen(self, screen: Screen[Any]) -> Any: ...
