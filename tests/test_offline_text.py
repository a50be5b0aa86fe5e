"""The offline generator: deterministic, persona-, style- and topic-aware, and safe with foreign text.

Every text here comes from ``sim.llm.offline`` (no model, no network). Originals, seen messages and
questions are treated as hostile data: the output must stay one bounded line whatever they contain.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest

from sim.core.persona import HOBBIES, OCCUPATIONS, STYLES, Persona
from sim.core.topics import TOPICS
from sim.llm import offline
from sim.llm.offline import MAX_CHARS, SHORT_CHARS, answer_interview, seed_for, write_post

ROOT = Path(__file__).resolve().parents[1]
SEEDS = range(30)
KINDS = ("post", "repost", "reply")
ORIGINAL = "We should all plant more trees in the city, honestly it would help everyone"
HOSTILE = (
    "[bold]x[/bold] [link=https://evil.example]click[/link]",
    "\x1b[31mred\x1b[0m alert\x07 and \x00 nul",
    "line one\nline two\r\nline three\u2028four\u2029five\tsix",
    "\u202eevil bidi\u202c and \ufeffbom",
    "A" * 10_000,
    "word " * 2_000 + "\n" * 5_000,
    "\n\n\n\x1b\x1b",
    "{topic} {q} {0} %s {{}}",
)
QUESTIONS = (
    "What do you think about remote work policies?",
    "Do you trust the news you see online?",
    "Why do you care about the housing market?",
    "How do you feel about your job these days?",
    "What have you seen in your feed lately?",
    "Tell me about yourself.",
)


def persona(style: str = "plain", bio: str = "Curious nurse who loves chess.", name: str = "Ada Chen"):
    return Persona(name=name, bio=bio, style=style)


def all_texts(style: str, seeds=SEEDS) -> list[str]:
    """Posts, reposts, replies and interview answers of one style."""
    p = persona(style)
    out = []
    for s in seeds:
        out.append(write_post(p, ["climate"], s))
        out.append(write_post(p, [], s))
        out.append(write_post(p, ["ai"], s, kind="repost", original=ORIGINAL, original_author="Bob Lee"))
        out.append(write_post(p, [], s, kind="reply", original=ORIGINAL))
        out.append(answer_interview(p, QUESTIONS[s % len(QUESTIONS)], s, interests=["space"], seen=[ORIGINAL]))
    return out


def one_line(text: str) -> bool:
    return not any(unicodedata.category(c) == "Cc" or c in "\u2028\u2029\u202e\ufeff" for c in text)


def quoted(text: str) -> list[str]:
    return re.findall(r"“(.*?)”", text)


# --- Determinism and variety -------------------------------------------------------------------------


def test_same_arguments_same_text():
    p = persona("sarcastic")
    for s in SEEDS:
        assert write_post(p, ["climate", "energy"], s) == write_post(p, ["climate", "energy"], s)
        assert write_post(p, [], s, kind="reply", original=ORIGINAL, original_author="Bob") == write_post(
            p, [], s, kind="reply", original=ORIGINAL, original_author="Bob"
        )
        assert answer_interview(p, QUESTIONS[0], s, seen=[ORIGINAL]) == answer_interview(
            p, QUESTIONS[0], s, seen=[ORIGINAL]
        )


def test_same_text_in_another_process():
    code = (
        "import json\n"
        "from sim.llm.offline import answer_interview, seed_for, write_post\n"
        "from sim.core.persona import Persona\n"
        "p = Persona('Ada Chen', 'Curious nurse who loves chess.', 'poetic')\n"
        "out = [write_post(p, ['local-news'], s) for s in range(5)]\n"
        "out += [write_post(p, [], s, kind='reply', original='hello there', original_author='Bob')\n"
        "        for s in range(5)]\n"
        "out += [answer_interview(p, 'Do you like AI?', s, interests=['ai']) for s in range(5)]\n"
        "out.append(seed_for(1, 'a', 2))\n"
        "print(json.dumps(out))\n"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    p = Persona("Ada Chen", "Curious nurse who loves chess.", "poetic")
    here = [write_post(p, ["local-news"], s) for s in range(5)]
    here += [write_post(p, [], s, kind="reply", original="hello there", original_author="Bob") for s in range(5)]
    here += [answer_interview(p, "Do you like AI?", s, interests=["ai"]) for s in range(5)]
    here.append(seed_for(1, "a", 2))
    assert json.loads(result.stdout) == here


def test_seed_for():
    value = seed_for(1, "a", 2)
    assert value == seed_for(1, "a", 2)
    assert 0 <= value < 2**64
    distinct = {seed_for(1, "a"), seed_for("1", "a"), seed_for("1a"), seed_for(1), seed_for("a", 1), seed_for()}
    assert len(distinct) == 6


@pytest.mark.parametrize("kind", KINDS)
def test_different_seeds_vary(kind):
    p = persona()
    texts = {write_post(p, ["politics"], s, kind=kind, original=ORIGINAL) for s in range(50)}
    assert len(texts) >= 20


def test_interview_varies():
    p = persona()
    assert len({answer_interview(p, QUESTIONS[0], s, interests=["ai"]) for s in range(50)}) >= 20


@pytest.mark.parametrize("style", STYLES)
def test_every_style_varies(style):
    p = persona(style)
    assert len({write_post(p, ["politics"], s) for s in range(50)}) >= 8
    assert len({write_post(p, [], s, kind="reply", original=ORIGINAL) for s in range(50)}) >= 8


# --- Styles ------------------------------------------------------------------------------------------


def test_lowercase_style():
    for text in all_texts("all lowercase, casual"):
        assert text == text.lower()


def test_enthusiastic_style():
    for text in all_texts("enthusiastic!!!"):
        assert text.endswith("!!!") or "!!" in text


def test_warm_style_has_emoji():
    for text in all_texts("warm, with emojis"):
        assert any(unicodedata.category(c) == "So" and ord(c) >= 0x2600 for c in text), text


def test_questions_style():
    for text in all_texts("asks lots of questions"):
        assert "?" in text


def test_short_style_is_short():
    p = persona("short and punchy")
    texts = all_texts("short and punchy")
    for s in SEEDS:
        for original in HOSTILE:
            texts.append(write_post(p, ["world-news"], s, kind="repost", original=original, original_author="X" * 500))
            texts.append(write_post(p, [], s, kind="reply", original=original, original_author=original))
    for text in texts:
        assert 0 < len(text) <= SHORT_CHARS, text


def test_formal_style_has_no_contractions_or_slang():
    p = persona("formal")
    for s in SEEDS:
        for text in (
            write_post(p, ["ai"], s),
            write_post(p, [], s),
            write_post(p, [], s, kind="reply"),
            write_post(p, [], s, kind="repost"),
            answer_interview(p, QUESTIONS[s % len(QUESTIONS)], s, interests=["space"]),
        ):
            assert "'" not in text and "’" not in text, text
            assert not re.search(r"\b(lol|tbh|ngl|gonna|wanna|kinda|omg|idk|haha|hmm)\b", text.lower()), text


def test_data_style_asks_for_evidence_and_invents_none():
    # It used to cite a made-up source, year and percentage in every text (tests/test_offline_honest.py).
    lines = offline._DATA_LINES
    for text in all_texts("data-minded, asks for evidence"):
        assert any(line.rstrip(".?")[:30].lower() in text.lower() for line in lines), text
        assert not re.search(r"\d+%|\b20\d\d\b", text), text


MARKERS = {
    "sarcastic": (
        "oh, fantastic",
        "what a shock",
        "oh great",
        "shocking, i know",
        "what could possibly go wrong",
        "truly groundbreaking",
        "who could have guessed",
        "always works out so well",
        "colour me amazed",
    ),
    "dry humour": (
        "riveting stuff",
        "contain my excitement",
        "a time to be alive",
        "mark your calendars",
        "thrilling, as always",
        "hold the front page",
    ),
    "blunt": ("bottom line:", "plainly:", "straight up:", "no sugarcoating:"),
    "poetic": (
        "light moving on water",
        "we turn with it",
        "like leaves",
        "a small poem",
        "its own slow season",
        "softly, now",
        "hush of the evening",
        "like a tide",
    ),
    "long-winded and careful": (
        "to be fair",
        "put this carefully",
        "bear with me",
        "i could be wrong",
        "nuances",
        "reasonable people can disagree",
    ),
}


@pytest.mark.parametrize("style", sorted(MARKERS))
def test_recognisable_touches(style):
    plain = all_texts("no such style")
    styled = all_texts(style)
    for text, base in zip(styled, plain):
        assert text != base
        assert any(m in text.lower() for m in MARKERS[style]), text


def test_long_winded_is_longer():
    plain = all_texts("plain")
    long = all_texts("long-winded and careful")
    assert sum(map(len, long)) > 1.5 * sum(map(len, plain))


def test_unknown_style_is_plain():
    for a, b in zip(all_texts("plain"), all_texts("some style nobody defined")):
        assert a == b and a


# --- Topics and persona ------------------------------------------------------------------------------


def test_post_mentions_its_topic():
    for style in STYLES + ("plain",):
        p = persona(style)
        for topic in TOPICS:
            for s in range(3):
                text = write_post(p, [topic], s)
                assert topic.replace("-", " ") in text.lower(), (style, topic, text)
                assert 0 < len(text) <= MAX_CHARS and one_line(text)


def test_first_of_several_topics_is_mentioned():
    p = persona()
    for s in SEEDS:
        assert "local news" in write_post(p, ["local-news", "climate", "ai", "war"], s).lower()


def test_post_without_topics_is_about_hobby_or_work():
    for occupation, hobby in zip(OCCUPATIONS, HOBBIES):
        for style in STYLES:
            p = persona(style, bio=f"Witty {occupation} who loves {hobby}.")
            for s in range(4):
                text = write_post(p, [], s).lower()
                assert occupation in text or hobby in text, text


@pytest.mark.parametrize("kind", KINDS)
def test_every_topic_and_style_gives_text(kind):
    for style in STYLES:
        p = persona(style)
        for i, topic in enumerate(TOPICS):
            for s in (i, i + 100):
                text = write_post(p, [topic], s, kind=kind, original=None if kind == "post" else ORIGINAL)
                assert 0 < len(text) <= MAX_CHARS and one_line(text) and text.strip() == text


def test_unparseable_persona_still_writes():
    odd = (
        persona(bio="", name=""),
        persona(bio="Just here for the memes", name="x" * 5000),
        persona(bio="Tall\nperson\x1b[31m who loves " + "y" * 5000 + ".", style="poetic"),
    )
    for p in odd:
        for s in range(5):
            for text in (
                write_post(p, [], s),
                write_post(p, ["ai"], s, kind="reply", original=ORIGINAL),
                answer_interview(p, QUESTIONS[s], s),
            ):
                assert 0 < len(text) <= MAX_CHARS and one_line(text)


def test_unknown_kind_raises():
    with pytest.raises(ValueError, match="kind"):
        write_post(persona(), ["ai"], 1, kind="tweet")


# --- Reposts and replies -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ("repost", "reply"))
def test_quotes_the_original(kind):
    for style in STYLES + ("plain",):
        p = persona(style)
        for s in SEEDS:
            text = write_post(p, ["climate"], s, kind=kind, original=ORIGINAL, original_author="Bob Lee")
            pieces = quoted(text)
            assert pieces, text
            piece = pieces[0]
            assert len(piece) <= 60
            assert ORIGINAL.lower().startswith(piece.rstrip("…").lower())
            if len(piece) < len(ORIGINAL):
                assert piece.endswith("…")


def test_reply_addresses_the_author():
    text = write_post(persona(), [], 3, kind="reply", original=ORIGINAL, original_author="Bob Lee")
    assert text.startswith("@BobLee ")


@pytest.mark.parametrize("kind", ("repost", "reply"))
def test_hostile_originals_stay_one_bounded_line(kind):
    for style in STYLES + ("plain",):
        p = persona(style)
        for original in HOSTILE:
            for s in range(8):
                text = write_post(p, ["ai"], s, kind=kind, original=original, original_author=original)
                assert 0 < len(text) <= MAX_CHARS, text
                assert one_line(text) and "\n" not in text and "\x1b" not in text, repr(text)
                for piece in quoted(text):
                    assert len(piece) <= 60


def test_long_original_is_cut_with_an_ellipsis():
    text = write_post(persona(), [], 1, kind="repost", original="A" * 10_000)
    assert quoted(text) == ["A" * 59 + "…"]


def test_markup_is_quoted_literally():
    text = write_post(persona(), [], 2, kind="repost", original="[bold]x[/bold] {q} {topic}")
    assert quoted(text) == ["[bold]x[/bold] {q} {topic}"]


def test_missing_original_still_writes():
    for kind in ("repost", "reply"):
        for original in (None, "", "\n\x1b\n"):
            text = write_post(persona(), ["ai"], 4, kind=kind, original=original)
            assert text and "“" not in text


# --- Interviews --------------------------------------------------------------------------------------


def sentences(text: str) -> int:
    return len(re.findall(r"[.!?]+(?=\s|$)", text))


def test_interview_says_who_they_are_and_picks_up_the_question():
    words = {
        QUESTIONS[0]: ("remote", "work", "policies"),
        QUESTIONS[1]: ("trust", "online"),
        QUESTIONS[2]: ("housing", "market"),
        QUESTIONS[3]: ("job",),
    }
    for style in STYLES + ("plain",):
        p = persona(style, bio="Cheerful baker who loves jazz.")
        for question, keywords in words.items():
            for s in range(10):
                text = answer_interview(p, question, s).lower()
                assert "baker" in text or "jazz" in text, text
                assert any(k in text for k in keywords), (question, text)
                assert 1 <= sentences(text) <= 4, text
                assert len(text) <= (SHORT_CHARS if style == "short and punchy" else MAX_CHARS)


def test_interview_answers_yes_no_questions():
    for style in STYLES + ("plain",):
        p = persona(style)
        for question in (
            "Do you trust the news?",
            "Is AI good for jobs?",
            "Would you move abroad?",
            "Can cities fix housing?",
        ):
            for s in range(10):
                assert re.search(r"\b(yes|no)\b", answer_interview(p, question, s).lower())


def test_interview_refers_to_seen_and_shared_messages():
    p = persona()
    seen = ["Storm warning issued for the coast tonight", "New library opens downtown on Monday"]
    for s in SEEDS:
        text = answer_interview(p, QUESTIONS[4], s, seen=seen)
        assert any(piece in seen for piece in quoted(text)), text
        text = answer_interview(p, QUESTIONS[0], s, seen=seen, adopted=["Vote on Sunday"])
        assert any(piece in seen for piece in quoted(text)), text
        text = answer_interview(p, QUESTIONS[0], s, adopted=["Vote on Sunday"])
        assert "Vote on Sunday" in quoted(text), text


def test_interview_mentions_an_interest():
    p = persona()
    for s in SEEDS:
        text = answer_interview(p, "Tell me about yourself.", s, interests=["open-source", "space"])
        assert "open source" in text.lower() or "space" in text.lower(), text


def test_interview_with_nothing_seen_says_so():
    text = answer_interview(persona(), "What have you seen in the news?", 1)
    assert text and "“" not in text


def test_interview_hostile_inputs():
    for style in STYLES:
        p = persona(style)
        for bad in HOSTILE:
            for s in range(4):
                text = answer_interview(p, bad + "?", s, interests=[bad], seen=[bad] * 3, adopted=[bad])
                assert 0 < len(text) <= MAX_CHARS and one_line(text), repr(text)
                assert all(len(piece) <= 60 for piece in quoted(text))


# --- Speed -------------------------------------------------------------------------------------------


def test_fast():
    p = persona("long-winded and careful")
    # CPU time of this thread, not wall time: other processes on a loaded machine do not count against it.
    start = time.thread_time()
    n = 0
    for s in range(500):
        write_post(p, ["climate", "ai"], s)
        write_post(p, [], s, kind="reply", original=HOSTILE[s % len(HOSTILE)], original_author="Bob")
        answer_interview(p, QUESTIONS[s % len(QUESTIONS)], s, interests=["ai"], seen=[ORIGINAL])
        n += 3
    assert (time.thread_time() - start) / n < 1e-3
