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

REPOSTED, REPLIED, LIKED, DECIDING = 1, 2, 3, 4
_ACTION_STATE = {"repost": REPOSTED, "reply": REPLIED, "like": LIKED, "ignore": 0}
#: The generator stream of the random sample (``ctx.stream_rng``), apart from the session's own.
SAMPLE_STREAM = 11


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
    }

    @classmethod
    def validate(cls, params: dict[str, Any]) -> dict[str, Any]:
        out = super().validate(params)
        _pairs(out["rule_params"])
        return out

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.rule: PropagationModel | None = None
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
        # Who exposed each agent: its lowest sender this round (edges come grouped by ascending sender),
        # else the feed's sharer.
        first_t, first_i = np.unique(targets, return_index=True)
        senders = ctx.gather_sources()
        sample = self._sample(ctx, candidates).tolist()
        senders_of = []
        for a in sample:
            j = int(np.searchsorted(first_t, a))
            senders_of.append(
                int(senders[first_i[j]])
                if j < first_t.size and first_t[j] == a
                else int(sharers[np.searchsorted(shown, a)])
            )
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

    # -- a round ----------------------------------------------------------------------------------
    def step(self, ctx: StepContext) -> StepResult:
        rule = self._rule(ctx)
        store = ctx.store
        pend = np.asarray(store["llm.pending"], dtype=np.int32)
        p_src = np.asarray(store["llm.pending_source"], dtype=np.int32)
        p_fb = np.asarray(store["llm.pending_fallback"], dtype=np.int8)
        p_via = np.asarray(store["llm.pending_via"], dtype=np.bool_)
        llm = ctx.llm if ctx.llm is not None and ctx.llm.online else None  # None: nobody is asked

        # 1. What landed (and, for a session restored from a file, asking again what was pending).
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
