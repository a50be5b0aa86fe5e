"""The typed messages by which the app's workers hand their results back (Textual messages).

A worker does its long part (opening a world, reading a snapshot, detecting communities) off the UI's
critical path and posts one of these; the handler (``on_<name>`` of the app or a view) applies it on the
event loop. Nothing here names the app, the views or the screens: any of them may post or handle them.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class WorldOpened(Message):
    """The world is open: ``controller`` (a :class:`sim.live.controller.WorldController`) drives it."""

    def __init__(self, controller: Any) -> None:
        super().__init__()
        self.controller = controller


class CommunitiesCounted(Message):
    """The communities table of the world as it was when ``key`` was read: its rows (one per community
    with members), the edges between communities (the largest flows) and the agents in no community."""

    def __init__(self, key: Any, rows: list[dict[str, Any]], flows: list[dict[str, int]], unassigned: int) -> None:
        super().__init__()
        self.key, self.rows, self.flows, self.unassigned = key, rows, flows, unassigned


class SnapshotSaved(Message):
    """The world was saved as the snapshot at ``path`` (at ``tick``, ``size_bytes`` long)."""

    def __init__(self, path: str, tick: int, size_bytes: int) -> None:
        super().__init__()
        self.path, self.tick, self.size_bytes = path, tick, size_bytes


class SnapshotLoaded(Message):
    """The snapshot at ``path`` replaced the world (now at ``tick``)."""

    def __init__(self, path: str, tick: int) -> None:
        super().__init__()
        self.path, self.tick = path, tick


class CommunitiesDetected(Message):
    """Communities were detected: ``line`` says how many and how good, ``ids`` how they were numbered."""

    def __init__(self, line: str, ids: str) -> None:
        super().__init__()
        self.line, self.ids = line, ids


class ChartExported(Message):
    """The chart shown was written to ``paths`` (PNG and SVG)."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__()
        self.paths = paths


class WorkFailed(Message):
    """A long action failed: ``text`` says why in one sentence (``paths``: files it names, each shown whole
    on a line of its own); the world is as it was. ``busy``: the action had made the app busy (a save, a
    load, an analysis), which ends with it."""

    def __init__(
        self, text: str, *, paths: list[str] | None = None, timeout: float | None = None, busy: bool = True
    ) -> None:
        super().__init__()
        self.text, self.paths, self.timeout, self.busy = text, paths, timeout, busy
