"""A backtest of a model's forecasts against an observed series, beside simple baselines (``Backtest``:
``agora backtest``, ``world.backtest``).

A backtest is many fits (:class:`~sim.engine.requests.fit.Fit`): at each cut, a fit on the data up to the cut, a
forecast of the next ``horizon`` ticks, scored against what was then observed. Its fit's fields are a
:class:`Fit`'s, parsed by :meth:`Fit.parse`; its own are the cuts, the horizon, the methods and the plan.

**A plan** (``plan``: a TOML file) holds the model, the priors and the settings under the names of the fields (or
of their flags: ``param``, ``serial-interval``), and a ``[world]`` table stating the world it was written for
(``agents``, ``edges``, checked against the world; ``why`` and other texts, for the reader). Its sha256 goes into
the report, so a reader sees that the forecast was fixed before its scores were seen. Beside a plan only
``observed`` (when the plan names none), ``workers``, ``ray``, code summaries and ``trust_plan`` may be given: any
other field, which would change the forecast without changing the hash, is refused.

**A plan is data** (issue 71): researchers share plans, and running someone's plan must not run their code or send
the world away. So a plan may name Agora's statistics (``summary = ["peak"]``) but code (a summary that is
``FILE.py:function`` or ``module:function``) and where the work runs (``ray``, ``workers``) come from the request
(the command line), or from the plan only with ``trust_plan``; without it such a plan is refused in one sentence
(:class:`PlanTrustError`). Every code file a backtest runs is hashed before it runs (:class:`CodeFile`), and the
report gives each file's sha256 beside the plan's and one digest of them all (``sha256_with_code``).
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from sim.core.boundedio import Bounds, read_bounded
from sim.core.numbers import ascii_digits, ascii_int
from sim.engine.bounds import MAX_TICKS, MAX_WORKERS
from sim.engine.requests.common import bounded
from sim.engine.requests.fit import (
    Fit,
    SummarySpec,
    is_code,
    parse_summaries,
    summary_code,
    summary_is_file,
    summary_source,
)
from sim.errors import BadFileError, BadParameterError

#: How a backtest may forecast: Agora's own (each cut's fit continued), and the baselines
#: (:mod:`sim.analysis.baselines`, :mod:`sim.analysis.seismic`).
METHODS = ("agora", "persistence", "renewal", "ensemble", "seismic")
#: The methods a backtest runs when none is named (``renewal`` too where a serial interval is given).
DEFAULT_METHODS = ("agora", "persistence")
#: The default horizon in ticks (two weeks of daily data), and the default draws of each forecast.
HORIZON = 14
DRAWS = 1000
MAX_DRAWS = 100_000
#: How a backtest's ensemble combines the other methods' forecasts (:mod:`sim.runs.backtest.ensemble`; ``none``:
#: no ensemble).
ENSEMBLE_HOWS = ("median", "mean", "pool", "none")
#: The laws Agora's forecast is filtered through the data with (:mod:`sim.runs.backtest.filtering`; ``none``: the
#: fit's particles continued as accepted, ``alive`` applying).
FILTER_LAWS = ("negbin", "binomial", "none")
#: The trajectories a filter weighs at most.
MAX_PARTICLES = 100_000
#: At most this many forecast values (draws times horizon) a method makes at a cut: 80 MB of float64.
MAX_CELLS = 10_000_000
#: At most this many cuts.
MAX_CUTS = 1000
#: A plan file's size at most.
MAX_PLAN_BYTES = 1 << 20
#: The fields a plan may leave to the command: its own path, the trust in it, the observation it does not name,
#: where the work runs (changing no number of the result), and code summaries (each file's sha256 reported).
BESIDE_PLAN = ("plan", "trust_plan", "observed", "workers", "ray", "summary")
#: The fields no plan sets: the plan itself, and the trust in it.
NOT_IN_PLAN = ("plan", "trust_plan")
#: The settings a plan holds only where it is trusted (``trust_plan``): code it would run (``summary``'s functions;
#: Agora's statistics are data) and where its work runs.
TRUSTED = ("summary", "ray", "workers")
#: How deep a plan's values may nest (a list of texts is 2): its settings are texts, numbers and lists of them, and
#: a deeper value is refused before anything recurses into it.
MAX_PLAN_DEPTH = 8
#: The settings whose texts hold numbers (``cut = "20,30"``, ``param = ["beta=0.01..1"]``): written in ASCII digits
#: only (``delay`` and ``serial_interval`` where they are ``gamma:MEAN,SD``).
NUMBERS_AS_TEXT = (
    "cut",
    "cuts",
    "horizon",
    "draws",
    "workers",
    "n_star",
    "params",
    "seeds",
    "budget",
    "population",
    "seed",
    "replicates",
    "max_ticks",
    "tick",
)
#: A plan's ``[world]`` keys that are checked against the world (the others are texts for the reader).
WORLD_CHECKS = ("agents", "edges")
#: What a plan's key may be spelled as, beside a field's name: its flag's (``param``, ``serial-interval``).
_PLAN_ALIASES = {"param": "params", "no_adjust": "adjust"}
#: A time as a cut names it: a whole number, an ISO date or timestamp; for cascades an age (``1h``, ``3600``).
_CUT = re.compile(r"[0-9T:+\-. dhminsw]{1,40}\Z")


@dataclass(frozen=True)
class PlanFile:
    """A plan file, read: its path, its bytes' sha256, its settings (by field name) and the world it states."""

    path: str
    sha256: str
    settings: Mapping[str, object]
    world: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "sha256": self.sha256, "world": dict(self.world)}


@dataclass(frozen=True)
class CodeFile:
    """A code summary a backtest runs: as named (``FILE.py:function``, ``module:function``, a function's
    ``module:name``), the file its code comes from and that file's sha256, hashed before anything runs (None where
    there is none: a module without a file), and who named it: ``plan`` (run on trust, or named again by the
    request) or ``request`` (the command line, or Python's keywords)."""

    summary: str
    path: str | None
    sha256: str | None
    named_by: str = "request"

    def to_dict(self) -> dict[str, object]:
        return {"summary": self.summary, "path": self.path, "sha256": self.sha256, "named_by": self.named_by}


def code_files(summary: tuple[SummarySpec, ...], planned: tuple[SummarySpec, ...] = ()) -> tuple[CodeFile, ...]:
    """A :class:`CodeFile` for each code summary of ``summary`` (``planned``: those the plan named).

    Raises:
        BadFileError: a ``.py`` file that is missing, a folder, a pipe or too large (one sentence, never its bytes).
    """
    out = []
    for spec in summary:
        if not is_code(spec):
            continue
        path = summary_source(spec)
        digest = None if path is None else hashlib.sha256(summary_code(path)).hexdigest()
        name = (
            spec
            if isinstance(spec, str)
            else f"{getattr(spec, '__module__', '?')}:{getattr(spec, '__qualname__', '?')}"
        )
        out.append(CodeFile(name, path, digest, "plan" if spec in planned else "request"))
    return tuple(out)


def sha256_with_code(plan: PlanFile, code: tuple[CodeFile, ...]) -> str:
    """One digest of the plan and every code file the backtest runs: the sha256 of their sha256s in hex, one a line
    (the plan's first, then the code files' in the summary's order; ``-`` for code without a file), as
    ``sha256sum plan.toml stats.py | cut -c1-64 | sha256sum`` prints it."""
    lines = [plan.sha256, *(c.sha256 or "-" for c in code)]
    return hashlib.sha256("".join(f"{line}\n" for line in lines).encode()).hexdigest()


#: Why each setting a plan holds only on trust is one (the refusal's words).
_TRUST_WHY = {
    "summary": "code it would run (a summary that is a function of a file or module)",
    "ray": "a Ray cluster the world would be sent to",
    "workers": "how many processes run the backtest",
}


class PlanTrustError(BadParameterError):
    """A plan names code to run or where the work runs, and the request does not trust it (``trust_plan``)."""

    def __init__(self, path: str, setting: str) -> None:
        self.path, self.setting = path, setting
        super().__init__(self.sentence(f"{setting}=... yourself", "trust_plan=True"))

    def sentence(self, give: str, trust: str) -> str:
        """The refusal, with ``give`` and ``trust`` spelled as the front end spells them."""
        return (
            f"plan file {self.path} sets {self.setting}, {_TRUST_WHY[self.setting]}, and a plan holds only forecast "
            f"settings unless trusted: pass {give}, or add {trust} to take it from the plan"
        )


def _plan_bad(path: str, what: str) -> BadFileError:
    return BadFileError(f"plan file {path} {what}")  # the sentence names the file: no flag for it


def _check_value(path: str, key: str, value: object) -> None:
    """A plan's value at most :data:`MAX_PLAN_DEPTH` deep (looked at without recursion), and, for a setting whose
    texts hold numbers, written in ASCII digits.

    Raises:
        BadFileError: a value nested too deep. BadParameterError: a digit of another script.
    """
    numbers = key in NUMBERS_AS_TEXT or (
        key in ("delay", "serial_interval") and isinstance(value, str) and value.startswith("gamma:")
    )
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_PLAN_DEPTH:
            raise _plan_bad(path, f"nests {key} more than {MAX_PLAN_DEPTH} levels deep: give texts, numbers and lists")
        if isinstance(item, str) and numbers and not ascii_digits(item):
            raise BadParameterError(
                f"plan file {path} writes a number of {key} in digits of another script: write numbers in ASCII "
                "digits (0-9)"
            )
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def _plan_summary(folder: str, value: object) -> object:
    """A plan's ``summary`` with each relative ``FILE.py`` path taken from the plan's folder."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        return value
    out: list[object] = []
    for item in items:
        if isinstance(item, str) and ":" in item:
            module, _, attr = item.strip().rpartition(":")
            if summary_is_file(module) and not os.path.isabs(module):
                item = f"{os.path.normpath(os.path.join(folder, module))}:{attr}"
        out.append(item)
    return out


def read_plan(path: str) -> PlanFile:
    """The plan file ``path`` (TOML), its keys spelled as fields (``param`` -> ``params``, ``-`` -> ``_``), the
    relative paths it names (``observed``, ``serial_interval``, a ``delay`` file, a summary's ``FILE.py``) taken
    from its folder.

    Raises:
        BadFileError: a missing, unreadable or too large file, one that is not TOML (its line named, never its
            text) or nests too deep, a ``[world]`` that is not a table.
        BadParameterError: a setting that is no field of a backtest (or is the plan's trust: the command gives
            it), one named twice (``param`` and ``params``), a number of another script's digits.
    """
    raw = read_bounded(path, "plan file", "a TOML file", gz=False, bounds=Bounds(text=MAX_PLAN_BYTES))
    digest = hashlib.sha256(raw).hexdigest()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _plan_bad(path, "is not UTF-8 text: give a TOML file") from None
    except RecursionError:  # tomllib reads nested arrays and tables by recursion
        raise _plan_bad(
            path, f"nests arrays or tables too deeply to read: give NAME = VALUE lines, at most {MAX_PLAN_DEPTH} deep"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        where = f"line {line.group(1)}" if line else "its end" if "end of document" in str(exc) else "a place"
        raise _plan_bad(path, f"is not TOML at {where}: give NAME = VALUE lines (see docs/backtesting.md)") from None
    world = data.pop("world", {})
    if not isinstance(world, dict):
        raise _plan_bad(path, "has world = a value: give a [world] table (agents = N, edges = M, why = '...')")
    _check_value(path, "world", world)
    for key in WORLD_CHECKS:
        value = world.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise _plan_bad(path, f"states [world] {key} as something other than a whole number: give {key} = N")
    folder = os.path.dirname(os.path.abspath(path))
    settings: dict[str, object] = {}
    for key, value in data.items():
        name = _PLAN_ALIASES.get(key.replace("-", "_"), key.replace("-", "_"))
        if name == "trust_plan":
            raise BadParameterError(
                f"plan file {path} sets trust_plan, and a plan cannot trust itself: drop it from the plan (the "
                "command that runs the plan says whether to trust it)"
            )
        if name not in Backtest.FIELDS or name in NOT_IN_PLAN:
            raise BadParameterError(
                f"plan file {path} has an unknown setting {key[:40]!r}: its settings are those of agora backtest "
                f"({', '.join(f for f in Backtest.FIELDS if f not in NOT_IN_PLAN)}) and a [world] table"
            )
        if name in settings:
            raise BadParameterError(f"plan file {path} sets {name} twice: give it once")
        _check_value(path, name, value)
        if key in ("no_adjust", "no-adjust"):
            value = not value if isinstance(value, bool) else value
        if name in ("observed", "serial_interval", "delay") and isinstance(value, str) and value:
            local = not value.startswith("gamma:") and not os.path.isabs(value)
            value = os.path.normpath(os.path.join(folder, value)) if local else value
        if name == "summary":
            value = _plan_summary(folder, value)
        settings[name] = value
    return PlanFile(os.path.abspath(path), digest, MappingProxyType(settings), MappingProxyType(dict(world)))


def _texts(value: object, what: str, give: str) -> tuple[str, ...]:
    """``"a,b"`` or a list of texts as a tuple of stripped texts (empty: none)."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(
        isinstance(t, (str, int)) and not isinstance(t, bool) for t in items
    ):
        raise BadParameterError(f"{what} must be {give}, not {str(value)[:60]!r}", fields=what)
    return tuple(str(t).strip() for t in items if str(t).strip())


#: What a forecaster's name may be (a user's forecaster is named in its plugin; the registry says whether it exists).
_METHOD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


def _methods(value: object) -> tuple[str, ...]:
    names = _texts(value, "method", f"forecast methods among {', '.join(METHODS)} or a forecaster of yours")
    for name in names:
        if name not in METHODS and not _METHOD_NAME.fullmatch(name):
            raise BadParameterError(
                f"method {name[:30]!r} is none of the backtest's forecasts: give {', '.join(METHODS)}, or the name of "
                "a forecaster of yours (letters, digits, _ . -)",
                fields="method",
            )
    if len(set(names)) < len(names):
        raise BadParameterError("method names one forecast twice: give each once", fields="method")
    return names


def _ensemble(data: Mapping[str, object]) -> tuple[str, bool]:
    """The ensemble's ``ensemble`` and ``ensemble_weights`` (see :class:`Backtest`)."""
    how = data.get("ensemble", "median")
    if not isinstance(how, str) or how not in ENSEMBLE_HOWS:
        raise BadParameterError(
            f"ensemble must be one of {', '.join(ENSEMBLE_HOWS)}, not {str(how)[:30]!r}", fields="ensemble"
        )
    weighted = _flag(data, "ensemble_weights", False)
    if weighted and how != "mean":
        raise BadParameterError(
            f"ensemble_weights, the weights of the quantile mean, needs ensemble mean, not {how}: give it, or drop the "
            "weights",
            fields=("ensemble", "ensemble_weights"),
        )
    return how, weighted


def _filter(data: Mapping[str, object]) -> tuple[str, int, int]:
    """The filter's ``filter``, ``filter_particles`` and ``filter_window`` (see :class:`Backtest`)."""
    law = data.get("filter", "negbin")
    if not isinstance(law, str) or law not in FILTER_LAWS:
        raise BadParameterError(
            f"filter must be one of {', '.join(FILTER_LAWS)}, not {str(law)[:30]!r}", fields="filter"
        )
    particles = _whole(data.get("filter_particles", 500), "filter_particles", 10, MAX_PARTICLES)
    return law, particles, _whole(data.get("filter_window", 7), "filter_window", 0, MAX_TICKS)


def _cuts(data: Mapping[str, object]) -> tuple[tuple[str, ...], int | None]:
    cut = _texts(data.get("cut"), "cut", "times of the observed file's time column, such as 20,30 or 1861-11-20")
    for text in cut:
        if not _CUT.match(text):
            raise BadParameterError(
                f"cut {text[:40]!r} is not a time: give a day or tick number (20) or an ISO date (1861-11-20)",
                fields="cut",
            )
    if len(set(cut)) < len(cut):
        raise BadParameterError("cut names one time twice: give each cut once", fields="cut")
    if len(cut) > MAX_CUTS:
        raise BadParameterError(f"cut names {len(cut)} times: give at most {MAX_CUTS}", fields="cut")
    count = data.get("cuts")
    if count is not None and cut:
        raise BadParameterError("give cuts N (spread evenly) or cut T1,T2,... (the times), not both", fields="cuts")
    return cut, None if count is None else _whole(count, "cuts", 1, MAX_CUTS)


def _made_absolute(spec: SummarySpec) -> SummarySpec:
    """A request's ``FILE.py:function`` with its file's absolute path (the current folder's), to be matched with a
    plan's."""
    if not isinstance(spec, str) or not is_code(spec):
        return spec
    module, _, attr = spec.rpartition(":")
    return f"{os.path.abspath(module)}:{attr}" if summary_is_file(module) else spec


def _summaries(plan: PlanFile, given: object, trust: bool) -> tuple[tuple[SummarySpec, ...] | None, tuple[str, ...]]:
    """The summaries of a backtest with a plan, and those of them the plan named as code.

    The plan's come first: Agora's statistics as they are, its code only on trust or where the request names the
    same code again (``FILE.py:function`` of the same file); the request's code that the plan does not name
    follows. Beside a plan the request names code only: Agora's statistics are forecast settings, the plan's.

    Raises:
        BadParameterError: a bad summary (named as the plan's where it is); one of Agora's beside a plan.
        PlanTrustError: the plan names code, and neither the request nor ``trust_plan`` does.
    """
    try:
        planned = parse_summaries(plan.settings["summary"]) if "summary" in plan.settings else ()
    except BadParameterError as exc:
        raise BadParameterError(f"plan file {plan.path}: {exc}") from None
    asked = () if given is None else tuple(_made_absolute(s) for s in parse_summaries(given))
    data = next((s for s in asked if not is_code(s)), None)
    if data is not None:
        raise BadParameterError(
            f"summary {data!r} is set beside plan file {plan.path}, which fixes the forecast before its scores are "
            "seen: set Agora's statistics in the plan (its sha256 changes with it); beside it give only code "
            "(FILE.py:function)",
            fields="summary",
        )
    code = tuple(s for s in planned if is_code(s))
    if not trust and any(s not in asked for s in code):
        raise PlanTrustError(plan.path, "summary")
    merged = planned + tuple(s for s in asked if s not in planned)
    return merged or None, tuple(str(s) for s in code)


def _whole(value: object, what: str, lo: int, hi: int) -> int:
    """``value`` (an int, or its text in ASCII digits) as an int from ``lo`` to ``hi`` (:func:`bounded`)."""
    if isinstance(value, str) and ascii_int(value) is None:
        raise BadParameterError(
            f"{what} must be a whole number from {lo:,} to {hi:,} in ASCII digits, not {value[:30]!r}", fields=what
        )
    return bounded(value, what, lo, hi)


def _with_plan(data: Mapping[str, object]) -> tuple[Mapping[str, object], PlanFile | None, tuple[str, ...]]:
    """``data`` with its plan file's settings under it (the plan's path and trust dropped), the plan read, and the
    code summaries the plan named; or ``data`` as it is, None and none.

    Raises:
        BadParameterError: a plan that is no path; a field beside it that would change the forecast; trust
            without a plan.
        PlanTrustError: the plan names code or where the work runs, and neither the request nor its trust does.
        BadFileError: the plan cannot be read.
    """
    trust = _flag(data, "trust_plan", False)
    if data.get("plan") is None:
        if trust:
            raise BadParameterError(
                "trust_plan takes code and workers from a plan file, and none is given: give plan, or drop trust_plan",
                fields="trust_plan",
            )
        return data, None, ()
    where = data["plan"]
    if isinstance(where, os.PathLike):
        where = os.fspath(where)
    if not isinstance(where, str) or not where:
        raise BadParameterError(f"plan must be a TOML file's path, not {str(where)[:60]!r}", fields="plan")
    plan = read_plan(where)
    beside = sorted(k for k in data if k not in BESIDE_PLAN or (k == "observed" and "observed" in plan.settings))
    if beside:
        raise BadParameterError(
            f"{beside[0]} is set beside plan file {plan.path}, which fixes the forecast before its scores are "
            f"seen: set it in the plan (its sha256 changes with it), or drop it here",
            fields=beside[0],
        )
    summary, planned = _summaries(plan, data.get("summary"), trust)  # code first: the worst a plan could ask
    for name in ("ray", "workers"):  # where the work runs: the request's, else the plan's on trust
        if name in plan.settings and data.get(name) is None and not trust:
            raise PlanTrustError(plan.path, name)
    given = {k: v for k, v in data.items() if k not in NOT_IN_PLAN and v is not None}
    merged = {**plan.settings, **given}
    merged.pop("summary", None)
    if summary is not None:
        merged["summary"] = summary
    return merged, plan, planned


def _flag(data: Mapping[str, object], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise BadParameterError(f"{name} must be true or false, not {str(value)[:30]!r}", fields=name)
    return value


@dataclass(frozen=True)
class Backtest:
    """Forecasts from fits at cuts of an observed series, scored against what was observed after each cut
    (``agora backtest``, ``world.backtest``).

    Attributes:
        fit: the fit made at every cut, on the data up to it (its ``observed``, ``model``, ``params`` and the rest;
            ``steps`` is each cut's, and the fit is ABC's: a forecast continues its accepted simulations).
        cut: the cuts as times of the observed file's time column (a day or tick number, an ISO date or
            timestamp, as ``time`` reads the column); empty: ``cuts`` of them spread evenly.
        cuts: how many cuts to spread evenly over the observed span, a horizon left after the last (None: 5,
            where ``cut`` names none).
        horizon: ticks forecast after each cut. until_done: a horizon may pass the last observation (the ticks
            past it are forecast, not scored); without it, such a horizon is refused.
        method: the forecasts to score (:data:`METHODS`; empty: :data:`DEFAULT_METHODS`, with ``renewal`` where a
            serial interval is given).
        serial_interval: the renewal projection's serial interval (``gamma:MEAN,SD`` or a ``day,probability``
            file). draws: draws of each forecast scored. workers: processes that fit cuts at once (None: one per
            CPU, at most one per cut); the result is the same. plan: the plan file, read (:class:`PlanFile`).
        trust_plan: take code summaries, ``ray`` and ``workers`` from the plan (else a plan naming them is refused:
            a plan is data; :class:`PlanTrustError`); what the plan names is printed before it runs
            (:meth:`trusted`).
        code: every code summary's file and its sha256, hashed when the request was parsed (:class:`CodeFile`).
        n_star: SEISMIC's mean follower count of a new resharer (None: the package's 100), for cascades.
        alive: Agora's forecast conditioned on the last week before each cut: the continued trajectories with none
            of the column in it, where the data have some, left out (:func:`sim.runs.backtest.forecasts.agora_draws`);
            False continues the accepted trajectories as they were drawn (the plans' first runs).
        ensemble: how the ensemble combines the other methods' forecasts (:mod:`sim.runs.backtest.ensemble`):
            ``median`` (the quantile median, the default), ``mean``, ``pool`` (the trajectory pool) or ``none``; it
            runs whenever two or more methods do (persistence, always scored, among them).
        ensemble_weights: the members' weights fitted at each cut on the earlier cuts' forecasts whose truths were
            known by then (with ``mean``); False weighs them equally.
        filter: Agora's forecast filtered through the data up to each cut by a particle filter
            (:mod:`sim.runs.backtest.filtering`): ``negbin`` (negative-binomial reports, their dispersion fitted;
            the default; models whose runs cannot branch are weighed by the last ``filter_window`` ticks),
            ``binomial`` (the fit's thinning, without a delay) or ``none`` (the fit's particles continued as
            accepted, ``alive`` applying).
        filter_particles: the trajectories the filter weighs (default 500).
        filter_window: the last ticks up to each cut whose counts choose the negative binomial's dispersion, and
            weigh the trajectories of models whose runs cannot branch (default 7; 0: every tick).

    For a file of cascades with follower counts (:mod:`sim.runs.backtest.cascade_run`) the cuts are ages since each
    original post (``1h``, ``6h``, ``1d`` or seconds) and the target each cascade's final size: ``horizon``,
    ``until_done``, ``draws`` and ``serial_interval`` do not apply.
    """

    fit: Fit
    cut: tuple[str, ...] = ()
    cuts: int | None = None
    horizon: int = HORIZON
    until_done: bool = False
    method: tuple[str, ...] = ()
    serial_interval: str | None = None
    draws: int = DRAWS
    workers: int | None = None
    plan: PlanFile | None = None
    n_star: float | None = None
    alive: bool = True
    trust_plan: bool = False
    code: tuple[CodeFile, ...] | None = None
    ensemble: str = "median"
    ensemble_weights: bool = False
    filter: str = "negbin"
    filter_particles: int = 500
    filter_window: int = 7

    #: The backtest's own fields; every other one is its fit's (:attr:`Fit.FIELDS`).
    OWN: ClassVar[tuple[str, ...]] = (
        "cut",
        "cuts",
        "horizon",
        "until_done",
        "method",
        "serial_interval",
        "draws",
        "workers",
        "plan",
        "n_star",
        "alive",
        "trust_plan",
        "ensemble",
        "ensemble_weights",
        "filter",
        "filter_particles",
        "filter_window",
    )
    #: The fields of a fit a backtest does not take: its cuts set the steps, it continues ABC's simulations, it
    #: fits one model and checks no choice, and its scores are its predictive check.
    NOT_FIT: ClassVar[tuple[str, ...]] = ("steps", "method", "check_choice", "predictive")
    FIELDS: ClassVar[tuple[str, ...]] = (
        *(f for f in Fit.FIELDS if f not in ("steps", "method", "check_choice", "predictive", "workers")),
        *OWN,
    )

    def __post_init__(self) -> None:
        if self.code is None:  # built without parse: its code hashed now, before it runs
            object.__setattr__(self, "code", code_files(self.fit.summary))

    @property
    def methods(self) -> tuple[str, ...]:
        """The forecasts scored: those asked for, else Agora's and persistence (and renewal with a serial
        interval)."""
        if self.method:
            return self.method
        return DEFAULT_METHODS + (("renewal",) if self.serial_interval else ())

    @classmethod
    def parse(cls, data: Mapping[str, object]) -> Backtest:
        """The backtest ``data`` asks for (the keys of :attr:`FIELDS`; ``plan`` a plan file's path, whose settings
        come first).

        Raises:
            BadParameterError: an unknown field, a bad value (one sentence naming the field), a field given beside
                a plan that sets the forecast, a fit of several models, a method that needs what is not given.
            BadFileError: the plan file cannot be read or is not TOML.
        """
        extra = sorted(set(data) - set(cls.FIELDS))
        if extra:
            bad = str(extra[0])[:60]
            if bad in cls.NOT_FIT:
                raise BadParameterError(
                    f"a backtest sets its fits' {bad} itself (each fit runs to its cut, by ABC, with no choice or "
                    f"predictive check): drop {bad}",
                    fields=bad,
                )
            raise BadParameterError(f"unknown field {bad!r}: the fields are {', '.join(cls.FIELDS)}")
        trust = _flag(data, "trust_plan", False)
        data, plan, planned = _with_plan(data)
        fit = Fit.parse({k: v for k, v in data.items() if k not in cls.OWN} | {"predictive": 0, "method": "abc"})
        if fit.replicates is not None and fit.replicates > 1:
            raise BadParameterError(
                f"a backtest continues each accepted simulation as one trajectory, and replicates {fit.replicates} "
                "would make each forecast a mean of runs (too narrow): leave it out, for one run a simulation",
                fields="replicates",
            )
        if len(fit.models) > 1:
            raise BadParameterError(
                f"a backtest forecasts with one model, and model names {len(fit.models)}: choose one (agora fit "
                "compares them)",
                fields="model",
            )
        cut, cuts = _cuts(data)
        horizon = _whole(data.get("horizon", HORIZON), "horizon", 1, MAX_TICKS)
        until, alive = _flag(data, "until_done", False), _flag(data, "alive", True)
        method = _methods(data.get("method"))
        si = data.get("serial_interval")
        if isinstance(si, os.PathLike):
            si = os.fspath(si)
        if si is not None and (not isinstance(si, str) or not si.strip()):
            raise BadParameterError(
                f"serial_interval must be gamma:MEAN,SD or a day,probability file, not {str(si)[:60]!r}",
                fields="serial_interval",
            )
        if isinstance(si, str) and si.startswith("gamma:") and not ascii_digits(si):
            raise BadParameterError(
                f"serial_interval {si[:40]!r} has digits of another script: write gamma:MEAN,SD in ASCII digits",
                fields="serial_interval",
            )
        if "renewal" in method and si is None:
            raise BadParameterError(
                "the renewal projection needs the data's serial interval: give serial_interval (gamma:MEAN,SD or a "
                "day,probability file)",
                fields="serial_interval",
            )
        draws = _whole(data.get("draws", DRAWS), "draws", 10, MAX_DRAWS)
        if draws * horizon > MAX_CELLS:
            raise BadParameterError(
                f"draws {draws:,} of horizon {horizon:,} ticks make {draws * horizon:,} forecast values a cut, more "
                f"than {MAX_CELLS:,}: give fewer draws or a shorter horizon",
                fields=("draws", "horizon"),
            )
        workers = data.get("workers")
        n_star = data.get("n_star")
        if n_star is not None and (
            isinstance(n_star, bool) or not isinstance(n_star, (int, float)) or not 0 < n_star < 1e9
        ):
            raise BadParameterError(
                f"n_star, a new resharer's mean follower count (SEISMIC's), must be a number above 0, not "
                f"{str(n_star)[:30]!r}",
                fields="n_star",
            )
        how, weighted = _ensemble(data)
        law, particles, window = _filter(data)
        return cls(
            fit=fit,
            cut=cut,
            cuts=cuts,
            horizon=horizon,
            until_done=until,
            method=method,
            serial_interval=si,
            draws=draws,
            workers=None if workers is None else _whole(workers, "workers", 1, MAX_WORKERS),
            plan=plan,
            n_star=None if n_star is None else float(n_star),
            alive=alive,
            trust_plan=trust,
            code=code_files(fit.summary, planned),
            ensemble=how,
            ensemble_weights=weighted,
            filter=law,
            filter_particles=particles,
            filter_window=window,
        )

    def describe(self) -> dict[str, Any]:
        """The backtest's settings as its report states them."""
        return {
            "model": self.fit.model,
            "params": list(self.fit.params.texts),
            "seeds": self.fit.seeds,
            "budget": self.fit.budget,
            "seed": self.fit.seed,
            "summary": [s if isinstance(s, str) else getattr(s, "__name__", "function") for s in self.fit.summary],
            "distance": self.fit.distance,
            "adjust": self.fit.adjust,
            "horizon": self.horizon,
            "until_done": self.until_done,
            "methods": list(self.methods),
            "serial_interval": self.serial_interval,
            "draws": self.draws,
            "n_star": self.n_star,
            "alive": self.alive,
            "ensemble": self.ensemble,
            "ensemble_weights": self.ensemble_weights,
            "filter": self.filter,
            "filter_particles": self.filter_particles,
            "filter_window": self.filter_window,
            "ray": self.fit.ray,
            "code": [c.to_dict() for c in self.code or ()],
            "plan": None if self.plan is None else self._plan_dict(self.plan),
        }

    def _plan_dict(self, plan: PlanFile) -> dict[str, Any]:
        return plan.to_dict() | {
            "trusted": self.trust_plan,
            "sha256_with_code": sha256_with_code(plan, self.code or ()),
        }

    def trusted(self) -> list[str]:
        """What a trusted plan runs, a line each (the code files with their sha256, the Ray cluster, the workers),
        printed before it runs; none where the plan is not trusted."""
        if not self.trust_plan or self.plan is None:
            return []
        plan = self.plan
        lines = [
            f"plan {plan.path} runs summary {c.summary}: "
            + (f"file {c.path} (sha256 {c.sha256})" if c.path else "a module without a file")
            for c in self.code or ()
            if c.named_by == "plan"
        ]
        if plan.settings.get("ray") is not None and self.fit.ray == plan.settings["ray"]:
            lines.append(f"plan {plan.path} sends the world to the Ray cluster at {self.fit.ray}")
        if plan.settings.get("workers") is not None and self.workers == plan.settings["workers"]:
            many = "es" if self.workers != 1 else ""
            lines.append(f"plan {plan.path} runs the backtest on {self.workers} worker process{many}")
        return lines or [f"plan {plan.path} names no code, Ray cluster or workers: it runs as it would untrusted"]


__all__ = [
    "DEFAULT_METHODS",
    "METHODS",
    "Backtest",
    "CodeFile",
    "PlanFile",
    "PlanTrustError",
    "code_files",
    "read_plan",
    "sha256_with_code",
]
