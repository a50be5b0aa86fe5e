"""Rerun every command whose output README.md and docs/*.md quote, and compare each quote with what it prints.

    python docs/quotes/quotes.py                 # check every quote; exit 1 naming each that differs
    python docs/quotes/quotes.py --update        # rewrite the quotes that differ from the fresh output
    python docs/quotes/quotes.py --list          # the scenes and their quotes
    python docs/quotes/quotes.py SCENE ...       # only these scenes (tests/test_doc_quotes.py runs one each)

A quote is marked in the markdown by a comment naming it, above a fenced block::

    <!-- quote: readme-ensemble -->
    ```
    model sir beta=0.05 ...
    ```

or around a sentence of running text: ``<!-- quote: readme-takeoff -->IC takes off ...<!-- /quote -->``.
:data:`SCENES` ties each name to the commands that print it, in one place: by default the ``sh`` block
just above the quote in the same file (the commands the reader is shown; ``only`` picks some of its
lines), or, for a transcript (``console``), the quote's own ``$ `` lines, run in the scratch folder; else
the ``commands`` given here, with a comment saying why. A scene runs its steps in order in one
``bash`` in the project root, with ``W`` a fresh scratch folder, ``.venv/bin`` first on ``PATH``, the LLM
offline and tables 160 columns wide, as the walkthrough's reader would.

How a quote is compared with the output (stdout and stderr together):

- the scratch folder is printed as ``...`` (``.../trees.csv.gz``), the datasets' folder as
  ``.../shared/data`` and the project root as ``ROOT``;
- each step's ``masks`` (regular expressions) name what legitimately differs from one run to the next
  (timings, memory, the machine's free memory); what they match becomes ``<masked>`` in both texts.
  Nothing else is masked;
- a quote is an excerpt: its lines must appear in the output in order and contiguously, a line ``...``
  standing for any number of lines; with ``inline_ellipsis`` a ``...`` inside a line stands for any text.
- ``--update`` rewrites each line of a differing quote with the output line of the same shape (the same
  text with any numbers), keeping the excerpt's choice of lines; a line whose text changed otherwise, or
  that elides within itself, is left for a person to rewrite, and said so.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARK = re.compile(r"<!-- quote: ([a-z0-9-]+) -->")
END_INLINE = "<!-- /quote -->"
MASKED = "<masked>"
SEP = "\x1equote-step "
DATA_MARK = "\x1edata"

# Masks shared by several steps (each one named for what varies).
RUNS_IN = r"(?<=runs in )\d+(\.\d+)? s"  # a sweep's time: "20 runs in 1.6 s"
FIT_TIME = r"(?<=; )\d+(\.\d+)? s(?= on \d+ worker)"  # a fit's time: "ESS 349 of 500; 26.4 s on 2 worker(s)"


@dataclass
class Step:
    """Commands whose output one quote shows (or, with no quote, commands a later step needs)."""

    quote: str | None
    file: str  # the markdown file (README.md, docs/X.md) that holds the quote or the sh block
    commands: str | None = None  # None: the sh block above the quote (``block`` names it otherwise)
    only: tuple[str, ...] = ()  # run only the block's lines that contain one of these
    block: str | None = None  # for a step with no quote: a line of the sh block to run
    masks: tuple[str, ...] = ()
    inline_ellipsis: bool = False
    console: bool = False  # the quote is a transcript: its ``$ `` lines are the commands, run in $W
    before: str = ""  # hidden commands the quote assumes were run (in $W for a transcript)
    tee: str | None = None  # also keep the step's output in $W/TEE, for a later step to show again


@dataclass
class Scene:
    """Steps that share a scratch folder and a shell, in order."""

    name: str
    steps: list[Step] = field(default_factory=list)
    setup: str = ""  # hidden commands run first (what the page assumes exists)


README = "README.md"

SCENES = [
    Scene(
        "walkthrough",
        [
            Step(None, README, block="agora new $W/city.db --agents 100000 --seed 42"),
            Step(None, README, block="agora save $W/email.db $W/email.snap"),
            Step(None, README, block="agora plugins new topic_cascade --template", only=("agora plugins new",)),
            Step("readme-ensemble", README),
            Step("readme-compare", README, only=("agora sweep",), masks=(RUNS_IN,)),
            Step("readme-plugin-failure", README),
            # A server in the background and a live stream: the README's lines, but waiting for the server
            # with --port-file before the first request (a reader's shell waits while they type), and the
            # event stream read until its first tick instead of printing beside the other answers.
            Step(
                "readme-serve",
                README,
                commands="""
python -c 'import secrets; print(secrets.token_urlsafe(32))' > $W/admin.token
agora serve $W/email-copy.db --token-file $W/admin.token --port-file $W/port &
while [ ! -s $W/port ]; do sleep 0.1; done
T="Authorization: Bearer $(cat $W/admin.token)"; J="Content-Type: application/json"; A=http://127.0.0.1:$(cat $W/port)/api/v1
curl -s -H "$T" -H "$J" -X POST $A/messages -d '{"text": "Breaking news", "model": "sir", "params": {"beta": 0.05, "gamma": 0.3}, "seeds": "top:10"}'; echo
curl -s -H "$T" -H "$J" -X POST $A/step -d '{"ticks": 5}'; echo
curl -s -N -H "$T" $A/events > $W/events.txt &
curl -s -H "$T" -H "$J" -X POST $A/run -d '{"ticks_per_second": 10}'; echo
while ! grep -q '^event: tick' $W/events.txt; do sleep 0.1; done
curl -s -H "$T" -X POST $A/pause; echo
kill %2; grep -m1 -A1 '^event: tick' $W/events.txt
""",  # noqa: E501 - the README's lines
                masks=(
                    r'(?<="state":"paused","tick":)\d+',  # when the pause came: the reader's timing
                    r'(?<="seq": )\d+',  # events before the first tick: a hello and state changes
                    r'(?<="type": "tick", "tick": )\d+',  # the first tick the stream saw (the run is under way)
                    r'(?<="seconds": )[\d.e-]+',
                ),
                inline_ellipsis=True,
            ),
            Step("readme-interview", README),
            Step("readme-python", README, masks=()),
            Step("readme-cascades", README, only=("agora sweep", "agora run", "agora cascades")),
            Step(
                "readme-takeoff",
                README,
                commands="python docs/quotes/takeoff.py $W/trees.csv.gz",
            ),
            Step(
                "readme-seeds",
                README,
                only=("agora new", "agora seeds", "agora sweep"),
                masks=(
                    r"(?<=by ris \()\d+(\.\d+)? s(?=\))",
                    # The seeds column is as wide as its longest label, file:$W/ris.txt: as long as $W's path.
                    r"(?<=\S) {2,}(?=\S)",
                    r"^─+$",  # and so is the rule under the header
                ),
                inline_ellipsis=True,
            ),
        ],
    ),
    Scene(
        "results",
        [
            Step("results-sir", "docs/results.md", only=("agora new", "--model sir")),
            Step("results-series", "docs/results.md", commands="head -4 $W/sir.csv"),
            Step(
                "results-recommenders",
                "docs/results.md",
                only=("agora sweep",),
                masks=(RUNS_IN,),
            ),
        ],
    ),
    Scene(
        "tui-views",
        [
            # docs/figures/make_tui_views.py drives the real UI on the Hagelloch village (an SIR session run to its
            # end, replayed; Rt and a fit of the Measles 1861 curve) and writes each view's screen as text.
            Step(
                "tui-replay",
                "docs/tui.md",
                commands="agora new $W/v.db --people ../shared/data/hagelloch.csv --id PN --group HN:household "
                "--group CL:class --skip preschool > /dev/null && "
                "python docs/figures/make_tui_views.py $W/v.db ../shared/data $W && cat $W/replay.txt",
            ),
            Step("tui-rt", "docs/tui.md", commands="cat $W/rt.txt"),
            Step("tui-fit", "docs/tui.md", commands="cat $W/fit.txt"),
            Step("tui-posterior", "docs/tui.md", commands="cat $W/posterior.txt"),
            Step("tui-backtest", "docs/tui.md", commands="cat $W/backtest.txt"),
        ],
    ),
    Scene(
        "screenshot",
        [
            # docs/figures/make_screenshots.py draws the README's screen (and docs/figures/dashboard.svg) from a
            # real TUI session; what depends on the machine is masked: rates, memory, CPU, the memory chart.
            Step(
                "readme-dashboard",
                README,
                commands="python docs/figures/make_screenshots.py $W --dashboard > /dev/null && cat $W/dashboard.txt",
                masks=(
                    r"\(was \d+\.\d\)",  # the tick rate reached at the UI's pace of 10 a second
                    r"(?<=edge attempts/s )[\d,]+",
                    r"(?<=RSS memory )\d+ MB",
                    r"(?<=CPU )\d+ %",
                    r"(?<=│) *(?:[\d.kM]{1,6}┤|│)[^│┤\n]*│$",  # the memory chart: the last chart of a line
                    r"(?<=┐) +┌─+┐$",  # its frame (as wide as its axis labels leave it)
                    r"(?<=┘) +└[─┬]+┘$",  # its time axis (with or without a tick mark at its start)
                    r"(?<=\d) +-\d.*$",  # and the axis's labels (seconds before now)
                    # Columns move with the width of what is masked (a rate of 9.8 or 10.1, an axis label).
                    r"(?<=\S) {2,}(?=\S)",
                ),
            ),
        ],
    ),
    Scene(
        "worlds",
        [
            Step(
                "readme-model-count",
                README,
                commands='python -c "from sim.model.registry import Registry; '
                "print(len(Registry(entry_points=False, env=False).list('model')))\"",
            ),
            Step("worlds-email", "docs/worlds.md", console=True, masks=(r"(?<=created in   )\d+(\.\d+)? s",)),
            Step(
                "sweeps-city20",
                "docs/sweeps.md",
                console=True,
                before="agora new city20.db --agents 20000 --seed 42 > /dev/null",
                masks=(RUNS_IN,),
            ),
            # The machine's free memory when it runs.
            Step("performance-huge", "docs/performance.md", console=True, masks=(r"(?<=only )\d+(\.\d+)? GiB",)),
        ],
    ),
    Scene(
        "plugins",
        [
            Step(
                "model-check",
                "docs/writing-a-model.md",
                commands="agora plugins new topic_cascade --dir $W/myplugins > /dev/null; "
                "agora plugins check $W/myplugins/topic_cascade.py",
                masks=(r"(?<=speed on 100,000 agents, 1,000,000 edges: ).*",),  # a speed, measured
            ),
            Step(
                "recommender-check",
                "docs/writing-a-recommender.md",
                commands="agora plugins new topical_feed --template recommender --dir $W/myplugins > /dev/null; "
                "agora plugins check $W/myplugins/topical_feed.py",
                masks=(r"(?<=speed on 100,000 agents, 1,000,000 edges: ).*",),
            ),
        ],
    ),
    Scene(
        "analysis",
        [
            Step(
                "analysis-city",
                "docs/analysis.md",
                console=True,
                before="agora new saves/city.db --agents 100000 --seed 42 > /dev/null",
                masks=(
                    r"(?<=\[leiden, resolution 1, )\d+(\.\d+)? s",  # timings: the search's,
                    r"^seconds .*$",  # and each part's (the quote keeps one quiet run's)
                ),
            ),
        ],
    ),
    Scene(
        "memory",
        [
            Step(
                "llm-memory",
                "docs/llm-agents.md",
                console=True,
                # The agent's history of README step 10, before the memory window is narrowed (offline).
                before="""agora new saves/city.db --agents 100000 --seed 42 > /dev/null
agora run saves/city.db --inject "The old bridge on Elm street collapsed this morning" --seeds ids:42 --steps 3
agora interview saves/city.db 42 "What happened in town today?"
for k in 1 2 3 4 5 6; do
  agora run saves/city.db --inject "Weather report $k: sunny spells" --seeds top:200 --steps 2
  agora interview saves/city.db 42 "Any news about the weather?"
done > /dev/null""",
            ),
        ],
    ),
    Scene(
        "one-writer",
        [
            # A server holds the world; a second writer is refused. The server's pid and its command line's
            # extra flags (the port file this script waits on) differ from the page's.
            Step(
                "reliability-one-writer",
                "docs/reliability.md",
                commands="mkdir -p saves && agora new saves/city.db --agents 500 --seed 42 > /dev/null && "
                "(agora serve saves/city.db --port 0 --port-file port 2> /dev/null &) && "
                "while [ ! -s port ]; do sleep 0.1; done; agora run saves/city.db --steps 1; "
                'kill $(python -c \'import json; print(json.load(open("saves/city.db.lock"))["pid"])\')',
                masks=(r"(?<=is being written by process )\d+ \([^)]*\)",),
            ),
        ],
        setup="cd $W",
    ),
    Scene(
        "fitting",
        [
            Step(
                "fitting-exact",
                "docs/fitting.md",
                console=True,
                before="mkdir -p saves && "
                "agora new saves/fb.db --edges ../shared/data/facebook_combined.txt > /dev/null",
                masks=(r"(?<=posterior draws; )\d+(\.\d+)? s",),  # the fit's time
            ),
        ],
    ),
    Scene(
        "fit-report",
        [
            # README step 14's SIR fit on ego-Facebook, run once: its report is quoted in the README and, with the
            # file named as docs/fitting.md's worked example names it (flu.csv, not $W/flu.csv), in "What it
            # reports". Its time is masked (26 s on 2 workers here).
            Step(None, README, block="agora new $W/ego.db", only=("agora new $W/ego.db", "--inject flu")),
            Step(
                "readme-fit",
                README,
                only=("agora fit $W/ego.db --model sir",),
                masks=(FIT_TIME,),
                tee="fit.txt",
            ),
            Step(
                "fitting-report",
                "docs/fitting.md",
                commands='sed -e "s#$W/##" $W/fit.txt',
                masks=(FIT_TIME,),
            ),
        ],
    ),
    Scene(
        "populations",
        [
            # The two worlds the page builds with the commands it shows above its first quote (a transcript
            # runs only its own $ lines).
            Step(
                "populations-info",
                "docs/populations.md",
                console=True,
                before="agora new saves/hagelloch.db --people ../shared/data/hagelloch.csv --id PN "
                "--group HN:household --group CL:class --skip preschool > /dev/null && "
                "agora new saves/village.db --people ../shared/data/hagelloch.csv --id PN --group HN:household "
                "--group CL:class --skip preschool --near x.loc,y.loc:50:neighbours > /dev/null",
            ),
            Step("populations-agent", "docs/populations.md", console=True),
            Step("populations-runs", "docs/populations.md", console=True),
            Step("populations-forecast", "docs/populations.md", console=True),
        ],
    ),
    Scene(
        "propagation",
        [
            Step(
                "propagation-plugin",
                "docs/propagation.md",
                console=True,
                before="agora new saves/city.db --agents 100000 --seed 42 > /dev/null",
            ),
        ],
    ),
    Scene(
        "rt",
        [
            Step("rt-school", "docs/rt.md", console=True),
            Step("rt-measles", "docs/rt.md", console=True),
        ],
    ),
]


# -- reading the markdown ----------------------------------------------------------------------------------
@dataclass
class Quote:
    name: str
    file: str
    start: int  # offsets of the quoted text in the file
    end: int
    text: str
    inline: bool


def quotes_in(file: str) -> dict[str, Quote]:
    """Every marked quote of ``file`` by name."""
    text = (ROOT / file).read_text()
    found: dict[str, Quote] = {}
    for m in MARK.finditer(text):
        name = m.group(1)
        if name in found:
            raise SystemExit(f"{file}: the quote {name} is marked twice")
        rest = m.end()
        if text.startswith("\n```", rest):
            start = text.index("\n", rest + 1) + 1  # after the fence line
            end = text.index("\n```", start - 1) + 1
            end = max(end, start)
            found[name] = Quote(name, file, start, end, text[start:end], inline=False)
        else:
            end = text.index(END_INLINE, rest)
            found[name] = Quote(name, file, rest, end, text[rest:end], inline=True)
    return found


def sh_block_before(file: str, offset: int) -> str:
    """The last ``sh`` block of ``file`` before ``offset``."""
    text = (ROOT / file).read_text()
    start = text.rfind("\n```sh\n", 0, offset)
    if start < 0:
        raise SystemExit(f"{file}: no sh block above offset {offset}")
    start += len("\n```sh\n")
    return text[start : text.index("\n```", start)]


def sh_block_with(file: str, line: str) -> str:
    """The ``sh`` block of ``file`` that holds ``line``."""
    text = (ROOT / file).read_text()
    at = text.index(line)
    start = text.rfind("\n```sh\n", 0, at) + len("\n```sh\n")
    return text[start : text.index("\n```", start)]


def commands_of(step: Step, quotes: dict[str, Quote]) -> str:
    text = _commands_of(step, quotes)
    return text if step.tee is None else f"{{\n{text}\n}} 2>&1 | tee $W/{step.tee}"


def _commands_of(step: Step, quotes: dict[str, Quote]) -> str:
    if step.console:
        assert step.quote is not None, "a transcript is a quote"
        lines = ["mkdir -p saves"] + ([step.before] if step.before else [])  # saves/ as in the project
        for line in _lines(quotes[step.quote].text):
            if line.startswith("$ "):
                lines += [f"printf '%s\\n' {shlex.quote(line)}", line[2:]]
        return "(cd $W\n" + "\n".join(lines) + "\n)"  # ../shared/data: the link beside $W
    if step.before:
        raise AssertionError("before is for transcripts; give the commands instead")
    if step.commands is not None:
        return _data(step.commands.strip("\n"))
    if step.quote is None:
        assert step.block is not None, "a step without a quote names its block"
        block = sh_block_with(step.file, step.block)
    else:
        block = sh_block_before(step.file, quotes[step.quote].start)
    if step.only:
        block = "\n".join(line for line in block.splitlines() if any(s in line for s in step.only))
    return _data(block)


def _data(commands: str) -> str:
    """Commands run in the project root name the datasets ../shared/data (in a heredoc too): marked here,
    they become the datasets' folder when the scene runs ($AGORA_DATA may be elsewhere)."""
    return commands.replace("../shared/data", DATA_MARK)


# -- running -------------------------------------------------------------------------------------------
def data_dir() -> Path:
    env = os.environ.get("AGORA_DATA")
    return Path(env).expanduser().resolve() if env else (ROOT.parent / "shared" / "data").resolve()


def run_scene(scene: Scene, quotes: dict[str, Quote], timeout: float = 1200) -> dict[str, str]:
    """Run a scene's steps; the output of each step that shows a quote, by quote name."""
    base = Path(tempfile.mkdtemp(prefix="agora-quotes-"))
    scratch = base / "work"  # $W; ../shared/data beside it is the datasets' folder, as beside the project
    data = data_dir()
    scratch.mkdir()
    (base / "shared").mkdir()
    (base / "shared" / "data").symlink_to(data)
    try:
        script = ["set +e", "exec 2>&1", scene.setup]
        for i, step in enumerate(scene.steps):
            script.append(f"printf '%s\\n' '{SEP}{i}'")
            script.append(commands_of(step, quotes))
        script.append("kill $(jobs -p) 2>/dev/null; wait")
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AGORA_LLM_MODEL", "AGORA_LLM_OFFLINE", "AGORA_PROGRESS")
        }
        env.update(
            W=str(scratch),
            AGORA_SAVES=str(scratch),
            COLUMNS="160",
            PATH=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),
        )
        text = "\n".join(script).replace(DATA_MARK, str(base / "shared" / "data")) + "\n"
        done = subprocess.run(
            ["bash", "-c", text],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        out = done.stdout
        for folder in (base / "shared" / "data", data, ROOT.parent / "shared" / "data"):
            out = out.replace(str(folder), ".../shared/data")
        out = out.replace(str(scratch) + "/", ".../").replace(str(scratch), "...").replace(str(ROOT), "ROOT")
        parts = out.split(SEP)
        outputs: dict[str, str] = {}
        for part in parts[1:]:
            index, _, body = part.partition("\n")
            step = scene.steps[int(index)]
            if step.quote:
                outputs[step.quote] = body
        return outputs
    finally:
        shutil.rmtree(base, ignore_errors=True)


# -- comparing -----------------------------------------------------------------------------------------
def masked(text: str, masks: tuple[str, ...]) -> str:
    for pattern in masks:
        text = re.sub(pattern, MASKED, text, flags=re.MULTILINE)
    return text


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").splitlines()]


def _pattern(line: str, inline_ellipsis: bool) -> re.Pattern[str]:
    parts = line.split("...") if inline_ellipsis else [line]
    return re.compile(".*?".join(re.escape(p) for p in parts) + r"\Z")


def _segments(expected: list[str]) -> list[list[str]]:
    segments: list[list[str]] = [[]]
    for line in expected:
        if line.strip() == "...":
            segments.append([])
        else:
            segments[-1].append(line)
    return [s for s in segments if s]


def find(expected: list[str], actual: list[str], inline_ellipsis: bool) -> list[int] | None:
    """The actual line index of each non-``...`` expected line, or None when the quote does not match."""
    at, where = 0, []
    for segment in _segments(expected):
        pats = [_pattern(line, inline_ellipsis) for line in segment]
        for i in range(at, len(actual) - len(pats) + 1):
            if all(p.match(actual[i + j]) for j, p in enumerate(pats)):
                where.extend(range(i, i + len(pats)))
                at = i + len(pats)
                break
        else:
            return None
    return where


def compare(step: Step, quote: Quote, output: str) -> tuple[bool, str]:
    """(matches, a short report of the first line that does not)."""
    if quote.inline:
        want = " ".join(masked(quote.text, step.masks).split())
        got = " ".join(masked(output, step.masks).split())
        return want == got, f"quoted: {want}\nprinted: {got}"
    expected = _lines(masked(quote.text, step.masks))
    actual = _lines(masked(output, step.masks))
    if find(expected, actual, step.inline_ellipsis) is not None:
        return True, ""
    # Report the first line of the first segment that does not match in order.
    at = 0
    for segment in _segments(expected):
        for line in segment:
            pat = _pattern(line, step.inline_ellipsis)
            hit = next((i for i in range(at, len(actual)) if pat.match(actual[i])), None)
            if hit is None:
                shape = _shape(line)
                near = [a for a in actual[at:] if _shape(a) == shape][:1] or actual[at : at + 3]
                return False, f"quoted: {line}\nprinted: {near[0] if near else '(nothing more)'}"
            at = hit + 1
    return False, "the quoted lines are all printed, but not together in that order"


_DIGITS = re.compile(r"\d[\d,.]*")


def _shape(line: str) -> str:
    """A line with every number replaced, and spaces squeezed: the same table row with other numbers."""
    return " ".join(_DIGITS.sub("#", line).split())


def updated(step: Step, quote: Quote, output: str) -> tuple[str, list[str]]:
    """The quote rewritten from the output, and the lines that could not be matched by shape."""
    if quote.inline:
        return " ".join(output.split()), []
    actual = _lines(output)
    actual_shapes = [_shape(masked(a, step.masks)) for a in actual]
    lines, left, at = [], [], 0
    for line in _lines(quote.text):
        if line.strip() == "...":
            lines.append(line)
            continue
        pattern = _pattern(masked(line, step.masks), step.inline_ellipsis)
        same = next((i for i in range(at, len(actual)) if pattern.match(masked(actual[i], step.masks))), None)
        if same is not None:  # it matches (it differs only where masked): keep the quoted timing, an elision
            lines.append(line)
            at = same + 1
            continue
        shape = _shape(masked(line, step.masks))
        hit = next((i for i in range(at, len(actual)) if actual_shapes[i] == shape), None)
        if hit is None:
            lines.append(line)
            left.append(line)
        else:
            lines.append(actual[hit])
            at = hit + 1
    return "\n".join(lines) + "\n", left


def rewrite(file: str, replacements: dict[str, str]) -> None:
    """Write the new text of the quotes named (by name) into ``file``."""
    quotes = quotes_in(file)
    text = (ROOT / file).read_text()
    for q in sorted((quotes[n] for n in replacements), key=lambda q: q.start, reverse=True):
        text = text[: q.start] + replacements[q.name] + text[q.end :]
    (ROOT / file).write_text(text)


def all_quotes() -> dict[str, Quote]:
    files = {s.file for scene in SCENES for s in scene.steps}
    found: dict[str, Quote] = {}
    for f in sorted(files | {README} | {str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")}):
        for name, q in quotes_in(f).items():
            if name in found:
                raise SystemExit(f"the quote {name} is marked in {found[name].file} and in {f}")
            found[name] = q
    return found


def check_scene(scene: Scene, update: bool = False) -> list[str]:
    """Run ``scene`` and compare its quotes; returns one report per quote that differs (after ``update``,
    per quote that could not be rewritten)."""
    quotes = all_quotes()
    for step in scene.steps:
        if step.quote is not None and step.quote not in quotes:
            return [f"{step.file}: no <!-- quote: {step.quote} --> mark"]
        if step.quote is not None and quotes[step.quote].file != step.file:
            return [f"the quote {step.quote} is in {quotes[step.quote].file}, not {step.file}"]
    outputs = run_scene(scene, quotes)
    problems: list[str] = []
    changes: dict[str, dict[str, str]] = {}
    for step in scene.steps:
        if step.quote is None:
            continue
        q = quotes[step.quote]
        output = outputs.get(step.quote)
        if output is None:
            problems.append(f"{q.file}: {q.name}: the scene stopped before this step")
            continue
        ok, why = compare(step, q, output)
        if ok:
            continue
        if update:
            new, left = updated(step, q, output)
            changes.setdefault(q.file, {})[q.name] = new
            if left:
                problems.append(f"{q.file}: {q.name}: rewrite by hand (no output line of that shape): {left[0]}")
            elif not compare(step, Quote(q.name, q.file, q.start, q.end, new, q.inline), output)[0]:
                problems.append(
                    f"{q.file}: {q.name}: rewritten, but lines were added or removed between the quoted ones: "
                    f"add them or a '...' line by hand\n--- printed:\n{output}"
                )
            continue
        problems.append(f"{q.file}: {q.name} differs from what its commands print:\n{why}\n--- printed:\n{output}")
    for f, replacements in changes.items():
        rewrite(f, replacements)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenes", nargs="*", help="scenes to run (default: all)")
    parser.add_argument("--update", action="store_true", help="rewrite the quotes that differ")
    parser.add_argument("--list", action="store_true", help="list the scenes and their quotes")
    args = parser.parse_args(argv)
    by_name = {s.name: s for s in SCENES}
    if args.list:
        for s in SCENES:
            print(f"{s.name}: " + ", ".join(st.quote for st in s.steps if st.quote))
        return 0
    unknown = [n for n in args.scenes if n not in by_name]
    if unknown:
        parser.error(f"no scene {unknown[0]}: choose from {', '.join(by_name)}")
    status = 0
    for name in args.scenes or list(by_name):
        started = time.perf_counter()
        problems = check_scene(by_name[name], update=args.update)
        print(f"{name}: {'ok' if not problems else f'{len(problems)} to fix'} ({time.perf_counter() - started:.0f} s)")
        for p in problems:
            print(p)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
