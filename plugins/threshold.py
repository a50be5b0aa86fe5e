"""Fractional threshold (complex contagion): adopt when enough of the agents you follow have adopted.

Semantics (synchronous rounds, no randomness):

- Seeds adopt at the session's start. In round t an agent ``v`` that has not adopted adopts when
  ``a_v / k_v >= threshold``, where ``k_v`` is how many agents it follows and ``a_v`` how many of them
  adopted before round t (the fraction is computed in double precision as ``a_v / k_v``). Agents that
  adopted in round t count from round t+1.
- Only followers of agents that adopted in the previous round are examined: nothing changed for the
  others. Hence agents that follow nobody never adopt through the graph (unless seeded), and
  ``threshold = 0`` means "adopt as soon as any followee has adopted".
- An adopting agent's source is the lowest-numbered agent of the frontier it follows. The session
  ends when a round produces no adoption. Given the seeds, the outcome is deterministic.
- Feed exposures (when a content recommender runs): a feed item counts like ``feed_weight`` more
  adopted followees, for this round only. An agent that has not adopted and is shown the message in
  its feed this round is examined too (whether or not it follows the frontier) with the share
  ``(a_v + feed_weight) / (k_v + feed_weight)`` (double precision; so an agent that follows nobody has
  share 1). An agent that reaches the threshold without the feed (an examined follower of the frontier)
  is a graph adoption as above; one that reaches it only with the feed is a feed adoption, credited to
  the feed's sharer. With ``feed_weight = 0`` feed exposures change nothing. No random numbers are drawn.
"""

from __future__ import annotations

import numpy as np

from sim.plugin import Param, PropagationModel, StepContext, StepResult


class ShareThreshold(PropagationModel):
    """The round of both threshold models (``threshold`` here and ``lt``): an agent adopts when the
    weighted share of its adopted followees reaches its threshold. A subclass says what the weights and
    the thresholds are (:meth:`weights`, :meth:`thresholds`); it has no ``name`` of its own, so it is not
    a model. Feed exposures count like ``feed_weight`` more weight of adopted followees."""

    def weights(
        self, ctx: StepContext, agents: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        """``(adopted weight, total weight)`` of each listed agent's followees (float64)."""
        raise NotImplementedError

    def thresholds(self, ctx: StepContext, agents: np.ndarray) -> np.ndarray | float:  # pragma: no cover - abstract
        """The threshold of each listed agent (or one for all)."""
        raise NotImplementedError

    def _reach(self, ctx: StepContext, agents: np.ndarray, extra: float = 0.0) -> np.ndarray:
        active, total = self.weights(ctx, agents)
        if extra:
            share = (active + extra) / (total + extra)
        else:
            share = np.divide(active, total, out=np.zeros(agents.size), where=total > 0)
        return share >= self.thresholds(ctx, agents)

    def step(self, ctx: StepContext) -> StepResult:
        src, dst, _, _ = ctx.gather()
        open_ = ctx.state[dst] == 0
        src, dst = src[open_], dst[open_]
        # Candidates ascending; `first` points at each one's lowest frontier followee (sources ascend).
        cand, first = np.unique(dst, return_index=True)
        shown, sharers = ctx.feed_open()
        fw = self.p["feed_weight"]
        if fw == 0:
            shown = shown[:0]
        if cand.size == 0 and shown.size == 0:
            return StepResult.nothing(exposed=cand)
        if cand.size:
            win = self._reach(ctx, cand)
            result = StepResult(cand[win], 1, src[first][win], attempts=int(dst.size), exposed=cand)
        else:
            result = StepResult.nothing(exposed=cand)
        if shown.size:
            # Graph winners among them keep their graph adoption (ctx.with_feed).
            win = self._reach(ctx, shown, fw)
            result = ctx.with_feed(result, shown[win], sharers[win])
        return result


class FractionalThreshold(ShareThreshold):
    name = "threshold"
    uses_feed = True  # reads feed exposures (ctx.feed_open)
    version = "1.0"
    description = "Complex contagion: adopt when the adopted fraction of your followees reaches a threshold."
    params = {
        "threshold": Param(float, 0.2, 0.0, 1.0, "fraction of followees that must have adopted"),
        "feed_weight": Param(float, 1.0, 0.0, 1e6, "a feed item counts like this many more adopted followees"),
    }
    # compartments: the PropagationModel defaults (susceptible/adopted, transmit once, progressive)

    def weights(self, ctx: StepContext, agents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return ctx.adopted_in_counts(agents).astype(np.float64), ctx.in_degree(agents).astype(np.float64)

    def thresholds(self, ctx: StepContext, agents: np.ndarray) -> np.ndarray | float:
        return self.p["threshold"]
