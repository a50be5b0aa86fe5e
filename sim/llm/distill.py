"""``agora llm distill``: a policy fitted on a world's LLM decisions (issue 76).

Every decision a language model made for an agent of the ``llm`` model is logged in its session (the agent,
how many of its contacts had taken the message up, whether the message's topic was among its interests, the
action; ``plugins/llm.py``'s ``LOG``). :func:`distill` gathers them from every ``llm`` session of a world,
builds the features of :func:`sim.plugin.policy.standard_features` from the world's columns, and fits
scikit-learn's multinomial logistic regression (L2, ``C`` 1, standardised numbers and one indicator per category):
first on a random 80 % to measure its **agreement** on the held-out 20 % (the share of held-out decisions whose
most likely action is the model's, beside always answering the commonest action), then on every decision for the
policy written. The policy is data (:class:`~sim.plugin.policy.Policy`), applied with numpy alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.errors import BadParameterError
from sim.plugin import policy as pol
from sim.plugin.archetypes import ACTIONS, category_labels

#: The session store's keys of the log (``plugins/llm.py``'s ``LOG``), in :class:`Decisions`' order.
LOG_KEYS = ("llm.log_agent", "llm.log_shared", "llm.log_interested", "llm.log_action", "llm.log_source")
#: Who made a logged decision (``plugins/llm.py``'s ``BY_*``).
BY_LLM, BY_ARCHETYPE, BY_POLICY = 0, 1, 2
#: The fewest decisions a policy is fitted on.
MIN_DECISIONS = 20
#: The share of decisions held out to measure agreement.
HOLDOUT = 0.2
#: The logit given to an action no decision took (its probability about 1e-13 of the others').
ABSENT = -30.0


@dataclass(frozen=True)
class Decisions:
    """A world's LLM decisions, one row each: agent index, contacts who had taken the message up, whether its
    topic was among the agent's interests, the action (an index of ``ACTIONS``), and the session's id."""

    agents: np.ndarray
    shared: np.ndarray
    interested: np.ndarray
    actions: np.ndarray
    sessions: np.ndarray

    def __len__(self) -> int:
        return int(self.agents.size)


def decisions(world: Any, by: int = BY_LLM, sessions: set[int] | None = None) -> Decisions:
    """Every logged decision of ``world``'s ``llm`` sessions (of those whose ids are in ``sessions``, if given) that
    ``by`` made: the LLM's by default, an archetype's or a policy's."""
    parts: list[list[np.ndarray]] = [[], [], [], [], []]
    for s in world.sessions:
        store = getattr(s, "store", {}) or {}
        if getattr(s, "model_name", None) != "llm" or any(k not in store for k in LOG_KEYS):
            continue
        if sessions is not None and int(s.id) not in sessions:
            continue
        cols = [np.asarray(store[k]) for k in LOG_KEYS]
        if len({c.size for c in cols}) != 1:
            continue  # a damaged log: skipped rather than misread
        mine = cols[4] == by
        for i, c in enumerate(cols[:4]):
            parts[i].append(c[mine])
        parts[4].append(np.full(int(mine.sum()), int(s.id)))
    if not parts[0]:
        empty = np.empty(0, dtype=np.int64)
        return Decisions(empty, empty, empty.astype(bool), empty, empty)
    a, sh, it, ac, se = (np.concatenate(p) for p in parts)
    ok = (a >= 0) & (a < world.n) & (ac >= 0) & (ac < len(ACTIONS))
    return Decisions(a[ok].astype(np.int64), sh[ok].astype(np.int64), it[ok] != 0, ac[ok].astype(np.int64), se[ok])


def agent_data(world: Any, d: Decisions) -> pol.AgentData:
    labels = category_labels(world)
    return pol.AgentData(world.columns, world.attributes, labels, d.agents, d.shared, d.interested)


def _fit(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (columns x 4) and intercepts (4) of a multinomial logistic regression; an action no row took
    gets :data:`ABSENT`."""
    try:
        from sklearn.linear_model import LogisticRegression  # noqa: PLC0415 - the distill extra
    except ImportError:
        raise BadParameterError(
            "distilling a policy needs scikit-learn, which is not installed here: pip install -e '.[distill]'"
        ) from None
    coef = np.zeros((x.shape[1], len(ACTIONS)))
    intercept = np.full(len(ACTIONS), ABSENT)
    present = np.unique(y)
    if present.size == 1:
        intercept[present[0]] = 0.0
        return coef, intercept
    model = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    model.fit(x, y)
    rows = model.coef_ if present.size > 2 else np.vstack([-model.coef_[0] / 2, model.coef_[0] / 2])
    ints = model.intercept_ if present.size > 2 else np.array([-model.intercept_[0] / 2, model.intercept_[0] / 2])
    for j, cls in enumerate(model.classes_.tolist()):
        coef[:, cls] = rows[j]
        intercept[cls] = ints[j]
    return coef, intercept


def distill(world: Any, *, seed: int = 0) -> tuple[pol.Policy, dict[str, Any]]:
    """A policy fitted on ``world``'s LLM decisions and what was measured (see the module docstring).

    Raises:
        BadParameterError: fewer than :data:`MIN_DECISIONS` decisions, or scikit-learn missing."""
    d = decisions(world)
    if len(d) < MIN_DECISIONS:
        raise BadParameterError(
            f"world {world.name!r} holds {len(d)} decisions an LLM made, fewer than the {MIN_DECISIONS} a policy "
            "needs: run the llm model with a server (or the local model) on it first"
        )
    data = agent_data(world, d)
    features = pol.standard_features(data)
    x = pol.design(features, data)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 76])
    order = rng.permutation(len(d))
    cut = max(1, int(round(len(d) * HOLDOUT)))
    test, train = order[:cut], order[cut:]
    coef, intercept = _fit(x[train], d.actions[train], seed)
    held = pol.Policy(tuple(features), coef, intercept, {})
    sub = pol.AgentData(data.columns, data.attributes, data.labels, d.agents[test], d.shared[test], d.interested[test])
    guess = pol.probabilities(held, sub).argmax(axis=1)
    common = int(np.bincount(d.actions[train], minlength=len(ACTIONS)).argmax())
    coef, intercept = _fit(x, d.actions, seed)
    shares = np.bincount(d.actions, minlength=len(ACTIONS)) / len(d)
    report = {
        "world": world.name,
        "decisions": len(d),
        "sessions": int(np.unique(d.sessions).size),
        "features": len(features),
        "coefficients": int(coef.size + intercept.size),
        "actions": {a: round(float(v), 4) for a, v in zip(ACTIONS, shares)},
        "holdout": {
            "decisions": int(test.size),
            "agreement": round(float(np.mean(guess == d.actions[test])), 4),
            "commonest_action": ACTIONS[common],
            "commonest_agreement": round(float(np.mean(d.actions[test] == common)), 4),
        },
    }
    fitted = {k: report[k] for k in ("world", "decisions", "sessions", "actions", "holdout")}
    return pol.Policy(tuple(features), coef, intercept, fitted), report
