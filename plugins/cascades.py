"""Cascades with a twist, each also the code of a template of ``agora plugins new`` (``sim.authoring.templates``
writes a template from this file's source, so the two cannot drift).

- ``topic-cascade``: an independent cascade that only reaches agents who share a topic with the message
  (``--template cascade``).
- ``rewiring-cascade``: a cascade whose unconvinced followers unfollow the sender and follow someone else
  instead (``--template network``).
"""

from __future__ import annotations

import numpy as np

from sim.plugin import Param, PropagationModel, StepContext, StepResult


class TopicCascade(PropagationModel):
    """An independent cascade that only reaches agents who share a topic with the message.

    Semantics (synchronous rounds):

    - Seeds adopt at the session's start. An agent that adopts in round t transmits in round t+1 only.
    - Transmitting, it makes one attempt along each out-edge to an agent that has not adopted. The
      attempt succeeds with probability ``p`` when the target is interested in at least one of the
      message's topics, and with ``p * off_topic`` otherwise (0 by default: off-topic agents never adopt).
      A message without topics is on-topic for everybody.
    - An agent reached by several successful attempts in one round adopts once; its source is the
      lowest-numbered successful sender. The session ends when a round produces no adoption.
    """

    # What users type (`--model topic-cascade`), and what `agora plugins list` shows.
    name = "topic-cascade"
    version = "1.0"
    description = "Cascade with probability p per edge, only to agents who share a topic with the message."
    # The parameter schema: type, default, min, max, help. Values are validated against it before
    # the model is made, and the forms of the terminal UI are drawn from it.
    params = {
        "p": Param(float, 0.3, 0.0, 1.0, "probability that one attempt along an edge succeeds"),
        "off_topic": Param(float, 0.0, 0.0, 1.0, "factor on p for agents who share no topic with the message"),
    }
    # Compartments. State 0 is the untouched one; seeds are put in seed_state.
    states = ("susceptible", "adopted")
    adopted_states = (1,)  # entering one of these counts as adopting (`reached`)
    transmitting_states = (1,)  # agents in these spread the message
    transmit = "once"  # ... in the round after they entered it, once (like independent cascade)
    seed_state = 1
    progressive = True  # nobody ever un-adopts (the checker verifies it)

    def step(self, ctx: StepContext) -> StepResult:
        # This round's attempts: one per out-edge of the agents that transmit now (the frontier).
        # `targets[i]` is the agent at the end of edge `edges[i]`; both follow the senders in order.
        targets, edges = ctx.gather_targets()
        # Only agents that have not adopted yet can be reached.
        open_ = np.flatnonzero(ctx.state[targets] == 0)
        # Topic match per target: interests and the message's topics are 64-bit topic masks.
        topics = np.uint64(int(ctx.message.get("topics", 0)))
        if topics:
            on_topic = (ctx.columns["interests"][targets[open_]] & topics) != 0
        else:
            on_topic = np.ones(open_.size, dtype=bool)
        p = self.p["p"]
        prob = np.where(on_topic, p, p * self.p["off_topic"])
        # Randomness only from the session's generator: one number per attempted edge.
        hit = open_[ctx.random_edges(edges[open_]) < prob]
        # An agent hit by several senders adopts once, from the lowest-numbered one: positions in
        # `targets` ascend with the sender, and np.unique returns each value's first position.
        winners, first = np.unique(targets[hit], return_index=True)
        sources = ctx.gather_sources()[hit[first]]
        return StepResult(winners, 1, sources, attempts=int(open_.size), exposed=targets[open_])


class RewiringCascade(PropagationModel):
    """A cascade on a network that rewires: followers who do not adopt unfollow the adopter.

    Semantics (synchronous rounds):

    - Seeds adopt at the session's start; an agent that adopts in round t transmits in round t+1 only.
    - Transmitting, it makes one attempt along each out-edge to an agent that has not adopted, succeeding
      with probability ``p``. An agent hit several times adopts once, from the lowest-numbered sender.
    - A follower whose attempt failed unfollows the sender with probability ``w`` and follows a uniformly
      random other agent instead (one it does not follow yet, never itself), so the number of edges stays
      the same. The engine applies these edge changes between ticks: the next round sees the new graph.

    The session ends when a round produces no adoption.
    """

    name = "rewiring-cascade"
    version = "1.0"
    description = "Cascade with probability p; unconvinced followers unfollow the sender with probability w."
    params = {
        "p": Param(float, 0.2, 0.0, 1.0, "probability that one attempt along an edge succeeds"),
        "w": Param(float, 0.3, 0.0, 1.0, "probability that a follower the attempt failed on unfollows the sender"),
    }
    states = ("susceptible", "adopted")
    adopted_states = (1,)
    transmitting_states = (1,)
    transmit = "once"
    seed_state = 1
    progressive = True
    changes_edges = True  # this model answers with remove_edges / add_edges

    def step(self, ctx: StepContext) -> StepResult:
        targets, edges = ctx.gather_targets()
        senders = ctx.gather_sources()
        open_ = np.flatnonzero(ctx.state[targets] == 0)
        draws = ctx.random_edges(edges[open_])
        hit = open_[draws < self.p["p"]]
        winners, first = np.unique(targets[hit], return_index=True)
        sources = senders[hit[first]]
        # Failed attempts: the follower may unfollow the sender (a second number per failed attempt).
        failed = open_[draws >= self.p["p"]]
        failed = failed[~np.isin(targets[failed], winners)]  # who adopted this round keeps following
        leave = failed[ctx.random_edges(edges[failed]) < self.p["w"]]
        follower, sender = targets[leave].astype(np.int64), senders[leave].astype(np.int64)
        # Each leaving follower follows a random other agent instead (one number per new edge).
        new = np.floor(ctx.random_agents(follower) * (ctx.n - 1)).astype(np.int64)
        new += new >= follower  # never itself
        # An edge that exists already is not added again (the engine drops it), so drop those here too.
        fresh = ctx.graph.edge_ids(new, follower) < 0
        keep = np.zeros(leave.size, dtype=bool)
        _, once = np.unique(new[fresh] * ctx.n + follower[fresh], return_index=True)
        keep[np.flatnonzero(fresh)[once]] = True
        return StepResult(
            winners,
            1,
            sources,
            attempts=int(open_.size),
            exposed=targets[open_],
            remove_edges=(sender[keep], follower[keep]),
            add_edges=(new[keep], follower[keep]),
        )
