"""The reports of ensembles and sweeps, key for key what ``agora run --json`` and ``agora sweep --json`` print,
as typed dicts: at run time they are plain dicts (the JSON, in the order written), and mypy knows every key.

- :class:`RunEntry`: one run (``runs[i]`` of an ensemble, ``per_run[i]`` of a sweep's combination);
- :class:`EnsembleReport`: :func:`sim.runs.runner.run_cascades`'s report;
- :class:`ArmReport` (one combination, ``results[i]``) and :class:`SweepReport`: :func:`sim.runs.sweep.run_sweep`'s.

What a lower layer reports as a JSON object of its own (a run's cascade measures, the LLM counters, an
intervention's row) is a ``dict[str, object]`` here: carried through, not read.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypeAlias, TypedDict, cast

import numpy as np

from sim.core.cascade import cascade_differences
from sim.core.stats import mean_ci95

#: The living network's counters a run sums over its ticks.
TotalKey: TypeAlias = Literal["follows", "unfollows", "joins", "leaves", "feed_items", "reports"]
TOTALS: tuple[TotalKey, ...] = ("follows", "unfollows", "joins", "leaves", "feed_items", "reports")

#: A run's per-tick series: ``{"tick": [...], measure: [...]}`` (plain lists; None where a moment is undefined).
RunSeries: TypeAlias = dict[str, list[float | None]]
#: A JSON object a lower layer reports (cascade measures and their statistics, LLM counters, an applied
#: intervention, a file written): carried into the report as it is.
JSONObject: TypeAlias = dict[str, object]


class Totals(TypedDict):
    """The living network's counters of a run (summed over its ticks), in :data:`TOTALS`' order."""

    follows: int
    unfollows: int
    joins: int
    leaves: int
    feed_items: int
    reports: int


def no_totals() -> Totals:
    """Every counter at 0."""
    return {"follows": 0, "unfollows": 0, "joins": 0, "leaves": 0, "feed_items": 0, "reports": 0}


def interval(
    values: list[float], lo: float | None = None, hi: float | None = None
) -> tuple[float | None, list[float | None]]:
    """The mean of ``values`` and its 95% interval, bounded to [lo, hi] (:func:`sim.core.stats.mean_ci95`), as
    a report gives them: ``(None, [None, None])`` without values."""
    if not values:
        return None, [None, None]
    mean, ci = mean_ci95(values, lo, hi)
    return mean, list(ci)


class RecommenderError(TypedDict):
    """A recommender that failed in a persisted run and was switched off (the run went on without it)."""

    recommender: str
    role: str  # "content" or "friend"
    error: str | None
    where: str | None
    traceback: str | None


class RunEntry(TypedDict, total=False):
    """One run, as its report's entry says it (every key optional: a run that could not start has only
    ``seed``, ``status``, ``error``, ``where`` and ``traceback``; a sweep keeps fewer keys than an ensemble).

    ``status`` is ``completed``, ``max-ticks`` or ``failed``; a failed run's ``reached`` and ``peak_tick`` are
    None. ``tree`` (arrays) is taken out before the report is printed."""

    ticks: int
    seconds: float
    follows: int
    unfollows: int
    joins: int
    leaves: int
    feed_items: int
    reports: int
    session: int
    status: str
    session_status: str
    ended: bool
    reached: int | None
    exposed: int
    graph_reached: int
    feed_reached: int
    feed_exposed: int
    seeds: int
    attempts: int
    rounds: int
    peak_tick: int | None
    reproduction_number: float
    edges_removed: int
    edges_added: int
    new_per_tick: list[int]
    series: RunSeries
    error: str | None
    where: str | None
    traceback: str | None
    cascade: JSONObject | None
    interventions: list[JSONObject]
    immune: int
    series_columns: dict[str, list[str]] | None
    tree: dict[str, np.ndarray] | None
    recommender: str
    seed: int
    stopped: str
    recommender_errors: list[RecommenderError]
    kernel: str | None


class FirstFailure(TypedDict):
    """The first failed run of a report: its index, session seed, one-line error, plugin file:line and
    traceback."""

    run: int
    seed: int | None
    error: str | None
    where: str | None
    traceback: str | None


class SocialInfo(TypedDict):
    """What a report says of the living network (from the last run's simulation)."""

    living: bool
    recommender: str | None
    friend_recommender: str | None
    feed_size: int | None
    errors: dict[str, str]


class SocialReport(SocialInfo, Totals):
    """The living network of an ensemble's report: its settings and its counters summed over the runs."""


class EnsembleReport(TypedDict):
    """:func:`sim.runs.runner.run_cascades`'s report (``agora run --json``): the runs and their statistics over
    the runs that did not fail; the ``*_file`` and ``plot`` keys once those files were written."""

    social: SocialReport
    llm: JSONObject
    model: str
    params: dict[str, object]
    seeds: str
    runs: list[RunEntry]
    completed: int
    failed: int
    stopped: int
    first_failure: FirstFailure | None
    mean_reached: float | None
    ci95: list[float | None]
    mean_peak_tick: float | None
    cascade: JSONObject | None
    agents: int
    edges: int
    tick: int
    persisted: bool
    kernel: NotRequired[str]
    kernel_reason: NotRequired[str | None]
    series_file: NotRequired[JSONObject]
    plot: NotRequired[JSONObject]
    cascades_file: NotRequired[JSONObject]
    ccdf_file: NotRequired[JSONObject]
    #: The LLM cost estimated before the run beside the actual (``sim.llm.estimate.LLMEstimate.compare``).
    llm_estimate: NotRequired[JSONObject]


class Paired(TypedDict):
    """A combination against the first, run by run on the same session seeds (``paired`` in a sweep's
    report): pairs used, and the mean paired difference of reach and peak tick with their 95% intervals."""

    against: int
    pairs: int
    reach_diff_mean: float | None
    reach_diff_ci95: list[float | None]
    peak_diff_mean: float | None
    peak_diff_ci95: list[float | None]
    cascade: JSONObject | None


class InterventionStats(TypedDict, total=False):
    """A combination's counter-messages (their reach summed per run: mean and 95% interval) and immune agents
    (mean), when its runs had interventions."""

    counter_mean_reached: float | None
    counter_ci95: list[float | None]
    mean_immune: float | None


class ArmReport(InterventionStats):
    """One combination of a sweep (``results[i]`` of ``agora sweep --json``): its grid values, model, typed
    parameters, statistics over the runs that did not fail, and its runs (``per_run``)."""

    model: str
    params: dict[str, object]
    grid: dict[str, object]
    social: dict[str, object]
    runs: int
    completed: int
    failed: int
    stopped: int
    mean_reached: float | None
    ci95: list[float | None]
    std_reached: float | None
    min_reached: int | None
    max_reached: int | None
    mean_fraction: float | None
    fraction_ci95: list[float | None]
    mean_peak_tick: float | None
    peak_ci95: list[float | None]
    mean_ticks: float | None
    reached: list[int | None]
    peak_tick: list[int | None]
    errors: list[str]
    first_failure: FirstFailure | None
    cascade: JSONObject | None
    per_run: list[RunEntry]
    kernel: NotRequired[str | None]
    paired: NotRequired[Paired]


class SweepReport(TypedDict):
    """:func:`sim.runs.sweep.run_sweep`'s report (``agora sweep --json``): one :class:`ArmReport` per combination
    in grid order, what the sweep ran and how; the ``*_file`` and ``plot`` keys once those files were written."""

    results: list[ArmReport]
    world: str
    agents: int
    edges: int
    tick: int
    model: str
    models: list[str]
    grid: dict[str, list[object]]
    fixed: dict[str, object]
    social: dict[str, object]
    seeds: str
    runs: int
    seed: int
    session_seeds: list[int]
    steps: int | None
    until_done: bool
    max_ticks: int
    text: str
    topics: list[str]
    combinations: int
    total_runs: int
    completed: int
    failed: int
    failed_arms: int
    backend: str
    workers: int
    worker_processes: int
    world_loads: int
    llm: str
    seconds: float
    #: The sessions the world held queued or running, and whether the sweep continued them (``--keep-running``).
    running_sessions: list[int]
    kept_running: bool
    series_file: NotRequired[JSONObject]
    plot: NotRequired[JSONObject]
    cascades_file: NotRequired[JSONObject]
    ccdf_file: NotRequired[JSONObject]


__all__ = [
    "TOTALS",
    "ArmReport",
    "arm_series_records",
    "EnsembleReport",
    "FirstFailure",
    "InterventionStats",
    "JSONObject",
    "Paired",
    "RecommenderError",
    "RunEntry",
    "RunSeries",
    "SocialInfo",
    "SocialReport",
    "SweepReport",
    "TotalKey",
    "Totals",
    "interval",
    "no_totals",
    "paired_difference",
    "series_records",
]


def series_records(report: EnsembleReport | SweepReport) -> list[dict[str, object]]:
    """The series records (``sim.store.seriesio``) of an ensemble's or a sweep's report: one per run that did
    not fail (a failed run is no result), with the sweep's combination's grid values as its keys.

    An ensemble's runs keep their series in the report (a failed run's shows how far it got); a sweep's are
    taken out of it, as ``agora sweep --series`` leaves it (its JSON holds no per-run series)."""
    if "results" not in report:  # an ensemble
        runs = report["runs"]
        return [
            {"keys": {}, "run": i, "series": r["series"], "columns": r.get("series_columns")}
            for i, r in enumerate(runs)
            if "series" in r and r.get("status") != "failed"
        ]
    return arm_series_records(cast(SweepReport, report)["results"])


def arm_series_records(arms: list[ArmReport]) -> list[dict[str, object]]:
    """The series records of a sweep's combinations, each run's series taken out of its entry (a failed
    run's is dropped), keyed by the combination's grid values."""
    records: list[dict[str, object]] = []
    for c in arms:
        for r, run in enumerate(c["per_run"]):
            series = run.pop("series", None)
            columns = run.pop("series_columns", None)
            if series is not None and run["status"] != "failed":
                records.append({"keys": dict(c["grid"]), "run": r, "series": series, "columns": columns})
    return records


def paired_difference(base: list[RunEntry], arm: list[RunEntry], n: int) -> Paired:
    """An arm against the first, run by run on common random numbers: run r of both used session seed
    S+r and the same seed agents, so the difference of run r is the arm's effect on that draw. Pairs
    where either run failed are left out (``pairs`` says how many were used); peak-tick differences
    use the pairs where both runs have a peak. Intervals are Student-t intervals of the mean paired
    difference, bounded to [-agents, agents]; identical arms give exactly 0 with interval [0, 0]."""

    both = [(a, b) for a, b in zip(base, arm) if a["status"] != "failed" and b["status"] != "failed"]
    reach = [float(rb - ra) for a, b in both if (ra := a["reached"]) is not None and (rb := b["reached"]) is not None]
    peak = [
        float(pb - pa)
        for a, b in both
        if (pa := a.get("peak_tick")) is not None and (pb := b.get("peak_tick")) is not None
    ]
    r_mean, r_ci = interval(reach, -n, n)
    p_mean, p_ci = interval(peak)
    return {
        "against": 0,
        "pairs": len(reach),
        "reach_diff_mean": r_mean,
        "reach_diff_ci95": r_ci,
        "peak_diff_mean": p_mean,
        "peak_diff_ci95": p_ci,
        "cascade": cascade_differences([(a.get("cascade"), b.get("cascade")) for a, b in both], n),
    }
