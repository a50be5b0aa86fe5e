"""Honest offline text (issue 76): the offline generator never invents sources, polls, percentages, years or quotes
attributed to real organisations or people.

A new user found posts such as "Per Gallup (2023), about 38% of people agree." in the offline text: the
data-minded voice made up a source, a year and a percentage for every post it wrote, a hazard for anyone studying
misinformation with Agora. This scan caught all five of those templates (and the pool of nine organisations they
named); it reads every string the module's template pools hold (found by walking the module, so a template added
later is scanned too) and 10,000 generated posts, replies, reposts, interview answers and memory summaries.
"""

from __future__ import annotations

import re
from itertools import product

import pytest

from sim.core.persona import STYLES, Persona
from sim.llm import offline

#: What an invented citation looks like. Each pattern is a claim of evidence the generator cannot have.
PATTERNS = {
    "a percentage": re.compile(r"\d\s*%|\bper ?cent\b", re.I),
    "a year in parentheses or as a source": re.compile(r"\(\s*(19|20)\d\d\s*\)|\b(19|20)\d\d\b", re.I),
    "a poll, survey or study": re.compile(
        r"\b(poll|polls|survey|surveys|study|studies|respondents|researchers)\b", re.I
    ),
    "a citation": re.compile(
        r"\baccording to\b|\bper [A-Z]|\bsource:|\bdata show|\bstatistics show|\bresearch (finds|shows)", re.I
    ),
    "a named organisation": re.compile(
        r"\b(Gallup|Pew|OECD|Eurostat|Our World in Data|WHO|CDC|YouGov|Ipsos|World Bank|Reuters|Harvard|Stanford|"
        r"UN|NASA|BBC|CNN|Nature|Lancet|UNICEF|IMF)\b"
    ),
    "a quote attributed to someone": re.compile(
        r"\b[A-Z][a-z]+ (said|says|stated|told [a-z]+)[:,]? *[“\"]|\b(Dr|Prof|Professor)\.? [A-Z]|\bexperts (say|agree)"
    ),
    "a number of people": re.compile(r"\b\d+ (of|in) \d+ (people|respondents|adults)\b", re.I),
}


def findings(text: str) -> list[str]:
    return [name for name, rx in PATTERNS.items() if rx.search(text)]


def _templates() -> list[str]:
    """Every template string of the module: its module-level tuples, lists and dicts of strings."""
    out: list[str] = []
    for name, value in vars(offline).items():
        if name.startswith("__") or name in ("__all__",):
            continue
        items = value.values() if isinstance(value, dict) else value if isinstance(value, (tuple, list)) else ()
        for item in items:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, (tuple, list)):
                out += [x for x in item if isinstance(x, str)]
    return out


def test_the_scan_catches_what_the_generator_used_to_write():
    for bad in (
        "Per Gallup (2023), about 38% of people agree.",
        "According to Pew Research (2019), roughly 51% of people feel the same way.",
        "For context: 44% in a 2021 YouGov survey said much the same.",
        "Source: OECD, 2018; 67% of respondents agreed.",
        'Dr. Osei told reporters: "it works".',
        "Smith said: “we knew”.",
    ):
        assert findings(bad), bad


def test_no_template_claims_evidence():
    templates = _templates()
    assert len(templates) > 200  # the pools were found
    bad = {t: findings(t) for t in templates if findings(t)}
    assert bad == {}


def _personas() -> list[Persona]:
    bios = ("curious nurse who loves hiking.", "blunt plumber who loves chess.", "gentle teacher who loves jazz.")
    return [Persona(f"Agent {i}", bios[i % 3], style) for i, style in enumerate(STYLES)]


@pytest.mark.parametrize("count", [10_000])
def test_ten_thousand_generated_texts_claim_no_evidence(count):
    personas = _personas()
    topics = (("health",), ("climate", "science"), ("ai",), ("sports",), ())
    originals = ("The old bridge on Elm street collapsed this morning", "A heat wave is expected this weekend", None)
    made = 0
    bad: list[tuple[str, list[str]]] = []
    for seed, (persona, topic, kind, original) in enumerate(product(personas, topics, offline.KINDS, originals)):
        if made >= count:
            break
        for s in range(seed * 7, seed * 7 + 7):
            text = offline.write_post(persona, topic, s, kind=kind, original=original, original_author="Ada Lovelace")
            made += 1
            if findings(text):
                bad.append((text, findings(text)))
    while made < count:
        persona = personas[made % len(personas)]
        text = offline.answer_interview(
            persona,
            "What do you make of the news?",
            made,
            interests=["health", "science"],
            seen=["A heat wave is expected this weekend"],
            adopted=["Flu shots are free this week"],
        )
        made += 1
        if findings(text):
            bad.append((text, findings(text)))
    assert made >= count and bad == []


def test_memory_summaries_claim_no_evidence():
    events = [
        {"tick": t, "kind": k, "message": 1, "other": -1, "other_name": None, "text": "A heat wave is expected"}
        for t, k in enumerate(("seen", "adopted", "wrote", "asked", "answered") * 4)
    ]
    for persona in _personas():
        summary = offline.condense_memory(persona, "", events)
        assert findings(summary) == [], summary
