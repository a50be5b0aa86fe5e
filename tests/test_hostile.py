"""Hostile text everywhere: names, bios, messages, posts, plugin errors and file names holding markup,
control characters, ANSI escapes, bidi overrides, SQL quotes, spreadsheet formulas and very long strings
are stored literally (SQL, snapshots, the audit log) and shown safely (the terminal UI under Pilot and in
a real pseudo-terminal, the command line's output and errors, CSV, GraphML and GEXF).

"Safe to show" means: no control character, ANSI escape, bidi control or zero-width character reaches a
terminal raw — each shows as a visible escape (``\\x1b``, ``\\u202e``, see ``sim.core.safe``) — markup is never
parsed, and one-line cells are bounded.
"""

from __future__ import annotations

import asyncio
import csv
import html
import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import notified
from inprocess import run_cli

from sim.core.persona import Persona
from sim.core.safe import csv_cell, shown, xml_safe
from sim.store.create import synthetic_world
from sim.store.worldfile import open_world, save_world

ROOT = Path(__file__).resolve().parents[1]
SIZE = (150, 48)

#: The hostile strings, by name. Each is stored as a name, a bio, a message and a post.
CASES = {
    "markup": "[bold red]X[/bold red] [link=http://x]y[/link] [/",
    "ansi-color": "\x1b[31mRED\x1b[0m plain",
    "osc-title": "\x1b]0;PWNED\x07title",
    "c1-csi": "\x9b31mC1 csi",
    "controls": "a\rb\x08c\x00d\x07e\x7ff\x0bg\x0ch",
    "bidi": "\u202eevil\u202c and \u2066isolate\u2069",
    "zero-width": "zw\u200b\u200c\u200d\u2060\ufeffj",
    "sql": "Robert'); DROP TABLE agents;--",
    "lines": "line1\nline2\r\nline3\tend\u2028sep\u2029para",
    "xml": "<b>&amp;\"'</b> ]]> <!--",
    "formula": '=HYPERLINK("http://evil","x")',
    "formula-plus": "+1+cmd|' /C calc'!A0",
    "formula-at": "@SUM(A1:A9)",
    "long": "L" * 100_000 + "\x1b[31mEND",
    "unicode": "Zoë Ångström 中文 😀 مرحبا",
}
#: Cases that are printable as they are: shown exactly, unchanged.
PRINTABLE = ("markup", "sql", "xml", "formula", "formula-plus", "formula-at", "unicode")
NAMES = list(CASES)
WORLD_NAME = "\x1b]0;PWNED\x07[b]world'; --"
#: Raw sequences that must never reach a terminal (as the bytes a UTF-8 terminal would get).
RAW = ("\x1b[31m", "\x1b]0;", "\x9b", "\u202e", "\u2066", "\u200b", "\x00", "\x07", "\x08", "\r")


def unsafe_chars(text: str, allow: str = "\n") -> list[str]:
    """Characters a terminal must not get raw: controls, format characters (bidi, zero-width), line and
    paragraph separators, surrogates."""
    return [c for c in text if c not in allow and unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")]


def assert_safe(text: str, allow: str = "\n") -> None:
    bad = unsafe_chars(text, allow)
    assert not bad, f"raw {sorted(set(bad))!r} in {text[:200]!r}"


# -- the one function ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_shown_is_safe_bounded_and_idempotent(name):
    text = CASES[name]
    one = shown(text, 80)
    assert_safe(one, allow="")
    assert len(one) <= 80 and "\n" not in one
    assert shown(one, 80) == one  # what is shown shows as itself
    full = shown(text, None, lines=True)
    assert_safe(full, allow="\n\t")
    if name in PRINTABLE:
        assert shown(text) == text and one == (text if len(text) <= 80 else one)
    if "\x1b" in text:
        assert "\\x1b" in shown(text, None)
    if name == "long":
        assert one.endswith("…") and len(shown(text, 1000)) == 1000
        assert shown(text, None).endswith("\\x1b[31mEND")
    if name == "lines":
        assert full.split("\n")[:3] == ["line1", "line2", "line3\tend\\u2028sep\\u2029para"]


def test_csv_cell_and_xml_safe():
    for text in ("=1+1", "+1", "-1", "@A1", "\tx", "\rx", "\uff1dcmd"):
        assert csv_cell(text) == "'" + text
    for text in ("", "ok", "1-2", "a=b", "'quoted"):
        assert csv_cell(text) == text
    replaced = xml_safe("a\x1b[1m\x00\x85\ud800\ufffe<&>\n\tz\u202e")
    assert replaced == "a\ufffd[1m\ufffd\ufffd\ufffd\ufffd<&>\n\tz\u202e"


# -- storage: SQL, snapshots ----------------------------------------------------------------------------


def hostile_world(n: int = 400):
    w = synthetic_world(WORLD_NAME, n, avg_degree=6, seed=3)
    for i, name in enumerate(NAMES):
        w.set_persona(i, Persona(name=CASES[name], bio=f"bio {CASES[name]}", style=CASES[name]))
    return w


def test_a_lone_surrogate_is_refused_with_a_clear_error():
    from sim.engine.simulation import Simulation
    from sim.errors import BadParameterError

    w = synthetic_world("s", 200, avg_degree=4, seed=1)
    with pytest.raises(BadParameterError, match="not valid Unicode"):
        w.set_persona(1, Persona(name="bad \udcff", bio="b", style="s"))
    sim = Simulation(w)
    with pytest.raises(BadParameterError, match="not valid Unicode"):
        sim.inject("bytes \udcff from argv", seeds="random:3")
    assert not w.messages and not w.sessions and 1 not in w.persona_overrides


async def test_sql_and_snapshots_keep_hostile_text_literally(tmp_path):
    from sim.engine.simulation import Simulation
    from sim.store.snapshot import load_snapshot, save_snapshot
    from sim.store.writer import WorldWriter

    path = str(tmp_path / "h.db")
    await save_world(hostile_world(), path)
    w = await open_world(path)
    writer = await WorldWriter(path).start()
    sim = Simulation(w, writer=writer)
    sessions = {name: sim.inject(CASES[name], seeds="random:3") for name in NAMES}
    await sim.step()
    for name, s in sessions.items():
        w.posts.add(w.tick, NAMES.index(name), s.message_id, s.id, "reply", CASES[name], "llm")
    await sim.checkpoint()
    await writer.close()

    con = sqlite3.connect(path)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    assert {"agents", "agent_rows", "messages", "posts", "audit", "personas"} <= tables  # nothing was dropped
    for i, name in enumerate(NAMES):
        assert con.execute("SELECT name, bio, style FROM agents WHERE id = ?", (i,)).fetchone() == (
            CASES[name],
            f"bio {CASES[name]}",
            CASES[name],
        )
        mid = sessions[name].message_id
        assert con.execute("SELECT text FROM messages WHERE id = ?", (mid,)).fetchone()[0] == CASES[name]
        assert (
            con.execute("SELECT text FROM posts WHERE message_id = ? AND written_by = 'llm'", (mid,)).fetchone()[0]
            == CASES[name]
        )
    audit = [json.loads(d) for (d,) in con.execute("SELECT details FROM audit WHERE action = 'inject' ORDER BY id")]
    assert [a["text"] for a in audit] == [CASES[n][:1000] for n in NAMES]
    assert json.loads(con.execute("SELECT value FROM meta WHERE key = 'name'").fetchone()[0]) == WORLD_NAME
    con.close()

    again = await open_world(path)
    assert again.name == WORLD_NAME
    assert [again.persona(i).name for i in range(len(NAMES))] == [CASES[n] for n in NAMES]
    assert [m["text"] for m in again.messages] == [CASES[n] for n in NAMES]
    snap = str(tmp_path / "h.snap")
    save_snapshot(again, snap)
    back = load_snapshot(snap)
    assert back.name == WORLD_NAME
    assert [back.persona(i).bio for i in range(len(NAMES))] == [f"bio {CASES[n]}" for n in NAMES]
    assert [m["text"] for m in back.messages] == [CASES[n] for n in NAMES]


# -- exports -------------------------------------------------------------------------------------------


def test_exports_are_valid_literal_and_formula_safe(tmp_path):
    import networkx as nx

    from sim.analysis.export import export_world

    w = hostile_world()
    export_world(w, str(tmp_path / "a.csv"), "csv")
    with open(tmp_path / "a.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for i, name in enumerate(NAMES):
        want = "'" + CASES[name] if name.startswith("formula") else CASES[name]
        assert rows[i]["name"] == want, name
    assert rows[len(NAMES)]["name"] == w.persona(len(NAMES)).name  # generated names untouched

    for fmt in ("graphml", "gexf"):
        out = tmp_path / f"g.{fmt}"
        export_world(w, str(out), fmt)
        raw = out.read_text(encoding="utf-8")
        ET.parse(out)  # well-formed XML 1.0, whatever the names hold
        assert "\x1b" not in raw and "\x00" not in raw and "\x9b" not in raw and "\x07" not in raw
        g = nx.read_graphml(out, node_type=int) if fmt == "graphml" else nx.read_gexf(out, node_type=int)
        ids = w.columns["ids"]
        names = {i: g.nodes[int(ids[i])]["name" if fmt == "graphml" else "label"] for i in range(len(NAMES))}
        for i, name in enumerate(NAMES):
            if name in PRINTABLE:
                assert names[i] == CASES[name], (fmt, name)
        assert names[NAMES.index("ansi-color")] == "\ufffd[31mRED\ufffd[0m plain"
        assert names[NAMES.index("osc-title")] == "\ufffd]0;PWNED\ufffdtitle"
        assert names[NAMES.index("bidi")] == CASES["bidi"]  # valid XML: kept (a viewer is not a terminal)


# -- the terminal UI under Pilot ------------------------------------------------------------------------


def screen_text(app) -> str:
    text = re.sub(r"<[^>]+>", "", app.export_screenshot())
    return html.unescape(text).replace("\xa0", " ")


def notifications(app) -> list[str]:
    return notified(app)  # every one so far, expired ones included


@pytest.fixture
def hostile_file(tmp_path):
    path = str(tmp_path / "hostile.db")
    asyncio.run(save_world(hostile_world(), path))
    return path


@pytest.fixture
def hostile_plugins(tmp_path):
    folder = tmp_path / "plugs"
    folder.mkdir()
    (folder / "evil_model.py").write_text(
        "from sim.plugin import Param, PropagationModel\n"
        "class Evil(PropagationModel):\n"
        "    name = 'evil\\x1b[31m[b]'\n"
        "    params = {'q\\x1b[1m': Param(float, 0.5, 0.0, 1.0, help='help \\x1b]0;PWNED\\x07 [b]x[/')}\n"
        "    def step(self, ctx):\n"
        "        raise RuntimeError('step \\x1b]0;PWNED\\x07 \\x1b[31m[b]boom[/b] \\u202eRTL')\n"
    )
    (folder / "broken.py").write_text("raise RuntimeError('import \\x1b[31mfailed\\x1b[0m [b]x[/b] \\x9b2J')\n")
    return str(folder)


async def check_everything_safe(app, pilot) -> str:
    await pilot.pause()
    app.refresh_ui()
    await pilot.pause()
    text = screen_text(app)
    assert_safe(text)
    for message in notifications(app):
        assert_safe(message)
    log = app._views["dashboard"].query_one("#log")
    for line in log.lines:
        assert_safe(line, allow="")
    return text


@pytest.mark.usefixtures("keep_notifications")
async def test_every_view_shows_hostile_text_literally_and_safely(hostile_file, hostile_plugins):
    from textual.widgets import DataTable, Static

    from tui.app import AgoraApp
    from tui.screens import LoadScreen

    saves = Path(os.environ["AGORA_SAVES"])
    saves.mkdir(parents=True, exist_ok=True)
    (saves / "snap \x1b[31mRED\x1b[0m \u202eevil.snap").write_bytes(b"not a snapshot")
    app = AgoraApp(hostile_file, plugin_dirs=[hostile_plugins])
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 30)
        text = await check_everything_safe(app, pilot)
        assert "\\x1b]0;PWNED\\x07[b]world" in text  # the header: the world's name, literally
        # Messages: hostile texts injected through the form and through the API; a failing plugin.
        view = app._views["messages"]
        await pilot.press("i")
        view.query_one("#msg-text").value = CASES["ansi-color"] + " " + CASES["markup"]
        view.query_one("#seed-arg").value = "3"
        await pilot.pause()
        await pilot.click("#inject")
        await pilot.pause()
        for name in ("osc-title", "c1-csi", "bidi", "long"):
            app.sim.inject(CASES[name], seeds="random:3")
        evil = app.sim.inject("evil plugin", seeds="random:3", model="evil\x1b[31m[b]")
        for _ in range(2):
            await pilot.press("n")
            await app.workers.wait_for_complete()
        assert evil.status == "failed" and "\x1b]0;PWNED" in evil.error  # kept literally
        s = app.sim.sessions[0]
        app.world.posts.add(app.world.tick, 1, s.message_id, s.id, "reply", CASES["osc-title"] + CASES["markup"], "llm")
        app.selected_session_id = s.id  # its posts are shown
        await pilot.press("4")
        text = await check_everything_safe(app, pilot)
        assert "\\x1b[31mRED\\x1b[0m plain [bold red]X[/bold red]" in text
        assert "\\u202eevil\\u202c" in text
        table = view.query_one("#sessions", DataTable)
        cells = [table.get_cell(str(x.id), "text").plain for x in app.sim.sessions]
        assert all(len(c) <= 60 for c in cells) and any(c.endswith("…") for c in cells)
        posts = str(view.query_one("#posts", Static).render())
        assert "\\x1b]0;PWNED\\x07title[bold red]X[/bold red]" in posts
        assert any("session" in m and "\\x1b]0;PWNED\\x07" in m for m in notifications(app))
        # The hostile model's parameter form: its name, its parameter and its help (a tooltip) literally.
        view.query_one("#model").value = "evil\x1b[31m[b]"
        await pilot.pause()
        (inp,) = view._param_inputs.values()
        assert inp.tooltip.plain == "help \\x1b]0;PWNED\\x07 [b]x[/ (a number in [0, 1])"
        text = await check_everything_safe(app, pilot)
        assert "q\\x1b[1m" in text and "evil\\x1b[31m[b]" in text
        # Agents: each hostile persona, and a hostile query.
        await pilot.press("3")
        agents = app._views["agents"]
        for i, name in enumerate(NAMES):
            agents.show(i)
            profile = str(agents.query_one("#agent-profile", Static).render())
            assert_safe(profile)
            assert shown(CASES[name], 80)[:40] in profile, name
        agents.show(NAMES.index("osc-title"))
        text = await check_everything_safe(app, pilot)
        assert "\\x1b]0;PWNED\\x07title" in text
        agents.find("\x1b[31mnobody\x1b[0m")
        await pilot.pause()
        assert any("\\x1b[31mnobody" in m for m in notifications(app)), notifications(app)[-3:]
        # Plugins: the failed import's traceback and the hostile model's name.
        await pilot.press("5")
        plugins = app._views["plugins"]
        ptable = plugins.query_one("#plugins", DataTable)
        keys = [k.value for k in ptable.rows]
        ptable.move_cursor(row=[app.registry.entries[k].name for k in keys].index("broken"))
        await pilot.pause()
        detail = str(plugins.query_one("#plugin-text", Static).render())
        assert "import \\x1b[31mfailed\\x1b[0m [b]x[/b] \\x9b2J" in detail and "Traceback" in detail
        # The hostile model's row (the table scrolls to the cursor: 27 built-in models come first).
        ptable.move_cursor(row=[app.registry.entries[k].name for k in keys].index("evil\x1b[31m[b]"))
        text = await check_everything_safe(app, pilot)
        assert "evil\\x1b[31m[b]" in text
        # Dashboard: the log of injections and of the failure.
        await pilot.press("1")
        await check_everything_safe(app, pilot)
        log = app._views["dashboard"].query_one("#log").lines
        assert any("\\x1b[31mRED" in line for line in log) and any("FAILED" in line and "PWNED" in line for line in log)
        # The load picker: a hostile file name, shown literally, and the error of loading it.
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, LoadScreen)
        text = await check_everything_safe(app, pilot)
        assert "snap \\x1b[31mRED\\x1b[0m \\u202eevil.snap" in text
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await check_everything_safe(app, pilot)
        # The save dialog proposes a file name made of plain characters.
        await pilot.press("s")
        await pilot.pause()
        proposed = app.screen.query_one("#snapshot-name").value
        assert not unsafe_chars(proposed, allow="") and "/" not in proposed
        assert proposed.endswith(f"-tick{app.world.tick}")
        await pilot.press("escape")
        await app.sim.checkpoint()
    con = sqlite3.connect(hostile_file)
    texts = [r[0] for r in con.execute("SELECT text FROM messages ORDER BY id")]
    assert texts[0] == CASES["ansi-color"] + " " + CASES["markup"] and CASES["long"] in texts
    assert "\x1b]0;PWNED" in con.execute("SELECT error FROM sessions WHERE status = 'failed'").fetchone()[0]
    con.close()


@pytest.mark.subprocess
def test_the_real_terminal_never_receives_a_raw_escape(hostile_file):
    """The real program in a pseudo-terminal: what it writes to the terminal holds the hostile names and
    messages only as visible escapes (Textual itself would pass ESC, C1 CSI and bidi controls through)."""
    import fcntl
    import pty
    import struct
    import termios

    async def add_messages():
        from sim.engine.simulation import Simulation
        from sim.store.writer import WorldWriter

        w = await open_world(hostile_file)
        writer = await WorldWriter(hostile_file).start()
        sim = Simulation(w, writer=writer)
        for name in ("ansi-color", "osc-title", "c1-csi", "bidi", "zero-width", "controls"):
            sim.inject(CASES[name], seeds="random:3")
        await sim.checkpoint()
        await writer.close()

    asyncio.run(add_messages())
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "150", "LINES": "48"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real program
        try:
            os.chdir(str(ROOT))
            os.execve(sys.executable, [sys.executable, "-m", "sim", "tui", hostile_file], env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 150, 0, 0))
    out = bytearray()

    def read_until(needle: bytes, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if needle in out:
                return True
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    data = os.read(fd, 1 << 16)
                except OSError:
                    return needle in out
                if not data:
                    return needle in out
                out.extend(data)
        return needle in out

    try:
        assert read_until(b"PAUSED", 60), bytes(out[-2000:])
        assert read_until(b"\\x1b]0;PWNED", 30)  # the header shows the world's name, escaped
        os.write(fd, b"4")  # the Messages view: the hostile messages
        assert read_until(b"\\x9b31mC1", 30), bytes(out[-3000:])
        read_until(b"\\u202eevil", 3)
        os.write(fd, b"3")  # the Agents view: find agent 1 (its name and bio hold an ANSI colour)
        read_until(b"find an agent", 5)  # the view opens in its search box: the id is typed there
        os.write(fd, b"1\r")
        assert read_until(b"bio \\x1b[31mRED", 30), bytes(out[-3000:])
    finally:
        os.kill(pid, signal.SIGTERM)
        try:
            read_until(b"\x00never", 1.0)
        finally:
            os.close(fd)
            os.waitpid(pid, 0)
    raw = bytes(out)
    for seq in (
        "\x1b[31mRED",
        "\x1b]0;PWNED",
        "\x9b31m",
        "\u202eevil",
        "\u200b",
        "\u2066isolate",
        "\x1b[0m plain",
        "bio \x1b",
    ):
        assert seq.encode() not in raw, seq
    assert b"\x07title" not in raw and b"\x00" not in raw
    assert b"\\x1b[31mRED" in raw and b"\\u202eevil" in raw


# -- the command line ----------------------------------------------------------------------------------


def agora(cwd: Path, *args, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {**os.environ, **(env or {})}
    e["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    e.pop("AGORA_PROGRESS", None)
    return run_cli(args, cwd=cwd, env=e, timeout=120, text=False)


def test_the_command_line_prints_hostile_text_escaped_and_json_literally(hostile_file, tmp_path):
    agent = agora(tmp_path, "agent", hostile_file, "1")  # agent index 1 has original id 1
    assert agent.returncode == 0, agent.stderr
    text = agent.stdout.decode()
    assert_safe(text)
    assert "\\x1b[31mRED\\x1b[0m plain" in text
    data = json.loads(agora(tmp_path, "agent", hostile_file, "1", "--json").stdout)
    assert data["name"] == CASES["ansi-color"] and data["bio"] == "bio " + CASES["ansi-color"]

    run = agora(tmp_path, "run", hostile_file, "--steps", "1", "--inject", CASES["osc-title"] + CASES["sql"])
    assert run.returncode == 0, run.stderr
    assert_safe(run.stdout.decode() + run.stderr.decode())
    con = sqlite3.connect(hostile_file)
    assert con.execute("SELECT text FROM messages ORDER BY id DESC").fetchone()[0] == CASES["osc-title"] + CASES["sql"]
    con.close()

    bad = agora(tmp_path, "info", str(tmp_path / "no \x1b[31mRED\x1b[0m \u202e.db"))
    assert bad.returncode == 2
    err = bad.stderr.decode()
    assert_safe(err) and "\\x1b[31mRED" in err and err.count("\n") == 1

    # Bytes that are not UTF-8 on the command line: one clear sentence, nothing injected.
    undecodable = agora(tmp_path, "run", hostile_file, "--steps", "1", "--inject", b"caf\xe9 \xff")
    assert undecodable.returncode == 2 and b"not valid Unicode" in undecodable.stderr
    assert b"Traceback" not in undecodable.stderr
    con = sqlite3.connect(hostile_file)
    assert con.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 1
    con.close()


# -- what the LLM writes -------------------------------------------------------------------------------


async def test_hostile_llm_answers_are_stored_and_shown_safely(tmp_path):
    """A server answering with escapes, markup and megabytes: posts are kept (cleaned of control
    characters and cut by ``sim.llm.prompts.clean``), the world file stays writable, the UI shows them safely."""
    from agora_testing.fakeserver import FakeChatServer
    from sim.engine.simulation import Simulation
    from sim.llm.config import LLMConfig
    from sim.llm.service import LLMService
    from sim.store.writer import WorldWriter
    from tui.views import MessagesView

    answers = [
        CASES["ansi-color"],
        CASES["osc-title"] + CASES["markup"],
        CASES["c1-csi"],
        CASES["bidi"],
        CASES["long"],
        CASES["sql"],
    ]
    srv = await FakeChatServer(answer=lambda messages: answers[len(str(messages)) % len(answers)]).start()
    path = str(tmp_path / "llm.db")
    await save_world(hostile_world(), path)
    w = await open_world(path)
    writer = await WorldWriter(path).start()
    sim = Simulation(
        w,
        writer=writer,
        llm=LLMService(w, LLMConfig.resolve({"base_urls": srv.url, "timeout": 5}, env={"OPENAI_API_KEY": "sk-test"})),
    )
    try:
        sim.inject(CASES["markup"], seeds="random:20", model="ic", params={"p": 0.3})
        for _ in range(6):
            await sim.step()
            await asyncio.sleep(0.03)
        await sim.aclose(60)
        await sim.checkpoint()
    finally:
        await writer.close()
        await srv.stop()
    assert writer.error is None
    posts = w.posts.recent(limit=10_000)
    llm_posts = [p for p in posts if p["written_by"] == "llm"]
    assert llm_posts and all(len(p["text"]) <= 2000 for p in llm_posts)
    assert all("\x1b" not in p["text"] and "\x07" not in p["text"] for p in llm_posts)
    con = sqlite3.connect(path)
    assert con.execute("SELECT COUNT(*) FROM posts WHERE written_by = 'llm'").fetchone()[0] == len(llm_posts)
    con.close()
    shown_posts = MessagesView.post_lines(w, posts[:50]).plain
    assert_safe(shown_posts)


async def test_an_llm_answer_with_a_lone_surrogate_does_not_break_the_world_file(tmp_path):
    from agora_testing.fakeserver import FakeChatServer
    from sim.engine.simulation import Simulation
    from sim.llm.config import LLMConfig
    from sim.llm.service import LLMService
    from sim.store.writer import WorldWriter

    srv = await FakeChatServer(answer=lambda messages: "half a pair \ud800 here").start()
    path = str(tmp_path / "s.db")
    await save_world(synthetic_world("s", 300, avg_degree=6, seed=2), path)
    w = await open_world(path)
    writer = await WorldWriter(path).start()
    sim = Simulation(
        w,
        writer=writer,
        llm=LLMService(w, LLMConfig.resolve({"base_urls": srv.url, "timeout": 5}, env={"OPENAI_API_KEY": "sk-test"})),
    )
    try:
        sim.inject("x", seeds="random:10", model="ic", params={"p": 0.3})
        for _ in range(4):
            await sim.step()
            await asyncio.sleep(0.03)
        await sim.aclose(60)
        await sim.checkpoint()
    finally:
        await writer.close()
        await srv.stop()
    assert writer.error is None and any(p["written_by"] == "llm" for p in w.posts.recent(limit=1000))
