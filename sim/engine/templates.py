"""The templates of ``agora plugins new NAME --template T``: for each, a working, documented plugin (a
propagation model or a recommender) and its tests, written the way the built-ins are. Each passes
``agora plugins check`` as written.

- ``cascade``: an independent cascade that only reaches agents who share a topic with the message.
- ``compartmental``: an SIR-like epidemic with a waning immunity (S, I, R; ``beta``, ``gamma``, ``xi``).
- ``opinion``: bounded-confidence averaging of a continuous ``opinion`` variable (a Hegselmann–Krause rule).
- ``network``: a cascade whose unconvinced followers unfollow adopters and follow someone else instead.
- ``recommender``: a content recommender: messages that share a topic with the reader, fresher and more
  adopted first.
- ``friend-recommender``: a friend recommender: friends of friends, more paths and more compatible first.

``@NAME@``, ``@CLASS@`` and ``@TITLE@`` are replaced by the plugin's name, class name and title.
"""

from __future__ import annotations

#: The templates users can ask for, in the order ``--help`` lists them.
TEMPLATES = ("cascade", "compartmental", "opinion", "network", "recommender", "friend-recommender")
#: The templates that write a recommender (the others write a propagation model).
RECOMMENDER_TEMPLATES = ("recommender", "friend-recommender")

#: What the first lines of every model file say about using it (the right flags).
_USE = '''Written by `agora plugins new @NAME@`: edit it freely. Check it with `agora plugins check @NAME@.py`,
run its tests with `python -m pytest test_@NAME@.py`, and use it by naming its folder:
`agora run WORLD --plugins FOLDER --inject TEXT --model @NAME@` (also `agora sweep ... --plugins FOLDER`,
`agora tui WORLD --plugins FOLDER`, or `AGORA_PLUGINS=FOLDER` for every command). See docs/writing-a-model.md.'''

CASCADE = '''"""@TITLE@: an independent cascade that only reaches agents who share a topic with the message.

''' + _USE + '''

Semantics (synchronous rounds):

- Seeds adopt at the session's start. An agent that adopts in round t transmits in round t+1 only.
- Transmitting, it makes one attempt along each out-edge to an agent that has not adopted. The
  attempt succeeds with probability ``p`` when the target is interested in at least one of the
  message's topics, and with ``p * off_topic`` otherwise (0 by default: off-topic agents never adopt).
  A message without topics is on-topic for everybody.
- An agent reached by several successful attempts in one round adopts once; its source is the
  lowest-numbered successful sender. The session ends when a round produces no adoption.
"""

from __future__ import annotations

import numpy as np

from sim.plugin import Param, PropagationModel, StepResult


class @CLASS@(PropagationModel):
    # What users type (`--model @NAME@`), and what `agora plugins list` shows.
    name = "@NAME@"
    version = "0.1"
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

    def step(self, ctx):
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
'''

CASCADE_TEST = '''"""Tests of the @NAME@ model: the conformance suite and one behavioural check.

Run them with:  python -m pytest test_@NAME@.py
"""

from __future__ import annotations

import os

import numpy as np

from sim.engine.authoring import check_plugin, check_world, common_topics, run_model
from sim.model.registry import load_file
from sim.core.topics import topics_mask

MODEL_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "@NAME@.py")


def load_model():
    """The model class, from a fresh import of the file (edits take effect)."""
    return load_file(MODEL_FILE).@CLASS@


def test_conformance():
    report = check_plugin(MODEL_FILE, agents=2000)
    assert report.ok, report.render()


def test_only_agents_sharing_a_topic_with_the_message_adopt():
    world = check_world(2000)
    topics = common_topics(world, 3)
    session = run_model(load_model(), world, params={"p": 0.6}, topics=topics, seeds="random:20")
    assert session.status == "completed", session.error
    # Everyone who adopted after the seeds did.
    later = np.flatnonzero(session.adopted_at > session.started_tick)
    assert later.size > 0, "nothing spread beyond the seeds, so the check below would prove nothing"
    shares = (world.columns["interests"][later] & np.uint64(topics_mask(topics))) != 0
    assert shares.all(), f"{int((~shares).sum())} of {later.size} adopters share no topic with the message"
'''

COMPARTMENTAL = '''"""@TITLE@: an SIRS epidemic — infection, recovery, and immunity that wanes.

''' + _USE + '''

Semantics (synchronous rounds, every step judged on the states at the start of the round):

1. Infection: every infectious agent (the frontier; ``transmit = "while"``) makes one attempt along each
   out-edge to a susceptible agent, succeeding with probability ``beta`` (one number per attempt). A
   target hit several times is infected once, from the lowest-numbered successful sender.
2. Recovery: every agent infectious at the start of the round recovers with probability ``gamma``.
3. Waning: every agent recovered at the start of the round becomes susceptible again with probability
   ``xi`` (``xi = 0`` is SIR).

States: S (0), I (1), R (2); seeds start infectious; ``reached`` counts agents ever infected. The session
ends when nobody is infectious.
"""

from __future__ import annotations

import numpy as np

from sim.plugin import Param, PropagationModel, StepResult


class @CLASS@(PropagationModel):
    name = "@NAME@"
    version = "0.1"
    description = "SIRS epidemic: infect with beta, recover with gamma, lose immunity with xi."
    params = {
        "beta": Param(float, 0.1, 0.0, 1.0, "probability that an infectious agent infects a susceptible follower in a round"),
        "gamma": Param(float, 0.2, 0.0, 1.0, "probability that an infectious agent recovers in a round"),
        "xi": Param(float, 0.05, 0.0, 1.0, "probability that a recovered agent becomes susceptible again in a round"),
    }
    states = ("S", "I", "R")
    adopted_states = (1, 2)  # infected now or before: `reached` counts agents ever infected
    transmitting_states = (1,)
    transmit = "while"  # infectious agents try every round while they are infectious
    seed_state = 1
    progressive = False  # R -> S leaves the adopted states

    def start(self, ctx):
        # The recovered agents, ascending: kept so a round never scans all N states (saved with the session).
        ctx.store["recovered"] = np.empty(0, dtype=np.int64)

    def step(self, ctx):
        infectious = ctx.frontier
        # 1. infection along the out-edges of the infectious agents, to susceptible agents only
        targets, edges = ctx.gather_targets()
        open_ = np.flatnonzero(ctx.state[targets] == 0)
        hit = open_[ctx.random_edges(edges[open_]) < self.p["beta"]]
        infected, first = np.unique(targets[hit], return_index=True)
        sources = ctx.gather_sources()[hit[first]]
        # 2. recovery
        recovered_now = infectious[ctx.random_agents(infectious) < self.p["gamma"]].astype(np.int64)
        # 3. waning immunity of agents recovered at the start of the round
        recovered = ctx.store["recovered"]
        waned = recovered[ctx.random_agents(recovered) < self.p["xi"]]
        ctx.store["recovered"] = np.union1d(np.setdiff1d(recovered, waned), recovered_now)
        # The three groups are disjoint (susceptible, infectious and recovered at the start of the round).
        agents = np.concatenate([infected.astype(np.int64), recovered_now, waned])
        states = np.concatenate([np.full(infected.size, 1, np.int8), np.full(recovered_now.size, 2, np.int8),
                                 np.full(waned.size, 0, np.int8)])
        sources = np.concatenate([sources, np.full(recovered_now.size + waned.size, -1, np.int32)])
        order = np.argsort(agents)
        return StepResult(agents[order], states[order], sources[order], attempts=int(open_.size),
                          exposed=targets[open_])

    def is_done(self, ctx):
        return ctx.frontier.size == 0  # nobody infectious: no one can be infected again
'''

COMPARTMENTAL_TEST = '''"""Tests of the @NAME@ model: the conformance suite and one behavioural check.

Run them with:  python -m pytest test_@NAME@.py
"""

from __future__ import annotations

import os

import numpy as np

from sim.engine.authoring import check_plugin, check_world, run_model
from sim.model.registry import load_file

MODEL_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "@NAME@.py")


def load_model():
    """The model class, from a fresh import of the file (edits take effect)."""
    return load_file(MODEL_FILE).@CLASS@


def test_conformance():
    report = check_plugin(MODEL_FILE, agents=2000)
    assert report.ok, report.render()


def test_with_certain_recovery_every_agent_is_infectious_for_exactly_one_round():
    world = check_world(2000)
    session = run_model(load_model(), world, params={"beta": 0.5, "gamma": 1.0, "xi": 0.0}, seeds="random:20")
    assert session.status == "completed", session.error
    assert session.reached > 100, "the epidemic did not spread, so the check below would prove nothing"
    # Every agent ever infected is recovered at the end (xi = 0: nobody lost immunity).
    ever = session.adopted_at >= 0
    assert np.array_equal(np.flatnonzero(ever), np.flatnonzero(session.state == 2))
'''

OPINION = '''"""@TITLE@: bounded-confidence opinion dynamics (a Hegselmann–Krause rule) on a continuous opinion.

''' + _USE + '''

Semantics (synchronous rounds): every agent holds an ``opinion`` in [0, 1] — uniform from the session's
generator (or the world's ``opinion`` column when it has one); the message's seed agents start at 1.
Each round every agent moves to the mean of its own opinion and the opinions of the agents it follows
that lie within ``epsilon`` of its own, all at once on the opinions at the start of the round.

States: ``0`` (opinion below 0.5) and ``1`` (0.5 or more), kept in step with the opinion each round;
``reached`` counts agents whose opinion was ever 0.5 or more. The session ends when no opinion moved by
more than ``tolerance`` in a round.
"""

from __future__ import annotations

import numpy as np

from sim.plugin import Param, PropagationModel, StepResult, Variable


class @CLASS@(PropagationModel):
    name = "@NAME@"
    version = "0.1"
    description = "Bounded confidence: move to the mean of the followees within epsilon of one's opinion."
    params = {
        "epsilon": Param(float, 0.2, 0.0, 1.0, "confidence bound: followees further away are ignored"),
        "tolerance": Param(float, 1e-6, 0.0, 1.0, "the session ends when no opinion moves more than this in a round"),
    }
    # A continuous variable the engine keeps per agent: saved, shown and recorded as opinion.mean, ...
    variables = {"opinion": Variable(0.0, 1.0, init="uniform", seed_value=1.0, world_column="opinion",
                                     help="the agent's opinion")}
    states = ("0", "1")
    adopted_states = (1,)
    transmitting_states = ()  # every agent acts every round: there is no frontier
    seed_state = 1
    progressive = False

    def step(self, ctx):
        x = ctx.variables["opinion"]
        g = ctx.graph
        follows = np.diff(g.in_indptr)  # how many agents each agent follows
        agent = np.repeat(np.arange(ctx.n), follows)  # the follower of every in-edge
        other = x[g.in_indices]  # the followee's opinion
        near = np.abs(other - x[agent]) <= self.p["epsilon"]
        # The mean over oneself and the followees within epsilon.
        total = x + np.bincount(agent[near], weights=other[near], minlength=ctx.n)
        count = 1 + np.bincount(agent[near], minlength=ctx.n)
        new = np.clip(total / count, 0.0, 1.0)
        ctx.store["moved"] = np.array([float(np.abs(new - x).max())])
        side = (new >= 0.5).astype(np.int8)
        changed = np.flatnonzero(side != ctx.state)
        return StepResult(changed, side[changed], variables={"opinion": new})

    def is_done(self, ctx):
        moved = ctx.store.get("moved")
        return moved is not None and moved[0] <= self.p["tolerance"]
'''

OPINION_TEST = '''"""Tests of the @NAME@ model: the conformance suite and one behavioural check.

Run them with:  python -m pytest test_@NAME@.py
"""

from __future__ import annotations

import os

import numpy as np

from sim.engine.authoring import check_plugin, check_world, run_model
from sim.model.registry import load_file

MODEL_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "@NAME@.py")


def load_model():
    """The model class, from a fresh import of the file (edits take effect)."""
    return load_file(MODEL_FILE).@CLASS@


def test_conformance():
    report = check_plugin(MODEL_FILE, agents=2000)
    assert report.ok, report.render()


def test_averaging_never_widens_the_range_of_opinions():
    world = check_world(2000)
    session = run_model(load_model(), world, params={"epsilon": 0.3}, seeds="random:20", rounds=30)
    assert session.error is None, session.error
    lo = np.array(session.series.moments[:, 2])  # opinion.min per tick
    hi = np.array(session.series.moments[:, 3])  # opinion.max per tick
    assert hi[0] - lo[0] > 0.9, "the opinions did not start spread out"
    assert np.all(np.diff(hi - lo) <= 1e-12), "a round widened the range of opinions"
    assert (hi - lo)[-1] < (hi - lo)[0], "the opinions never came closer"
'''

NETWORK = '''"""@TITLE@: a cascade on a network that rewires — followers who do not adopt unfollow the adopter.

''' + _USE + '''

Semantics (synchronous rounds):

- Seeds adopt at the session's start; an agent that adopts in round t transmits in round t+1 only.
- Transmitting, it makes one attempt along each out-edge to an agent that has not adopted, succeeding
  with probability ``p``. An agent hit several times adopts once, from the lowest-numbered sender.
- A follower whose attempt failed unfollows the sender with probability ``w`` and follows a uniformly
  random other agent instead (one it does not follow yet, never itself), so the number of edges stays
  the same. The engine applies these edge changes between ticks: the next round sees the new graph.

The session ends when a round produces no adoption.
"""

from __future__ import annotations

import numpy as np

from sim.plugin import Param, PropagationModel, StepResult


class @CLASS@(PropagationModel):
    name = "@NAME@"
    version = "0.1"
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

    def step(self, ctx):
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
        return StepResult(winners, 1, sources, attempts=int(open_.size), exposed=targets[open_],
                          remove_edges=(sender[keep], follower[keep]), add_edges=(new[keep], follower[keep]))
'''

NETWORK_TEST = '''"""Tests of the @NAME@ model: the conformance suite and one behavioural check.

Run them with:  python -m pytest test_@NAME@.py
"""

from __future__ import annotations

import asyncio
import os

from sim.engine.authoring import check_plugin, check_world
from sim.model.registry import Registry, load_file
from sim.engine.simulation import Simulation

MODEL_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "@NAME@.py")


def load_model():
    """The model class, from a fresh import of the file (edits take effect)."""
    return load_file(MODEL_FILE).@CLASS@


def test_conformance():
    report = check_plugin(MODEL_FILE, agents=2000)
    assert report.ok, report.render()


def test_rewiring_keeps_the_number_of_edges_and_the_graph_consistent():
    world = check_world(2000).fork()
    edges = world.num_edges
    registry = Registry(entry_points=False, env=False)
    registry.register(load_model())
    sim = Simulation(world, registry=registry, plugin_budget=0)
    session = sim.inject("x", model="@NAME@", params={"p": 0.2, "w": 0.5}, seeds="random:20")
    asyncio.run(sim.run(until_done=True, max_ticks=200))
    assert session.status == "completed", session.error
    assert session.edges_removed > 0, "nobody rewired, so the check below would prove nothing"
    assert session.edges_removed == session.edges_added
    assert world.num_edges == edges
    assert world.graph.check() == []
'''

#: What the first lines of every recommender file say about using it (the right flags).
_USE_RECOMMENDER = '''Written by `agora plugins new @NAME@ --template @TEMPLATE@`: edit it freely. Check it with
`agora plugins check @NAME@.py`, run its tests with `python -m pytest test_@NAME@.py`, and use it by naming its
folder: `agora run WORLD --plugins FOLDER --@FLAG@ @NAME@ --inject TEXT --steps 50` (also `agora social WORLD
--plugins FOLDER --@FLAG@ @NAME@`, `agora tui WORLD --plugins FOLDER` and its Plugins view, or
`AGORA_PLUGINS=FOLDER` for every command). See docs/writing-a-recommender.md.'''

RECOMMENDER = '''"""@TITLE@: a content recommender — messages that share a topic with the reader, fresher and more
adopted first.

''' + _USE_RECOMMENDER.replace("@TEMPLATE@", "recommender").replace("@FLAG@", "recommender") + '''

Every tick the core calls ``score`` with a block of online readers (R) and the live messages (M) and
takes an (R, M) array of scores: higher is shown first; -inf (or nan) means never show. The score of
message m for reader r is

    match(r, m) * 0.5 ** (age(m) / half_life)  +  popularity * log10(1 + adopted(m)) / 10

where ``match`` is the share of the message's topics the reader is interested in, ``age`` the
message's age in hours of simulated time and ``adopted`` its adoptions so far. A message that shares
no topic with the reader (``match`` 0; a message without topics shares none) scores -inf: never shown.
The core then drops what the reader adopted or wrote and keeps the ``feed_size`` best.
"""

from __future__ import annotations

import numpy as np

from sim.plugin import ContentRecommender, Param


class @CLASS@(ContentRecommender):
    # What users type (`--recommender @NAME@`), and what `agora plugins list` shows.
    name = "@NAME@"
    version = "0.1"
    description = "Messages sharing a topic with the reader; fresher and more adopted first."
    # The parameter schema: type, default, min, max, help (validated before the recommender is made).
    params = {
        "half_life": Param(float, 6.0, 0.1, 10_000.0, "hours after which a message's topic score halves"),
        "popularity": Param(float, 0.1, 0.0, 10.0, "weight of log10(1 + adoptions) / 10"),
    }

    def score(self, ctx):
        # Arrays of the context are read-only views of the world's: compute new arrays, never write in them.
        match = ctx.interest_match()  # (R, M) floats in [0, 1]
        age = (ctx.tick - ctx.created).astype(np.float64) * ctx.minutes_per_tick / 60.0  # (M,) hours
        fresh = 0.5 ** (np.maximum(age, 0.0) / self.p["half_life"])
        popular = self.p["popularity"] * np.log10(1.0 + ctx.adopted) / 10.0  # (M,)
        scores = match * fresh[None, :] + popular[None, :]
        # Randomness, if you need it, only from ctx.rng (this tick's seeded generator): runs replay exactly.
        return np.where(match > 0, scores, -np.inf)
'''

RECOMMENDER_TEST = '''"""Tests of the @NAME@ recommender: the conformance suite and one behavioural check.

Run them with:  python -m pytest test_@NAME@.py
"""

from __future__ import annotations

import os

import numpy as np

from sim.engine.authoring import check_plugin, check_world, run_recommender
from sim.model.registry import load_file

RECOMMENDER_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "@NAME@.py")


def load_recommender():
    """The recommender class, from a fresh import of the file (edits take effect)."""
    return load_file(RECOMMENDER_FILE).@CLASS@


def test_conformance():
    report = check_plugin(RECOMMENDER_FILE, agents=2000)
    assert report.ok, report.render()


def test_only_messages_that_share_a_topic_with_the_reader_are_shown():
    world = check_world(2000)
    run = run_recommender(load_recommender(), world, ticks=8)
    assert run.error is None, run.traceback
    interests = world.columns["interests"]
    topics = {s.id: np.uint64(int(s.message.get("topics", 0) or 0)) for s in run.sessions}
    shown = 0
    for tick, session_id, readers, _ in run.shown:  # what the core put in feeds
        shares = (interests[readers] & topics[session_id]) != 0
        assert shares.all(), f"tick {tick}: {int((~shares).sum())} readers were shown a message that shares no topic with them"
        shown += readers.size
    assert shown > 0, "nothing was shown, so the check above would prove nothing"
'''

FRIEND = '''"""@TITLE@: a friend recommender — friends of friends, joined by more paths and more compatible first.

''' + _USE_RECOMMENDER.replace("@TEMPLATE@", "friend-recommender").replace("@FLAG@", "friend-recommender") + '''

Every tick the core calls ``suggest`` with the agents looking for suggestions and takes three aligned
arrays ``(agents, candidates, scores)``: ``agents[i]`` could follow ``candidates[i]``, higher scores
first. The candidates of an agent are the agents followed by the agents it follows (at most ``fanout``
followees looked at per agent and per middle agent); the score of a candidate is

    paths + interest_weight * compatibility

where ``paths`` counts the followees through which it was reached and ``compatibility`` (in [0, 1]) is
the mean of shared interests, activity overlap and the candidate's reputation. Scores must be finite.
The core drops self-suggestions, agents already followed and inactive candidates, keeps each agent's
``suggestions`` best and lets the agent accept with probability ``accept_rate * compatibility``.
"""

from __future__ import annotations

from sim.plugin import FriendRecommender, Param
from sim.social import aggregate_pairs


class @CLASS@(FriendRecommender):
    # What users type (`--friend-recommender @NAME@`), and what `agora plugins list` shows.
    name = "@NAME@"
    version = "0.1"
    description = "Friends of friends, joined by more paths and more compatible first."
    params = {
        "fanout": Param(int, 6, 1, 100, "followees looked at per agent and per middle agent"),
        "interest_weight": Param(float, 1.0, 0.0, 100.0, "weight of compatibility against the number of paths"),
    }

    def suggest(self, ctx):
        # Paths agent -> f -> candidate: the agent follows f and f follows the candidate (randomness,
        # where there are more followees than fanout, comes from ctx.rng inside two_hop).
        agents, _, candidates = ctx.two_hop(self.p["fanout"])
        agents, candidates, paths = aggregate_pairs(agents, candidates, 1.0, ctx.n)  # distinct pairs, paths summed
        return agents, candidates, paths + self.p["interest_weight"] * ctx.compatibility(agents, candidates)
'''

FRIEND_TEST = '''"""Tests of the @NAME@ friend recommender: the conformance suite and one behavioural check.

Run them with:  python -m pytest test_@NAME@.py
"""

from __future__ import annotations

import os

from sim.engine.authoring import check_plugin, check_world, run_recommender
from sim.model.registry import load_file

RECOMMENDER_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "@NAME@.py")


def load_recommender():
    """The recommender class, from a fresh import of the file (edits take effect)."""
    return load_file(RECOMMENDER_FILE).@CLASS@


def test_conformance():
    report = check_plugin(RECOMMENDER_FILE, agents=2000)
    assert report.ok, report.render()


def test_every_suggestion_is_followed_by_someone_the_agent_follows():
    world = check_world(2000)
    # Accepted follows reach the graph every 6 ticks (merge_every): in 4 ticks the graph stays as it was.
    run = run_recommender(load_recommender(), world, ticks=4)
    assert run.error is None, run.traceback
    g = world.graph

    def followees(agent):
        return set(g.in_indices[g.in_indptr[agent]:g.in_indptr[agent + 1]].tolist())

    checked = 0
    for _, _, agents, candidates in run.shown:  # the suggestions the core kept
        for a, c in zip(agents[:100].tolist(), candidates[:100].tolist()):  # a slow, obvious check: a sample
            assert any(c in followees(f) for f in followees(a)), f"agent {a} was suggested {c}, whom none of its followees follows"
            checked += 1
    assert checked > 0, "nothing was suggested, so the check above would prove nothing"
'''

#: template -> (plugin text, test text)
FILES = {
    "cascade": (CASCADE, CASCADE_TEST),
    "compartmental": (COMPARTMENTAL, COMPARTMENTAL_TEST),
    "opinion": (OPINION, OPINION_TEST),
    "network": (NETWORK, NETWORK_TEST),
    "recommender": (RECOMMENDER, RECOMMENDER_TEST),
    "friend-recommender": (FRIEND, FRIEND_TEST),
}
