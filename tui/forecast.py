"""Forecasts from the terminal UI (the f key, issue 49): a small screen that asks for runs, a horizon, the arms
and a seed, and a part of the app that starts the forecast through the live world's controller
(``controller.forecasts``) in a worker, says how far it is (the header: ``forecast 40%``) and keeps the
latest result of each session for the Dashboard's chart (each arm's band ahead of the present) and the
Messages view (each arm's final reach).

The world runs on while a forecast runs: it continues forks of the present, never the world itself. What the
views draw is a :class:`ForecastView`, the UI's own frozen reduction of the result (its bands on the world's
ticks), so that the views never hold the result itself.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from sim.errors import AgoraError
from sim.live.forecasts import ArmForecast, ForecastJob, ForecastResult, run_rows
from sim.live.frontend import shown
from sim.live.observed import is_tick_count, period_sums

from .host import AppHost

#: Arm fields on the screen (besides ``none``, always the first arm: the one the others are compared with).
ARM_FIELDS = 4
#: The baseline arm, always there.
BASELINE = "none=none"
#: Words of the horizon field that mean "until the session ends".
UNTIL_DONE = ("done", "until done", "until_done", "until-done", "end")


@dataclass(frozen=True, eq=False)
class ArmView:
    """One arm of a forecast as the UI shows it: its band of reach on the world's ticks (``ticks``, 5 %,
    median and 95 % per tick) and its final reach (median, 90 % interval), and its paired difference with
    the first arm (None for the first)."""

    name: str
    ticks: np.ndarray
    q05: np.ndarray
    median: np.ndarray
    q95: np.ndarray
    reached_median: float | None
    reached_ci90: tuple[float | None, float | None]
    paired: Mapping[str, object] | None
    #: Every measure's band (5 %, median, 95 % per tick, on ``ticks``): ``reached``, ``new``, each state's
    #: count... so that a chart beside an observed series draws the forecast of the measure it observes.
    measures: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = dataclasses.field(default_factory=dict)
    #: Each run's per-tick counts (``new``, ``new.STATE``, ``onsets``...: ``(runs, ticks)`` on ``ticks``), so that
    #: a count over several ticks (a week of cases) has the band of its runs' sums.
    rows: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def band(self, measure: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The band of ``measure`` (5 %, median, 95 %), None where the forecast has none."""
        if measure == "reached":
            return self.q05, self.median, self.q95
        return self.measures.get(measure)

    def period_band(
        self, measure: str, period: int, origin: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """The band of a per-tick count summed over periods of ``period`` ticks from world tick ``origin``: each
        run's sum over each whole period ahead of the branch, then their 5 %, median and 95 % (not the sum of the
        per-tick quantiles, which is no quantile of the sums). Returns each period's first tick and the band; None
        where the forecast has no runs of ``measure``."""
        rows = self.rows.get(measure)
        if rows is None or not rows.size:
            return None
        starts, sums = period_sums(self.ticks, rows, period, origin)
        if not starts.size:
            return starts, *(np.zeros(0),) * 3
        low, median, high = np.quantile(sums, [0.05, 0.5, 0.95], axis=0)
        return starts, low, median, high


@dataclass(frozen=True, eq=False)
class ForecastView:
    """A finished forecast of a session, as the views draw it. ``serial`` tells one forecast from the next
    (the chart's key)."""

    serial: int
    world: int
    session: int
    branched_at: int
    runs: int
    horizon: int | None
    arms: tuple[ArmView, ...]

    def lines(self) -> Text:
        """The forecast in words (:func:`forecast_lines`)."""
        return forecast_lines(self)


def _column(values: object) -> np.ndarray:
    """A band's list of numbers (None where no run reached that tick: NaN) as a float column."""
    items = values if isinstance(values, (list, tuple)) else ()
    return np.asarray([np.nan if v is None else float(v) for v in items], dtype=np.float64)


def _number(value: object) -> float | None:
    """A summary's number (None when it has none)."""
    return float(value) if isinstance(value, (int, float)) else None


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def arm_view(name: str, arm: ArmForecast, result: ForecastResult) -> ArmView:
    """One arm of ``result`` as the UI shows it (the band's tick counts the session's rounds: round ``r`` is
    world tick ``branched_at + r - result.round``)."""
    band = _mapping(arm.series.get("reached"))
    rounds = np.asarray(_column(arm.series.get("tick")), dtype=np.int64)
    ticks = rounds - int(result.round) + int(result.branched_at)
    ci = arm.reached.get("ci90")
    lo, hi = ci if isinstance(ci, (list, tuple)) and len(ci) == 2 else (None, None)
    measures = {
        str(name): (_column(b.get("q05")), _column(b.get("median")), _column(b.get("q95")))
        for name, b in ((n, _mapping(v)) for n, v in arm.series.items() if n != "tick")
        if len(b.get("median") or ()) == rounds.size  # type: ignore[arg-type]
    }
    at, table = run_rows(arm.runs, int(result.round))
    rows = {m: r for m, r in table.items() if is_tick_count(m) and len(at) == rounds.size}
    return ArmView(
        str(name),
        ticks,
        _column(band.get("q05")),
        _column(band.get("median")),
        _column(band.get("q95")),
        _number(arm.reached.get("median")),
        (_number(lo), _number(hi)),
        arm.paired,
        measures,
        rows,
    )


def forecast_view(result: ForecastResult, world: int, serial: int) -> ForecastView:
    """The UI's reduction of a :class:`ForecastResult`: each arm's band of ``reached`` on the world's ticks."""
    arms = [arm_view(name, arm, result) for name, arm in result.arms.items()]
    return ForecastView(
        serial, world, int(result.session), int(result.branched_at), int(result.runs), result.horizon, tuple(arms)
    )


def _count(value: float | None) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:,.0f}"


def _signed(value: float | None) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:+,.0f}"


def forecast_lines(view: ForecastView) -> Text:
    """The forecast in words (the Messages view): per arm, the median and 90 % interval of the final reach,
    and its paired difference with the first arm (mean and 95 % interval)."""
    horizon = "until it ends" if view.horizon is None else f"{view.horizon:,} ticks ahead"
    t = Text(f"forecast from tick {view.branched_at:,}, {view.runs:,} runs per arm, {horizon}:", style="bold")
    first = view.arms[0].name if view.arms else ""
    for arm in view.arms:
        lo, hi = arm.reached_ci90
        t.append("\n  ")
        t.append(shown(arm.name, 30), style="bold")
        t.append(f": final reach {_count(arm.reached_median)} (90 %: {_count(lo)} to {_count(hi)})")
        if arm.paired:
            ci = arm.paired.get("reach_diff_ci95")
            lo, hi = ci if isinstance(ci, (list, tuple)) and len(ci) == 2 else (None, None)
            t.append(
                f" · vs {shown(first, 30)}: {_signed(_number(arm.paired.get('reach_diff_mean')))}"
                f" (95 %: {_signed(_number(lo))} to {_signed(_number(hi))})"
            )
    return t


def read_form(runs: str, horizon: str, arms: Sequence[str], seed: str) -> dict[str, object]:
    """What the form's fields ask for, as the live world's forecasts parse it (``Forecast.parse``, whose checks
    alone say what is wrong): a field written as a whole number (``1,000`` too) is that number, any other text
    is handed on as it is (and refused there, naming the field); an empty field is left out (its default);
    ``none`` first unless an arm is named so, empty arm fields left out; the horizon is ``ticks``, or
    ``until_done`` when it says ``done``. Nothing is checked here."""

    def number(text: str) -> int | str:
        plain = text.strip().replace(",", "").replace("_", "")
        return int(plain) if plain.lstrip("-").isdigit() and plain.isascii() else text.strip()

    given = [a.strip() for a in arms if a.strip()]
    if not any(a.partition("=")[0].strip() == "none" for a in given):
        given.insert(0, BASELINE)
    data: dict[str, object] = {"arms": given}
    for name, text in (("runs", runs), ("seed", seed)):
        if text.strip():
            data[name] = number(text)
    if horizon.strip().lower() in UNTIL_DONE:
        data["until_done"] = True
    elif horizon.strip():
        data["ticks"] = number(horizon)
    return data


class ForecastScreen(ModalScreen[None]):
    """Ask for a forecast and start it. ``start`` takes the form's values and answers None (started: the
    screen closes) or the sentence refusing them (a notification, and under the fields; nothing starts)."""

    BINDINGS = [Binding("escape", "close", "Close")]
    DEFAULT_CSS = """
    ForecastScreen { align: center middle; }
    ForecastScreen > Vertical {
        width: 100; max-width: 100%; height: auto; max-height: 100%; border: thick $primary; background: $surface;
        padding: 0 1;
    }
    ForecastScreen Horizontal { height: auto; }
    ForecastScreen Label { width: 14; height: 3; content-align: left middle; color: $text-muted; }
    ForecastScreen Input { width: 1fr; }
    ForecastScreen #forecast-title { height: auto; text-style: bold; }
    ForecastScreen #forecast-error { height: auto; color: $error; }
    ForecastScreen #forecast-hint { height: auto; color: $text-muted; }
    """

    def __init__(
        self, session: int | None, tick: int, start: Callable[[dict[str, str | list[str]]], Awaitable[str | None]]
    ) -> None:
        """
        Args:
            session: the session to forecast (None: the latest running one).
            tick: the world's tick now (where the forecast branches).
            start: starts the forecast the fields ask for; answers None, or the sentence refusing it.
        """
        super().__init__()
        self.session, self.tick, self.start = session, tick, start
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        which = "the latest running session" if self.session is None else f"session {self.session}"
        with Vertical():
            yield Static(
                Text(f"Forecast {which} from tick {self.tick:,}: the present branched under each arm"),
                id="forecast-title",
            )
            with Horizontal():
                yield Label("runs")
                yield Input(value="100", id="forecast-runs", max_length=12)
                yield Label("horizon")
                yield Input(value="50", id="forecast-horizon", max_length=12, placeholder="ticks, or done")
                yield Label("seed")
                yield Input(value="0", id="forecast-seed", max_length=20)
            for i in range(ARM_FIELDS):
                with Horizontal():
                    yield Label(f"arm {i + 1}")
                    yield Input(
                        placeholder="NAME=ACTION (block=block:degree:100, set:p=0.01)" if i == 0 else "NAME=ACTION",
                        id=f"forecast-arm-{i}",
                        max_length=2_000,
                    )
            yield Static("", id="forecast-error", markup=False)
            yield Static(
                "none=none (nothing done) is always the first arm, the one the others are compared with; an arm's "
                "action is an intervention (block:, counter:, remove-edges:) or set:NAME=VALUE.\n"
                "horizon: ticks ahead, or done (until the session ends) · enter: start · escape: close",
                id="forecast-hint",
                markup=False,
            )

    def on_mount(self) -> None:
        self.query_one("#forecast-arm-0", Input).focus()

    def values(self) -> dict[str, str | list[str]]:
        def value(name: str) -> str:
            return self.query_one(f"#forecast-{name}", Input).value

        return {
            "runs": value("runs"),
            "horizon": value("horizon"),
            "seed": value("seed"),
            "arms": [value(f"arm-{i}") for i in range(ARM_FIELDS)],
        }

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        await self.submit()

    async def submit(self) -> None:
        """Start what the fields ask for; close on success, else say why under the fields."""
        self.error = await self.start(self.values())
        if self.error is None:
            self.dismiss(None)
            return
        self.query_one("#forecast-error", Static).update(Text(shown(self.error, 400)))

    def action_close(self) -> None:
        self.dismiss(None)


class Forecasting:
    """The live world's forecasts from the UI: the screen that asks for one (f), the worker that runs it, its
    progress (the header) and the latest result per session (the Dashboard's chart, the Messages view).

    Args:
        app: the app (its controller, its notices, its workers).
    """

    def __init__(self, app: AppHost) -> None:
        self.app = app
        #: The job under way (None: none is), and the latest finished forecast per (world, session).
        self.job: ForecastJob | None = None
        self.latest: dict[tuple[int, int], ForecastView] = {}
        #: Forecasts started and finished (done or failed) from here; one being started (its request checked).
        self.started = 0
        self.finished = 0
        self.starting = False
        self._serial = itertools.count(1)

    def ask(self) -> None:
        """Ask for a forecast (a modal) of the session on the chart or selected (when running)."""
        controller = self.app.controller
        if controller is None:
            return
        self.app.push_screen(ForecastScreen(self.session(), controller.world.tick, self.start))

    def session(self) -> int | None:
        """The session to forecast: the one selected in the Messages view when it runs, else the latest
        running one (None)."""
        controller = self.app.controller
        chosen = self.app.selected_session_id
        if controller is None or chosen is None:
            return None
        running = {s.id for s in controller.world.sessions if s.status == "running"}
        return chosen if chosen in running else None

    async def start(self, fields: Mapping[str, str | list[str]]) -> str | None:
        """Start the forecast the form's ``fields`` ask for (:func:`read_form`) through the controller, which
        checks it (once) and branches the present, then follow it in a worker. A refusal (a bad number, arm or
        horizon, no running session, a forecast already running) is an error notification in one sentence, and
        nothing starts.

        Returns:
            None when started, else the sentence that refused it.
        """
        controller = self.app.controller
        if controller is None:
            return "no world is open yet"
        try:
            if self.running or self.starting:
                raise AgoraError(f"a forecast is running ({self.progress_text() or 'starting'}): wait for it to finish")
            arms = fields["arms"]
            data = read_form(str(fields["runs"]), str(fields["horizon"]), list(arms), str(fields["seed"]))
            data["session"] = self.session()
            self.starting = True
            try:
                job = await controller.forecasts.start(data, actor="tui")
            finally:
                self.starting = False
        except AgoraError as exc:
            self.app.notify(str(exc), severity="error", markup=False)
            return str(exc)
        self.started += 1
        self.job = job
        request = job.request
        which = "the latest running session" if request.session is None else f"session {request.session}"
        self.app.notify(
            f"forecast of {which} started at tick {job.branched_at:,}: {len(request.arms)} arms × "
            f"{request.runs:,} runs",
            markup=False,
        )
        self.app.run_worker(self.follow(job), group="forecast", exclusive=True)
        return None

    @property
    def running(self) -> bool:
        """Whether a forecast started here has not finished."""
        return self.started > self.finished

    def progress_text(self) -> str | None:
        """``forecast 40%`` while one runs (the header shows it), else None."""
        if not self.running:
            return None
        progress = self.job.progress if self.job is not None else 0.0
        return f"forecast {100 * progress:.0f}%"

    async def follow(self, job: ForecastJob) -> None:
        """Wait for ``job`` (started through the controller), keep its result and say what became of it."""
        controller = self.app.controller
        try:
            if controller is None:
                return
            live = self.app.live
            key = live.key if live is not None else 0
            job = await controller.forecasts.wait(job.id)
            self.job = job
            if job.state != "done" or job.result is None:
                self.app.notices.failed(f"the forecast failed: {shown(job.error or job.state, 300)}")
                return
            view = forecast_view(job.result, key, next(self._serial))
            self.latest[(key, view.session)] = view
            text = f"forecast of session {view.session} done: " + "; ".join(
                f"{shown(a.name, 20)} {_count(a.reached_median)}" for a in view.arms
            )
            self.app.notify(text, markup=False)
            self.app.notices.log(text)
        finally:
            self.finished += 1
            self.app.refresh_ui()

    def latest_for(self, world: int, session: int | None) -> ForecastView | None:
        """The latest finished forecast of ``session`` in the world ``world`` (None: there is none)."""
        return None if session is None else self.latest.get((world, session))


__all__ = [
    "ArmView",
    "ForecastScreen",
    "ForecastView",
    "Forecasting",
    "arm_view",
    "forecast_lines",
    "forecast_view",
    "read_form",
]
