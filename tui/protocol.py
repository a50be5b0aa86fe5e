"""What the views ask of the app they are mounted in (a typing Protocol): the app's state that screens
share, and the few actions a view starts. The views name this, never ``tui.app``: the app imports the
views, and nothing imports the app back."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover - names for annotations only
    from textual.screen import Screen

    from sim.core.world import World
    from sim.engine.simulation import Simulation
    from sim.live.controller import WorldController, WorldSnapshot
    from sim.model.registry import Registry


class AgoraHost(Protocol):
    """The app as the views see it (``self.app`` of a view)."""

    controller: WorldController | None
    selected_session_id: int | None
    registry_version: int
    rss_mb: float
    cpu_percent: float
    rss_history: deque[float]
    rss_samples: int
    shown_rate: str

    @property
    def sim(self) -> Simulation: ...
    @property
    def world(self) -> World: ...
    @property
    def registry(self) -> Registry: ...

    def world_snapshot(self) -> WorldSnapshot: ...
    def applied_interventions(self) -> tuple[tuple[int, str], ...]: ...
    def rate_text(self) -> str: ...
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
    async def set_recommender(self, role: str, name: str) -> bool: ...
    def action_reload_plugins(self) -> None: ...
