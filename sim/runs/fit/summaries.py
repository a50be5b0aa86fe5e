"""Summary statistics: what a fit compares between the data and each simulation.

- **A series** (``tick`` and state columns, or ``tick,new``): by default (``curve``) every observed column at
  every observed tick, as the simulation's run report has it (``series``: the model's states, ``reached``,
  ``new``, ``depth``, ``breadth``, ``new.STATE``, ``onsets``, ``removals``). A run that ended before a tick keeps
  its last value there (the per-tick counts ``new``, ``new.STATE``, ``onsets``, ``removals``: 0). Each
  simulation runs to the last observed tick. Other statistics of the same columns may be chosen instead or as
  well (``summary``: :data:`BUILTIN_SUMMARIES`, and a user's functions, :class:`UserSummary`).
- **A set of cascades**: the distribution of their sizes (the mean and the 10, 25, 50, 75 and 90 % quantiles
  of ``log(1 + size)``), and where trees are given the mean and median depth and the mean structural
  virality. A simulation is as many runs as there are observed cascades (``replicates``), so that simulated
  and observed statistics come from samples of the same size.
- **Adoption times** of a model without an exact likelihood: the adoption curve (``new`` and ``reached`` per
  tick) made from them, as a series.

The distance between two vectors of statistics (:mod:`sim.runs.fit.abc`) weighs each by one over its spread among
the simulations, so statistics of different units count alike.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.core.tracebacks import plugin_location, plugin_traceback
from sim.engine.bounds import MAX_REPLICATES
from sim.engine.requests.fit import CURVE, SummarySpec, summary_code, summary_is_file
from sim.errors import BadParameterError
from sim.model.series import count_measures, is_tick_count
from sim.runs.reports import RunEntry

if TYPE_CHECKING:
    from sim.store.observed import Observed, ObservedCascades

#: The measures every run's series has beside the model's states.
SERIES_MEASURES = ("reached", "new", "depth", "breadth")
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


#: ``waves``: a wave starts where the column (a centred 3-tick moving mean) reaches WAVE_START of its largest
#: value, and ends where it falls below WAVE_END of it.
WAVE_START = 0.5
WAVE_END = 0.25


def is_flow(column: str) -> bool:
    """Whether a series' column counts events per tick (``new``, ``new.E``, ``onsets``, ``removals``), whose
    ``final`` is its total, rather than agents in a state at a tick, whose ``final`` is its last value."""
    return column == "new" or column.startswith("new.") or column in ("onsets", "removals")


def _peak(v: np.ndarray, ticks: np.ndarray) -> np.ndarray:
    return v.max(axis=1)


def _peak_tick(v: np.ndarray, ticks: np.ndarray) -> np.ndarray:
    return ticks[np.argmax(v, axis=1)].astype(np.float64)


def _growth(v: np.ndarray, ticks: np.ndarray) -> np.ndarray:
    """The least-squares slope of ``log(1 + value)`` against the tick, over the ticks from the first to the
    column's peak (its first largest value) inclusive; 0 where the peak is the first tick."""
    from sim.runs.fit.summary_kernels import growth_rows  # noqa: PLC0415 - numba loads only for growth

    return growth_rows(np.ascontiguousarray(v, dtype=np.float64), ticks.astype(np.float64))


def _waves(v: np.ndarray, ticks: np.ndarray) -> np.ndarray:
    """The number of waves: the column smoothed by a centred 3-tick moving mean (2 ticks at the ends), a wave
    starting each time it reaches :data:`WAVE_START` of its largest value after having been below
    :data:`WAVE_END` of it (or at the start); 0 for a column that is 0 throughout."""
    from sim.runs.fit.summary_kernels import waves_rows  # noqa: PLC0415 - numba loads only for waves

    return waves_rows(np.ascontiguousarray(v, dtype=np.float64), WAVE_START, WAVE_END)


_PER_COLUMN: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "peak": _peak,
    "peak_tick": _peak_tick,
    "growth": _growth,
    "waves": _waves,
}


def series_statistics(name: str, curves: dict[str, np.ndarray], ticks: np.ndarray) -> np.ndarray:
    """The built-in summary ``name`` of each run's ``curves`` (column -> ``(runs, ticks)``), ``(runs, k)``:

    - ``curve``: every column at every tick (k: columns x ticks);
    - ``peak``: each column's largest value; ``peak_tick``: the tick of its first largest value;
    - ``final``: each column's last value, or its total for a column of events per tick (:func:`is_flow`);
    - ``growth``: the early exponential growth rate of each column (:func:`_growth`: a log-linear least-squares
      slope up to its peak);
    - ``waves``: each column's number of waves (:func:`_waves`).

    Every column of every run in one pass of array operations (a few microseconds a simulation).
    """
    columns = list(curves)
    if name == "curve":
        return np.concatenate([curves[c] for c in columns], axis=1)
    stacked = np.stack([curves[c] for c in columns], axis=1)  # (runs, columns, ticks)
    runs = stacked.shape[0]
    flat = stacked.reshape(runs * len(columns), -1)
    if name == "final":
        flows = np.array([is_flow(c) for c in columns])
        return np.where(flows[None, :], stacked.sum(axis=2), stacked[:, :, -1])
    return _PER_COLUMN[name](flat, ticks).reshape(runs, len(columns))


class SummaryError(BadParameterError):
    """A user's summary function raised or answered what a summary cannot be; ``traceback`` holds its own frames
    (shown to its author by the command line even though the exit code is 2: the fault is in their code)."""

    show_traceback = True

    def __init__(self, message: str, tb: str = "") -> None:
        super().__init__(message, fields="summary")
        self.traceback = tb


def _load(spec: str) -> Callable[..., Any]:
    """The function ``module:function`` names (``module`` a module on the path or in the current folder, or a
    ``.py`` file).

    Raises:
        SummaryError: the module cannot be found, does not compile (its line named, never its text) or raised on
            import (with its traceback), or has no such function.
        BadFileError: the ``.py`` file is missing, a folder, a pipe or too large.
    """
    module_name, _, attr = spec.rpartition(":")
    module = _load_file(spec, module_name) if summary_is_file(module_name) else _import(spec, module_name)
    func: Any = module
    for part in attr.split("."):
        func = getattr(func, part, None)
        if func is None:
            kind = "file" if summary_is_file(module_name) else "module"
            raise SummaryError(f"summary {spec!r}: {kind} {module_name!r} has no {attr!r}")
    if not callable(func):
        raise SummaryError(f"summary {spec!r}: {attr!r} is not a function")
    return func


def _load_file(spec: str, file: str) -> ModuleType:
    """The module of the ``.py`` file ``file``, its bytes read once (bounded) and compiled here, so that a file
    that is no Python is one sentence naming its line, never showing it."""
    path = os.path.abspath(file)
    if not path.endswith(".py"):  # Fit.parse refuses it; a request built otherwise is refused here too
        raise SummaryError(f"summary {spec!r} names a file that is not a Python file (FILE.py): give FILE.py:function")
    source = summary_code(path)
    try:
        code = compile(source, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:  # ValueError: null bytes
        line = getattr(exc, "lineno", None)
        at = f" at line {line}" if line else ""
        raise SummaryError(
            f"summary {spec!r}: file {path} is not Python that compiles{at} ({type(exc).__name__}): fix it, or give "
            "FILE.py:function of a Python file"
        ) from None
    name = "agora_summary_" + os.path.splitext(os.path.basename(path))[0]
    found = importlib.util.spec_from_file_location(name, path)
    if found is None:  # pragma: no cover - a .py path always has a spec
        raise SummaryError(f"summary {spec!r}: Python cannot load {path} as a module: give FILE.py:function")
    module = importlib.util.module_from_spec(found)
    sys.modules[name] = module  # so that a worker process can pickle its functions by name
    try:
        exec(code, module.__dict__)  # noqa: S102 - the user's own summary module, named by them
    except Exception as exc:  # noqa: BLE001 - the author's module failed: said with its traceback
        sys.modules.pop(name, None)
        raise _raised(spec, "importing it", exc) from None
    return module


def _import(spec: str, module_name: str) -> ModuleType:
    """The module ``module_name``, imported (a module beside the command first, as ``python -m`` finds it)."""
    added = os.getcwd() not in sys.path
    try:
        if added:
            sys.path.insert(0, os.getcwd())
        try:
            return importlib.import_module(module_name)
        finally:
            if added:
                sys.path.remove(os.getcwd())
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.split(".")[0] == exc.name.split(".")[0]:
            raise SummaryError(
                f"summary {spec!r}: there is no module {module_name!r} here: give module:function of a module in "
                "this folder or on the Python path, or FILE.py:function"
            ) from None
        raise _raised(spec, "importing it", exc) from None
    except SyntaxError as exc:  # the module's text is never shown: its line is
        at = f" at line {exc.lineno}" if exc.lineno else ""
        raise SummaryError(
            f"summary {spec!r}: module {module_name!r} is not Python that compiles{at} (SyntaxError): fix it"
        ) from None
    except Exception as exc:  # noqa: BLE001 - the author's module failed: said with its traceback
        raise _raised(spec, "importing it", exc) from None


def _raised(spec: str, when: str, exc: BaseException) -> SummaryError:
    tb = "".join(traceback.format_exception(exc))
    where = plugin_location(tb)
    at = f" at {where}" if where else ""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return SummaryError(
        f"summary function {spec} raised {type(exc).__name__}{': ' + text[:200] if text else ''}{at} {when}: "
        "fix it (its traceback shows where)",
        plugin_traceback(tb) or tb,
    )


class UserSummary:
    """A user's statistics of a series: ``function(series)`` with ``series`` a dict of each observed column
    (and ``tick``) to a read-only 1-D float array over the observed ticks, answering a 1-D array of finite
    numbers (or one number) of the same length for every series. Called once on the data, then once per run of
    every simulation (its runs' answers averaged, as ``curve`` averages their curves)."""

    def __init__(self, spec: str | Callable[..., object]) -> None:
        if callable(spec):
            self.function = spec
            self.name = f"{getattr(spec, '__module__', '?')}:{getattr(spec, '__qualname__', repr(spec))}"
        else:
            self.name = spec
            self.function = _load(spec)
        self.size: int | None = None

    def __call__(self, curves: dict[str, np.ndarray], ticks: np.ndarray, what: str) -> np.ndarray:
        """The statistics of each run's ``curves`` (column -> ``(runs, ticks)``), ``(runs, size)``; ``what`` says
        which series these are (the data, or a simulation), for an error."""
        tick = ticks.astype(np.float64)
        tick.setflags(write=False)
        rows = []
        for r in range(next(iter(curves.values())).shape[0]):
            series = {"tick": tick}
            for c, v in curves.items():
                row = np.array(v[r], dtype=np.float64)
                row.setflags(write=False)
                series[c] = row
            try:
                got = self.function(series)
                values = np.asarray(got, dtype=np.float64)
            except Exception as exc:  # noqa: BLE001 - the author's function failed: said with its traceback
                raise _raised(self.name, f"on {what}", exc) from None
            rows.append(self._check(values, what))
        return np.vstack(rows)

    def _check(self, values: np.ndarray, what: str) -> np.ndarray:
        if values.ndim == 0:
            values = values.reshape(1)
        if values.ndim != 1 or values.size == 0:
            raise SummaryError(
                f"summary function {self.name} answered an array of shape {values.shape} on {what}: it must "
                "answer one number or a 1-D array of numbers"
            )
        if self.size is not None and values.size != self.size:
            raise SummaryError(
                f"summary function {self.name} answered {values.size} numbers on {what} and {self.size} on the "
                "data: it must answer as many for every series"
            )
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise SummaryError(
                f"summary function {self.name} answered {values[bad[0]]} (item {bad[0]}) on {what}: every number "
                "must be finite (answer 0, say, where a ratio has nothing to divide by)"
            )
        return values


class Summary:
    """The statistics of one kind of observation: ``names`` and ``observed`` values, the ``steps`` each run
    takes (None: until its cascade ends), the runs a simulation makes (``replicates``); called with a
    simulation's runs, the same statistics of them."""

    kind = ""
    names: list[str]
    observed: np.ndarray
    steps: int | None = None
    replicates: int = 1

    def __call__(self, runs: list[RunEntry]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class SeriesSummary(Summary):
    """The statistics (``summary``: every column of an observed series at its ticks by default) of an observed
    series, and of each simulation's runs at the same ticks."""

    kind = "series"

    def __init__(
        self,
        columns: dict[str, np.ndarray],
        ticks: np.ndarray,
        states: tuple[str, ...],
        model: str,
        summary: tuple[SummarySpec, ...] = CURVE,
        observables: tuple[str, ...] = (),
    ) -> None:
        known = (*states, *SERIES_MEASURES, *count_measures(tuple(states), True, observables))
        for name in columns:
            if name not in known:  # not named: a header is the file's text, and errors never show it
                raise BadParameterError(
                    f"the observed series has a column that model {model!r} does not report: its series are "
                    f"{', '.join(known)} (columns picks the ones to fit)",
                    fields="columns",
                )
        if not columns:
            raise BadParameterError("the observed series has no column beside tick: give at least one (e.g. I, new)")
        self.columns = list(columns)
        self.ticks = np.asarray(ticks, dtype=np.int64)
        self.steps = int(self.ticks.max()) + 1
        #: The observed columns' values (what the predictive check draws beside its band).
        self.series = {c: np.asarray(columns[c], dtype=np.float64) for c in self.columns}
        self.parts: list[str | UserSummary] = [
            s if isinstance(s, str) and ":" not in s else UserSummary(s) for s in summary
        ]
        self.observed = self.statistics({c: v[None, :] for c, v in self.series.items()}, "the observed data")[0]
        self.names = []
        for part in self.parts:
            if isinstance(part, UserSummary):
                self.names += [f"{part.name}[{i}]" for i in range(part.size or 0)]
            elif part == "curve":
                self.names += [f"{c}@{t}" for c in self.columns for t in self.ticks.tolist()]
            else:
                self.names += [f"{part}({c})" for c in self.columns]

    def curves(self, runs: list[RunEntry]) -> dict[str, np.ndarray]:
        """Each column of each run at the observed ticks, ``(runs, ticks)``."""
        out: dict[str, np.ndarray] = {}
        for c in self.columns:
            rows = []
            for run in runs:
                values = np.asarray(run["series"][c], dtype=np.float64)
                pad = 0.0 if is_tick_count(c) or values.size == 0 else float(values[-1])
                at = np.full(self.ticks.size, pad)
                inside = self.ticks < values.size
                at[inside] = values[self.ticks[inside]]
                rows.append(at)
            out[c] = np.array(rows)
        return out

    def statistics(self, curves: dict[str, np.ndarray], what: str) -> np.ndarray:
        """The chosen statistics of each run's ``curves`` (column -> ``(runs, ticks)``), ``(runs, k)``."""
        out = []
        for part in self.parts:
            if isinstance(part, UserSummary):
                values = part(curves, self.ticks, what)
                if part.size is None:
                    part.size = values.shape[1]
                out.append(values)
            else:
                out.append(series_statistics(part, curves, self.ticks))
        return np.concatenate(out, axis=1)

    def __call__(self, runs: list[RunEntry]) -> np.ndarray:
        what = f"a simulation (run seed {runs[0].get('seed')})" if runs else "a simulation"
        return self.statistics(self.curves(runs), what).mean(axis=0)


def _size_stats(sizes: np.ndarray) -> list[float]:
    logs = np.log1p(np.asarray(sizes, dtype=np.float64))
    return [float(logs.mean()), *np.quantile(logs, QUANTILES).tolist()]


class CascadeSummary(Summary):
    """The distribution of a set of cascades' sizes (and depths and viralities, where trees were given)."""

    kind = "cascades"

    def __init__(self, observed: ObservedCascades, replicates: int | None) -> None:
        count = int(observed.sizes.size)
        if replicates is None and count > MAX_REPLICATES:
            raise BadParameterError(
                f"{observed.path} holds {count:,} cascades, and an ABC fit of cascades simulates one run per observed "
                f"cascade, at most {MAX_REPLICATES}: give replicates R (at most {MAX_REPLICATES}), or fewer cascades",
                fields="replicates",
            )
        self.replicates = count if replicates is None else replicates
        self.trees = observed.depth is not None and observed.virality is not None
        self.names = ["mean log(1+size)", *(f"q{int(q * 100)} log(1+size)" for q in QUANTILES)]
        values = _size_stats(observed.sizes)
        if self.trees:
            assert observed.depth is not None and observed.virality is not None
            self.names += ["mean depth", "median depth", "mean virality"]
            values += self._tree_stats(observed.depth, observed.virality)
        self.observed = np.array(values)

    @staticmethod
    def _tree_stats(depth: np.ndarray, virality: np.ndarray) -> list[float]:
        vir = np.nan_to_num(np.asarray(virality, dtype=np.float64), nan=0.0)
        d = np.asarray(depth, dtype=np.float64)
        return [float(d.mean()), float(np.median(d)), float(vir.mean())]

    def sizes(self, runs: list[RunEntry]) -> np.ndarray:
        return np.array([r["reached"] for r in runs], dtype=np.int64)

    def __call__(self, runs: list[RunEntry]) -> np.ndarray:
        values = _size_stats(self.sizes(runs))
        if self.trees:
            measures = [r.get("cascade") or {} for r in runs]
            depth = np.array([m.get("depth", 0) for m in measures], dtype=np.float64)
            vir = np.array([m.get("structural_virality", 0.0) for m in measures], dtype=np.float64)
            values += self._tree_stats(depth, vir)
        return np.array(values)


def summary_for(
    observed: Observed,
    states: tuple[str, ...],
    model: str,
    replicates: int | None,
    columns: tuple[str, ...] | None = None,
    summary: tuple[SummarySpec, ...] = CURVE,
    observables: tuple[str, ...] = (),
) -> Summary:
    """The statistics a fit of ``model`` (whose states are ``states``) compares for ``observed`` (a series:
    only ``columns`` of it, when named; its ``summary`` statistics).

    Raises:
        BadParameterError: a named column the series does not have; columns or summaries named for an
            observation that is not a series. SummaryError: a user's summary function that cannot be loaded,
            raises on the data or answers what a summary cannot be.
    """
    kind = observed.kind
    if columns is not None and not observed.per_tick:
        raise BadParameterError(
            f"columns picks columns of a series, and the observation is {kind}: drop it", fields="columns"
        )
    curve = observed.curve()  # counts over time (a series, or adoption times' curve); None for cascades
    if curve is None:
        if tuple(summary) != CURVE:
            raise BadParameterError(
                f"summary chooses statistics of a series, and the observation is {kind} (their size distribution "
                "is compared): drop it",
                fields="summary",
            )
        return CascadeSummary(observed, replicates)  # type: ignore[arg-type]
    have, ticks, _ = curve
    if columns is not None:
        missing = [c for c in columns if c not in have]
        if missing:
            raise BadParameterError(
                f"the observed series has no column {missing[0]!r}: its columns are {', '.join(have)}"
            )
        have = {c: have[c] for c in columns}
    out: Summary = SeriesSummary(have, ticks, states, model, summary, observables)
    if replicates is not None:
        out.replicates = replicates
    return out
