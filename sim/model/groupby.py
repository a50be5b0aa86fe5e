"""What ``by`` asks for (issue 77): ``layer``, a column, or bands of a numeric column, as one word each
(:func:`parse_by`). Read without numpy, so that a request that carries it parses at ``--help``'s cost; the counts
themselves are :mod:`sim.analysis.bygroup`'s."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.errors import BadParameterError

#: The measure prefix of a group's count (``new@household``).
PREFIX = "new@"
#: The groups one ``by`` may have at most (a series column each).
MAX_GROUPS = 64
#: The bands' bounds one ``by`` may give at most.
MAX_BOUNDS = MAX_GROUPS - 2
#: What one ``by`` is, as errors and help say it.
SYNTAX = "layer, COLUMN (a category) or COLUMN:B1,B2,... (bands of a number, such as AGE:0,5,15,65)"


@dataclass(frozen=True)
class By:
    """One grouping: ``layer``, a column (``bounds`` empty), or a numeric column's bands (their lower bounds)."""

    column: str
    bounds: tuple[float, ...] = ()

    @property
    def text(self) -> str:
        """As typed: ``layer``, ``SEX``, ``AGE:0,5,15,65``."""
        if not self.bounds:
            return self.column
        return f"{self.column}:" + ",".join(bound_text(b) for b in self.bounds)


def bound_text(b: float) -> str:
    """A bound as typed: ``5``, ``0.5``."""
    return str(int(b)) if float(b).is_integer() else f"{b:g}"


def parse_by(text: object) -> By:
    """The grouping one ``by`` word asks for (:data:`SYNTAX`), checked for its form only (the world checks the
    column: :func:`groups_of`).

    Raises:
        BadParameterError: not a word of that form, bounds that are no numbers, not increasing, or too many.
    """
    if not isinstance(text, str) or not text.strip():
        raise BadParameterError(f"by must be {SYNTAX}", fields="by")
    column, colon, rest = text.strip().partition(":")
    column = column.strip()
    if not column or len(column) > 64:
        raise BadParameterError(f"by {text[:40]!r} names no column: give {SYNTAX}", fields="by")
    if not colon:
        return By(column)
    if column == "layer":
        raise BadParameterError("by layer has no bands: give by layer alone", fields="by")
    words = [w.strip() for w in rest.split(",")]
    try:
        bounds = tuple(float(w) for w in words)
    except ValueError:
        raise BadParameterError(
            f"by {text[:60]!r}: the bands' bounds must be numbers, such as {column[:20]}:0,5,15,65", fields="by"
        ) from None
    if not all(math.isfinite(b) for b in bounds) or any(b >= c for b, c in zip(bounds, bounds[1:])):
        raise BadParameterError(
            f"by {text[:60]!r}: give finite bounds in increasing order, such as {column[:20]}:0,5,15,65", fields="by"
        )
    if len(bounds) > MAX_BOUNDS:
        raise BadParameterError(
            f"by {text[:40]!r} gives {len(bounds):,} bounds: give at most {MAX_BOUNDS}", fields="by"
        )
    return By(column, bounds)


def parse_bys(values: object) -> tuple[By, ...]:
    """A request's ``by``: one word or a list of them, each once (:func:`parse_by`)."""
    if values is None:
        return ()
    words = [values] if isinstance(values, str) else values
    if not isinstance(words, (list, tuple)):
        raise BadParameterError(f"by must be a list of {SYNTAX}", fields="by")
    out = tuple(parse_by(w) for w in words)
    twice = next((b.column for i, b in enumerate(out) if b.column in [c.column for c in out[:i]]), None)
    if twice is not None:
        raise BadParameterError(f"by names {twice[:40]!r} twice: give each grouping once", fields="by")
    return out


__all__ = ["MAX_BOUNDS", "MAX_GROUPS", "PREFIX", "SYNTAX", "By", "bound_text", "parse_by", "parse_bys"]
