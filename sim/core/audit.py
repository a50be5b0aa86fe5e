"""The audit log of a world: the user actions that changed it, with their time and details.

Rows live in the world file's ``audit(id, ts, action, details)`` table: ``ts`` in seconds since the epoch,
``details`` a JSON object (text in it, such as a message, kept literally; the API key is never in it).
While a simulation runs, rows go through its writer (``WorldWriter.submit_audit``), in order with
everything else it writes; a command that runs no simulation appends with :func:`append_audit`.

The actions (see the README's "Audit log"): ``inject`` and ``cancel`` (recorded by the simulation itself
when it has a writer: once, whether the terminal UI, ``agora run``, the HTTP API or a script asked; a
call of the API adds ``"by"``: the token's name), ``run``, ``step`` and ``pause`` (the API), ``save``,
``load``, ``analysis``, ``social``, ``llm settings``, ``plugin_reload``, ``interview`` and ``set`` (a per-agent
column set from data, or cleared: ``agora set`` and ``PUT /api/v1/columns/{name}``).

``agora audit WORLD [--action A] [--limit N] [--json]`` shows the log (``sim.cli.audit``).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
from typing import Any
from urllib.parse import urlsplit

from sim.core import worldkey, worldlock
from sim.errors import BadFileError

#: The actions Agora records (see the module docstring); ``agora audit --action`` accepts these and any
#: other action found in the log.
ACTIONS = (
    "inject",
    "cancel",
    "run",
    "step",
    "pause",
    "save",
    "load",
    "analysis",
    "social",
    "llm settings",
    "plugin_reload",
    "interview",
    "intervene",
    "intervention applied",
    "set",
)

#: How much of a message's text an ``inject`` row keeps (the whole text is in the ``messages`` table).
TEXT_LIMIT = 1000


def encode_details(details: dict[str, Any]) -> str:
    """The JSON of an audit row's details (ASCII only: control characters and anything else are escaped
    by JSON itself, so the row is safe to print; values JSON cannot hold become their ``str``)."""
    return json.dumps(details, default=str, ensure_ascii=True)


def public_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """LLM settings for an audit row: server URLs without credentials or query string (the key is never
    a setting); of a local model's file (``local_model``, a request value) only its name, not the folders
    of the machine it was on."""
    out = dict(settings)
    if out.get("local_model") is not None:
        out["local_model"] = os.path.basename(str(out["local_model"]))
    if "base_urls" in out:
        urls = out["base_urls"]
        items = urls.split(",") if isinstance(urls, str) else list(urls or [])
        out["base_urls"] = [_safe_url(u.strip() if isinstance(u, str) else u) for u in items]
    return out


def _safe_url(url: Any) -> str:
    text = str(url or "")
    try:
        parts = urlsplit(text)
        if parts.hostname:
            port = f":{parts.port}" if parts.port else ""
            return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"
    except ValueError:
        return "(not a URL)"
    return text


def append_audit(path: str, action: str, details: dict[str, Any]) -> None:
    """Append one row to the audit log of the world file ``path`` (a short transaction of its own; waits
    up to 5 s for a writer of another process).

    Raises:
        BadFileError: the file cannot be written (read-only, not a world file).
    """
    with worldlock.world_lock(path, what=f"record {action!r} in its audit log"):
        _append(path, action, details)


def _append(path: str, action: str, details: dict[str, Any]) -> None:
    try:
        con = worldkey.connect(path, timeout=5.0)
    except worldkey.Error as exc:
        raise BadFileError(f"cannot open {path} to record {action!r} in its audit log: {exc}") from None
    try:
        with con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, ts REAL NOT NULL, "
                "action TEXT NOT NULL, details TEXT NOT NULL)"
            )
            con.execute(
                "INSERT INTO audit (ts, action, details) VALUES (?, ?, ?)",
                (time.time(), str(action), encode_details(details)),
            )
    except worldkey.Error as exc:
        raise BadFileError(f"cannot record {action!r} in the audit log of {path}: {exc}") from None
    finally:
        con.close()


def read_audit(path: str, *, limit: int | None = None, action: str | None = None) -> list[dict[str, Any]]:
    """The audit log of a world file, oldest first (the latest ``limit`` rows when given): ``id``, ``ts``,
    ``time`` (ISO 8601, UTC), ``action`` and ``details`` (decoded).

    Raises:
        BadFileError: no such file, or not a world file.
    """
    if not os.path.isfile(path):
        raise BadFileError(f"no world file at {path}")
    try:
        con = worldkey.connect(path, readonly=True, timeout=5.0)
    except worldkey.Error as exc:
        raise BadFileError(f"cannot open {path}: {exc}") from None
    try:
        sql = "SELECT id, ts, action, details FROM audit"
        args: list[Any] = []
        if action is not None:
            sql += " WHERE action = ?"
            args.append(action)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        rows = con.execute(sql, args).fetchall()
    except worldkey.Error as exc:
        raise BadFileError(f"{path} is not a world file (no audit log: {exc})") from None
    finally:
        con.close()
    out = []
    for rid, ts, act, raw in reversed(rows):
        try:
            details = json.loads(raw)
        except (TypeError, ValueError):
            details = {"raw": raw}
        when = _dt.datetime.fromtimestamp(float(ts), _dt.UTC).isoformat(timespec="milliseconds")
        out.append({"id": int(rid), "ts": float(ts), "time": when, "action": act, "details": details})
    return out


__all__ = ["ACTIONS", "TEXT_LIMIT", "append_audit", "encode_details", "public_settings", "read_audit"]
