"""Reading world files: a world's metadata, arrays, LLM rows and state, each checked before use.

The other side of :mod:`sim.store.worldfile` (which writes them): a reader opens a world read-only in
one read transaction, validates every field (:func:`world_from_parts`), and takes from a file only the
LLM settings that cannot send the API key elsewhere (:func:`file_llm_settings`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import re
import sqlite3
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from sim.core import worldkey
from sim.core import worldlock as lock
from sim.core.attributes import labels_from_arrays
from sim.core.audit import public_settings
from sim.core.graph import Graph, GraphDelta
from sim.core.memory import ensure_memory
from sim.core.numbers import json_ints
from sim.core.persona import Persona
from sim.core.safe import shown
from sim.core.world import (
    AGENT_COLUMNS,
    GRAPH_ARRAYS,
    World,
    check_attributes,
    check_columns,
    check_data_columns,
    check_layers,
)
from sim.errors import BadFileError, BadParameterError
from sim.model.intervene import CONFIG_KEY, entries_problem
from sim.model.session import PropagationSession
from sim.store.schema import (
    refuse_foreign_schema,
    untrusting,
)

Progress = Callable[[str, float], None] | None

FORMAT_VERSION = 2
#: The version of a world with contact layers (``graph.layer`` and the ``layers`` names) or attribute columns
#: (numbers that may be missing, categories and their labels; ``sim.core.attributes``): an Agora that reads
#: only 1 and 2 refuses it in one sentence instead of dropping its layers or misreading its attributes. A world
#: of one layer whose attributes are at most built-in measurements (``agora set susceptibility``) stays 2.
LAYERED_VERSION = 3
#: Versions this Agora opens: 1 kept one ``relationships`` row per edge (rewritten as ``adjacency`` rows
#: the first time a run changes the graph of such a file).
READABLE_VERSIONS = (1, 2, 3)


def format_version(world: World) -> int:
    """The version a world file or snapshot of ``world`` is written in: :data:`LAYERED_VERSION` when it has
    layers or an attribute column of its own, else :data:`FORMAT_VERSION`."""
    if world.layers or world.graph.layer is not None or world.labels:
        return LAYERED_VERSION
    return LAYERED_VERSION if any(name not in AGENT_COLUMNS for name in world.attributes) else FORMAT_VERSION


# -- LLM settings a file may carry ---------------------------------------------------------------------

#: LLM settings that decide where requests go, and so where the API key is sent: taken only from the
#: user (``OPENAI_BASE_URL``, ``--llm base_urls=...``), never from a world file or a snapshot, and never
#: written to one (``sim.llm.config.ENDPOINT_SETTINGS`` is this tuple).
LLM_ENDPOINT_SETTINGS = ("base_urls",)
#: Names of settings a file might use to route requests or carry a credential (a key, a header, a proxy,
#: an organisation): none of Agora's settings but the endpoint ones look like this (a test holds it).
_LLM_ROUTING_NAME = re.compile(
    r"url|host|endpoint|proxy|header|organi[sz]ation|^org(_id)?$|project|key|secret|passw|auth|"
    r"cert|credential|^token$|_token$",
    re.IGNORECASE,
)


def file_llm_settings(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The LLM settings a world file or snapshot stores, without what decides where requests go:
    ``(kept, ignored)``. Ignored: the endpoint settings when set (an empty ``base_urls`` is a stored
    default and goes quietly) and any setting named like a credential, a header or a proxy; ``ignored``
    describes each, URLs without their credentials or query."""

    kept: dict[str, Any] = {}
    ignored: list[str] = []
    for name, value in raw.items():
        if name in LLM_ENDPOINT_SETTINGS:
            if value not in (None, "", [], ()):
                urls = public_settings({name: value if isinstance(value, (str, list, tuple)) else str(value)})[name]
                ignored.append(f"{name}={','.join(str(u) for u in urls)}")
        elif _LLM_ROUTING_NAME.search(str(name)):
            ignored.append(str(name))
        else:
            kept[name] = value
    return kept, ignored


def load_warnings(world: World) -> list[str]:
    """What was ignored when ``world`` was read from its file or snapshot (one sentence each), for front
    ends to show: LLM servers and credentials a file named. Empty for a world made here."""
    return list(world.load_warnings)


_told: set[str] = set()


def tell_load_warnings(world: World) -> None:
    """Say :func:`load_warnings` on stderr, each once per process (``agora: warning: ...``), in the main
    process only (the workers of an ensemble or sweep open the same file again)."""

    if multiprocessing.parent_process() is not None:
        return
    for w in load_warnings(world):
        if w not in _told:
            _told.add(w)
            with contextlib.suppress(Exception):
                sys.stderr.write(f"agora: warning: {w}\n")


def _load_llm_rows(world: World, path: str) -> None:
    """The response cache and the latest posts of a world file, into ``world`` (older files have none)."""
    existed = lock.side_files(path)
    try:
        con = untrusting(worldkey.connect(path, readonly=True))
    except worldkey.Error:
        return
    try:
        try:
            world.llm_cache.load(
                con.execute("SELECT key, model, prompt, response, tokens_in, tokens_out, delay FROM llm_cache")
            )
            total, top = con.execute("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM posts").fetchone()
            rows = con.execute(
                "SELECT id, tick, agent, message_id, session_id, kind, text, written_by FROM posts "
                "ORDER BY id DESC LIMIT ?",
                (world.posts.keep,),
            ).fetchall()
            world.posts.load(reversed(rows), total=total, next_id=top + 1)
            if any(not 0 <= r[2] < world.n for r in rows):
                raise ValueError("a post names an agent the world does not have")
            agents = [r[0] for r in con.execute("SELECT agent FROM memory_agents ORDER BY agent")]
            if agents:
                nid = con.execute("SELECT value FROM meta WHERE key = 'memory_next_id'").fetchone()
                world.memory.load(
                    con.execute("SELECT id, agent, tick, kind, ref, other, text FROM memory ORDER BY id"),
                    con.execute("SELECT agent, upto, tick, text, written_by FROM memory_summary ORDER BY agent"),
                    agents,
                    world.n,
                    next_id=None if nid is None else int(json.loads(nid[0])),
                )
        except worldkey.OperationalError:
            pass  # a world file from before LLM agents
        except ValueError as exc:
            raise BadFileError(f"world {path!r} holds damaged LLM rows ({exc}); it may be damaged") from None
    finally:
        con.close()
        lock.tidy_after_read(path, existed)


def _connect_ro(path: str) -> sqlite3.Connection:
    if not os.path.exists(path):
        raise BadFileError(f"world {path!r} does not exist: create it first ('agora new')")
    if os.path.isdir(path):
        raise BadFileError(f"world {path!r} is a folder, not a world file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise BadFileError(f"world {path!r} cannot be read ({exc.strerror}): check its permissions") from None
    if head != worldkey.SQLITE_MAGIC and not worldkey.is_encrypted(path):
        raise worldkey.not_a_world_error(path)  # one cut short says so
    # Read-only (mode=ro): a reader never writes the file, not even a WAL checkpoint when it closes. (A
    # read-write connection with query_only, tried to have the last closing connection remove WORLD-wal and
    # WORLD-shm, made committed transactions of a killed writer invisible to later readers in the crash
    # tests.) The empty WORLD-wal and WORLD-shm a read-only connection makes are removed by
    # ``tidy_after_read`` once no writer holds the world.
    where = os.path.abspath(path)
    try:
        con = worldkey.connect(where, readonly=True, check_same_thread=False)
        return untrusting(con)
    except worldkey.Error as exc:
        raise BadFileError(f"world {path!r} cannot be opened ({exc}): it may be damaged") from None


def read_meta(path: str, *, schema: bool = True, con: sqlite3.Connection | None = None) -> dict[str, Any]:
    """The world's ``meta`` table as a dict (validated: format and version; with ``schema``, also that
    the file holds no schema object Agora did not make, see :func:`foreign_schema`). ``con``: read through
    this connection (inside its read transaction, left open), else through one of its own.

    Raises:
        BadFileError: not a world file, damaged, a newer format, or holding a trigger, view, index or
            table Agora did not make.
    """
    own = con is None
    existed = lock.side_files(path) if own else True
    if con is None:
        con = _connect_ro(path)
    try:
        try:
            rows = con.execute("SELECT key, value FROM meta").fetchall()
        except worldkey.DatabaseError:
            raise BadFileError(
                f"{path!r} is not an Agora world (no meta table): open a .db made by 'agora new'"
            ) from None
        if schema and any(k == "format" and v == '"agora-world"' for k, v in rows):
            refuse_foreign_schema(con, path)
    finally:
        if own:
            con.close()
            lock.tidy_after_read(path, existed)
    try:
        meta = {k: json.loads(v) for k, v in rows}
    except (TypeError, ValueError):
        raise BadFileError(f"world {path!r} has a damaged meta table") from None
    if meta.get("format") != "agora-world":
        raise BadFileError(f"{path!r} is not an Agora world: open a .db made by 'agora new'")
    version = meta.get("format_version")
    if version not in READABLE_VERSIONS:
        raise BadFileError(
            f"world {path!r} has format version {version}, this Agora reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}: "
            "open it with a matching Agora version"
        )
    return meta


class PersonaReader:
    """Reads persona text for one agent from the world file (a read-only connection, opened on first use)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._con: sqlite3.Connection | None = None

    def __call__(self, i: int) -> Persona | None:
        if self._con is None:
            self._con = untrusting(worldkey.connect(self.path, readonly=True, check_same_thread=False))
        row = self._con.execute("SELECT name, bio, style FROM agents WHERE id = ?", (int(i),)).fetchone()
        return None if row is None else Persona(*row)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


def _read_arrays(
    con: sqlite3.Connection, path: str, progress: Progress, second: sqlite3.Connection | None = None
) -> dict[str, np.ndarray]:
    """The world's arrays, read through ``con`` (in its read transaction). With ``second`` (another
    connection to the file, in a read transaction of the same state: the caller makes sure no writer commits
    between the two), about half of the bytes are read through it, in a thread of its own."""
    try:
        layout = con.execute(
            "SELECT name, dtype, shape, COUNT(*), SUM(LENGTH(data)) FROM arrays GROUP BY name ORDER BY name"
        ).fetchall()
    except worldkey.DatabaseError as exc:
        raise BadFileError(f"world {path!r} is damaged ({exc}): restore it from a snapshot with 'agora load'") from None
    total = sum(r[4] or 0 for r in layout) or 1
    # The arrays are the world in memory; refuse before reading a world this machine cannot hold.
    ensure_memory(int(total * 1.1), f"opening world {path!r}", "open it on a machine with more memory")
    arrays: dict[str, np.ndarray] = {}
    for name, dtype_s, shape_s, _nchunks, nbytes in layout:
        try:
            dtype = np.dtype(dtype_s)
            shape = json_ints(shape_s)
        except (TypeError, ValueError):
            raise BadFileError(f"world {path!r}: array {name} has a damaged description") from None
        if dtype.kind not in "iufb" or int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != nbytes:
            raise BadFileError(f"world {path!r}: array {name} does not match its stored size; the file is damaged")
        arrays[name] = np.empty(shape, dtype=dtype)
    done = [0]
    guard = threading.Lock()

    def fill(source: sqlite3.Connection, names: list[str]) -> None:
        for name in names:
            view = arrays[name].data.cast("B") if arrays[name].nbytes else None
            offset = 0
            for (data,) in source.execute("SELECT data FROM arrays WHERE name = ? ORDER BY chunk", (name,)):
                if view is not None:
                    view[offset : offset + len(data)] = data
                offset += len(data)
                with guard:
                    done[0] += len(data)
                    if progress:
                        progress("reading arrays", done[0] / total)

    if second is None:
        fill(con, list(arrays))
        return arrays
    # The largest arrays first, each to the connection with fewer bytes so far.
    mine: list[str] = []
    theirs: list[str] = []
    sizes = [0, 0]
    for name in sorted(arrays, key=lambda k: -arrays[k].nbytes):
        side = 0 if sizes[0] <= sizes[1] else 1
        (mine, theirs)[side].append(name)
        sizes[side] += arrays[name].nbytes
    with ThreadPoolExecutor(1, thread_name_prefix="agora-read") as pool:
        other = pool.submit(fill, second, theirs)
        try:
            fill(con, mine)
        finally:
            other.result()
    return arrays


async def open_world(path: str, *, progress: Progress = None, exclusive: bool = False) -> World:
    """Open a world file: its arrays, tick, configuration and state; persona text is read lazily.

    ``exclusive``: the caller has just taken the world's lock (:func:`sim.core.worldlock.acquire`, held once)
    and nothing writes the file until this returns; an encrypted world's arrays are then read on two cores.

    Raises:
        BadFileError: missing, foreign, damaged or of another format version.
    """
    existed = lock.side_files(path)
    con = _connect_ro(path)
    second = None
    try:
        # One read transaction: the metadata and the arrays of one checkpoint, whatever a writer commits
        # meanwhile (read apart, a checkpoint between them gave arrays of other sizes than the metadata's).
        con.execute("BEGIN")
        meta = read_meta(path, con=con)
        if exclusive and lock.holds_once(path) and worldkey.is_encrypted(path):
            # Nothing writes the world meanwhile (this process holds its lock, and no writer of its own), so a
            # second read transaction sees the same checkpoint: an encrypted world's pages are decrypted and
            # authenticated on two cores (at a million agents 0.42 s -> 0.25 s; a clear world's reads are
            # as fast on one).
            second = _connect_ro(path)
            second.execute("BEGIN")
        arrays = await asyncio.to_thread(_read_arrays, con, path, progress, second)
    finally:
        con.close()
        if second is not None:
            second.close()
        lock.tidy_after_read(path, existed)
    world = world_from_parts(meta, arrays, path=os.path.abspath(path), source=f"world {path!r}")
    _load_llm_rows(world, path)
    tell_load_warnings(world)
    return world


def world_from_parts(meta: dict[str, Any], arrays: dict[str, np.ndarray], *, path: str | None, source: str) -> World:
    """Assemble and validate a world from its metadata and named arrays (``agent.*``, ``graph.*``).

    Raises:
        BadFileError: an array is missing or inconsistent with the others.
    """
    try:
        n = int(meta["agents"])
        e = int(meta["edges"])
        columns = {k: arrays[f"agent.{k}"] for k in AGENT_COLUMNS}
        graph_parts = {k: arrays[f"graph.{k}"] for k in GRAPH_ARRAYS}
    except (KeyError, TypeError, ValueError) as exc:
        raise BadFileError(f"{source} is incomplete (missing {exc}); it may be damaged") from None
    problems = check_columns(columns, n)
    # Data columns (``agora set``, attributes): every other ``agent.*`` array, after the built-in ones.
    data = {k[len("agent.") :]: v for k, v in arrays.items() if k.startswith("agent.") and k[6:] not in AGENT_COLUMNS}
    attributes = meta.get("attributes", {})
    labels, label_problems = labels_from_arrays(arrays)
    problems += label_problems or check_attributes(attributes, {**columns, **data}, labels, n)
    if not problems:
        problems += check_data_columns(data, n, attributes)
    columns.update(data)
    expect = {
        "out_indptr": ((n + 1,), "i"),
        "in_indptr": ((n + 1,), "i"),
        "out_indices": ((e,), "i"),
        "in_indices": ((e,), "i"),
        "in_edge": ((e,), "i"),
        "trust": ((e,), "f"),
    }
    for k, (shape, kind) in expect.items():
        a = graph_parts[k]
        if a.shape != shape or a.dtype.kind != kind:
            problems.append(f"graph array {k} has shape {a.shape}, expected {shape}")
    layer = arrays.get("graph.layer")
    layer_names = meta.get("layers", [])
    problems += check_layers(layer_names, layer, e)
    if not problems:
        for k in ("out_indptr", "in_indptr"):
            ptr = graph_parts[k]
            if ptr[0] != 0 or ptr[-1] != e:
                problems.append(f"graph array {k} does not span the {e} edges")
    if problems:
        raise BadFileError(f"{source} is inconsistent: {problems[0]}")
    state = _validated_state(meta, n, source)
    state["sessions"] = _sessions_from(state["sessions"], arrays, n, source)
    graph = Graph(n=n, **graph_parts, layer=layer)
    try:
        delta = GraphDelta.from_arrays(n, {k[len("delta.") :]: v for k, v in arrays.items() if k.startswith("delta.")})
    except (KeyError, BadParameterError) as exc:
        raise BadFileError(f"{source} holds damaged pending graph changes ({exc}); it may be damaged") from None
    warnings = state.pop("load_warnings")
    world = World(
        columns=columns,
        graph=graph,
        path=path,
        delta=delta,
        layers=tuple(layer_names),
        attributes={k: dict(v) for k, v in attributes.items()},
        labels=labels,
        **state,
    )
    #: What was ignored in the file (see :func:`load_warnings`).
    world.load_warnings = warnings
    if path is not None:
        world._persona_loader = PersonaReader(path)
    return world


def _validated_state(meta: dict[str, Any], n: int, source: str) -> dict[str, Any]:
    """The world's scalar state from its metadata, every field checked for type and range.

    Raises:
        BadFileError: a field is missing, of the wrong type or out of range.
    """

    def bad(field: str) -> BadFileError:
        return BadFileError(f"{source} is damaged: its {field} is invalid")

    name, seed, tick = meta.get("name", "world"), meta.get("seed", 0), meta.get("tick", 0)
    if not isinstance(name, str) or len(name) > 1000:
        raise bad("name")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**64 and not -(2**63) <= seed < 0:
        raise bad("seed")
    if not isinstance(tick, int) or isinstance(tick, bool) or not 0 <= tick < 2**53:
        raise bad("tick")
    config = meta.get("config") or {}
    if not isinstance(config, dict):
        raise bad("config")
    for key in ("minutes_per_tick", "start_hour"):
        if key in config and (not isinstance(config[key], int) or isinstance(config[key], bool) or config[key] < 0):
            raise bad(f"config.{key}")
    if config.get("minutes_per_tick", 1) == 0:
        raise bad("config.minutes_per_tick")
    if CONFIG_KEY in config and entries_problem(config[CONFIG_KEY]) is not None:
        raise bad(f"config.{CONFIG_KEY}")
    warnings: list[str] = []
    if config.get("llm") is not None:
        # Where LLM requests go (and the API key with them) is the user's to say, never a file's.
        if not isinstance(config["llm"], dict):
            raise bad("config.llm")
        kept, ignored = file_llm_settings(config["llm"])
        config = {**config, "llm": kept}
        servers = [x for x in ignored if "=" in x]
        others = [x for x in ignored if "=" not in x]
        if servers:
            warnings.append(
                f"{source} names LLM servers ({shown('; '.join(servers), 300)}), which were ignored: servers come "
                "only from OPENAI_BASE_URL or --llm base_urls=..., so a file cannot send your API key elsewhere"
            )
        if others:
            warnings.append(
                f"{source} holds LLM settings named like a credential, header or proxy "
                f"({shown(', '.join(others), 300)}), which were ignored: Agora never takes them from a file"
            )
    rng_state = meta.get("rng_state")
    if rng_state is not None:
        try:
            probe = np.random.Generator(np.random.PCG64())
            probe.bit_generator.state = rng_state
        except (TypeError, ValueError, KeyError, OverflowError):
            raise bad("random-generator state") from None
    overrides_raw = meta.get("persona_overrides") or {}
    if not isinstance(overrides_raw, dict):
        raise bad("persona overrides")
    overrides: dict[int, Persona] = {}
    for k, v in overrides_raw.items():
        if not (
            isinstance(k, str)
            and k.isascii()
            and k.isdigit()
            and int(k) < n
            and isinstance(v, list)
            and len(v) == 3
            and all(isinstance(x, str) for x in v)
        ):
            raise bad("persona overrides")
        overrides[int(k)] = Persona(*v)
    messages, sessions = meta.get("messages") or [], meta.get("sessions") or []
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise bad("message list")
    if not isinstance(sessions, list) or not all(isinstance(m, dict) for m in sessions):
        raise bad("session list")
    for what, records in (("message", messages), ("session", sessions)):
        twice = repeated_id(records)
        if twice is not None:
            raise BadFileError(f"{source} is damaged: its {what} list names {what} id {shown(twice, 40)} twice")
    app_version = meta.get("app_version", "?")
    return {
        "name": name,
        "seed": seed,
        "tick": tick,
        "config": dict(config),
        "rng_state": rng_state,
        "persona_overrides": overrides,
        "messages": list(messages),
        "sessions": list(sessions),
        "app_version": str(app_version),
        "load_warnings": warnings,
    }


def repeated_id(records: list[dict[str, Any]]) -> Any:
    """The first ``id`` that two of ``records`` share (None when every id is unique): two messages or
    sessions with one id would be merged or confused by everything that looks them up by id."""
    seen: set[Any] = set()
    for rec in records:
        key = rec.get("id")
        try:
            if key in seen:
                return key
            seen.add(key)
        except TypeError:  # an id that is not even a number: the session or message check names it
            continue
    return None


def session_array(name: str) -> tuple[str, str] | None:
    """``(ID, NAME)`` of a session's array name ``session.ID.NAME`` (None for any other name)."""
    if not name.startswith("session."):
        return None
    sid, dot, rest = name[len("session.") :].partition(".")
    return (sid, rest) if dot else None


def _sessions_from(records: list[dict[str, Any]], arrays: dict[str, np.ndarray], n: int, source: str) -> list:
    # Each session's arrays (``session.ID.NAME``, keyed by NAME), grouped in one pass over the arrays: a scan of
    # every array per session made loading a world of a few thousand sessions take seconds.
    by_session: dict[str, dict[str, np.ndarray]] = {}
    for k, v in arrays.items():
        if (part := session_array(k)) is not None:
            by_session.setdefault(part[0], {})[part[1]] = v
    sessions = []
    for rec in records:
        try:
            own = dict(by_session.get(str(int(rec["id"])), {}))
            sessions.append(PropagationSession.from_record(rec, own, n))
        except (KeyError, TypeError, ValueError) as exc:
            raise BadFileError(f"{source} is damaged: a propagation session is invalid ({exc})") from None
    return sessions


def _layers_info(meta: dict[str, Any]) -> list[dict[str, Any]]:
    names, counts = meta.get("layers") or [], meta.get("layer_edges") or []
    if not isinstance(names, list) or not isinstance(counts, list) or len(names) != len(counts):
        return []
    degrees = meta.get("layer_degree")  # absent from a world written before it was kept: then not shown
    if not isinstance(degrees, list) or len(degrees) != len(names):
        degrees = [None] * len(names)
    return [
        {"name": str(n), "edges": c}
        | ({"mean_degree": float(d)} if isinstance(d, int | float) and not isinstance(d, bool) else {})
        for n, c, d in zip(names, counts, degrees)
        if isinstance(c, int)
    ]


def _attributes_info(meta: dict[str, Any]) -> list[dict[str, Any]]:
    attributes = meta.get("attributes") or {}
    if not isinstance(attributes, dict):
        return []
    return [
        {"name": str(k), "kind": str(v.get("kind")), "source": str(v.get("source"))}
        for k, v in attributes.items()
        if isinstance(v, dict)
    ]


def world_info(path: str) -> dict[str, Any]:
    """What ``agora info`` reports, read from the metadata without loading the arrays."""
    meta = read_meta(path)
    size = os.path.getsize(path)
    for extra in (path + "-wal",):
        if os.path.exists(extra):
            size += os.path.getsize(extra)
    return {
        "path": os.path.abspath(path),
        "name": meta.get("name"),
        "agents": meta.get("agents"),
        "edges": meta.get("edges"),
        "communities": meta.get("communities"),
        # The contact layers, their directed edges (an edge in two layers counts in both) and mean degree (edges
        # per agent; absent for a world written before it was kept); [] for one layer.
        "layers": _layers_info(meta),
        # The agent attributes data gave (sim.core.attributes): name, kind and source each; [] for none.
        "attributes": _attributes_info(meta),
        # Agents in no community (no links) at the last detection; None when not recorded.
        "isolated": ((((meta.get("config") or {}).get("analysis") or {}).get("communities") or {}).get("isolated")),
        "tick": meta.get("tick"),
        # A tick's simulated minutes (1,440: a day, a world of people's default; 10 otherwise).
        "minutes_per_tick": (meta.get("config") or {}).get("minutes_per_tick", 10),
        "seed": meta.get("seed"),
        "size_bytes": size,
        "encrypted": worldkey.is_encrypted(path),
        "format_version": meta.get("format_version"),
        "app_version": meta.get("app_version"),
        "source": (meta.get("config") or {}).get("source", {}),
        "messages": len(meta.get("messages") or []),
        "sessions": len(meta.get("sessions") or []),
        # Pending and applied interventions (a block's agents summarised by their count).
        "interventions": [
            {k: (len(v) if k == "agents" and isinstance(v, list) else v) for k, v in e.items()}
            for e in ((meta.get("config") or {}).get(CONFIG_KEY) or [])
            if isinstance(e, dict)
        ],
    }
