"""A distilled policy: action probabilities from an agent's attributes and situation, with no model call (issue 76).

``agora llm distill`` fits a multinomial logistic regression on a world's LLM decisions and writes it as a
**policy file**: JSON data (never code: a policy from elsewhere is read as numbers, checked, and cannot run
anything). A policy holds its features, each with what it needs to be computed again on another run of the same
world:

- ``number``: a numeric column (susceptibility, influence, reputation, activity rate, or a numeric attribute of a
  people table), standardised by the ``mean`` and ``scale`` of the decisions it was fitted on (a missing value
  counts as the mean);
- ``persona``: a persona column (``trait``, ``occupation``, ``hobby``, ``style``), one indicator per code;
- ``category``: a category attribute, one indicator per label (its ``labels`` must be the world's, in order);
- ``interests``: how many interests the agent has, standardised;
- ``situation``: ``shared`` (log(1 + contacts who took the message up)), ``interested`` (the message's topic is
  among the agent's interests, 0 or 1) and ``shared_interested`` (their product).

:func:`logits` sums each feature's contribution (a gather for indicators, an outer product for numbers), so
applying a policy to a million agents never builds their design matrix; :func:`design` builds it for the few
thousand decisions a fit sees, and a test holds the two to the same numbers. :func:`read_policy` checks a file
and :func:`check_world` that the world has every feature (one sentence naming what is missing or different).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.errors import BadFileError, BadParameterError
from sim.plugin.archetypes import ACTIONS, PERSONA, popcount

FORMAT = "agora-llm-policy"
VERSION = 1
#: The largest policy file read (a policy of a few hundred coefficients is a few kilobytes).
MAX_BYTES = 4 * 1024 * 1024
KINDS = ("number", "persona", "category", "interests", "situation")
SITUATION = ("shared", "interested", "shared_interested")
BUILT_IN_NUMBERS = ("susceptibility", "influence", "reputation", "activity_rate")


@dataclass(frozen=True)
class AgentData:
    """What a policy reads of some agents: the world's ``columns`` and its ``attributes`` and category
    ``labels``, the ``agents`` (indices), how many of each one's contacts took the message up (``shared``) and
    whether its topic is among the agent's interests (``interested``)."""

    columns: Mapping[str, np.ndarray]
    attributes: Mapping[str, Mapping[str, str]]
    labels: Mapping[str, Sequence[str]]
    agents: np.ndarray
    shared: np.ndarray
    interested: np.ndarray


@dataclass(frozen=True)
class Policy:
    """A policy's features (dicts as the file holds them), coefficients (one row of four per design column) and
    intercepts; ``fitted``: what it was fitted on (shown, never used)."""

    features: tuple[dict[str, Any], ...]
    coef: np.ndarray
    intercept: np.ndarray
    fitted: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "classes": list(ACTIONS),
            "features": [dict(f) for f in self.features],
            "coef": np.round(self.coef, 8).tolist(),
            "intercept": np.round(self.intercept, 8).tolist(),
            "fitted": self.fitted,
        }

    def text(self) -> str:
        """The policy as compact JSON (what a session's ``policy`` parameter holds)."""
        return json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True)


def width(feature: Mapping[str, Any]) -> int:
    """Design columns a feature takes."""
    kind = feature["kind"]
    if kind == "persona":
        return len(PERSONA[feature["name"]][1])
    if kind == "category":
        return len(feature["labels"])
    return 1


def _number(data: AgentData, feature: Mapping[str, Any]) -> np.ndarray:
    kind, name = feature["kind"], feature["name"]
    if kind == "situation":
        shared = np.log1p(np.asarray(data.shared, dtype=np.float64))
        interested = np.asarray(data.interested, dtype=np.float64)
        return {"shared": shared, "interested": interested, "shared_interested": shared * interested}[name]
    if kind == "interests":
        raw = popcount(np.asarray(data.columns["interests"])[data.agents]).astype(np.float64)
    else:
        raw = np.asarray(data.columns[name], dtype=np.float64)[data.agents]
    z = (raw - float(feature["mean"])) / float(feature["scale"])
    return np.where(np.isnan(z), 0.0, z)


def _codes(data: AgentData, feature: Mapping[str, Any]) -> np.ndarray:
    """An indicator feature's code per agent (-1: missing, no indicator set)."""
    if feature["kind"] == "persona":
        index = PERSONA[feature["name"]][0]
        col = data.columns["persona_style"] if index < 0 else data.columns["persona_codes"][:, index]
        return np.asarray(col, dtype=np.int64)[data.agents]
    return np.asarray(data.columns[feature["name"]], dtype=np.int64)[data.agents]


def logits(policy: Policy, data: AgentData) -> np.ndarray:
    """Each agent's four logits (``len(agents)`` x 4), feature by feature."""
    out = np.tile(policy.intercept, (len(data.agents), 1))
    at = 0
    for f in policy.features:
        w = width(f)
        block = policy.coef[at : at + w]
        if f["kind"] in ("persona", "category"):
            codes = _codes(data, f)
            ok = (codes >= 0) & (codes < w)
            out[ok] += block[codes[ok]]
        else:
            out += np.outer(_number(data, f), block[0])
        at += w
    return out


def probabilities(policy: Policy, data: AgentData) -> np.ndarray:
    """Each agent's action probabilities (softmax of :func:`logits`)."""
    z = logits(policy, data)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def design(features: Sequence[Mapping[str, Any]], data: AgentData) -> np.ndarray:
    """The design matrix of ``data`` (what a fit sees; :func:`logits` is this times the coefficients)."""
    blocks = []
    for f in features:
        if f["kind"] in ("persona", "category"):
            w = width(f)
            codes = _codes(data, f)
            block = np.zeros((len(data.agents), w))
            ok = (codes >= 0) & (codes < w)
            block[np.flatnonzero(ok), codes[ok]] = 1.0
            blocks.append(block)
        else:
            blocks.append(_number(data, f)[:, None])
    return np.hstack(blocks)


def standard_features(data: AgentData) -> list[dict[str, Any]]:
    """The features a distilled policy uses on a world: its numeric columns and attributes (standardised on
    ``data``), the persona columns, its category attributes, the interests' count and the situation."""
    numbers = [c for c in ("susceptibility", "influence", "reputation", "activity_rate") if c in data.columns]
    numbers += [a for a, m in data.attributes.items() if m.get("kind") == "number" and a not in numbers]
    out: list[dict[str, Any]] = []
    for name in numbers:
        x = np.asarray(data.columns[name], dtype=np.float64)[data.agents]
        mean = float(np.nanmean(x)) if np.isfinite(x).any() else 0.0
        sd = float(np.nanstd(x)) if np.isfinite(x).any() else 1.0
        out.append({"kind": "number", "name": name, "mean": mean, "scale": sd if sd > 0 else 1.0})
    out += [{"kind": "persona", "name": name} for name in PERSONA]
    out += [
        {"kind": "category", "name": a, "labels": list(data.labels.get(a, ()))}
        for a, m in data.attributes.items()
        if m.get("kind") == "category"
    ]
    count = popcount(np.asarray(data.columns["interests"])[data.agents]).astype(np.float64)
    sd = float(count.std()) if count.size else 1.0
    out.append(
        {
            "kind": "interests",
            "name": "interests",
            "mean": float(count.mean()) if count.size else 0.0,
            "scale": sd if sd > 0 else 1.0,
        }
    )
    out += [{"kind": "situation", "name": s} for s in SITUATION]
    return out


# -- files ------------------------------------------------------------------------------------------------------
def _bad(where: str, why: str) -> BadFileError:
    return BadFileError(f"{where} is not an Agora policy file ({why}): make one with agora llm distill")


def _check_feature(f: Any, where: str) -> dict[str, Any]:
    if not isinstance(f, dict) or f.get("kind") not in KINDS or not isinstance(f.get("name"), str):
        raise _bad(where, "a feature is not {kind, name}")
    if f["kind"] in ("number", "interests"):
        for key in ("mean", "scale"):
            v = f.get(key)
            if (
                not isinstance(v, (int, float))
                or isinstance(v, bool)
                or not math.isfinite(v)
                or (key == "scale" and v <= 0)
            ):
                raise _bad(where, f"feature {f['name'][:40]!r} has no finite {key}")
    if f["kind"] == "persona" and f["name"] not in PERSONA:
        raise _bad(where, f"persona feature {f['name'][:40]!r} is not one of {', '.join(PERSONA)}")
    if f["kind"] == "situation" and f["name"] not in SITUATION:
        raise _bad(where, f"situation feature {f['name'][:40]!r} is not one of {', '.join(SITUATION)}")
    if f["kind"] == "category":
        labels = f.get("labels")
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels) or len(labels) > 10_000:
            raise _bad(where, f"category feature {f['name'][:40]!r} has no list of labels")
    return dict(f)


def parse_policy(data: Any, where: str = "the policy") -> Policy:
    """A policy from its JSON data, checked.

    Raises:
        BadFileError: not a policy, another version, or features and coefficients that do not fit."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _bad(where, f"its format is not {FORMAT!r}")
    if data.get("version") != VERSION:
        raise BadFileError(
            f"{where} is a policy of version {str(data.get('version'))[:20]}, and this Agora reads version {VERSION}: "
            "distill it again with this version"
        )
    if data.get("classes") != list(ACTIONS):
        raise _bad(where, f"its classes are not {', '.join(ACTIONS)}")
    feats = data.get("features")
    if not isinstance(feats, list) or not feats or len(feats) > 1000:
        raise _bad(where, "it has no list of features")
    features = tuple(_check_feature(f, where) for f in feats)
    try:
        coef = np.array(data.get("coef"), dtype=np.float64)
        intercept = np.array(data.get("intercept"), dtype=np.float64)
    except (TypeError, ValueError):
        raise _bad(where, "its coefficients are not numbers") from None
    rows = sum(width(f) for f in features)
    if coef.shape != (rows, len(ACTIONS)) or intercept.shape != (len(ACTIONS),):
        raise _bad(where, f"its coefficients are not {rows} rows of {len(ACTIONS)} and {len(ACTIONS)} intercepts")
    if not (np.all(np.isfinite(coef)) and np.all(np.isfinite(intercept))):
        raise _bad(where, "a coefficient is not finite")
    raw = data.get("fitted")
    fitted: dict[str, Any] = raw if isinstance(raw, dict) else {}
    return Policy(features, coef, intercept, fitted)


def read_policy(path: str | os.PathLike[str]) -> Policy:
    """A policy file, read and checked (see :func:`parse_policy`).

    Raises:
        BadFileError: missing, unreadable, too large, not JSON or not a policy."""
    p = Path(path).expanduser()
    where = f"policy file {str(p)[:200]!r}"
    try:
        size = p.stat().st_size
        if not p.is_file():
            raise BadFileError(f"{where} is not a file: give a policy made by agora llm distill")
        if size > MAX_BYTES:
            raise _bad(where, f"{size:,} bytes, more than {MAX_BYTES:,}")
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadFileError(f"{where} does not exist: give a policy made by agora llm distill") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _bad(where, f"not JSON: {str(exc)[:80]}") from None
    return parse_policy(data, where)


def check_names(policy: Policy, attributes: Mapping[str, Mapping[str, str]], where: str = "the policy") -> None:
    """Raise unless a world with these attributes has every column ``policy`` reads (its labels are checked
    when a run starts, :func:`check_world`).

    Raises:
        BadParameterError: a column is missing or of another kind."""
    for f in policy.features:
        name, kind = f["name"], f["kind"]
        if kind not in ("number", "category") or (kind == "number" and name in BUILT_IN_NUMBERS):
            continue
        meta = attributes.get(name)
        if meta is None or meta.get("kind") != kind:
            raise BadParameterError(
                f"{where} was fitted on another world's features: this world has no {kind} column {name[:60]!r}; "
                "distill a policy on this world"
            )


def check_world(
    policy: Policy,
    columns: Mapping[str, np.ndarray],
    attributes: Mapping[str, Mapping[str, str]],
    labels: Mapping[str, Sequence[str]],
    where: str = "the policy",
) -> None:
    """Raise unless the world has every feature of ``policy`` as it was fitted.

    Raises:
        BadParameterError: a column is missing, of another kind, or a category's labels differ."""
    for f in policy.features:
        name, kind = f["name"], f["kind"]
        if kind not in ("number", "category"):
            continue
        meta = attributes.get(name)
        builtin = kind == "number" and name in ("susceptibility", "influence", "reputation", "activity_rate")
        if name not in columns or (not builtin and (meta is None or meta.get("kind") != kind)):
            raise BadParameterError(
                f"{where} was fitted on another world's features: this world has no {kind} column {name[:60]!r}; "
                "distill a policy on this world"
            )
        if kind == "category" and list(labels.get(name, ())) != list(f["labels"]):
            raise BadParameterError(
                f"{where} was fitted on another world's features: the labels of {name[:60]!r} differ; distill a "
                "policy on this world"
            )
