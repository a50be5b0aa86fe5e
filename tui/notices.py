"""How the app speaks: what became of a long action (a notification quoting paths, an action's failure in
one place), and the Dashboard's log. Every text goes out safe (``AgoraApp.notify``, ``sim.live.frontend.shown``)."""

from __future__ import annotations

from sim.live.frontend import shown

from .host import AppHost

NOTIFY_LIMIT = 600  # characters of a notification at most
#: Characters of a notification that quotes file paths at most: a path is never cut (PATH_MAX is 4096).
PATH_NOTIFY_LIMIT = 2 * 4096 + NOTIFY_LIMIT


class Notices:
    """The app's notifications of results and failures, and its log.

    Args:
        app: the app (its ``notify`` and its Dashboard's log).
    """

    def __init__(self, app: AppHost) -> None:
        self.app = app

    def paths(
        self, what: str, paths: list[str], *, severity: str = "information", timeout: float | None = None
    ) -> None:
        """A notification that quotes file paths: ``what`` on the first line, then each path whole on a line
        of its own (never cut; the toast is as wide as the screen allows, see ``AgoraApp.CSS``), literally."""
        self.app.notify(
            "\n".join([what, *paths]), severity=severity, timeout=timeout, markup=False, limit=PATH_NOTIFY_LIMIT
        )

    def failed(self, text: str, *, paths: list[str] | None = None, timeout: float | None = None) -> None:
        """A long action failed (a save, a load, an analysis, an export): ``text`` says why in one sentence,
        ``paths`` are the files it names; the world is as it was."""
        if paths:
            self.paths(text, paths, severity="error", timeout=timeout)
        else:
            self.app.notify(text, severity="error", markup=False, timeout=timeout, limit=PATH_NOTIFY_LIMIT)

    def log(self, text: str) -> None:
        """A line in the Dashboard's log (control characters made visible; the log never parses markup)."""
        self.app.views.dashboard.log_line(shown(text, 500))
