"""Community-aware independent cascades: ICE (embeddedness), ICP (permeability) and ICEP (both).

L. Milli and G. Rossetti (2019), "Community-aware content diffusion: embeddedness and permeability",
Complex Networks and Their Applications VIII, Studies in Computational Intelligence 881, 362-371 (ICE,
ICP), and L. Milli and G. Rossetti (2020), "Barriers or accelerators? Modeling the two-fold nature of
meso-scale network topologies in diffusive phenomena" (ICEP). NDlib: ``ICEModel``, ``ICPModel``,
``ICEPModel``.

All three are Agora's independent cascade (``ic``) with the probability of an attempt ``u -> v`` set by
the communities of ``u`` and ``v``:

- Seeds adopt at the session's start; an agent that adopts in round t transmits in round t+1 only, with
  one attempt along each out-edge to a follower that has not adopted, succeeding with the probability
  below (one ``ctx.random_edges`` number per attempt, in gather order). A follower reached by several
  successful attempts adopts once; its source is the lowest-numbered successful sender. The session
  ends when a round produces no adoption.
- ``u`` and ``v`` are in the same community when the world's ``community`` column gives both the same
  community (0 or more). An agent whose community is -1 (unknown) shares a community with nobody. A
  world without communities (every agent -1: ``agora new --graph er`` or ``ba``, an imported edge list
  without them) is one community: every attempt is within a community, so ``icp`` is ``ic`` with
  probability ``p``, and ``ice`` and ``icep`` are cascades with the edge embeddedness as probability.
- The neighbours of an agent, ``N(x)``, are its followers (its out-neighbours), the agents it can reach;
  this is what NDlib's ``neighbors`` gives on a directed graph with Agora's edges.
- The embeddedness of an edge ``u -> v`` is ``e(u, v) = phi(u, v) / |N(u) | N(v)|``, where
  ``phi(u, v)`` counts the common neighbours of ``u`` and ``v`` in ``u``'s community (the papers'
  ``C``: the sender's community) and the union counts every distinct neighbour of either. Because
  ``v`` is in ``N(u)``, the union is never empty.

No feed exposures: these models do not read a recommender's feed.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from sim.plugin import Param, PropagationModel, StepContext, StepResult, csr_positions, union_agents

_PERMEABILITY = Param(
    float, 0.5, 0.0, 1.0, "factor on p for an attempt across communities (the community's permeability)"
)
_P = Param(float, 0.1, 0.0, 1.0, "probability that one attempt along an edge succeeds (NDlib's edge threshold)")


def embeddedness(ctx: StepContext, u: np.ndarray, v: np.ndarray, one_community: bool) -> np.ndarray:
    """``e(u[i], v[i])`` for out-edges ``u[i] -> v[i]`` (see the module docstring), as float64.

    Common neighbours are found from the side with fewer followers: each of its followers ``w`` is looked
    up among the other side's followers, in one sorted array of ``row * n + follower`` keys of the rows
    involved (each row once), with one ``np.searchsorted`` for all of them. No pass over all edges."""
    g = ctx.graph
    indptr = g.out_indptr
    n = np.int64(g.n)
    u = np.asarray(u, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    du = indptr[u + 1] - indptr[u]
    dv = indptr[v + 1] - indptr[v]
    from_v = dv <= du
    walk = np.where(from_v, v, u)
    other = np.where(from_v, u, v)
    # Edges taken in the order of the looked-up side, so that the queries come nearly sorted (a search
    # twice as fast as in edge order).
    order = np.argsort(other, kind="stable")
    pos, counts = csr_positions(indptr, walk[order])
    w = g.out_indices[pos]
    owner = np.repeat(order, counts)
    rows = union_agents(other).astype(np.int64)
    row_pos, row_counts = csr_positions(indptr, rows)
    keys = np.repeat(rows * n, row_counts) + g.out_indices[row_pos]  # ascending: rows, then followers
    query = other[owner] * n + w
    at = np.minimum(np.searchsorted(keys, query), max(keys.size - 1, 0))
    found = keys[at] == query if keys.size else np.zeros(query.size, dtype=bool)
    common = np.bincount(owner[found], minlength=u.size)
    if one_community:
        inside = found
    else:
        com = ctx.columns["community"]
        cu = com[u][owner]
        inside = found & (com[w] == cu) & (cu >= 0)
    phi = np.bincount(owner[inside], minlength=u.size)
    return phi / (du + dv - common)


class _CommunityCascade(PropagationModel):
    """The cascade shared by the three; subclasses give the probability of each attempt."""

    version = "1.0"
    states = ("susceptible", "adopted")
    adopted_states = (1,)
    transmitting_states = (1,)
    transmit = "once"
    seed_state = 1
    progressive = True

    def start(self, ctx: StepContext) -> None:
        # Whether the world has no communities at all (then it is one community), read once per session.
        ctx.store["one_community"] = np.array([ctx.world.num_communities is None])

    def step(self, ctx: StepContext) -> StepResult:
        targets, edges = ctx.gather_targets()
        senders = ctx.gather_sources()
        open_ = np.flatnonzero(ctx.state[targets] == 0)
        one = bool(ctx.store["one_community"][0])
        if one:
            same = np.ones(open_.size, dtype=bool)
        else:
            com = ctx.columns["community"]
            cu = com[senders[open_]]
            same = (cu == com[targets[open_]]) & (cu >= 0)
        prob = self.probability(ctx, senders, targets, open_, same, one)
        hit = open_[ctx.random_edges(edges[open_]) < prob]
        # First successful sender per target: positions in the gather ascend with the sender.
        span = targets.size + 1
        key = targets[hit].astype(np.int64) * span + hit
        key.sort()
        winners = key // span
        first = np.ones(key.size, dtype=bool)
        first[1:] = winners[1:] != winners[:-1]
        return StepResult(winners[first], 1, senders[key[first] % span], attempts=int(open_.size))

    def probability(
        self,
        ctx: StepContext,
        senders: np.ndarray,
        targets: np.ndarray,
        open_: np.ndarray,
        same: np.ndarray,
        one: bool,
    ) -> np.ndarray:
        """The success probability of each open attempt (positions ``open_`` of the gather; ``same``:
        within one community)."""
        raise NotImplementedError


class ICE(_CommunityCascade):
    """ICE, independent cascades with community embeddedness (Milli and Rossetti 2019): parameter free.

    An attempt ``u -> v`` succeeds with probability ``e(u, v)``, the edge's embeddedness, when ``u`` and
    ``v`` are in the same community, and otherwise with ``min e(u, z)`` over every out-edge ``u -> z`` of
    the sender (whatever ``z``'s state): the paper's "min{e_{z,v} | (z, v) in E}" for the active node. See
    the module docstring for the rest of the round, ``e`` and communities.

    NDlib's ``ICEModel`` (6.0.1) differs in the denominator of ``e``: it divides by
    ``|N(u)| + |N(v)| - phi(u, v)``, subtracting only the common neighbours in ``u``'s community, where
    the paper divides by ``|N(u) | N(v)|`` (subtracting all common neighbours); the two agree when every
    common neighbour is in ``u``'s community. It also tests ``flip <= e`` rather than ``<``, which differs
    only when a number is exactly ``e``.
    """

    name = "ice"
    description = "ICE: independent cascade whose probability is the edge's community embeddedness (parameter free)."
    params: ClassVar[dict[str, Param]] = {}
    zero_params = ()  # parameter free: the embeddedness of the graph sets every probability

    def probability(
        self,
        ctx: StepContext,
        senders: np.ndarray,
        targets: np.ndarray,
        open_: np.ndarray,
        same: np.ndarray,
        one: bool,
    ) -> np.ndarray:
        prob = np.zeros(open_.size)
        across = open_[~same]
        # Edges whose embeddedness is needed: open ones within a community, and every out-edge of a sender
        # with an open attempt across communities (for its minimum).
        need = np.zeros(targets.size, dtype=bool)
        need[open_[same]] = True
        if across.size:
            need |= np.isin(senders, senders[across])
        where = np.flatnonzero(need)
        e = np.zeros(targets.size)
        e[where] = embeddedness(ctx, senders[where], targets[where], one)
        prob[same] = e[open_[same]]
        if across.size:
            # Minimum per sender over its out-edges (the gather is grouped by sender).
            rows = where[np.isin(senders[where], senders[across])]
            head = np.ones(rows.size, dtype=bool)
            head[1:] = senders[rows[1:]] != senders[rows[:-1]]
            starts = np.flatnonzero(head)
            lowest = np.minimum.reduceat(e[rows], starts)
            prob[~same] = lowest[np.searchsorted(senders[rows[starts]], senders[across])]
        return prob


class ICP(_CommunityCascade):
    """ICP, independent cascades with community permeability (Milli and Rossetti 2019).

    An attempt ``u -> v`` succeeds with probability ``p`` when ``u`` and ``v`` are in the same community,
    and with ``p * permeability`` across communities: a community with a low permeability damps what
    crosses its border. See the module docstring for the round and communities. With ``permeability =
    1`` it is ``ic`` with the same ``p`` (tested).

    Same rule as NDlib's ``ICPModel`` (6.0.1) with every edge's ``threshold`` set to ``p`` (NDlib's
    default is 0.1, as ``p``'s here); NDlib reads ``u``'s neighbours as its successors, Agora's followers.
    """

    name = "icp"
    description = "ICP: independent cascade with probability p, times permeability across communities."
    params = {"p": _P, "permeability": _PERMEABILITY}

    def probability(
        self,
        ctx: StepContext,
        senders: np.ndarray,
        targets: np.ndarray,
        open_: np.ndarray,
        same: np.ndarray,
        one: bool,
    ) -> np.ndarray:
        p = self.p["p"]
        return np.where(same, p, p * self.p["permeability"])


class ICEP(_CommunityCascade):
    """ICEP, independent cascades with community embeddedness and permeability (Milli and Rossetti 2020).

    An attempt ``u -> v`` succeeds with probability ``e(u, v)`` (the edge's embeddedness, as in ``ice``)
    within a community, and with ``p * permeability`` across communities (as in ``icp``). See the module
    docstring for the round, ``e`` and communities.

    NDlib's ``ICEPModel`` (6.0.1) has the embeddedness denominator of its ``ICEModel`` (see ``ice``) and
    the edge ``threshold`` of its ``ICPModel`` (``p`` here).
    """

    name = "icep"
    description = "ICEP: embeddedness within communities, p times permeability across them."
    params = {"p": _P, "permeability": _PERMEABILITY}
    zero_params = ()  # within communities the embeddedness spreads whatever p is

    def probability(
        self,
        ctx: StepContext,
        senders: np.ndarray,
        targets: np.ndarray,
        open_: np.ndarray,
        same: np.ndarray,
        one: bool,
    ) -> np.ndarray:
        prob = np.full(open_.size, self.p["p"] * self.p["permeability"])
        inside = open_[same]
        if inside.size:
            prob[same] = embeddedness(ctx, senders[inside], targets[inside], one)
        return prob
