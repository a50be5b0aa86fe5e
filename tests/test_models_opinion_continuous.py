"""The continuous opinion models of ``plugins/opinion_continuous.py`` against their written semantics.

Evidence, per model:

1. coupled randomness: each fast model and a slow per-agent reference written below from the model's
   docstring (plain Python loops over agents and their followees) get the same pre-drawn numbers and
   must produce the *identical* opinion vector (floating-point equality, ``np.array_equal``), the
   states that follow it and the same end round, round by round. Equality is reachable because both
   do the same arithmetic in the same order (sums in ascending followee order, as ``np.bincount``
   adds). The one place they compute differently is algorithmic bias's weighted choice (the reference
   uses the raw weights ``d ** -gamma`` and a per-agent running sum, the model normalised weights and a
   global cumulative sum): there the two could disagree only for a random number within about 1e-9
   of a boundary between two followees, which these seeded draws do not produce;
2. closed forms and known results: HK with ``epsilon >= 1`` on a complete graph reaches consensus at the
   mean of the initial opinions in one round; ``epsilon = 0`` moves nothing; algorithmic bias with
   ``gamma = 0`` is Deffuant and with ``gamma > 0`` picks followees with probabilities proportional to
   distance ** -gamma (a frequency test over 20,000 replicas); the cognitive model without peers follows
   ``x_t = I + (1 - T)^t (x_0 - I)`` and with ``T = 1`` jumps to ``I`` in one round; Deffuant with
   ``epsilon = 0.5`` reaches consensus on a complete graph and ``epsilon = 0.1`` does not (Deffuant et
   al. 2000: about ``1 / (2 epsilon)`` clusters);
3. the contract: parameter validation, the end (``is_done``: a quiet round ends a random model only
   when nobody could still move; inclusive and strict confidence bounds), continuation from a
   snapshot, frozen agents, the world's ``opinion`` column, and ``agora plugins check``.

Randomness: a model may call ``ctx.random_agents`` / ``ctx.random_edges`` several times in a round (and
in ``start``), so the harness below hands out one row of numbers per (start or round, call number) and
indexes it by agent or edge id; the references read the same rows.
"""

from __future__ import annotations

import asyncio
import math
from contextlib import contextmanager, nullcontext
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from model_reference import RefGraph, directed_world

from sim.authoring import check_plugin
from sim.core.world import Status, build_world
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.model.context import StepContext
from sim.model.registry import Registry
from sim.model.series import series_dict
from sim.model.session import PropagationSession
from sim.store.snapshot import load_snapshot, save_snapshot

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = Registry(entry_points=False, env=False)
MODELS = ("deffuant", "hegselmann-krause", "weighted-hk", "algorithmic-bias", "cognitive-opinion")
MIN_DISTANCE = 1e-5  # NDlib's floor on the distance in the algorithmic-bias weights
#: The synchronous schedule, whose rules the references below are written from (the sequential one, the
#: default of every model but HK, has its own oracles in tests/test_schedules.py).
PARALLEL = {"schedule": "parallel"}


# -- harness -----------------------------------------------------------------------------------------


class Draws:
    """Pre-drawn uniform numbers: one row of ``n`` (agents) or ``e`` (edges) numbers per (kind, start
    or round, call number), each from its own stream."""

    def __init__(self, n: int, e: int, seed: int = 0) -> None:
        self.n, self.e, self.seed = n, e, seed
        self._rows: dict[tuple, np.ndarray] = {}

    def row(self, kind: str, start: bool, r: int, k: int) -> np.ndarray:
        key = (kind, start, r, k)
        if key not in self._rows:
            size = self.n if kind == "agent" else self.e
            self._rows[key] = np.random.default_rng([self.seed, kind == "agent", start, r, k]).random(size)
        return self._rows[key]

    def agent(self, r: int, v: int, k: int = 0) -> float:
        """Round ``r``'s ``k``-th ``random_agents`` number of agent ``v``."""
        return float(self.row("agent", False, r, k)[v])

    def edge(self, r: int, e: int, k: int = 0) -> float:
        return float(self.row("edge", False, r, k)[e])

    def start(self, v: int, k: int = 0) -> float:
        """The ``k``-th ``random_agents`` number of agent ``v`` in the model's ``start``."""
        return float(self.row("agent", True, 0, k)[v])


@contextmanager
def coupled(draws: Draws):
    """Make every StepContext draw from ``draws``: the k-th call of a kind in a round (or in start)
    reads row k, indexed by the listed agents or edges."""
    calls: dict[tuple, int] = {}

    def take(ctx, kind, items):
        key = (kind, bool(ctx.starting), ctx.round)
        k = calls.get(key, 0)
        calls[key] = k + 1
        return draws.row(kind, bool(ctx.starting), ctx.round, k)[np.asarray(items, dtype=np.int64)]

    with (
        mock.patch.object(StepContext, "random_agents", lambda ctx, a: take(ctx, "agent", a)),
        mock.patch.object(StepContext, "random_edges", lambda ctx, e: take(ctx, "edge", e)),
    ):
        yield calls


class Run:
    """A session run round by round: the opinions and states after the start and after every round."""

    def __init__(self, session: PropagationSession) -> None:
        self.session = session
        self.x: list[np.ndarray] = []
        self.states: list[np.ndarray] = []

    @property
    def rounds(self) -> int:
        return len(self.x) - 1


def run_model(
    world,
    name: str,
    params: dict | None = None,
    seeds=(0,),
    *,
    draws: Draws | None = None,
    max_rounds: int = 200,
    seed: int = 0,
) -> Run:
    model = REGISTRY.model(name)(**(params or {}))
    ids = ",".join(str(int(s)) for s in seeds)
    s = PropagationSession(id=1, message_id=1, model_name=name, params=model.p, seeds=f"ids:{ids}", seed=seed)
    out = Run(s)
    with coupled(draws) if draws is not None else nullcontext():
        s.start(world, model, 0)
        out.x.append(s.variables["opinion"].copy())
        out.states.append(s.state.copy())
        while s.status == "running" and s.round < max_rounds:
            s.advance(world, s.round + 1)
            assert s.status in ("running", "completed"), s.traceback
            out.x.append(s.variables["opinion"].copy())
            out.states.append(s.state.copy())
    return out


def tiny_world(n: int, edges, trust=None, seed: int = 0):
    src = np.array([a for a, _ in edges], dtype=np.int32)
    dst = np.array([b for _, b in edges], dtype=np.int32)
    t = None if trust is None else np.asarray(trust, dtype=np.float32)
    return build_world("tiny", seed, n, src, dst, trust=t)


def complete_world(n: int, seed: int = 0):
    """Everybody follows everybody else."""
    a, b = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    keep = a != b
    return build_world("complete", seed, n, a[keep].astype(np.int32), b[keep].astype(np.int32))


@pytest.fixture(scope="module")
def directed():
    """1,000 agents following about 6 random others each (5 % follow nobody); trust drawn by the world."""
    return directed_world(1000, 6.0, seed=23, nobody=0.05)


@pytest.fixture(scope="module")
def ref_directed(directed):
    return RefGraph.from_world(directed)


SEEDS = (3, 141, 592, 653)


# -- slow references, written from the docstrings ----------------------------------------------------


def clip(v: float) -> float:
    return min(max(v, 0.0), 1.0)


def largest_move(old: list[float], new: list[float]) -> float:
    return max((abs(a - b) for a, b in zip(old, new)), default=0.0)


class Reference:
    """A slow model: ``round(x, r)`` gives the opinions after round ``r`` (0-based) from ``x``;
    ``frozen(x)`` says whether no agent could move by more than ``tolerance`` any more (stochastic
    models; deterministic ones are done when a round moves nobody by more than ``tolerance``)."""

    deterministic = False

    def __init__(self, g: RefGraph, draws: Draws | None, **params) -> None:
        self.g, self.draws, self.p = g, draws, params
        self.tol = params.get("tolerance", 1e-5)

    def start(self, x: list[float]) -> None:
        pass

    def frozen(self, x: list[float]) -> bool:
        return True

    def trace(self, x0: np.ndarray, rounds: int) -> tuple[list[list[float]], int | None]:
        """The opinions after each of ``rounds`` rounds, and the first round after which the session
        ends (1-based), or None."""
        x = x0.tolist()
        self.start(x)
        out, done = [], None
        for r in range(rounds):
            new = [clip(v) for v in self.round(x, r)]
            if done is None and largest_move(x, new) <= self.tol and (self.deterministic or self.frozen(new)):
                done = r + 1
            out.append(new)
            x = new
        return out, done

    def pick_uniform(self, r: int, i: int):
        """Agent i's followee for round r: position floor(u k) of its ascending row (or None)."""
        fol = self.g.inn[i]
        if not fol:
            return None
        u = self.draws.agent(r, i)
        return fol[min(int(u * len(fol)), len(fol) - 1)]

    def bounded_frozen(self, x: list[float]) -> bool:
        """No follow within epsilon whose follower would move by more than tolerance."""
        eps, mu = self.p["epsilon"], self.p["mu"]
        for i in range(self.g.n):
            for u, _, _ in self.g.inn[i]:
                d = abs(x[u] - x[i])
                if d < eps and mu * d > self.tol:
                    return False
        return True


class DeffuantRef(Reference):
    def round(self, x, r):
        eps, mu = self.p["epsilon"], self.p["mu"]
        new = list(x)
        for i in range(self.g.n):
            pick = self.pick_uniform(r, i)
            if pick is not None and abs(x[pick[0]] - x[i]) < eps:
                new[i] = x[i] + mu * (x[pick[0]] - x[i])
        return new

    frozen = Reference.bounded_frozen


class HKRef(Reference):
    deterministic = True

    def round(self, x, r):
        eps = self.p["epsilon"]
        new = list(x)
        for i in range(self.g.n):
            total, count = 0.0, 0
            for u, _, _ in self.g.inn[i]:
                if abs(x[u] - x[i]) <= eps:
                    total += x[u]
                    count += 1
            new[i] = (x[i] + total) / (count + 1)
        return new


class WeightedHKRef(Reference):
    deterministic = True

    def start(self, x):
        perc = self.p.get("perc_stubborness", 0.0)
        option = self.p.get("option_for_stubbornness", 0)
        self.stubborn = set()
        if perc == 0:
            return
        candidates = []
        for v in range(self.g.n):
            y = 2.0 * x[v] - 1.0
            if (y <= -0.8 and option in (-1, 0)) or (y >= 0.8 and option in (1, 0)):
                candidates.append(v)
        k = int(float(len(candidates)) * perc)
        self.stubborn = set(sorted(candidates, key=lambda v: (self.draws.start(v), v))[:k])

    def round(self, x, r):
        eps = self.p["epsilon"]
        new = list(x)
        for i in range(self.g.n):
            if i in self.stubborn:
                continue
            total, count = 0.0, 0
            for u, trust, _ in self.g.inn[i]:
                if abs(x[u] - x[i]) <= eps:
                    total += trust * (2.0 * x[u] - 1.0)
                    count += 1
            if count == 0:
                continue
            a = total / count
            y = 2.0 * x[i] - 1.0
            y_new = y + a * (1.0 - y) if y >= 0 else y + a * (1.0 + y)
            new[i] = (y_new + 1.0) / 2.0
        return new


class AlgorithmicBiasRef(Reference):
    def round(self, x, r):
        eps, mu, gamma = self.p["epsilon"], self.p["mu"], self.p["gamma"]
        new = list(x)
        for i in range(self.g.n):
            fol = self.g.inn[i]
            if not fol:
                continue
            weights = [max(abs(x[i] - x[u]), MIN_DISTANCE) ** -gamma for u, _, _ in fol]
            target = self.draws.agent(r, i) * sum_in_order(weights)
            pick, running = len(fol) - 1, 0.0
            for k, w in enumerate(weights):
                running += w
                if running > target:
                    pick = k
                    break
            j = fol[pick][0]
            if abs(x[j] - x[i]) < eps:
                new[i] = x[i] + mu * (x[j] - x[i])
        return new

    frozen = Reference.bounded_frozen


def sum_in_order(values) -> float:
    total = 0.0
    for v in values:
        total += v
    return total


class CognitiveRef(Reference):
    def start(self, x):
        p = self.p
        total = p["R_fraction_negative"] + p["R_fraction_neutral"] + p["R_fraction_positive"]
        neg, neu = p["R_fraction_negative"] / total, p["R_fraction_neutral"] / total
        self.R, self.B, self.T = [], [], []
        for v in range(self.g.n):
            u = self.draws.start(v, 0)
            self.R.append(-1 if u < neg else (0 if u < neg + neu else 1))
            self.B.append(p["B_range_min"] + (p["B_range_max"] - p["B_range_min"]) * self.draws.start(v, 1))
            self.T.append(p["T_range_min"] + (p["T_range_max"] - p["T_range_min"]) * self.draws.start(v, 2))

    def modulate(self, o: float, i: int) -> float:
        return 0.5 * (1.0 + o) if self.R[i] == 1 else (0.5 * o if self.R[i] == -1 else o)

    def institution(self, x):
        return [self.modulate(x[i] + self.T[i] * (self.p["I"] - x[i]), i) for i in range(self.g.n)]

    def speaks(self, z: float, b: float) -> float:
        if b == 0:
            return 1.0 if z >= 1.0 else 0.0
        return z ** (1.0 / b)

    def round(self, x, r):
        z = self.institution(x)
        new = list(z)
        for i in range(self.g.n):
            fol = self.g.inn[i]
            if not fol:
                continue
            j, _, e = fol[min(int(self.draws.agent(r, i) * len(fol)), len(fol) - 1)]
            if self.draws.edge(r, e) < self.speaks(z[j], self.B[j]):
                new[i] = self.modulate(z[i] + (1.0 - self.T[i]) * (z[j] - z[i]), i)
        return new

    def frozen(self, x):
        z = [clip(v) for v in self.institution(x)]
        if any(abs(a - b) > self.tol for a, b in zip(z, x)):
            return False
        for i in range(self.g.n):
            for j, _, _ in self.g.inn[i]:
                if self.speaks(z[j], self.B[j]) > 0:
                    heard = clip(self.modulate(z[i] + (1.0 - self.T[i]) * (z[j] - z[i]), i))
                    if abs(heard - x[i]) > self.tol:
                        return False
        return True


COD = {
    "I": 0.3,
    "T_range_min": 0.1,
    "T_range_max": 0.6,
    "B_range_min": 0.2,
    "B_range_max": 1.0,
    "R_fraction_negative": 0.2,
    "R_fraction_neutral": 0.5,
    "R_fraction_positive": 0.3,
}

#: name -> (model, parameters, reference class, rounds at most).
COUPLED_CASES = {
    "deffuant": ("deffuant", {"epsilon": 0.3, "mu": 0.4, "tolerance": 1e-3, **PARALLEL}, DeffuantRef, 40),
    "deffuant-copy": ("deffuant", {"epsilon": 0.15, "mu": 1.0, **PARALLEL}, DeffuantRef, 25),
    "hegselmann-krause": ("hegselmann-krause", {"epsilon": 0.2, "tolerance": 1e-6}, HKRef, 300),
    "weighted-hk": ("weighted-hk", {"epsilon": 0.25, "tolerance": 1e-6, **PARALLEL}, WeightedHKRef, 300),
    "weighted-hk-stubborn": (
        "weighted-hk",
        {"epsilon": 0.4, "perc_stubborness": 0.5, "option_for_stubbornness": 0, "tolerance": 1e-6, **PARALLEL},
        WeightedHKRef,
        300,
    ),
    "weighted-hk-stubborn-low": (
        "weighted-hk",
        {"epsilon": 0.4, "perc_stubborness": 0.7, "option_for_stubbornness": -1, "tolerance": 1e-6, **PARALLEL},
        WeightedHKRef,
        300,
    ),
    "algorithmic-bias": (
        "algorithmic-bias",
        {"epsilon": 0.3, "mu": 0.5, "gamma": 1.5, "tolerance": 1e-3, **PARALLEL},
        AlgorithmicBiasRef,
        40,
    ),
    "algorithmic-bias-gamma-1": (
        "algorithmic-bias",
        {"epsilon": 0.4, "mu": 0.3, "gamma": 1.0, **PARALLEL},
        AlgorithmicBiasRef,
        25,
    ),
    "cognitive-opinion": ("cognitive-opinion", {**COD, "tolerance": 1e-6, **PARALLEL}, CognitiveRef, 30),
    "cognitive-opinion-B0": (
        "cognitive-opinion",
        {**COD, "B_range_min": 0.0, "B_range_max": 0.0, "R_fraction_negative": 0.0, **PARALLEL},
        CognitiveRef,
        20,
    ),
}


@pytest.mark.parametrize("case", list(COUPLED_CASES))
def test_fast_model_matches_its_slow_reference_round_by_round(case, directed, ref_directed):
    """Reference: a slow per-agent oracle (the classes above, written from the model's docstring) fed
    the same random numbers; opinions must be identical (floating-point equality) after every round,
    the states must be the two sides of 0.5 from tick 0 on, and the session must end in the round
    the reference's own end test first holds."""
    name, params, reference, max_rounds = COUPLED_CASES[case]
    draws = Draws(directed.n, directed.num_edges, seed=31)
    fast = run_model(directed, name, params, SEEDS, draws=draws, max_rounds=max_rounds)
    full = {**REGISTRY.model(name)(**params).p}
    ref = reference(ref_directed, draws, **full)
    expected, done = ref.trace(fast.x[0], fast.rounds)
    assert fast.x[0][list(SEEDS)].tolist() == [1.0] * len(SEEDS)
    assert np.array_equal(fast.states[0], (fast.x[0] >= 0.5).astype(np.int8)), "tick 0: states"
    for r in range(fast.rounds):
        got, want = fast.x[r + 1], np.array(expected[r])
        diff = np.flatnonzero(got != want)
        assert diff.size == 0, (
            f"round {r + 1}: opinions differ at agents {diff[:5].tolist()} "
            f"({got[diff[:3]].tolist()} vs {want[diff[:3]].tolist()})"
        )
        assert np.array_equal(fast.states[r + 1], (want >= 0.5).astype(np.int8)), f"round {r + 1}: states"
    s = fast.session
    if s.status == "completed":
        assert done == fast.rounds, f"the model ended after round {fast.rounds}, the reference after {done}"
    else:
        assert done is None and fast.rounds == max_rounds, f"the reference ended after round {done}"
    # reached: the seeds and every agent whose opinion was 0.5 or more at the start or after some round.
    ever = fast.x[0] >= 0.5
    ever[list(SEEDS)] = True
    for x in expected:
        ever |= np.array(x) >= 0.5
    assert s.reached == int(ever.sum())
    # Not a vacuous comparison: opinions moved in several rounds and agents crossed 0.5 both ways.
    moved_rounds = sum(not np.array_equal(fast.x[r], fast.x[r + 1]) for r in range(fast.rounds))
    assert moved_rounds >= min(fast.rounds, 5) and fast.rounds >= 5
    crossed = (fast.states[1] != fast.states[-1]).sum()
    assert crossed > 0 or name == "weighted-hk"
    # All of the model's randomness came through the two hooks: the session's generator is untouched
    # since the start (where the engine drew the initial opinions).
    twin = run_model(directed, name, params, SEEDS, draws=draws, max_rounds=0)
    assert s.rng.bit_generator.state == twin.session.rng.bit_generator.state


def test_a_deterministic_model_draws_no_random_number(directed):
    """HK, and weighted HK in its parallel schedule (the sequential one draws the order of its updates)."""
    draws = Draws(directed.n, directed.num_edges)
    for name, params in (("hegselmann-krause", {}), ("weighted-hk", PARALLEL)):
        with coupled(draws) as calls:
            model = REGISTRY.model(name)(epsilon=0.3, **params)
            s = PropagationSession(id=1, message_id=1, model_name=name, params=model.p, seeds="ids:3", seed=0)
            s.start(directed, model, 0)
            for t in range(3):
                s.advance(directed, t + 1)
        assert calls == {}, name


# -- closed forms and known results ------------------------------------------------------------------


def test_hk_with_epsilon_1_on_a_complete_graph_reaches_the_mean_in_one_round():
    """Reference: Hegselmann & Krause (2002): with everybody in everybody's confidence set, one
    synchronous round brings every agent to the mean of the initial opinions; the next round moves
    nothing (beyond rounding), so the session ends after round 2."""
    world = complete_world(60, seed=4)
    run = run_model(world, "hegselmann-krause", {"epsilon": 1.0}, seeds=(5,))
    x0, x1 = run.x[0], run.x[1]
    assert x0.max() - x0.min() > 0.9
    assert np.abs(x1 - x0.mean()).max() < 1e-12
    assert run.session.status == "completed" and run.rounds == 2
    assert np.all(run.states[1] == (1 if x0.mean() >= 0.5 else 0))


@pytest.mark.parametrize("name", ["deffuant", "hegselmann-krause", "weighted-hk", "algorithmic-bias"])
def test_with_epsilon_0_no_opinion_moves_and_the_session_ends_after_one_round(name, directed):
    """Reference: a confidence bound of 0 admits no other opinion (HK and WHK admit only equal ones,
    which leaves them where they are), so nothing moves and nobody changes side: the agents are on their
    sides of 0.5 from tick 0."""
    run = run_model(directed, name, {"epsilon": 0.0}, SEEDS, draws=Draws(directed.n, directed.num_edges))
    assert run.session.status == "completed" and run.rounds == 1
    assert np.array_equal(run.x[1], run.x[0])
    assert np.array_equal(run.states[1], (run.x[0] >= 0.5).astype(np.int8))
    assert np.array_equal(run.states[0], run.states[1]) and int(run.states[0].sum()) > len(SEEDS)
    assert run.session.reached == int((run.x[0] >= 0.5).sum())


def test_algorithmic_bias_without_bias_is_deffuant(directed):
    """Reference: Sîrbu et al. (2019): with gamma = 0 every followee is equally likely, which is
    Deffuant's rule; with the same numbers the two models give identical trajectories."""
    params = {"epsilon": 0.3, "mu": 0.5, "tolerance": 1e-3}
    a = run_model(directed, "deffuant", params, SEEDS, draws=Draws(directed.n, directed.num_edges, 5), max_rounds=30)
    b = run_model(
        directed,
        "algorithmic-bias",
        {**params, "gamma": 0.0},
        SEEDS,
        draws=Draws(directed.n, directed.num_edges, 5),
        max_rounds=30,
    )
    assert a.rounds == b.rounds == 30
    assert all(np.array_equal(p, q) for p, q in zip(a.x, b.x))


def test_algorithmic_bias_picks_followees_with_the_biased_probabilities():
    """Reference: the selection law P(j) = d_ij^-gamma / sum_k d_ik^-gamma (distance floored at 1e-5),
    checked on one agent following four others, over 20,000 replicas of it in one world (one session):
    each followee's pick frequency within 4.5 standard errors of its probability."""
    opinions = [0.5, 0.52, 0.6, 0.9, 0.5]  # agent 0 follows 1..4; agent 4 holds agent 0's opinion
    copies, k = 20_000, 5
    src = np.tile(np.array([1, 2, 3, 4]), copies) + np.repeat(np.arange(copies) * k, 4)
    dst = np.repeat(np.arange(copies) * k, 4)
    world = build_world("star", 0, copies * k, src, dst)
    world.columns["opinion"] = np.tile(np.array(opinions), copies)
    model = REGISTRY.model("algorithmic-bias")(epsilon=0.0, gamma=0.5, **PARALLEL)
    s = PropagationSession(id=1, message_id=1, model_name="algorithmic-bias", params=model.p, seeds="ids:1", seed=0)
    picked = []

    def spy(x, listeners, heard, epsilon, mu):
        picked.append(np.asarray(heard).copy())
        return x.copy()

    with mock.patch("plugins.opinion_continuous._bounded_move", spy):
        s.start(world, model, 0)
        s.advance(world, 1)
    heard = picked[0] % k  # which of 1..4 each replica's agent 0 heard
    d = np.maximum(np.abs(np.array(opinions[1:]) - 0.5), MIN_DISTANCE)
    prob = d**-0.5 / (d**-0.5).sum()
    for j in range(4):
        share = float(np.mean(heard == j + 1))
        se = math.sqrt(prob[j] * (1 - prob[j]) / copies)
        assert abs(share - prob[j]) < 4.5 * se, (j + 1, share, prob[j])


def test_cognitive_without_peers_follows_the_closed_form():
    """Reference: with B = 0 nobody speaks (z < 1), so each neutral agent only hears the institution:
    x_t = I + (1 - T)^t (x_0 - I), with its own T."""
    world = complete_world(40, seed=2)
    params = {
        "I": 0.8,
        "T_range_min": 0.05,
        "T_range_max": 0.5,
        "B_range_min": 0.0,
        "B_range_max": 0.0,
        "R_fraction_negative": 0.0,
        "R_fraction_neutral": 1.0,
        "R_fraction_positive": 0.0,
    }
    run = run_model(world, "cognitive-opinion", params, seeds=(0,), max_rounds=12)
    t = run.session.store["T"]
    assert np.all(run.session.store["R"] == 0) and t.min() >= 0.05 and t.max() <= 0.5 and t.std() > 0.05
    for r in range(1, 13):
        expected = 0.8 + (1 - t) ** r * (run.x[0] - 0.8)
        # Even seed 0, at 1.0, never speaks: step 1 takes it below 1 before anybody listens.
        assert np.allclose(run.x[r], expected, rtol=0, atol=1e-12), r


def test_cognitive_with_full_trust_in_institutions_jumps_to_I_and_ends():
    """Reference: T = 1 and R = 0: step 1 puts everybody at I and peers are not trusted (1 - T = 0), so
    round 1 ends at consensus on I and round 2, which moves nothing, ends the session."""
    world = complete_world(30)
    params = {
        "I": 0.35,
        "T_range_min": 1.0,
        "T_range_max": 1.0,
        "R_fraction_negative": 0.0,
        "R_fraction_neutral": 1.0,
        "R_fraction_positive": 0.0,
    }
    run = run_model(world, "cognitive-opinion", params, seeds=(0,))
    assert np.abs(run.x[1] - 0.35).max() < 1e-15
    assert run.session.status == "completed" and run.rounds == 2
    assert run.session.reached == int((run.x[0] >= 0.5).sum()) and np.all(run.states[-1] == 0)


def test_cognitive_with_risk_sensitive_agents_runs_on():
    """R = +1 and -1 agents are pulled toward 1 and 0 every time they listen, so the opinions never
    settle: the session is still running at the tick limit (the model declares itself endless)."""
    world = complete_world(50)
    run = run_model(world, "cognitive-opinion", {}, seeds=(0,), max_rounds=60)
    assert run.session.status == "running" and type(run.session.model).endless
    assert np.abs(run.x[-1] - run.x[-2]).max() > 1e-3


@pytest.mark.parametrize("epsilon, consensus", [(0.5, True), (0.1, False)])
def test_deffuant_reaches_consensus_above_one_half_and_clusters_below(epsilon, consensus):
    """Reference: Deffuant et al. (2000): from uniform opinions, a confidence bound of 0.5 or more gives
    consensus; a small one leaves about 1 / (2 epsilon) clusters. On a complete graph of 200 agents,
    run to the model's end (every compatible pair within tolerance / mu)."""
    world = complete_world(200, seed=9)
    run = run_model(
        world,
        "deffuant",
        {"epsilon": epsilon, "mu": 0.5, "tolerance": 1e-4},
        seeds=(0,),
        draws=Draws(200, world.num_edges, 3),
        max_rounds=2000,
    )
    assert run.session.status == "completed"
    x = np.sort(run.x[-1])
    clusters = 1 + int(np.sum(np.diff(x) > 1e-2))
    if consensus:
        assert clusters == 1 and x[-1] - x[0] < 2e-3
    else:
        assert clusters >= 3


def test_deffuant_ends_in_the_round_its_reference_says_on_a_complete_graph():
    """The end (is_done) of a stochastic model, checked against the reference's end test on a run that
    does end: consensus on a complete graph of 30 agents."""
    world = complete_world(30, seed=1)
    draws = Draws(30, world.num_edges, 8)
    params = {"epsilon": 1.0, "mu": 0.5, "tolerance": 1e-6, **PARALLEL}
    run = run_model(world, "deffuant", params, seeds=(0,), draws=draws, max_rounds=500)
    assert run.session.status == "completed"
    expected, done = DeffuantRef(RefGraph.from_world(world), draws, **params).trace(run.x[0], run.rounds)
    assert done == run.rounds and np.array_equal(run.x[-1], np.array(expected[-1]))
    assert run.x[-1].max() - run.x[-1].min() <= 2e-6


@contextmanager
def fixed_draws(per_round: list[float]):
    """Every random_agents number of round r is ``per_round[r]``; every random_edges number is 0."""
    with (
        mock.patch.object(StepContext, "random_agents", lambda ctx, a: np.full(len(a), per_round[ctx.round])),
        mock.patch.object(StepContext, "random_edges", lambda ctx, e: np.zeros(len(e))),
    ):
        yield


#: name -> (parameters, opinions, follows (followee, follower)). Agent 0 is the only one who can move;
#: with the number 0.05 it hears an agent it agrees with already (or cannot hear), with 0.95 the one
#: that moves it.
QUIET_CASES = {
    "deffuant": ({"epsilon": 0.2}, [0.3] + [0.9] * 9 + [0.35], [(j, 0) for j in range(1, 11)]),
    "algorithmic-bias": ({"epsilon": 0.2, "gamma": 1.0}, [0.3] + [0.9] * 9 + [0.35], [(j, 0) for j in range(1, 11)]),
    "cognitive-opinion": (
        {
            "T_range_min": 0.0,
            "T_range_max": 0.0,
            "B_range_min": 1.0,
            "B_range_max": 1.0,
            "R_fraction_negative": 0.0,
            "R_fraction_positive": 0.0,
        },
        [0.2, 0.2, 0.8, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
        [(1, 0), (2, 0)],
    ),
}


@pytest.mark.parametrize("name", list(QUIET_CASES))
def test_a_quiet_round_does_not_end_a_random_model_that_can_still_move(name):
    """A round in which nothing moved ends a random model only when no pick could move anybody: here
    round 1 hears an agreeing followee, but a disagreeing one within reach is left, so the session
    goes on and round 2 moves agent 0."""
    params, opinions, follows = QUIET_CASES[name]
    world = tiny_world(len(opinions), follows)
    world.columns["opinion"] = np.array(opinions)
    with fixed_draws([0.05, 0.95, 0.95, 0.95]):
        run = run_model(world, name, {**params, **PARALLEL}, seeds=(5,), max_rounds=3)
    assert np.array_equal(run.x[1], run.x[0])  # round 1 moved nothing ...
    assert run.rounds == 3 and run.session.status == "running"  # ... and did not end the session
    assert run.x[2][0] != run.x[0][0]


@pytest.mark.parametrize(
    "name, moves",
    [("hegselmann-krause", True), ("weighted-hk", True), ("deffuant", False), ("algorithmic-bias", False)],
)
def test_the_confidence_bound_is_inclusive_for_hk_and_strict_for_deffuant(name, moves):
    """At a distance of exactly epsilon (0.25 and 0.75, epsilon 0.5, all exact in binary): HK and WHK
    (the paper's "differ at most epsilon") listen; Deffuant and algorithmic bias ("closer than") do not."""
    world = tiny_world(3, [(1, 0), (0, 1)], trust=[1.0, 1.0])
    world.columns["opinion"] = np.array([0.25, 0.75, 0.5])
    run = run_model(world, name, {"epsilon": 0.5}, seeds=(2,), max_rounds=1)
    assert (run.x[1][0] != 0.25) == moves and (run.x[1][1] != 0.75) == moves


def test_weighted_hk_polarises_toward_the_ends():
    """With full trust and a wide bound, positive agents (y >= 0) follow a = mean of their followees' y
    toward 1 and negative ones toward -1: the opinions end near 0 and 1."""
    rng = np.random.default_rng(0)
    n = 400
    dst = np.repeat(np.arange(n), 8)
    src = rng.integers(0, n, dst.size)
    keep = src != dst
    world = build_world("w", 0, n, src[keep], dst[keep], trust=np.ones(int(keep.sum())))
    run = run_model(world, "weighted-hk", {"epsilon": 0.3, "tolerance": 1e-9}, seeds=(0,))
    assert run.session.status == "completed"
    x = run.x[-1]
    assert np.mean((x < 0.01) | (x > 0.99)) > 0.9


# -- the contract ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, params, needle",
    [
        ("deffuant", {"epsilon": 1.5}, "epsilon"),
        ("deffuant", {"mu": -0.1}, "mu"),
        ("hegselmann-krause", {"epsilon": "wide"}, "epsilon"),
        ("hegselmann-krause", {"tolerance": -1}, "tolerance"),
        ("weighted-hk", {"option_for_stubbornness": 2}, "option_for_stubbornness"),
        ("weighted-hk", {"perc_stubborness": 1.2}, "perc_stubborness"),
        ("algorithmic-bias", {"gamma": 101}, "gamma"),
        ("algorithmic-bias", {"bias": 1}, "bias"),
        ("cognitive-opinion", {"I": 2}, "I"),
        ("cognitive-opinion", {"T_range_min": 0.8, "T_range_max": 0.2}, "T_range_min"),
        ("cognitive-opinion", {"B_range_min": 0.5, "B_range_max": 0.4}, "B_range_min"),
        (
            "cognitive-opinion",
            {"R_fraction_negative": 0, "R_fraction_neutral": 0, "R_fraction_positive": 0},
            "R_fraction",
        ),
    ],
)
def test_bad_parameters_are_refused_naming_them(name, params, needle):
    with pytest.raises(BadParameterError, match=needle):
        REGISTRY.model(name)(**params)


def test_the_models_are_registered_with_their_defaults_and_states():
    for name in MODELS:
        info = REGISTRY.entries[name]
        assert info.source == "builtin" and info.kind == "model" and info.error is None
        cls = info.cls
        model = cls()
        assert set(cls.schema()) == set(cls.params) and "tolerance" in model.p
        assert cls.states == ("0", "1") and cls.adopted_states == (1,) and cls.seed_state == 1
        assert cls.transmitting_states == () and not cls.progressive
        assert list(cls.variables) == ["opinion"] and cls.variables["opinion"].seed_value == 1.0
    assert REGISTRY.model("weighted-hk")(perc_stubborness="0.25").p["perc_stubborness"] == 0.25
    # R fractions are normalised, as NDlib does.
    assert (
        REGISTRY.model("cognitive-opinion")(
            R_fraction_negative=2 / 3, R_fraction_neutral=0.0, R_fraction_positive=2 / 3
        ).p["R_fraction_positive"]
        == 2 / 3
    )


def test_cognitive_traits_follow_the_fractions_and_ranges(directed):
    params = {
        "R_fraction_negative": 0.2,
        "R_fraction_neutral": 0.4,
        "R_fraction_positive": 0.2,  # normalised: 1/4, 1/2, 1/4
        "T_range_min": 0.2,
        "T_range_max": 0.3,
        "B_range_min": 0.6,
        "B_range_max": 0.6,
    }
    run = run_model(directed, "cognitive-opinion", params, SEEDS, max_rounds=1)
    store = run.session.store
    r = store["R"]
    assert r.dtype == np.int8 and set(np.unique(r).tolist()) == {-1, 0, 1}
    shares = [float(np.mean(r == v)) for v in (-1, 0, 1)]
    assert abs(shares[0] - 0.25) < 0.05 and abs(shares[1] - 0.5) < 0.05 and abs(shares[2] - 0.25) < 0.05
    assert store["T"].min() >= 0.2 and store["T"].max() <= 0.3 and np.all(store["B"] == 0.6)


def test_the_world_opinion_column_is_the_start_and_seeds_start_at_1():
    world = complete_world(20)
    world.columns["opinion"] = np.linspace(-0.5, 1.5, 20)
    run = run_model(world, "hegselmann-krause", {"epsilon": 0.0}, seeds=(4,), max_rounds=1)
    expected = np.clip(np.linspace(-0.5, 1.5, 20), 0.0, 1.0)
    expected[4] = 1.0
    assert np.array_equal(run.x[0], expected)


def test_frozen_agents_keep_their_opinion(directed):
    """Suspended and deactivated agents change neither state nor opinion (the models answer opinions as
    (agents, values), which the engine filters like states)."""
    world = directed.fork()
    status = world.columns["status"]
    frozen = np.array([10, 20, 30, 400, 401])
    status[frozen[:3]] = Status.SUSPENDED
    status[frozen[3:]] = Status.DEACTIVATED
    for name in MODELS:
        run = run_model(world, name, {}, SEEDS, max_rounds=6)
        assert all(np.array_equal(x[frozen], run.x[0][frozen]) for x in run.x), name
        assert all(np.array_equal(st[frozen], run.states[0][frozen]) for st in run.states), name
        assert not np.array_equal(run.x[-1], run.x[0]), name


@pytest.mark.parametrize("name", ["hegselmann-krause", "deffuant", "cognitive-opinion"])
def test_a_frozen_agent_does_not_keep_a_session_from_ending(name):
    """A suspended agent that follows an agent it agrees with would move toward it every round if it
    could; the engine keeps it, and the model leaves it out of its moves, so its proposals do not keep
    the session from ending once everybody else has settled."""
    follows = [(a, b) for a in range(6) for b in range(6) if a != b] + [(8, 7)]
    world = tiny_world(9, follows)
    world.columns["opinion"] = np.array([0.1, 0.2, 0.3, 0.35, 0.25, 0.15, 0.5, 0.4, 0.45])
    world.columns["status"][7] = Status.SUSPENDED
    params = {"tolerance": 1e-6} if name == "cognitive-opinion" else {"epsilon": 0.5, "tolerance": 1e-6}
    if name == "cognitive-opinion":  # neutral agents: everybody settles on I
        params |= {
            "I": 0.3,
            "T_range_min": 0.5,
            "T_range_max": 0.5,
            "B_range_min": 1.0,
            "B_range_max": 1.0,
            "R_fraction_negative": 0.0,
            "R_fraction_positive": 0.0,
        }
    if name != "hegselmann-krause":  # the fixed numbers would pick one pair over and over in a sequential sweep
        params |= PARALLEL
    with fixed_draws([0.5] * 2000):
        run = run_model(world, name, params, seeds=(6,), max_rounds=2000)
    assert run.session.status == "completed"
    assert all(x[7] == 0.4 for x in run.x)
    assert run.x[-1][:6].max() - run.x[-1][:6].min() < 1e-5


def _simulate(world, name, params, ticks):
    sim = Simulation(world, registry=REGISTRY, plugin_budget=0)
    s = sim.inject("m", model=name, params=params, seeds="random:8", seed=4)
    asyncio.run(sim.run(ticks=ticks))
    return sim, s


SNAPSHOT_PARAMS = {
    "deffuant": {"epsilon": 0.3},
    "hegselmann-krause": {"epsilon": 0.15, "tolerance": 1e-12},
    "weighted-hk": {"epsilon": 0.3, "perc_stubborness": 0.5, "tolerance": 1e-12},
    "algorithmic-bias": {"epsilon": 0.3, "gamma": 1.3},
    "cognitive-opinion": {},
}


@pytest.mark.parametrize("name", MODELS)
def test_a_snapshot_mid_run_continues_exactly(name, directed, tmp_path):
    """The opinions, the traits and stubborn agents (ctx.store) and the series are saved with the session;
    reloaded mid-run (the model made again, start not called) the run goes on exactly as without it."""
    params = SNAPSHOT_PARAMS[name]
    _, whole = _simulate(directed.fork(), name, params, 14)
    half_world = directed.fork()
    _simulate(half_world, name, params, 6)
    path = str(tmp_path / "mid.snap")
    save_snapshot(half_world, path)
    loaded = load_snapshot(path)
    s = loaded.sessions[0]
    assert s.status == "running" and list(s.variables) == ["opinion"] and s.series.variables == ("opinion",)
    for key in whole.store:
        assert np.array_equal(s.store[key], whole.store[key]) or key == "moved", key
    asyncio.run(Simulation(loaded, registry=REGISTRY, plugin_budget=0).run(ticks=8))
    assert s.round == whole.round and s.status == whole.status == "running"
    assert np.array_equal(s.variables["opinion"], whole.variables["opinion"])
    assert np.array_equal(s.state, whole.state) and s.reached == whole.reached
    assert np.array_equal(s.series.moments, whole.series.moments) and np.array_equal(
        s.series.counts, whole.series.counts
    )
    series = series_dict(s)
    assert set(series) >= {"opinion.mean", "opinion.std", "opinion.min", "opinion.max", "0", "1"}


def test_the_models_pass_the_conformance_checker():
    report = check_plugin(str(ROOT / "plugins" / "opinion_continuous.py"), agents=20000)
    assert report.ok, report.render()
    assert sorted(report.models) == sorted(MODELS)
