"""The typed messages by which the app's workers hand their results back (Textual messages).

A worker does its long part (opening a world, reading a snapshot, detecting communities) off the UI's
critical path and posts one of these; the handler (``on_<name>`` of the app or a view) applies it on the
event loop. Nothing here names the app, the views or the screens: any of them may post or handle them.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class WorldOpened(Message):
    """The world is open: ``controller`` (a :class:`sim.engine.controller.WorldController`) drives it."""

    def __init__(self, controller: Any) -> None:
        super().__init__()
        self.controller = controller


class CommunitiesCounted(Message):
    """The communities table of the world as it was when ``key`` was read: its rows (one per community
    with members), the edges between communities (the largest flows) and the agents in no community."""

    def __init__(self, key: Any, rows: list[dict[str, Any]], flows: list[dict[str, int]], unassigned: int) -> None:
        super().__init__()
        self.key, self.rows, self.flows, self.unassigned = key, rows, flows, unassigned
