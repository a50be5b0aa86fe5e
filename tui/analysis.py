"""Communities detected and influence ranked from the UI (c): the controller's analysis runs off the event
loop; the Communities view counts its table again, and the result is said in one line."""

from __future__ import annotations

from sim.errors import AgoraError

from .host import AppHost


class Analysis:
    """Detect communities (Leiden) and rank influence (PageRank) in the live world.

    Args:
        app: the app (its controller, its ``busy`` state and its views).
    """

    def __init__(self, app: AppHost) -> None:
        self.app = app

    def detect(self) -> None:
        """Detect communities in a worker (one at a time; not while another long action runs)."""
        if self.app.controller is None or self.app.busy:
            return
        self.app.run_worker(self._detect(), group="analysis", exclusive=True)

    async def _detect(self) -> None:
        controller = self.app.controller
        if controller is None:
            return
        self.app.busy = "detecting communities"
        try:
            result = await controller.tools.analyse()  # audited there
        except AgoraError as exc:
            self.app.notices.failed(str(exc))
            return
        finally:
            self.app.busy = None
        self.app.views.communities.world_changed()
        self.app.notify(result["line"], markup=False)
        self.app.notices.log(f"{result['line']} · {result['ids']}")
