"""The opinion models of ``plugins/opinion_catalogue.py`` (NLS, Altafini, Friedkin-Johnsen, voter with zealots,
algorithmic bias with media, ARWHK) against their written semantics.

Evidence, per model:

1. coupled randomness: the fast model and a slow per-agent reference written below from the model's
   docstring (plain Python loops: over agents for the synchronous rules, over the N updates of a tick
   for the sequential ones) get the same pre-drawn numbers and must produce the *identical* opinions
   (``np.array_equal``) and states, round by round. The sequential references apply one update after
   another; the models apply batches at once, so equality is the test of the batching. The one place the
   two compute differently is the biased pick of algorithmic bias (the reference uses the raw weights
   ``d ** -gamma`` and a running sum per agent, the model weights relative to the closest candidate and a
   cumulative sum over a window): they could differ only for a number within about 1e-9 of a boundary
   between two candidates, which these seeded draws do not produce;
2. closed forms: Friedkin-Johnsen's equilibrium is the solution of a linear system; Altafini's bipartite
   consensus on a structurally balanced mutual graph, its conserved weighted sum, and its decay to 0
   without balance; the zealots' stationary share ``Z1 / (Z1 + Z0)`` on a complete graph; NLS on a
   complete graph (the majority wins in one round); media alone pull every agent as
   ``(1 - mu) ** visits``; ARWHK with weightless follows iterates a fixed map; the pair rule keeps the sum
   of the opinions;
3. the batching helper against a one-update-at-a-time greedy cut, bad parameters, frozen agents and the
   conformance checker (slow).
"""

from __future__ import annotations

import math
from contextlib import contextmanager, nullcontext
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from model_reference import RefGraph, directed_world

from plugins.opinion_catalogue import _Sweep
from sim.authoring import check_plugin
from sim.core.world import Status, build_world
from sim.errors import BadParameterError
from sim.model.context import StepContext
from sim.model.registry import Registry
from sim.model.session import PropagationSession

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = Registry(entry_points=False, env=False)
MIN_DISTANCE = 1e-5
CONTINUOUS = ("altafini", "friedkin-johnsen", "algorithmic-bias-media", "arwhk")
BINARY = ("nls", "voter-zealots")


# -- harness -----------------------------------------------------------------------------------------


class Draws:
    """Pre-drawn uniform numbers: one row of ``n`` numbers per (start or round, call number), each from its
    own stream, indexed by the listed agents (or update slots)."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n, self.seed = n, seed
        self._rows: dict[tuple, np.ndarray] = {}

    def row(self, start: bool, r: int, k: int) -> np.ndarray:
        key = (start, r, k)
        if key not in self._rows:
            self._rows[key] = np.random.default_rng([self.seed, start, r, k]).random(self.n)
        return self._rows[key]

    def agent(self, r: int, v: int, k: int = 0) -> float:
        """Round ``r``'s ``k``-th ``random_agents`` number of agent (or slot) ``v``."""
        return float(self.row(False, r, k)[v])

    def start(self, v: int, k: int = 0) -> float:
        return float(self.row(True, 0, k)[v])


@contextmanager
def coupled(draws: Draws):
    """Every StepContext draws from ``draws``: the k-th ``random_agents`` call of a round (or of the start)
    reads row k at the listed items."""
    calls: dict[tuple, int] = {}

    def take(ctx, items):
        key = (bool(ctx.starting), ctx.round)
        k = calls.get(key, 0)
        calls[key] = k + 1
        return draws.row(bool(ctx.starting), ctx.round, k)[np.asarray(items, dtype=np.int64)]

    with mock.patch.object(StepContext, "random_agents", lambda ctx, a: take(ctx, a)):
        yield calls


class Run:
    """A session run round by round: the opinions (continuous models) and states after the start and
    after every round."""

    def __init__(self, session: PropagationSession) -> None:
        self.session = session
        self.x: list[np.ndarray] = []
        self.states: list[np.ndarray] = []


def run_model(world, name, params=None, seeds=(0,), *, draws=None, max_rounds=50, seed=0) -> Run:
    model = REGISTRY.model(name)(**(params or {}))
    ids = ",".join(str(int(s)) for s in seeds)
    s = PropagationSession(id=1, message_id=1, model_name=name, params=model.p, seeds=f"ids:{ids}", seed=seed)
    out = Run(s)

    def record() -> None:
        if "opinion" in s.variables:
            out.x.append(s.variables["opinion"].copy())
        out.states.append(s.state.copy())

    with coupled(draws) if draws is not None else nullcontext():
        s.start(world, model, 0)
        record()
        while s.status == "running" and s.round < max_rounds:
            s.advance(world, s.round + 1)
            assert s.status in ("running", "completed"), s.traceback
            record()
    return out


def tiny_world(n, edges, trust=None, community=None, seed=0):
    src = np.array([a for a, _ in edges], dtype=np.int32)
    dst = np.array([b for _, b in edges], dtype=np.int32)
    t = None if trust is None else np.asarray(trust, dtype=np.float32)
    c = None if community is None else np.asarray(community, dtype=np.int32)
    return build_world("tiny", seed, n, src, dst, trust=t, community=c)


def complete_world(n, seed=0):
    a, b = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    keep = a != b
    return build_world("complete", seed, n, a[keep].astype(np.int32), b[keep].astype(np.int32))


def mutual_world(n, mean, seed, trust_of=None, community=None):
    """A connected graph whose follows all go both ways: a ring plus random chords (``trust_of(u, v)``
    gives an edge's trust, the same both ways)."""
    rng = np.random.default_rng(seed)
    pairs = {(i, (i + 1) % n) for i in range(n)}
    while len(pairs) < n * mean / 2:
        a, b = (int(v) for v in rng.integers(0, n, 2))
        if a != b and (b, a) not in pairs:
            pairs.add((a, b))
    edges = sorted({e for a, b in pairs for e in ((a, b), (b, a))})
    trust = None if trust_of is None else [trust_of(a, b) for a, b in edges]
    return tiny_world(n, edges, trust=trust, community=community, seed=seed)


@pytest.fixture(scope="module")
def directed():
    """300 agents following about 5 random others each (5 % follow nobody), in 4 communities; trust drawn by
    the world."""
    base = directed_world(300, 5.0, seed=29, nobody=0.05)
    g = base.graph
    src = np.repeat(np.arange(g.n), np.diff(g.out_indptr)).astype(np.int32)
    community = np.arange(300) % 4
    return build_world("directed", 29, 300, src, g.out_indices, trust=g.trust, community=community)


@pytest.fixture(scope="module")
def ref(directed):
    return RefGraph.from_world(directed)


SEEDS = tuple(range(0, 300, 7))


def frozen_mask(n: int, world) -> list[bool]:
    return [bool(v) for v in np.isin(world.columns["status"], (Status.SUSPENDED, Status.DEACTIVATED))][:n]


# -- slow references, written from the docstrings ----------------------------------------------------


def nls_round(g: RefGraph, state, *, alpha=2.0, radius=1, threshold=0.0, strength="uniform", law="sum"):
    n = g.n
    s = g.influence if strength == "influence" else [1.0] * n
    decay = [0.0] + [float(d) ** -alpha for d in range(1, radius + 1)]
    new = list(state)
    for i in range(n):
        seen, frontier, sources = {i}, [i], []
        for d in range(1, radius + 1):
            level = sorted({u for v in frontier for u, _, _ in g.inn[v] if u not in seen})
            seen.update(level)
            sources += [(u, d) for u in level]
            frontier = level
        same = other = 0.0
        n_same = n_other = 0
        for u, d in sources:
            w = s[u] * decay[d]
            if state[u] == state[i]:
                same += w
                n_same += 1
            else:
                other += w
                n_other += 1
        if law == "sqrt":
            same = same / math.sqrt(n_same) if n_same else 0.0
            other = other / math.sqrt(n_other) if n_other else 0.0
        if other - same > threshold:
            new[i] = 1 - state[i]
    return new


def voter_zealots_round(g: RefGraph, state, zealots: set, draws: Draws, r: int, schedule: str):
    n = g.n
    if schedule == "parallel":
        new = list(state)
        for v in range(n):
            k = len(g.inn[v])
            if k:
                j = g.inn[v][min(int(draws.agent(r, v) * k), k - 1)][0]
                if v not in zealots:
                    new[v] = state[j]
        return new, {}
    s, last = list(state), {}
    for slot in range(n):
        i = min(int(draws.agent(r, slot, 0) * n), n - 1)
        k = len(g.inn[i])
        if k == 0 or i in zealots:
            continue
        j = g.inn[i][min(int(draws.agent(r, slot, 1) * k), k - 1)][0]
        s[i] = s[j]
        last[i] = j
    return s, last


def altafini_weight(g: RefGraph, community, signs, i, j, t):
    if signs == "trust":
        return 2.0 * t - 1.0
    if signs == "positive":
        return 1.0
    ci, cj = community[i], community[j]
    if signs == "factions":
        ci, cj = ci % 2, cj % 2
    return 1.0 if ci == cj else -1.0


def altafini_round(g: RefGraph, x, community, *, signs="factions", h=0.5, **_):
    new = list(x)
    y = [2.0 * v - 1.0 for v in x]
    for i in range(g.n):
        total = c = 0.0
        for j, t, _e in g.inn[i]:
            a = altafini_weight(g, community, signs, i, j, t)
            total += a * y[j]
            c += abs(a)
        if c > 0:
            new[i] = ((1.0 - h) * y[i] + h * (total / c) + 1.0) / 2.0
    return new


def fj_round(g: RefGraph, x, u, *, stubbornness=0.1, stubbornness_from="parameter", weights="uniform", **_):
    new = []
    for i in range(g.n):
        total = norm = 0.0
        for j, t, _e in g.inn[i]:
            if weights == "trust":
                total += t * x[j]
                norm += t
            else:
                total += x[j]
        if weights == "uniform":
            norm = float(len(g.inn[i]))
        mean = total / norm if norm > 0 else x[i]
        theta = 1.0 - min(max(g.susceptibility[i], 0.0), 1.0) if stubbornness_from == "susceptibility" else stubbornness
        new.append((1.0 - theta) * mean + theta * u[i])
    return new


def biased_pick(distances, u, gamma):
    """The first candidate whose running sum of ``max(d, 1e-5) ** -gamma`` exceeds ``u`` times the total."""
    k = len(distances)
    if gamma == 0:
        return min(int(u * k), k - 1)
    w = [max(d, MIN_DISTANCE) ** -gamma for d in distances]
    target, run = u * sum(w), 0.0
    for idx, wi in enumerate(w):
        run += wi
        if run > target:
            return idx
    return k - 1


def on_grid(delta):
    """``delta`` rounded half-even to a multiple of 2**-53 (Python's round is half-even)."""
    return round(delta * 2.0**53) / 2.0**53


def hear_medium(xi, u, values, *, epsilon, mu, gamma_media, **_):
    m = values[0] if len(values) == 1 else values[biased_pick([abs(xi - v) for v in values], u, gamma_media)]
    return xi + on_grid(mu * (m - xi)) if abs(xi - m) < epsilon else xi


def abm_round(g: RefGraph, x, draws: Draws, r, *, schedule="sequential", frozen=None, **p):
    n = g.n
    media = [float(v) for v in p["media"].split(",")]
    eps, mu, gamma = p["epsilon"], p["mu"], p["gamma"]
    frozen = frozen or [False] * n
    if schedule == "parallel":
        new = list(x)
        for i in range(n):
            ks = g.inn[i]
            if ks:
                j = ks[biased_pick([abs(x[i] - x[j]) for j, _, _ in ks], draws.agent(r, i, 0), gamma)][0]
                if abs(x[j] - x[i]) < eps:
                    new[i] = x[i] + mu * (x[j] - x[i])
        if p["p"] > 0:
            for i in range(n):
                if draws.agent(r, i, 1) < p["p"]:
                    new[i] = hear_medium(new[i], draws.agent(r, i, 2), media, **p)
        return [x[i] if frozen[i] else new[i] for i in range(n)]
    x = list(x)
    for slot in range(n):
        i = min(int(draws.agent(r, slot, 0) * n), n - 1)
        ks = g.inn[i]
        if frozen[i] or (p["p"] == 0 and not ks):
            continue
        if ks:
            j = ks[biased_pick([abs(x[i] - x[j]) for j, _, _ in ks], draws.agent(r, slot, 1), gamma)][0]
            if abs(x[j] - x[i]) < eps:
                delta = on_grid(mu * (x[j] - x[i]))
                x[i] += delta
                if not frozen[j]:
                    x[j] -= delta
        if p["p"] > 0 and draws.agent(r, slot, 2) < p["p"]:
            x[i] = hear_medium(x[i], draws.agent(r, slot, 3), media, **p)
    return x


def attraction(yi, yj, s):
    if yi >= 0 and yj >= 0:
        if yi > yj:
            return yi - (s / 2.0) * (1.0 - yi)
        if yi < yj:
            return yi + (s / 2.0) * (1.0 - yi)
        return yi
    if yi < 0 and yj < 0:
        if yi > yj:
            return yi + (s / 2.0) * (1.0 + yi)
        if yi < yj:
            return yi - (s / 2.0) * (1.0 + yi)
        return yi
    if yi >= 0:
        return yi - (s / 2.0) * (1.0 - yi) if s > 0 else yi + (s / 2.0) * (1.0 - yi)
    return yi + (s / 2.0) * (1.0 + yi) if s > 0 else yi - (s / 2.0) * (1.0 + yi)


def repulsion(yi, yj, s):
    if yi >= 0 and yj >= 0:
        return yi + (s / 2.0) * (1.0 - yi) if yi > yj else yi - (s / 2.0) * (1.0 - yi)
    if yi < 0 and yj < 0:
        return yi - (s / 2.0) * (1.0 + yi) if yi > yj else yi + (s / 2.0) * (1.0 + yi)
    if yi >= 0:
        return yi + (s / 2.0) * (1.0 - yi) if s > 0 else yi - (s / 2.0) * (1.0 - yi)
    return yi - (s / 2.0) * (1.0 + yi) if s > 0 else yi + (s / 2.0) * (1.0 + yi)


def arwhk_update(xi, xj, w, epsilon, variant):
    """The case table of the ARWHK docstring (NDlib's ``attraction``/``repulsion``), on ``y = 2x - 1``."""
    yi, yj = 2.0 * xi - 1.0, 2.0 * xj - 1.0
    s = yi + w * yj
    close = abs(xi - xj) <= epsilon
    if variant == "base":
        y = (yi + (s / 2.0) * ((1.0 - yi) if yi >= 0 else (1.0 + yi))) if close else yi
    elif variant == "attraction":
        y = attraction(yi, yj, s) if close else yi
    elif variant == "repulsion":
        y = yi if close else repulsion(yi, yj, s)
    else:
        y = attraction(yi, yj, s) if close else repulsion(yi, yj, s)
    return xi if y == yi else min(max((y + 1.0) / 2.0, 0.0), 1.0)


def arwhk_round(g: RefGraph, x, stubborn: set, draws: Draws, r, *, schedule="sequential", **p):
    n = g.n
    eps, variant = p.get("epsilon", 0.2), p.get("variant", "attraction-repulsion")
    if schedule == "parallel":
        new = list(x)
        for i in range(n):
            ks = g.inn[i]
            if ks and i not in stubborn:
                j, t, _ = ks[min(int(draws.agent(r, i) * len(ks)), len(ks) - 1)]
                new[i] = arwhk_update(x[i], x[j], t, eps, variant)
        return new
    x = list(x)
    for slot in range(n):
        i = min(int(draws.agent(r, slot, 0) * n), n - 1)
        ks = g.inn[i]
        if not ks or i in stubborn:
            continue
        j, t, _ = ks[min(int(draws.agent(r, slot, 1) * len(ks)), len(ks) - 1)]
        x[i] = arwhk_update(x[i], x[j], t, eps, variant)
    return x


def stubborn_agents(x0, draws: Draws, perc, option):
    """``weighted-hk``'s stubborn choice: among the extreme candidates, the ones with the smallest numbers."""
    if perc == 0:
        return set()
    y = [2.0 * v - 1.0 for v in x0]
    cand = [i for i, v in enumerate(y) if (v <= -0.8 if option == -1 else v >= 0.8 if option == 1 else abs(v) >= 0.8)]
    k = int(float(len(cand)) * perc)
    order = sorted(cand, key=lambda i: (draws.start(i), i))
    return set(order[:k])


# -- coupled randomness: identical trajectories ------------------------------------------------------


NLS_CASES = [
    {},
    {"radius": 2, "alpha": 1.5},
    {"radius": 3, "alpha": 0.5, "law": "sqrt", "strength": "influence", "threshold": 0.2},
    {"radius": 2, "law": "sqrt", "threshold": 0.05},
]


@pytest.mark.parametrize("params", NLS_CASES, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default")
def test_nls_matches_its_reference_round_by_round(params, directed, ref):
    seeds = tuple(range(0, 300, 2))  # half the agents hold opinion 1
    run = run_model(directed, "nls", params, seeds, max_rounds=12)
    state = run.states[0].tolist()
    for r, after in enumerate(run.states[1:]):
        state = nls_round(ref, state, **params)
        assert after.tolist() == state, f"round {r}"
    assert len(run.states) > 2


@pytest.mark.parametrize("schedule", ["sequential", "parallel"])
@pytest.mark.parametrize("params", [{}, {"zealots_0": 0.2}, {"seed_zealots": False, "zealots_0": 0.1}])
def test_voter_zealots_matches_its_reference(schedule, params, directed, ref):
    draws = Draws(300, seed=5)
    params = params | {"schedule": schedule}
    run = run_model(directed, "voter-zealots", params, SEEDS, draws=draws, max_rounds=8)
    s = run.session
    ones = [int(v) for v in run.states[0]]
    zealots = {i for i in range(300) if ones[i] == 1} if params.get("seed_zealots", True) else set()
    share = params.get("zealots_0", 0.0)
    zealots |= {i for i in range(300) if ones[i] == 0 and share > 0 and draws.start(i) < share}
    assert set(s.store["zealots"].tolist()) == zealots
    state = ones
    for r, after in enumerate(run.states[1:]):
        state, last = voter_zealots_round(ref, state, zealots, draws, r, schedule)
        assert after.tolist() == state, f"round {r}"
        if schedule == "sequential":  # the source of a first adoption: the followee copied last
            first = np.flatnonzero(s.adopted_at == s.started_tick + r + 1)
            assert all(s.adopted_from[v] == last[v] for v in first)
    assert all(run.states[-1][z] == run.states[0][z] for z in zealots)


@pytest.mark.parametrize(
    "params",
    [{}, {"signs": "communities"}, {"signs": "trust", "h": 0.8}, {"signs": "positive", "h": 1.0}],
    ids=lambda p: p.get("signs", "factions"),
)
def test_altafini_matches_its_reference(params, directed, ref):
    run = run_model(directed, "altafini", params | {"tolerance": 0.0}, SEEDS, max_rounds=15)
    community = directed.columns["community"].tolist()
    x = run.x[0].tolist()
    for r, after in enumerate(run.x[1:]):
        x = altafini_round(ref, x, community, **params)
        assert np.array_equal(after, x), f"round {r}"
        assert np.array_equal(run.states[r + 1], (np.array(x) >= 0.5).astype(np.int8))
    assert len(run.x) == 16


@pytest.mark.parametrize(
    "params",
    [{}, {"weights": "trust", "stubbornness": 0.4}, {"stubbornness_from": "susceptibility"}],
    ids=lambda p: ",".join(p.values()) if all(isinstance(v, str) for v in p.values()) else str(p),
)
def test_friedkin_johnsen_matches_its_reference(params, directed, ref):
    run = run_model(directed, "friedkin-johnsen", params | {"tolerance": 0.0}, SEEDS, max_rounds=12)
    u = run.x[0].tolist()
    assert np.array_equal(run.session.store["initial"], run.x[0])
    x = u
    for r, after in enumerate(run.x[1:]):
        x = fj_round(ref, x, u, **params)
        assert np.array_equal(after, x), f"round {r}"


ABM_CASES = [
    {},
    {"gamma": 0.0, "p": 0.0},
    {"gamma": 1.6, "p": 0.5, "media": "0.05,0.5,0.95", "gamma_media": 2.0, "mu": 0.3, "epsilon": 0.35},
    {"schedule": "parallel"},
    {"schedule": "parallel", "gamma": 0.7, "p": 0.4, "media": "0.2,0.8", "epsilon": 0.3},
]


@pytest.mark.parametrize("params", ABM_CASES, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default")
def test_algorithmic_bias_media_matches_its_reference(params, directed, ref):
    defaults = {k: v.default for k, v in REGISTRY.model("algorithmic-bias-media").params.items()}
    p = defaults | params
    draws = Draws(300, seed=11)
    run = run_model(directed, "algorithmic-bias-media", params | {"tolerance": 0.0}, SEEDS, draws=draws, max_rounds=5)
    x = run.x[0].tolist()
    for r, after in enumerate(run.x[1:]):
        x = abm_round(ref, x, draws, r, **p)
        assert np.array_equal(after, x), f"round {r}"
    assert len(run.x) == 6


ARWHK_CASES = [
    {},
    {"variant": "base", "epsilon": 0.5},
    {"variant": "attraction", "epsilon": 0.3},
    {"variant": "repulsion", "epsilon": 0.1},
    {"perc_stubborness": 0.5, "option_for_stubbornness": 1},
    {"schedule": "parallel"},
    {"schedule": "parallel", "variant": "base", "perc_stubborness": 1.0},
]


@pytest.mark.parametrize("params", ARWHK_CASES, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default")
def test_arwhk_matches_its_reference(params, directed, ref):
    draws = Draws(300, seed=17)
    run = run_model(directed, "arwhk", params | {"tolerance": 0.0}, SEEDS, draws=draws, max_rounds=6)
    x = run.x[0].tolist()
    stubborn = stubborn_agents(x, draws, params.get("perc_stubborness", 0.0), params.get("option_for_stubbornness", 0))
    assert set(run.session.store["stubborn"].tolist()) == stubborn
    for r, after in enumerate(run.x[1:]):
        x = arwhk_round(ref, x, stubborn, draws, r, **params)
        assert np.array_equal(after, x), f"round {r}"
    assert len(run.x) == 7


# -- closed forms and known results ------------------------------------------------------------------


def test_friedkin_johnsen_converges_to_the_solution_of_its_linear_system(directed, ref):
    """``x* = (I - (I - Theta) W)^-1 Theta u`` for uniform and trust weights, one stubbornness or the
    world's susceptibility column; agents that follow nobody keep ``u`` (``W_ii = 1``)."""
    n = ref.n
    for params in ({"stubbornness": 0.3}, {"weights": "trust", "stubbornness_from": "susceptibility"}):
        run = run_model(directed, "friedkin-johnsen", params | {"tolerance": 1e-14}, SEEDS, max_rounds=2000)
        assert run.session.status == "completed"
        u = run.x[0]
        w = np.zeros((n, n))
        for i in range(n):
            row = ref.inn[i]
            if not row:
                w[i, i] = 1.0
            for j, t, _ in row:
                w[i, j] += t if params.get("weights") == "trust" else 1.0
        w /= w.sum(axis=1, keepdims=True)
        if "stubbornness_from" in params:
            theta = 1.0 - np.clip(directed.columns["susceptibility"].astype(np.float64), 0.0, 1.0)
        else:
            theta = np.full(n, 0.3)
        expected = np.linalg.solve(np.eye(n) - (1.0 - theta)[:, None] * w, theta * u)
        assert np.abs(run.x[-1] - expected).max() < 1e-10


def _balanced_world(n=60, seed=3):
    """A connected mutual graph split in two camps (sigma = +-1): a follow is trusted (1) inside a camp and
    distrusted (0) across, so ``signs=trust`` gives weights +1 and -1, structurally balanced."""
    sigma = np.where(np.random.default_rng(seed).random(n) < 0.4, -1, 1)
    world = mutual_world(n, 6, seed, trust_of=lambda a, b: 1.0 if sigma[a] == sigma[b] else 0.0)
    return world, sigma


def test_altafini_reaches_bipartite_consensus_on_a_structurally_balanced_graph():
    """Altafini (2013), Theorem: structurally balanced and connected, the opinions split into two camps of
    equal size and opposite sign: ``y_i -> sigma_i sum_j c_j sigma_j y_j(0) / sum_j c_j`` (``c_j`` the agent's
    followees, all of weight 1), a sum every round keeps."""
    world, sigma = _balanced_world()
    run = run_model(world, "altafini", {"signs": "trust", "tolerance": 1e-15}, seeds=(5,), max_rounds=5000)
    assert run.session.status == "completed"
    c = np.diff(world.graph.in_indptr).astype(np.float64)
    y = [2.0 * x - 1.0 for x in run.x]
    kept = [float(np.sum(c * sigma * v)) for v in y]
    assert max(abs(k - kept[0]) for k in kept) < 1e-12
    expected = sigma * kept[0] / c.sum()
    assert abs(kept[0]) > 0.1 and np.abs(y[-1] - expected).max() < 1e-9


def test_altafini_without_structural_balance_goes_to_zero():
    """Altafini (2013): connected but not structurally balanced (random signs make negative cycles), every
    opinion goes to 0, ``x = 0.5``."""
    rng = np.random.default_rng(8)
    signs = {}

    def trust_of(a, b):
        key = (min(a, b), max(a, b))
        if key not in signs:
            signs[key] = 1.0 if rng.random() < 0.6 else 0.0
        return signs[key]

    world = mutual_world(50, 6, 8, trust_of=trust_of)
    run = run_model(world, "altafini", {"signs": "trust", "tolerance": 1e-13}, seeds=(5,), max_rounds=5000)
    assert run.session.status == "completed"
    assert np.abs(run.x[-1] - 0.5).max() < 1e-9
    assert np.abs(run.x[0] - 0.5).max() > 0.4


def test_altafini_factions_follow_the_community_parity():
    """``signs=factions`` on communities 0..3: even and odd communities are the two camps."""
    n = 40
    community = np.arange(n) % 4
    world = mutual_world(n, 6, 2, community=community)
    run = run_model(world, "altafini", {"tolerance": 1e-15}, seeds=(5,), max_rounds=5000)
    sigma = np.where(community % 2 == 0, 1, -1)
    y = 2.0 * run.x[-1] - 1.0
    assert run.session.status == "completed"
    assert np.all(np.sign(y) == np.sign(y[0]) * sigma * np.sign(sigma[0]))
    assert np.abs(np.abs(y) - abs(y[0])).max() < 1e-9


def test_voter_zealots_stationary_share_on_a_complete_graph():
    """Mobilia, Petersen & Redner (2007): on a complete graph every voter's stationary expected opinion is
    ``Z1 / (Z1 + Z0)``, whatever the number of voters. The time average of the voters' share over a long
    run (sequential sweeps) agrees within 4.5 standard errors (batch means)."""
    world = complete_world(30)
    run = run_model(world, "voter-zealots", {"zealots_0": 0.12}, seeds=(0, 1, 2), max_rounds=1600, seed=2)
    zealots = set(run.session.store["zealots"].tolist())
    z1 = sum(1 for z in zealots if run.states[0][z] == 1)
    z0 = len(zealots) - z1
    assert z1 == 3 and z0 >= 2
    voters = np.array([i for i in range(30) if i not in zealots])
    share = np.array([s[voters].mean() for s in run.states[100:]])
    batches = share[: share.size // 20 * 20].reshape(20, -1).mean(axis=1)
    se = batches.std(ddof=1) / math.sqrt(batches.size)
    assert abs(share.mean() - z1 / (z1 + z0)) < 4.5 * se
    assert run.session.status == "running"  # zealots of both opinions: it never ends


def test_voter_zealots_of_one_opinion_win_a_connected_graph():
    world = mutual_world(40, 4, 1)
    for schedule in ("sequential", "parallel"):
        run = run_model(world, "voter-zealots", {"schedule": schedule}, seeds=(3,), max_rounds=20000)
        assert run.session.status == "completed" and run.states[-1].min() == 1, schedule


def test_nls_majority_wins_a_complete_graph_in_one_round():
    """Radius 1 on a complete graph, every source at distance 1: a minority of ``k`` agents has ``k - 1``
    supporters against ``N - k`` opponents and flips; the majority stays. Any radius is the same there."""
    world = complete_world(21)
    for params in ({}, {"radius": 3, "alpha": 3.0}, {"law": "sqrt"}):
        run = run_model(world, "nls", params, seeds=tuple(range(8)), max_rounds=10)
        assert run.states[1].max() == 0, params
        assert len(run.states) == 3 and run.session.status == "completed"
    # sqrt law: a minority of k flips when sqrt(N - k) - sqrt(k - 1) > threshold: 8 of 21 (0.96) flip at 0.9,
    # not at 1.0; the 13 of the majority never (sqrt(8) - sqrt(12) < 0).
    assert 0.9 < math.sqrt(13) - math.sqrt(7) < 1.0
    assert run_model(world, "nls", {"law": "sqrt", "threshold": 0.9}, seeds=tuple(range(8))).states[1].max() == 0
    run = run_model(world, "nls", {"law": "sqrt", "threshold": 1.0}, seeds=tuple(range(8)))
    assert run.states[-1].sum() == 8 and len(run.states) == 2


def test_nls_ends_on_a_two_cycle():
    """Two agents that follow only each other, with different opinions: both flip every round for ever; the
    session ends after the round that undoes the one before."""
    world = tiny_world(2, [(0, 1), (1, 0)])
    run = run_model(world, "nls", {}, seeds=(0,), max_rounds=20)
    assert [s.tolist() for s in run.states] == [[1, 0], [0, 1], [1, 0]]
    assert run.session.status == "completed"


def test_algorithmic_bias_media_alone_pulls_every_agent_geometrically():
    """Nobody follows anybody; every update hears the one medium ``m`` (``p = 1``, ``epsilon = 1``): after
    ``c`` visits an agent is at ``m + (1 - mu) ** c (x_0 - m)``, ``c`` counted from the drawn update slots."""
    n = 80
    world = tiny_world(n, [])
    draws = Draws(n, seed=4)
    params = {"p": 1.0, "epsilon": 1.0, "mu": 0.3, "media": "0.7", "tolerance": 0.0}
    run = run_model(world, "algorithmic-bias-media", params, seeds=(0,), draws=draws, max_rounds=4)
    visits = np.zeros(n)
    for r in range(4):
        np.add.at(visits, np.minimum((draws.row(False, r, 0) * n).astype(int), n - 1), 1)
    expected = 0.7 + 0.7**visits * (run.x[0] - 0.7)
    assert np.abs(run.x[-1] - expected).max() < 1e-12  # each move rounded to 2**-53: a few ulps at most


def test_algorithmic_bias_media_pairs_keep_the_sum_of_the_opinions(directed):
    """Without media (``p = 0``) both agents of a close pair move by the same ``delta`` on the 2**-53 grid
    (uniform draws and the seeds' 1.0 lie on it): the sequential schedule keeps the sum of the opinions
    exactly, every tick."""
    run = run_model(directed, "algorithmic-bias-media", {"p": 0.0, "epsilon": 0.4}, SEEDS, max_rounds=10)
    sums = [math.fsum(x.tolist()) for x in run.x]
    assert all(s == sums[0] for s in sums)
    assert not np.array_equal(run.x[0], run.x[-1])


def test_algorithmic_bias_media_in_parallel_without_media_is_algorithmic_bias(directed):
    """``schedule=parallel, p=0`` draws the same numbers as ``algorithmic-bias`` in its synchronous round
    and moves the follower alone: identical opinions."""
    draws = Draws(300, seed=21)
    ab = REGISTRY.model("algorithmic-bias")
    extra = {"schedule": "parallel"} if "schedule" in ab.params else {}
    p = {"epsilon": 0.3, "gamma": 1.2, "tolerance": 0.0}
    ours = run_model(
        directed, "algorithmic-bias-media", p | {"p": 0.0, "schedule": "parallel"}, SEEDS, draws=draws, max_rounds=6
    )
    theirs = run_model(directed, "algorithmic-bias", p | extra, SEEDS, draws=draws, max_rounds=6)
    assert all(np.array_equal(a, b) for a, b in zip(ours.x, theirs.x, strict=True))


def test_arwhk_with_weightless_follows_iterates_a_fixed_map():
    """With every trust 0 (``w = 0``) and ``epsilon = 1`` the base rule is ``y <- y + (y / 2)(1 - |y|)``
    whatever the partner: after ``c`` turns an agent is that map iterated ``c`` times (``c`` from the draws),
    and everybody moves away from 0 toward the end of its own side."""
    n = 50
    world = mutual_world(n, 4, 6, trust_of=lambda a, b: 0.0)
    draws = Draws(n, seed=9)
    run = run_model(
        world, "arwhk", {"variant": "base", "epsilon": 1.0, "tolerance": 0.0}, seeds=(0,), draws=draws, max_rounds=5
    )
    turns = np.zeros(n, dtype=int)
    for r in range(5):
        np.add.at(turns, np.minimum((draws.row(False, r, 0) * n).astype(int), n - 1), 1)
    for i in range(n):
        y = 2.0 * float(run.x[0][i]) - 1.0
        for _ in range(turns[i]):
            y = y + (y / 2.0) * ((1.0 - y) if y >= 0 else (1.0 + y))
        assert abs((y + 1.0) / 2.0 - run.x[-1][i]) < 1e-12
    y0, y5 = 2.0 * run.x[0] - 1.0, 2.0 * run.x[-1] - 1.0
    assert np.all(np.abs(y5) >= np.abs(y0) - 1e-15) and np.all(np.sign(y5) == np.sign(y0))


# -- the batching, parameters, frozen agents ---------------------------------------------------------


def greedy_cut(b, e, writes, reads):
    """One update at a time: the first update of ``[b, e)`` that touches an agent written earlier in it."""
    written: set[int] = set()
    for k in range(b, e):
        touched = {int(a) for o, a in reads if o == k} | {int(a) for o, a in writes if o == k}
        if touched & written:
            return k
        written |= {int(a) for o, a in writes if o == k}
    return e


def test_the_sweep_cuts_where_one_update_at_a_time_first_conflicts():
    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(5, 60))
        m = int(rng.integers(1, 40))
        b = int(rng.integers(0, 10))
        e = b + m
        w_owner = np.repeat(np.arange(b, e), rng.integers(1, 3, m))
        w_agent = rng.integers(0, n, w_owner.size)
        r_owner = np.repeat(np.arange(b, e), rng.integers(0, 5, m))
        r_agent = rng.integers(0, n, r_owner.size)
        sweep = _Sweep(n)
        c = sweep.cut(b, e, writes=[(w_owner, w_agent)], reads=[(r_owner, r_agent)])
        expected = greedy_cut(b, e, list(zip(w_owner, w_agent)), list(zip(r_owner, r_agent)))
        assert c == expected, trial
        assert np.all(sweep.stamp == np.iinfo(np.int32).max)  # left clean for the next window


@pytest.mark.parametrize(
    ("name", "params", "needle"),
    [
        ("algorithmic-bias-media", {"media": "0.5,1.2"}, "media='0.5,1.2' is invalid"),
        ("algorithmic-bias-media", {"media": "x"}, "media='x' is invalid"),
        ("arwhk", {"variant": "both"}, "variant=both is invalid"),
        ("altafini", {"signs": "negative"}, "signs=negative is invalid"),
        ("nls", {"radius": 0}, "radius=0 is invalid"),
        ("voter-zealots", {"schedule": "async"}, "schedule=async is invalid"),
    ],
)
def test_bad_parameters_are_refused_in_one_sentence(name, params, needle):
    with pytest.raises(BadParameterError, match=needle) as err:
        REGISTRY.model(name)(**params)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", CONTINUOUS + BINARY)
def test_frozen_agents_keep_their_opinion(name, directed):
    world = directed.fork()
    frozen = np.array([10, 20, 30, 200, 201])
    world.columns["status"][frozen[:3]] = Status.SUSPENDED
    world.columns["status"][frozen[3:]] = Status.DEACTIVATED
    seeds = tuple(range(0, 300, 2)) if name in BINARY else SEEDS
    params = {"zealots_0": 0.05} if name == "voter-zealots" else {}
    run = run_model(world, name, params, seeds, max_rounds=6)
    for x in run.x:
        assert np.array_equal(x[frozen], run.x[0][frozen]), name
    for st in run.states:
        assert np.array_equal(st[frozen], run.states[0][frozen]), name
    assert not np.array_equal(run.states[-1], run.states[0]) or (run.x and not np.array_equal(run.x[-1], run.x[0]))


def test_the_models_are_registered():
    for name in CONTINUOUS + BINARY:
        cls = REGISTRY.model(name)
        assert cls.states == ("0", "1") and not cls.progressive
        assert ("opinion" in cls.variables) == (name in CONTINUOUS)


@pytest.mark.slow
def test_the_models_pass_the_conformance_checker():
    report = check_plugin(str(ROOT / "plugins" / "opinion_catalogue.py"), agents=20000)
    assert report.ok, report.render()
    assert sorted(report.models) == sorted(CONTINUOUS + BINARY)
