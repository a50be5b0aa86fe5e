"""The fidelity scorecard (``agora llm scorecard``, issue 76): how far the cheap stand-ins for a language model
stray from the model they stand for, on one world and one message.

Three arms, each run ``replicates`` times (session seeds 0..R-1) on forks of the world (the world itself is never
changed), every session of the ``llm`` model with the same message and seeds:

- **llm**: every exposed agent asks the model (``llm_agents`` 100,000, a random order, a tick's budget as large);
- **archetypes**: every exposed agent draws from its archetype's probabilities (``archetypes``: the spec);
- **policy**: every exposed agent draws from a policy distilled (:func:`sim.llm.distill.distill`) from the llm
  arm's decisions, with no call.

What is compared, the llm arm being the reference:

- the **action distribution per situation** (how many contacts had taken the message up, in the buckets of
  :data:`sim.plugin.archetypes.SHARED_LABELS`, and whether its topic is among the agent's interests): the
  Jensen-Shannon divergence (base 2: 0 the same, 1 disjoint) of each arm's actions from the llm arm's, per
  situation where both made at least :data:`MIN_DECISIONS`, and their mean weighted by the llm arm's decisions;
- **agreement** with the llm arm's decisions: the share whose action is the cheap arm's most likely one in that
  agent's situation (the policy on the 20 % of decisions it was not fitted on; the archetypes, fitted on none of
  them, on all), beside always answering the commonest action;
- the **cascade sizes** over the replicates: the two-sample Kolmogorov-Smirnov test (scipy's ``ks_2samp``);
- each arm's calls, cache hits, tokens in and out, and wall seconds.

The model's answers are cached in the world's cache as any run's are (a replicate may find a prompt answered).
Each tick waits until the answers its requests asked for have landed, so every answer is applied the tick after
its question in every arm, however fast the model is (a run's own ticks do not wait: ``plugins/llm.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from sim.core.world import World
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.llm.config import LLMConfig
from sim.llm.distill import BY_ARCHETYPE, BY_LLM, BY_POLICY, Decisions, decisions, distill
from sim.llm.service import LLMService
from sim.plugin import archetypes as arch

#: The fewest decisions of both arms in a situation for its divergence to be reported.
MIN_DECISIONS = 10
#: The most ticks a replicate runs (a session ends when nobody transmits and nobody waits for an answer).
MAX_TICKS = 1000
#: Decisions every exposed agent of the llm arm may ask for.
ALL = 100_000


@dataclass(frozen=True)
class Message:
    """The message every arm injects: its text, topics, seed agents (a selection) and author (an original id)."""

    text: str
    topics: tuple[str, ...] = ()
    seeds: str = "random:10"
    author: int | None = None


@dataclass
class Arm:
    """One arm's runs: its parameters, counters over its replicates, cascade sizes and decisions."""

    name: str
    params: dict[str, Any]
    by: int
    sizes: list[int] = field(default_factory=list)
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    sessions: list[Any] = field(default_factory=list)

    def report(self) -> dict[str, object]:
        shown = {k: v for k, v in self.params.items() if k != "policy"}
        return {
            "params": shown,
            "replicates": len(self.sizes),
            "cascade_sizes": self.sizes,
            "seconds": round(self.seconds, 3),
            **self.counts,
        }


def _counts_of(decided: Decisions) -> np.ndarray:
    """Decisions per situation and action (situations x 4)."""
    sit = arch.situations(decided.shared, decided.interested)
    out = np.zeros((arch.SITUATIONS, len(arch.ACTIONS)), dtype=np.int64)
    np.add.at(out, (sit, decided.actions), 1)
    return out


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """The Jensen-Shannon divergence of two distributions (counts or probabilities), base 2."""
    p = np.asarray(p, dtype=np.float64) / np.sum(p)
    q = np.asarray(q, dtype=np.float64) / np.sum(q)
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        ok = a > 0
        return float(np.sum(a[ok] * np.log2(a[ok] / m[ok])))

    return max(0.0, 0.5 * kl(p) + 0.5 * kl(q))


def divergence(reference: np.ndarray, other: np.ndarray) -> dict[str, object]:
    """Per situation, the divergence of ``other``'s actions from ``reference``'s (counts, situations x 4)."""
    rows: list[dict[str, Any]] = []
    llm_decisions: list[int] = []
    for s in range(arch.SITUATIONS):
        a, b = reference[s], other[s]
        if a.sum() < MIN_DECISIONS or b.sum() < MIN_DECISIONS:
            continue
        shared, stance = arch.describe_situation(s)
        rows.append(
            {
                "contacts": shared,
                "topic": stance,
                "llm": dict(zip(arch.ACTIONS, (a / a.sum()).round(3).tolist())),
                "cheap": dict(zip(arch.ACTIONS, (b / b.sum()).round(3).tolist())),
                "decisions": [int(a.sum()), int(b.sum())],
                "js": round(js_divergence(a, b), 4),
            }
        )
        llm_decisions.append(int(a.sum()))
    weights = np.array(llm_decisions, dtype=np.float64)
    mean = float(np.sum(weights * [r["js"] for r in rows]) / weights.sum()) if rows else None
    return {"mean_js": None if mean is None else round(mean, 4), "situations": rows}


async def _replicate(world: World, config: LLMConfig, arm: Arm, r: int, message: Message, max_ticks: int) -> None:
    w = world.fork()
    w.llm_cache = world.llm_cache  # one cache for every replicate: a prompt answered once is answered
    service = LLMService(w, config)
    sim = Simulation(w, llm=service)
    session = sim.inject(
        message.text,
        model="llm",
        params=arm.params,
        seed=r,
        topics=list(message.topics),
        seeds=message.seeds,
        author=message.author,
    )
    start = time.perf_counter()
    ticks = 0
    try:
        while not sim.idle and ticks < max_ticks:
            await sim.step()
            ticks += 1
            while service.in_flight:  # the next tick waits for this one's answers: the model's speed never
                await asyncio.sleep(0.005)  # shapes the cascade, and every arm sees its answers a tick later
    finally:
        await sim.aclose(config.timeout)
    arm.seconds += time.perf_counter() - start
    arm.sizes.append(int(session.reached))
    st = service.stats()
    for key in ("calls", "cache_hits", "tokens_in", "tokens_out", "malformed", "fallbacks"):
        arm.counts[key] = arm.counts.get(key, 0) + int(st.get(key, 0))
    arm.sessions.append(session)


def _arm_decisions(world: World, arm: Arm) -> Decisions:
    view = SimpleNamespace(sessions=arm.sessions, n=world.n, name=world.name)
    return decisions(view, arm.by)


def _agreement_of_archetypes(world: World, arm: Arm, reference: Decisions) -> dict[str, Any]:
    """How often the archetypes' most likely action is the llm arm's decision, where the archetype was asked."""
    tables = [np.asarray(s.store["llm.arch_probs"]) for s in arm.sessions if "llm.arch_probs" in s.store]
    if not tables or len(reference) == 0:
        return {"agreement": None, "decisions": 0}
    table = np.full_like(tables[0], np.nan)
    for t in tables:
        table = np.where(np.isnan(table), t, table)
    labels = arch.category_labels(world)
    groups = arch.assign(world.columns, world.attributes, labels, str(arm.params["archetypes"]), int(world.seed))
    keys = np.asarray(
        arch.key_of(groups.labels[reference.agents], arch.situations(reference.shared, reference.interested))
    )
    known = ~np.isnan(table[keys, 0])
    if not known.any():
        return {"agreement": None, "decisions": 0}
    guess = np.nanargmax(table[keys[known]], axis=1)
    return {"agreement": round(float(np.mean(guess == reference.actions[known])), 4), "decisions": int(known.sum())}


def _ks(a: list[int], b: list[int]) -> dict[str, Any]:
    from scipy.stats import ks_2samp  # noqa: PLC0415 - only for a scorecard

    if len(a) < 2 or len(b) < 2:
        return {"statistic": None, "pvalue": None}
    res = ks_2samp(a, b)
    return {"statistic": round(float(res.statistic), 4), "pvalue": round(float(res.pvalue), 4)}


async def scorecard(
    world: World,
    config: LLMConfig,
    message: Message,
    *,
    archetypes: str = "8",
    replicates: int = 5,
    max_ticks: int = MAX_TICKS,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, object]:
    """The scorecard of ``message`` on ``world`` with the LLM ``config`` (see the module docstring).

    Raises:
        BadParameterError: a bad archetype spec, or too few decisions of the llm arm to distill a policy from."""
    labels = arch.category_labels(world)
    arch.assign(world.columns, world.attributes, labels, archetypes, int(world.seed))  # a bad spec: before any run
    if not 1 <= replicates <= 100:
        raise BadParameterError(f"replicates {replicates} is out of range: give 1 to 100")
    llm_arm = Arm("llm", {"llm_agents": ALL, "sample": "random"}, BY_LLM)
    arch_arm = Arm("archetypes", {"archetypes": archetypes}, BY_ARCHETYPE)
    for arm in (llm_arm, arch_arm):
        for r in range(replicates):
            await _replicate(world, config, arm, r, message, max_ticks)
            if progress is not None:
                progress(arm.name, r + 1)
    reference = _arm_decisions(world, llm_arm)
    view = SimpleNamespace(
        sessions=llm_arm.sessions,
        n=world.n,
        name=world.name,
        columns=world.columns,
        attributes=world.attributes,
        category_labels=world.category_labels,
    )
    policy, fitted = distill(view)
    pol_arm = Arm("policy", {"policy": policy.text()}, BY_POLICY)
    for r in range(replicates):
        await _replicate(world, config, pol_arm, r, message, max_ticks)
        if progress is not None:
            progress(pol_arm.name, r + 1)
    ref_counts = _counts_of(reference)
    out: dict[str, object] = {
        "world": world.name,
        "agents": world.n,
        "message": message.text,
        "replicates": replicates,
        "model": config.model,
        "arms": {
            a.name: {**a.report(), "decisions": len(_arm_decisions(world, a))} for a in (llm_arm, arch_arm, pol_arm)
        },
        "divergence": {
            a.name: divergence(ref_counts, _counts_of(_arm_decisions(world, a))) for a in (arch_arm, pol_arm)
        },
        "agreement": {
            "archetypes": _agreement_of_archetypes(world, arch_arm, reference),
            "policy": {"agreement": fitted["holdout"]["agreement"], "decisions": fitted["holdout"]["decisions"]},
            "commonest": {
                "action": fitted["holdout"]["commonest_action"],
                "agreement": fitted["holdout"]["commonest_agreement"],
            },
        },
        "cascade_ks": {a.name: _ks(llm_arm.sizes, a.sizes) for a in (arch_arm, pol_arm)},
    }
    return out
