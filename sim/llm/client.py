"""The LLM client: the official ``openai`` async client behind limits, retries and a circuit breaker.

:meth:`LLMClient.complete` never raises for a server's failure: it answers with what the server said,
with a cached answer, or with a fallback from the offline generator, and says which (``Completion.source``).

One request goes through these steps:

1. **Offline mode** (no key, or forced): the fallback at once (``offline``).
2. **Cache** (on by default): a prompt seen before is answered from the world's cache (``cache_hits``).
3. **A server**: among the configured base URLs, the one with the fewest requests in flight whose circuit
   breaker is closed (or half-open and free for its one trial request). None: the fallback at once
   (``circuit_open``).
4. **Limits**: a concurrency cap, then requests-per-minute and tokens-per-minute buckets (tokens
   estimated from the prompt and ``max_tokens``, corrected by the reported usage).
5. **The call** (``calls``), with a timeout. A 429 / 408 / 409 / 5xx answer, a timeout, a dropped
   connection or a body that is not a chat completion is a failure (``failures``); it is retried
   (``retries``) after ``Retry-After`` when the server sent one, else after ``backoff * 2**k`` (with
   jitter), capped at ``max_backoff``, possibly on another server. Any other 4xx is not retried. After
   ``retries`` retries the request gives up and falls back (``gave_up``).
6. **The answer** (``answered``): tokens and cost are counted and the answer is cached (under a key of the
   prompt, the model, the temperature, ``max_tokens`` and the ``schema`` asked for, if any). A ``parse``
   function may check it against a schema; an answer that fails it is ``malformed`` and falls back.

**Answers constrained to a JSON schema.** A request may carry a ``schema`` (decisions, interviews and memory
summaries do: :data:`sim.llm.prompts.DECISION_SCHEMA`, ``INTERVIEW_SCHEMA``, ``SUMMARY_SCHEMA``). It is sent in the
first of :data:`SCHEMA_FORMATS` the server has not refused: OpenAI's structured outputs (``json_schema``; vLLM and
llama.cpp's own server take it too), then llama-cpp-python's ``json_object`` with a ``schema``. A server that
answers such a call with an error whose body names ``response_format`` (OpenAI: a 400; llama-cpp-python: a 500) has
refused the format: the request is sent again at once in the next format, then with the plain prompt; once a later
form is answered, the refused formats are struck off that server's list for good (a refusal that the plain prompt
gets as well says nothing of the schema, and strikes nothing off). Any other error is the server's failure, as
without a schema. Structured outputs are thus detected per server, not assumed. ``schema_answers`` counts answers
to such requests sent with the schema, ``schema_plain`` those sent plain (the server refused every format), and
``schema_refused`` the calls refused for their format, which are counted apart: not in ``calls`` or ``failures``.
``parse`` still checks every answer.

Every request is accounted for: ``requests = offline + cache_hits + answered + circuit_open + gave_up +
cancelled + in_flight``; ``calls = answered + failures``; ``fallbacks = circuit_open + gave_up + malformed +
cancelled`` (the offline mode's answers are not counted as fallbacks); and, when nothing was cancelled
(a run stopped with requests in flight), ``failures = retries + gave_up``.

A server's breaker opens after ``breaker_failures`` consecutive failures, stays open for
``breaker_cooldown`` seconds, then lets one trial request through: success closes it, failure opens it
again. While every breaker is open the mode shows as ``fallback``.

The API key is handed to the ``openai`` client and nowhere else.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sim.core.llmcache import LLMCache, cache_key
from sim.core.numbers import float_of
from sim.llm.config import LLMConfig

_SURROGATES = re.compile("[\ud800-\udfff]")

#: How a JSON schema is sent to a server, in the order tried (see the module docstring).
SCHEMA_FORMATS = ("json_schema", "json_object")
#: An error answer to a request with a ``response_format`` is its refusal when its body says one of these (OpenAI:
#: a 400 "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model";
#: llama-cpp-python: a 500 saying ``response_format``'s type must be ``text`` or ``json_object``). Any other error
#: is the server's failure, as without a schema: a 400 alone does not say what was wrong.
_REFUSAL = re.compile(r"response_format|json_schema|structured output", re.IGNORECASE)


def response_format(form: str, schema: dict[str, Any], name: str = "answer") -> dict[str, Any]:
    """The ``response_format`` of a chat-completions request asking for JSON that fits ``schema``: OpenAI's
    structured outputs (``json_schema``) or llama-cpp-python's ``json_object`` with a ``schema``."""
    if form == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
    if form == "json_object":
        return {"type": "json_object", "schema": schema}
    raise ValueError(f"unknown schema format {form!r}")


@dataclass(frozen=True, slots=True)
class Completion:
    """The outcome of one request.

    Attributes:
        text: the answer's text (the fallback's when ``source`` is ``"offline"``).
        source: ``"llm"`` (a server answered), ``"cache"`` or ``"offline"`` (the fallback).
        value: what ``parse`` made of the text (None for the fallback or without ``parse``).
        tokens_in / tokens_out: the usage the server reported (0 for the fallback).
        reason: why it fell back (None otherwise).
        seconds: wall time from request to answer.
    """

    text: str
    source: str
    value: Any = None
    tokens_in: int = 0
    tokens_out: int = 0
    reason: str | None = None
    seconds: float = 0.0

    @property
    def fell_back(self) -> bool:
        return self.source == "offline"


@dataclass
class LLMStats:
    """Counters of a client (see the module docstring for how they add up)."""

    requests: int = 0
    offline: int = 0
    cache_hits: int = 0
    calls: int = 0
    answered: int = 0
    failures: int = 0
    retries: int = 0
    gave_up: int = 0
    circuit_open: int = 0
    malformed: int = 0
    cancelled: int = 0
    in_flight: int = 0
    over_budget: int = 0
    #: Answers to requests with a schema: sent with it, sent plain (the server refused every format); calls
    #: refused for their format (not in ``calls``).
    schema_answers: int = 0
    schema_plain: int = 0
    schema_refused: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    #: Thinking tokens of reasoning models (part of ``tokens_out``): the server's ``reasoning_tokens``, else the
    #: thinking text's length estimated; calls whose thinking ate ``max_tokens`` before any answer (each a
    #: failure, asked again once with :data:`THINKING_BUDGET` times the budget).
    tokens_reasoning: int = 0
    cut_by_thinking: int = 0
    cost_usd: float = 0.0
    #: Wall seconds of answered calls (sum), for the mean latency.
    latency_total: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def fallbacks(self) -> int:
        return self.circuit_open + self.gave_up + self.malformed + self.cancelled

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["fallbacks"] = self.fallbacks
        out["cost_usd"] = round(self.cost_usd, 6)
        out["mean_latency_ms"] = round(1000 * self.latency_total / self.answered, 3) if self.answered else 0.0
        del out["latency_total"]
        out["errors"] = dict(sorted(self.errors.items()))
        return out


class RateLimiter:
    """A token bucket of ``per_minute`` units, refilled continuously, holding up to one second's worth
    (at least one request's). ``per_minute`` 0 means no limit."""

    def __init__(self, per_minute: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self.stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self, amount: float = 1.0) -> None:
        if self.rate <= 0:
            return
        async with self._lock:
            while True:
                now = time.monotonic()
                self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
                self.stamp = now
                # An amount larger than the bucket goes through when the bucket is full (and leaves a debt).
                if self.level >= min(amount, self.capacity):
                    self.level -= amount
                    return
                await asyncio.sleep((min(amount, self.capacity) - self.level) / self.rate)

    def refund(self, amount: float) -> None:
        if self.rate > 0:
            self.level = min(self.capacity, self.level + amount)


class Server:
    """One base URL: its ``openai`` client, requests in flight and circuit breaker."""

    def __init__(self, url: str | None, index: int) -> None:
        self.url = url
        self.index = index
        self.client: Any = None
        self.raw: Any = None
        self.in_flight = 0
        self.failures_in_a_row = 0
        self.open_until = 0.0
        self.trial = False
        self.calls = 0
        self.failures = 0
        #: The schema formats not refused (yet), in the order tried; and the one last answered with.
        self.formats = list(SCHEMA_FORMATS)
        self.schema_format: str | None = None

    @property
    def label(self) -> str:
        return self.url or "api.openai.com"

    def state(self, now: float) -> str:
        if self.open_until == 0.0:
            return "closed"
        return "open" if now < self.open_until else "half-open"

    def available(self, now: float) -> bool:
        st = self.state(now)
        return st == "closed" or (st == "half-open" and not self.trial)

    def form_for(self, schema: dict[str, Any] | None, skip: set[str]) -> str | None:
        """The format to send ``schema`` in (None: plain), leaving out the ones this request saw refused."""
        if schema is None:
            return None
        return next((f for f in self.formats if f not in skip), None)

    def answered_with(self, form: str | None, refused: set[str]) -> None:
        """A request with a schema was answered in ``form`` (None: plain) after ``refused`` were refused: those
        are struck off for good (the server took the request in another form, so it was their fault)."""
        self.formats = [f for f in self.formats if f not in refused]
        if form is not None:
            self.schema_format = form

    @property
    def schema_state(self) -> str:
        """What is known of its structured outputs: the format that worked, ``refused``, or ``unknown``."""
        if self.schema_format is not None:
            return self.schema_format
        return "refused" if not self.formats else "unknown"

    def succeeded(self) -> None:
        self.failures_in_a_row = 0
        self.open_until = 0.0
        self.trial = False

    def failed(self, now: float, threshold: int, cooldown: float) -> None:
        self.failures += 1
        self.failures_in_a_row += 1
        was_trial, self.trial = self.trial, False
        if was_trial or self.failures_in_a_row >= threshold:
            self.open_until = now + max(cooldown, 1e-6)


class _Retryable(Exception):
    def __init__(self, kind: str, retry_after: float | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.retry_after = retry_after


class _Fatal(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class _Refused(Exception):
    """The server refused a request's ``response_format`` (see the module docstring)."""


class _CutByThinking(Exception):
    """A reasoning model's thinking ate ``max_tokens`` before any answer (``finish_reason`` ``length``)."""

    def __init__(self, tokens_in: int, tokens_out: int, tokens_reasoning: int) -> None:
        super().__init__("cut by thinking")
        self.tokens_in, self.tokens_out, self.tokens_reasoning = tokens_in, tokens_out, tokens_reasoning


#: A call cut by thinking is asked again once with this many times its ``max_tokens`` (at most
#: :data:`MAX_THINKING_TOKENS`).
THINKING_BUDGET = 4
MAX_THINKING_TOKENS = 4096
_THINK = re.compile(r"<think>(.*?)</think>", re.S | re.I)
_OPEN_THINK = re.compile(r"<think>(.*)\Z", re.S | re.I)


def _last_object(text: str) -> str:
    """The last JSON object in ``text`` (a balanced ``{...}`` that parses), or empty."""
    end = text.rfind("}")
    while end >= 0:
        depth = 0
        for i in range(end, -1, -1):
            ch = text[i]
            if ch == "}":
                depth += 1
            elif ch == "{":
                depth -= 1
                if depth == 0:
                    piece = text[i : end + 1]
                    try:
                        if isinstance(json.loads(piece), dict):
                            return piece
                    except ValueError:
                        pass
                    break
        end = text.rfind("}", 0, end)
    return ""


def split_thinking(message: dict[str, Any]) -> tuple[str, str]:
    """What a chat message says and its thinking, as reasoning models give them: the thinking is
    ``reasoning_content`` (or ``reasoning``) and any ``<think>...</think>`` block in ``content`` (an unclosed
    ``<think>`` runs to the end: the thinking was cut); what it says is ``content`` without them, stripped.

    Raises:
        TypeError: ``content`` is neither a string nor null, or the message is not an object."""
    if not isinstance(message, dict):
        raise TypeError("the message is not an object")
    content = message.get("content")
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise TypeError("content is not a string")
    reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
    thinking = [reasoning] if isinstance(reasoning, str) and reasoning else []
    thinking += _THINK.findall(content)
    answer = _THINK.sub("", content)
    cut = _OPEN_THINK.search(answer)
    if cut is not None:
        thinking.append(cut.group(1))
        answer = answer[: cut.start()]
    return answer.strip(), "\n".join(thinking)


def answer_of(message: dict[str, Any]) -> tuple[str, str]:
    """A chat message's answer and its thinking (:func:`split_thinking`): the answer is what the message says
    outside its thinking; where that is empty, the **last** JSON object in the thinking (a model that put its
    decision only there: a decision it revised is read as revised), else empty. Thinking is never part of the
    answer.

    Raises:
        TypeError: as :func:`split_thinking`."""
    said, thinking = split_thinking(message)
    return said or _last_object(thinking), thinking


class LLMClient:
    """See the module docstring. Make one per event loop; close it with :meth:`aclose`."""

    def __init__(self, config: LLMConfig, cache: LLMCache | None = None, *, seed: int = 0) -> None:
        self.config = config
        self.cache = cache if cache is not None else LLMCache()
        self.stats = LLMStats()
        urls: list[str | None] = [*config.base_urls] or [None]
        self.servers = [Server(u, i) for i, u in enumerate(urls)]
        self._sem: asyncio.Semaphore | None = None
        self._rpm = RateLimiter(config.rpm)
        self._tpm = RateLimiter(config.tpm)
        self._jitter = random.Random(seed)
        self._rr = 0
        self._closed = False

    # -- state ------------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """``offline`` (no key or forced), ``online``, ``degraded`` (some servers' breakers open) or
        ``fallback`` (every breaker open: answers come from the offline generator)."""
        if self.config.mode == "offline":
            return "offline"
        now = time.monotonic()
        states = [s.state(now) for s in self.servers]
        if all(st == "open" for st in states):
            return "fallback"
        return "degraded" if any(st != "closed" for st in states) else "online"

    def servers_info(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [
            {
                "url": s.label,
                "state": s.state(now),
                "in_flight": s.in_flight,
                "calls": s.calls,
                "failures": s.failures,
                "schema": s.schema_state,
            }
            for s in self.servers
        ]

    # -- requests ---------------------------------------------------------------------------------
    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        parse: Callable[[str], Any] | None = None,
        fallback: Callable[[], str] | None = None,
        max_tokens: int | None = None,
        schema: dict[str, Any] | None = None,
    ) -> Completion:
        """Answer ``messages`` (chat format); ``schema``: a JSON schema to constrain the answer to, where the
        server supports it. Never raises for a server's failure: see the module docstring."""
        cfg = self.config
        st = self.stats
        t0 = time.perf_counter()
        max_tokens = int(max_tokens or cfg.max_tokens)
        if cfg.mode == "offline":
            st.requests += 1
            st.offline += 1
            return self._fallback(fallback, cfg.why_offline or "offline", t0)
        key = self.key_for(messages, max_tokens, schema)
        hit = self.cached(messages, parse=parse, fallback=fallback, key=key)
        if hit is not None:
            return hit
        st.requests += 1
        st.in_flight += 1
        try:
            return await self._send(messages, key, parse, fallback, max_tokens, t0, schema)
        except asyncio.CancelledError:
            st.cancelled += 1
            raise
        finally:
            st.in_flight -= 1

    def key_for(
        self, messages: list[dict[str, Any]], max_tokens: int | None = None, schema: dict[str, Any] | None = None
    ) -> str | None:
        """The cache key of a request (None with the cache off). A request with a ``schema`` has a key of its own,
        made from the plain request's and the schema: an answer asked for plain never answers it (nor the
        other way round). Without one the key is the plain request's, as in worlds cached before."""
        cfg = self.config
        if not cfg.cache:
            return None
        key = cache_key(cfg.model, messages, cfg.temperature, int(max_tokens or cfg.max_tokens))
        if schema is None:
            return key
        blob = json.dumps([key, schema], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def cached(
        self,
        messages: list[dict[str, Any]],
        *,
        parse: Callable[[str], Any] | None = None,
        fallback: Callable[[], str] | None = None,
        max_tokens: int | None = None,
        key: str | None = None,
        schema: dict[str, Any] | None = None,
    ) -> Completion | None:
        """The cached answer to ``messages`` (counted as a request and a cache hit), or None without
        one (nothing counted). ``key``: :meth:`key_for` of the request (its ``schema`` included), when the
        caller has it already.
        Synchronous: a cached answer never waits for the event loop."""
        cfg = self.config
        if key is None:
            key = self.key_for(messages, max_tokens, schema)
        if cfg.mode == "offline" or key is None:
            return None
        hit = self.cache.get(key)
        if hit is None:
            return None
        self.stats.requests += 1
        self.stats.cache_hits += 1
        return self._parsed(hit.response, "cache", parse, fallback, 0, 0, time.perf_counter())

    async def _send(
        self,
        messages: list[dict[str, Any]],
        key: str | None,
        parse: Callable[[str], Any] | None,
        fallback: Callable[[], str] | None,
        max_tokens: int,
        t0: float,
        schema: dict[str, Any] | None = None,
    ) -> Completion:
        cfg = self.config
        st = self.stats
        refused: set[tuple[int, str]] = set()  # (server, format) refused while this request was sent
        if self._sem is None:
            self._sem = asyncio.Semaphore(cfg.concurrency)
        estimate = sum(len(str(m.get("content", ""))) for m in messages) / 4 + max_tokens
        attempt = 0
        budget = max_tokens  # grows once when a reasoning model's thinking ate it
        async with self._sem:
            while True:
                server = self._pick()
                if server is None:
                    if attempt == 0:
                        st.circuit_open += 1
                        return self._fallback(fallback, "every server's circuit breaker is open", t0)
                    st.gave_up += 1
                    return self._fallback(fallback, "gave up: every server's circuit breaker is open", t0)
                await self._rpm.acquire(1)
                await self._tpm.acquire(estimate)
                if attempt:
                    st.retries += 1
                st.calls += 1
                server.calls += 1
                server.in_flight += 1
                if server.state(time.monotonic()) == "half-open":
                    server.trial = True
                c0 = time.perf_counter()
                form = server.form_for(schema, {f for i, f in refused if i == server.index})
                fmt = response_format(form, schema) if form is not None and schema is not None else None
                try:
                    text, tin, tout, treason = await self._call(server, messages, budget, fmt)
                except _CutByThinking as cut:
                    # A reasoning model thought until max_tokens and gave no answer: a failure of this call (the
                    # server is up: the breaker untouched), asked again once with a larger budget.
                    self._count_cut(server, cut)
                    if budget != max_tokens or max_tokens >= MAX_THINKING_TOKENS:
                        st.gave_up += 1
                        why = "twice" if budget != max_tokens else f"at {max_tokens} tokens, the most asked"
                        return self._fallback(fallback, f"gave up: thinking ate the answer's tokens {why}", t0)
                    budget = min(MAX_THINKING_TOKENS, max_tokens * THINKING_BUDGET)
                    attempt += 1
                    continue
                except _Refused:
                    # The server refused the schema's format: asked again at once, in the next format or plain;
                    # not a failure of the server (no retry spent, the breaker untouched), counted apart.
                    server.in_flight -= 1
                    server.calls -= 1
                    st.calls -= 1
                    st.schema_refused += 1
                    server.succeeded()  # it answered: it is up
                    refused.add((server.index, str(form)))
                    continue
                except (_Retryable, _Fatal) as exc:
                    server.in_flight -= 1
                    st.failures += 1
                    self._error(exc.kind)
                    server.failed(time.monotonic(), cfg.breaker_failures, cfg.breaker_cooldown)
                    if isinstance(exc, _Fatal) or attempt >= cfg.retries:
                        st.gave_up += 1
                        return self._fallback(fallback, f"gave up after {attempt + 1} call(s): {exc.kind}", t0)
                    attempt += 1
                    await asyncio.sleep(self._delay(attempt, exc.retry_after))
                    continue
                except BaseException:  # cancelled mid-call (shutdown): the call counts as failed
                    server.in_flight -= 1
                    server.trial = False
                    st.failures += 1
                    self._error("cancelled")
                    raise
                server.in_flight -= 1
                server.succeeded()
                st.answered += 1
                if schema is not None:
                    server.answered_with(form, {f for i, f in refused if i == server.index})
                    if form is None:
                        st.schema_plain += 1
                    else:
                        st.schema_answers += 1
                st.latency_total += time.perf_counter() - c0
                st.tokens_in += tin
                st.tokens_out += tout
                st.tokens_reasoning += treason
                p_in, p_out = cfg.prices
                st.cost_usd += (tin * p_in + tout * p_out) / 1e6
                self._tpm.refund(max(0.0, estimate - (tin + tout)))
                if key is not None:
                    self.cache.put(key, cfg.model, messages, text, tin, tout)
                return self._parsed(text, "llm", parse, fallback, tin, tout, t0)

    def _count_cut(self, server: Server, cut: _CutByThinking) -> None:
        """Count a call whose thinking ate its budget: a failure (the server is up), its tokens spent."""
        st, prices = self.stats, self.config.prices
        server.in_flight -= 1
        server.succeeded()
        st.failures += 1
        st.cut_by_thinking += 1
        self._error("cut by thinking")
        st.tokens_in += cut.tokens_in
        st.tokens_out += cut.tokens_out
        st.tokens_reasoning += cut.tokens_reasoning
        st.cost_usd += (cut.tokens_in * prices[0] + cut.tokens_out * prices[1]) / 1e6

    async def _call(
        self,
        server: Server,
        messages: list[dict[str, Any]],
        max_tokens: int,
        fmt: dict[str, Any] | None = None,
    ) -> tuple[str, int, int, int]:
        """One HTTP call; returns (the answer's text, prompt tokens, completion tokens, of them thinking tokens) or
        raises _Retryable/_Fatal, or _CutByThinking when thinking ate the whole budget (:func:`answer_of`).

        The request goes through the ``openai`` client's own ``post`` (its auth, headers, timeouts and
        error classes) with the chat-completions body built here, and the answer is read as plain JSON:
        the typed ``chat.completions.create`` spends about a millisecond of CPU per call on transforming
        arguments and building models, which halves the throughput a 2-core machine can drive."""
        import openai  # noqa: PLC0415 - heavy (~1 s to import), needed only for a real server

        cfg = self.config
        if server.client is None:
            server.client = openai.AsyncOpenAI(
                api_key=cfg.api_key, base_url=server.url, max_retries=0, timeout=cfg.timeout
            )
            server.raw = _raw_response_type()
        body: dict[str, Any] = {
            "model": cfg.model,
            "messages": messages,
            "temperature": cfg.temperature,
            "max_tokens": max_tokens,
        }
        if fmt is not None:
            body["response_format"] = fmt
        try:
            resp = await server.client.post(
                "/chat/completions", body=body, cast_to=server.raw, options={"timeout": cfg.timeout}
            )
            data = json.loads(resp.content)
        except openai.APITimeoutError:
            raise _Retryable("timeout") from None
        except openai.APIConnectionError:
            raise _Retryable("connection") from None
        except openai.APIStatusError as exc:
            code = exc.status_code
            if fmt is not None and _REFUSAL.search(_error_text(exc)):
                raise _Refused() from None
            if code in (408, 409, 429) or code >= 500:
                raise _Retryable(f"http {code}", _retry_after(exc.response.headers)) from None
            raise _Fatal(f"http {code}") from None
        except (ValueError, TypeError, openai.APIResponseValidationError):
            raise _Retryable("malformed body") from None
        try:
            choice = data["choices"][0]
            usage = data.get("usage") or {}
            tin = int(usage.get("prompt_tokens") or 0)
            tout = int(usage.get("completion_tokens") or 0)
            details = usage.get("completion_tokens_details") or {}
            told = int(details.get("reasoning_tokens") or 0) if isinstance(details, dict) else 0
            said, thinking = split_thinking(choice["message"])
        except (AttributeError, IndexError, KeyError, TypeError, ValueError):
            raise _Retryable("malformed body") from None
        treason = told or (len(thinking) + 3) // 4
        if choice.get("finish_reason") == "length" and not said and thinking:
            # Cut while thinking: any JSON object in the thinking is a draft, not the answer.
            raise _CutByThinking(tin, tout, treason)
        content = said or _last_object(thinking)
        # JSON can carry a lone surrogate ("\\ud800") that UTF-8 (the world file, the cache) cannot store.
        return _SURROGATES.sub("\ufffd", content), tin, tout, treason

    async def ping(self) -> list[dict[str, Any]]:
        """One short request to every server, straight through (no cache, no retries, not counted):
        ``[{"url", "result" ("ok", "ok (why)" for a reasoning model still thinking, or "failed (why)"), "ms"}]``."""
        if self.config.mode == "offline":
            return [{"url": "-", "result": f"not sent: {self.config.why_offline}", "ms": 0.0}]
        out = []
        for server in self.servers:
            t0 = time.perf_counter()
            try:
                await self._call(server, [{"role": "user", "content": "Say OK."}], 5)
                result = "ok"
            except _CutByThinking:
                result = "ok (still thinking after 5 tokens: a reasoning model)"
            except (_Retryable, _Fatal) as exc:
                result = f"failed ({exc.kind})"
            out.append({"url": server.label, "result": result, "ms": (time.perf_counter() - t0) * 1000})
        return out

    def _pick(self) -> Server | None:
        now = time.monotonic()
        ok = [s for s in self.servers if s.available(now)]
        if not ok:
            return None
        least = min(s.in_flight for s in ok)
        ties = [s for s in ok if s.in_flight == least]
        self._rr += 1
        return ties[self._rr % len(ties)]

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        cfg = self.config
        if retry_after is not None:
            return min(cfg.max_backoff, max(0.0, retry_after))
        base = cfg.backoff * 2 ** (attempt - 1)
        return min(cfg.max_backoff, base * (0.5 + self._jitter.random()))

    def _parsed(
        self,
        text: str,
        source: str,
        parse: Callable[[str], Any] | None,
        fallback: Callable[[], str] | None,
        tin: int,
        tout: int,
        t0: float,
    ) -> Completion:
        value = None
        if parse is not None:
            try:
                value = parse(text)
            except (ValueError, TypeError, KeyError) as exc:
                self.stats.malformed += 1
                self._error("malformed answer")
                return self._fallback(fallback, f"malformed answer: {exc}", t0, tin, tout)
        return Completion(text, source, value, tin, tout, None, time.perf_counter() - t0)

    def _fallback(
        self, fallback: Callable[[], str] | None, reason: str, t0: float, tin: int = 0, tout: int = 0
    ) -> Completion:
        text = fallback() if fallback is not None else ""
        return Completion(text, "offline", None, tin, tout, reason, time.perf_counter() - t0)

    def _error(self, kind: str) -> None:
        self.stats.errors[kind] = self.stats.errors.get(kind, 0) + 1

    async def aclose(self) -> None:
        self._closed = True
        for s in self.servers:
            if s.client is not None:
                try:
                    await s.client.close()
                except Exception:  # closing a half-dead connection pool must not mask the run's result
                    pass
                s.client = None


def _raw_response_type() -> Any:
    """The HTTP response class of the ``openai`` client's transport (``httpx2`` in openai 3, ``httpx``
    before), so that ``post`` hands the response back unparsed."""
    try:
        import httpx2  # noqa: PLC0415 - openai's transport: httpx2 in openai 3, httpx before

        return httpx2.Response
    except ImportError:  # pragma: no cover - older openai releases
        import httpx  # noqa: PLC0415 - openai's transport: httpx2 in openai 3, httpx before

        return httpx.Response


def _error_text(exc: Any) -> str:
    """The body of an HTTP error answer ('' when it cannot be read): whether it names ``response_format``
    (llama-cpp-python refuses a ``json_schema`` with a 500 that does)."""
    try:
        return str(exc.response.text)[:10_000]
    except Exception:
        return ""


def _retry_after(headers: Any) -> float | None:
    """Seconds from a ``Retry-After`` header (a number or an HTTP date), or None."""
    try:
        raw = headers.get("retry-after") if headers is not None else None
    except Exception:
        return None
    if not raw:
        return None
    try:
        return max(0.0, float_of(str(raw), special=False))  # delay-seconds: ASCII digits
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
