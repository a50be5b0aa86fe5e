"""The UI's theme and keys, kept in the user's config (issue 77): ``tui.toml`` in Agora's folder of user settings
(``$AGORA_CONFIG_HOME``, else ``$XDG_CONFIG_HOME/agora``, else ``~/.config/agora``)::

    theme = "nord"

    [keys]
    forecast = "ctrl+f"
    rt = "R"

The theme is any of Textual's (the palette's *Theme* chooses one, and the choice is written here); each line of
``[keys]`` binds one of the app's keys (by its id, :func:`key_ids`) to another key, as Textual's keymap does (the
palette's *Keys: change a key* writes one, *Keys: back to the defaults* removes them). The help (``?``) lists the
keys as they are bound.

A file Agora cannot read (not TOML, a theme Textual does not have, an id that is no key of the app, a value that is
no key) is one line in the notices, and the rest of it still applies; nothing is ever executed from it. The file is
written whole, through a temporary file renamed over it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from sim.live.frontend import shown, user_config_dir

#: The file, in Agora's folder of user settings.
FILE = "tui.toml"
#: The most bytes the file may have (a keymap of every key is a few hundred).
MAX_BYTES = 64 * 1024
#: What a key may look like (Textual's names: ``ctrl+f``, ``shift+k``, ``F``, ``f5``, ``question_mark``).
KEY = re.compile(r"[A-Za-z0-9_+]{1,40}(,[A-Za-z0-9_+]{1,40}){0,3}\Z")


def settings_path() -> str:
    """Where the theme and keys are kept."""
    return os.path.join(user_config_dir(), FILE)


def key_ids(bindings: Sequence[BindingType]) -> dict[str, str]:
    """Each binding's id and its default key(s), as the keymap names them."""
    out = {}
    for b in bindings:
        if isinstance(b, Binding) and b.id:
            out[b.id] = b.key
    return out


def read_settings(path: str) -> tuple[dict[str, Any], list[str]]:
    """The settings in ``path`` (``{}`` where there is no file) and what is wrong with it, one sentence each."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return {}, []
    except OSError as exc:
        return {}, [f"the UI's settings {path} cannot be read ({exc.strerror or exc}): the defaults apply"]
    if len(raw) > MAX_BYTES:
        return {}, [f"the UI's settings {path} is over {MAX_BYTES // 1024} KiB: the defaults apply"]
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, [f"the UI's settings {path} is not TOML ({shown(str(exc), 80)}): the defaults apply"]
    return data, []


def checked(
    data: Mapping[str, Any], themes: Iterable[str], ids: Mapping[str, str]
) -> tuple[str | None, dict[str, str], list[str]]:
    """The theme and keymap of ``data`` that the app can use, and a sentence for each thing it cannot."""
    wrong: list[str] = []
    theme = data.get("theme")
    if theme is not None and (not isinstance(theme, str) or theme not in set(themes)):
        wrong.append(
            f"the UI's settings name theme {shown(str(theme), 40)!r}, which Textual does not have: the palette's "
            "Theme lists them"
        )
        theme = None
    keys: dict[str, str] = {}
    table = data.get("keys", {})
    if not isinstance(table, Mapping):
        wrong.append("the UI's settings' keys is not a table: write [keys] and one ID = \"KEY\" a line")
        table = {}
    for name, key in table.items():
        if name not in ids:
            wrong.append(
                f"the UI's settings bind {shown(str(name), 30)!r}, which is no key of the app: its ids are "
                + ", ".join(ids)
            )
        elif not isinstance(key, str) or not KEY.match(key):
            wrong.append(
                f"the UI's settings bind {name} to {shown(str(key), 30)!r}, which is no key: give such as ctrl+f"
            )
        else:
            keys[name] = key
    extra = sorted(set(data) - {"theme", "keys"})
    if extra:
        wrong.append(
            f"the UI's settings have {shown(extra[0], 30)!r}, which the UI does not read: give theme and [keys]"
        )
    return theme, keys, wrong


def write_settings(path: str, theme: str | None, keys: Mapping[str, str]) -> None:
    """Write ``theme`` and ``keys`` as TOML (strings quoted as JSON quotes them, which TOML reads the same), whole.

    Raises:
        OSError: the folder cannot be made or written.
    """
    lines = [f"theme = {json.dumps(theme)}"] if theme else []
    if keys:
        lines += ["", "[keys]"] + [f"{name} = {json.dumps(key)}" for name, key in keys.items()]
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tui-", suffix=".toml", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class KeyScreen(ModalScreen[str | None]):
    """Ask for one ``ID=KEY`` (the ids and keys listed); dismissed with the line (None: cancelled)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    KeyScreen { align: center middle; }
    KeyScreen > Vertical { width: 100; max-width: 100%; height: auto; border: thick $primary; background: $surface;
                           padding: 1 2; }
    KeyScreen #keys-list { height: auto; color: $text-muted; }
    """

    def __init__(self, listed: str) -> None:
        super().__init__()
        self.listed = listed

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Bind a key: ID=KEY (such as forecast=ctrl+f); kept in the UI's settings")
            yield Input(placeholder="forecast=ctrl+f", id="keys-line")
            yield Static(self.listed, id="keys-list", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Settings:
    """The app's theme and keys, read at start and written when the person changes them.

    Args:
        app: the app (its theme, keymap, bindings, notices and screens).
        bindings: the app's bindings (their ids are what ``[keys]`` names).
    """

    def __init__(self, app: Any, bindings: Sequence[BindingType]) -> None:
        self.app = app
        self.ids = key_ids(bindings)
        self.keys: dict[str, str] = {}
        self.theme: str | None = None
        self.path = settings_path()

    def apply(self) -> None:
        """Read the file and apply what it says (each thing it gets wrong: one line in the notices); from then on,
        a theme chosen in the palette is written to it."""
        data, wrong = read_settings(self.path)
        theme, keys, more = checked(data, self.app.available_themes, self.ids) if data else (None, {}, [])
        for sentence in wrong + more:
            self.app.notices.failed(sentence)
        self.theme, self.keys = theme, keys
        if theme is not None:
            self.app.theme = theme
        if keys:
            self.app.set_keymap(dict(keys))
        self.app.theme_changed_signal.subscribe(self.app, self._theme_chosen)

    def _theme_chosen(self, theme: Any) -> None:
        name = getattr(theme, "name", None)
        if isinstance(name, str) and name != self.theme:
            self.theme = name
            self._save(f"theme {name} kept in {self.path}")

    def _save(self, said: str) -> None:
        try:
            write_settings(self.path, self.theme, self.keys)
        except OSError as exc:
            self.app.notices.failed(f"the UI's settings could not be written to {self.path}: {exc.strerror or exc}")
            return
        self.app.notify(said, markup=False)

    def bound(self, key_id: str) -> str:
        """The key(s) binding ``key_id`` now (the default where the keymap leaves it)."""
        return self.keys.get(key_id, self.ids.get(key_id, ""))

    def shown_key(self, default: str) -> str:
        """The key the help lists for a row of ``default`` key: the one the keymap gives its binding, if any."""
        for key_id, key in self.ids.items():
            if key.split(",")[0] == default and key_id in self.keys:
                return self.keys[key_id].split(",")[0]
        return default

    def ask(self) -> None:
        """The palette's *Keys: change a key*: ask for ``ID=KEY``."""
        listed = "  ".join(f"{i}={self.bound(i).split(',')[0]}" for i in self.ids)
        self.app.push_screen(KeyScreen(listed), self.chosen)

    def chosen(self, line: str | None) -> None:
        """Bind what ``line`` says (None or empty: nothing); a bad line is one sentence, nothing changes."""
        if not line or not line.strip():
            return
        name, eq, key = (part.strip() for part in line.partition("="))
        theme, keys, wrong = checked({"keys": {name: key}} if eq else {"keys": {"": ""}}, (), self.ids)
        if not eq:
            wrong = [f"{shown(line, 40)!r} is not ID=KEY: give such as forecast=ctrl+f"]
        if wrong:
            self.app.notices.failed(wrong[0])
            return
        self.keys.update(keys)
        self.app.set_keymap(dict(self.keys))
        self._save(f"{name} is now {key}, kept in {self.path}")

    def reset(self) -> None:
        """The palette's *Keys: back to the defaults*."""
        self.keys = {}
        self.app.set_keymap({})
        self._save(f"every key is back to its default, kept in {self.path}")

    def commands(self) -> Iterable[SystemCommand]:
        """The palette's entries for the keys (Textual's own *Theme* chooses the theme, and it is kept)."""
        yield SystemCommand("Keys: change a key", "Bind one of the app's keys to another, kept in tui.toml", self.ask)
        yield SystemCommand("Keys: back to the defaults", "Forget every key bound in tui.toml", self.reset)


__all__ = ["FILE", "KeyScreen", "Settings", "checked", "key_ids", "read_settings", "settings_path", "write_settings"]
