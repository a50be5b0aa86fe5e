"""Honest offline text (issue 76): the offline generator never invents sources, polls, percentages, statistics,
studies, years or quotes attributed to real organisations or people.

A new user found posts such as "Per Gallup (2023), about 38% of people agree." in the offline text: the
data-minded voice (then "data-driven, cites sources") made up a source, a year and a percentage for every text it
wrote, a hazard for anyone studying misinformation with Agora. Run on that generator, this scan caught all five
of its ``_DATA_LINES`` templates ("Per {src} ({year}), about {pct}% of people agree.", "According to {src}
({year}), ...", "For context: {pct}% in a {year} {src} survey ...", "The numbers back this up: {pct}% ({src},
{year}).", "Source: {src}, {year}; {pct}% of respondents agreed."), the nine organisations of ``_SOURCES``
(Pew Research, OECD, Eurostat, Our World in Data, Gallup, WHO, YouGov, World Bank, Ipsos), and every text of the
data-minded voice among the generated ones (860 of the 11,052). It reads every string the module holds, in its
pools and in its functions (found by walking the module, so a template added later is scanned too), and 10,000
generated posts, replies and reposts, interview answers and memory summaries, over personas drawn from every
occupation, hobby and style.
"""

from __future__ import annotations

import inspect
import re
import types
from collections.abc import Iterator

import numpy as np

from sim.core.persona import STYLES, Persona, draw_codes, persona_text
from sim.core.topics import TOPICS
from sim.llm import offline

_ORGANISATIONS = (
    "Gallup|Pew|OECD|Eurostat|Our World in Data|WHO|CDC|NIH|FDA|EPA|NHS|YouGov|Ipsos|Nielsen|Statista|World Bank|IMF|"
    "UNICEF|UNESCO|UN|EU|NASA|Reuters|AP|Associated Press|BBC|CNN|Fox News|New York Times|NYT|Washington Post|"
    "Guardian|Bloomberg|Forbes|Harvard|Stanford|MIT|Oxford|Cambridge|Yale|Princeton|Berkeley|Brookings|RAND|"
    "McKinsey|Lancet|Census Bureau"
)

#: What a claim of evidence the generator cannot have looks like (the texts are English, the data is the world's).
PATTERNS = {
    "a percentage": re.compile(r"[\d}]\s*%|\bper ?cent(age)?\b", re.I),
    "a year": re.compile(r"\(\s*(19|20)\d\d\s*\)|\b(19|20)\d\d\b"),
    "a poll, survey, study or report": re.compile(
        r"\b(polls?|polled|polling|surveys?|surveyed|study|studies|report|reports|reported|respondents|researchers|"
        r"scientists|experts|statistics?|statistically|census|meta-analysis|peer-reviewed)\b",
        re.I,
    ),
    "a citation": re.compile(
        r"\baccording to\b|(^|[.;!?(]\s*)sources?:|\bdata (show|shows|suggest|suggests|prove)\b|"
        r"\bresearch (finds|found|shows|showed|suggests|proves)\b|\bevidence (shows|proves)\b|\bnumbers back\b",
        re.I,
    ),
    "per <Name>": re.compile(r"\b[Pp]er [A-Z{]"),
    # A template's field for a made-up figure or source ("{pct}%", "({year})", "{src}").
    "a field for evidence": re.compile(r"\{(src|source|org|year|pct|percent|stat|study|poll|figure)\w*\}", re.I),
    "a named organisation": re.compile(rf"\b({_ORGANISATIONS})\b|\bNature (journal|reported|found|published)\b"),
    "a number presented as a fact": re.compile(
        r"\b\d[\d,.]*\s*(million|billion|thousand|people|adults|americans|voters|users|times|fold)\b|"
        r"\b(\d+|one|two|three|four|five|six|seven|eight|nine) (in|out of) (\d+|ten|five|four|three)\b|"
        r"\b(majority|half|most|two thirds|a third) of (people|americans|voters|adults|respondents|experts)\b",
        re.I,
    ),
    "a quote attributed to someone": re.compile(
        r"\b(?!(That|This|Well|Enough|It|Who|What|Everyone|Someone|Nobody|Anyone) )"
        r"[A-Z][a-z]+ (said|says|stated|states|claims|claimed|wrote|told|tweeted|admitted)\b|"
        r"[”\"]\s*[—–-]+\s*[A-Z]|\b(Dr|Prof|Professor)\.? [A-Z]"
    ),
}


def findings(text: str) -> list[str]:
    """The names of the patterns that ``text`` matches."""
    return [name for name, rx in PATTERNS.items() if rx.search(text)]


def _strings(value: object) -> Iterator[str]:
    """The strings in a value: itself, or those in a (nested) tuple, list, set or dict."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (tuple, list, set, frozenset)):
        for item in value:
            yield from _strings(item)


def _code_strings(code: types.CodeType, doc: str | None) -> Iterator[str]:
    """The string constants of a function's code (its nested functions' too), not its docstring."""
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_strings(const, None)
        elif const is not doc:
            yield from _strings(const)


def _templates() -> set[str]:
    """Every string of the module: its constants (pools of tuples, lists and dicts) and those in its functions."""
    out: set[str] = set()
    for name, value in vars(offline).items():
        if name.startswith("__"):
            continue
        if inspect.isfunction(value) and value.__module__ == offline.__name__:
            out.update(_code_strings(value.__code__, value.__doc__))
        elif inspect.isclass(value) and value.__module__ == offline.__name__:
            for member in vars(value).values():
                func = getattr(member, "__func__", member)
                if isinstance(func, types.FunctionType):
                    out.update(_code_strings(func.__code__, func.__doc__))
        elif not inspect.ismodule(value) and not callable(value):
            out.update(_strings(value))
    return out


def _personas(n: int, seed: int = 76) -> list[Persona]:
    """``n`` personas as worlds draw them (every occupation, hobby and style shows up), and each style once more."""
    codes, styles = draw_codes(n, np.random.default_rng(seed))
    drawn = [persona_text(codes[i], int(styles[i])) for i in range(n)]
    return drawn + [Persona(f"Style {i}", "Curious nurse who loves hiking.", s) for i, s in enumerate(STYLES)]


_MESSAGES = (
    "The old bridge on Elm street collapsed this morning",
    "A heat wave is expected this weekend, stay hydrated",
    "New bike lanes open downtown on Monday",
)
_ORIGINALS = (None, *_MESSAGES)
_QUESTIONS = (
    "What do you make of the news?",
    "Do you trust what you read about health?",
    "Why do you care about climate?",
    "How do you feel about the election?",
    "Is the economy getting better?",
    "What did you see in your feed today?",
    "Tell me about your work.",
    "Would you share a post about vaccines?",
)


def _posts(count: int) -> list[str]:
    """``count`` texts of :func:`offline.write_post` over many personas, topics, kinds, originals and seeds."""
    personas = _personas(400)
    rng = np.random.default_rng(2026)
    texts = []
    for i in range(count):
        persona = personas[i % len(personas)]
        topics = tuple(TOPICS[int(t)] for t in rng.choice(len(TOPICS), size=int(rng.integers(0, 3)), replace=False))
        kind = offline.KINDS[i % len(offline.KINDS)]
        original = _ORIGINALS[int(rng.integers(len(_ORIGINALS)))] if kind != "post" else None
        texts.append(
            offline.write_post(
                persona, topics, i, kind=kind, original=original, original_author=personas[(i + 1) % len(personas)].name
            )
        )
    return texts


def _answers(count: int) -> list[str]:
    personas = _personas(100, seed=7)
    return [
        offline.answer_interview(
            personas[i % len(personas)],
            _QUESTIONS[i % len(_QUESTIONS)],
            i,
            interests=[TOPICS[i % len(TOPICS)], "science"],
            seen=list(_MESSAGES[i % 3 :]),
            adopted=["Flu shots are free this week"] if i % 2 else [],
            recalled=[_MESSAGES[0]] if i % 5 == 0 else [],
        )
        for i in range(count)
    ]


def _summaries() -> list[str]:
    kinds = ("seen", "adopted", "reposted", "wrote_post", "asked", "answered", "followed")
    events = [
        {"tick": t, "kind": k, "other_name": "Ada Park", "text": _MESSAGES[t % 3]} for t, k in enumerate(kinds * 3)
    ]
    return [offline.condense_memory(p, "I am new here.", events[i % 7 :]) for i, p in enumerate(_personas(40))]


def test_the_scan_catches_what_the_generator_used_to_write() -> None:
    for bad in (
        "Per Gallup (2023), about 38% of people agree.",
        "According to Pew Research (2019), roughly 51% of people feel the same way.",
        "For context: 44% in a 2021 YouGov survey said much the same.",
        "The numbers back this up: 61% (Eurostat, 2016).",
        "Source: OECD, 2018; 67% of respondents agreed.",
        "A new study from Stanford shows it works.",
        "Statistics show nine in ten people agree.",
        "Per the WHO, it is safe.",
        "Research finds 3 million users quit.",
        'Dr. Osei told reporters: "it works".',
        "Smith said it was over.",
        "Per {src} ({year}), about {pct}% of people agree.",
        "“We knew all along” — Maria Lopez",
    ):
        assert findings(bad), bad
    for fine in (
        "Show me the data and I'll update my view.",
        "Source? “Heat wave this weekend”",
        "Hot take on open source: patience.",
        "That said, I could be wrong.",
        "Well said.",
        "By tick 12 I saw 3 posts",
    ):
        assert findings(fine) == [], fine


def test_no_template_claims_evidence() -> None:
    templates = _templates()
    assert len(templates) > 300 and "Show me the data and I'll update my view." in templates  # the pools were found
    assert "Mostly I feel {f}." in templates  # and the templates inside functions
    bad = {t: findings(t) for t in templates if findings(t)}
    assert bad == {}


def test_ten_thousand_generated_texts_claim_no_evidence() -> None:
    """10,000 posts, replies and reposts, 1,000 interview answers and 40 memory summaries (about 3 s here)."""
    texts = _posts(10_000) + _answers(1_000) + _summaries()
    bad = [(text, findings(text)) for text in texts if findings(text)]
    assert bad == []
    # The voices still vary: few texts repeat, and every style's touch shows.
    assert len(set(texts)) > 0.9 * len(texts)
    data_lines = [t for t in texts if any(line in t for line in offline._DATA_LINES)]
    assert len(data_lines) > 300 and all(line in " ".join(data_lines) for line in offline._DATA_LINES)


def test_the_same_seed_writes_the_same_text() -> None:
    assert _posts(300) == _posts(300) and _answers(100) == _answers(100) and _summaries() == _summaries()


def test_the_data_minded_style_by_its_old_name_asks_for_evidence_too() -> None:
    old = Persona("Ada Park", "Meticulous data analyst who loves chess.", "data-driven, cites sources")
    new = Persona("Ada Park", "Meticulous data analyst who loves chess.", "data-minded, asks for evidence")
    for seed in range(50):
        text = offline.write_post(old, ("health",), seed)
        assert text == offline.write_post(new, ("health",), seed) and findings(text) == [], text
