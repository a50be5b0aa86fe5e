"""Independent cascade.

Semantics (synchronous rounds):

- Seeds adopt at the session's start. An agent that adopts in round t transmits in round t+1 only.
- Transmitting, it makes exactly one attempt along each out-edge to an agent that has not adopted,
  succeeding with probability ``p`` (times the edge's trust when ``trust_weighted``). Probabilities are
  per directed edge: u->v and v->u are separate attempts.
- An agent reached by several successful attempts in one round adopts once; its source is the
  lowest-numbered successful sender. The session ends when a round produces no adoption.
- Feed exposures (when a content recommender runs): an agent that has not adopted and is shown the
  message in its feed this round adopts with probability ``p * feed_weight`` (one ``ctx.random_agents``
  number per such agent, drawn after the edge attempts), crediting the feed's sharer. An agent that
  also adopts through an edge in the same round counts as a graph adoption.
"""

from __future__ import annotations

import numpy as np

from sim.plugin import Param, PropagationModel, StepContext, StepResult, first_hits


class IndependentCascade(PropagationModel):
    name = "ic"
    uses_feed = True  # reads feed exposures (ctx.feed_open)
    version = "1.0"
    description = "Independent cascade: one attempt per edge with probability p (optionally times trust)."
    params = {
        "p": Param(
            float,
            0.1,
            0.0,
            1.0,
            "probability that one attempt along an edge succeeds (one value per contact layer with p@LAYER)",
            per_edge="probability",
        ),
        "trust_weighted": Param(bool, False, help="multiply p by the edge's trust"),
        "feed_weight": Param(
            float, 1.0, 0.0, 1e6, "a feed exposure succeeds with probability p * feed_weight (capped at 1)"
        ),
    }
    states = ("susceptible", "adopted")
    adopted_states = (1,)
    transmitting_states = (1,)
    transmit = "once"
    seed_state = 1
    progressive = True

    def step(self, ctx: StepContext) -> StepResult:
        targets, edges = ctx.gather_targets()
        # np.take rather than fancy indexing: the same values, a good deal faster on large arrays.
        open_ = np.flatnonzero(np.take(ctx.state, targets) == 0)
        edges = np.take(edges, open_)
        prob = ctx.transmission("p", edges, weighted=self.p["trust_weighted"])
        hit = open_[ctx.random_edges(edges) < prob]
        # Each agent hit adopts once, from its first successful sender (the lowest: positions ascend with it).
        winners, first = first_hits(targets, hit)
        sources = np.take(ctx.gather_sources(), first)
        # Exposed: every target (the engine's default). Those not open have adopted, so were exposed already.
        result = StepResult(winners, 1, sources, attempts=int(edges.size))
        shown, sharers = ctx.feed_open()
        if shown.size:
            hit = ctx.random_agents(shown) < min(1.0, self.p["p"] * self.p["feed_weight"])
            result = ctx.with_feed(result, shown[hit], sharers[hit])
        return result
