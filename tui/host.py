"""What the app's parts (saving and loading, running, interventions, injection, plugins, the world's link)
ask of the app that holds them: a typing Protocol, so that no part imports ``tui.app`` (which imports them).

The views see less of the app (:class:`tui.protocol.AgoraHost`); a part sees the controller too, since
talking to it is what a part is for."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover - names for annotations only
    from textual.screen import Screen

    from sim.live.controller import WorldController
    from sim.live.views import WorldViews

    from .protocol import Notices
    from .rate import TickRate
    from .views import ViewSet


class AppHost(Protocol):
    """The app as its parts see it."""

    #: The live world (None until it is open): every world operation is the controller's.
    controller: WorldController | None
    #: What the views show of it.
    live: WorldViews | None
    #: A long action under way (saving, loading, detecting communities), shown in the header.
    busy: str | None
    selected_session_id: int | None
    #: The pace asked for (an index into ``tui.pace.SPEEDS``), and the n/N presses acted on.
    speed_index: int
    step_requests: int
    tick_rate: TickRate
    #: Set once the first world is shown.
    ready: asyncio.Event
    views: ViewSet

    @property
    def notices(self) -> Notices: ...
    @property
    def screen(self) -> Screen[Any]: ...

    def action_view(self, name: str) -> None: ...
    def refresh_ui(self) -> None: ...
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
    def push_screen(self, screen: Any, callback: Any = ...) -> Any: ...
    def run_worker(self, work: Any, *, group: str = ..., exclusive: bool = ...) -> Any: ...
    def exit(self, result: Any = ..., return_code: int = ..., message: Any = ...) -> None: ...
