"""Seed methods: heuristics and the reference greedy (``agora seeds --method``, ``--seeds NAME:K``).

- ``degree``: the ``k`` agents with the most followers (out-degree: edge u->v means v follows u), ties by
  lower index.
- ``degree-discount``: Chen, Wang and Yang (2009), "Efficient influence maximization in social networks"
  (KDD), for independent cascade with probability ``p``: ``dd_v = d_v - 2 t_v - (d_v - t_v) t_v p`` where
  ``d_v`` is v's out-degree and ``t_v`` the number of chosen seeds v follows; k steps, each an argmax and an
  update of the chosen seed's followers.
- ``pagerank``: PageRank on the attention graph (follower -> followed, the reverse of the way messages
  flow), so rank gathers at agents many agents listen to, directly or not; ties by lower index.
- ``random``: k distinct agents drawn from the choice's generator.
- ``celf``: lazy greedy (Leskovec et al. 2007, "Cost-effective outbreak detection in networks", KDD) on
  Monte-Carlo spread estimates, each an Agora ensemble of ``mc_runs`` runs of the model (any model), all on
  the same session seeds (common random numbers). Slow: at least ``candidates * mc_runs`` runs.
- ``acquaintance``: Cohen, Havlin and ben-Avraham (2003), "Efficient immunization strategies for computer
  networks and populations" (PRL): a random followee of a random agent, repeated until ``k`` distinct agents
  are chosen; it finds hubs without knowing the graph. Meant for ``--intervene TICK:block:acquaintance:K``.

Every method chooses among eligible agents only (joined, not suspended or deactivated).
"""

from __future__ import annotations

import numpy as np

from sim.plugin import BadParameterError, Param, SeedContext, SeedMethod

#: CELF evaluates every candidate at least once, each an ensemble: refused above this many candidates.
CELF_MAX_CANDIDATES = 5000


def _top(score: np.ndarray, eligible: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` eligible agents of highest score, highest first, ties by lower index."""
    pool = np.flatnonzero(eligible)
    order = np.lexsort((pool, -score[pool]))[:k]
    return pool[order].astype(np.int64)


class Degree(SeedMethod):
    name = "degree"
    version = "1.0"
    description = "The k agents with the most followers (out-degree), ties by lower index."
    reads_model = False

    def choose(self, ctx: SeedContext) -> np.ndarray:
        return _top(ctx.graph.out_degree().astype(np.float64), ctx.eligible, ctx.k)


class DegreeDiscount(SeedMethod):
    name = "degree-discount"
    version = "1.0"
    description = "Chen, Wang and Yang (2009): degree discounted by the chosen seeds one follows, for ic with p."
    models = ("ic",)

    def choose(self, ctx: SeedContext) -> np.ndarray:
        g, p = ctx.graph, float(ctx.model_params["p"])
        d = g.out_degree().astype(np.float64)
        t = np.zeros(ctx.n, dtype=np.float64)
        dd = np.where(ctx.eligible, d, -np.inf)
        chosen = np.empty(ctx.k, dtype=np.int64)
        for i in range(ctx.k):  # k steps, each vectorised over the chosen seed's followers
            v = int(np.argmax(dd))
            chosen[i] = v
            dd[v] = -np.inf
            followers = g.out_indices[g.out_indptr[v] : g.out_indptr[v + 1]]
            if followers.size:
                np.add.at(t, followers, 1.0)
                open_ = followers[np.isfinite(dd[followers])]
                dd[open_] = d[open_] - 2 * t[open_] - (d[open_] - t[open_]) * t[open_] * p
        return chosen


class PageRankSeeds(SeedMethod):
    name = "pagerank"
    version = "1.0"
    description = "The k agents of highest PageRank on the attention graph (follower -> followed)."
    reads_model = False

    def choose(self, ctx: SeedContext) -> np.ndarray:
        return _top(ctx.pagerank(), ctx.eligible, ctx.k)


class RandomSeeds(SeedMethod):
    name = "random"
    version = "1.0"
    description = "k distinct eligible agents drawn uniformly."
    reads_model = False

    def choose(self, ctx: SeedContext) -> np.ndarray:
        return ctx.rng.choice(np.flatnonzero(ctx.eligible), size=ctx.k, replace=False).astype(np.int64)


class Acquaintance(SeedMethod):
    name = "acquaintance"
    version = "1.0"
    description = "Cohen, Havlin and ben-Avraham (2003): a random followee of a random agent, until k are chosen."
    reads_model = False

    def choose(self, ctx: SeedContext) -> np.ndarray:
        g, eligible = ctx.graph, ctx.eligible
        # Anyone may name an acquaintance; only eligible ones are chosen. Every draw is a batch of (agent,
        # followee) picks; distinct new ones are kept in draw order until k are found.
        follows = np.diff(g.in_indptr)
        askers = np.flatnonzero(follows > 0)
        named = np.zeros(ctx.n, dtype=bool)
        named[g.in_indices] = True
        reachable = int(np.count_nonzero(named & eligible))
        if reachable < ctx.k:
            raise BadParameterError(
                f"acquaintance can name only {reachable:,} distinct eligible agents (followees) in this world, "
                f"fewer than k={ctx.k:,}: ask for fewer, or use another method"
            )
        chosen: list[np.ndarray] = []
        taken = np.zeros(ctx.n, dtype=bool)
        count = 0
        while count < ctx.k:  # each pass draws a batch; the expected number of passes is small
            batch = max(64, 2 * (ctx.k - count))
            who = ctx.rng.choice(askers, size=batch)
            pick = g.in_indptr[who] + (ctx.rng.random(batch) * follows[who]).astype(np.int64)
            cand = g.in_indices[np.minimum(pick, g.in_indptr[who + 1] - 1)].astype(np.int64)
            cand = cand[eligible[cand]]
            _, first = np.unique(cand, return_index=True)
            cand = cand[np.sort(first)]
            cand = cand[~taken[cand]][: ctx.k - count]
            taken[cand] = True
            chosen.append(cand)
            count += cand.size
        return np.concatenate(chosen)


class CELF(SeedMethod):
    name = "celf"
    version = "1.0"
    expensive = True
    description = "Lazy greedy on Monte-Carlo spread estimates from Agora's own ensembles (any model; slow)."
    params = {
        "mc_runs": Param(int, 50, 1, 1_000_000, "runs of the model per spread estimate"),
        "candidates": Param(
            int, 0, 0, CELF_MAX_CANDIDATES, "choose among this many agents of most followers (0: every agent)"
        ),
    }

    def choose(self, ctx: SeedContext) -> np.ndarray:
        mc, limit = int(self.p["mc_runs"]), int(self.p["candidates"])
        pool = np.flatnonzero(ctx.eligible)
        if limit:
            pool = _top(ctx.graph.out_degree().astype(np.float64), ctx.eligible, min(limit, pool.size))
        elif pool.size > CELF_MAX_CANDIDATES:
            raise BadParameterError(
                f"celf runs an ensemble for every one of the world's {pool.size:,} agents and is kept to "
                f"{CELF_MAX_CANDIDATES:,} candidates: give candidates=M (the M agents of most followers), or "
                "use ris (ic, lt) or a heuristic"
            )
        if ctx.k > pool.size:
            raise BadParameterError(f"celf has {pool.size:,} candidates, fewer than k={ctx.k:,}: give more")
        base = ctx.seed
        gains = np.array([ctx.spread(np.array([v]), mc, base) for v in pool.tolist()], dtype=np.float64)
        fresh = np.zeros(pool.size, dtype=np.int64)  # the round each gain was computed in
        chosen: list[int] = []
        total = 0.0
        open_gains = gains.copy()
        while len(chosen) < ctx.k:  # k rounds; each re-evaluates only the stale candidates on top
            i = int(np.argmax(open_gains))  # ties by lower index
            if fresh[i] == len(chosen):
                chosen.append(i)
                open_gains[i] = -np.inf
                total += gains[i]
                continue
            value = ctx.spread(pool[np.array([*chosen, i])], mc, base)
            gains[i] = open_gains[i] = value - total
            fresh[i] = len(chosen)
        return pool[np.array(chosen, dtype=np.int64)].astype(np.int64)
