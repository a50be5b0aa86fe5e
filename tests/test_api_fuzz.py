"""Property-based fuzzing of every route of a real running ``agora serve`` (issue 30, item 9).

Typed and mistyped bodies, huge and negative integers, floats that JSON cannot hold, odd Unicode (lone
surrogates, controls, right-to-left marks), odd ids and names in paths and queries, and wrong content
types go to every route: every answer is a 2xx, or a 4xx with an ``error`` sentence; never a 5xx. The
examples are bounded (``max_examples``), so it always finishes; the world is tiny so a valid
``{"ticks": 10000}`` stays quick.
"""

from __future__ import annotations

import base64
import http.client
import json
from urllib.parse import quote

import pytest
from conftest import agora
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_api import ADMIN, VIEWER, WAIT, Server

SETTINGS = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

ints = st.one_of(
    st.integers(-3, 12),
    st.integers(),
    st.sampled_from(
        [2**31 - 1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30, -(10**30), 10_000, 10_001]
    ),
)
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.5, 1e308, -0.0, 1e-300]))
surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
odd_text = st.one_of(
    st.text(max_size=40),
    st.text(st.one_of(st.characters(), surrogates), max_size=20),  # lone surrogates included
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "\n",
            "‮evil",
            "file:/etc/passwd",
            "ids:1,2,3",
            "random:5",
            "top:3",
            "community:0:2",
            "random:0",
            "ids:99999999999999999999999",
            "../../x",
            "a\n",
            "ic",
            "sir",
            "NaN",
            "\udcff",
            "💥" * 3,
        ]
    ),
)
long_text = st.sampled_from([10_000, 10_001, 50_000]).map(lambda n: "é" * n)  # about the text bound
#: Text JSON can spell but UTF-8 cannot hold (a lone surrogate somewhere in it).
broken_text = st.tuples(st.text(max_size=5), surrogates, st.text(max_size=5)).map("".join)
scalars = st.one_of(st.none(), st.booleans(), ints, floats, odd_text, broken_text)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(odd_text, inner, max_size=4)),
    max_leaves=10,
)
seeds = st.one_of(odd_text, st.lists(st.one_of(ints, odd_text, st.booleans()), max_size=6), json_values)

message_bodies = st.fixed_dictionaries(
    {},
    optional={
        "text": st.one_of(odd_text, long_text, json_values),
        "model": st.one_of(st.sampled_from(["ic", "sir", "lt", "nope", ""]), json_values),
        "params": st.one_of(
            st.dictionaries(st.sampled_from(["p", "beta", "gamma", "x"]), scalars, max_size=3), json_values
        ),
        "seeds": seeds,
        "topics": st.one_of(st.lists(odd_text, max_size=3), json_values),
        "author": st.one_of(ints, json_values),
        "priority": st.one_of(ints, json_values),
        "extra": json_values,
    },
)
VALID_MESSAGE = {
    "text": "fuzz",
    "model": "ic",
    "params": {"p": 0.1},
    "seeds": "random:2",
    "topics": ["politics"],
    "priority": 0,
}
#: A valid message with one field (or one parameter) replaced: every check is reached, one at a time.
one_bad_field = st.one_of(
    st.tuples(st.sampled_from(sorted(VALID_MESSAGE) + ["author"]), st.one_of(json_values, seeds, broken_text)).map(
        lambda kv: {**VALID_MESSAGE, kv[0]: kv[1]}
    ),
    st.tuples(
        st.sampled_from(
            [
                ("ic", "p"),
                ("ic", "trust_weighted"),
                ("sir", "beta"),
                ("sir", "gamma"),
                ("lt", "weights"),
                ("llm", "rule"),
                ("llm", "rule_params"),
                ("llm", "sample"),
                ("deffuant", "epsilon"),
            ]
        ),
        st.one_of(scalars, broken_text),
    ).map(lambda mpv: {**VALID_MESSAGE, "model": mpv[0][0], "params": {mpv[0][1]: mpv[1]}}),
)
BODIES = {
    "/api/v1/messages": st.one_of(message_bodies, one_bad_field, one_bad_field),
    "/api/v1/step": st.fixed_dictionaries(
        {}, optional={"ticks": st.one_of(st.integers(-5, 30), ints, json_values), "tick": json_values}
    ),
    "/api/v1/run": st.fixed_dictionaries({}, optional={"ticks_per_second": st.one_of(ints, floats, json_values)}),
    "/api/v1/pause": st.fixed_dictionaries({}, optional={"x": json_values}),
    "/api/v1/snapshots": st.fixed_dictionaries(
        {},
        optional={
            "name": st.one_of(odd_text, st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,8}", fullmatch=True), json_values)
        },
    ),
    "/api/v1/snapshots/{name}/load": st.fixed_dictionaries({}, optional={"x": json_values}),
}


def path_part(draw_from: st.SearchStrategy) -> st.SearchStrategy:
    """Values as they go in a URL: their UTF-8 (lone surrogates kept) percent-encoded."""
    return draw_from.map(lambda v: quote(str(v).encode("utf-8", "surrogatepass"), safe=""))


ids = path_part(st.one_of(ints, odd_text, st.sampled_from(["1", "0", "-0", "1.0", "0x1", "1e3", "+1", " 1", "%00"])))
raw_bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=60),
    st.sampled_from(
        [
            b"",
            b"{",
            b'{"ticks": 1',
            b"[" * 5000,
            b'{"a": ' * 3000,
            b"\xff\xfe",
            b'{"ticks": NaN}',
            b'{"ticks": 1e999}',
            b'{"text": "\\ud800"}',
            b'{"text": "x", "text": 5}',
        ]
    ),
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        None,
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
        "*/*",
    ]
)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    res = agora(folder, "new", "w.db", "--agents", "60", "--seed", "5")
    assert res.returncode == 0, res.stderr
    s = Server(folder, "w.db", "--metrics", "--max-messages", "200", "--checkpoint-every", "1000")
    yield s
    code = s.stop()
    err = s.errors()
    assert code == 0, err
    assert "Traceback" not in err and "Exception in ASGI" not in err, err[-3000:]
    assert agora(folder, "check", "w.db").returncode == 0


def request(
    server: Server,
    method: str,
    path: str,
    body: bytes | None,
    ctype: str | None,
    token: str | None = ADMIN,
    extra: dict | None = None,
) -> tuple[int, bytes, dict]:
    con = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
    headers = dict(extra or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if ctype is not None:
        headers["Content-Type"] = ctype
    con.request(method, path, body=body, headers=headers)
    res = con.getresponse()
    data = res.read() if res.getheader("content-type", "").split(";")[0] != "text/event-stream" else b""
    con.close()
    return res.status, data, {k.lower(): v for k, v in res.getheaders()}


def check(status: int, data: bytes, head: dict, what: object) -> None:
    assert status < 500, (status, data[:300], what)
    if status >= 400:
        assert head.get("content-type") == "application/json", (status, head, what)
        payload = json.loads(data)
        assert isinstance(payload, dict) and isinstance(payload.get("error"), str) and payload["error"], (payload, what)
        assert "\n" not in payload["error"], (payload, what)
    else:
        assert 200 <= status < 300, (status, what)


@SETTINGS
@given(route=st.sampled_from(sorted(BODIES)), data=st.data(), ctype=content_types)
def test_typed_and_mistyped_bodies_on_every_post_route(fuzzed, route, data, ctype):
    body = data.draw(BODIES[route])
    path = route.replace("{name}", data.draw(path_part(st.one_of(odd_text, st.sampled_from(["fz", "fz.snap", "a\n"])))))
    status, raw, head = request(fuzzed, "POST", path, json.dumps(body).encode(), ctype)
    check(status, raw, head, (path, body, ctype))


@SETTINGS
@given(body=one_bad_field)
def test_a_message_with_one_bad_field(fuzzed, body):
    status, raw, head = request(fuzzed, "POST", "/api/v1/messages", json.dumps(body).encode(), "application/json")
    check(status, raw, head, body)


@SETTINGS
@given(
    route=st.sampled_from(
        [
            "/api/v1/messages",
            "/api/v1/step",
            "/api/v1/run",
            "/api/v1/pause",
            "/api/v1/snapshots",
            "/api/v1/snapshots/fz/load",
        ]
    ),
    body=raw_bodies,
    ctype=content_types,
)
def test_raw_bodies_on_every_post_route(fuzzed, route, body, ctype):
    status, raw, head = request(fuzzed, "POST", route, body, ctype)
    check(status, raw, head, (route, body[:100], ctype))


@SETTINGS
@given(
    template=st.sampled_from(
        [
            "/api/v1/world",
            "/api/v1/sessions",
            "/api/v1/sessions/{id}",
            "/api/v1/agents/{id}",
            "/api/v1/communities",
            "/api/v1/snapshots",
            "/api/v1/events",
            "/api/v1/openapi.json",
            "/healthz",
            "/metrics",
            "/api/v1/{id}",
            "/{id}",
        ]
    ),
    ident=ids,
    query=st.lists(st.tuples(st.sampled_from(["limit", "offset", "x", "", "limit"]), ids), max_size=3),
    method=st.sampled_from(["GET", "GET", "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]),
    token=st.sampled_from([ADMIN, ADMIN, VIEWER, None, "wrong-token-0123456789"]),
)
def test_odd_ids_queries_methods_and_tokens_on_every_route(fuzzed, template, ident, query, method, token):
    path = template.replace("{id}", ident)
    if query:
        path += "?" + "&".join(f"{k}={v}" for k, v in query)
    status, raw, head = request(fuzzed, method, path, None, None, token=token)
    if method == "HEAD":
        assert status < 500, (status, path)
        return
    check(status, raw, head, (method, path, token))


@SETTINGS
@given(
    protocols=st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "agora.v1",
                    "agora.bearer.",
                    "agora.bearer.***",
                    "agora.bearer." + base64.urlsafe_b64encode(ADMIN.encode()).decode().rstrip("="),
                ]
            ),
            st.from_regex(r"[a-z.]{1,12}", fullmatch=True),
        ),
        max_size=3,
    ),
    origin=st.one_of(
        st.none(),
        st.sampled_from(["http://evil.example", "null", "http://127.0.0.1:1", "x"]),
        st.from_regex(r"https?://[a-z0-9.:\[\]]{1,20}", fullmatch=True),
    ),
    header=st.sampled_from([None, f"Bearer {ADMIN}", "Bearer x", "Basic abc", ""]),
)
def test_odd_websocket_handshakes(fuzzed, protocols, origin, header):
    from websockets.exceptions import InvalidHandshake, InvalidStatus
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{fuzzed.port}/api/v1/live"
    extra = {"Authorization": header} if header is not None else None
    try:
        with connect(
            url,
            subprotocols=list(dict.fromkeys(protocols)) or None,
            origin=origin,
            additional_headers=extra,
            open_timeout=WAIT,
        ) as ws:
            assert json.loads(ws.recv(timeout=WAIT))["type"] == "hello"
    except InvalidStatus as exc:
        res = exc.response
        assert 400 <= res.status_code < 500, res.status_code
        assert isinstance(json.loads(res.body)["error"], str)
    except InvalidHandshake:  # the client's own refusal (a subprotocol it did not offer, ...): never the server's 5xx
        pass
