"""Linear threshold (Kempe, Kleinberg and Tardos 2003).

Semantics (synchronous rounds):

- At the session's start every agent ``v`` draws a threshold once: ``theta_v = 1 - u_v`` with ``u_v``
  uniform in [0, 1) from ``ctx.random_agents`` over all agents in index order, so ``theta_v`` is
  uniform in (0, 1]. It is kept as float32 in ``store["threshold"]`` and never redrawn.
- Each in-edge ``u -> v`` (v follows u) has a weight ``w_uv``; a follower's in-weights sum to 1:
  ``weights="uniform"``: ``w_uv = 1 / in_degree(v)``; ``weights="trust"``: ``w_uv = trust_uv /
  sum of trust over v's in-edges`` (an agent whose in-trust sums to 0 never adopts).
- Seeds adopt at the start. In round t an agent ``v`` that has not adopted adopts when the adopted
  weight ``A_v = sum of w_uv over followees u adopted before round t`` reaches its threshold:
  ``A_v >= theta_v``. ``A_v`` is computed as (adopted count) / in_degree, or (adopted in-trust) / (total
  in-trust), in double precision. Agents that adopted in round t count from round t+1.
- Only followers of agents that adopted in the previous round can cross their threshold (nothing else
  changed for the others), so each round looks only at the out-neighbours of that frontier.
- An adopting agent's source is the lowest-numbered agent of the frontier it follows. The session
  ends when a round produces no adoption.
- Feed exposures (when a content recommender runs): a feed item counts as ``feed_weight`` more
  adopted weight, in the units of the numerator and denominator above (one more adopted followee, or
  one more unit of adopted in-trust), for this round only. An agent that has not adopted and is shown
  the message in its feed this round is examined too (whether or not it follows the frontier) with
  ``A_v = (adopted count + feed_weight) / (in_degree + feed_weight)``, or ``(adopted in-trust +
  feed_weight) / (total in-trust + feed_weight)``, in double precision — so an agent that follows nobody
  has ``A_v = 1``. An agent that reaches its threshold without the feed (an examined follower of the
  frontier) is a graph adoption as above; one that reaches it only with the feed is a feed adoption,
  credited to the feed's sharer. With ``feed_weight = 0`` feed exposures change nothing. No random
  numbers are drawn after the start.
"""

from __future__ import annotations

import numpy as np

from plugins.threshold import ShareThreshold
from sim.plugin import Param, StepContext


class LinearThreshold(ShareThreshold):
    name = "lt"
    uses_feed = True  # reads feed exposures (ctx.feed_open)
    version = "1.0"
    description = "Linear threshold: adopt when the weighted share of adopted followees reaches a threshold drawn once."
    params = {
        "weights": Param(
            str,
            "uniform",
            choices=("uniform", "trust"),
            help="in-edge weights: uniform (1/followees) or trust (trust / total in-trust)",
        ),
        "feed_weight": Param(
            float,
            1.0,
            0.0,
            1e6,
            "a feed item counts like one more adopted followee of this weight (uniform: count, trust: trust)",
        ),
    }
    # compartments: the PropagationModel defaults (susceptible/adopted, transmit once, progressive)

    def start(self, ctx: StepContext) -> None:
        u = ctx.random_agents(np.arange(ctx.n, dtype=np.int32))
        ctx.store["threshold"] = (1.0 - u).astype(np.float32)

    def weights(self, ctx: StepContext, agents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(adopted weight, total weight)`` of each listed agent's in-edges (float64)."""
        _, followees, eid = ctx.gather_in(agents)
        group = np.repeat(np.arange(agents.size), ctx.in_degree(agents))
        adopted = ctx.adopted_mask(followees)
        if self.p["weights"] == "trust":
            w = ctx.trust[eid].astype(np.float64)
            total = np.bincount(group, weights=w, minlength=agents.size)
            active = np.bincount(group[adopted], weights=w[adopted], minlength=agents.size)
        else:
            total = np.bincount(group, minlength=agents.size).astype(np.float64)
            active = np.bincount(group[adopted], minlength=agents.size).astype(np.float64)
        return active, total

    def thresholds(self, ctx: StepContext, agents: np.ndarray) -> np.ndarray:
        return ctx.store["threshold"][agents]
