"""The same mistake, the same sentence, from every front end (issue 46).

An injection with an empty message, a bad seed selection, an unknown model parameter or an out-of-range
priority is refused in one sentence, ``Inject.parse``'s (``sim.engine.requests``), identical from the
command line (stderr's ``agora: error: SENTENCE``, exit 2, the fields it names spelled as their flags), the
HTTP API (a real ``agora serve``: the ``error`` of its 400 answer), the terminal UI (the real app under Pilot:
the notification after its inject form is filled and submitted) and Python (``live.inject``: the exception's text).

Each front end spells the fields its own way (flags, JSON keys, form fields, keywords): :data:`MISTAKES`
says each mistake in all four spellings. To add a mistake, add a row; to add a front end, a function that
says every row's sentence, and a line in :func:`test_the_same_mistake_is_the_same_sentence_everywhere`.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import agora, notified, one_sentence
from test_api import Server
from textual.widgets import Button, Input

import sim
from sim.cli.fields import flagged
from sim.engine.requests import LOCAL, SERVED, Inject
from sim.errors import BadParameterError
from sim.model.registry import Registry
from tui.app import AgoraApp

#: Bounds a wait for the app to open its world (only bounds a hang).
WAIT = 60.0
#: The text of every message that is not itself the mistake.
TEXT = "one mistake, one sentence"


@dataclass(frozen=True)
class Mistake:
    """One mistake as each front end spells it.

    Attributes:
        name: what the mistake is.
        request: the request's fields as ``Inject.parse`` takes them (the sentence every front end must say).
        cli: ``agora run WORLD ... --steps 1``'s arguments between the world and ``--steps``.
        api: the JSON body of ``POST /api/v1/messages``.
        form: the inject form's fields that differ from what it holds when it opens (by widget id), and
            ``param``: a parameter row the form holds, the model having no such parameter.
        python: ``live.inject``'s arguments (its text first).
    """

    name: str
    request: Mapping[str, object]
    cli: tuple[str, ...]
    api: Mapping[str, object]
    form: Mapping[str, str]
    python: Mapping[str, object]
    param: tuple[str, str] | None = field(default=None)


MISTAKES = (
    Mistake(
        "an empty message",
        request={"text": ""},
        cli=("--inject", ""),
        api={"text": ""},
        form={"msg-text": ""},
        python={"text": ""},
    ),
    Mistake(
        "a bad seed selection",
        request={"text": TEXT, "seeds": "random:abc"},
        cli=("--inject", TEXT, "--seeds", "random:abc"),
        api={"text": TEXT, "seeds": "random:abc"},
        form={"msg-text": TEXT, "seed-arg": "abc"},  # the seed selection (random) and its argument
        python={"text": TEXT, "seeds": "random:abc"},
    ),
    Mistake(
        "an unknown model parameter",
        request={"text": TEXT, "params": {"bogus": 1}},
        cli=("--inject", TEXT, "--param", "bogus=1"),
        api={"text": TEXT, "params": {"bogus": 1}},
        form={"msg-text": TEXT},
        param=("bogus", "1"),
        python={"text": TEXT, "params": {"bogus": 1}},
    ),
    Mistake(
        "an out-of-range priority",
        request={"text": TEXT, "priority": 99_999_999_999},
        cli=("--inject", TEXT, "--priority", "99999999999"),
        api={"text": TEXT, "priority": 99_999_999_999},
        form={"msg-text": TEXT, "msg-priority": "99999999999"},
        python={"text": TEXT, "priority": 99_999_999_999},
    ),
)


@pytest.fixture
def world_copies(tmp_path) -> dict[str, Path]:
    """One small world file per front end, each in a folder of its own (copies of one world)."""
    first = tmp_path / "w.db"
    sim.new_world(str(first), agents=300, avg_degree=6, seed=3)
    out = {}
    for name in ("cli", "api", "tui", "python"):
        folder = tmp_path / name
        folder.mkdir()
        shutil.copy(first, folder / "w.db")
        out[name] = folder / "w.db"
    return out


def parsed(mistake: Mistake, command: str | None = None) -> str:
    """The sentence of ``Inject.parse`` itself (the built-in plugins' registry, a served world's limits); as
    ``agora COMMAND`` prints it (the fields it names spelled as their flags, ``sim.cli.fields``) when given,
    with the command line's limits: it may read a seed file, so its hint offers ``file:PATH``, which no served
    world's does (issue 71: a choice that would be refused is not offered)."""
    with pytest.raises(BadParameterError) as caught:
        Inject.parse(mistake.request, Registry(), SERVED if command is None else LOCAL)
    return str(caught.value) if command is None else flagged(caught.value, command)


def said_by_the_cli(world: Path) -> dict[str, str]:
    out = {}
    for mistake in MISTAKES:
        line = one_sentence(agora(world.parent, "run", world.name, *mistake.cli, "--steps", "1"))
        out[mistake.name] = line.removeprefix("agora: error: ")
    return out


def said_by_the_api(world: Path) -> dict[str, str]:
    server = Server(world.parent, world.name)
    out = {}
    try:
        for mistake in MISTAKES:
            status, body, _ = server.call("POST", "/api/v1/messages", dict(mistake.api))
            assert status == 400 and isinstance(body, dict), (mistake.name, status, body)
            out[mistake.name] = body["error"]
        status, sessions, _ = server.call("GET", "/api/v1/sessions")
        assert status == 200 and isinstance(sessions, dict) and sessions["total"] == 0, sessions  # none injected
    finally:
        assert server.stop() == 0, server.errors()
    return out


async def said_by_the_tui(world: Path) -> dict[str, str]:
    app = AgoraApp(str(world))
    out = {}
    async with app.run_test(size=(150, 48)) as pilot:
        await asyncio.wait_for(app.ready.wait(), WAIT)
        await pilot.press("i")  # the Messages view, its inject form
        form = app.views.messages.form
        opened = {key: form.query_one(f"#{key}", Input).value for key in ("msg-text", "seed-arg", "msg-priority")}
        assert opened["seed-arg"] == "10" and opened["msg-priority"] == "0", opened
        for mistake in MISTAKES:
            for key, value in {**opened, **mistake.form}.items():
                form.query_one(f"#{key}", Input).value = value
            if mistake.param is not None:
                # The form shows one row per parameter of the model chosen; a row the model does not have
                # (a plugin reloaded without that parameter, the form built before) is planted here.
                name, value = mistake.param
                form.param_inputs[name] = Input(value=value)
            await pilot.pause()
            before = len(notified(app))
            # Pressed, not clicked: the previous mistake's notification may lie over the button.
            form.query_one("#inject", Button).press()
            deadline = time.monotonic() + WAIT  # only bounds a hang: the refusal may come from a worker
            while len(notified(app)) == before and time.monotonic() < deadline:
                await pilot.pause(0.05)
            await pilot.pause()  # a second notification, had there been one, would be posted by now
            if mistake.param is not None:
                del form.param_inputs[mistake.param[0]]
            said = notified(app)[before:]
            assert len(said) == 1, (mistake.name, said)
            out[mistake.name] = said[0]
        assert app.sim is not None and app.sim.sessions == []  # nothing was injected
    return out


def said_by_python(world: Path) -> dict[str, str]:
    out = {}
    with sim.open_world(str(world)).simulation() as live:
        for mistake in MISTAKES:
            fields = dict(mistake.python)
            with pytest.raises(BadParameterError) as caught:
                live.inject(str(fields.pop("text")), **fields)
            out[mistake.name] = str(caught.value)
        assert live.sessions() == []  # nothing was injected
    return out


@pytest.mark.subprocess
@pytest.mark.usefixtures("keep_notifications")
def test_the_same_mistake_is_the_same_sentence_everywhere(world_copies):
    expected = {m.name: parsed(m) for m in MISTAKES}
    assert len(set(expected.values())) == len(MISTAKES), expected  # four mistakes, four sentences
    said = {
        "the command line": said_by_the_cli(world_copies["cli"]),
        "the HTTP API": said_by_the_api(world_copies["api"]),
        "the terminal UI": asyncio.run(said_by_the_tui(world_copies["tui"])),
        "Python": said_by_python(world_copies["python"]),
    }
    for front_end, sentences in said.items():
        wanted = {m.name: parsed(m, "run") for m in MISTAKES} if front_end == "the command line" else expected
        assert sentences == wanted, front_end
