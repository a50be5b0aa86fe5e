"""RIS's RR sets and greedy coverage against exact references on tiny graphs: the share of sets holding each
agent, and each pair of agents, is what enumerating every live-edge graph gives (ic with few and many live
edges, trust-weighted or not; lt uniform and by trust), and greedy coverage is a plain greedy's."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from plugins.ris import RRSampler, RRSets, max_coverage
from sim.core.graph import Graph

#: Edge u v means v follows u (what u shares can reach v): a cycle 0 -> 1 -> 2 -> 0 and paths into 3, 4, 5.
EDGES = [(0, 1), (1, 2), (2, 0), (0, 3), (3, 4), (1, 4), (4, 5), (2, 5), (5, 3)]
TRUST = [0.2, 0.5, 0.75, 0.7, 0.9, 0.3, 0.6, 0.4, 0.8]
N = 6
SAMPLES = 300_000


def graph() -> Graph:
    src, dst = np.array(EDGES).T
    return Graph.from_edges(N, src, dst, np.array(TRUST))


def reach(live: list[tuple[int, int]]) -> np.ndarray:
    """(N, N) bool: ``[u, r]`` when u reaches r over the live edges."""
    out: dict[int, list[int]] = {v: [] for v in range(N)}
    for u, v in live:
        out[u].append(v)
    r = np.zeros((N, N), dtype=bool)
    for u in range(N):
        seen, todo = {u}, [u]
        while todo:
            for w in out[todo.pop()]:
                if w not in seen:
                    seen.add(w)
                    todo.append(w)
        r[u, list(seen)] = True
    return r


def exact_ic(p: float, trust_weighted: bool) -> tuple[np.ndarray, np.ndarray]:
    """The exact share of RR sets holding each agent and each pair: the mean over roots r, and over all live-edge
    graphs weighted by their probability, of [u reaches r] and [u and w reach r]."""
    q = [p * t if trust_weighted else p for t in TRUST]
    single, pair = np.zeros(N), np.zeros((N, N))
    for on in itertools.product((False, True), repeat=len(EDGES)):
        weight = float(np.prod([qe if o else 1 - qe for qe, o in zip(q, on, strict=True)]))
        r = reach([e for e, o in zip(EDGES, on, strict=True) if o]).astype(float)
        single += weight * r.mean(axis=1)
        pair += weight * (r @ r.T) / N
    return single, pair


def exact_lt(by_trust: bool) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`exact_ic` for lt's live-edge graphs: each agent keeps one in-edge with probability its weight
    (1 / in-degree, or trust / total in-trust)."""
    options = []
    for v in range(N):
        ins = [(i, u) for i, (u, w) in enumerate(EDGES) if w == v]
        total = sum(TRUST[i] for i, _ in ins)
        options.append([(u, TRUST[i] / total if by_trust else 1 / len(ins)) for i, u in ins])
    single, pair = np.zeros(N), np.zeros((N, N))
    for pick in itertools.product(*options):
        weight = float(np.prod([w for _, w in pick]))
        r = reach([(u, v) for v, (u, _) in enumerate(pick)]).astype(float)
        single += weight * r.mean(axis=1)
        pair += weight * (r @ r.T) / N
    return single, pair


def sampled(model: str, params: dict, seed: int = 7) -> tuple[np.ndarray, np.ndarray, RRSets]:
    """The shares of SAMPLES RR sets drawn by RRSampler holding each agent and each pair."""
    rr = RRSets(N)
    RRSampler(graph(), model, params, np.random.default_rng(seed)).draw(SAMPLES, rr)
    indptr, nodes = rr.csr()
    m = indptr.size - 1
    member = np.zeros((m, N))
    member[np.repeat(np.arange(m), np.diff(indptr)), nodes] = 1
    pair = member.T @ member  # sets of one agent hold no pair; the diagonal is made from covers below
    np.fill_diagonal(pair, rr.covers)
    return rr.covers / rr.count, pair / rr.count, rr


@pytest.mark.parametrize(
    "params",
    [
        {"p": 0.2},  # geometric gaps between live edges
        {"p": 0.6},  # one uniform number per in-edge
        {"p": 0.2, "trust_weighted": True},  # gaps at p times the most trust, then thinned by trust
        {"p": 0.9, "trust_weighted": True},
    ],
    ids=["sparse", "dense", "sparse-trust", "dense-trust"],
)
def test_ic_rr_sets_hold_each_agent_and_pair_as_often_as_exact_reachability(params):
    single, pair = exact_ic(params["p"], bool(params.get("trust_weighted")))
    got_single, got_pair, rr = sampled("ic", params)
    assert rr.count == SAMPLES
    assert np.abs(got_single - single).max() < 0.005, (got_single, single)
    assert np.abs(got_pair - pair).max() < 0.005, (got_pair, pair)


@pytest.mark.parametrize("weights", ["uniform", "trust"])
def test_lt_rr_sets_hold_each_agent_and_pair_as_often_as_exact_reachability(weights):
    single, pair = exact_lt(weights == "trust")
    got_single, got_pair, _ = sampled("lt", {"weights": weights})
    assert np.abs(got_single - single).max() < 0.005, (got_single, single)
    assert np.abs(got_pair - pair).max() < 0.005, (got_pair, pair)


class FewGaps:
    """A generator that hands out at most three geometric gaps a call, so that the Bernoulli draw must ask
    again (the branch a normal draw almost never takes)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def geometric(self, p: float, size: int) -> np.ndarray:
        return self.rng.geometric(p, size=min(size, 3))


@pytest.mark.parametrize("few", [False, True])
def test_bernoulli_positions_are_independent_trials(few):
    rng = np.random.default_rng(3)
    sampler = RRSampler(graph(), "ic", {"p": 0.1}, rng)
    if few:
        sampler.rng = FewGaps(rng)  # type: ignore[assignment]
    total, p, draws = 40, 0.1, 40_000
    hits = np.zeros((draws, total), dtype=bool)
    for i in range(draws):
        at = sampler._bernoulli(total, p)
        assert np.all(np.diff(at) > 0) and (at.size == 0 or (at[0] >= 0 and at[-1] < total))
        hits[i, at] = True
    assert np.abs(hits.mean(axis=0) - p).max() < 0.01
    # Independent: the count of successes has the binomial's variance, neighbours are uncorrelated.
    assert abs(hits.sum(axis=1).var() - total * p * (1 - p)) < 0.15 * total * p * (1 - p)
    assert abs((hits[:, 1:] & hits[:, :-1]).mean() - p * p) < 0.004


def greedy_reference(sets: list[set[int]], n: int, k: int) -> tuple[list[int], float]:
    """Plain greedy maximum coverage (the lowest agent among ties)."""
    left, chosen = [set(s) for s in sets], []
    covered = 0
    for _ in range(k):
        gain = [sum(v in s for s in left) if v not in chosen else -1 for v in range(n)]
        v = int(np.argmax(gain))
        chosen.append(v)
        covered += gain[v]
        left = [s for s in left if v not in s]
    return chosen, covered / len(sets)


def rr_of(sets: list[set[int]], n: int) -> RRSets:
    rr = RRSets(n)
    sizes = np.array([len(s) for s in sets])
    nodes = np.array([v for s in sets for v in sorted(s)], dtype=np.int32)
    rr.add(len(sets), np.empty(0, dtype=np.int64), sizes, nodes)
    return rr


@pytest.mark.parametrize("k", [1, 3, 10, 30])
def test_max_coverage_is_the_plain_greedy(k):
    rng = np.random.default_rng(k)
    n = 40
    # Skewed agents, so that some hold many sets; sizes 1 to 5.
    weights = rng.pareto(1.0, n) + 0.05
    weights /= weights.sum()
    sets = [set(rng.choice(n, size=int(rng.integers(1, 6)), replace=False, p=weights).tolist()) for _ in range(3000)]
    chosen, share = max_coverage(rr_of(sets, n), k)
    ref, ref_share = greedy_reference(sets, n, k)
    assert chosen.tolist() == ref and share == pytest.approx(ref_share)


def test_max_coverage_widens_its_index_for_an_agent_outside_it():
    # Agent 0 and agents 1..8 share ten sets: they hold the most sets, and are the index of k = 2 (4k = 8 agents
    # and ties). Once 0 is chosen, agent 9 (five sets of its own with agent 10) is best though outside it.
    sets = [set(range(9)) for _ in range(10)] + [{9, 10} for _ in range(5)] + [{10}]
    chosen, share = max_coverage(rr_of(sets, 12), 2)
    assert chosen.tolist() == greedy_reference(sets, 12, 2)[0] == [0, 10]
    assert share == pytest.approx(16 / 16)
    chosen, share = max_coverage(rr_of(sets[:15] + [{11}], 12), 3)
    assert chosen.tolist() == [0, 9, 11] and share == pytest.approx(1.0)
