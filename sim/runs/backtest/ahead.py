"""Forecasts of the ticks after the last observation (issue 73): ``agora forecast WORLD --observed FILE``,
``world.forecast(observed=...)``.

The model is fitted on every observation, and each method forecasts the ``horizon`` ticks after the last: the
backtest's machinery (:mod:`sim.runs.backtest.running`) with one cut, at the last observation, and nothing after
it to score. The methods are the backtest's (``agora``: the fit's accepted simulations continued; ``persistence``;
``renewal`` with a serial interval); each forecast keeps its quantiles at the Forecast Hub's 23 levels
(:data:`sim.analysis.scores.HUB_LEVELS`) and can be written as a **hubverse model-output table**
(:meth:`AheadResult.hubverse_rows`): one row per method, horizon and quantile level, with the columns
``model_id``, ``reference_date``, ``target``, ``horizon``, ``target_end_date``, ``location``, ``output_type``
(``quantile``), ``output_type_id`` (the level) and ``value``. ``reference_date`` is the last observed tick's last
day, ``target_end_date`` each forecast tick's last day (for a file whose time column holds whole numbers, the
numbers themselves); ``model_id`` is ``agora-METHOD``; ``target`` is ``inc COLUMN`` (counts per tick).
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.analysis.scores import HUB_LEVELS
from sim.core.diskio import replacing
from sim.errors import BadParameterError
from sim.runs.backtest.result import BacktestResult, Progress
from sim.runs.backtest.running import has_followers, run_backtest
from sim.runs.backtest.timeline import Timeline

if TYPE_CHECKING:
    from sim.core.world import World
    from sim.engine.requests.backtest import Backtest
    from sim.model.registry import Registry

#: The columns of a hubverse model-output table, in order.
HUBVERSE_COLUMNS = (
    "model_id",
    "reference_date",
    "target",
    "horizon",
    "target_end_date",
    "location",
    "output_type",
    "output_type_id",
    "value",
)


@dataclass
class AheadResult:
    """A forecast past the last observation: the backtest of one cut at the last tick (its fit and each method's
    draws summarised), the ticks ahead named as the file names time, and where the forecast stands.

    Attributes:
        backtest: the one-cut backtest (its ``cuts[0]`` holds the fit, the bands and the 23 quantiles).
        targets: each forecast tick's label; ``ends``: its last time (a hub's ``target_end_date``).
        reference: the last observed tick's last time (a hub's ``reference_date``).
        location: the ``location`` of the hubverse rows.
    """

    backtest: BacktestResult
    targets: list[str]
    ends: list[str]
    reference: str
    location: str

    @classmethod
    def of(cls, result: BacktestResult, timeline: Timeline, location: str) -> AheadResult:
        targets, ends = timeline.ahead(result.horizon)
        return cls(result, targets, ends, timeline.end_time(timeline.last), location)

    def to_dict(self) -> dict[str, object]:
        """What ``agora forecast --observed --json`` prints: the observation, the settings, the fit, and per method
        the bands (5 quantiles) and the 23 quantiles per horizon; ``filtered``: what the particle filter did
        (:class:`sim.runs.backtest.filtering.Filtered`; None with ``filter`` none)."""
        b = self.backtest
        cut = b.cuts[0].to_dict()
        return {
            "observed": b.observed,
            "column": b.column,
            **b.settings,
            "seconds": round(b.seconds, 3),
            "workers": b.workers,
            "last": cut["cut"],
            "reference_date": self.reference,
            "targets": self.targets,
            "target_end_dates": self.ends,
            "location": self.location,
            "fit": cut["fit"],
            "failed": cut["failed"],
            "alive": cut["alive"],
            "filtered": cut.get("filtered"),
            "forecasts": cut["forecasts"],
            "quantiles": cut["quantiles"],
            "history": [None if not math.isfinite(x) else float(x) for x in cut_history(self.backtest)],
        }

    def hubverse_rows(self) -> list[dict[str, object]]:
        """The forecast as hubverse model-output rows (see the module docstring)."""
        return hubverse_rows(self.backtest, self.location)

    def hubverse_csv(self) -> str:
        """:meth:`hubverse_rows` as CSV text (:func:`hubverse_text`)."""
        return hubverse_text(self.hubverse_rows())


async def run_ahead(
    world: World,
    registry: Registry,
    request: Backtest,
    *,
    progress: Progress = None,
    location: str | None = None,
) -> AheadResult:
    """Fit ``request``'s model on every observation and forecast the ``horizon`` ticks after the last (see the
    module docstring); ``world`` is never modified.

    Raises:
        BadParameterError: cuts given (a forecast from data starts after the last observation), a file of
            cascades, and what a backtest's setup raises (a method the data cannot feed, a bad serial interval).
        BadFileError: an unreadable observation file.
    """

    if request.cut or request.cuts is not None:
        raise BadParameterError(
            "a forecast from observed data starts after the last observation: drop cut and cuts (agora backtest "
            "forecasts from cuts inside the data, and scores them)",
            fields=("cut", "cuts"),
        )
    observed = request.fit.observed
    if observed is not None and has_followers(observed):
        raise BadParameterError(
            "a forecast from observed data forecasts a series of counts, and this file holds cascades of posts: "
            "use agora backtest for cascades' final sizes",
            fields="observed",
        )
    result = await run_backtest(world, registry, request, progress=progress, ahead=True)
    assert isinstance(result, BacktestResult) and result.timeline is not None
    return AheadResult.of(result, result.timeline, location_of(result, location))


def _stem(path: str) -> str:
    base = os.path.basename(path)
    for ext in (".csv.gz", ".csv", ".parquet"):
        if base.lower().endswith(ext):
            return base[: -len(ext)]
    return base or "all"


def hubverse_rows(result: BacktestResult, location: str) -> list[dict[str, object]]:
    """Every cut's forecasts of a backtest as hubverse model-output rows (as :meth:`AheadResult.hubverse_rows`,
    each cut's ``reference_date`` its last observed time), so that anyone can score them with the field's tools."""

    line = result.timeline
    assert line is not None
    model = result.settings.get("model") or "model"
    target = f"inc {result.column}"
    rows: list[dict[str, object]] = []
    for cut in result.cuts:
        reference = line.end_time(cut.tick)
        _, ends = line.after(cut.tick, result.horizon)
        for method in result.methods:
            values = cut.quantiles.get(method)
            for h in range(result.horizon) if values is not None else ():
                for level, per in zip(HUB_LEVELS, values or ()):
                    rows.append(
                        {
                            "model_id": f"agora-{model}" if method == "agora" else f"agora-{method}",
                            "reference_date": reference,
                            "target": target,
                            "horizon": h + 1,
                            "target_end_date": ends[h],
                            "location": location,
                            "output_type": "quantile",
                            "output_type_id": level,
                            "value": per[h],
                        }
                    )
    return rows


def hubverse_text(rows: list[dict[str, object]]) -> str:
    """Hubverse rows as CSV text: a header row, then the rows (a level as written in
    :data:`~sim.analysis.scores.HUB_LEVELS`, a value to 10 significant digits, a missing one empty)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HUBVERSE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "output_type_id": f"{row['output_type_id']:g}", "value": _cell(row["value"])})
    return out.getvalue()


def write_hubverse(path: str, rows: list[dict[str, object]]) -> dict[str, object]:
    """Write hubverse ``rows`` to ``path`` atomically (a temporary file beside it, then renamed: a kill leaves the
    old file or the new one, never a part); what a report says of it (``output``)."""

    text = hubverse_text(rows)
    with replacing(path, "forecast table") as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return {"path": os.path.abspath(path), "format": "hubverse", "rows": len(rows)}


def location_of(result: BacktestResult, location: str | None) -> str:
    """The hubverse ``location``: as given, else the observed file's name without its extension."""
    return location if location is not None else _stem(str(result.observed.get("path", "")))


def _cell(value: object) -> str:
    return "" if value is None else f"{float(value):.10g}"  # type: ignore[arg-type]


def cut_history(result: BacktestResult) -> list[float]:
    """The observed counts up to the last observation (NaN where the file has no row)."""
    return [float(x) for x in result.cuts[0].history.tolist()]


__all__ = [
    "HUBVERSE_COLUMNS",
    "AheadResult",
    "hubverse_rows",
    "hubverse_text",
    "location_of",
    "run_ahead",
    "write_hubverse",
]
