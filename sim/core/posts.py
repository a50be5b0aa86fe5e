"""What agents wrote: posts, repost comments and replies, with who wrote them and how.

Each entry records the tick, the agent (internal index in memory, original id in the world file), the
message and session it belongs to, its kind (``post``, ``repost`` or ``reply``), the text, and
``written_by``: ``llm`` (a server wrote it), ``cache`` (an earlier answer to the same prompt) or
``offline`` (the offline generator). The world file's ``posts`` table keeps every entry; memory and
snapshots keep the latest :attr:`PostLog.keep`.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

KINDS = ("post", "repost", "reply")
WRITERS = ("llm", "cache", "offline")
#: Fields of a post row: id, tick, agent (index), message id, session id, kind, text, written by.
ROW_FIELDS = ("id", "tick", "agent", "message_id", "session_id", "kind", "text", "written_by")


class PostLog:
    """Recent posts in memory plus the rows not yet written to the world file (thread-safe)."""

    keep = 5000
    #: Rows waiting for the world file at most (a world without a file never takes them: the oldest go).
    pending_limit = 200_000

    def __init__(self) -> None:
        self._recent: deque[tuple[int, int, int, int, int, str, str, str]] = deque(maxlen=self.keep)
        self._new: list[tuple[int, int, int, int, int, str, str, str]] = []
        self._lock = threading.Lock()
        self.next_id = 1
        self.total = 0

    def __len__(self) -> int:
        return self.total

    def add(
        self, tick: int, agent: int, message_id: int, session_id: int, kind: str, text: str, written_by: str
    ) -> int:
        """Record one post; returns its id."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind of post {kind!r}")
        if written_by not in WRITERS:
            raise ValueError(f"unknown writer {written_by!r}")
        with self._lock:
            pid = self.next_id
            self.next_id += 1
            row = (pid, int(tick), int(agent), int(message_id), int(session_id), kind, str(text), written_by)
            self._recent.append(row)
            self._new.append(row)
            if len(self._new) > self.pending_limit:
                del self._new[: len(self._new) - self.pending_limit]
            self.total += 1
        return pid

    def recent(
        self, *, message_id: int | None = None, agent: int | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """The latest posts (newest first), optionally of one message or one agent."""
        with self._lock:
            rows = list(self._recent)
        out = []
        for r in reversed(rows):
            if message_id is not None and r[3] != message_id:
                continue
            if agent is not None and r[2] != agent:
                continue
            out.append(dict(zip(ROW_FIELDS, r)))
            if len(out) >= limit:
                break
        return out

    def counts(self) -> dict[str, int]:
        """Posts in memory by ``written_by``."""
        with self._lock:
            rows = list(self._recent)
        out = dict.fromkeys(WRITERS, 0)
        for r in rows:
            out[r[7]] += 1
        return out

    def take_new(self) -> list[tuple[int, int, int, int, int, str, str, str]]:
        with self._lock:
            rows, self._new = self._new, []
        return rows

    def put_back(self, rows: list[tuple[int, int, int, int, int, str, str, str]]) -> None:
        with self._lock:
            self._new = rows + self._new

    def rows(self) -> list[tuple[int, int, int, int, int, str, str, str]]:
        """The posts kept in memory, oldest first."""
        with self._lock:
            return list(self._recent)

    def mark_written(self) -> None:
        with self._lock:
            self._new.clear()

    def load(self, rows: Iterable[Any], *, total: int | None = None, next_id: int | None = None) -> None:
        """Add rows read from a world file or a snapshot (oldest first; not written again).

        Raises:
            ValueError: a row of the wrong shape or types.
        """
        with self._lock:
            for row in rows:
                if not isinstance(row, (list, tuple)) or len(row) != len(ROW_FIELDS):
                    raise ValueError("a post row must have 8 fields")
                pid, tick, agent, mid, sid, kind, text, by = row
                if not all(isinstance(x, int) and not isinstance(x, bool) for x in (pid, tick, agent, mid, sid)):
                    raise ValueError("a post row has a non-integer id, tick, agent, message or session")
                if kind not in KINDS or by not in WRITERS or not isinstance(text, str):
                    raise ValueError("a post row has a bad kind, writer or text")
                self._recent.append((pid, tick, agent, mid, sid, kind, text, by))
                self.next_id = max(self.next_id, pid + 1)
            self.total = max(self.total, len(self._recent)) if total is None else int(total)
            if next_id is not None:
                self.next_id = max(self.next_id, int(next_id))
