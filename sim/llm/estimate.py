"""The cost of an LLM session before it runs: calls, tokens in and out, money and wall time.

The estimate comes from a **dry run**: the session is run on a copy of the world (``World.fork``: nothing
reaches the world or its file) with :class:`DryRunService` in place of the LLM service. The double spends
each tick's budget exactly as the service does (``calls_per_tick``: decisions first, then texts, then memory
summaries), builds every prompt the real run would build, and counts it instead of sending it: its kind,
its estimated tokens (:func:`sim.llm.prompts.prompt_tokens`, one per four characters) and whether the
world's response cache would answer it. Each request then "lands" with the rule's fallback decision (the
offline text for a text) after the ticks a server would take to answer it: the double keeps a queue of
``concurrency`` servers, each answering one call in :meth:`TokenProfile.call_seconds`, and the dry run's
own tick time as the clock. A slow local model therefore leaves the asked agents deciding for the rest of
a short run, as the real run does.

What the server counts is not what the prompt builder estimates, and an answer's length is the model's:
a :class:`TokenProfile` turns the counts into tokens. Its figures come, in this order, from

1. the world's own answers: the response cache keeps every answer's prompt and the usage the server
   reported, so the mean tokens out of each kind and the ratio of reported to estimated prompt tokens are
   measured on the model the run will use (from :data:`MEASURED_MIN` answers of a kind);
2. the local model's profile (:data:`LOCAL_PROFILE`), measured on SmolLM2-135M-Instruct here
   (docs/llm-agents.md, "The cost before the run");
3. a documented guess for API models (:data:`API_PROFILE`), said to be one.

Money is the tokens at the configured prices (:attr:`sim.llm.config.LLMConfig.prices`); wall time is the
dry run's queue: when the last answer lands.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sim.core.llmcache import LLMCache, cache_key
from sim.llm import prompts
from sim.llm.client import Completion
from sim.llm.config import LLMConfig
from sim.llm.service import LLMService, OnDone

#: The kinds of request a session makes: a propagation model's decision, a text an adopter writes, a memory
#: summary.
KINDS = ("decision", "text", "summary")
#: Answers of a kind the world's cache must hold before their mean replaces the profile's.
MEASURED_MIN = 5
#: Phrases of the prompts that tell their kind (tests/test_llm_estimate.py checks that the prompts say them).
KIND_MARKERS = {"decision": "What do you do? Answer with one JSON object", "summary": "Write a new summary"}
#: Markers of the prompts no session makes (an interview, asked from outside a run).
OTHER_MARKERS = ("An interviewer asks you",)


@dataclass(frozen=True)
class TokenProfile:
    """How a model counts and answers: ``tokens_in = in_ratio * estimated + in_per_call`` per call, ``tokens_out``
    the mean answer of each kind, and a call's wall time ``seconds_per_call + tokens_in / prefill_per_second +
    tokens_out / tokens_per_second``. ``source``: where the figures come from, in words."""

    source: str
    in_ratio: float
    in_per_call: float
    tokens_out: Mapping[str, float]
    prefill_per_second: float
    tokens_per_second: float
    seconds_per_call: float = 0.0
    rate_source: str = ""

    def tokens_in(self, estimated: int) -> float:
        """What the server counts for a prompt of ``estimated`` tokens (:func:`sim.llm.prompts.prompt_tokens`)."""
        return self.in_ratio * estimated + self.in_per_call

    def call_seconds(self, kind: str, estimated: int) -> float:
        """Wall seconds of one call of ``kind`` on a free server."""
        return (
            self.seconds_per_call
            + self.tokens_in(estimated) / self.prefill_per_second
            + self.tokens_out[kind] / self.tokens_per_second
        )


#: SmolLM2-135M-Instruct (Q4_1) served by llama-cpp-python with one thread, as ``--llm local`` serves it, measured
#: on this project's 2-core machine (see docs/llm-agents.md, "The cost before the run"): its tokenizer and chat
#: template count the estimated tokens and about 15 more per call (decisions 17, texts 10), from four calibration
#: runs (200 to 5,000 agents, 105 calls, load 4-7). Tokens out, from every answer of seven runs: a decision
#: constrained to the schema, with the prompt that asks for at most 20 words of the agent's own, was 29 tokens on
#: average (47 decisions of three runs, 15 to 81; 24 with the earlier prompt); with the instructions put before the
#: persona and the model served as Q8_0 (issue 76) it is 25 (40 decisions of two runs of 500 agents: 28.3 and
#: 21.6 a run; 20.8 in a greedy run of 6); a repost's comment 55 (66 texts, 6
#: to 120, the most allowed: heavy-tailed, so a run of few texts may differ from the mean by half). A memory
#: summary (200 at most) was not measured: 90 is a guess. Its time: 4.2 s a decision and 5.7 s a text on average
#: at a load of about 6 (a call about 0.8 s, the prompt at 100 tokens a second, the answer at 14).
LOCAL_PROFILE = TokenProfile(
    source="the local model's profile (SmolLM2-135M-Instruct, measured on a 2-core machine)",
    in_ratio=1.0,
    in_per_call=15.0,
    tokens_out={"decision": 25.0, "text": 55.0, "summary": 90.0},
    prefill_per_second=100.0,
    tokens_per_second=14.0,
    seconds_per_call=0.8,
    rate_source="SmolLM2 on one thread, measured on a 2-core machine at load 4-7 (about 4 s a decision)",
)


#: The load average (on 2 cores) :data:`LOCAL_PROFILE`'s times were measured at: the local model's one thread gets
#: a share of a core that shrinks as the load grows past the cores, so its times are scaled by the load now.
PROFILE_LOAD = 6.0


def at_load(profile: TokenProfile, load: float, cpus: int) -> TokenProfile:
    """``profile``'s times (a model served on this machine) scaled from :data:`PROFILE_LOAD` on 2 cores to ``load``
    on ``cpus`` cores: by ``max(1, load / cpus) / max(1, PROFILE_LOAD / 2)``, the share of a core its thread loses."""
    factor = max(1.0, load / max(1, cpus)) / max(1.0, PROFILE_LOAD / 2)
    return dataclasses.replace(
        profile,
        seconds_per_call=profile.seconds_per_call * factor,
        prefill_per_second=profile.prefill_per_second / factor,
        tokens_per_second=profile.tokens_per_second / factor,
        rate_source=f"{profile.rate_source}; scaled to the load now ({load:.1f} on {cpus} cores: x{factor:.2f})",
    )


#: A guess for API models (OpenAI's tokenizers count about one token per four characters of English, and each
#: message of a chat a few more): not measured here. A world that has answers of its model replaces it.
API_PROFILE = TokenProfile(
    source="a guess for API models (not measured: run once, then the world's cache measures it)",
    in_ratio=1.0,
    in_per_call=9.0,
    tokens_out={"decision": 30.0, "text": 45.0, "summary": 110.0},
    prefill_per_second=5000.0,
    tokens_per_second=60.0,
    seconds_per_call=0.4,
    rate_source="a guess (0.4 s a call and 60 tokens a second; not measured)",
)


def kind_of(messages: list[dict[str, Any]] | str) -> str | None:
    """The kind of a prompt (its messages, or their JSON as the cache keeps it); None for an interview."""
    text = messages if isinstance(messages, str) else json.dumps(messages, ensure_ascii=False)
    if any(m in text for m in OTHER_MARKERS):
        return None
    for kind, marker in KIND_MARKERS.items():
        if marker in text:
            return kind
    return "text"


def profile_for(config: LLMConfig, cache: LLMCache | None, *, local: bool) -> TokenProfile:
    """The profile of ``config``'s model: the local model's or the API guess, with what the world's ``cache``
    measured of that model where it has :data:`MEASURED_MIN` answers of a kind (see the module docstring)."""
    base = LOCAL_PROFILE if local else API_PROFILE
    if cache is None:
        return base
    outs: dict[str, list[int]] = {k: [] for k in KINDS}
    est_total = in_total = calls = 0
    for _key, model, prompt, _response, tin, tout, _delay in cache.rows():
        if model != config.model or tin <= 0:
            continue
        kind = kind_of(prompt)
        if kind is None:
            continue
        outs[kind].append(tout)
        try:
            est_total += prompts.prompt_tokens(json.loads(prompt))
        except (ValueError, TypeError, AttributeError):
            continue
        in_total += tin
        calls += 1
    measured = {k: sum(v) / len(v) for k, v in outs.items() if len(v) >= MEASURED_MIN}
    if not measured:
        return base
    ratio = base.in_ratio
    if calls >= MEASURED_MIN and est_total > 0:
        ratio = max(0.1, (in_total - base.in_per_call * calls) / est_total)
    kinds = ", ".join(f"{k} ({len(outs[k])})" for k in KINDS if k in measured)
    return dataclasses.replace(
        base,
        source=f"this world's {calls:,} cached answers of {config.model} ({kinds}); {base.source} for the rest",
        in_ratio=ratio,
        tokens_out={**base.tokens_out, **measured},
    )


@dataclass(frozen=True)
class KindEstimate:
    """One kind of request in an estimate: ``requests`` asked (within the budget), ``cache_hits`` among them (no
    call, no tokens), ``calls`` sent, ``prompt_tokens`` of those calls as the prompt builder estimates them, and the
    ``tokens_in`` / ``tokens_out`` the server will count."""

    kind: str
    requests: int
    cache_hits: int
    calls: int
    prompt_tokens: int
    tokens_in: int
    tokens_out: int

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class LLMEstimate:
    """The cost of an LLM session before it runs (:func:`sim.runs.llmestimate.estimate_session`).

    Attributes:
        model: the model asked; mode: ``online`` or ``offline`` (offline: as configured the run sends nothing,
            and the figures are those of the same run with a server). local: the local model serves it.
        runs, ticks: runs and the ticks the dry run took over them.
        kinds: per kind of request (:class:`KindEstimate`); calls, cache_hits, tokens_in, tokens_out: totals.
        cost_usd, prices: dollars at ``prices`` (per million tokens in, out).
        seconds: wall seconds until the last answer lands (the calls' queue on ``concurrency`` servers).
        source, rate_source: where the token and time figures come from. over_budget: requests the ticks'
            budgets refused (their agents decided by rule, their texts written offline). notes: what to know.
    """

    model: str
    mode: str
    local: bool
    runs: int
    ticks: int
    kinds: tuple[KindEstimate, ...]
    calls: int
    cache_hits: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    prices: tuple[float, float]
    seconds: float
    concurrency: int
    source: str
    rate_source: str
    over_budget: int = 0
    notes: tuple[str, ...] = ()
    dry_run_seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        """The estimate as JSON (``llm_estimate`` in ``agora run --json``; ``agora llm estimate --json``)."""
        out: dict[str, object] = {
            k: getattr(self, k)
            for k in ("model", "mode", "local", "runs", "ticks", "calls", "cache_hits", "tokens_in", "tokens_out")
        }
        out["cost_usd"] = round(self.cost_usd, 6)
        out["prices"] = list(self.prices)
        out["seconds"] = round(self.seconds, 1)
        out["concurrency"] = self.concurrency
        out["over_budget"] = self.over_budget
        out["kinds"] = {k.kind: k.to_dict() for k in self.kinds}
        out["source"] = self.source
        out["rate_source"] = self.rate_source
        out["notes"] = list(self.notes)
        out["dry_run_seconds"] = round(self.dry_run_seconds, 3)
        return out

    def line(self) -> str:
        """One line for stderr before a run."""
        return (
            f"LLM estimate ({self.model}{', local' if self.local else ''}): {self.calls:,} calls, "
            f"{self.tokens_in:,} tokens in, {self.tokens_out:,} out, ${self.cost_usd:.4f}, "
            f"about {_duration(self.seconds)}" + (f"; {self.cache_hits:,} from the cache" if self.cache_hits else "")
        )

    def text(self) -> str:
        """The estimate as ``agora llm estimate`` prints it."""
        lines = [self.line()]
        for k in self.kinds:
            if k.requests:
                counts = f"{k.calls:>7,} calls{k.cache_hits:>7,} cached"
                lines.append(f"  {k.kind:<9}{counts}{k.tokens_in:>10,} in{k.tokens_out:>9,} out")
        p_in, p_out = self.prices
        lines.append(f"prices: ${p_in:g} in, ${p_out:g} out per million tokens")
        lines.append(f"tokens: {self.source}")
        lines.append(f"time: {self.rate_source}; {self.concurrency} call(s) at once")
        lines.append(
            f"from a dry run of {self.runs} run(s), {self.ticks:,} ticks in all ({self.dry_run_seconds:.1f} s)"
        )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def compare(self, actual: Mapping[str, object], seconds: float | None = None) -> dict[str, object]:
        """The estimate beside the run's ``actual`` LLM counters (``llm`` in ``agora run --json``) and its wall
        ``seconds``: ``{..estimate.., "actual": {calls, tokens_in, tokens_out, cost_usd, seconds}, "error": {..}}``,
        ``error`` the estimate's relative error (estimate / actual - 1) where the actual is not 0."""
        got = {k: _num(actual.get(k)) for k in ("calls", "tokens_in", "tokens_out", "cost_usd")}
        got["cache_hits"] = _num(actual.get("cache_hits"))
        if seconds is not None:
            got["seconds"] = round(seconds, 1)
        est = self.to_dict()
        err = {}
        for k, v in got.items():
            e = est.get(k)
            if isinstance(e, int | float) and v:
                err[k] = round(float(e) / float(v) - 1.0, 3)
        return {**est, "actual": got, "error": err}


def compare_text(compared: Mapping[str, object]) -> str:
    """The estimate beside the actual, one line (``agora run`` after a run)."""
    act = compared["actual"]
    assert isinstance(act, dict)
    parts = []
    for k, label in (("calls", "calls"), ("tokens_in", "tokens in"), ("tokens_out", "tokens out")):
        parts.append(f"{label} {compared[k]:,} est. / {act.get(k, 0):,}")
    if "seconds" in act:
        parts.append(f"wall {_duration(float(str(compared['seconds'])))} est. / {_duration(float(act['seconds']))}")
    return "LLM estimate vs actual: " + ", ".join(parts)


def _num(v: object) -> float | int:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return 0
    return v


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class Tally:
    """What a dry run counted, per kind: requests, cache hits, calls and their estimated prompt tokens."""

    requests: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    hits: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    prompt_tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    #: Wall seconds (the dry run's clock) when the last answer lands.
    last_answer: float = 0.0
    over_budget: int = 0
    #: Cache keys asked (a later run of an ensemble finds them in the cache).
    keys: set[str] = field(default_factory=set)


class DryRunService(LLMService):
    """The LLM service of a dry run: every request is counted and answered by its fallback, nothing is sent
    (see the module docstring). ``tally`` collects the counts (shared by the runs of an ensemble); ``clock``:
    the dry run's wall seconds so far, which its driver advances by each tick's time."""

    def __init__(self, world: Any, config: LLMConfig, profile: TokenProfile, tally: Tally) -> None:
        # Online whatever the key: the estimate is of the run with a server.
        super().__init__(world, dataclasses.replace(config, api_key=config.api_key or "dry-run", offline=False))
        self.profile = profile
        self.tally = tally
        self.clock = 0.0
        self.tick_seconds = 1e-3
        self._kind = "decision"
        self._free = [0.0] * max(1, config.concurrency)  # when each server is free (a heap)

    def write(self, *args: Any, **kw: Any) -> bool:
        self._kind = "text"
        try:
            return super().write(*args, **kw)
        finally:
            self._kind = "decision"

    def maintain_memory(self, tick: int) -> None:
        self._kind = "summary"
        try:
            super().maintain_memory(tick)
        finally:
            self._kind = "decision"

    def ask(
        self,
        messages: list[dict[str, Any]],
        on_done: OnDone,
        *,
        parse: Callable[[str], Any] | None = None,
        fallback: Callable[[], str] | None = None,
        max_tokens: int | None = None,
        memory_tokens: int = 0,
        schema: dict[str, Any] | None = None,
    ) -> bool:
        cfg, tally, kind = self.config, self.tally, self._kind
        with self._lock:
            if self.budget_left <= 0:
                self._stats.over_budget += 1
                tally.over_budget += 1
                return False
            self.budget_left -= 1
            self.asked += 1
            self._seq += 1
            seq = self._seq
        tokens = prompts.prompt_tokens(messages)
        key = cache_key(cfg.model, messages, cfg.temperature, int(max_tokens or cfg.max_tokens)) if cfg.cache else None
        tally.requests[kind] += 1
        entry = self.world.llm_cache.get(key) if key is not None else None
        if entry is not None or (key is not None and key in tally.keys):
            tally.hits[kind] += 1
            delay = entry.delay if entry is not None and entry.delay > 0 else 1
        else:
            tally.calls[kind] += 1
            tally.prompt_tokens[kind] += tokens
            if key is not None:
                tally.keys.add(key)
            start = max(self.clock, heapq.heappop(self._free))
            end = start + self.profile.call_seconds(kind, tokens)
            heapq.heappush(self._free, end)
            tally.last_answer = max(tally.last_answer, end)
            delay = max(1, math.ceil((end - self.clock) / max(self.tick_seconds, 1e-6)))
        answer = Completion(fallback() if fallback is not None else "", "offline", reason="dry run")
        with self._lock:
            heapq.heappush(self._due, (self.tick + delay, seq, on_done, answer))
        return True


def build_estimate(
    config: LLMConfig,
    profile: TokenProfile,
    tally: Tally,
    *,
    local: bool,
    mode: str,
    runs: int,
    ticks: int,
    seconds: float,
    dry_run_seconds: float,
    notes: tuple[str, ...] = (),
) -> LLMEstimate:
    """The estimate of what ``tally`` counted under ``profile`` and ``config``'s prices. ``seconds``: when the last
    answer lands (the dry run's queue)."""
    kinds = []
    for k in KINDS:
        calls = tally.calls[k]
        tin = round(profile.in_ratio * tally.prompt_tokens[k] + profile.in_per_call * calls)
        tout = round(profile.tokens_out[k] * calls)
        kinds.append(KindEstimate(k, tally.requests[k], tally.hits[k], calls, tally.prompt_tokens[k], tin, tout))
    tokens_in = sum(k.tokens_in for k in kinds)
    tokens_out = sum(k.tokens_out for k in kinds)
    p_in, p_out = config.prices
    return LLMEstimate(
        model=config.model,
        mode=mode,
        local=local,
        runs=runs,
        ticks=ticks,
        kinds=tuple(kinds),
        calls=sum(k.calls for k in kinds),
        cache_hits=sum(k.cache_hits for k in kinds),
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=(tokens_in * p_in + tokens_out * p_out) / 1e6,
        prices=(p_in, p_out),
        seconds=seconds,
        concurrency=config.concurrency,
        source=profile.source,
        rate_source=profile.rate_source,
        over_budget=tally.over_budget,
        notes=notes,
        dry_run_seconds=dry_run_seconds,
    )
