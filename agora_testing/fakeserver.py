"""A local chat-completions server for tests, benchmarks and demos, with injected faults.

It speaks the part of the OpenAI HTTP protocol Agora uses — ``POST /v1/chat/completions`` and
``GET /v1/models`` — over HTTP/1.1 with keep-alive, on 127.0.0.1 only. Answers are deterministic: the
content is a pure function of the request's messages, so two runs of the same prompts get the same text.
A prompt that asks for a JSON decision (it contains ``"action"``) gets a JSON object with an ``action``
and a ``text``; anything else gets a sentence.

Faults come from a *plan*: a list of fault names used one per request in order (then ``"ok"``), or a
callable ``plan(n, body) -> name`` for request number ``n`` (0-based). The names:

- ``ok``: a normal answer (after ``latency`` seconds);
- ``400``: "Bad Request" (not worth retrying);
- ``429``: "Too Many Requests" with ``Retry-After: <retry_after>``;
- ``500`` / ``503``: a server error (``503`` also sends ``Retry-After``);
- ``timeout``: holds the request for ``hang`` seconds before answering, so the client times out;
- ``malformed``: ``200 OK`` whose body is not JSON;
- ``empty``: ``200 OK`` with a completion that has no choices;
- ``bad_content``: a valid completion whose content is not what was asked for (not JSON);
- ``drop``: closes the connection without an answer.

Answers constrained to a JSON schema: ``schema_formats`` are the ``response_format`` types it takes (default:
both ``json_schema``, OpenAI's structured outputs, and ``json_object``, llama-cpp-python's); a request with
another type is refused with ``refuse_status`` (400), as a server without structured outputs refuses it.
``formats`` tallies the ``response_format`` types of the requests it answered (``plain`` without one). Its
decisions fit :data:`sim.llm.prompts.DECISION_SCHEMA` whether asked with a schema or not; asked with a schema of
one string (an interview's ``{"answer": ...}``, a summary's ``{"summary": ...}``), it answers that JSON with the
text it would have answered plain (:func:`in_schema`).

``counts`` tallies the requests received by the fault they got; ``max_in_flight`` is the most requests
it held at once. :meth:`stop` makes the server
disappear: the listening socket and every open connection close.

Run one from a shell: ``python -m agora_testing.fakeserver --port 8000 --latency 0.02``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

FAULTS = ("ok", "400", "429", "500", "503", "timeout", "malformed", "empty", "bad_content", "drop")
ACTIONS = ("repost", "like", "reply", "ignore")
#: How the server plays a reasoning model: ``content`` (not one: the answer in ``content``), ``reasoning_content``
#: (its thinking in ``reasoning_content`` and counted as ``reasoning_tokens``, the answer in ``content``),
#: ``reasoning_only`` (``content`` null, the answer inside the thinking), ``think_tags`` (``<think>...</think>``
#: then the answer, in ``content``), ``think_cut`` (below :data:`THINK_CUT_BELOW` tokens of ``max_tokens`` (the
#: server's ``think_cut_below``) the thinking eats the budget: an unclosed ``<think>``, ``finish_reason`` ``length``
#: and ``max_tokens`` thinking tokens spent; above, as ``think_tags``), ``reasoning_cut`` (the same cut as vLLM
#: gives it: ``content`` null and the unfinished thinking in ``reasoning_content``; above, as ``reasoning_content``).
#: A cut thinking holds a draft of the answer (a JSON object), which is not the answer.
REASONING = ("content", "reasoning_content", "reasoning_only", "think_tags", "think_cut", "reasoning_cut")
THINK_CUT_BELOW = 400

Plan = Sequence[str] | Callable[[int, dict[str, Any]], str] | None


def answer_for(messages: list[dict[str, Any]]) -> str:
    """The deterministic content the server answers ``messages`` with."""
    text = json.dumps(messages, sort_keys=True, ensure_ascii=False)
    h = hashlib.blake2b(text.encode(), digest_size=8).digest()
    k = int.from_bytes(h, "little")
    if any("four probabilities" in str(m.get("content", "")) for m in messages if isinstance(m, dict)):
        # an archetype's action probabilities (sim.llm.archetypes): four weights from the hash, summing to 1
        w = [1 + (k >> (8 * i)) % 7 for i in range(len(ACTIONS))]
        return json.dumps({a: round(x / sum(w), 4) for a, x in zip(("repost", "reply", "like", "ignore"), w)})
    if any('"action"' in str(m.get("content", "")) for m in messages if isinstance(m, dict)):
        action = ACTIONS[k % len(ACTIONS)]
        return json.dumps({"action": action, "text": f"({action} #{k % 997}) makes me think."})
    return f"Here is my take, number {k % 9973}: it depends on who you ask."


def in_schema(content: str, form: Any) -> str:
    """``content`` as a server constrained to ``form``'s schema (a ``response_format``) answers it: a text that is
    not a JSON object already becomes ``{KEY: content}`` for a schema of one required string ``KEY`` (an
    interview's ``answer``, a summary's ``summary``); anything else is left as it is."""
    if not isinstance(form, dict):
        return content
    schema = form.get("schema") if form.get("type") == "json_object" else (form.get("json_schema") or {}).get("schema")
    if not isinstance(schema, dict) or content.lstrip().startswith("{"):
        return content
    required = schema.get("required") or []
    props = schema.get("properties") or {}
    if len(required) != 1 or (props.get(required[0]) or {}).get("type") != "string":
        return content
    return json.dumps({required[0]: content}, ensure_ascii=False)


class FakeChatServer:
    """See the module docstring."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        plan: Plan = None,
        retry_after: float = 1.0,
        hang: float = 30.0,
        host: str = "127.0.0.1",
        port: int = 0,
        answer: Callable[[list[dict[str, Any]]], str] | None = None,
        schema_formats: Sequence[str] = ("json_schema", "json_object"),
        refuse_status: int = 400,
        reasoning: str = "content",
    ) -> None:
        if reasoning not in REASONING:
            raise ValueError(f"reasoning {reasoning!r}: one of {', '.join(REASONING)}")
        self.reasoning = reasoning
        self.think_cut_below = THINK_CUT_BELOW
        self.latency = latency
        self.plan = plan
        self.retry_after = retry_after
        self.hang = hang
        self.host = host
        self.port = port
        self.answer = answer or answer_for
        self.schema_formats = tuple(schema_formats)
        self.refuse_status = refuse_status
        self.formats: Counter[str] = Counter()
        self.refused_formats: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.received = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.bodies: list[dict[str, Any]] = []
        self.keep_bodies = False
        self.authorization: set[str] = set()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL a client is given (``http://127.0.0.1:PORT/v1``)."""
        return f"http://{self.host}:{self.port}/v1"

    def _fault(self, n: int, body: dict[str, Any]) -> str:
        plan = self.plan
        if plan is None:
            return "ok"
        if callable(plan):
            return plan(n, body)
        return plan[n] if n < len(plan) else "ok"

    # -- asyncio server ---------------------------------------------------------------------------
    async def start(self) -> FakeChatServer:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._handle, self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Disappear: stop listening and close every open connection."""
        if self._server is not None:
            self._server.close()
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = (lines[0].split(" ", 2) + ["", ""])[:3]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0") or 0)
                raw = await reader.readexactly(length) if length else b""
                if "authorization" in headers:
                    self.authorization.add(headers["authorization"])
                if not await self._respond(writer, method, path, raw):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass  # the client went away, or the server is stopping
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _respond(self, writer: asyncio.StreamWriter, method: str, path: str, raw: bytes) -> bool:
        path = path.split("?", 1)[0]
        if method == "GET" and path.rstrip("/").endswith("/models"):
            self._send(
                writer,
                200,
                json.dumps(
                    {"object": "list", "data": [{"id": "fake", "object": "model", "created": 0, "owned_by": "agora"}]}
                ),
            )
            return True
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            self._send(writer, 404, json.dumps({"error": {"message": "not found", "type": "invalid_request_error"}}))
            return True
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send(
                writer, 400, json.dumps({"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            )
            return True
        form = body.get("response_format")
        kind = str(form.get("type", "")) if isinstance(form, dict) else "plain"
        if kind not in ("plain", "text") and kind not in self.schema_formats:
            self.refused_formats[kind] += 1
            message = f"response_format of type {kind!r} is not supported"
            self._send(
                writer, self.refuse_status, json.dumps({"error": {"message": message, "type": "invalid_request_error"}})
            )
            return True
        n = self.received
        self.received += 1
        fault = self._fault(n, body)
        self.counts[fault] += 1
        if self.keep_bodies:
            self.bodies.append(body)
        if fault == "drop":
            writer.transport.abort()
            return False
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if fault == "timeout":
                await asyncio.sleep(self.hang)
            elif self.latency:
                await asyncio.sleep(self.latency)
        finally:
            self.in_flight -= 1
        error = {"error": {"message": f"injected {fault}", "type": "server_error"}}
        if fault == "400":
            self._send(writer, 400, json.dumps({"error": {"message": "injected 400", "type": "invalid_request_error"}}))
        elif fault == "429":
            self._send(writer, 429, json.dumps(error), {"Retry-After": f"{self.retry_after:g}"})
        elif fault == "500":
            self._send(writer, 500, json.dumps(error))
        elif fault == "503":
            self._send(writer, 503, json.dumps(error), {"Retry-After": f"{self.retry_after:g}"})
        elif fault == "malformed":
            self._send(writer, 200, '{"id": "x", "choices": [ this is not json')
        else:
            messages = body.get("messages") or []
            content = "I cannot answer that in JSON, sorry." if fault == "bad_content" else self.answer(messages)
            if fault != "bad_content":
                content = in_schema(content, form)
            prompt_chars = sum(len(str(m.get("content", ""))) for m in messages if isinstance(m, dict))
            answer, finish, thought = self._as_reasoning(content, int(body.get("max_tokens") or 0))
            said = 0 if finish == "length" else max(1, len(content) // 4)  # cut: no answer came
            choices = (
                [] if fault == "empty" else [{"index": 0, "finish_reason": finish, "logprobs": None, "message": answer}]
            )
            reply: dict[str, Any] = {
                "id": f"chatcmpl-{n}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": str(body.get("model", "fake")),
                "choices": choices,
                "usage": {
                    "prompt_tokens": max(1, prompt_chars // 4),
                    "completion_tokens": said + thought,
                    "total_tokens": max(1, prompt_chars // 4) + said + thought,
                },
            }
            if thought and self.reasoning != "think_tags":
                reply["usage"]["completion_tokens_details"] = {"reasoning_tokens": thought}
            self._send(writer, 200, json.dumps(reply))
            self.formats[kind] += 1
        return True

    def _as_reasoning(self, content: str, max_tokens: int) -> tuple[dict[str, Any], str, int]:
        """The answer's message, finish reason and thinking tokens as a reasoning model of :attr:`reasoning` gives
        them (see :data:`REASONING`)."""
        mode = self.reasoning
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if mode == "content":
            return message, "stop", 0
        thinking = "Let me think about who I am and what I saw. " * 4
        tokens = len(thinking) // 4
        if mode in ("think_cut", "reasoning_cut") and max_tokens < self.think_cut_below:
            # The thinking eats the whole budget: no answer comes, only a draft inside the thinking.
            cut = f"{thinking} A first draft: {content} but wait, let me reconsider whether"
            message["content"] = f"<think>{cut}" if mode == "think_cut" else None
            if mode == "reasoning_cut":
                message["reasoning_content"] = cut
            return message, "length", max(1, max_tokens)
        if mode in ("reasoning_content", "reasoning_cut"):
            message["reasoning_content"] = thinking
        elif mode == "reasoning_only":
            message["content"] = None
            message["reasoning_content"] = f"{thinking} So my answer is {content} and that is final."
        elif mode in ("think_tags", "think_cut"):
            message["content"] = f"<think>{thinking}</think>\n{content}"
        return message, "stop", tokens

    @staticmethod
    def _send(writer: asyncio.StreamWriter, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        reason = {
            200: "OK",
            400: "Bad Request",
            404: "Not Found",
            422: "Unprocessable Entity",
            429: "Too Many Requests",
            500: "Internal Server Error",
            503: "Service Unavailable",
        }.get(status, "Error")
        data = body.encode()
        head = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json", f"Content-Length: {len(data)}"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)

    # -- in a thread of its own (for tests in the same process) ----------------------------------
    def start_in_thread(self) -> FakeChatServer:
        """Run the server on its own event loop in a daemon thread; returns once it listens."""
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=main, name="fake-llm-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop_thread(self) -> None:
        """Make a threaded server disappear (see :meth:`stop`) and end its thread."""
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m agora_testing.fakeserver", description="A local chat-completions server with injected faults."
    )
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--latency", type=float, default=0.02, help="seconds before each answer (default 0.02)")
    ap.add_argument("--fail", type=float, default=0.0, help="share of requests answered with a 500 (default 0)")
    ap.add_argument("--reasoning", choices=REASONING, default="content", help="play a reasoning model this way")
    args = ap.parse_args(argv)
    every = round(1 / args.fail) if args.fail > 0 else 0
    plan = (lambda n, body: "500" if every and n % every == every - 1 else "ok") if every else None
    server = FakeChatServer(latency=args.latency, plan=plan, port=args.port, reasoning=args.reasoning)

    async def serve() -> None:
        await server.start()
        print(f"listening on {server.url}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
