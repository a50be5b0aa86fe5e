"""The 64 topics an agent can be interested in and a message can be about.

Interests are a ``uint64`` bitmask per agent: bit ``t`` set means interest in ``TOPICS[t]``.
"""

from __future__ import annotations

import numpy as np

from sim.errors import BadParameterError

TOPICS: tuple[str, ...] = (
    "politics",
    "elections",
    "economy",
    "finance",
    "crypto",
    "startups",
    "technology",
    "ai",
    "science",
    "space",
    "climate",
    "energy",
    "health",
    "medicine",
    "fitness",
    "nutrition",
    "food",
    "cooking",
    "travel",
    "fashion",
    "beauty",
    "music",
    "film",
    "television",
    "books",
    "art",
    "photography",
    "design",
    "gaming",
    "esports",
    "football",
    "basketball",
    "tennis",
    "cycling",
    "running",
    "outdoors",
    "pets",
    "parenting",
    "education",
    "careers",
    "housing",
    "cars",
    "aviation",
    "history",
    "philosophy",
    "religion",
    "law",
    "crime",
    "immigration",
    "labor",
    "local-news",
    "world-news",
    "war",
    "humor",
    "memes",
    "celebrity",
    "relationships",
    "mental-health",
    "diy",
    "gardening",
    "programming",
    "open-source",
    "privacy",
    "conspiracy",
)
assert len(TOPICS) == 64

_INDEX = {name: i for i, name in enumerate(TOPICS)}


def topic_index(name: str) -> int:
    """Return the bit index of a topic name (case-insensitive) or its number as text.

    Raises:
        BadParameterError: the topic is unknown.
    """
    key = name.strip().lower()
    if key in _INDEX:
        return _INDEX[key]
    if key.isascii() and key.isdigit() and int(key) < 64:
        return int(key)
    raise BadParameterError(
        f"unknown topic {name!r}: use one of the 64 topic names (see 'agora topics'), e.g. 'politics' or 'ai'"
    )


def topics_mask(names: list[str] | tuple[str, ...]) -> int:
    """Bitmask of the given topic names."""
    mask = 0
    for name in names:
        mask |= 1 << topic_index(name)
    return mask


def mask_topics(mask: int) -> list[str]:
    """Topic names whose bits are set in ``mask``."""
    mask = int(mask) & 0xFFFFFFFFFFFFFFFF
    return [TOPICS[t] for t in range(64) if mask >> t & 1]


def popcount(x: np.ndarray) -> np.ndarray:
    """Number of set bits of each element of a ``uint64`` array (match counts of interest masks)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    # numpy < 2.0: byte-wise table lookup.
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    return table[x.view(np.uint8).reshape(*x.shape, 8)].sum(axis=-1, dtype=np.uint8)
