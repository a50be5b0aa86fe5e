"""One live session's per-tick series in Python (``live.series(session)``): the counts a run's series has (the
model's states, ``reached``, ``new``, the cascade's ``depth`` and ``breadth``, the moments of its variables) as one
numpy array per measure over the session's ticks; a pandas DataFrame with a row per tick; and, in long format, the
rows ``agora run --series`` writes (:class:`sim.runs.results.Series`), equal to the command's for the same world,
message and seed.

The arrays are made from the session's own series (:func:`sim.model.series.series_dict`, what ``--series`` and
``GET /api/v1/sessions/{id}?series=true`` give), read between two ticks: one copy per call, O(ticks x measures).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from sim.errors import BadParameterError
from sim.model.series import SeriesColumns
from sim.runs.results import Series, columns_frame
from sim.store.seriesio import table_from_records

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class SessionSeries:
    """A live session's series as of the tick it was read at: ``columns()`` (``tick`` and one array per measure),
    ``series["I"]``, ``to_pandas()`` (one row per tick), ``long()`` and ``write(path)`` (``agora run --series``'s
    rows: run 0, tick, measure, value).

    Attributes:
        session: the session's id. model: its model. declared: which measures are states, measures and variables.
        data: the series as the session gives it (``{"tick": [...], measure: [...]}``, JSON-ready lists; a
            variable's moment is None where it is not a number), which :meth:`columns` makes arrays of.
    """

    session: int
    model: str
    declared: SeriesColumns
    data: Mapping[str, list[object]] = field(repr=False)
    source: str = ""

    def __len__(self) -> int:
        """The number of ticks recorded (tick 0, right after seeding, and one per round since)."""
        return len(self.data.get("tick", ()))

    @property
    def ticks(self) -> np.ndarray:
        """The ticks, counted from the session's start (0: after seeding), int64."""
        return np.asarray(self.data.get("tick", ()), dtype=np.int64)

    def measures(self) -> list[str]:
        """The measures in order: the model's states, ``reached``, ``new``, ... (every column but ``tick``)."""
        return [k for k in self.data if k != "tick"]

    def __getitem__(self, measure: str) -> np.ndarray:
        """One measure per tick: int64 for counts, float64 for a variable's moments (NaN: not a number).

        Raises:
            BadParameterError: no such measure (the sentence lists them).
        """
        if not isinstance(measure, str) or measure == "tick" or measure not in self.data:
            raise BadParameterError(
                f"the series of session {self.session} has no measure {str(measure)[:60]!r}: "
                f"it has {', '.join(self.measures())}"
            )
        return _array(measure, self.data[measure], self.declared)

    def columns(self) -> dict[str, np.ndarray]:
        """``tick`` and every measure as numpy arrays over the ticks, in order."""
        return {"tick": self.ticks, **{m: self[m] for m in self.measures()}}

    def to_pandas(self) -> pd.DataFrame:
        """One row per tick: ``tick``, then a column per measure (needs pandas)."""
        return columns_frame(self.columns())

    def to_dict(self) -> dict[str, list[object]]:
        """The series as lists (JSON-ready): ``GET /api/v1/sessions/{id}?series=true``'s ``series``."""
        return {k: list(v) for k, v in self.data.items()}

    def long(self) -> Series:
        """The rows ``agora run --series`` writes of one run, here run 0: ``run, tick, measure, value``."""
        records: list[dict[str, object]] = [
            {"keys": {}, "run": 0, "series": self.to_dict(), "columns": self.declared.to_dict()}
        ]
        return Series(records, table=table_from_records(records, (), source=self.source))

    def write(self, path: str, *, force: bool = False) -> dict[str, object]:
        """Write the ``--series`` file of this session (``.csv``, ``.csv.gz`` or ``.parquet``): byte for byte
        what ``agora run WORLD --inject ... --series PATH`` writes of the same run.

        Returns:
            ``{"path": the absolute path, "rows": rows written}``.

        Raises:
            TargetExistsError: ``path`` exists and ``force`` is false. BadParameterError: an unknown extension,
                Parquet without pyarrow.
        """
        return self.long().write(path, force=force)


def _array(name: str, values: list[object], declared: SeriesColumns) -> np.ndarray:
    """A measure's values as an array: int64 for counts, float64 for a variable's moments and any measure
    that is not whole (NaN where the session gave None)."""
    if not values:
        return np.zeros(0, dtype=np.float64 if name in declared.variables else np.int64)
    a = np.asarray([np.nan if v is None else v for v in values])
    return a.astype(np.float64) if a.dtype.kind == "f" or name in declared.variables else a.astype(np.int64)
