"""``llm`` — decisions from a language model for a capped sample of agents, a rule model for the rest.

States: ``susceptible`` (0), ``reposted`` (1), ``replied`` (2), ``liked`` (3) and ``deciding`` (4).
Reposts and replies spread the message (from the round after they happen); a like counts as reached but
does not spread. Seeds start as ``reposted``.

Each round:

1. **Decisions that landed** since the last round are applied to the agents waiting in ``deciding``:
   ``repost`` → reposted, ``reply`` → replied, ``like`` → liked, ``ignore`` → back to susceptible (a later
   exposure may win it over). A reply or repost that came with text is posted under the agent's name.
   A request that failed, fell back or came back malformed (``ctx.llm.parse_decision`` holds it to a
   strict schema) gets the rule model's decision instead: reposted if the rule adopted the agent, else
   susceptible.
2. **The rule model** (``rule``, ``viral`` by default; any model with the two states susceptible/adopted
   that transmits once) steps as usual on the session; its adoptions become reposts.
3. **The sample.** Among the agents exposed this round (a graph attempt or a feed item) that are still
   susceptible, up to ``llm_agents`` — the most influential (ties to the lower index) or a random sample
   (``sample``; drawn from a generator of the session's own, so the rule's random numbers are unchanged) —
   are asked through the simulation's LLM service, within the tick's budget. They wait in ``deciding``
   instead of taking the rule's decision, which is kept as their fallback. The prompt holds the agent's
   persona and interests, the message and its author, who shared it, and the agent's memory (its summary,
   what it recalls as relevant to the message, its recent events: ``sim.core.agentmemory``; an agent the
   LLM is asked about remembers from then on). With the world's ``memory`` setting ``off``, up to
   ``history`` other messages the agent has seen stand in for its memory.

Nothing waits for an answer: it lands when the server answers, and is applied in the next round. An answer
from the world's cache lands at once (applied in the next round), so a replay with the cache on is
deterministic. The session ends when the rule model is done and nobody is deciding. In offline mode, or
with ``llm_agents = 0``, nobody is sampled and the model adopts exactly as its rule model does.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

import numpy as np

from sim.plugin import (
    Answer,
    BadParameterError,
    LLMAgents,
    Param,
    PropagationModel,
    Recollection,
    StepContext,
    StepResult,
    union_agents,
)
from sim.plugin import archetypes as arch
from sim.plugin import policy as pol

REPOSTED, REPLIED, LIKED, DECIDING = 1, 2, 3, 4
_ACTION_STATE = {"repost": REPOSTED, "reply": REPLIED, "like": LIKED, "ignore": 0}
#: The state of each action of ``sim.plugin.archetypes.ACTIONS`` (repost, reply, like, ignore).
_STATES = np.array([REPOSTED, REPLIED, LIKED, 0], dtype=np.int8)
#: The generator stream of the random sample (``ctx.stream_rng``), apart from the session's own.
SAMPLE_STREAM = 11
#: The stream of each round's key for the agents' own draws (archetypes and policies).
DRAW_STREAM = 12
#: Store keys of the decisions the LLM made (what ``agora llm distill`` fits a policy on): per decision, the agent,
#: how many of its contacts had taken the message up, whether its topic was among its interests, the action's
#: index in ``ACTIONS``, the tick it was made, and who made it (:data:`BY_LLM`, :data:`BY_ARCHETYPE`,
#: :data:`BY_POLICY`; a pending archetype decision logs its bucket's least count of contacts).
LOG = ("llm.log_agent", "llm.log_shared", "llm.log_interested", "llm.log_action", "llm.log_tick", "llm.log_source")
_LOG_TYPES = (np.int32, np.int32, np.int8, np.int8, np.int64, np.int8)
BY_LLM, BY_ARCHETYPE, BY_POLICY = 0, 1, 2


def _append_log(
    ctx: StepContext, agents: np.ndarray, shared: np.ndarray, interested: np.ndarray, actions: np.ndarray, by: int
) -> None:
    """Add decisions to the session's log (:data:`LOG`); a session started before the log had none, and keeps none."""
    if agents.size == 0 or LOG[-1] not in ctx.store:
        return
    new = (agents, shared, interested, actions, np.full(agents.size, ctx.tick), np.full(agents.size, by))
    for key, dtype, values in zip(LOG, _LOG_TYPES, new):
        ctx.store[key] = np.concatenate([np.asarray(ctx.store[key]), np.asarray(values).astype(dtype)])


def _situation(ctx: StepContext, agents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What ``agents`` see now: how many of their contacts took the message up, and whether its topic is among
    their interests."""
    shared = ctx.adopted_in_counts(agents) if agents.size else np.zeros(0, np.int64)
    topics = np.uint64(int(ctx.message.get("topics", 0)) & (2**64 - 1))
    return shared, (np.asarray(ctx.columns["interests"])[agents] & topics) != 0


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise BadParameterError(
            "the policy parameter is not a policy's JSON: give a policy made by agora llm distill"
        ) from None


def _pairs(text: str) -> dict[str, str]:
    out = {}
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise BadParameterError(f"rule_params {text!r} is not valid: write KEY=VALUE pairs separated by commas")
        out[key.strip()] = value.strip()
    return out


class LLMDecisions(PropagationModel):
    name = "llm"
    uses_feed = True  # reads feed exposures (ctx.feed_open)
    version = "1.0"
    description = (
        "LLM agents: a sample of exposed agents repost, like, reply or ignore as the LLM decides; a rule model decides "
        "for the rest."
    )
    states = ("susceptible", "reposted", "replied", "liked", "deciding")
    adopted_states = (REPOSTED, REPLIED, LIKED)
    transmitting_states = (REPOSTED, REPLIED)
    transmit = "once"
    seed_state = REPOSTED
    progressive = True
    onset_states = (REPOSTED, REPLIED, LIKED)  # onsets: every adoption, whichever the action
    params = {
        "rule": Param(
            str,
            "viral",
            help="rule model deciding for everyone the LLM does not (two states, transmits once: ic, viral, diffusion, "
            "hybrid, lt, threshold)",
        ),
        "rule_params": Param(str, "", help="the rule model's parameters: KEY=VALUE pairs separated by commas"),
        "llm_agents": Param(
            int, 8, 0, 100_000, "exposed agents per round whose decision comes from the LLM (within the tick's budget)"
        ),
        "sample": Param(
            str, "influential", help="which exposed agents the LLM decides for", choices=("influential", "random")
        ),
        "history": Param(int, 3, 0, 20, "messages the agent saw recently that go into its prompt"),
        "archetypes": Param(
            str,
            "",
            help="every exposed agent decides from its archetype's probabilities, asked once per archetype and "
            "situation: K clusters (1-1000) or COL[,COL] (empty: off)",
        ),
        "policy": Param(
            str,
            "",
            help="every exposed agent decides from a distilled policy (its JSON, from agora llm distill), with no "
            "model call (empty: off)",
        ),
    }

    @classmethod
    def validate(cls, params: dict[str, Any]) -> dict[str, Any]:
        out = super().validate(params)
        _pairs(out["rule_params"])
        if out["archetypes"] and out["policy"]:
            raise BadParameterError("archetypes and a policy cannot both decide: give one of them")
        if out["archetypes"]:
            arch.parse_spec(out["archetypes"])
        if out["policy"]:
            pol.parse_policy(_json(out["policy"]), "the policy parameter")
        return out

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.rule: PropagationModel | None = None
        self.groups: arch.Archetypes | None = None
        self.policy: pol.Policy | None = None
        self.mean_susceptibility = np.empty(0)
        self.inbox: deque[tuple[int, Any]] = deque()
        self.asked: set[int] = set()
        self.answers: dict[str, int] = {"llm": 0, "cache": 0, "fallback": 0}

    # -- the rule model ---------------------------------------------------------------------------
    def _rule(self, ctx: StepContext) -> PropagationModel:
        if self.rule is None:
            name = self.p["rule"]
            cls = ctx.model_class(name)
            if (
                cls is type(self)
                or len(cls.states) != 2
                or tuple(cls.adopted_states) != (1,)
                or cls.transmit != "once"
                or int(cls.seed_state) != 1
                or not cls.progressive
            ):
                raise BadParameterError(
                    f"rule model {name!r} cannot decide for the llm model: it needs the two states "
                    "susceptible and adopted and must transmit once (ic, viral, diffusion, hybrid, lt, threshold)"
                )
            self.rule = cls(**_pairs(self.p["rule_params"]))
        return self.rule

    def start(self, ctx: StepContext) -> None:
        self._rule(ctx).start(ctx)
        for key, dtype in zip(LOG, _LOG_TYPES):
            ctx.store[key] = np.empty(0, dtype=dtype)
        if self.p["archetypes"] or self.p["policy"]:
            self._cheap_start(ctx)
        ctx.store["llm.pending"] = np.empty(0, dtype=np.int32)
        ctx.store["llm.pending_source"] = np.empty(0, dtype=np.int32)
        ctx.store["llm.pending_fallback"] = np.empty(0, dtype=np.int8)
        ctx.store["llm.pending_via"] = np.empty(0, dtype=np.bool_)

    def is_done(self, ctx: StepContext) -> bool:
        return ctx.store.get("llm.pending", np.empty(0)).size == 0 and self._rule(ctx).is_done(ctx)

    # -- asking -----------------------------------------------------------------------------------
    def _ask(
        self,
        ctx: StepContext,
        llm: LLMAgents,
        agent: int,
        sharer: int,
        memory: Recollection,
        noted: list[tuple[int, int]],
    ) -> bool:
        """Ask the LLM what ``agent`` does with the message; ``memory``: what it brings to the prompt
        (``llm.prepare``); ``noted``: where an agent that started to remember now is put with its sharer,
        for one ``llm.note_seen`` after the sample."""
        msg = ctx.message
        text = str(msg.get("text", ""))
        seen: list[str] = []
        if not memory.text and self.p["history"]:
            seen, _ = llm.memory(agent, skip_message=msg.get("id"), limit=self.p["history"])
        messages = llm.decision_prompt(
            ctx.world.persona(agent),
            llm.interests(agent),
            text,
            author=llm.name(msg.get("author")),
            sharer=llm.name(sharer),
            seen=seen,
            memory=memory.text,
        )
        inbox = self.inbox

        def landed(completion: Answer, a: int = agent) -> None:
            inbox.append((a, completion))

        if llm.ask(messages, landed, parse=llm.parse_decision, memory_tokens=memory.tokens, schema=llm.decision_schema):
            self.asked.add(agent)
            if memory.new:  # this round's exposures were taken before it remembered: what it is shown now
                noted.append((agent, sharer))
            return True
        return False

    def _ask_many(self, ctx: StepContext, llm: LLMAgents, agents: list[int], sharers: list[int]) -> list[int]:
        """Ask for ``agents`` in order (their memories made in one go) until the tick's budget is spent;
        returns those asked."""
        agents = agents[: max(0, int(llm.budget_left))]
        memories = llm.prepare(agents, str(ctx.message.get("text", "")))
        noted: list[tuple[int, int]] = []
        asked = []
        for a, sharer in zip(agents, sharers):
            if not self._ask(ctx, llm, a, sharer, memories[a], noted):
                break  # the tick's budget is spent
            asked.append(a)
        llm.note_seen(noted, ctx.tick, ctx.message)
        return asked

    def _sample(self, ctx: StepContext, candidates: np.ndarray) -> np.ndarray:
        k = self.p["llm_agents"]
        if candidates.size <= k:
            return candidates
        if self.p["sample"] == "random":
            rng = ctx.stream_rng(SAMPLE_STREAM)
            return np.sort(rng.choice(candidates, size=k, replace=False))
        infl = ctx.columns["influence"][candidates].astype(np.float64)
        order = np.lexsort((candidates, -infl))[:k]
        return candidates[order]

    def _ask_sample(
        self,
        ctx: StepContext,
        llm: LLMAgents,
        targets: np.ndarray,
        r_agents: np.ndarray,
        r_src: np.ndarray,
        r_via: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Ask the LLM for the sampled exposed agents (until the tick's budget is spent). Returns the
        agents asked and, for each, the rule's decision as fallback: state (1 or 0), source, via feed."""
        shown, sharers = ctx.feed_open()
        candidates = union_agents(targets[ctx.state[targets] == 0], shown).astype(np.int64)
        none = np.empty(0, dtype=np.int64)
        if candidates.size == 0:
            return none, none.astype(np.int8), none.astype(np.int32), none.astype(bool)
        sample_array = self._sample(ctx, candidates)
        sample = sample_array.tolist()
        senders_of = self._sources(ctx, sample_array, targets, shown, sharers)[0].tolist()
        asked = self._ask_many(ctx, llm, sample, senders_of)
        sharer_of = senders_of[: len(asked)]
        agents = np.array(asked, dtype=np.int64)
        by_rule = np.isin(agents, r_agents)
        fb_src = np.array(sharer_of, dtype=np.int32)
        fb_via = np.isin(agents, shown) & ~np.isin(agents, targets)
        if by_rule.any():
            order = np.argsort(r_agents, kind="stable")
            pos = order[np.searchsorted(r_agents[order], agents[by_rule])]
            fb_src[by_rule] = r_src[pos]
            fb_via[by_rule] = r_via[pos]
        return agents, by_rule.astype(np.int8), fb_src, fb_via

    # -- archetypes and policies ------------------------------------------------------------------
    def _cheap_start(self, ctx: StepContext) -> None:
        ctx.store["llm.pending_key"] = np.empty(0, dtype=np.int64)
        self._cheap_ready(ctx, fresh=True)

    def _cheap_ready(self, ctx: StepContext, *, fresh: bool = False) -> None:
        """The policy parsed and checked against the world, or the archetypes made (again, for a session restored
        from a file: keys asked but not answered before are asked again)."""
        w = ctx.world
        labels = arch.category_labels(w)
        if self.p["policy"] and self.policy is None:
            self.policy = pol.parse_policy(_json(self.p["policy"]), "the policy parameter")
            pol.check_world(self.policy, w.columns, w.attributes, labels)
        if self.p["archetypes"] and self.groups is None:
            g = arch.assign(w.columns, w.attributes, labels, self.p["archetypes"], int(w.seed))
            self.groups = g
            susc = np.asarray(w.columns["susceptibility"], dtype=np.float64)
            self.mean_susceptibility = np.bincount(g.labels, weights=susc, minlength=g.count) / np.maximum(g.sizes, 1)
            if fresh or "llm.arch_probs" not in ctx.store:
                ctx.store["llm.arch_probs"] = np.full((g.count * arch.SITUATIONS, len(arch.ACTIONS)), np.nan)
            probs = np.asarray(ctx.store["llm.arch_probs"])
            ctx.store["llm.arch_asked"] = ~np.isnan(probs[:, 0])

    def _offline(self, key: int) -> np.ndarray:
        a, situation = divmod(int(key), arch.SITUATIONS)
        return arch.offline_probabilities(float(self.mean_susceptibility[a]), situation)

    def _ask_key(self, ctx: StepContext, llm: LLMAgents, key: int) -> bool:
        """Ask for the probabilities of archetype and situation ``key``; False over the tick's budget."""
        assert self.groups is not None
        a, situation = divmod(int(key), arch.SITUATIONS)
        rep = int(self.groups.representative[a])
        msg = ctx.message
        messages = llm.archetype_prompt(
            ctx.world.persona(rep),
            llm.interests(rep),
            self.groups.names[a],
            int(self.groups.sizes[a]),
            str(msg.get("text", "")),
            situation,
            author=llm.name(msg.get("author")),
        )
        inbox = self.inbox

        def landed(completion: Answer, k: int = int(key)) -> None:
            inbox.append((k, completion))

        return bool(llm.ask(messages, landed, parse=llm.parse_probabilities, schema=llm.probability_schema))

    def _take_answers(self, table: np.ndarray) -> None:
        while self.inbox:
            key, c = self.inbox.popleft()
            if c is None or c.source == "offline" or c.value is None:
                self.answers["fallback"] += 1
                table[key] = self._offline(key)
            else:
                self.answers[c.source] += 1
                table[key] = np.asarray(c.value, dtype=np.float64)

    def _fill(self, ctx: StepContext, llm: LLMAgents | None, table: np.ndarray, keys: np.ndarray) -> None:
        """Probabilities for the keys without: asked (within the tick's budget), offline when nobody is asked."""
        asked = np.array(ctx.store["llm.arch_asked"], dtype=bool)
        for k in np.unique(keys[np.isnan(table[keys, 0])]).tolist():
            if asked[k]:
                continue
            if llm is None:
                table[k] = self._offline(k)
            elif llm.budget_left <= 0 or not self._ask_key(ctx, llm, k):
                break
            asked[k] = True
        ctx.store["llm.arch_asked"] = asked
        self._take_answers(table)  # answers from the cache land at once

    @staticmethod
    def _sources(
        ctx: StepContext, agents: np.ndarray, targets: np.ndarray, shown: np.ndarray, sharers: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Who exposed each agent (its lowest sender this round, else its feed's sharer) and whether by the feed."""
        first_t, first_i = np.unique(targets, return_index=True)
        senders = ctx.gather_sources()
        j = np.searchsorted(first_t, agents)
        jj = np.minimum(j, max(first_t.size - 1, 0))
        by_graph = (j < first_t.size) & (first_t[jj] == agents) if first_t.size else np.zeros(agents.size, bool)
        src = np.full(agents.size, -1, dtype=np.int32)
        if first_t.size:
            src[by_graph] = senders[first_i[jj[by_graph]]]
        if shown.size and (~by_graph).any():
            k = np.minimum(np.searchsorted(shown, agents[~by_graph]), shown.size - 1)
            src[~by_graph] = sharers[k]
        return src, ~by_graph

    def _cheap_step(self, ctx: StepContext) -> StepResult:
        """A round where every exposed agent decides by its archetype's probabilities or the policy."""
        self._cheap_ready(ctx)
        store = ctx.store
        llm = ctx.llm if ctx.llm is not None and ctx.llm.online else None
        pend = np.asarray(store["llm.pending"], dtype=np.int64)
        p_src = np.asarray(store["llm.pending_source"], dtype=np.int32)
        p_via = np.asarray(store["llm.pending_via"], dtype=np.bool_)
        p_key = np.asarray(store.get("llm.pending_key", np.zeros(pend.size, np.int64)), dtype=np.int64)
        targets, _ = ctx.gather_targets()
        shown, sharers = ctx.feed_open()
        cand = union_agents(targets[ctx.state[targets] == 0], shown).astype(np.int64)
        src, via = self._sources(ctx, cand, targets, shown, sharers)
        shared, interested = _situation(ctx, cand)
        if self.policy is not None:
            data = pol.AgentData(ctx.columns, ctx.world.attributes, {}, cand, shared, interested)
            probs = pol.probabilities(self.policy, data)
            agents, a_src, a_via, waiting = cand, src, via, np.zeros(cand.size, bool)
            sit, by = (shared, interested), BY_POLICY
        else:
            assert self.groups is not None
            table = np.array(store["llm.arch_probs"], dtype=np.float64)
            self._take_answers(table)
            keys = np.asarray(arch.key_of(self.groups.labels[cand], arch.situations(shared, interested)), np.int64)
            self._fill(ctx, llm, table, np.concatenate([keys, p_key]))
            store["llm.arch_probs"] = table
            agents = np.concatenate([cand, pend])
            a_src, a_via = np.concatenate([src, p_src]), np.concatenate([via, p_via])
            all_keys = np.concatenate([keys, p_key])
            bucket, stance = np.divmod(p_key % arch.SITUATIONS, len(arch.STANCES))
            least = np.concatenate([[0], arch.SHARED_EDGES])[bucket]  # a waiting agent's bucket's least count
            sit, by = (np.concatenate([shared, least]), np.concatenate([interested, stance != 0])), BY_ARCHETYPE
            waiting = np.isnan(table[all_keys, 0])
            probs = table[all_keys[~waiting]]
            store["llm.pending"] = agents[waiting].astype(np.int32)
            store["llm.pending_source"], store["llm.pending_via"] = a_src[waiting], a_via[waiting]
            store["llm.pending_key"] = all_keys[waiting]
            store["llm.pending_fallback"] = np.zeros(int(waiting.sum()), dtype=np.int8)
        decide = agents[~waiting]
        u = arch.agent_uniforms(int(ctx.stream_rng(DRAW_STREAM).integers(2**63)), decide)
        drawn = arch.draw(probs, u)
        states = _STATES[drawn]
        _append_log(ctx, decide, sit[0][~waiting], sit[1][~waiting], drawn, by)
        was_pending = ctx.state[decide] == DECIDING
        keep = (states > 0) | was_pending  # an ignore changes nothing, except for an agent that was waiting
        new = np.flatnonzero(waiting & (np.arange(agents.size) < cand.size))
        out_agents = np.concatenate([decide[keep], agents[new]])
        out_states = np.concatenate([states[keep], np.full(new.size, DECIDING, np.int8)])
        out_src = np.concatenate([np.where(states[keep] > 0, a_src[~waiting][keep], -1), np.full(new.size, -1)])
        out_via = np.concatenate([a_via[~waiting][keep] & (states[keep] > 0), np.zeros(new.size, bool)])
        return StepResult(
            out_agents, out_states, out_src.astype(np.int32), attempts=int(targets.size), exposed=cand, via_feed=out_via
        )

    def _landed(
        self,
        ctx: StepContext,
        llm: LLMAgents | None,
        pend: np.ndarray,
        p_src: np.ndarray,
        p_fb: np.ndarray,
        p_via: np.ndarray,
    ) -> tuple[tuple[np.ndarray, ...], tuple[Any, ...]]:
        """Decisions that landed applied (and, for a session restored from a file, what was pending asked again):
        the pending arrays left, and the agents decided with their states, sources and feed flags."""
        results: dict[int, Any] = {}
        while self.inbox:
            a, c = self.inbox.popleft()
            results[int(a)] = c
        lost = [int(a) for a in pend.tolist() if int(a) not in self.asked and int(a) not in results]
        if lost:
            sharers = p_src[np.isin(pend, lost)].tolist()
            again = set(self._ask_many(ctx, llm, lost, sharers)) if llm is not None else set()
            for a in lost:
                if a not in again:
                    results[a] = None  # cannot ask: the fallback now
        while self.inbox:  # cached answers to the questions just asked again
            a, c = self.inbox.popleft()
            results[int(a)] = c
        l_agents, l_states = [], []
        logged: list[tuple[int, int]] = []
        if results and pend.size:
            done = np.isin(pend, np.fromiter(results, dtype=np.int64, count=len(results)))
            for a, fb in zip(pend[done].tolist(), p_fb[done].tolist()):
                c = results[a]
                self.asked.discard(a)
                if c is None or c.source == "offline" or c.value is None:
                    self.answers["fallback"] += 1
                    state = int(fb)
                else:
                    self.answers[c.source] += 1
                    d = c.value
                    state = _ACTION_STATE[d.action]
                    logged.append((a, arch.ACTIONS.index(d.action)))
                    if d.text and d.action in ("repost", "reply"):
                        assert ctx.llm is not None  # the answer came from it
                        ctx.llm.post(
                            ctx.tick, a, int(ctx.message.get("id", 0)), ctx.session.id, d.action, d.text, c.source
                        )
                l_agents.append(a)
                l_states.append(state)
            keep = ~done
            l_src = np.where(np.array(l_states) > 0, p_src[done], -1).astype(np.int32)
            l_via = p_via[done] & (np.array(l_states, dtype=np.int8) > 0)
            pend, p_src, p_fb, p_via = pend[keep], p_src[keep], p_fb[keep], p_via[keep]
        else:
            l_src = np.empty(0, dtype=np.int32)
            l_via = np.empty(0, dtype=bool)

        self._log(ctx, logged)
        return (pend, p_src, p_fb, p_via), (l_agents, l_states, l_src, l_via)

    @staticmethod
    def _log(ctx: StepContext, logged: list[tuple[int, int]]) -> None:
        """Add the LLM's decisions to the session's log (see :data:`LOG`), with each agent's situation now."""
        if not logged:
            return
        agents = np.array([a for a, _ in logged], dtype=np.int64)
        actions = np.array([x for _, x in logged])
        _append_log(ctx, agents, *_situation(ctx, agents), actions, BY_LLM)

    # -- a round ----------------------------------------------------------------------------------
    def step(self, ctx: StepContext) -> StepResult:
        if self.p["archetypes"] or self.p["policy"]:
            return self._cheap_step(ctx)
        rule = self._rule(ctx)
        store = ctx.store
        pend = np.asarray(store["llm.pending"], dtype=np.int32)
        p_src = np.asarray(store["llm.pending_source"], dtype=np.int32)
        p_fb = np.asarray(store["llm.pending_fallback"], dtype=np.int8)
        p_via = np.asarray(store["llm.pending_via"], dtype=np.bool_)
        llm = ctx.llm if ctx.llm is not None and ctx.llm.online else None  # None: nobody is asked

        # 1. What landed (and, for a session restored from a file, asking again what was pending).
        (pend, p_src, p_fb, p_via), (l_agents, l_states, l_src, l_via) = self._landed(
            ctx, llm, pend, p_src, p_fb, p_via
        )

        # 2. The rule model, on the same round.
        res = rule.step(ctx)
        r_agents = np.asarray(res.agents, dtype=np.int64)
        n_r = r_agents.size
        r_src = np.full(n_r, -1, dtype=np.int32) if res.sources is None else np.asarray(res.sources, dtype=np.int32)
        targets, _ = ctx.gather_targets()
        if res.via_feed is not None:
            r_via = np.asarray(res.via_feed, dtype=bool)
        elif ctx.feed_agents.size and n_r:
            r_via = np.isin(r_agents, ctx.feed_agents) & ~np.isin(r_agents, targets)
        else:
            r_via = np.zeros(n_r, dtype=bool)
        if n_r:
            ok = ctx.state[r_agents] == 0  # agents waiting for the LLM are not the rule's to decide
            r_agents, r_src, r_via = r_agents[ok], r_src[ok], r_via[ok]

        # 3. The sample asked this round: it waits in "deciding", the rule's decision kept as its fallback.
        asked = np.empty(0, dtype=np.int64)
        if llm is not None and self.p["llm_agents"] > 0:
            asked, fb_state, fb_src, fb_via = self._ask_sample(ctx, llm, targets, r_agents, r_src, r_via)
            if asked.size:
                keep = ~np.isin(r_agents, asked)
                r_agents, r_src, r_via = r_agents[keep], r_src[keep], r_via[keep]
                pend = np.concatenate([pend, asked.astype(np.int32)])
                p_src = np.concatenate([p_src, fb_src])
                p_fb = np.concatenate([p_fb, fb_state])
                p_via = np.concatenate([p_via, fb_via])
        store["llm.pending"], store["llm.pending_source"] = pend, p_src
        store["llm.pending_fallback"], store["llm.pending_via"] = p_fb, p_via

        agents = np.concatenate([r_agents, np.array(l_agents, dtype=np.int64), asked])
        states = np.concatenate(
            [
                np.full(r_agents.size, REPOSTED, dtype=np.int8),
                np.array(l_states, dtype=np.int8),
                np.full(asked.size, DECIDING, dtype=np.int8),
            ]
        )
        sources = np.concatenate([r_src, l_src, np.full(asked.size, -1, dtype=np.int32)])
        via = np.concatenate([r_via, l_via, np.zeros(asked.size, dtype=bool)])
        return StepResult(agents, states, sources, attempts=int(res.attempts), exposed=res.exposed, via_feed=via)
