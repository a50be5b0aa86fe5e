"""What Agora asks a language model, and the strict schema its decisions are parsed against.

Every prompt starts with the agent's persona (name, bio, writing style) and interests. Text that came
from users, agents or files is put in the prompt as quoted data, never as instructions of ours; what
comes back is treated as data too (shown literally, bound as SQL parameters).

A decision answer must be one JSON object (optionally inside a ```json fence) with exactly these keys:

- ``action``: ``"repost"``, ``"like"``, ``"reply"`` or ``"ignore"`` (required);
- ``text``: a string of at most 1000 characters (required for ``reply``, optional otherwise);
- ``reason``: a string (optional, ignored).

Anything else — not JSON, another shape, an unknown action or key, a reply without text — is malformed:
it is counted and the rule model's decision is used instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sim.core.persona import Persona

ACTIONS = ("repost", "like", "reply", "ignore")
MAX_TEXT = 1000
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Decision:
    """A parsed decision: what the agent does with a message, and what it writes."""

    action: str
    text: str = ""


def quote(text: str, limit: int = 600) -> str:
    """``text`` as a JSON string literal, shortened to ``limit`` characters (data, not instructions)."""
    text = str(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return json.dumps(text, ensure_ascii=False)


def clean(text: str, limit: int = MAX_TEXT) -> str:
    """A model's text made safe to keep: control characters (but newlines) removed, length capped. (Lone
    surrogates never get here: the client replaces them where the server's answer enters.)"""
    text = _CONTROL.sub("", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def system_prompt(persona: Persona, interests: Sequence[str]) -> str:
    likes = ", ".join(interests[:8]) if interests else "nothing in particular"
    return (
        f"You are {persona.name}, a member of a social network. About you: {persona.bio} "
        f"Your writing style: {persona.style}. You are interested in: {likes}. "
        "Stay in character. Write as this person would on social media: short, first person, no hashtags spam."
    )


def post_prompt(persona: Persona, interests: Sequence[str], kind: str, *, topics: Sequence[str] = (),
                original: str | None = None, original_author: str | None = None) -> list[dict[str, str]]:
    """Messages asking the agent to write a post, a repost comment or a reply."""
    if kind == "post":
        about = ", ".join(topics) if topics else "whatever is on your mind"
        task = f"Write one short post (at most 280 characters) about: {about}. Answer with the post's text only."
    elif kind == "repost":
        task = (f"You are sharing this post by {original_author or 'someone'}: {quote(original or '')}. "
                "Write the one-line comment you add when sharing it (at most 200 characters). Answer with the comment only.")
    elif kind == "reply":
        task = (f"{original_author or 'Someone'} posted: {quote(original or '')}. "
                "Write your reply (at most 280 characters). Answer with the reply only.")
    else:
        raise ValueError(f"unknown kind of text {kind!r}: use post, repost or reply")
    return [{"role": "system", "content": system_prompt(persona, interests)}, {"role": "user", "content": task}]


def decision_prompt(persona: Persona, interests: Sequence[str], message: str, *, author: str | None = None,
                    sharer: str | None = None, seen: Sequence[str] = ()) -> list[dict[str, str]]:
    """Messages asking what the agent does with ``message``; the answer is parsed by :func:`parse_decision`."""
    lines = []
    if seen:
        lines.append("Posts you have seen recently: " + "; ".join(quote(s, 160) for s in seen) + ".")
    via = f"{sharer} shared" if sharer else "You see"
    lines.append(f"{via} this post by {author or 'an account you do not know'}: {quote(message)}.")
    lines.append(
        'What do you do? Answer with one JSON object and nothing else: {"action": "repost" | "like" | "reply" | "ignore", '
        '"text": "your reply or repost comment, if any"}. Use "reply" only with a text.'
    )
    return [{"role": "system", "content": system_prompt(persona, interests)}, {"role": "user", "content": " ".join(lines)}]


def interview_prompt(persona: Persona, interests: Sequence[str], question: str, *, seen: Sequence[str] = (),
                     adopted: Sequence[str] = ()) -> list[dict[str, str]]:
    """Messages asking the agent an interviewer's question."""
    lines = []
    if adopted:
        lines.append("Posts you shared or liked: " + "; ".join(quote(s, 160) for s in adopted) + ".")
    if seen:
        lines.append("Posts you have seen: " + "; ".join(quote(s, 160) for s in seen) + ".")
    lines.append(f"An interviewer asks you: {quote(question, 1000)}. Answer in character, in one to four sentences.")
    return [{"role": "system", "content": system_prompt(persona, interests)}, {"role": "user", "content": " ".join(lines)}]


def parse_decision(text: str) -> Decision:
    """Parse a decision answer against the strict schema of the module docstring.

    Raises:
        ValueError: the answer does not fit the schema (the message says how).
    """
    raw = str(text).strip()
    m = _FENCE.match(raw)
    if m:
        raw = m.group(1)
    try:
        obj: Any = json.loads(raw)
    except ValueError:
        raise ValueError("the answer is not JSON") from None
    if not isinstance(obj, dict):
        raise ValueError("the answer is not a JSON object")
    extra = sorted(set(obj) - {"action", "text", "reason"})
    if extra:
        raise ValueError(f"the answer has an unknown key {extra[0]!r}")
    action = obj.get("action")
    if action not in ACTIONS:
        raise ValueError(f"the action {action!r} is not one of {', '.join(ACTIONS)}")
    body = obj.get("text", "")
    if body is None:
        body = ""
    if not isinstance(body, str) or len(body) > MAX_TEXT:
        raise ValueError("the text is not a string of at most 1000 characters")
    if "reason" in obj and not isinstance(obj["reason"], str):
        raise ValueError("the reason is not a string")
    if action == "reply" and not body.strip():
        raise ValueError("a reply without text")
    return Decision(action, clean(body))
