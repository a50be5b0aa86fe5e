"""Independent cascade.

Semantics (synchronous rounds):

- Seeds adopt at the session's start. An agent that adopts in round t transmits in round t+1 only.
- Transmitting, it makes exactly one attempt along each out-edge to an agent that has not adopted,
  succeeding with probability ``p`` (times the edge's trust when ``trust_weighted``). Probabilities are
  per directed edge: u->v and v->u are separate attempts.
- An agent reached by several successful attempts in one round adopts once; its source is the
  lowest-numbered successful sender. The session ends when a round produces no adoption.
"""

from __future__ import annotations

import numpy as np

from sim.plugin import Param, PropagationModel, StepResult


class IndependentCascade(PropagationModel):
    name = "ic"
    version = "1.0"
    description = "Independent cascade: one attempt per edge with probability p (optionally times trust)."
    params = {
        "p": Param(float, 0.1, 0.0, 1.0, "probability that one attempt along an edge succeeds"),
        "trust_weighted": Param(bool, False, help="multiply p by the edge's trust"),
    }
    states = ("susceptible", "adopted")
    adopted_states = (1,)
    transmitting_states = (1,)
    transmit = "once"
    seed_state = 1
    progressive = True

    def step(self, ctx):
        src, dst, trust, eid = ctx.gather()
        open_ = ctx.state[dst] == 0
        src, dst, trust, eid = src[open_], dst[open_], trust[open_], eid[open_]
        prob = self.p["p"] * trust if self.p["trust_weighted"] else self.p["p"]
        hit = ctx.random_edges(eid) < prob
        winners, first = np.unique(dst[hit], return_index=True)
        return StepResult(winners, 1, src[hit][first], attempts=int(eid.size), exposed=dst)
