"""The offline generator: persona- and topic-aware text from templates, with no model at all.

It is the default whenever no API key is configured (and when the offline mode is forced), and the
fallback whenever a request to a model fails, so a simulation always has text to show. Three things
are written here:

- :func:`write_post` — an original post about some topics, a short comment on a repost, or a reply;
- :func:`answer_interview` — an agent's answer to an interviewer's question;
- :func:`seed_for` — a stable seed from a few parts (world seed, agent, tick, ...).

Text is a pure function of the arguments: the same arguments give the same text in any process, and
nothing here keeps state between calls. The persona shows through: the bio's occupation and hobby
(``"{trait} {occupation} who loves {hobby}."``) and a visible touch of the writing style (all
lowercase, emojis, "!!!", a call for evidence, questions, hedging, ...); an unknown style is written plainly.

It never claims evidence it does not have: no source, poll, survey, study, percentage, year, statistic or quote
attributed to an organisation or a person is invented (offline posts are data to people who study
misinformation; tests/test_offline_honest.py scans every template and thousands of texts).

Originals, seen messages and questions are other agents' or users' data. They are only ever treated
as plain strings: quoted in short pieces (at most ``QUOTE_CHARS``, cut with "…"), with newlines and
control characters turned into spaces. Every result is one line of at most ``MAX_CHARS`` characters
(``SHORT_CHARS`` for the "short and punchy" style) and never empty.
"""

from __future__ import annotations

import hashlib
import operator
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sim.core.persona import STYLES, Persona
from sim.core.topics import TOPICS

__all__ = [
    "KINDS",
    "MAX_CHARS",
    "QUOTE_CHARS",
    "SHORT_CHARS",
    "answer_interview",
    "condense_memory",
    "seed_for",
    "write_post",
]

#: The kinds of text :func:`write_post` writes.
KINDS = ("post", "repost", "reply")
#: The longest text either function returns.
MAX_CHARS = 400
#: The longest text in the "short and punchy" style.
SHORT_CHARS = 100
#: The longest piece of another text that is quoted.
QUOTE_CHARS = 60

_SHORT_QUOTE = 40  # quotes in the "short and punchy" style
_NAME_CHARS = 40  # names, occupations and hobbies from (possibly user-set) persona text
_TOPIC_CHARS = 30
_KEYWORD_CHARS = 24
_SCAN_CHARS = 1000  # how much of a (possibly huge) foreign text is looked at

# Control characters (C0, C1), line/paragraph separators, bidi controls, BOM, lone surrogates and any
# whitespace: each run becomes one space.
_UNSAFE = re.compile(
    "[\\x00-\\x1f\\x7f-\\x9f\\u200b\\u200e\\u200f\\u2028-\\u202e\\u2060-\\u2064\\u2066-\\u206f"
    "\\ufeff\\ud800-\\udfff\\s]+"
)
_BIO = re.compile(r"^(\S+)\s+(.+?)\s+who loves\s+(.+?)\s*\.?$")
_WORD = re.compile(r"[^\W\d_][\w-]*")
_TOPIC_IN_TEXT = re.compile(
    r"\b(" + "|".join(sorted((re.escape(t).replace("\\-", "[- ]") for t in TOPICS), key=len, reverse=True)) + r")\b"
)
_CONTRACTION = re.compile(r"\b[A-Za-z]+(?:n't|'m|'re|'ve|'ll|'d|'s)\b")
_SPECIAL_CONTRACTIONS = {"can't": "cannot", "won't": "will not", "let's": "let us", "i'm": "I am"}
_SUFFIXES = (
    ("n't", " not"),
    ("'m", " am"),
    ("'re", " are"),
    ("'ve", " have"),
    ("'ll", " will"),
    ("'d", " would"),
    ("'s", " is"),
)
_FORMAL_PHRASES = (
    ("Hot take on", "A considered view on"),
    ("Hot take:", "A considered view:"),
    ("Quick thought on", "A brief observation on"),
    ("Zero regrets.", "No regrets."),
    ("Love this.", "Well said."),
    ("Hmm, ", ""),
    ("Honestly, yes", "Yes"),
    ("Honestly, as", "As"),
    ("Honestly, ", "Frankly, "),
    (", honestly", ""),
)
_TOPIC_DISPLAY = {"ai": "AI", "diy": "DIY"}

# The personas' styles (sim.core.persona.STYLES), each of which the offline writer renders its own way.
_SHORT, _LONG, _SARCASTIC, _WARM, _FORMAL, _LOWER, _DATA, _EXCITED, _DRY, _ASKS, _BLUNT, _POETIC = STYLES
# Styles by an older name (older world files keep it in persona_words): the data-minded voice was "data-driven, cites
# sources" and made up a citation in every text; it now asks for evidence instead.
_STYLE_ALIASES = {"data-driven, cites sources": _DATA}

# --- Pools -------------------------------------------------------------------------------------------

_TAKES = (
    "we need fewer slogans and more patience.",
    "the loudest voices are rarely the best informed.",
    "the small details matter more than the headlines.",
    "it's changing faster than most of us notice.",
    "we'd all do better with more curiosity and less anger.",
    "nobody has it all figured out, and that's fine.",
    "the people closest to it usually know the most.",
    "it's worth reading past the first paragraph for once.",
    "there's more common ground here than the comments suggest.",
)
_REACTIONS = (
    "Still processing it.",
    "Learned more than I expected.",
    "Mixed feelings, honestly.",
    "Worth a closer look.",
    "It changed my mind a little.",
    "More questions than answers so far.",
    "Glad I took the time.",
    "Not what I expected at all.",
)
_POST_TOPIC = (
    "Can't stop thinking about {topic} today. {Take}",
    "Hot take on {topic}: {take}",
    "As {a_occ}, I see {topic} a little differently than most. {Take}",
    "Spent the evening reading about {topic}. {reaction}",
    "Quick thought on {topic}: {take}",
    "Is anyone else following {topic} this week? {reaction}",
    "Between work and {hobby}, {topic} is somehow all I talk about lately.",
    "Unpopular opinion: {topic} deserves more attention than it gets. {Take}",
    "The conversation about {topic} today reminded me why I care. {reaction}",
    "Nobody talks enough about {topic}, least of all from the point of view of {a_occ}.",
)
_POST_FREE = (
    "Nothing beats {hobby} after a long week.",
    "Long day as {a_occ}. {reaction}",
    "Another weekend, another round of {hobby}. Zero regrets.",
    "If you've never tried {hobby}, this is your sign.",
    "Being {a_occ} teaches you patience in ways nobody warns you about.",
    "Spent the morning on {hobby} and finally feel human again.",
    "Small win at work today. Being {a_occ} has its moments.",
    "Still trying to convince my friends that {hobby} is the best way to switch off.",
    "Reminder that {hobby} counts as self-care.",
    "The thing nobody tells you about being {a_occ}: the quiet days are the hardest.",
)
_SHORT_POST_TOPIC = (
    "{Topic} matters. Full stop.",
    "Hot take: {topic} is underrated.",
    "Thinking about {topic}. A lot.",
    "{Topic}? Overhyped. Mostly.",
    "More {topic}, less noise.",
    "{Topic} done right is rare.",
    "Today: {hobby}. Tomorrow: {topic}.",
    "Watch {topic} this week.",
    "{Topic}. Pay attention.",
)
_SHORT_POST_FREE = (
    "{Hobby} beats everything.",
    "Long shift as {a_occ}. Worth it.",
    "{Hobby} time. Phone off.",
    "Work, {hobby}, sleep. Repeat.",
    "Best part of the week: {hobby}.",
    "Being {a_occ} is not for the faint-hearted.",
    "Tired. Happy. {Hobby} helps.",
    "New week. Same {hobby}.",
)
_REPOST = (
    "Worth a read: “{q}”",
    "This, exactly: “{q}”",
    "Sharing because it deserves more eyes: “{q}”",
    "Saving this one. “{q}”",
    "Everyone should see this: “{q}”",
    "As {a_occ}, I can confirm: “{q}”",
    "Couldn't have said it better. “{q}”",
    "Not sure I fully agree, but worth sharing: “{q}”",
    "Passing this along. “{q}” {reaction}",
    "Read this twice. “{q}” {reaction}",
    "Bookmarking this: “{q}” The gist: {take}",
    "Sharing for everyone who keeps asking me about it. “{q}”",
    "Between work and {hobby} I almost missed this: “{q}”",
)
_REPOST_TOPIC = ("Good read on {topic}: “{q}”", "For anyone following {topic}: “{q}”")
_REPOST_AUTHOR = ("{author} gets it: “{q}”", "Via {author}: “{q}”")
_REPOST_BARE = (
    "Sharing this one.",
    "Worth a read.",
    "Passing this along.",
    "This deserves more eyes.",
    "Saving this for later.",
    "Everyone should see this.",
    "Couldn't have said it better.",
    "Not sure I fully agree, but worth sharing.",
)
_REPLY = (
    "Fair point about “{q}”, though as {a_occ} I see it a bit differently.",
    "Not sure I agree with “{q}”. {Take}",
    "“{q}” is exactly what I was thinking.",
    "Thanks for posting this. “{q}” is something more people should hear.",
    "Interesting. “{q}” made me stop and think.",
    "I keep coming back to “{q}”. {reaction}",
    "Respectfully, “{q}” leaves out a lot.",
    "“{q}”? From where I stand as {a_occ}, it's more complicated.",
    "Love this. “{q}” is spot on.",
    "Hmm, “{q}”. I'd need to see more before I'm convinced.",
)
_REPLY_BARE = (
    "Fair point, though as {a_occ} I see it a bit differently.",
    "Not sure I agree. {Take}",
    "Exactly what I was thinking.",
    "Thanks for posting this.",
    "Interesting, that made me stop and think.",
    "Respectfully, this leaves out a lot.",
    "Love this, spot on.",
    "Hmm, I'd need to see more before I'm convinced.",
)
_SHORT_REPOST = (
    "Yes. “{q}”",
    "Read this: “{q}”",
    "Spot on: “{q}”",
    "This. “{q}”",
    "Important: “{q}”",
    "Worth it: “{q}”",
    "Sharing: “{q}”",
    "Must read: “{q}”",
)
_SHORT_REPLY = (
    "Agreed: “{q}”",
    "Nope. “{q}”",
    "Exactly. “{q}”",
    "“{q}”? Disagree.",
    "Spot on: “{q}”",
    "Source? “{q}”",
    "Hard agree: “{q}”",
    "Not convinced: “{q}”",
)
_SHORT_REPOST_BARE = ("Sharing.", "Read this.", "Worth it.", "Important.", "Must read.", "This.")
_SHORT_BARE = ("Agreed.", "Nope.", "Exactly.", "Disagree.", "Spot on.", "Source?", "Hard agree.", "Not convinced.")

_INTROS = (
    "As {a_occ}, {kw}",
    "Speaking as {a_occ} who loves {hobby}, {kw}",
    "I'm {a_occ}, so {kw}",
    "Honestly, as someone who spends free time on {hobby}, {kw}",
    "From where I sit as {a_occ}, {kw}",
    "Between my work as {a_occ} and {hobby}, {kw}",
    "I'm {first}, {a_occ}, and {kw}",
)
_KEYWORD_LINES = (
    "I think about {kw} more than people would guess.",
    "{kw} is something I have real opinions on.",
    "I see {kw} from a slightly different angle.",
    "{kw} comes up in my day more than you might think.",
    "I keep coming back to {kw}.",
    "{kw} is closer to my everyday life than it looks.",
    "I have been chewing on {kw} for a while.",
    "I'd say {kw} is more nuanced than the headlines make it.",
)
_NO_KEYWORD_LINES = (
    "that's a question I've been asked before.",
    "I'll answer as honestly as I can.",
    "I have to think about that one.",
    "it's a fair thing to ask.",
)
_SHORT_INTROS = (
    "As {a_occ}, {kw} matters to me.",
    "{Kw}? As {a_occ}, I care.",
    "As {a_occ}: {kw} is complicated.",
    "{Kw} hits home for {a_occ}.",
)
_SHORT_NO_KEYWORD = ("As {a_occ}, fair question.", "Speaking as {a_occ}: it depends.", "Ask {a_occ}? It's complicated.")
_YES_NO = ("Yes", "Honestly, yes", "Yes, mostly", "No", "Not really, no", "Mostly no", "Yes and no")
_YES_NO_REASONS = (
    "It matches what I see day to day.",
    "That's what my experience tells me, anyway.",
    "I've gone back and forth, but that's where I land.",
    "Ask me again next year, though.",
)
_WHY = (
    "it touches people I care about",
    "I've seen what happens when nobody pays attention",
    "it keeps showing up in my work",
    "curiosity, honestly",
    "it affects everyday life more than it seems",
)
_FEELINGS = ("hopeful", "a bit uneasy", "cautiously optimistic", "tired but curious", "conflicted", "calm about it all")
_NEWS_EMPTY = (
    "My feed has been fairly quiet, honestly.",
    "Nothing in my feed really stood out lately.",
    "I haven't seen much worth mentioning recently.",
)
_SEEN = (
    "I saw a post saying “{q}” and it stuck with me.",
    "Something I read recently, “{q}”, keeps coming back to me.",
    "There was a post in my feed, “{q}”, that I still think about.",
)
_ADOPTED = ("I even shared one myself: “{q}”.", "I passed one along too: “{q}”.", "One I reposted: “{q}”.")
_RECALLED = (
    "I remember this one: “{q}”.",
    "It reminds me of something I saw back then: “{q}”.",
    "I still remember it: “{q}”.",
)
_INTEREST = (
    "Lately I've mostly been following {topic}.",
    "{Topic} is what I follow most these days.",
    "If you want my real passion, it's {topic}.",
)
_INTEREST_MATCH = ("It's one of the things I follow most, actually.", "It's honestly one of my main interests.")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_AUX = _words(
    "do does did are is was were will would can could should have has had am shall may might must "
    "don't doesn't didn't aren't isn't wasn't weren't won't wouldn't can't couldn't shouldn't"
)
_FEEL_WORDS = _words("feel feeling feelings mood happy sad angry worried afraid excited anxious")
_NEWS_WORDS = _words("news seen saw read feed timeline posts post heard lately recently trending")
_STOPWORDS = _words(
    "a about above after again against all also am an and any are as at be because been before being "
    "below between both but by can could did do does doing down during each few for from further had has "
    "have having he her here hers herself him himself his how i if in into is it its itself just me more "
    "most my myself no nor not now of off on once only or other our ours ourselves out over own same she "
    "should so some such than that the their theirs them themselves then there these they this those "
    "through to too under until up very was we were what when where which while who whom why will with "
    "would you your yours yourself yourselves think feel tell really thing things much many lot anything "
    "remember remembers recall recalls forget forgot "
    "something everything people person someone anyone like yes okay well get got make made say said "
    "know want way time today day days week lately recently news see sees seeing seen saw read heard "
    "look looked watch watched notice noticed"
)

# Style touches.
_LONG_OPENERS = (
    "To be fair, and I want to be careful here:",
    "Let me try to put this carefully:",
    "I have been turning this over for a while, so bear with me:",
)
_LONG_CLOSERS = (
    "That said, I could be wrong, and I'd genuinely welcome other perspectives.",
    "Of course, there are nuances I'm surely missing, so take this with a grain of salt.",
    "Then again, it's complicated, and reasonable people can disagree.",
)
_SARCASTIC_OPENERS = ("Oh, fantastic:", "Wow, what a shock:", "Oh great, more of this:", "Shocking, I know:")
_SARCASTIC_CLOSERS = (
    "What could possibly go wrong?",
    "Truly groundbreaking.",
    "Who could have guessed.",
    "Because that always works out so well.",
    "Colour me amazed.",
)
_DRY_CLOSERS = (
    "Riveting stuff.",
    "I'll try to contain my excitement.",
    "Truly, a time to be alive.",
    "Mark your calendars.",
    "Thrilling, as always.",
    "Hold the front page.",
)
_BLUNT_OPENERS = ("Bottom line:", "Plainly:", "Straight up:", "No sugarcoating:")
_BLUNT_CLOSERS = ("That's it.", "End of story.", "Simple as that.")
_POETIC_OPENERS = ("Softly, now:", "In the hush of the evening:", "Like a tide coming in:")
_POETIC_CLOSERS = (
    "Some days it all feels like light moving on water.",
    "The world turns, and we turn with it.",
    "Like leaves, we drift and settle.",
    "There is a small poem in that, somewhere.",
    "Everything blooms in its own slow season.",
)
_EMOJIS = ("😊", "💛", "🌻", "✨", "🤗", "🌈", "☕", "🙌")
_WARM_CLOSERS = ("{e}", "Sending love {e}", "Take care, everyone {e}", "Hope you're all well {e}")
_WARM_OPENERS = ("Hi friends!", "Good morning, everyone!")
_CASUAL_OPENERS = ("ngl", "tbh", "ok so", "honestly")
_CASUAL_CLOSERS = ("lol", "haha", "tbh", "idk")
_QUESTIONS = (
    "What do you all think?",
    "Am I wrong?",
    "Has anyone else noticed this?",
    "Where do you stand?",
    "What am I missing?",
    "Does that make sense?",
)
_EXCITED_OPENERS = ("Oh wow!!", "Okay, listen!!", "Big news, people!!")
_EXCITED_CLOSERS = ("So excited about this!!", "Love it so much!!", "Can't wait to see what's next!!")
_FORMAL_OPENERS = ("For the record:", "Respectfully:")
#: The data-minded voice asks for evidence and never gives any: no source, poll, percentage or year is invented
#: (an offline post is read as data by people who study misinformation; tests/test_offline_honest.py scans these).
_DATA_LINES = (
    "I'd want to see the numbers before I believe it.",
    "Show me the data and I'll update my view.",
    "Worth checking the primary source before sharing.",
    "Has anyone seen actual figures on this?",
    "Anecdotes aren't data, but this one is worth a closer look.",
    "I'll wait for proper evidence on this one.",
)


# --- Public API --------------------------------------------------------------------------------------


def seed_for(*parts: int | str) -> int:
    """A stable 64-bit seed from ``parts`` (integers and strings), the same in every process.

    Uses BLAKE2b rather than :func:`hash`, whose value for strings changes between processes.
    """
    digest = hashlib.blake2b(digest_size=8, person=b"agora-offline")
    for part in parts:
        if isinstance(part, str):
            data = b"s" + part.encode("utf-8", "surrogatepass")
        else:
            data = b"i" + str(operator.index(part)).encode()
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return int.from_bytes(digest.digest(), "little")


def write_post(
    persona: Persona,
    topics: Sequence[str],
    seed: int,
    *,
    kind: str = "post",
    original: str | None = None,
    original_author: str | None = None,
) -> str:
    """Text an agent writes, in its persona's voice.

    Args:
        persona: the writer.
        topics: what the text is about (topic names; the first one is always mentioned in a post).
            With none, a post is about the writer's hobby or work.
        seed: picks the wording; the same arguments always give the same text.
        kind: ``"post"`` (an original message about ``topics``), ``"repost"`` (a short comment on
            sharing ``original``) or ``"reply"`` (a reply to ``original``).
        original: the text reposted or replied to; only ever quoted, in a short piece on one line.
        original_author: the name of whoever wrote ``original``, if known.

    Returns:
        One line of at most ``MAX_CHARS`` characters (``SHORT_CHARS`` in the "short and punchy" style).

    Raises:
        ValueError: ``kind`` is not one of ``KINDS``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}")
    voice = _Voice.make(persona, seed_for("write", kind, seed, persona.name))
    who = _Who.of(persona)
    names = [t for t in (_topic_name(t) for t in islice(topics, 3)) if t]
    topic = names[0] if names else None
    if topic is not None and len(names) > 1 and voice.rng.random() < 0.4:
        topic = f"{topic} and {names[1]}"
    short = voice.style == _SHORT
    fields = who.fields(voice)
    if topic is not None:
        fields.update(topic=topic, Topic=_cap(topic))

    pool: tuple[str, ...]
    if kind == "post":
        if short:
            pool = _SHORT_POST_TOPIC if topic is not None else _SHORT_POST_FREE
        else:
            pool = _POST_TOPIC if topic is not None else _POST_FREE
        return _render([voice.fill(pool, fields)], voice)

    quote = _quote(original, _SHORT_QUOTE if short else QUOTE_CHARS) if original is not None else ""
    author = _clip(_one_line(original_author), _NAME_CHARS) if original_author else ""
    fields.update(q=quote, author=author)
    if kind == "repost":
        if not quote:
            pool = _SHORT_REPOST_BARE if short else _REPOST_BARE
        elif short:
            pool = _SHORT_REPOST
        else:
            pool = _REPOST + (_REPOST_TOPIC if topic is not None else ()) + (_REPOST_AUTHOR if author else ())
        text = voice.fill(pool, fields)
        if not short and text.endswith("”") and voice.rng.random() < 0.3:
            text = f"{text} {fields['reaction']}"
        return _render([text], voice)

    if short:
        pool = _SHORT_REPLY if quote else _SHORT_BARE
    else:
        pool = _REPLY if quote else _REPLY_BARE
    text = voice.fill(pool, fields)
    handle = "".join(ch for ch in author if ch.isalnum())[:20]
    return _render([text], voice, lead=f"@{handle}" if handle else "")


def answer_interview(
    persona: Persona,
    question: str,
    seed: int,
    *,
    interests: Sequence[str] = (),
    seen: Sequence[str] = (),
    adopted: Sequence[str] = (),
    recalled: Sequence[str] = (),
) -> str:
    """An agent's answer to an interviewer's ``question``, in the first person and its persona's voice.

    The answer says who the agent is (occupation or hobby from the bio), picks up a keyword of the
    question, answers yes/no questions with a yes or a no, reacts to questions about why, feelings or
    news, and may mention one of its ``interests`` (topic names). Messages it has ``seen`` or shared
    (``adopted``), given as texts, are referred to with a short quote; so is the memory ``recalled`` as
    the most relevant to the question (the first of them), which comes before the rest. One to four
    sentences on one line, at most ``MAX_CHARS`` characters.
    """
    q = _one_line(question[:_SCAN_CHARS] if isinstance(question, str) else str(question))
    voice = _Voice.make(persona, seed_for("interview", seed, persona.name, q))
    rng = voice.rng
    who = _Who.of(persona)
    fields = who.fields(voice)
    lower = q.lower()
    words = _WORD.findall(lower)
    keyword = _keyword(lower, words)
    yes_no = bool(words) and words[0] in _AUX
    kinds = set(words)
    short = voice.style == _SHORT

    # First sentence: (yes/no,) who I am, and the question's keyword. A question that brings back a
    # memory is answered with a yes.
    lead = voice.pick(_YES_NO) if yes_no else ""
    if yes_no and recalled:
        lead = "Yes"
    if short:
        pool = _SHORT_INTROS if keyword else _SHORT_NO_KEYWORD
        fields.update(kw=keyword, Kw=_cap(keyword))
        first = voice.fill(pool, fields)
        first = f"{lead}. {first}" if lead else first
    else:
        fields["kw"] = voice.fill(_KEYWORD_LINES, {"kw": keyword}) if keyword else voice.pick(_NO_KEYWORD_LINES)
        intros = [t for t in _INTROS if who.hobby or "{hobby}" not in t]
        first = voice.fill(intros, fields)
        first = f"{lead} — {_decap(first)}" if lead else first
    body = [first]

    # Second: what the question brought back to mind, why, feelings, news or an opinion.
    seen_q = _pick_quote(rng, seen, _SHORT_QUOTE if short else QUOTE_CHARS)
    adopted_q = _pick_quote(rng, adopted, _SHORT_QUOTE if short else QUOTE_CHARS)
    recalled_q = _quote(recalled[0], _SHORT_QUOTE if short else QUOTE_CHARS) if recalled else ""
    if recalled_q:  # what the question brought back comes first: it is what was asked about
        body.insert(0, voice.fill(_RECALLED, {"q": recalled_q}))
    elif "why" in kinds:
        body.append(f"Mostly because {voice.pick(_WHY)}.")
    elif kinds & _FEEL_WORDS:
        body.append(
            voice.fill(("I feel {f} about it, if I'm honest.", "Mostly I feel {f}."), {"f": voice.pick(_FEELINGS)})
        )
    elif kinds & _NEWS_WORDS:
        if seen_q:
            body.append(voice.fill(_SEEN, {"q": seen_q}))
            seen_q = ""
        else:
            body.append(voice.pick(_NEWS_EMPTY))
    elif yes_no:
        body.append(voice.pick(_YES_NO_REASONS))
    else:
        body.append(_cap(voice.pick(_TAKES)))

    # Third: what I have seen or shared, or what I follow.
    interest_names = [t for t in (_topic_name(t) for t in islice(interests, 64)) if t]
    if seen_q:
        body.append(voice.fill(_SEEN, {"q": seen_q}))
    elif adopted_q:
        body.append(voice.fill(_ADOPTED, {"q": adopted_q}))
    elif keyword and keyword.lower() in {t.lower() for t in interest_names}:
        body.append(voice.pick(_INTEREST_MATCH))
    elif interest_names:
        topic = interest_names[rng.randrange(len(interest_names))]
        body.append(voice.fill(_INTEREST, {"topic": topic, "Topic": _cap(topic)}))
    return _render(body, voice, interview=True)


# --- Helpers -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Voice:
    """The random choices and the style of one text."""

    rng: random.Random
    style: str

    @classmethod
    def make(cls, persona: Persona, seed: int) -> _Voice:
        style = _one_line(persona.style[:_SCAN_CHARS]).lower()
        style = _STYLE_ALIASES.get(style, style)
        return cls(random.Random(seed), style if style in STYLES else "")

    def pick(self, pool: Sequence[str]) -> str:
        """One string of ``pool``, made formal in the formal style."""
        text = pool[self.rng.randrange(len(pool))]
        return _formal(text) if self.style == _FORMAL else text

    def fill(self, pool: Sequence[str], fields: dict[str, str]) -> str:
        """A template of ``pool`` with ``fields`` filled in (the fields are never re-interpreted)."""
        return self.pick(pool).format_map(fields)


@dataclass(frozen=True, slots=True)
class _Who:
    """What a text may say about its writer: from the persona only."""

    first: str
    occupation: str | None
    hobby: str | None

    @classmethod
    def of(cls, persona: Persona) -> _Who:
        name = _clip(_one_line(persona.name[:_SCAN_CHARS]), _NAME_CHARS)
        first = name.split(" ", 1)[0] if name else "me"
        match = _BIO.match(_one_line(persona.bio[:_SCAN_CHARS]))
        if match is None:
            return cls(first, None, None)
        occupation, hobby = (_clip(g, _NAME_CHARS).lower() for g in match.group(2, 3))
        return cls(first, occupation or None, hobby or None)

    def fields(self, voice: _Voice) -> dict[str, str]:
        """Template fields for the writer."""
        if self.occupation:
            a_occ = f"{'an' if self.occupation[0] in 'aeiou' else 'a'} {self.occupation}"
        elif self.hobby:
            a_occ = f"someone who loves {self.hobby}"
        else:
            a_occ = "someone who pays attention"
        hobby = self.hobby or "a long walk"
        take = voice.pick(_TAKES)
        return {
            "first": self.first,
            "a_occ": a_occ,
            "hobby": hobby,
            "Hobby": _cap(hobby),
            "take": take,
            "Take": _cap(take),
            "reaction": voice.pick(_REACTIONS),
            "topic": "",
            "Topic": "",
        }


def _touches(voice: _Voice, interview: bool) -> tuple[str, list[str]]:
    """The style's opener and closing sentences (the first closer is kept whatever the length)."""
    rng, style = voice.rng, voice.style
    if style == _LONG:
        return voice.pick(_LONG_OPENERS), [voice.pick(_LONG_CLOSERS)]
    if style == _SARCASTIC:
        opener = voice.pick(_SARCASTIC_OPENERS) if rng.random() < 0.6 else ""
        return opener, [voice.pick(_SARCASTIC_CLOSERS)]
    if style == _WARM:
        emoji = voice.pick(_EMOJIS)
        opener = voice.pick(_WARM_OPENERS) if not interview and rng.random() < 0.3 else ""
        closer = emoji if interview else voice.pick(_WARM_CLOSERS).format(e=emoji)
        return opener, [closer]
    if style == _FORMAL:
        return (voice.pick(_FORMAL_OPENERS) if rng.random() < 0.3 else ""), []
    if style == _LOWER:
        opener = voice.pick(_CASUAL_OPENERS) if rng.random() < 0.5 else ""
        return opener, ([] if opener else [voice.pick(_CASUAL_CLOSERS)])
    if style == _DATA:
        return "", [voice.pick(_DATA_LINES)]
    if style == _EXCITED:
        opener = voice.pick(_EXCITED_OPENERS) if not interview and rng.random() < 0.4 else ""
        return opener, [voice.pick(_EXCITED_CLOSERS)]
    if style == _DRY:
        return "", [voice.pick(_DRY_CLOSERS)]
    if style == _ASKS:
        first = voice.pick(_QUESTIONS)
        if interview:
            return "", [first]
        second = voice.pick(_QUESTIONS)
        return "", [first] + ([second] if second != first else [])
    if style == _BLUNT:
        return voice.pick(_BLUNT_OPENERS), ([voice.pick(_BLUNT_CLOSERS)] if rng.random() < 0.5 else [])
    if style == _POETIC:
        return (voice.pick(_POETIC_OPENERS) if rng.random() < 0.4 else ""), [voice.pick(_POETIC_CLOSERS)]
    return "", []


def _render(body: list[str], voice: _Voice, *, interview: bool = False, lead: str = "") -> str:
    """Join ``lead`` (an @handle), the body and the style's touches into one bounded line."""
    style = voice.style
    opener, closers = _touches(voice, interview)
    if style == _BLUNT:
        body = body[:2]
    limit = (SHORT_CHARS if style == _SHORT else MAX_CHARS) - (3 if style == _EXCITED else 0)

    def joined() -> str:
        return " ".join(p for p in (lead, opener, *body, *closers) if p)

    while len(joined()) > limit and (len(closers) > 1 or len(body) > 1):
        (closers if len(closers) > 1 else body).pop()
    if len(joined()) > limit:
        rest = len(joined()) - len(body[0])
        body[0] = _clip(body[0], max(limit - rest, 20))
    text = _clip(joined(), limit)
    if style == _EXCITED:
        text = text.rstrip(" .!?") + "!!!"
    elif style == _LOWER:
        text = _clip(text.lower(), limit)
    return text or "…"


def _one_line(text: str | None) -> str:
    """``text`` with every run of whitespace or control characters made one space."""
    if not text:
        return ""
    return _UNSAFE.sub(" ", str(text)).strip()


def _clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at a word if one is near, ending in "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-—") + "…"


def _quote(text: str | None, limit: int) -> str:
    """A short one-line piece of a foreign ``text``, to quote; empty when it has nothing to show."""
    if not text:
        return ""
    text = text if isinstance(text, str) else str(text)
    return _clip(_one_line(text[:_SCAN_CHARS]), limit)


def _pick_quote(rng: random.Random, texts: Sequence[str], limit: int) -> str:
    """A quote of one of ``texts``, or empty when there is none (or it is blank)."""
    if not texts:
        return ""
    return _quote(texts[rng.randrange(len(texts))], limit)


def _topic_name(name: str) -> str:
    """A topic as words: "local-news" -> "local news", "ai" -> "AI"."""
    text = _clip(_one_line(str(name)[:_SCAN_CHARS]), _TOPIC_CHARS)
    return _TOPIC_DISPLAY.get(text.lower(), text.replace("-", " "))


def _keyword(lower: str, words: list[str]) -> str:
    """The question's main word: a topic it names, else its longest word that says something."""
    match = _TOPIC_IN_TEXT.search(lower)
    if match:
        return _topic_name(match.group(1).replace(" ", "-"))
    best = ""
    for word in words:
        word = word.strip("-")
        if len(best) < len(word) <= _KEYWORD_CHARS and len(word) >= 3 and word not in _STOPWORDS and word not in _AUX:
            best = word
    return best


def _cap(text: str) -> str:
    """``text`` with its first letter upper-case."""
    return text[:1].upper() + text[1:]


def _decap(text: str) -> str:
    """``text`` with its first letter lower-case, unless it starts with "I" as a word."""
    if text.startswith(("I ", "I'", "I,")):
        return text
    return text[:1].lower() + text[1:]


def _formal(text: str) -> str:
    """``text`` (a template, never foreign text) without contractions or casual phrases."""
    for casual, formal in _FORMAL_PHRASES:
        text = text.replace(casual, formal)
    return _CONTRACTION.sub(_expand, text)


def _expand(match: re.Match[str]) -> str:
    word = match.group(0)
    low = word.lower()
    if low in _SPECIAL_CONTRACTIONS:
        full = _SPECIAL_CONTRACTIONS[low]
    else:
        full = next(low[: -len(s)] + e for s, e in _SUFFIXES if low.endswith(s))
    return word[0] + full[1:] if word[0].isupper() else full


def condense_memory(persona: Persona, previous: str, events: Sequence[dict[str, Any]], *, limit: int = 600) -> str:
    """The summary an agent's older memories are condensed into, without a model: the ``previous``
    summary, then one sentence on the ``events`` (memory rows with ``kind``, ``tick``, ``text``, and
    ``other_name`` for follows): up to which tick, what it saw, took up and wrote (a short quote of up to
    two distinct texts each, with counts) and whom it followed. At most ``limit`` characters: the oldest
    part goes first (its gist was condensed once already)."""
    if not events:
        return _clip(_one_line(previous), limit)
    groups: dict[str, list[str]] = {}
    for e in events:
        kind = str(e.get("kind", ""))
        key = (
            "took up"
            if kind in ("reposted", "replied", "liked", "adopted")
            else "wrote"
            if kind.startswith("wrote_")
            else "followed"
            if kind == "followed"
            else "was asked"
            if kind == "asked"
            else "saw"
            if kind == "seen"
            else ""
        )
        if not key:
            continue
        text = _one_line(e.get("other_name") if key == "followed" else e.get("text"))
        if text and text not in groups.setdefault(key, []):
            groups[key].append(text)
    bits = []
    for key, what in (("saw", "posts"), ("took up", "posts"), ("wrote", "texts"), ("was asked", "questions")):
        texts = groups.get(key) or []
        if texts:
            quotes = ", ".join(f"“{_clip(t, 70)}”" for t in texts[:2])
            more = f" and {len(texts) - 2} more" if len(texts) > 2 else ""
            bits.append(f"{key} {len(texts)} {what if len(texts) != 1 else what[:-1]} ({quotes}{more})")
    if groups.get("followed"):
        names = groups["followed"]
        bits.append("followed " + ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else ""))
    last = max(int(e.get("tick", 0)) for e in events)
    part = f"By tick {last} I " + "; ".join(bits) + "." if bits else ""
    text = (_one_line(previous) + " " + part).strip() if previous else part or f"I am {persona.name}."
    if len(text) > limit:
        text = "…" + text[len(text) - limit + 1 :]
    return text
