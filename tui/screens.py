"""Modal screens: help, save a snapshot, load a snapshot, quit."""

from __future__ import annotations

import os

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

HELP = """\
Agora — keys

  1..5     Dashboard, Communities, Agents, Messages, Plugins
  space    run / pause the simulation
  n        one tick          N    ten ticks
  + / -    faster / slower
  i        inject a message (the Messages view's form)
  s        save a snapshot into the saves folder
  l        load a snapshot (a picker over the saves folder)
  c        recompute communities and influence
  x        cancel the selected session (Messages view)
  r        reload user plugins (Plugins view)
  f        the highlighted content recommender builds the feeds (Plugins view;
           on the one in use: feeds off)
  w        the highlighted friend recommender suggests follows (Plugins view;
           on the one in use: suggestions off)
  ?        this help
  q        quit (offers to save first when there are unsaved changes)
  ctrl+p   command palette: every action by name

The inject form chooses each message's feed recommender (default: the world's).
Text that agents, users, plugins or the LLM wrote is always shown literally.
"""


class HelpScreen(ModalScreen[None]):
    """The keys, and where to find everything."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 76; height: auto; border: thick $primary; background: $surface; padding: 1 2; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(HELP, markup=False, id="help-text")
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

    def snapshots(self) -> list[str]:
        try:
            names = [f for f in os.listdir(self.folder) if f.endswith(".snap")]
        except OSError:
            return []
        return sorted(names, key=lambda f: os.path.getmtime(os.path.join(self.folder, f)), reverse=True)

    def compose(self) -> ComposeResult:
        names = self.snapshots()
        with Vertical():
            yield Label(f"Load a snapshot from {self.folder}" if names else f"No snapshots in {self.folder} yet (press s to save one).",
                        markup=False)
            yield OptionList(*[Option(Text(n), id=n) for n in names], id="snapshots")
            yield Button("Cancel", id="cancel")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(os.path.join(self.folder, str(event.option.id)))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class QuitScreen(ModalScreen[str]):
    """Unsaved changes: save, quit without saving, or stay."""

    BINDINGS = [Binding("escape", "stay", "Stay")]
    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > Vertical { width: 64; height: auto; border: thick $warning; background: $surface; padding: 1 2; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("The world has unsaved changes. Save before quitting?")
            with Horizontal():
                yield Button("Save and quit", id="save", variant="primary")
                yield Button("Quit without saving", id="discard", variant="error")
                yield Button("Stay", id="stay")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(str(event.button.id))

    def action_stay(self) -> None:
        self.dismiss("stay")
