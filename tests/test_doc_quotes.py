"""Every output README.md and docs/*.md quote is what its command prints today (docs/quotes/quotes.py runs
them; ``python docs/quotes/quotes.py --update`` rewrites a quote that drifted), and the checker itself
catches a changed quote, keeps to its masks, and ties each quote to the commands it names."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
from conftest import data_file

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("doc_quotes", ROOT / "docs" / "quotes" / "quotes.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["doc_quotes"] = module
    spec.loader.exec_module(module)
    return module


quotes = _load()
SCENES = {s.name: s for s in quotes.SCENES}


def test_every_marked_quote_is_in_a_scene_and_every_scene_step_names_a_mark():
    """A quote marked in the markdown with no command to rerun it, or a step whose mark was removed, fails."""
    marked = quotes.all_quotes()
    stepped = {st.quote: st.file for s in quotes.SCENES for st in s.steps if st.quote}
    assert set(marked) == set(stepped)
    assert all(marked[name].file == file for name, file in stepped.items())


def test_commands_come_from_the_page():
    """A step with no commands of its own runs the sh block above its quote: the lines the reader sees."""
    marked = quotes.all_quotes()
    step = next(st for st in SCENES["walkthrough"].steps if st.quote == "readme-ensemble")
    run = quotes.commands_of(step, marked)
    assert run.startswith('agora run $W/city.db --until-done --inject "Breaking news" --model sir')
    assert run in (ROOT / "README.md").read_text()


def test_a_changed_number_fails_and_an_elision_or_mask_does_not():
    step = quotes.Step("q", "README.md", masks=(quotes.RUNS_IN,))
    printed = "head\nmean reached 53,442.9\n20 runs in 3.1 s\ntail\n"

    def q(text):
        return quotes.Quote("q", "README.md", 0, 0, text, inline=False)

    assert quotes.compare(step, q("mean reached 53,442.9\n20 runs in 1.6 s\n"), printed)[0]
    assert quotes.compare(step, q("head\n...\ntail\n"), printed)[0]
    ok, why = quotes.compare(step, q("mean reached 53,442.8\n20 runs in 1.6 s\n"), printed)
    assert not ok and "53,442.8" in why
    # Only what a mask names may differ: the same time without the mask is a difference.
    assert not quotes.compare(quotes.Step("q", "README.md"), q("20 runs in 1.6 s\n"), printed)[0]
    # The quoted lines must be printed together, in order.
    assert not quotes.compare(step, q("head\ntail\n"), printed)[0]


def test_update_rewrites_numbers_and_keeps_masked_timings():
    step = quotes.Step("q", "README.md", masks=(quotes.RUNS_IN,))
    quote = quotes.Quote("q", "README.md", 0, 0, "mean reached 1.0\n...\n20 runs in 1.6 s\n", inline=False)
    new, left = quotes.updated(step, quote, "mean reached 2.5\nx\n20 runs in 9.9 s\n")
    assert (new, left) == ("mean reached 2.5\n...\n20 runs in 1.6 s\n", [])


def test_inline_quote_is_read_between_its_marks(tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text("We have <!-- quote: n -->46<!-- /quote --> models.\n<!-- quote: b -->\n```\nx 1\n```\n")
    monkeypatch.setattr(quotes, "ROOT", tmp_path)
    found = quotes.quotes_in("page.md")
    assert (found["n"].text, found["n"].inline) == ("46", True)
    assert (found["b"].text, found["b"].inline) == ("x 1\n", False)
    quotes.rewrite("page.md", {"n": "47", "b": "x 2\n"})
    assert page.read_text() == "We have <!-- quote: n -->47<!-- /quote --> models.\n<!-- quote: b -->\n```\nx 2\n```\n"


def test_the_readme_counts_the_registrys_models():
    """The README's model count is a quote of the registry's count (a fast scene's first step)."""
    from sim.model.registry import Registry

    count = len(Registry(entry_points=False, env=False).list("model"))
    assert re.search(rf"<!-- quote: readme-model-count -->{count}<!-- /quote -->", (ROOT / "README.md").read_text())


#: The scenes that take half a minute to four minutes (a city of 100,000 agents, the terminal UI's screenshot, the
#: README's walkthrough): slow, run by ``make test`` from files of their own (tests/test_doc_scene_*.py) so that the
#: test processes share them out. The others, a few seconds each, run here in ``make test-fast`` too, and check
#: the same way that a quote is what its commands print.
LONG_SCENES = {"walkthrough", "screenshot", "populations", "memory", "results", "fit-report"}


def check_scene(scene: str) -> None:
    """Rerun the scene's commands (a few seconds to a few minutes) and compare every quote."""
    data_file("email-Eu-core.txt")
    data_file("musae_facebook_edges.csv")
    problems = quotes.check_scene(SCENES[scene])
    assert not problems, "\n\n".join(problems) + "\n(python docs/quotes/quotes.py --update rewrites them)"


@pytest.mark.subprocess
@pytest.mark.parametrize("scene", [s.name for s in quotes.SCENES if s.name not in LONG_SCENES])
def test_quotes_match_what_their_commands_print(scene):
    """Reruns the scene's commands (a few seconds each) and compares every quote."""
    check_scene(scene)


def test_every_scene_is_checked_by_one_test_file():
    """The long scenes are shared out between the files tests/test_doc_scene_*.py; each is in exactly one."""
    import test_doc_scene_screenshot
    import test_doc_scene_walkthrough

    long = [*test_doc_scene_screenshot.SCENES_HERE, *test_doc_scene_walkthrough.SCENES_HERE]
    assert sorted(long) == sorted(LONG_SCENES) and set(SCENES) >= LONG_SCENES
