"""The time of an observed series as its file names it, and the ticks of a backtest's cuts.

A cut is a value of the observed file's time column, as ``time`` reads it (:mod:`sim.store.timeline`): a whole
number (a day, or a tick), an ISO date or a timestamp; for a ``tick,...`` series or a run's series file, a tick.
The data known at cut ``T`` are those of every tick that has ended by ``T``: a cut is a tick's last time (with daily
ticks any day; with ``tick 7d``, the last day of a week; a date cut on a file of timestamps is that day's end), and
a cut inside a longer tick is refused, since that tick's count holds rows after the cut, except where the tick is
one row (weekly counts on weekly ticks: a row counts its whole week), whose any time names it (its date, any day
of its week, its ISO week ``2005-W07``). Cuts are printed as the tick's label, which reads back as the same cut.
The forecast starts at the tick after it.

``cuts N`` spreads N cuts evenly over the span that leaves a horizon after the last: with the last observed tick
``L`` and the horizon ``H``, cut ``i`` (1 to N) falls on tick ``round(i * (L - H) / N)``: the last at ``L - H``, the
first after a share ``1 / N`` of that span, which its fit has as data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from sim.core.numbers import int_of
from sim.errors import BadParameterError
from sim.store.observed import ObservedSeries
from sim.store.timeline import DAY, WEEK, parse_duration, week_labels
from sim.store.timeticks import iso_weeks

#: An ISO date, or the start of a timestamp (numpy alone would read ``17`` as the year 17).
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: An ISO week.
_WEEK = re.compile(r"([0-9]{4})-W([0-9]{2})\Z")
#: How a kind of time is written, for a sentence.
_GIVE = {
    "tick": "a tick (17)",
    "whole": "a whole number (17)",
    "date": "an ISO date (1861-11-20)",
    "week": "an ISO week (2005-W07) or an ISO date",
}


@dataclass(frozen=True)
class Timeline:
    """Each tick's time, as the observed file names it.

    Attributes:
        kind: ``tick`` (a series of ticks), ``whole`` (whole numbers of the file's time column), ``date`` or
            ``stamp``.
        values: each tick's time as a comparable number (ticks, whole numbers, days or seconds since 1970).
        labels: each tick's name as the file writes it.
        name: the observation's name (its path), for a sentence.
        last: the last observed tick.
        step: how many of :attr:`values`' units a tick spans (1 for daily ticks of days).
        whole_rows: each tick is one row of the file, counting the whole tick (weekly counts on weekly ticks): any
            time inside a tick names it as a cut.
    """

    kind: str
    values: np.ndarray
    labels: list[str]
    name: str
    last: int
    step: int = 1
    whole_rows: bool = False

    @classmethod
    def of(cls, obs: ObservedSeries) -> Timeline:
        """The timeline of ``obs``: its ticks, or the times of its file's time column (``obs.recorded``)."""
        last = int(obs.ticks.max()) if obs.ticks.size else 0
        k = np.arange(last + 1, dtype=np.int64)
        rec = obs.recorded
        if rec is None:
            return cls("tick", k, [str(x) for x in k.tolist()], obs.path, last)
        tick_s = parse_duration(str(rec["tick"]))
        origin = rec.get("origin")
        whole = rec.get("span") is not None and rec.get("span") == rec["tick"]
        if origin is None:  # whole numbers: each tick a whole step of the column's unit
            first, end = int(rec["first"]), int(rec["last"])
            per = (end - first) // last if last else 1
            values = first + k * per
            return cls("whole", values, [str(x) for x in values.tolist()], obs.path, last, max(1, per), whole)
        week = _WEEK.match(str(origin))
        if week is not None and tick_s % WEEK == 0:  # ISO weeks on ticks of whole weeks: named as weeks
            mondays = iso_weeks(np.array([int(week.group(1))]), np.array([int(week.group(2))]))[0] + k * (tick_s // DAY)
            return cls("week", mondays, week_labels(mondays), obs.path, last, tick_s // DAY, whole)
        if week is not None:
            origin = str(
                np.datetime64(int(iso_weeks(np.array([int(week.group(1))]), np.array([int(week.group(2))]))[0]), "D")
            )
        if len(str(origin)) == 10:  # ISO dates: ticks of whole days
            days = np.datetime64(str(origin), "D").astype(np.int64) + k * max(1, tick_s // DAY)
            labels = [str(x) for x in np.datetime_as_string(days.astype("datetime64[D]")).tolist()]
            return cls("date", days, labels, obs.path, last, max(1, tick_s // DAY), whole)
        seconds = np.datetime64(str(origin), "s").astype(np.int64) + k * tick_s
        labels = [str(x) for x in np.datetime_as_string(seconds.astype("datetime64[s]")).tolist()]
        return cls("stamp", seconds, labels, obs.path, last, tick_s)

    def value(self, text: str) -> int:
        """The time ``text`` names, as :attr:`values` counts it.

        Raises:
            BadParameterError: a text that is not a time of this kind.
        """
        t = text.strip()
        try:
            if self.kind in ("tick", "whole"):
                return int_of(t)
            if self.kind in ("date", "week") and _DATE.match(t) and len(t) == 10:
                return int(np.datetime64(t, "D").astype(np.int64))
            week = _WEEK.match(t)
            if self.kind in ("date", "week") and week is not None:
                monday = int(iso_weeks(np.array([int(week.group(1))]), np.array([int(week.group(2))]))[0])
                if monday < 0:
                    raise ValueError(t)
                return monday
            if self.kind == "stamp" and _DATE.match(t) and len(t) == 10:  # a day: known at its end
                return int(np.datetime64(t, "s").astype(np.int64)) + DAY - 1
            if self.kind == "stamp" and _DATE.match(t):
                return int(np.datetime64(t.replace(" ", "T").removesuffix("Z"), "s").astype(np.int64))
        except ValueError:
            pass
        give = _GIVE.get(self.kind, "an ISO timestamp (2009-04-27T13:00:00)")
        raise BadParameterError(
            f"cut {t[:40]!r} is not a time of {self.name}'s time column: give {give}, as the column holds", fields="cut"
        )

    def tick_of(self, text: str) -> int:
        """The tick of cut ``text``: the last tick whose time is at most the cut's.

        Raises:
            BadParameterError: not a time; a time before the first observation, at the last or after it.
        """
        v = self.value(text)
        first, last = self.labels[0], self.labels[-1]
        if v < int(self.values[0]):
            raise BadParameterError(
                f"cut {text.strip()[:40]} lies before the first observation ({first}) of {self.name}: give cuts "
                f"from {first} to before {last}",
                fields="cut",
            )
        if v > int(self.values[-1]):
            raise BadParameterError(
                f"cut {text.strip()[:40]} lies after the last observation ({last}) of {self.name}: give cuts from "
                f"{first} to before {last}",
                fields="cut",
            )
        tick = int(np.searchsorted(self.values, v, side="right")) - 1
        end = int(self.values[tick]) + self.step - 1
        if v < end and not self.whole_rows:
            before = f"{self.end_label(tick - 1)} or " if tick > 0 else ""
            raise BadParameterError(
                f"cut {text.strip()[:40]} falls inside the tick from {self.labels[tick]} of {self.name}, whose count "
                f"holds rows after the cut: give a tick's last time ({before}{self.end_label(tick)})",
                fields="cut",
            )
        if tick >= self.last:
            raise BadParameterError(
                f"cut {text.strip()[:40]} is the last observation ({last}) of {self.name}, and nothing after it is "
                "left to score: give an earlier cut",
                fields="cut",
            )
        return tick

    def end_label(self, tick: int) -> str:
        """The last time of ``tick`` as a cut names it."""
        end = int(self.values[tick]) + self.step - 1
        if self.kind in ("tick", "whole"):
            return str(end)
        if self.kind == "week":
            return week_labels(np.array([int(self.values[tick])]))[0]
        if self.kind == "date":
            return str(np.datetime_as_string(np.datetime64(end, "D")))
        return str(np.datetime_as_string(np.datetime64(end, "s")))

    def end_time(self, tick: int) -> str:
        """The last time of ``tick`` as a date where the file has dates or weeks (a week's Sunday), else as
        :meth:`end_label` names it."""
        if self.kind == "week":
            return str(np.datetime_as_string(np.datetime64(int(self.values[tick]) + self.step - 1, "D")))
        return self.end_label(tick)

    def ahead(self, horizon: int) -> tuple[list[str], list[str]]:
        """The ``horizon`` ticks after the last observation: each one's label (as the file would name it) and its
        last time (a date's last day: a hub's ``target_end_date``; a whole number's or a tick's last value)."""
        return self.after(self.last, horizon)

    def after(self, tick: int, horizon: int) -> tuple[list[str], list[str]]:
        """The ``horizon`` ticks after ``tick``, as :meth:`ahead` names them (inside the data or past it)."""
        k = np.arange(tick + 1, tick + 1 + horizon, dtype=np.int64)
        start = int(self.values[0]) + k * self.step if self.kind != "tick" else k
        if self.kind in ("tick", "whole"):
            return [str(x) for x in start.tolist()], [str(x) for x in (start + self.step - 1).tolist()]
        if self.kind == "week":
            ends = np.datetime_as_string((start + self.step - 1).astype("datetime64[D]"))
            return week_labels(start), [str(x) for x in ends.tolist()]
        if self.kind == "date":
            firsts = np.datetime_as_string(start.astype("datetime64[D]"))
            ends = np.datetime_as_string((start + self.step - 1).astype("datetime64[D]"))
            return [str(x) for x in firsts.tolist()], [str(x) for x in ends.tolist()]
        firsts = np.datetime_as_string(start.astype("datetime64[s]"))
        ends = np.datetime_as_string((start + self.step - 1).astype("datetime64[s]"))
        return [str(x) for x in firsts.tolist()], [str(x) for x in ends.tolist()]

    def spread(self, count: int, horizon: int) -> list[int]:
        """``count`` cut ticks spread evenly over the span that leaves ``horizon`` ticks after the last (see the
        module docstring).

        Raises:
            BadParameterError: the span holds fewer than ``count`` ticks.
        """
        span = self.last - horizon
        if span < count:
            raise BadParameterError(
                f"cuts {count} with horizon {horizon} need {count} ticks before the last horizon, and the "
                f"{self.last + 1} ticks of {self.name} leave {max(span, 0)}: give fewer cuts or a shorter horizon",
                fields=("cuts", "horizon"),
            )
        return [round(i * span / count) for i in range(1, count + 1)]
