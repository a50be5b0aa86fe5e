"""Rt, fits and backtests beside a live world (issue 77: the terminal UI as the researcher's bench).

A front end asks for one of three studies of an observed series, with the fields of the command that does it:

- ``rt``: R's posterior over sliding windows of a curve (``agora rt``; :func:`sim.analysis.rtcurve.rt`), the fields
  of :data:`RT_FIELDS`;
- ``fit``: a model's parameters fitted to the observation on the live world's present (``agora fit``; the request
  :class:`~sim.engine.requests.Fit`, its fields and help :data:`sim.engine.fields.FIT_OPTIONS`);
- ``backtest``: rolling-origin forecasts of the observation scored beside the field's baselines (``agora
  backtest``; the request :class:`~sim.engine.requests.Backtest`).

:meth:`Studies.start` parses the fields at once (a bad one raises one sentence and nothing starts), takes the present
as a fork of the world between two ticks (a fit and a backtest never touch the live world), and runs the study in a
daemon thread of its own with its own event loop: the world's loop goes on answering, and the study's progress
(per generation of a fit, per cut of a backtest) is on the job. :meth:`Studies.cancel` stops a running one (its
coroutine cancelled on its loop, its worker processes ended). The world runs on meanwhile.

What a result draws is a :class:`~sim.analysis.chartspec.ChartSpec` (:func:`study_spec`): the Rt curve with its 95 %
band, the fit's posterior predictive band (5-95 %) over the observed points, each backtest cut's fan (5-95 % and
median of the first method) over the data; :func:`study_lines` says the rest in words (the posteriors, the scores by
horizon), so that the UI's view and its export are one spec.

The files a study reads are named by the person at the terminal (as ``o`` reads one): this module is no door of the
HTTP server, which names no file of its host.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.analysis.chartspec import Band, ChartSpec, Line, Mark
from sim.core.safe import shown
from sim.engine.fields import RT
from sim.engine.requests import Backtest, Fit
from sim.errors import AgoraError, BadParameterError
from sim.live.background import BackgroundRun
from sim.live.forecasts import foreground_workers
from sim.live.policy import Host
from sim.store.timeticks import format_duration

#: The studies, in the order a front end offers them.
KINDS = ("rt", "fit", "backtest")
#: What each is called where a person reads it.
TITLES = {"rt": "Rt", "fit": "fit", "backtest": "backtest"}


@dataclass(frozen=True)
class Field:
    """One field of a study's form: its name (the request's), its help, and an example of a value."""

    name: str
    help: str
    example: str = ""


#: ``agora rt``'s options as the form's fields: their names and help as declared once (:data:`sim.engine.fields.RT`,
#: which ``agora rt --help`` reads too), with an example of each.
_RT_EXAMPLES = {
    "observed": "incidence.csv",
    "serial_interval": "gamma:11.7,2.0",
    "window": "7",
    "prior_mean": "5",
    "prior_sd": "5",
    "cases": "cases",
    "run": "0",
    "tick": "1d",
}
RT_FIELDS = tuple(Field(o.name, RT.help(o.name), _RT_EXAMPLES.get(o.name, "")) for o in RT)

#: The fields a fit's and a backtest's form show one by one (any other goes on the form's last line, ``NAME=VALUE``).
FIT_SHOWN = ("observed", "observe", "model", "params", "budget", "seed")
BACKTEST_SHOWN = ("observed", "observe", "model", "params", "cuts", "horizon", "budget", "method")
#: What the backtest's own fields are, as ``agora backtest --help`` says them (the rest are the fit's).
_BACKTEST_HELP = {
    "cuts": "how many cuts (forecast origins), evenly spread over the data",
    "horizon": "ticks each cut forecasts ahead",
    "method": "the forecasts scored, by comma: agora, persistence, renewal, ensemble... (default agora, persistence)",
}


def fit_fields() -> tuple[Field, ...]:
    """The fit form's fields, with the help ``agora fit --help`` gives (:data:`sim.engine.fields.FIT_OPTIONS`)."""
    options = {o.name: o for o in Fit.OPTIONS}
    examples = {
        "observed": "incidence.csv",
        "observe": "cases=onsets",
        "model": "sir",
        "params": "beta=0.01..0.5 gamma=0.05..0.5",
        "budget": "2000",
    }
    return tuple(Field(n, options[n].help if n in options else n, examples.get(n, "")) for n in FIT_SHOWN)


def backtest_fields() -> tuple[Field, ...]:
    """The backtest form's fields, with the help of ``agora backtest``'s request (:class:`Backtest`: its own, and
    its fit's from :data:`sim.engine.fields.FIT_OPTIONS`)."""
    helps = {**{o.name: o.help for o in Fit.OPTIONS}, **_BACKTEST_HELP}
    examples = {
        "observed": "incidence.csv",
        "observe": "cases=onsets",
        "model": "sir",
        "params": "beta=0.01..0.5 gamma=0.05..0.5",
        "cuts": "3",
        "horizon": "7",
        "budget": "600",
        "method": "agora,persistence",
    }
    return tuple(Field(n, str(helps.get(n, n.replace("_", " "))), examples.get(n, "")) for n in BACKTEST_SHOWN)


def form_fields(kind: str) -> tuple[Field, ...]:
    """The fields of ``kind``'s form."""
    return RT_FIELDS if kind == "rt" else fit_fields() if kind == "fit" else backtest_fields()


#: Fields whose value is a list, given as words apart (``params``, ``observe``).
_LISTS = ("params", "observe", "channel")


def read_form(kind: str, values: Mapping[str, str], more: str = "") -> dict[str, object]:
    """A form's typed text as a request's fields: empty fields left out (their defaults), list fields split into
    words (``beta=0.01..0.5 gamma=0.05..0.5``), ``more`` read as further ``NAME=VALUE`` words. Nothing is checked
    here: the request's parse says what is wrong, naming the field.

    Raises:
        BadParameterError: a word of ``more`` that is not ``NAME=VALUE``, or a field given twice.
    """
    fields: dict[str, object] = {}
    for name, text in values.items():
        text = text.strip()
        if text:
            fields[name] = _value(name, text)
    for word in more.split():
        name, eq, value = word.partition("=")
        if not eq or not name or not value:
            raise BadParameterError(f"{word[:40]!r} in more is not NAME=VALUE: give such as seed=3", fields="more")
        if name in fields:
            raise BadParameterError(f"{name[:40]} is given twice: give it once", fields=name)
        fields[name] = _value(name, value)
    return fields


def _value(name: str, text: str) -> object:
    return text.split() if name in _LISTS else text


@dataclass(frozen=True)
class RtRequest:
    """``agora rt``'s request (its fields :data:`sim.engine.fields.RT`): the curve and the serial interval, and the
    optional keywords of :func:`sim.analysis.rtcurve.rt` (None: its defaults)."""

    observed: str
    serial_interval: str
    window: int | None = None
    prior_mean: float | None = None
    prior_sd: float | None = None
    cases: str | None = None
    imported: str | None = None
    run: int | None = None
    time: str | None = None
    tick: str | None = None

    FIELDS = RT.names

    @classmethod
    def parse(cls, data: Mapping[str, object]) -> RtRequest:
        """The Rt ``data`` asks for.

        Raises:
            BadParameterError: an unknown field, no curve or serial interval, a window that is no whole number
                from 1 to 10,000, a run that is no whole number, a prior that is no positive number.
        """
        read = RT.read(data)  # unknown fields, the window and the run (their digits, as a form types them)
        for need in ("observed", "serial_interval"):
            if not str(data.get(need) or "").strip():
                raise BadParameterError(f"give {need}: {RT.help(need)}", fields=need)

        def text(name: str) -> str | None:
            return None if data.get(name) is None else str(data[name])

        return cls(
            str(data["observed"]),
            str(data["serial_interval"]),
            read["window"],
            prior_mean=_positive("prior_mean", data.get("prior_mean")),
            prior_sd=_positive("prior_sd", data.get("prior_sd")),
            cases=text("cases"),
            imported=text("imported"),
            run=read["run"],
            time=text("time"),
            tick=text("tick"),
        )


def _positive(name: str, value: object) -> float | None:
    """A prior's number (None: not given), positive and finite."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        raise BadParameterError(f"{name} must be a positive number, not {str(value)[:20]!r}", fields=name)
    return number


def parse_study(kind: str, data: Mapping[str, object]) -> RtRequest | Fit | Backtest:
    """The request of a study of ``kind`` (:data:`KINDS`) that ``data`` asks for.

    Raises:
        BadParameterError: an unknown kind, or what the request's parse raises (one sentence naming the field).
        BadFileError: a backtest's plan file that cannot be read.
    """
    if kind == "rt":
        return RtRequest.parse(data)
    if kind == "fit":
        fit = Fit.parse(data)
        if len(fit.models) > 1:  # refused with the form, not once the study runs
            raise BadParameterError(
                "the UI fits one model at a time: give one model (agora fit chooses between several)", fields="model"
            )
        return fit
    if kind == "backtest":
        return Backtest.parse(data)
    raise BadParameterError(f"no study {kind[:20]!r}: choose one of {', '.join(KINDS)}")


@dataclass(eq=False)
class StudyJob:
    """A study under way or finished: ``state`` is ``running``, ``done``, ``failed`` or ``cancelled``; ``progress``
    from 0 to 1 and ``what`` the last step reported (a fit's generation, a backtest's cut); ``result`` the
    :class:`~sim.analysis.rt.RtEstimate`, :class:`~sim.runs.fit.fitting.FitResult` or
    :class:`~sim.runs.backtest.result.BacktestResult`."""

    id: str
    kind: str
    request: Any
    tick: int
    state: str = "running"
    progress: float = 0.0
    what: str = ""
    result: Any = None
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0


class Studies:
    """The studies of the world ``host`` keeps live (``controller.studies``): one runs at a time."""

    _ids = itertools.count(1)

    def __init__(self, host: Host) -> None:
        self.host = host
        self.jobs: dict[str, StudyJob] = {}
        self._done: dict[str, asyncio.Event] = {}
        self._runs: dict[str, BackgroundRun] = {}
        self._tasks: set[asyncio.Task] = set()

    @property
    def running(self) -> StudyJob | None:
        """The study under way (None: none)."""
        return next((j for j in self.jobs.values() if j.state == "running"), None)

    async def start(self, kind: str, data: Mapping[str, object]) -> StudyJob:
        """Start a study of ``kind`` with ``data``'s fields; returns the running job.

        Raises:
            BadParameterError: a bad field (nothing starts), or a study is running already.
        """
        request = parse_study(kind, data)
        if self.running is not None:
            raise BadParameterError(f"a {TITLES[self.running.kind]} is running: wait for it, or cancel it first")
        if kind != "rt":
            if isinstance(request, (Fit, Backtest)) and request.workers is None:  # a core kept for the world and UI
                request = dataclasses.replace(request, workers=foreground_workers())
            async with self.host.sim.lock:  # no tick is under way: the fork is the world between two ticks
                fork = self.host.world.fork()
        else:
            fork = None
        job = StudyJob(f"s{next(self._ids)}", kind, request, int(self.host.world.tick))
        self.jobs[job.id] = job
        self._done[job.id] = asyncio.Event()
        self._runs[job.id] = BackgroundRun(TITLES[kind])  # before its task: a cancel at once stops it too
        task = asyncio.get_running_loop().create_task(self._run(job, fork))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def cancel(self, job_id: str) -> StudyJob:
        """Stop the running study ``job_id`` (kept as ``cancelled``); a finished one is left as it is."""
        job = self.jobs[job_id]
        if job.state != "running":
            return job
        job.state, job.error = "cancelled", f"the {TITLES[job.kind]} was cancelled at {job.progress:.0%}"
        run = self._runs.get(job.id)
        if run is not None:
            run.cancel()
        done = self._done.get(job.id)
        if done is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 5.0)
        return job

    async def wait(self, job_id: str) -> StudyJob:
        """The job ``job_id`` once it has finished."""
        done = self._done.get(job_id)
        if done is not None:
            await done.wait()
        return self.jobs[job_id]

    async def _run(self, job: StudyJob, fork: Any) -> None:
        def progress(what: str, fraction: float) -> None:
            job.progress, job.what = min(1.0, max(job.progress, float(fraction))), str(what)[:120]

        run = self._runs[job.id]
        stopped = run.stop
        try:
            result = await run.run(lambda: _study(job, fork, self.host.registry, progress))
            if not stopped.is_set():
                job.result, job.state, job.progress = result, "done", 1.0
        except AgoraError as exc:
            if not stopped.is_set():
                job.state, job.error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug: the job says so, stderr has the traceback
            if not stopped.is_set():
                job.state, job.error = "failed", f"the {TITLES[job.kind]} failed ({type(exc).__name__}: {exc})"[:300]
                sys.stderr.write("agora: a study failed:\n" + "".join(traceback.format_exception(exc)))
        finally:
            if job.state == "running":
                job.state, job.error = "failed", f"the {TITLES[job.kind]} was stopped"
            job.seconds = time.monotonic() - job.started
            self._runs.pop(job.id, None)
            self._done.pop(job.id).set()


async def _study(job: StudyJob, fork: Any, registry: Any, progress: Callable[[str, float], None]) -> Any:
    """Run ``job``'s study (in its own thread's loop)."""
    request = job.request
    if job.kind == "rt":
        from sim.analysis.rtcurve import rt  # noqa: PLC0415 - scipy loads only for a study

        progress("reading the curve", 0.1)
        priors = {k: v for k in ("prior_mean", "prior_sd") if (v := getattr(request, k)) is not None}
        return await asyncio.to_thread(
            rt,
            request.observed,
            request.serial_interval,
            window=request.window,
            cases=request.cases,
            imported=request.imported,
            run=request.run,
            time=request.time,
            tick=request.tick,
            **priors,
        )
    if job.kind == "fit":
        from sim.runs.fit.fitting import run_fit  # noqa: PLC0415 - the fit loads only for a fit

        return await run_fit(fork, registry, request, progress=progress)
    from sim.runs.backtest.running import run_backtest  # noqa: PLC0415 - as the fit's

    return await run_backtest(fork, registry, request, progress=progress)


# -- what a result draws -------------------------------------------------------------------------------------


def _name(path: object) -> str:
    return shown(os.path.basename(str(path)), 40)


def rt_spec(job: StudyJob) -> ChartSpec:
    """R's posterior mean per window (at its last tick) and its 95 % band, with the line R = 1."""
    est = job.result
    x = np.asarray(est.end, dtype=np.float64)
    q = est.quantiles
    band = Band(
        "R", x, np.asarray(q["q025"]), np.asarray(q["median"]), np.asarray(q["q975"]), "cyan+", span="2.5-97.5%"
    )
    one = Line("R = 1", x, np.ones_like(x), "red")
    mean = Line("R mean", x, np.asarray(est.mean, dtype=np.float64), "white")
    title = f"Rt of {_name(job.request.observed)} · serial interval {_name(job.request.serial_interval)}"
    seconds = getattr(est, "tick_seconds", None)
    tick = f"tick ({format_duration(int(seconds))}; each window at its last)" if seconds else "tick (window's last)"
    return ChartSpec(title, tick, "R", (mean, one), bands=(band,), integer=False)


def fit_spec(job: StudyJob) -> ChartSpec:
    """The fit's posterior predictive band (5-95 %, median) of its first observed column over the observed points;
    a fit without a predictive check (cascades, or none asked) draws nothing, and the hint says so."""
    res = job.result
    title = f"fit of {shown(res.model, 20)} to {_name(job.request.observed)}"
    pred = res.predictive or {}
    if pred.get("kind") != "series" or not pred.get("columns"):
        return ChartSpec(title, "tick", "agents", hint="no predictive band (cascades, or predictive 0)")
    column, c = next(iter(pred["columns"].items()))
    x = np.asarray(pred["ticks"], dtype=np.float64)
    seen = Line(f"observed {shown(column, 20)}", x, np.asarray(c["observed"], dtype=np.float64), "orange", "x", True)
    band = Band("posterior predictive", x, np.asarray(c["q05"]), np.asarray(c["q50"]), np.asarray(c["q95"]), "cyan+")
    return ChartSpec(title, "tick", f"{shown(column, 20)} (agents)", (seen,), bands=(band,))


def backtest_spec(job: StudyJob) -> ChartSpec:
    """The observed series and each cut's fan of the first method (5-95 %, median) over the horizons after it,
    each cut marked."""
    res = job.result
    method = res.methods[0]
    title = f"backtest of {shown(method, 20)} on {_name(job.request.fit.observed)} · {len(res.cuts)} cuts"
    seen: dict[int, float] = {}  # the data, from each cut's history (ticks 0 to the cut) and truth (after it)
    for cut in res.cuts:
        seen.update(enumerate(np.asarray(cut.history, dtype=np.float64).tolist()))
        seen.update((cut.tick + 1 + i, v) for i, v in enumerate(np.asarray(cut.truth, dtype=np.float64).tolist()))
    ticks = np.asarray(sorted(t for t, v in seen.items() if np.isfinite(v)), dtype=np.float64)
    values = np.asarray([seen[int(t)] for t in ticks], dtype=np.float64)
    lines = (Line(f"observed {shown(res.column, 20)}", ticks, values, "orange", "x", True),)
    bands, marks = [], []
    colours = ("cyan+", "magenta+", "green+", "blue+", "red+", "gray+")
    for i, cut in enumerate(res.cuts):
        b = cut.bands.get(method) or {}
        if not b.get("q50"):
            continue
        h = len(b["q50"])
        x = cut.tick + 1 + np.arange(h, dtype=np.float64)

        def col(name: str, b: dict = b) -> np.ndarray:
            return np.asarray([np.nan if v is None else v for v in b[name]], dtype=np.float64)

        bands.append(
            Band(f"cut {shown(cut.label, 16)}", x, col("q05"), col("q50"), col("q95"), colours[i % len(colours)])
        )
        marks.append(Mark(float(cut.tick), f"cut {shown(cut.label, 16)}"))
    return ChartSpec(title, "tick", f"{shown(res.column, 20)} (agents)", lines, bands=tuple(bands), marks=tuple(marks))


def posterior_spec(job: StudyJob, index: int) -> ChartSpec:
    """A fit's posterior of its parameter ``index``: the particles' weights summed in 20 bins across the prior's
    range (log-spaced for a log-uniform prior), as a line over the bins' centres, with the posterior's median and
    90 % interval marked."""
    res = job.result
    name = str(res.names[index])
    p = res.params[name]
    lo, hi = float(p.prior.lo), float(p.prior.hi)
    edges = np.geomspace(lo, hi, 21) if p.prior.log else np.linspace(lo, hi, 21)
    values = np.asarray(res.samples, dtype=np.float64)[:, index]
    weights = np.asarray(res.weights, dtype=np.float64)
    share, _ = np.histogram(values, bins=edges, weights=weights / weights.sum())
    centres = np.sqrt(edges[:-1] * edges[1:]) if p.prior.log else (edges[:-1] + edges[1:]) / 2
    low, high = p.ci90
    marks = (Mark(float(p.median), "median"), Mark(float(low), "5 %"), Mark(float(high), "95 %"))
    return ChartSpec(
        f"posterior of {shown(name, 30)} · {shown(res.model, 20)} fit to {_name(job.request.observed)}",
        f"{shown(name, 30)} (prior {'log-uniform' if p.prior.log else 'uniform'} {lo:g} to {hi:g}; 20 bins)",
        "posterior weight",
        (Line("", centres, share),),  # the title names it: no legend over the marks' labels
        integer=False,
        marks=marks,
    )


def study_pages(job: StudyJob) -> int:
    """How many charts a finished study's view pages through: a fit's predictive band, then each parameter's
    posterior; one for Rt and a backtest."""
    return 1 + len(job.result.names) if job.kind == "fit" and job.result is not None else 1


def study_spec(job: StudyJob, page: int = 0) -> ChartSpec:
    """The chart of a finished study (see the module docstring); a fit's ``page`` 1 and on: its posteriors."""
    if job.kind == "fit" and page > 0:
        return posterior_spec(job, page - 1)
    return rt_spec(job) if job.kind == "rt" else fit_spec(job) if job.kind == "fit" else backtest_spec(job)


def _number(v: object) -> str:
    return "-" if not isinstance(v, (int, float)) or not np.isfinite(v) else f"{v:,.4g}"


def study_lines(job: StudyJob) -> list[str]:
    """The study's result in words: Rt's last window; the fit's posteriors (median, 90 % interval) and its check;
    the backtest's relative WIS of each method by horizon."""
    res = job.result
    if job.kind == "rt":
        q, last = res.quantiles, res.end.size - 1
        return [
            f"{res.end.size:,} windows; the last (tick {int(res.end[last]):,}): R {_number(float(res.mean[last]))} "
            f"(95 %: {_number(float(q['q025'][last]))} to {_number(float(q['q975'][last]))})",
            *[shown(n, 200) for n in res.notes()],
        ]
    if job.kind == "fit":
        out = [f"{shown(res.model, 20)}: {res.simulations:,} simulations, ESS {_number(res.ess)}"]
        for name, p in res.params.items():
            lo, hi = p.ci90
            out.append(f"{shown(name, 30)}: median {_number(p.median)} (90 %: {_number(lo)} to {_number(hi)})")
        inside = (res.predictive or {}).get("inside90")
        if inside is not None:
            out.append(f"observed points inside the 90 % predictive band: {100 * inside:.0f} %")
        return out + [shown(w, 200) for w in res.warnings]
    table = res.table()
    out = [f"{len(res.cuts)} cuts, horizons 1 to {res.horizon}; relative WIS (vs persistence; below 1 beats it):"]
    for method, rows in table.items():
        rel = rows.get("relative_wis") if isinstance(rows, Mapping) else None
        shown_rel = " ".join(_number(v) for v in rel) if isinstance(rel, list) else "-"
        out.append(f"{shown(method, 20)}: {shown_rel}")
    return out


__all__ = [
    "BACKTEST_SHOWN",
    "FIT_SHOWN",
    "KINDS",
    "RT_FIELDS",
    "TITLES",
    "Field",
    "RtRequest",
    "Studies",
    "StudyJob",
    "backtest_spec",
    "fit_spec",
    "form_fields",
    "parse_study",
    "posterior_spec",
    "read_form",
    "rt_spec",
    "study_lines",
    "study_pages",
    "study_spec",
]
