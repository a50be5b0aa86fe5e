"""Import real edge lists: SNAP style (whitespace-separated ``u v``, ``#`` comments) and CSV with a
header (``source,target[,weight]``), either optionally gzip-compressed.

Parsing is numpy's C ``loadtxt``; only when it rejects a file does a diagnostic pass walk the lines to
name the first malformed one. Lines give both directions unless ``directed``; self-loops are dropped
and duplicates merged, and both are counted. Original ids are kept and remapped to ``0..n-1``.
"""

from __future__ import annotations

import gzip
import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .arrays import unique_sorted, unique_sorted_first
from .errors import BadFileError

Progress = Callable[[str, float], None] | None


@dataclass(slots=True)
class EdgeList:
    """An imported edge list, remapped to internal indices and sorted by (src, dst), duplicates merged."""

    ids: np.ndarray  # original ids, ascending (index -> original id)
    src: np.ndarray  # int32
    dst: np.ndarray  # int32
    weight: np.ndarray | None  # float32 or None
    stats: dict = field(default_factory=dict)


def _read_text(path: str) -> str:
    if not os.path.exists(path):
        raise BadFileError(f"edge list {path!r} does not exist: check the path")
    if os.path.isdir(path):
        raise BadFileError(f"edge list {path!r} is a folder, not a file")
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise BadFileError(f"edge list {path!r} cannot be read ({exc.strerror}): check its permissions") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile):
            raise BadFileError(f"edge list {path!r} is a damaged gzip file: re-download or decompress it yourself") from None
    if b"\x00" in raw[:4096]:
        raise BadFileError(f"edge list {path!r} is a binary file, not a text edge list")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadFileError(f"edge list {path!r} is not UTF-8 text: save it as UTF-8") from None


def _is_number(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


def _first_data_line(lines: list[str]) -> tuple[int, str] | None:
    for no, line in enumerate(lines, 1):
        s = line.strip()
        if s and not s.startswith(("#", "%")):
            return no, s
    return None


def read_edge_list(path: str, *, directed: bool = False, progress: Progress = None) -> EdgeList:
    """Read and clean an edge list file.

    Raises:
        BadFileError: the file is missing, unreadable, empty or has a malformed line (its number is named).
    """
    if progress:
        progress("reading edge list", 0.0)
    text = _read_text(path)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    head = text[:65536].split("\n")
    first = _first_data_line(head)
    if first is None:
        raise BadFileError(f"edge list {path!r} has no edges: expected lines like 'u v' or a CSV 'source,target'")
    first_no, first_line = first
    delimiter = "," if "," in first_line else None
    tokens = [t.strip() for t in (first_line.split(",") if delimiter else first_line.split())]
    header = not all(_is_number(t) for t in tokens)
    ncols = len(tokens)
    if ncols < 2:
        raise BadFileError(f"edge list {path!r}, line {first_no}: expected two ids per line, found {first_line[:60]!r}")
    # Any header is accepted; the first two columns are the ends. A third column is a weight only
    # under a header (CSV ``source,target,weight``): in SNAP files it is often a timestamp.
    use_weight = header and ncols >= 3
    usecols = (0, 1, 2) if use_weight else (0, 1)
    skip = first_no if header else first_no - 1
    body = io.StringIO(text)
    if progress:
        progress("parsing edge list", 0.2)
    fields = [("u", "<i8"), ("v", "<i8")] + ([("w", "<f8")] if use_weight else [])
    try:
        with warnings.catch_warnings():
            # An empty body is reported below as one clear sentence, not as numpy's warning.
            warnings.simplefilter("ignore", UserWarning)
            rows = np.loadtxt(
                body, dtype=np.dtype(fields), delimiter=delimiter, comments=("#", "%"),
                skiprows=skip, usecols=usecols, ndmin=1,
            )
    except (ValueError, OverflowError):
        _diagnose(path, text, delimiter, skip, 3 if use_weight else 2)
        raise BadFileError(f"edge list {path!r} could not be parsed: expected lines of two integer ids") from None
    if rows.shape[0] == 0:
        raise BadFileError(f"edge list {path!r} has no edges: expected lines like 'u v' or a CSV 'source,target'")
    u_raw, v_raw = rows["u"], rows["v"]
    weight = rows["w"].astype(np.float32) if use_weight else None
    if weight is not None and not np.all(np.isfinite(weight)):
        bad = int(np.flatnonzero(~np.isfinite(weight))[0])
        raise BadFileError(f"edge list {path!r}: the weight of edge {bad + 1} is not a finite number")
    del rows
    lines = int(u_raw.shape[0])
    if progress:
        progress("cleaning edge list", 0.5)
    ends = np.concatenate([u_raw, v_raw])
    ids = unique_sorted(ends)
    inverse = np.searchsorted(ids, ends)
    del ends
    n = int(ids.shape[0])
    u = inverse[:lines].astype(np.int32)
    v = inverse[lines:].astype(np.int32)
    loops = u == v
    self_loops = int(loops.sum())
    if self_loops:
        u, v = u[~loops], v[~loops]
        weight = None if weight is None else weight[~loops]
    if directed:
        src, dst, w = u, v, weight
    else:
        src, dst = np.concatenate([u, v]), np.concatenate([v, u])
        w = None if weight is None else np.concatenate([weight, weight])
    key = src.astype(np.int64) * n + dst
    if w is None:
        key = unique_sorted(key)
    else:
        key, first_at = unique_sorted_first(key)
        w = w[first_at]
    given = int(src.shape[0])
    src = (key // n).astype(np.int32)
    dst = (key % n).astype(np.int32)
    duplicates = given - int(key.shape[0])
    if progress:
        progress("cleaning edge list", 1.0)
    stats = {
        "file": os.path.abspath(path),
        "format": "csv" if delimiter == "," else "snap",
        "header": header,
        "directed": directed,
        "lines": lines,
        "self_loops_dropped": self_loops,
        # For undirected input a reciprocal pair (u v and v u) yields the same two directed edges twice.
        "duplicates_merged": duplicates,
        "weighted": weight is not None,
    }
    return EdgeList(ids=ids.astype(np.int64), src=src, dst=dst, weight=w, stats=stats)


def _diagnose(path: str, text: str, delimiter: str | None, skip: int, needed: int) -> None:
    """Walk the lines (only after the fast parser failed) and raise for the first malformed one."""
    for no, line in enumerate(text.split("\n"), 1):
        if no <= skip:
            continue
        s = line.strip()
        if not s or s.startswith(("#", "%")):
            continue
        parts = [p.strip() for p in (s.split(",") if delimiter else s.split())]
        shown = s if len(s) <= 60 else s[:57] + "..."
        if len(parts) < 2:
            raise BadFileError(f"edge list {path!r}, line {no}: expected two ids, found {shown!r}")
        if len(parts) < needed:
            raise BadFileError(f"edge list {path!r}, line {no}: expected {needed} columns, found {len(parts)} in {shown!r}")
        for p in parts[:2]:
            try:
                value = int(p)
            except ValueError:
                raise BadFileError(f"edge list {path!r}, line {no}: {p[:30]!r} is not an integer id") from None
            if not -(2**63) <= value < 2**63:
                raise BadFileError(f"edge list {path!r}, line {no}: id {p[:30]} is too large (ids must fit in 64 bits)")
        if needed >= 3:
            try:
                float(parts[2])
            except ValueError:
                raise BadFileError(f"edge list {path!r}, line {no}: weight {parts[2][:30]!r} is not a number") from None
