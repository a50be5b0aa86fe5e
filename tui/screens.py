"""Modal screens: help, save a snapshot, load a snapshot, quit, ask an agent a question."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from .views import literal, literal_lines

#: The keys, as (key, what it does) rows: the help screen lays them out in two columns whose second
#: wraps at word boundaries, so the help reads well from 80 columns up.
HELP_KEYS: list[tuple[str, str]] = [
    ("1..6", "Dashboard, Communities, Agents, Messages, Plugins, Compare"),
    (
        "space",
        "run / pause the simulation (a run pauses by itself when its last message stops and nothing else changes)",
    ),
    ("n / N", "one tick / ten ticks"),
    ("+ / -", "faster / slower"),
    ("i", "inject a message (the Messages view's form; seeds by random, top, community, ids or a seed method)"),
    (
        "v",
        "intervene at the next tick: block agents, start a counter-message or cut edges (TICKS:ACTION: later); "
        "the charts mark each one at its tick",
    ),
    (
        "f",
        "forecast the running session: its present branched R times under each arm (none, block:..., set:...); "
        "the Dashboard's chart draws each arm's band ahead of now, the Messages view its final reach",
    ),
    (
        "o",
        "draw an observed series (the files of agora fit: PATH [time=COLUMN] [tick=DURATION] [COLUMN=MEASURE]) on "
        "the Dashboard's session chart, its tick 0 at the session's start tick; o again replaces it, an empty "
        "line takes it off",
    ),
    ("s", "save a snapshot (.snap) into the saves folder"),
    ("l", "load a snapshot (a picker over the saves folder)"),
    ("c", "recompute communities and influence"),
    (
        "/",
        "type in the view's search or filter box (Communities, Agents, Messages); escape leaves it, "
        "and digits switch views again",
    ),
    (
        "a",
        "ask the agent shown in the Agents view a question (an interview: the LLM answers in the "
        "agent's persona; offline without a key)",
    ),
    ("x", "cancel the selected session (Messages view); take the session off the chart (Dashboard)"),
    (
        "t",
        "the selected session's adoption tree, generation by generation, trimmed to the screen with counts of "
        "what was cut (Messages view; escape closes it)",
    ),
    ("e", "export the chart shown to PNG and SVG (saves/exports; Dashboard and Compare)"),
    (
        "g",
        "the session chart by group: new infections per tick by contact layer (layer), a category (SEX) or bands "
        "of a number (AGE:0,5,15,65); an empty line gives the states back",
    ),
    (
        "r",
        "Rt of an observed curve, as agora rt (a form; its view: the curve with its 95 % band); in the Plugins "
        "view: reload user plugins",
    ),
    (
        "F",
        "fit a model to observed data on the world's present, as agora fit (a form; its view: the predictive "
        "band over the data and the posteriors)",
    ),
    (
        "b",
        "backtest forecasts on observed data, as agora backtest (a form; its view: each cut's fan and the "
        "relative WIS by horizon)",
    ),
    ("K", "cancel the running Rt, fit or backtest (the header shows how far it is)"),
    (
        "f",
        "in the Plugins view: the highlighted content recommender builds the feeds (on the one in use: feeds off)",
    ),
    ("w", "the highlighted friend recommender suggests follows (Plugins view; on the one in use: suggestions off)"),
    ("?", "this help"),
    (
        "q",
        "quit (offers to save the world file, .db, first when there are unsaved changes; s saves snapshots, .snap); "
        "ctrl+q the same",
    ),
    ("ctrl+p", "command palette: every action by name"),
]
HELP_NOTES = [
    "The inject form chooses each message's feed recommender (default: the world's).",
    "The Messages view shows the latest posts, reposts and replies of the highlighted message, and who "
    "wrote each text (llm, cache or offline), and the highlighted session's cascade: size, trees, depth, "
    "breadth, structural virality and its top spreaders.",
    "Text that agents, users, plugins or the LLM wrote is always shown literally.",
    "The header says WAITING FOR DISK while the simulation waits for the world file's writer to catch up.",
]
#: The help as plain text (for the docs and the tests).
HELP = "Agora — keys\n\n" + "".join(f"  {k:<8} {v}\n" for k, v in HELP_KEYS) + "\n" + "\n".join(HELP_NOTES) + "\n"


def help_table(bound: Callable[[str], str] | None = None) -> Any:
    """The help as a rich renderable: a grid of keys and descriptions (wrapped to the width there is)
    and the notes below; ``bound`` gives the key each row's is bound to now (the user's keymap: ``tui.settings``).
    Plain ``Text`` only: nothing in it is parsed as markup."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column(overflow="fold")
    for key, what in HELP_KEYS:
        grid.add_row(Text(bound(key) if bound is not None else key), Text(what))
    notes = [Text(note) for note in HELP_NOTES]
    return Group(Text("Agora — keys", style="bold"), Text(""), grid, Text(""), *notes)


class HelpScreen(ModalScreen[None]):
    """The keys, and where to find everything."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > #help-box { width: 100; max-width: 100%; height: auto; max-height: 100%; border: thick $primary;
                             background: $surface; padding: 0 1; }
    """

    def __init__(self, bound: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self.bound = bound

    def compose(self) -> ComposeResult:
        # One scrolling box: on a short terminal the rest (and the Close button) is a scroll away.
        with VerticalScroll(id="help-box"):
            yield Static(help_table(self.bound), id="help-text")
            yield Button("Close", id="close", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)


class SaveScreen(ModalScreen[str | None]):
    """Ask for a snapshot file name (in the saves folder)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    SaveScreen { align: center middle; }
    SaveScreen > Vertical { width: 70; height: auto; border: thick $primary; background: $surface; padding: 1 2; }
    """

    def __init__(self, default_name: str) -> None:
        super().__init__()
        self.default_name = default_name

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Save a snapshot as (in the saves folder):")
            yield Input(value=self.default_name, id="snapshot-name")
            with Horizontal():
                yield Button("Save", id="save", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.dismiss(self.query_one("#snapshot-name", Input).value.strip() or None)
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class LoadScreen(ModalScreen[str | None]):
    """Pick a snapshot from the saves folder."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    LoadScreen { align: center middle; }
    LoadScreen > Vertical { width: 80; height: 24; border: thick $primary; background: $surface; padding: 1 2; }
    LoadScreen OptionList { height: 1fr; }
    """

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.folder = folder
        self._names: list[str] = []

    def snapshots(self) -> list[str]:
        try:
            names = [f for f in os.listdir(self.folder) if f.endswith(".snap")]
        except OSError:
            return []
        return sorted(names, key=lambda f: os.path.getmtime(os.path.join(self.folder, f)), reverse=True)

    def compose(self) -> ComposeResult:
        names = self.snapshots()
        with Vertical():
            folder = literal(self.folder, 200)
            yield Label(
                Text("Load a snapshot from ") + folder
                if names
                else Text("No snapshots in ") + folder + Text(" yet (press s to save one).")
            )
            # A file name is shown literally (its control characters made visible) and kept as it is.
            self._names = names
            yield OptionList(*[Option(literal(n, 70), id=str(j)) for j, n in enumerate(names)], id="snapshots")
            yield Button("Cancel", id="cancel")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(os.path.join(self.folder, self._names[int(str(event.option.id))]))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class QuitScreen(ModalScreen[str]):
    """Unsaved changes: save them into the world file (``.db``), quit without saving, or stay. The words
    name the file that is written; snapshots (``.snap``) are what ``s`` saves, not this."""

    BINDINGS = [Binding("escape", "stay", "Stay")]
    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > Vertical {
        width: 90; max-width: 100%; height: auto; border: thick $warning; background: $surface; padding: 1 2;
    }
    QuitScreen Horizontal { height: auto; }
    QuitScreen Static { width: 100%; height: auto; }
    QuitScreen Button { margin: 1 1 0 0; }
    """

    def __init__(self, world_file: str = "the world file", checkpoint_tick: int | None = None) -> None:
        super().__init__()
        self.world_file = world_file
        self.checkpoint_tick = checkpoint_tick

    def compose(self) -> ComposeResult:
        kept = f" (tick {self.checkpoint_tick:,})" if self.checkpoint_tick is not None else ""
        with Vertical():
            yield Static(
                Text(
                    f"The world has changes that are not in its file {self.world_file} yet. Save them into "
                    f"{self.world_file} before quitting? Without saving, the file keeps its last "
                    f"checkpoint{kept}. (A snapshot, .snap, is what s saves.)"
                )
            )
            with Horizontal():
                yield Button(Text(f"Save into {self.world_file} and quit"), id="save", variant="primary")
                yield Button("Quit without saving", id="discard", variant="error")
                yield Button("Stay", id="stay")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(str(event.button.id))

    def action_stay(self) -> None:
        self.dismiss("stay")


class AskScreen(ModalScreen[None]):
    """Interview one agent: type a question, read the answer and who wrote it (llm, cache or offline).

    The answer comes from ``ask(question)`` (a coroutine returning a ``sim.llm.client.Completion``), run in
    a worker so the UI never waits for a server. Ask as many questions as you like; escape closes.
    """

    BINDINGS = [Binding("escape", "close", "Close")]
    DEFAULT_CSS = """
    AskScreen { align: center middle; }
    AskScreen > Vertical {
        width: 90; height: auto; max-height: 90%; border: thick $primary; background: $surface; padding: 1 2;
    }
    AskScreen #ask-answer { height: auto; max-height: 20; margin: 1 0; }
    AskScreen #ask-source { height: auto; color: $text-muted; }
    """

    def __init__(
        self,
        agent_label: str,
        ask: Callable[[str], Awaitable[Any]],
        on_answer: Callable[[str, Any], None] | None = None,
    ) -> None:
        """
        Args:
            agent_label: who is asked (a name and id; shown literally).
            ask: the coroutine function that answers a question.
            on_answer: called with the question and the Completion when an answer lands.
        """
        super().__init__()
        self.agent_label = agent_label
        self.ask = ask
        self.on_answer = on_answer
        #: The last answer (a Completion), None before the first.
        self.answer: Any = None
        self.asking = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("Ask ") + literal(self.agent_label, 80, style="bold") + Text(" a question:"))
            yield Input(placeholder="e.g. What do you think about the news today?", id="ask-question")
            yield Static("", id="ask-answer", markup=False)
            yield Static("enter: ask · escape: close", id="ask-source", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if not question:
            self.app.notify(
                "the question is empty: type what you want to ask, then press enter", severity="warning", markup=False
            )
            return
        event.input.value = ""
        self.interview(question)

    @work(exclusive=True, group="interview")
    async def interview(self, question: str) -> None:
        self.asking = True
        self.query_one("#ask-answer", Static).update(
            Text("Q: ", style="bold") + literal_lines(question) + Text("\n\nasking…", style="italic")
        )
        self.query_one("#ask-source", Static).update("")
        try:
            result = await self.ask(question)
        except Exception as exc:  # noqa: BLE001 - a bug: say so and keep the app
            self.query_one("#ask-answer", Static).update(
                Text(f"the interview failed: {type(exc).__name__}: ") + literal_lines(exc)
            )
            self.app.notify(f"the interview failed: {type(exc).__name__}: {exc}", severity="error", markup=False)
            return
        finally:
            self.asking = False
        self.answer = result
        text = (
            Text("Q: ", style="bold")
            + literal_lines(question)
            + Text("\n\nA: ", style="bold")
            + literal_lines(result.text)
        )
        self.query_one("#ask-answer", Static).update(text)
        source = Text(f"written by: {result.source}")
        if result.source == "llm":
            source.append(f" · tokens {result.tokens_in:,} in / {result.tokens_out:,} out")
        elif result.source == "cache":
            source.append(" (the same question was answered before)")
        elif result.reason:
            source.append(" · ")
            source.append_text(literal_lines(result.reason))
        source.append("\nenter: ask again · escape: close", style="grey50")
        self.query_one("#ask-source", Static).update(source)
        if self.on_answer is not None:
            self.on_answer(question, result)

    def action_close(self) -> None:
        self.dismiss(None)
