"""Rt, fits and backtests on screen (issue 77): from the command palette (and the keys ``r``, ``F`` and ``b``), a
form whose fields are those of ``agora rt``, ``agora fit`` and ``agora backtest`` (their names and help come from
the same request values: ``sim.live.studies.form_fields``), a study run beside the live world in a thread of its
own (``controller.studies``: its progress per generation or cut in the header, ``K`` cancels it, the UI never
waits on it), and its result as a view: the Rt curve with its 95 % band, the fit's predictive band over the data
and its posteriors, each backtest cut's fan over the data and the relative WIS by horizon. ``e`` in the view exports
its chart as shown (PNG, SVG and its numbers as JSON), never over an earlier export.

A field the request refuses is one line in the notices, the form kept filled, nothing started. Text from a file or
typed in a field is shown literally.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from sim.errors import AgoraError
from sim.live.frontend import shown
from sim.live.studies import (
    TITLES,
    StudyJob,
    form_fields,
    parse_study,
    read_form,
    study_lines,
    study_pages,
    study_spec,
)

from .charts import Chart, export_shown
from .host import AppHost

#: The form's last field: any other field of the request, as ``NAME=VALUE`` words.
MORE = "more"


class StudyScreen(ModalScreen[dict[str, object] | None]):
    """The form of a study of ``kind``: one field per form field, then (fit and backtest) ``more``. Dismissed with
    the request's fields once its parse accepts them (None: cancelled)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    StudyScreen { align: center middle; }
    StudyScreen > VerticalScroll {
        width: 110; max-width: 100%; height: auto; max-height: 100%; border: thick $primary; background: $surface;
        padding: 0 2;
    }
    StudyScreen Label { margin-top: 1; }
    StudyScreen .study-help { color: $text-muted; }
    """

    def __init__(self, kind: str, values: dict[str, str] | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.values = dict(values or {})

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text(f"{TITLES[self.kind]} of observed data (enter: start · escape: cancel)", style="bold"))
            for f in form_fields(self.kind):
                yield Label(Text(f.name))
                yield Static(Text(f.help), classes="study-help")
                yield Input(value=self.values.get(f.name, ""), placeholder=f.example, id=f"study-{f.name}")
            if self.kind != "rt":
                yield Label(Text(MORE))
                yield Static(
                    Text("any other field of the request, as NAME=VALUE words (seed=3 workers=1)"), classes="study-help"
                )
                yield Input(value=self.values.get(MORE, ""), placeholder="seed=3", id=f"study-{MORE}")

    def typed(self) -> dict[str, str]:
        """What every field holds now."""
        names = [f.name for f in form_fields(self.kind)] + ([MORE] if self.kind != "rt" else [])
        return {n: self.query_one(f"#study-{n}", Input).value for n in names}

    def on_input_submitted(self, event: Input.Submitted) -> None:
        typed = self.typed()
        try:
            fields = read_form(self.kind, {k: v for k, v in typed.items() if k != MORE}, typed.get(MORE, ""))
            parse_study(self.kind, fields)
        except AgoraError as exc:
            self.app.notify(str(exc), severity="error", markup=False)  # the form stays, filled
            return
        self.values = typed
        self.dismiss(fields)

    def action_cancel(self) -> None:
        self.dismiss(None)


class StudyView(ModalScreen[None]):
    """A finished study: its chart (as exported) and its result in words. ``e`` exports the chart; escape closes."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("e", "export", "Export"),
        Binding("left", "page(-1)", "Previous chart", show=False),
        Binding("right", "page(1)", "Next chart", show=False),
    ]
    DEFAULT_CSS = """
    StudyView > Vertical { width: 100%; height: 100%; border: thick $primary; background: $surface; }
    StudyView #study-chart { height: 2fr; }
    StudyView #study-lines { height: auto; max-height: 14; padding: 0 1; }
    """

    def __init__(self, job: StudyJob) -> None:
        super().__init__()
        self.job = job
        #: The chart shown: 0 the study's own; a fit's 1 and on its parameters' posteriors (left and right).
        self.page = 0
        #: The files of the exports made here (PNG, SVG, JSON each).
        self.exported: list[tuple[str, ...]] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Chart(id="study-chart", min_interval=0.0)
            pages = "left/right: the posteriors · " if study_pages(self.job) > 1 else ""
            yield Static(
                Text("\n".join(study_lines(self.job)) + f"\n({pages}e: export the chart · escape: close)"),
                id="study-lines",
            )

    def on_mount(self) -> None:
        self.action_page(0)

    def action_page(self, step: int) -> None:
        """Show the next (or previous) chart of the study, round the pages."""
        self.page = (self.page + step) % study_pages(self.job)
        page = self.page
        self.chart.show(("study", self.job.id, page), lambda _points: study_spec(self.job, page), force=True)

    @property
    def chart(self) -> Chart:
        return self.query_one("#study-chart", Chart)

    async def action_export(self) -> None:
        """The chart as shown to PNG and SVG, its numbers to JSON, under the saves folder's exports."""
        spec = study_spec(self.job, self.page)
        base = f"{self.job.kind}-{self.job.id}-tick{self.job.tick}" + (f"-posterior{self.page}" if self.page else "")
        paths = await export_shown(self.app, spec, base, TITLES[self.job.kind])
        if paths is not None:
            self.exported.append(paths)

    def action_close(self) -> None:
        self.dismiss(None)


class Studying:
    """The studies started from this UI: the form, the job followed in a worker, its progress for the header, its
    view when done.

    Args:
        app: the app (its controller, screens, workers and notifications).
    """

    def __init__(self, app: AppHost) -> None:
        self.app = app
        self.job: StudyJob | None = None
        #: The last values typed in each kind's form (offered again).
        self.typed: dict[str, dict[str, str]] = {}
        #: Studies finished here (done, failed or cancelled): the tests wait on it.
        self.finished = 0

    def ask(self, kind: str) -> None:
        """Show ``kind``'s form (the last values offered again)."""
        if self.app.controller is None:
            return
        screen = StudyScreen(kind, self.typed.get(kind))
        self.app.push_screen(screen, lambda fields: self.chosen(kind, screen, fields))

    def chosen(self, kind: str, screen: StudyScreen, fields: dict[str, object] | None) -> None:
        """Start the study the form asked for (None: cancelled)."""
        self.typed[kind] = screen.values if fields is not None else screen.typed()
        if fields is None:
            return
        self.app.run_worker(self.follow(kind, fields), group="study", exclusive=False)

    async def follow(self, kind: str, fields: dict[str, object]) -> None:
        """Start the study, wait for it off the event loop's way, then show it (or say why not)."""
        controller = self.app.controller
        if controller is None:
            return
        try:
            job = await controller.studies.start(kind, fields)
        except AgoraError as exc:
            self.app.notices.failed(str(exc))
            return
        self.job = job
        self.app.notify(f"{TITLES[kind]} started (K cancels it)", markup=False)
        self.app.refresh_ui()
        try:
            job = await controller.studies.wait(job.id)
        finally:
            self.finished += 1
            self.app.refresh_ui()
        if job.state == "done":
            self.app.notify(f"{TITLES[kind]} done in {job.seconds:.1f} s", markup=False)
            self.app.push_screen(StudyView(job))
        elif job.state == "cancelled":
            self.app.notify(job.error or f"the {TITLES[kind]} was cancelled", markup=False)
        else:
            self.app.notices.failed(shown(job.error or f"the {TITLES[kind]} failed", 300))

    def progress_text(self) -> str | None:
        """``fit 40%`` while a study runs (the header shows it), else None."""
        job = self.job
        if job is None or job.state != "running":
            return None
        return f"{TITLES[job.kind]} {100 * job.progress:.0f}%"

    def cancel(self) -> None:
        """Cancel the running study (K)."""
        controller, job = self.app.controller, self.job
        if controller is None or job is None or job.state != "running":
            self.app.notify("no study is running", markup=False)
            return
        self.app.run_worker(controller.studies.cancel(job.id), group="study-cancel")


def study_of(screen: Any) -> StudyJob | None:
    """The study a screen shows (None: it is no study's view)."""
    return screen.job if isinstance(screen, StudyView) else None


__all__ = ["StudyScreen", "StudyView", "Studying", "study_of"]
