"""The command palette's entries (ctrl+p): every key's action under a title users type to find it, plus the
actions without a key of their own (reload plugins, each recommender by name)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from textual.app import SystemCommand
from textual.binding import Binding, BindingType

from sim.live.frontend import NONE, Registry

from .recommenders import RECOMMENDER_ROLES
from .views import VIEWS

PLAIN_NAME = re.compile(r"[A-Za-z0-9_.\-]+")  # plugin names safe in the command palette (it parses markup)

#: Command palette titles (what users type to find an action) and help, where the key's short label
#: would not be found: the palette matches titles only.
PALETTE = {
    **{f"view('{view.name}')": (view.title, view.help) for view in VIEWS},
    "export_chart": (
        "Export chart (PNG and SVG)",
        "Write the chart shown (Dashboard or Compare) as it is shown to PNG and SVG, its numbers to JSON, in the "
        "saves folder's exports",
    ),
    "dismiss_chart": ("Dismiss chart", "Take the session off the dashboard's chart (a finished one stays until then)"),
    "cascade_tree": (
        "Cascade tree of the selected session",
        "Draw the adoption tree of the session selected in the Messages view, generation by generation",
    ),
    "save": ("Save a snapshot (.snap)", "Save the world as a snapshot file in the saves folder"),
    "load": ("Load a snapshot (.snap)", "Replace the world by a snapshot from the saves folder"),
    "communities": ("Detect communities", "Find communities and rank influence (PageRank)"),
    "tick(1)": ("Tick (step one)", "Advance one tick"),
    "tick(10)": ("10 ticks (step ten)", "Advance ten ticks"),
    "inject": ("Inject a message", "Inject a message and start its propagation session"),
    "intervene": (
        "Intervene (block, counter-message, remove edges)",
        "Schedule an intervention for the next tick: block agents, start a counter-message or cut edges",
    ),
    "forecast": (
        "Forecast (branch the present under arms)",
        "Continue the running session many times under each arm: each arm's band of reach ahead of now",
    ),
    "form('observed')": (
        "Observed series on the chart (load a file)",
        "Draw an observed series (the files of agora fit) against the session on the dashboard's chart",
    ),
    "form('group')": (
        "Session chart by group (layer, a category, bands of a number)",
        "Draw the session's new infections per tick by contact layer or by a group of agents (AGE:0,5,15,65)",
    ),
    "form('replay')": (
        "Replay a session (scrub to any tick)",
        "Show a session that has ended as it was at any tick of its run, rebuilt from the world file",
    ),
    "form('rt')": ("Rt of an observed curve", "R over time with its 95 % interval, as agora rt gives it (a form)"),
    "form('fit')": ("Fit a model to observed data", "A model's parameters fitted to a file, as agora fit (a form)"),
    "form('backtest')": (
        "Backtest forecasts on observed data",
        "Forecasts from cuts of the data scored beside the baselines, as agora backtest (a form)",
    ),
    "form('cancel')": ("Cancel the running study", "Stop the Rt, fit or backtest under way"),
    "quit": ("Quit", "Quit (offers to save the world file first)"),
    "find": ("Find / filter", "Type in the current view's search or filter box"),
}


class PaletteHost(Protocol):
    """What the palette's entries call on the app."""

    def run_action(self, action: str) -> Any: ...
    def run_worker(self, work: Any) -> Any: ...


def key_commands(
    app: PaletteHost, bindings: Sequence[BindingType], actions: dict[str, Callable[[], object]]
) -> Iterable[SystemCommand]:
    """One entry per key binding: its palette title and help (the key named). ``actions`` are the actions
    whose keys work in one or two views only: from the palette they work anywhere (they are called, not
    run as the key's action, which the view's check would refuse)."""
    for binding in bindings:
        b = binding if isinstance(binding, Binding) else Binding(*binding)
        action = b.action
        if action == "ask":  # its key works in the Agents view only; from the palette, anywhere
            yield SystemCommand(
                "Ask an agent", "Interview the agent shown in the Agents view (key: a there)", actions[action]
            )
            continue
        if action in ("export_chart", "dismiss_chart", "cascade_tree"):  # likewise: keys of one or two views
            title, words = PALETTE[action]
            yield SystemCommand(title, f"{words} (key: {b.key})", actions[action])
            continue
        title, words = PALETTE.get(action, (b.description, b.description))
        yield SystemCommand(
            title, f"{words} (key: {b.key.split(',')[0]})", lambda action=action: app.run_action(action)
        )


def plugin_commands(
    app: PaletteHost,
    registry: Registry | None,
    reload: Callable[[], object],
    use_highlighted: Callable[[str], object],
    set_recommender: Callable[[str, str], Any],
) -> Iterable[SystemCommand]:
    """Reload plugins, use the highlighted recommender, and each recommender of the registry by name."""
    yield SystemCommand("Reload plugins", "Re-import user plugins without a restart", reload)
    yield SystemCommand(
        "Use for feeds",
        "Make the content recommender highlighted in the Plugins view the world's "
        "feed recommender; again: off (key: f)",
        lambda: use_highlighted("feed"),
    )
    yield SystemCommand(
        "Use for friends",
        "Make the friend recommender highlighted in the Plugins view the world's "
        "friend recommender; again: off (key: w)",
        lambda: use_highlighted("friend"),
    )
    if registry is None:
        return
    for role, (_setting, kind, words) in RECOMMENDER_ROLES.items():
        for name in [NONE] + [e.name for e in registry.list(kind) if not e.error]:
            # The palette parses titles as markup: a plugin name that could be read as markup is
            # left out here (f and w in the Plugins view still reach it).
            if PLAIN_NAME.fullmatch(name):
                yield SystemCommand(
                    f"{words.capitalize()}: {name}",
                    f"Make {name} the world's {words}",
                    lambda role=role, name=name: app.run_worker(set_recommender(role, name)),
                )
