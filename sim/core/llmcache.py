"""The response cache: answers keyed by the prompt, kept in the world.

The key is a SHA-256 of the model, the messages, the temperature and the answer length, so the same
prompt to the same model gets the same answer back without a request. Entries live in memory while a
world is open and go to the world file's ``llm_cache`` table at each checkpoint or save, and into
snapshots. A run replayed with the cache on therefore makes no requests for prompts it has seen, and its
decisions are the same each time.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: Columns of a cache row (the ``llm_cache`` table and snapshots): key, model, prompt (JSON of the
#: messages), answer text, input tokens, output tokens, and the ticks the answer took to land in the run
#: that asked first (0: not known), so that a replay applies it at the same tick.
ROW_FIELDS = ("key", "model", "prompt", "response", "tokens_in", "tokens_out", "delay")
Row = tuple[str, str, str, str, int, int, int]


@dataclass(frozen=True, slots=True)
class CacheEntry:
    response: str
    tokens_in: int
    tokens_out: int
    model: str = ""
    prompt: str = ""
    delay: int = 0

    def row(self, key: str) -> Row:
        return (key, self.model, self.prompt, self.response, self.tokens_in, self.tokens_out, self.delay)


def cache_key(model: str, messages: list[dict[str, Any]], temperature: float, max_tokens: int) -> str:
    """The key of one request (hex SHA-256)."""
    blob = json.dumps(
        [model, messages, round(float(temperature), 6), int(max_tokens)], sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(blob.encode()).hexdigest()


class LLMCache:
    """Answers by key; thread-safe (the tick thread reads it while the event loop adds answers)."""

    def __init__(self) -> None:
        self._entries: dict[str, CacheEntry] = {}
        self._new: list[Row] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> CacheEntry | None:
        return self._entries.get(key)

    def put(
        self, key: str, model: str, messages: list[dict[str, Any]], response: str, tokens_in: int, tokens_out: int
    ) -> None:
        """Keep an answer (the first one for a key wins)."""
        with self._lock:
            if key in self._entries:
                return
            entry = CacheEntry(
                response, int(tokens_in), int(tokens_out), model, json.dumps(messages, ensure_ascii=False)
            )
            self._entries[key] = entry
            self._new.append(entry.row(key))

    def set_delay(self, key: str, ticks: int) -> None:
        """Remember how many ticks the answer for ``key`` took to land (the first value is kept)."""
        with self._lock:
            e = self._entries.get(key)
            if e is None or e.delay > 0 or ticks <= 0:
                return
            e = CacheEntry(e.response, e.tokens_in, e.tokens_out, e.model, e.prompt, int(ticks))
            self._entries[key] = e
            self._new.append(e.row(key))

    def take_new(self) -> list[Row]:
        """Rows added since the last call (to be written to the world file)."""
        with self._lock:
            rows, self._new = self._new, []
        return rows

    def put_back(self, rows: list[Row]) -> None:
        """Rows a failed write took: they are written at the next checkpoint."""
        with self._lock:
            self._new = rows + self._new

    def rows(self) -> list[Row]:
        """Every entry as a row."""
        with self._lock:
            return [e.row(k) for k, e in self._entries.items()]

    def mark_written(self) -> None:
        """Every entry is in the world file now (after a whole save)."""
        with self._lock:
            self._new.clear()

    def load(self, rows: Iterable[Any]) -> None:
        """Add rows (:data:`ROW_FIELDS`) read from a world file or a snapshot; they are not written again.

        Raises:
            ValueError: a row of the wrong shape or types.
        """
        with self._lock:
            for row in rows:
                key, model, prompt, response, tin, tout, delay = _row_parts(row)
                self._entries.setdefault(key, CacheEntry(response, tin, tout, model, prompt, delay))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._new.clear()


def _row_parts(row: Any) -> Row:
    if not isinstance(row, (list, tuple)) or len(row) != len(ROW_FIELDS):
        raise ValueError(f"an LLM cache row must have {len(ROW_FIELDS)} fields")
    key, model, prompt, response, tin, tout, delay = row
    if not isinstance(key, str) or len(key) != 64 or not all(isinstance(x, str) for x in (model, prompt, response)):
        raise ValueError("an LLM cache row has a bad key or text")
    if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in (tin, tout, delay)):
        raise ValueError("an LLM cache row has bad token counts or delay")
    return key, model, prompt, response, tin, tout, delay
