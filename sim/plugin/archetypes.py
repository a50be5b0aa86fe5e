"""Archetypes and situations: the cheap stand-ins for asking a language model about every agent (issue 76).

An **archetype** is a group of agents alike in their attributes; the model is asked once per archetype and
**situation** (what an agent sees when the message reaches it), and every member draws its own action from the
answer's probabilities. Two ways to group (:func:`assign`):

- ``K`` (a number, 1-1000): K clusters of the agents' numeric features (susceptibility, influence, reputation,
  activity rate, how many interests, and the world's numeric attributes, each standardised), by k-means
  (Lloyd's algorithm from k-means++ seeds on a sample of at most 100,000 agents, then every agent to its
  nearest centre, in chunks). Seeded: the same world and K give the same groups.
- ``COL[,COL]``: the groups of one or more columns: a people table's attributes (a category by its labels, a
  number in its quartiles), the persona's ``occupation``, ``trait``, ``hobby`` and ``style``, ``profile`` (the
  activity profile) or ``community``. At most :data:`MAX_GROUPS` groups.

Each archetype is spoken for by its **representative**: the member nearest its centre (K) or its lowest-index
member (columns), whose persona goes into the prompt with the group's description.

A **situation** (:func:`situations`) is the pair (how many of the agent's contacts already took the message up,
in the buckets of :data:`SHARED_LABELS`; whether the message's topic is among the agent's interests: its
stance), so there are :data:`SITUATIONS` of them; the message itself is the session's. :func:`key_of` numbers an
(archetype, situation) pair. :func:`agent_uniforms` gives each agent its own uniform draw for a round (a hash of
its index and the round's key, whichever other agents draw with it), and :func:`draw` turns probabilities into
actions. Everything here works on whole columns: no per-agent loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sim.core.persona import HOBBIES, OCCUPATIONS, STYLES, TRAITS
from sim.errors import BadParameterError

#: The actions, in the order of every probability row.
ACTIONS = ("repost", "reply", "like", "ignore")
#: The most archetypes (clusters or column groups) a run may have.
MAX_GROUPS = 1000
#: The lower edges of the buckets of "how many contacts already took it up" (0, 1, 2, 3-4, 5 or more).
SHARED_EDGES = np.array([1, 2, 3, 5])
SHARED_LABELS = ("none", "one", "two", "three or four", "five or more")
STANCES = ("not among its interests", "among its interests")
#: Situations per archetype.
SITUATIONS = len(SHARED_LABELS) * len(STANCES)
#: Built-in numeric columns the clusters are made of.
NUMERIC = ("susceptibility", "influence", "reputation", "activity_rate")
#: Persona columns a spec may name: name -> (index in ``persona_codes`` or -1 for ``persona_style``, labels).
PERSONA = {"trait": (2, TRAITS), "occupation": (3, OCCUPATIONS), "hobby": (4, HOBBIES), "style": (-1, STYLES)}
#: Other built-in columns a spec may name (their values are the groups).
BUILT_IN = {"profile": "activity_profile", "community": "community"}
#: Agents k-means fits its centres on (every agent is then assigned).
SAMPLE = 100_000
_CHUNK = 65_536


@dataclass(frozen=True)
class Archetypes:
    """The agents' groups: ``labels`` (int32, one per agent), each group's ``representative`` (an agent index),
    ``names`` (what the group is, in words, for the prompt and reports) and ``sizes``."""

    spec: str
    labels: np.ndarray
    representative: np.ndarray
    names: tuple[str, ...]
    sizes: np.ndarray

    @property
    def count(self) -> int:
        return len(self.names)


def parse_spec(spec: str) -> int | tuple[str, ...]:
    """A spec as a cluster count or a tuple of column names.

    Raises:
        BadParameterError: empty, a count outside 1..MAX_GROUPS, or an empty column name."""
    text = str(spec).strip()
    if not text:
        raise BadParameterError(
            "the archetypes are not given: name a number of clusters K (1-1000) or columns COL[,COL]"
        )
    if text.lstrip("-").isdigit():
        k = int(text)
        if not 1 <= k <= MAX_GROUPS:
            raise BadParameterError(
                f"archetypes {text[:20]!r} is out of range: give a number of clusters from 1 to {MAX_GROUPS}"
            )
        return k
    names = tuple(p.strip() for p in text.split(","))
    if any(not p for p in names) or len(names) > 8:
        raise BadParameterError(
            f"archetypes {text[:80]!r} is not valid: name 1-8 columns separated by commas (COL[,COL])"
        )
    return names


def spec_columns(columns: Mapping[str, object] | None, attributes: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The column names a spec may group by on a world with these attributes (and columns, where given)."""
    return [*PERSONA, *BUILT_IN, *(a for a in attributes if columns is None or a in columns)]


def check_spec(spec: str, known: Sequence[str], n: int | None = None) -> None:
    """Raise unless ``spec`` can group a world of ``n`` agents whose groupable columns are ``known``
    (:func:`spec_columns`).

    Raises:
        BadParameterError: the spec is malformed or names a column the world lacks (one sentence naming it)."""
    parsed = parse_spec(spec)
    if isinstance(parsed, int):
        if n is not None and parsed > n:
            raise BadParameterError(f"archetypes {parsed} is more clusters than the world's {n:,} agents: give fewer")
        return
    for name in parsed:
        if name not in known:
            raise BadParameterError(
                f"archetypes name the column {name[:60]!r}, which this world lacks: group by one of {', '.join(known)}"
            )


class _Labelled(Protocol):
    @property
    def attributes(self) -> Mapping[str, Mapping[str, str]]: ...

    def category_labels(self, name: str) -> tuple[str, ...]: ...


def category_labels(world: _Labelled) -> dict[str, tuple[str, ...]]:
    """Each category attribute of ``world`` (a world or a plugin's view of one) with its labels in code order: the
    ``labels_of`` that :func:`assign` and a policy's checks take."""
    return {a: tuple(world.category_labels(a)) for a, m in world.attributes.items() if m.get("kind") == "category"}


def assign(
    columns: Mapping[str, np.ndarray],
    attributes: Mapping[str, Mapping[str, str]],
    labels_of: Mapping[str, tuple[str, ...]],
    spec: str,
    seed: int,
) -> Archetypes:
    """The archetypes ``spec`` makes of the agents (see the module docstring). ``labels_of``: each category
    attribute's labels.

    Raises:
        BadParameterError: see :func:`check_spec`; also more than :data:`MAX_GROUPS` groups of columns."""
    check_spec(spec, spec_columns(columns, attributes), len(columns["interests"]))
    parsed = parse_spec(spec)
    if isinstance(parsed, int):
        return _clusters(columns, attributes, parsed, seed, str(spec))
    return _groups(columns, attributes, labels_of, parsed, str(spec))


def _features(
    columns: Mapping[str, np.ndarray], attributes: Mapping[str, Mapping[str, str]]
) -> tuple[np.ndarray, list[str]]:
    names = [c for c in NUMERIC if c in columns]
    names += [a for a, meta in attributes.items() if meta.get("kind") == "number" and a in columns and a not in names]
    cols = [np.asarray(columns[c], dtype=np.float64) for c in names]
    cols.append(popcount(columns["interests"]).astype(np.float64))
    names.append("interests")
    x = np.stack(cols, axis=1)
    mean = np.nanmean(x, axis=0)
    x = np.where(np.isnan(x), mean, x)
    sd = x.std(axis=0)
    x = (x - mean) / np.where(sd > 0, sd, 1.0)
    return x, names


def popcount(masks: np.ndarray) -> np.ndarray:
    """The set bits of each 64-bit mask (int64)."""
    m = np.ascontiguousarray(masks, dtype=np.uint64)
    return np.unpackbits(m.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1).astype(np.int64)


def _nearest(x: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's nearest centre and its squared distance, in chunks."""
    lab = np.empty(len(x), dtype=np.int32)
    dist = np.empty(len(x), dtype=np.float64)
    c2 = (centres**2).sum(axis=1)
    for s in range(0, len(x), _CHUNK):
        part = x[s : s + _CHUNK]
        d = c2[None, :] - 2.0 * part @ centres.T
        lab[s : s + _CHUNK] = d.argmin(axis=1)
        dist[s : s + _CHUNK] = d[np.arange(len(part)), lab[s : s + _CHUNK]] + (part**2).sum(axis=1)
    return lab, dist


def _clusters(
    columns: Mapping[str, np.ndarray], attributes: Mapping[str, Mapping[str, str]], k: int, seed: int, spec: str
) -> Archetypes:
    x, names = _features(columns, attributes)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 76])
    sample = x[rng.choice(len(x), size=min(len(x), SAMPLE), replace=False)]
    centres = sample[[int(rng.integers(len(sample)))]]
    for _ in range(1, k):  # k-means++ seeds
        _, d = _nearest(sample, centres)
        d = np.maximum(d, 0.0)
        pick = int(rng.choice(len(sample), p=d / d.sum())) if d.sum() > 0 else int(rng.integers(len(sample)))
        centres = np.vstack([centres, sample[pick]])
    for _ in range(30):  # Lloyd
        lab, _ = _nearest(sample, centres)
        sums = np.zeros_like(centres)
        np.add.at(sums, lab, sample)
        counts = np.bincount(lab, minlength=k)
        moved = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centres)
        if np.allclose(moved, centres):
            break
        centres = moved
    lab, dist = _nearest(x, centres)
    sizes = np.bincount(lab, minlength=k)
    order = np.lexsort((np.arange(len(x)), dist, lab))
    first = np.searchsorted(lab[order], np.arange(k))
    rep = np.where(sizes > 0, order[np.minimum(first, len(x) - 1)], -1).astype(np.int64)
    described = tuple(_describe_centre(centres[j], names) for j in range(k))
    return Archetypes(spec, lab, rep, described, sizes)


def _describe_centre(centre: np.ndarray, names: list[str]) -> str:
    words = []
    for value, name in zip(centre.tolist(), names):
        level = "high" if value > 0.5 else "low" if value < -0.5 else "average"
        words.append(f"{level} {name.replace('_', ' ')}")
    return ", ".join(words)


def _codes(
    columns: Mapping[str, np.ndarray],
    attributes: Mapping[str, Mapping[str, str]],
    labels_of: Mapping[str, tuple[str, ...]],
    name: str,
) -> tuple[np.ndarray, list[str]]:
    """One column as integer codes (0..L-1) and the label of each code."""
    if name in PERSONA:
        index, pool = PERSONA[name]
        raw = columns["persona_style"] if index < 0 else columns["persona_codes"][:, index]
        return np.asarray(raw, dtype=np.int64), [f"{name} {p}" for p in pool]
    if name in BUILT_IN:
        raw = np.asarray(columns[BUILT_IN[name]], dtype=np.int64)
        values, inverse = np.unique(raw, return_inverse=True)
        return inverse, [f"{name} {v}" for v in values.tolist()]
    raw = np.asarray(columns[name])
    if attributes[name].get("kind") == "category":
        codes = np.asarray(raw, dtype=np.int64)
        labs = [f"{name} {v}" for v in labels_of.get(name, ())]
        return np.where(codes < 0, len(labs), codes), [*labs, f"{name} missing"]
    x = np.asarray(raw, dtype=np.float64)
    ok = ~np.isnan(x)
    edges = np.unique(np.quantile(x[ok], [0.25, 0.5, 0.75])) if ok.any() else np.empty(0)
    codes = np.where(ok, np.searchsorted(edges, x, side="right"), len(edges) + 1)
    bounds = [float(x[ok].min()) if ok.any() else 0.0, *edges.tolist(), float(x[ok].max()) if ok.any() else 0.0]
    labs = [f"{name} {bounds[i]:g}-{bounds[i + 1]:g}" for i in range(len(edges) + 1)]
    return codes, [*labs, f"{name} missing"]


def _groups(
    columns: Mapping[str, np.ndarray],
    attributes: Mapping[str, Mapping[str, str]],
    labels_of: Mapping[str, tuple[str, ...]],
    names: tuple[str, ...],
    spec: str,
) -> Archetypes:
    parts = [_codes(columns, attributes, labels_of, n) for n in names]
    stacked = np.stack([p[0] for p in parts], axis=1)
    keys, first, inverse, sizes = np.unique(stacked, axis=0, return_index=True, return_inverse=True, return_counts=True)
    if len(keys) > MAX_GROUPS:
        raise BadParameterError(
            f"archetypes {spec[:80]!r} make {len(keys):,} groups, more than {MAX_GROUPS}: group by fewer columns, "
            "or give a number of clusters"
        )
    described = tuple("; ".join(parts[j][1][int(code)] for j, code in enumerate(row)) for row in keys.tolist())
    return Archetypes(spec, inverse.reshape(-1).astype(np.int32), first.astype(np.int64), described, sizes)


# -- situations and draws ---------------------------------------------------------------------------------------
def situations(shared: np.ndarray, interested: np.ndarray) -> np.ndarray:
    """Each agent's situation number (0..SITUATIONS-1) from how many contacts took the message up and whether
    its topic is among the agent's interests."""
    bucket = np.searchsorted(SHARED_EDGES, np.asarray(shared), side="right")
    return (bucket * len(STANCES) + np.asarray(interested, dtype=np.int64)).astype(np.int64)


def describe_situation(situation: int) -> tuple[str, str]:
    """A situation's (contacts bucket, stance) in words."""
    return SHARED_LABELS[situation // len(STANCES)], STANCES[situation % len(STANCES)]


def key_of(archetype: np.ndarray | int, situation: np.ndarray | int) -> np.ndarray | int:
    """The number of an (archetype, situation) pair."""
    return archetype * SITUATIONS + situation


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, on uint64 arrays."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def agent_uniforms(round_key: int, agents: np.ndarray) -> np.ndarray:
    """One uniform [0, 1) number per agent for a round: a hash of the agent's index and ``round_key``, so each
    agent's draw is its own whichever other agents draw with it."""
    with np.errstate(over="ignore"):
        x = np.asarray(agents, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(
            int(round_key) & (2**64 - 1)
        )
    return (_mix(_mix(x)) >> np.uint64(11)).astype(np.float64) / float(2**53)


def draw(probabilities: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Each row's action (an index into :data:`ACTIONS`) drawn with its uniform number: the first action whose
    cumulative probability passes it. ``probabilities``: one row of four per agent (each summing to 1)."""
    cum = np.cumsum(np.asarray(probabilities, dtype=np.float64), axis=1)
    cum[:, -1] = np.inf
    return (uniforms[:, None] >= cum).sum(axis=1).astype(np.int64)


def normalise(values: np.ndarray) -> np.ndarray | None:
    """Four non-negative finite numbers scaled to sum to 1, or None when they cannot be (a negative, a NaN, all
    zero)."""
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (len(ACTIONS),) or not np.all(np.isfinite(v)) or np.any(v < 0) or v.sum() <= 0:
        return None
    return v / v.sum()


def offline_probabilities(susceptibility: float, situation: int) -> np.ndarray:
    """The offline stand-in's action probabilities for an archetype of mean ``susceptibility`` in ``situation``:
    a rule, not a model of anyone (used offline and for a malformed answer): engagement of the susceptibility,
    half again for a topic of interest and more with each contact that took it up, split 5:2:3 into repost,
    reply and like."""
    bucket, stance = divmod(int(situation), len(STANCES))
    engage = float(np.clip(susceptibility * (1.5 if stance else 0.6) * (1.0 + 0.5 * np.log2(1 + bucket)), 0.0, 0.95))
    return np.array([0.5 * engage, 0.2 * engage, 0.3 * engage, 1.0 - engage])
