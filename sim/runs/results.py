"""Typed results of ensembles and sweeps, built once by the runs (:func:`sim.runs.runner.run_ensemble`,
:func:`sim.runs.sweep.sweep_result`), with tables only when asked. ``report()`` composes from their fields the
dict ``agora run --json`` and ``agora sweep --json`` print, sharing the entries of the runs and combinations;
``to_dict()`` gives a copy. A run (:class:`Run`) and a combination (:class:`Arm`) keep their JSON entry beside
their typed fields (``run["exposed"]``: any key of it); ``from_dict`` reads a printed report back.

pandas and pyarrow are optional: ``to_pandas()`` and ``to_arrow()`` import them when called, and say in one
sentence how to install them when they are missing.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, cast

import numpy as np

from sim.analysis.plot import check_figure_path, figure_format, plot_files, plot_tables
from sim.errors import BadParameterError
from sim.model.series import SeriesColumns
from sim.runs.design import DesignReport, Sensitivity, sensitivity_from_dict
from sim.runs.reports import (
    ArmReport,
    EnsembleReport,
    FirstFailure,
    JSONObject,
    RunEntry,
    SocialReport,
    SweepReport,
    paired_difference,
    series_records,
)
from sim.store.cascadeio import (
    CascadeTable,
    CcdfTable,
    ccdf_table,
    check_cascades_path,
    check_ccdf_path,
    save_cascades,
    save_ccdf,
)
from sim.store.cascadeio import table_from_records as cascade_table
from sim.store.seriesio import KeyedRows, SeriesTable, check_series_path, save_series, table_from_records
from sim.store.worldfile import check_target

if TYPE_CHECKING:  # optional dependencies, imported when a table is asked for
    import pandas as pd
    import pyarrow as pa

#: A run's adoption forest as arrays (``sim.runs.runner.tree_arrays``); None for a run without one.
Tree = dict[str, np.ndarray] | None


def _pandas() -> ModuleType:
    try:
        import pandas  # noqa: PLC0415 - heavy optional dependency, only when a DataFrame is asked for
    except ImportError:
        raise BadParameterError("to_pandas() needs pandas: pip install pandas") from None
    return pandas


def _pyarrow() -> ModuleType:
    try:
        import pyarrow  # noqa: PLC0415 - heavy optional dependency, only when an Arrow table is asked for
    except ImportError:
        raise BadParameterError("to_arrow() needs pyarrow: pip install 'agora-sim[parquet]'") from None
    return pyarrow


def columns_frame(columns: Mapping[str, object]) -> pd.DataFrame:
    """Columns (name -> values) as a pandas DataFrame, pandas imported only now.

    Raises:
        BadParameterError: pandas is not installed.
    """
    return _pandas().DataFrame(columns)


def _columns_arrow(columns: Mapping[str, object]) -> pa.Table:
    pa = _pyarrow()
    return pa.table(
        {
            k: pa.array(v.tolist() if isinstance(v, np.ndarray) and v.dtype.kind in "OU" else v)
            for k, v in columns.items()
        }
    )


def _figure(
    records: list[dict[str, object]],
    keys: list[str],
    source: str,
    output: str,
    title: str,
    measures: Sequence[str] | None,
    force: bool,
) -> dict[str, object]:
    """Draw series records as ``--plot FILE`` does (one line per combination and measure, a 95% band)."""
    check_target(output, force, what="figure")
    check_figure_path(output)
    if not records:
        raise BadParameterError("no run completed, so there is no series to draw")
    label = os.path.basename(source) if source else "series"
    table = table_from_records(records, keys, source=source)
    return plot_tables([(label, table)], output, measures=measures, title=title)


def plot(
    files: str | Sequence[str],
    output: str,
    *,
    measures: Sequence[str] | None = None,
    title: str | None = None,
    force: bool = False,
) -> dict[str, object]:
    """Draw series files (``.csv``, ``.csv.gz``, ``.parquet``) in one figure, as ``agora plot FILES -o OUTPUT``
    does: for each file, combination and measure the mean over the runs per tick and its 95% band.

    Returns:
        What ``agora plot --json`` prints: ``{"output", "format", "lines", "labels", "measures", ...}``.

    Raises:
        BadParameterError: an unknown figure format or a measure no file has. TargetExistsError: ``output``
            exists and ``force`` is false. BadFileError: a series file is missing or malformed.
    """
    paths = [files] if isinstance(files, str | os.PathLike) else list(files)
    figure_format(output)  # both checks before any input is read, as agora plot does
    check_target(output, force, "figure")
    return plot_files([os.fspath(p) for p in paths], output, measures=list(measures) if measures else None, title=title)


# -- result tables --------------------------------------------------------------------------------------------
R = TypeVar("R", bound=KeyedRows)


@dataclass(eq=False)
class _Table(Generic[R]):
    """What the result tables share: their rows in columns, as a pandas DataFrame or an Arrow table, and the
    file their option writes (``--series``, ``--cascades``, ``--ccdf``).

    Attributes:
        records: the records the table and its files are made from.
    """

    records: list[dict[str, object]] = field(repr=False)
    table: R = field(kw_only=True)
    #: The file in a sentence ("series file"), how its path is checked, and how it is written.
    FILE: ClassVar[tuple[str, Callable[[str], object], Callable[..., dict[str, object]]]]

    def columns(self) -> dict[str, np.ndarray]:
        """The table as numpy columns, the grid keys first."""
        return self.table.columns()

    def __len__(self) -> int:
        return len(self.table)

    @property
    def key_names(self) -> list[str]:
        """The grid keys, the first columns (none for an ensemble)."""
        return list(self.table.key_names)

    def to_pandas(self) -> pd.DataFrame:
        """A pandas DataFrame of :meth:`columns` (needs pandas)."""
        return columns_frame(self.columns())

    def to_arrow(self) -> pa.Table:
        """A pyarrow Table of :meth:`columns` (needs pyarrow)."""
        return _columns_arrow(self.columns())

    def write(self, path: str, *, force: bool = False) -> dict[str, object]:
        """Write the file ``path`` (``.csv``, ``.csv.gz`` or ``.parquet``), as the table's option does.

        Returns:
            ``{"path": the absolute path, "rows": rows written}``.

        Raises:
            TargetExistsError: ``path`` exists and ``force`` is false. BadParameterError: an unknown extension,
                or Parquet without pyarrow.
        """
        what, check, save = self.FILE
        check_target(path, force, what=what)
        check(path)
        return save(path, self.records, self.key_names)


# -- series ------------------------------------------------------------------------------------------------
@dataclass(eq=False)
class Series(_Table[SeriesTable]):
    """Per-tick series of the runs that did not fail, in long format: one row per (run, tick, measure), with one
    column per sweep grid key first: exactly the rows ``--series FILE`` writes.

    Attributes:
        table: the columns (:class:`sim.store.seriesio.SeriesTable`: ``run``, ``tick``, ``measure``, ``value``
            and ``keys``).
        records: the series records the table and files are made from.
    """

    FILE = ("series file", check_series_path, save_series)

    def measures(self) -> list[str]:
        """The measure names (``reached``, ``new``, a model's states such as ``S``, ``I``, ``R``) in order."""
        return self.table.measures()

    def declared(self) -> SeriesColumns:
        """Which measures are the model's states (summing to the number of agents), which are measures
        (``reached``, ``new``, ``depth``, ``breadth``...) and which are variables' moments, as the runs
        declared them (a sweep over several models: every model's, in order)."""
        states: dict[str, None] = {}
        measures: dict[str, None] = {}
        variables: dict[str, None] = {}
        for record in self.records:
            columns = record.get("columns")
            declared = SeriesColumns.from_dict(columns if isinstance(columns, Mapping) else {})
            states.update(dict.fromkeys(declared.states))
            measures.update(dict.fromkeys(declared.measures))
            variables.update(dict.fromkeys(declared.variables))
        return SeriesColumns(tuple(states), tuple(measures), tuple(variables))


# -- cascades ----------------------------------------------------------------------------------------------
@dataclass(eq=False)
class Cascades(_Table[CascadeTable]):
    """The adoption forests of the completed runs, one row per agent: the grid keys first (a sweep), then
    ``run``, ``agent`` and ``source`` (original ids; a root's source is -1 here and ``root`` is True),
    ``root``, ``tick`` (since the seeding) and ``generation``: the rows ``--cascades FILE`` writes.

    Attributes:
        table: the columns (:class:`sim.store.cascadeio.CascadeTable`).
        records: the tree records the table and files are made from.
    """

    FILE = ("cascades file", check_cascades_path, save_cascades)


@dataclass(eq=False)
class SizeDistribution(_Table[CcdfTable]):
    """The distribution of cascade sizes over the completed runs with a tree, as a complementary CDF: one row
    per distinct size of each ensemble or combination, the grid keys first, then ``size`` and ``ccdf``
    (P(S >= size)): the rows ``--ccdf FILE`` writes.

    Attributes:
        table: the columns (:class:`sim.store.cascadeio.CcdfTable`).
        records: ``{"keys": {...}, "sizes": [...]}``, the sizes of each combination's runs.
    """

    FILE = ("ccdf file", check_ccdf_path, save_ccdf)


def _written(table: _Table, path: str, force: bool) -> dict[str, object]:
    """Write ``table``'s file (a result's cascades or their sizes) and say what was written.

    Raises:
        BadParameterError: no completed run has a tree (nothing to write), or as :meth:`_Table.write`.
    """
    if not table.records or not len(table):
        raise BadParameterError(_NO_TREE)
    return table.write(path, force=force)


def _size_distribution(records: list[dict[str, object]], key_names: list[str]) -> SizeDistribution:
    return SizeDistribution(records, table=ccdf_table(records, key_names))


def _sizes(runs: list[RunEntry]) -> list[int]:
    """The cascade sizes of the runs that did not fail and have a tree."""
    return [_size(c) for r in runs if r.get("status") != "failed" and (c := r.get("cascade")) is not None]


def _size(cascade: JSONObject) -> int:
    """A run's cascade size (``sim.core.cascade``'s ``size``, a whole number)."""
    size = cascade["size"]
    if not isinstance(size, int | np.integer):
        raise TypeError(f"a cascade's size is a whole number, not {size!r}")
    return int(size)


def take_trees(runs: list[RunEntry]) -> list[Tree] | None:
    """Each run's ``tree`` (numpy arrays), taken out of its JSON entry; None when no run kept one."""
    if not any("tree" in r for r in runs):
        return None
    return [r.pop("tree", None) for r in runs]


#: Why there is no cascades or ccdf file to write.
_NO_TREE = "no completed run has a cascade tree (a failed run has none, nor has a model that names no sources)"


def _no_trees(what: str, call: str) -> BadParameterError:
    return BadParameterError(f"this {what} kept no cascade trees: run it with {call}(..., trees=True)")


# -- runs --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """One run of an ensemble or of a sweep's combination (the fields of its JSON entry).

    ``status`` is ``completed``, ``max-ticks`` (stopped by ``max_ticks`` before the model ended) or ``failed``;
    a failed run's ``reached`` and ``peak_tick`` are None (a failed run is never a number), and ``error`` (one
    line), ``where`` (the plugin's file:line) and ``traceback`` (the plugin's frames) say why.
    """

    index: int
    seed: int | None
    status: str
    reached: int | None
    peak_tick: int | None
    ticks: int
    rounds: int | None
    error: str | None
    where: str | None
    traceback: str | None
    data: RunEntry = field(repr=False, compare=False)

    @classmethod
    def from_dict(cls, index: int, data: RunEntry, seed: int | None = None) -> Run:
        return cls(
            index=index,
            seed=data.get("seed", seed),
            status=data.get("status", "completed"),
            reached=data.get("reached"),
            peak_tick=data.get("peak_tick"),
            ticks=int(data.get("ticks", 0)),
            rounds=data.get("rounds"),
            error=data.get("error"),
            where=data.get("where"),
            traceback=data.get("traceback"),
            data=data,
        )

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def __getitem__(self, key: str) -> object:
        """Any field of the run's JSON entry (``exposed``, ``graph_reached``, ``reproduction_number``, ...)."""
        entry: Mapping[str, object] = self.data
        return entry[key]


_RUN_TABLE = ("seed", "status", "reached", "peak_tick", "ticks", "rounds", "error")


def _runs_columns(runs: list[Run], keys: Mapping[str, object] | None = None) -> dict[str, list[object]]:
    cols: dict[str, list[object]] = {k: [] for k in (list(keys or {}) + ["run", *_RUN_TABLE])}
    for r in runs:
        for k, v in (keys or {}).items():
            cols[k].append(v)
        cols["run"].append(r.index)
        for k in _RUN_TABLE:
            cols[k].append(getattr(r, k))
    return cols


@dataclass(frozen=True)
class Failure:
    """The first failed run: its index, session seed, one-line error, plugin file:line and traceback."""

    run: int
    seed: int | None
    error: str | None
    where: str | None
    traceback: str | None

    def to_dict(self) -> FirstFailure:
        """``first_failure`` as a report gives it."""
        return {
            "run": self.run,
            "seed": self.seed,
            "error": self.error,
            "where": self.where,
            "traceback": self.traceback,
        }

    @classmethod
    def first(cls, runs: Sequence[Run]) -> Failure | None:
        """The first failed of ``runs`` (None when none failed)."""
        r = next((r for r in runs if r.failed), None)
        if r is None:
            return None
        return cls(run=r.index, seed=r.seed, error=r.error, where=r.where, traceback=r.traceback)

    @classmethod
    def from_dict(cls, data: FirstFailure | None) -> Failure | None:
        if data is None:
            return None
        return cls(
            run=data["run"],
            seed=data.get("seed"),
            error=data.get("error"),
            where=data.get("where"),
            traceback=data.get("traceback"),
        )


# -- an ensemble ---------------------------------------------------------------------------------------------
class _Files:
    """What an ensemble's and a sweep's results share: their cascades and size distribution written to the
    files ``--cascades`` and ``--ccdf`` write, each noted in the report (``cascades_file``, ``ccdf_file``)."""

    @property
    def cascades(self) -> Cascades:
        raise NotImplementedError

    def ccdf(self) -> SizeDistribution:
        raise NotImplementedError

    def _note(self, key: Literal["cascades_file", "ccdf_file"], written: dict[str, object]) -> None:
        raise NotImplementedError

    def write_cascades(self, path: str, *, force: bool = False) -> dict[str, object]:
        """Write :attr:`cascades` to ``path`` as ``--cascades PATH`` does, and note it in :meth:`to_dict`
        (``cascades_file``).

        Raises:
            BadParameterError: run without ``trees=True``, no run has a tree, an unknown extension.
            TargetExistsError: ``path`` exists and ``force`` is false.
        """
        written = _written(self.cascades, path, force)
        self._note("cascades_file", written)
        return dict(written)

    def write_ccdf(self, path: str, *, force: bool = False) -> dict[str, object]:
        """Write :meth:`ccdf` to ``path`` as ``--ccdf PATH`` does, and note it in :meth:`to_dict` (``ccdf_file``).

        Raises:
            BadParameterError: no completed run has a tree, an unknown extension. TargetExistsError: ``path``
                exists and ``force`` is false.
        """
        written = _written(self.ccdf(), path, force)
        self._note("ccdf_file", written)
        return dict(written)


#: A report's keys for the files written from it, in the order :meth:`EnsembleResult.report` adds them.
FileKey = Literal["series_file", "plot", "cascades_file", "ccdf_file"]
FILE_KEYS: tuple[FileKey, ...] = ("series_file", "plot", "cascades_file", "ccdf_file")
#: An ensemble's report's keys, in order, each a field of :class:`EnsembleResult` (``runs`` and
#: ``first_failure`` as their JSON); ``kernel``, ``kernel_reason`` and the files follow.
_ENSEMBLE_KEYS = (
    "social", "llm", "model", "params", "seeds", "runs", "completed", "failed", "stopped", "first_failure",
    "mean_reached", "ci95", "mean_peak_tick", "cascade", "agents", "edges", "tick", "persisted",
)  # fmt: skip
#: A sweep's report's keys after ``results``, in order, each a field or property of :class:`SweepResult`; a
#: design's ``design`` and ``sensitivity`` and the files follow.
_SWEEP_KEYS = (
    "world", "agents", "edges", "tick", "model", "models", "grid", "fixed", "social", "seeds", "runs", "seed",
    "session_seeds", "steps", "until_done", "max_ticks", "text", "topics", "combinations", "total_runs",
    "completed", "failed", "failed_arms", "backend", "workers", "worker_processes", "world_loads", "llm",
    "seconds", "running_sessions", "kept_running",
)  # fmt: skip
#: What a sweep's report says that the result computes (properties, not fields).
_SWEEP_COMPUTED = ("combinations", "failed_arms")


@dataclass(eq=False)
class EnsembleResult(_Files):
    """An ensemble: ``runs`` runs of one cascade with session seeds ``seed, seed+1, ...``; the statistics use
    the runs that did not fail (``completed`` of them; ``failed`` counts the others).

    Built once, by the runner, from its runs (:func:`sim.runs.runner.run_ensemble`). ``to_dict()`` is the JSON
    object ``agora run WORLD --inject TEXT --runs R --json`` prints for the same options, composed from these
    fields (with ``series_file``, ``plot``, ``cascades_file`` and ``ccdf_file`` once those files were written:
    :attr:`files`). An ensemble run with ``trees=True`` keeps each run's adoption forest (:attr:`cascades`)
    outside that dict.
    """

    model: str
    params: dict[str, object]
    seeds: str
    runs: list[Run]
    completed: int
    failed: int
    stopped: int
    mean_reached: float | None
    ci95: list[float | None]
    mean_peak_tick: float | None
    agents: int
    first_failure: Failure | None
    #: The living network's settings and its counters summed over the runs (``social`` of the JSON).
    social: SocialReport = field(repr=False)
    #: The LLM's calls, tokens and cost over the runs (``llm`` of the JSON).
    llm: JSONObject = field(repr=False)
    #: The mean and interval of each cascade measure over the runs that did not fail (None without runs).
    cascade: JSONObject | None = field(repr=False)
    edges: int = field(repr=False)
    #: The world's tick the runs started from.
    tick: int = field(repr=False)
    #: Whether the run was written into the world file (one run, no ``runs``).
    persisted: bool = field(repr=False)
    #: Which kernel ran an ensemble that nobody watched (``batched`` or ``engine``), and why not batched.
    kernel: str | None = None
    kernel_reason: str | None = None
    #: The files written from the result, as the report notes them, in the order they were written.
    files: dict[str, JSONObject] = field(default_factory=dict, repr=False)
    source: str = ""
    trees: list[Tree] | None = field(default=None, repr=False)

    @classmethod
    def from_dict(cls, data: EnsembleReport, source: str = "") -> EnsembleResult:
        """An ensemble's report read back (``agora run --runs R --json``'s output, or :meth:`to_dict`'s), its runs'
        entries taken as they are; each run's ``tree`` (arrays), if any, is taken out of its entry."""
        trees = take_trees(data["runs"])
        extra: Mapping[str, Any] = data
        plain = {k: extra[k] for k in _ENSEMBLE_KEYS if k not in ("runs", "first_failure")}
        return cls(
            **plain,
            runs=[Run.from_dict(i, r) for i, r in enumerate(data["runs"])],
            first_failure=Failure.from_dict(data["first_failure"]),
            kernel=data.get("kernel"),
            kernel_reason=data.get("kernel_reason"),
            files={k: v for k, v in extra.items() if k in FILE_KEYS},
            source=source,
            trees=trees,
        )

    def report(self, *, trees: bool = False) -> EnsembleReport:
        """The report as ``agora run ... --json`` prints it, sharing the runs' entries with this result (no
        copy: :meth:`to_dict` gives one); ``trees``: each run's entry with its ``tree`` again (a shallow copy
        of the entry), as :func:`sim.runs.runner.run_cascades` hands it to a sweep's arms."""
        entries: list[RunEntry] = [r.data for r in self.runs]
        if trees and self.trees is not None:
            entries = [{**e, "tree": t} for e, t in zip(entries, self.trees)]
        first = None if self.first_failure is None else self.first_failure.to_dict()
        out: dict[str, object] = {
            k: entries if k == "runs" else first if k == "first_failure" else getattr(self, k) for k in _ENSEMBLE_KEYS
        }
        if self.kernel is not None:
            out["kernel"] = self.kernel
            out["kernel_reason"] = self.kernel_reason
        out.update(self.files)
        return cast(EnsembleReport, out)

    @property
    def mean_fraction(self) -> float | None:
        """The mean reach as a share of the agents."""
        return None if self.mean_reached is None or not self.agents else self.mean_reached / self.agents

    @property
    def series(self) -> Series:
        """The per-tick series of the runs that did not fail (long format: run, tick, measure, value)."""
        records = series_records(self.report())
        return Series(records, table=table_from_records(records, (), source=self.source))

    def write_series(self, path: str, *, force: bool = False) -> dict[str, object]:
        """Write :attr:`series` to ``path`` as ``agora run --series PATH`` does, and note it in :meth:`to_dict`.

        Raises:
            BadParameterError: no run completed (nothing to write), an unknown extension, Parquet without pyarrow.
            TargetExistsError: ``path`` exists and ``force`` is false.
        """
        series = self.series
        if not series.records:
            raise BadParameterError("no run completed, so there is no series to write")
        self.files["series_file"] = written = series.write(path, force=force)
        return dict(written)

    def plot(
        self, output: str, *, measures: Sequence[str] | None = None, title: str | None = None, force: bool = False
    ) -> dict[str, object]:
        """Draw :attr:`series` to ``output`` (``.png``, ``.svg`` or ``.pdf``) as ``agora run --plot OUTPUT`` does,
        and note it in :meth:`to_dict`; ``measures`` picks some (default every one).

        Raises:
            BadParameterError: no run completed, an unknown format or measure. TargetExistsError: ``output``
                exists and ``force`` is false.
        """
        records = series_records(self.report())
        n = len(records)
        title = title or f"{self.model} on {os.path.basename(self.source)}, {n} run{'s' if n != 1 else ''}"
        self.files["plot"] = drawn = _figure(records, [], self.source, output, title, measures, force)
        return dict(drawn)

    @property
    def cascades(self) -> Cascades:
        """The adoption forest of every run that did not fail, one row per agent (run, agent, source, root,
        tick, generation; original ids).

        Raises:
            BadParameterError: the ensemble was run without ``trees=True``.
        """
        if self.trees is None:
            raise _no_trees("ensemble", "ensemble")
        records: list[dict[str, object]] = [
            {"keys": {}, "run": i, "tree": tree}
            for i, (r, tree) in enumerate(zip(self.runs, self.trees))
            if tree is not None and not r.failed
        ]
        return Cascades(records, table=cascade_table(records))

    def ccdf(self) -> SizeDistribution:
        """The distribution of cascade sizes over the completed runs with a tree: ``size`` and ``ccdf``
        (P(S >= size)). Needs no ``trees=True``: each run's ``cascade.size`` is enough."""
        return _size_distribution([{"keys": {}, "sizes": _sizes([r.data for r in self.runs])}], [])

    def _note(self, key: Literal["cascades_file", "ccdf_file"], written: dict[str, object]) -> None:
        self.files[key] = written

    def to_dict(self) -> EnsembleReport:
        """The report as ``agora run ... --json`` prints it (a copy: :meth:`report` shares the entries)."""
        return copy.deepcopy(self.report())

    def to_pandas(self) -> pd.DataFrame:
        """One row per run: run, seed, status, reached, peak_tick, ticks, rounds, error (needs pandas)."""
        return columns_frame(_runs_columns(self.runs))

    def to_arrow(self) -> pa.Table:
        """:meth:`to_pandas`'s rows as a pyarrow Table (needs pyarrow)."""
        pa = _pyarrow()
        return pa.table(_runs_columns(self.runs))


# -- a sweep ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Paired:
    """One combination against another, run by run on the same session seeds (common random numbers): the mean
    paired difference of ``measure`` (``reached`` or ``peak_tick``) and its 95% interval over ``pairs`` pairs
    (pairs where either run failed are left out)."""

    arm: int
    against: int
    grid: dict[str, object]
    measure: str
    pairs: int
    mean: float | None
    ci95: list[float | None]


@dataclass(eq=False)
class Arm:
    """One combination of a sweep: its grid values, model, typed parameters, runs and statistics over the
    runs that did not fail (the fields of one entry of ``results`` in ``agora sweep --json``)."""

    index: int
    grid: dict[str, object]
    model: str
    params: dict[str, object]
    runs: list[Run]
    completed: int
    failed: int
    mean_reached: float | None
    ci95: list[float | None]
    mean_peak_tick: float | None
    peak_ci95: list[float | None]
    first_failure: Failure | None
    data: ArmReport = field(repr=False)

    @classmethod
    def from_dict(cls, index: int, data: ArmReport, seeds: list[int]) -> Arm:
        runs = [Run.from_dict(i, r, seeds[i] if i < len(seeds) else None) for i, r in enumerate(data["per_run"])]
        return cls(
            index=index,
            grid=dict(data["grid"]),
            model=data["model"],
            params=dict(data["params"]),
            runs=runs,
            completed=data["completed"],
            failed=data["failed"],
            mean_reached=data["mean_reached"],
            ci95=list(data["ci95"]),
            mean_peak_tick=data["mean_peak_tick"],
            peak_ci95=list(data["peak_ci95"]),
            first_failure=Failure.from_dict(data["first_failure"]),
            data=data,
        )

    def __getitem__(self, key: str) -> object:
        """Any field of the combination's JSON entry (``std_reached``, ``mean_fraction``, ``paired``, ...)."""
        entry: Mapping[str, object] = self.data
        return entry[key]


_MEASURES = {"reached": "reach", "peak_tick": "peak"}


@dataclass(eq=False)
class SweepResult(_Files):
    """A sweep: every combination of the grid, each run ``runs`` times with session seeds ``seed + r``.

    ``to_dict()`` is the JSON object ``agora sweep WORLD ... --series FILE --json`` prints for the same options
    (``series_file``, ``cascades_file`` and ``ccdf_file`` appear once those files were written). A sweep run
    with ``trees=True`` keeps each run's adoption forest (:attr:`cascades`) outside that dict.

    A design's sweep (``design="sobol:256"``) has one combination per drawn point (its ``grid``: the point's
    parameter values), :attr:`design` (what was drawn, the measure at each point) and :attr:`sensitivity` (the
    indices by parameter: :class:`~sim.runs.design.SobolIndex` for ``sobol``,
    :class:`~sim.runs.design.MorrisIndex` for ``morris``; None for ``lhs``).
    """

    arms: list[Arm]
    grid: dict[str, list[object]]
    fixed: dict[str, object]
    model: str
    runs: int
    total_runs: int
    completed: int
    failed: int
    agents: int
    #: The world file, and the world the runs started from.
    world: str = field(repr=False)
    edges: int = field(repr=False)
    tick: int = field(repr=False)
    #: Every model the combinations run (one, unless ``model`` is swept).
    models: list[str] = field(repr=False)
    #: The living-network settings every run changed.
    social: dict[str, object] = field(repr=False)
    #: The seed selection (``by combination`` when ``seeds`` is swept).
    seeds: str = field(repr=False)
    #: The sweep's seed; run r of every combination used session seed ``session_seeds[r]`` (``seed + r``).
    seed: int = field(repr=False)
    session_seeds: list[int] = field(repr=False)
    steps: int | None = field(repr=False)
    until_done: bool = field(repr=False)
    max_ticks: int = field(repr=False)
    text: str = field(repr=False)
    topics: list[str] = field(repr=False)
    #: How the runs were spread: ``processes``, ``ray`` or ``serial``, over ``workers`` (``worker_processes``
    #: did work), and how many times a process loaded the world.
    backend: str = field(repr=False)
    workers: int = field(repr=False)
    worker_processes: int = field(repr=False)
    world_loads: int = field(repr=False)
    llm: str = field(repr=False)
    seconds: float = field(repr=False)
    #: The sessions the world held queued or running, and whether the runs continued them (``keep_running``).
    running_sessions: list[int] = field(repr=False)
    kept_running: bool = field(repr=False)
    records: list[dict[str, object]] = field(repr=False, default_factory=list)
    source: str = ""
    kept_series: bool = True
    trees: list[list[Tree]] | None = field(default=None, repr=False)
    design: DesignReport | None = field(default=None, repr=False)
    sensitivity: Sensitivity | None = None
    #: The files written from the result, as the report notes them, in the order they were written.
    files: dict[str, JSONObject] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(
        cls, data: SweepReport, records: list[dict[str, object]], source: str = "", kept_series: bool = True
    ) -> SweepResult:
        """A sweep's report read back (``agora sweep --json``'s output, or :meth:`to_dict`'s): a design's points
        and indices parsed from their JSON; each run's ``tree`` (arrays), if any, taken out of its entry.
        :func:`sim.runs.sweep.sweep_result` builds the result from the sweep's own values instead."""
        extra: Mapping[str, Any] = data  # a design's keys beside those every sweep has
        raw_design, raw_indices = extra.get("design"), extra.get("sensitivity")
        design = DesignReport.from_dict(raw_design) if isinstance(raw_design, Mapping) else None
        indices = raw_indices if isinstance(raw_indices, Mapping) else None
        sensitivity = None if design is None else sensitivity_from_dict(design.kind, indices)
        taken = [take_trees(c["per_run"]) for c in data["results"]]
        plain = {k: copy.copy(extra[k]) for k in _SWEEP_KEYS if k not in _SWEEP_COMPUTED}
        return cls(
            **plain,
            arms=[Arm.from_dict(i, c, data["session_seeds"]) for i, c in enumerate(data["results"])],
            records=records,
            source=source,
            kept_series=kept_series,
            trees=None if all(t is None for t in taken) else [t or [] for t in taken],
            design=design,
            sensitivity=sensitivity,
            files={k: v for k, v in extra.items() if k in FILE_KEYS},
        )

    @property
    def combinations(self) -> int:
        """The number of combinations (``len(result)``)."""
        return len(self.arms)

    @property
    def failed_arms(self) -> int:
        """The combinations with at least one failed run."""
        return sum(1 for a in self.arms if a.failed)

    def report(self) -> SweepReport:
        """The report as ``agora sweep ... --json`` prints it, sharing the combinations' entries with this result
        (no copy: :meth:`to_dict` gives one)."""
        out: dict[str, object] = {"results": [a.data for a in self.arms]}
        out.update((k, getattr(self, k)) for k in _SWEEP_KEYS)
        if self.design is not None:
            out["design"] = self.design.to_dict()
            out["sensitivity"] = (
                None if self.sensitivity is None else {k: v.to_dict() for k, v in self.sensitivity.items()}
            )
        out.update(self.files)
        return cast(SweepReport, out)

    def __len__(self) -> int:
        return len(self.arms)

    @property
    def keys(self) -> list[str]:
        """The names that tell the combinations apart: the grid's, or the parameters a design varies."""
        return list(self.design.params) if self.design is not None else list(self.grid)

    def __getitem__(self, index: int) -> Arm:
        return self.arms[index]

    def arm(self, **grid: object) -> Arm:
        """The combination with these grid values, e.g. ``res.arm(model="sir")``.

        Raises:
            BadParameterError: no combination has them.
        """
        for a in self.arms:
            if all(k in a.grid and a.grid[k] == v for k, v in grid.items()):
                return a
        shown = ", ".join(f"{k}={v!r}" for k, v in grid.items())
        raise BadParameterError(f"no combination of the sweep has {shown}: its grid is {self.grid}")

    def paired(self, measure: str = "reached", against: int = 0) -> list[Paired]:
        """Every other combination against combination ``against`` (the first by default), run by run on the
        same session seeds; for the first, the same numbers as ``paired`` in ``agora sweep --json``.

        Raises:
            BadParameterError: an unknown measure or combination.
        """
        if measure not in _MEASURES:
            raise BadParameterError(f"paired differences are of reached or peak_tick, not {measure!r}")
        if isinstance(against, bool) or not isinstance(against, int) or not 0 <= against < len(self.arms):
            raise BadParameterError(f"against={against!r} is not a combination: give 0 to {len(self.arms) - 1}")
        base = self.arms[against].data["per_run"]
        out = []
        for a in self.arms:
            if a.index == against:
                continue
            d = paired_difference(base, a.data["per_run"], self.agents)
            out.append(
                Paired(
                    arm=a.index,
                    against=against,
                    grid=dict(a.grid),
                    measure=measure,
                    pairs=d["pairs"],
                    mean=d["reach_diff_mean"] if measure == "reached" else d["peak_diff_mean"],
                    ci95=list(d["reach_diff_ci95"] if measure == "reached" else d["peak_diff_ci95"]),
                )
            )
        return out

    @property
    def series(self) -> Series:
        """The per-tick series of every run that did not fail, with one column per grid key first."""
        self._require_series()
        keys = self.keys
        return Series(self.records, table=table_from_records(self.records, keys, source=self.source))

    def write_series(self, path: str, *, force: bool = False) -> dict[str, object]:
        """Write :attr:`series` to ``path`` as ``agora sweep --series PATH`` does, and note it in :meth:`to_dict`.

        Raises:
            TargetExistsError: ``path`` exists and ``force`` is false. BadParameterError: an unknown extension.
        """
        self.files["series_file"] = written = self.series.write(path, force=force)
        return dict(written)

    def plot(
        self, output: str, *, measures: Sequence[str] | None = None, title: str | None = None, force: bool = False
    ) -> dict[str, object]:
        """Draw :attr:`series` to ``output``, one line per combination, as ``agora sweep --plot OUTPUT`` does, and
        note it in :meth:`to_dict`.

        Raises:
            BadParameterError: no series kept, no run completed, an unknown format or measure.
            TargetExistsError: ``output`` exists and ``force`` is false.
        """
        self._require_series()
        title = title or (f"sweep of {self.model} on {os.path.basename(self.source)}, {self.runs} runs per combination")
        self.files["plot"] = drawn = _figure(self.records, self.keys, self.source, output, title, measures, force)
        return dict(drawn)

    @property
    def cascades(self) -> Cascades:
        """The adoption forest of every run that did not fail, one row per agent, the grid keys first.

        Raises:
            BadParameterError: the sweep was run without ``trees=True``.
        """
        if self.trees is None:
            raise _no_trees("sweep", "sweep")
        records: list[dict[str, object]] = [
            {"keys": dict(a.grid), "run": i, "tree": tree}
            for a, trees in zip(self.arms, self.trees)
            for i, (r, tree) in enumerate(zip(a.data["per_run"], trees))
            if tree is not None and r.get("status") != "failed"
        ]
        return Cascades(records, table=cascade_table(records, self.keys))

    def ccdf(self) -> SizeDistribution:
        """The distribution of cascade sizes of each combination, over its completed runs with a tree: the grid
        keys, ``size`` and ``ccdf`` (P(S >= size)). Needs no ``trees=True``."""
        records: list[dict[str, object]] = [
            {"keys": dict(a.grid), "sizes": _sizes(a.data["per_run"])} for a in self.arms
        ]
        return _size_distribution(records, self.keys)

    def _require_series(self) -> None:
        if not self.kept_series:
            raise BadParameterError("this sweep kept no series: run it with series=True")

    def _note(self, key: Literal["cascades_file", "ccdf_file"], written: dict[str, object]) -> None:
        self.files[key] = written

    def to_dict(self) -> SweepReport:
        """The report as ``agora sweep ... --json`` prints it (a copy: :meth:`report` shares the entries)."""
        return copy.deepcopy(self.report())

    def _table(self) -> dict[str, list[object]]:
        keys = self.keys
        cols: dict[str, list[object]] = {k: [] for k in keys}
        for name in ("model", "completed", "failed", "mean_reached", "ci95_low", "ci95_high", "mean_peak_tick"):
            cols[name] = []
        if self.design is not None:  # the measure at each point, as the indices were computed from
            cols["value"] = list(self.design.values)
        for a in self.arms:
            for k in keys:
                if k != "model":  # a swept model is the model column
                    cols[k].append(a.grid.get(k))
            cols["model"].append(a.model)
            cols["completed"].append(a.completed)
            cols["failed"].append(a.failed)
            cols["mean_reached"].append(a.mean_reached)
            cols["ci95_low"].append(a.ci95[0])
            cols["ci95_high"].append(a.ci95[1])
            cols["mean_peak_tick"].append(a.mean_peak_tick)
        return cols

    def to_pandas(self) -> pd.DataFrame:
        """One row per combination: grid keys, model, completed, failed, mean_reached, ci95_low, ci95_high,
        mean_peak_tick (needs pandas); for a design, the varied parameters first and ``value``, the measure
        at the point, last."""
        return columns_frame(self._table())

    def to_arrow(self) -> pa.Table:
        """:meth:`to_pandas`'s rows as a pyarrow Table (needs pyarrow)."""
        return _pyarrow().table(self._table())

    def runs_table(self) -> pd.DataFrame:
        """One row per run of every combination (grid keys, run, seed, status, reached, ...) as a DataFrame."""
        cols: dict[str, list[object]] = {}
        for a in self.arms:
            part = _runs_columns(a.runs, a.grid)
            for k, v in part.items():
                cols.setdefault(k, []).extend(v)
        return columns_frame(cols)


__all__ = [
    "Arm",
    "Cascades",
    "EnsembleResult",
    "Failure",
    "Paired",
    "Run",
    "Series",
    "SizeDistribution",
    "SweepResult",
    "plot",
]
