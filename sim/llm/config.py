"""LLM settings: what a world stores, what the environment says, and the resolved configuration.

A world keeps its settings in ``world.config["llm"]`` (model, limits, budgets, memory). The environment
overrides them for one process, and command-line overrides win over both:

- ``OPENAI_API_KEY`` — the key. **Only ever read from the environment**: it is never stored in a world,
  a snapshot, the database, a log or on screen. Without a key the mode is *offline*: every text comes
  from the offline generator. For a keyless local server (vLLM and the like) set it to any value.
- ``OPENAI_BASE_URL`` — one base URL, or several separated by commas or spaces (a fleet of
  OpenAI-compatible servers, balanced by load). **Servers come from the user only** — this variable or
  ``--llm base_urls=...`` — never from a file: a world or snapshot from someone else could otherwise
  send the key to a server it chose. ``sim.store.worldfile.file_llm_settings`` drops them (and any
  setting that looks like a credential, a header or a proxy) when a file is read, and files never store them.
- ``AGORA_LLM_MODEL`` — the model name (default ``gpt-4o-mini``).
- ``AGORA_LLM_OFFLINE=1`` — force the offline generator even with a key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sim.errors import BadParameterError
from sim.plugin import Param
from sim.store.worldfile import LLM_ENDPOINT_SETTINGS

DEFAULT_MODEL = "gpt-4o-mini"

#: List prices in US dollars per million tokens (input, output), for the cost estimate. A model not
#: listed costs 0 unless ``price_in`` / ``price_out`` are set.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-3.5-turbo": (0.50, 1.50),
}

LLM_PARAMS: dict[str, Param] = {
    "model": Param(str, DEFAULT_MODEL, help="model name sent to the server (AGORA_LLM_MODEL overrides)"),
    "base_urls": Param(
        str, "", help="OpenAI-compatible base URLs, comma-separated ('' = OPENAI_BASE_URL or the OpenAI API)"
    ),
    "offline": Param(bool, False, help="always use the offline generator, even with a key"),
    "concurrency": Param(int, 16, 1, 4096, "requests in flight at once, over all servers"),
    "rpm": Param(float, 0.0, 0.0, 1e9, "requests per minute, over all servers (0: no limit)"),
    "tpm": Param(float, 0.0, 0.0, 1e12, "tokens per minute, over all servers (0: no limit)"),
    "timeout": Param(float, 30.0, 0.01, 3600.0, "seconds before one request is abandoned"),
    "retries": Param(int, 3, 0, 20, "retries of a failed request before it falls back"),
    "backoff": Param(float, 0.5, 0.0, 60.0, "first retry delay in seconds; doubles each retry (Retry-After wins)"),
    "max_backoff": Param(float, 30.0, 0.0, 3600.0, "longest wait before a retry, Retry-After included"),
    "breaker_failures": Param(int, 5, 1, 1000, "consecutive failures that open a server's circuit breaker"),
    "breaker_cooldown": Param(float, 30.0, 0.0, 3600.0, "seconds an open breaker waits before one trial request"),
    "calls_per_tick": Param(
        int, 20, 0, 10**6, "LLM requests the simulation may start per tick (decisions, then texts)"
    ),
    "texts_per_tick": Param(int, 20, 0, 10**5, "new adopters per tick who write the text of their repost or reply"),
    "reply_share": Param(float, 0.3, 0.0, 1.0, "share of writers who reply rather than repost (rule models)"),
    "temperature": Param(float, 0.7, 0.0, 2.0, "sampling temperature"),
    "max_tokens": Param(int, 120, 1, 8192, "longest answer, in tokens"),
    "cache": Param(bool, True, help="answer repeated prompts from the world's response cache"),
    "price_in": Param(float, -1.0, -1.0, 1e6, "dollars per million input tokens (-1: the model's list price)"),
    "price_out": Param(float, -1.0, -1.0, 1e6, "dollars per million output tokens (-1: the model's list price)"),
    "memory": Param(
        str,
        "llm",
        help="who remembers: the agents the LLM speaks for (llm), every agent (all), nobody (off)",
        choices=("llm", "all", "off"),
    ),
    "memory_window": Param(int, 10, 0, 1000, "short-term memory: the last K events of an agent, always in its prompts"),
    "memory_recall": Param(int, 5, 0, 100, "long-term memories recalled by relevance into a prompt"),
    "memory_tokens": Param(int, 400, 0, 100_000, "tokens a prompt may spend on memory (summary, recalled, recent)"),
    "memory_summary_every": Param(
        int, 20, 1, 100_000, "condense an agent's older events into its summary every N events"
    ),
    "memory_horizon": Param(
        int, 10_000, 1, 10**9, "ticks an event is kept before it is forgotten (its gist stays in the summary)"
    ),
    "memory_max_events": Param(int, 500, 1, 10**6, "events kept per agent at most (the oldest go first)"),
}

_SECRET_NAMES = ("api_key", "key", "openai_api_key", "token", "secret", "password")

#: Settings that decide where requests go, and so where the API key is sent (``base_urls``). They are
#: taken only from the user (``OPENAI_BASE_URL``, ``--llm base_urls=...``), never from a world file or a
#: snapshot (``sim.store.worldfile.file_llm_settings`` drops them when a file is read, and world files
#: and snapshots never store them), and ``agora llm WORLD --set base_urls=...`` is refused.
ENDPOINT_SETTINGS = LLM_ENDPOINT_SETTINGS


def refuse_endpoint_settings(changes: Mapping[str, Any]) -> None:
    """Refuse to store a setting that decides where requests go in a world.

    Raises:
        BadParameterError: ``changes`` names one (``base_urls``), with what to do instead.
    """
    for name in changes:
        if name in ENDPOINT_SETTINGS:
            raise BadParameterError(
                f"LLM servers are not stored in worlds (a shared world could send your API key to a "
                f"server it chose): set OPENAI_BASE_URL in the environment, or give llm {name}=... to each command",
                fields="llm",
            )


def llm_settings(current: Mapping[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """Validated settings: ``current`` (a world's stored ones) updated with ``changes``.

    Raises:
        BadParameterError: an unknown setting, a value out of range, or an attempt to store a key.
    """
    merged = dict(current or {})
    merged.update({k: v for k, v in changes.items() if v is not None})
    for k in merged:
        if k.lower() in _SECRET_NAMES:
            raise BadParameterError(
                "the API key is never stored in a world: set OPENAI_API_KEY in the environment instead"
            )
    unknown = sorted(set(merged) - set(LLM_PARAMS))
    if unknown:
        raise BadParameterError(f"unknown LLM setting {unknown[0]!r}: the settings are {', '.join(LLM_PARAMS)}")
    out = {k: (spec.coerce(k, merged[k]) if k in merged else spec.default) for k, spec in LLM_PARAMS.items()}
    out["base_urls"] = ",".join(parse_urls(out["base_urls"]))
    return out


def parse_urls(text: str) -> list[str]:
    """Base URLs from a comma- or space-separated list; each must be http(s).

    Raises:
        BadParameterError: a URL that is not http:// or https://.
    """
    urls = [u for u in re.split(r"[,\s]+", text or "") if u]
    for u in urls:
        if not re.match(r"^https?://[^\s/]+", u):
            raise BadParameterError(f"LLM base URL {u!r} is not valid: give http://HOST:PORT/v1 or https://...")
    return [u.rstrip("/") for u in urls]


@dataclass(frozen=True)
class LLMConfig:
    """The resolved configuration of one client. ``api_key`` never leaves this object (it is kept out
    of ``repr`` and of :meth:`public`)."""

    model: str = DEFAULT_MODEL
    base_urls: tuple[str, ...] = ()
    api_key: str | None = field(default=None, repr=False)
    offline: bool = False
    concurrency: int = 16
    rpm: float = 0.0
    tpm: float = 0.0
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 30.0
    breaker_failures: int = 5
    breaker_cooldown: float = 30.0
    calls_per_tick: int = 20
    texts_per_tick: int = 20
    reply_share: float = 0.3
    temperature: float = 0.7
    max_tokens: int = 120
    cache: bool = True
    price_in: float = -1.0
    price_out: float = -1.0
    memory: str = "llm"
    memory_window: int = 10
    memory_recall: int = 5
    memory_tokens: int = 400
    memory_summary_every: int = 20
    memory_horizon: int = 10_000
    memory_max_events: int = 500

    @property
    def mode(self) -> str:
        """``"offline"`` (no key, or forced) or ``"online"``."""
        return "offline" if self.offline or not self.api_key else "online"

    @property
    def why_offline(self) -> str | None:
        if self.offline:
            return "offline forced by settings"
        if not self.api_key:
            return "no OPENAI_API_KEY in the environment"
        return None

    @property
    def prices(self) -> tuple[float, float]:
        """Dollars per million (input, output) tokens."""
        listed = PRICES.get(self.model, (0.0, 0.0))
        return (listed[0] if self.price_in < 0 else self.price_in, listed[1] if self.price_out < 0 else self.price_out)

    def public(self) -> dict[str, Any]:
        """Everything but the key, for ``--json`` and the screen."""
        out = {k: getattr(self, k) for k in LLM_PARAMS}
        out["base_urls"] = list(self.base_urls)
        out["mode"] = self.mode
        out["key_set"] = bool(self.api_key)
        return out

    @classmethod
    def resolve(
        cls,
        settings: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> LLMConfig:
        """World ``settings``, then the environment, then ``overrides`` (validated).

        ``settings`` as a world holds them in memory: read from a file they never name servers
        (``sim.store.worldfile.file_llm_settings``), so servers come from ``OPENAI_BASE_URL`` or
        ``overrides`` (``--llm``).

        Raises:
            BadParameterError: a bad setting or override (named).
        """
        env = os.environ if env is None else env
        values = llm_settings(settings)
        from_env: dict[str, Any] = {}
        if env.get("AGORA_LLM_MODEL"):
            from_env["model"] = env["AGORA_LLM_MODEL"]
        if env.get("OPENAI_BASE_URL"):
            from_env["base_urls"] = env["OPENAI_BASE_URL"]
        if env.get("AGORA_LLM_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
            from_env["offline"] = True
        values = llm_settings(values, **from_env)
        if overrides:
            values = llm_settings(values, **dict(overrides))
        urls = tuple(parse_urls(values.pop("base_urls")))
        key = env.get("OPENAI_API_KEY") or None
        return cls(base_urls=urls, api_key=key, **values)
