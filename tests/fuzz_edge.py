"""Edge fuzzer: requests generated from the protos, sent as an attacker would, counted by status.

Every REST route (tests/rest_surface.py: the google.api.http rules and request descriptors) gets hostile
values in every field: wrong JSON types, huge and negative numbers, NaN, text that is not UTF-8, NUL,
lone surrogates, control characters, deep nesting, empty and unknown fields, broken JSON, odd headers
and content types. Raw gRPC (through Envoy's gRPC passthrough) gets messages built from the request
descriptors with hostile values, then mutated (invalid UTF-8 spliced into strings, bit flips, cuts,
random bytes, client streams with a bad item); gRPC-Web gets broken frames (truncated, empty, compressed
flag, several frames, trailers flag, base64 text garbage). Request ``i`` of seed ``s`` is always the
same request (``random.Random(f"{s}:{i}")``), so a slice can run in the tests.

An outcome is *bad* if it is a 500 (HTTP) or INTERNAL / UNKNOWN / DATA_LOSS (gRPC), or a 502/503/504
(UNAVAILABLE) without ``retry-after``: an overload or database answer carries one, a crash or an upstream
reset does not.

    PYTHONPATH=. nice -n 10 .venv/bin/python -m tests.fuzz_edge --requests 100000 --seed 1 \\
        --out benchmarks/fuzz/results.json
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import os
import random
import re
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import grpc
import httpx
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2  # noqa: F401  (registers the types)
from grpc_reflection.v1alpha import reflection_pb2  # noqa: F401

from insights.api.access import API_FILES, load_access_rules
from tests.rest_surface import Leaf, Route, routes
from tests.support import Stack, bearer, next_client_ip, register

BAD_GRPC = {"INTERNAL", "UNKNOWN", "DATA_LOSS"}
STATUS_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}
STREAM_WAIT_S = 3.0
"""How long a server stream that opened fine (a live subscription: nothing to send yet) is waited on."""
HOSTILE_TEXT = [
    "", " ", "a", "x" * 300, "x" * 10_001, "Zo\u00eb\u2019s caf\u00e9 \U0001f389", "\u202eevil",
    "'; DROP TABLE users; --", "<script>x</script>", "../../etc/passwd", "${jndi:ldap://x/a}", "%00", "%",
    "\t\r\n", "\x01\x1f\x7f", "a\u0000b", "\ufffd", "\U0010ffff", "null", "true", "-1", "1e999", "NaN",
    "00000000-0000-0000-0000-000000000000", "6f1c1b5e-3f0a-4c57-9a55-2b0c2f1d7e11", "web", "chat", "admin", "a@b.c",
    "demo@example.com", "\u00e9" * 5000, "\u0301" * 100, "SELECT pg_sleep(10)", "*", "..", "/", "\\",
]
RAW_TEXT = [b'"\xff\xfe"', b'"\\ud800"', b'"\\udfff\\ud800"', b'"\xed\xa0\x80"', b'"\xc3\x28"', b'"\\u0000"',
            b'"\xf4\x90\x80\x80"', b'"\xc0\xaf"']
URL_TEXT = ["%FF", "%ED%A0%80", "%00", "%C3%28", "%F4%90%80%80", "%zz", "%", "%E2%82", "a%2Fb", "%2e%2e", "+", "%20",
            "x" * 2000, "%EF%BF%BD"]
NUMBERS: list[Any] = [0, -1, 1, 7, 2**31, -(2**31) - 1, 2**63, -(2**64), 10**40, 1.5, -0.0, 1e308, "1", "abc", "NaN",
                      "Infinity", "-Infinity", "1e999", "0x10", True, None, [], {}, "", " 1"]
JSON_VALUES: list[Any] = [None, True, False, 0, -1, 1.5, 1e300, "", "x", "\u0000", [], {}, [1, "a", None],
                          {"a": {"b": []}}]


def _pick(rng: random.Random, options: list[Any]) -> Any:
    return options[rng.randrange(len(options))]


# --- values from descriptors ------------------------------------------------------------------------


def _deep(rng: random.Random, depth: int) -> Any:
    node: Any = _pick(rng, JSON_VALUES)
    for _ in range(depth):
        node = {"k": node} if rng.random() < 0.5 else [node]
    return node


def json_value(rng: random.Random, leaf: Leaf) -> Any:
    """A JSON value for ``leaf``: mostly of its kind (hostile), sometimes of another kind."""
    if rng.random() < 0.15:
        return _pick(rng, [*NUMBERS, *JSON_VALUES, _pick(rng, HOSTILE_TEXT)])
    kind = leaf.kind
    if kind in ("string", "bytes"):
        value: Any = _pick(rng, HOSTILE_TEXT)
    elif kind in ("int", "double"):
        value = _pick(rng, NUMBERS)
    elif kind == "bool":
        value = _pick(rng, [True, False, "true", "yes", 1, None])
    elif kind == "enum":
        value = _pick(rng, ["UNKNOWN", "", 0, 99, -1, "x" * 50])
    elif kind == "timestamp":
        value = _pick(rng, ["2026-01-01T00:00:00Z", "2026-13-45T99:99:99Z", "0001-01-01T00:00:00Z",
                            "9999-12-31T23:59:59Z", "10000-01-01T00:00:00Z", "1969-12-31T23:59:59.999999999Z",
                            "2026-01-01", "yesterday", 12345,
                            "", "2026-01-01T00:00:00+99:00", "2000-01-01T00:00:00.1234567890Z"])
    elif kind == "duration":
        value = _pick(rng, ["1s", "-1s", "315576000001s", "abc", "1.5s", 3])
    elif kind == "fieldmask":
        value = _pick(rng, ["content,eventType", "metadata", "bogus", "a.b.c", "", ",,,", 5, "content," * 200])
    elif kind in ("object", "value", "array"):
        value = _deep(rng, rng.choice([0, 1, 3, 9, 30, 120]))
        if kind == "object" and not isinstance(value, dict):
            value = {_pick(rng, HOSTILE_TEXT): value}
    else:
        value = {}
    if leaf.repeated and rng.random() < 0.8:
        return [value] * rng.choice([0, 1, 2, 50]) if rng.random() < 0.3 else [json_value(rng, leaf), value]
    return value


def url_value(rng: random.Random, leaf: Leaf | None) -> str:
    if rng.random() < 0.4:
        return _pick(rng, URL_TEXT)
    value = json_value(rng, leaf) if leaf is not None else _pick(rng, HOSTILE_TEXT)
    if isinstance(value, list):
        value = value[0] if value else ""
    if not isinstance(value, str):
        value = json.dumps(value)
    return quote(value[:3000], safe="")


# --- REST -------------------------------------------------------------------------------------------


@dataclass
class Credentials:
    api_key: str
    user_token: str
    refresh: Callable[[], str]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def renew(self, stale: str) -> None:
        with self.lock:
            if self.user_token == stale:
                self.user_token = self.refresh()


def _auth_headers(rng: random.Random, creds: Credentials) -> dict[str, str]:
    roll = rng.random()
    if roll < 0.7:
        return {"x-api-key": creds.api_key}
    if roll < 0.85:
        return bearer(creds.user_token)
    if roll < 0.9:
        return {}
    return _pick(rng, [{"authorization": "Bearer x.y.z"}, {"authorization": "Basic Zm9vOmJhcg=="},
                       {"x-api-key": "ik_" + "a" * 40}, {"authorization": "Bearer " + "a" * 5000},
                       {"authorization": "bearer"}, {"x-api-key": ""}])


def _odd_headers(rng: random.Random) -> dict[str, Any]:
    if rng.random() > 0.2:
        return {}
    chosen: dict[str, str] = _pick(rng, [
        {"x-request-id": "x" * rng.choice([65, 200, 4000])}, {"x-request-id": "../\x7f"}, {"grpc-timeout": "1x"},
        {"grpc-timeout": "99999999S"}, {"grpc-timeout": "0n"}, {"grpc-encoding": "bogus"}, {"grpc-encoding": "gzip"},
        {"x-a-bin": "%%%"}, {"grpc-trace-bin": "!!"}, {"te": "trailers"}, {"accept": "text/event-stream"},
        {"accept-encoding": "gzip, br"}, {"x-forwarded-for": "1.2.3.4, ::1, junk"}, {"x-insights-gateway": "guess"},
        {"content-type": "application/grpc"}, {"content-type": "application/grpc-web-text"},
        {"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"}, {"origin": "null"},
        {"last-event-id": "\u00ff\u00fe"}, {"user-agent": "x" * 8000}, {"x-padding": "p" * 20_000},
        {"x-http-method-override": "DELETE"}, {"expect": "100-continue"},
    ])
    # Latin-1 bytes as they are on the wire (obs-text): what httpx cannot encode as str.
    return {k: (v.encode("latin-1") if not v.isascii() else v) for k, v in chosen.items()}


def rest_request(rng: random.Random, route: Route) -> tuple[str, str, dict[str, str], bytes | None]:
    leaves = route.leaves()
    path_values = {name: url_value(rng, next((leaf for leaf in leaves if ".".join(leaf.names) == name), None))
                   for name in route.path_fields if rng.random() < 0.7}
    query: list[tuple[str, str]] = []
    body_values: dict[tuple[str, ...], Any] = {}
    for leaf in leaves:
        place = route.location(leaf)
        if place == "query" and rng.random() < 0.3:
            name = leaf.query_name() if rng.random() < 0.8 else "_".join(leaf.names)
            for _ in range(rng.choice([1, 1, 1, 2, 20])):
                query.append((name, url_value(rng, leaf)))
        elif place == "body" and rng.random() < 0.5:
            body_values[leaf.names] = json_value(rng, leaf)
    if rng.random() < 0.05:
        query.append((_pick(rng, ["unknownParam", "x", "", "a.b.c", "%00"]), url_value(rng, None)))
    url = route.path(path_values) + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else "")
    body: bytes | None = None
    if route.body:
        document = route.body_json(body_values)
        raw = json.dumps(document, allow_nan=True).encode()
        roll = rng.random()
        if roll < 0.06:
            raw = raw[: rng.randrange(len(raw) + 1)]  # cut anywhere
        elif roll < 0.10:
            raw = rng.randbytes(rng.choice([1, 10, 1000]))
        elif roll < 0.13:
            raw = _pick(rng, [b"", b"[]", b"null", b"1", b'"x"', b"{}{}", b'{"a":1,"a":2}', b"[" * 5000 + b"]" * 5000,
                              b'{"' + b"k" * 100_000 + b'":1}', b"\xef\xbb\xbf{}", b"{\x00}"])
        elif roll < 0.20 and b'":' in raw:
            spot = raw.index(b'":') + 2
            raw = raw[:spot] + _pick(rng, RAW_TEXT) + b"," + raw[spot:]  # invalid text in the first member
        elif roll < 0.23:
            raw = raw[:-1] + b',"unknownField":' + json.dumps(_pick(rng, JSON_VALUES)).encode() + b"}" if raw.endswith(
                b"}") else raw
        body = raw
    headers = {"content-type": "application/json", **_odd_headers(rng)}
    verb = route.verb if rng.random() > 0.03 else _pick(rng, ["PATCH", "OPTIONS", "HEAD", "TRACE", "PUT", "GET"])
    return verb, url, headers, body


# --- gRPC -------------------------------------------------------------------------------------------


def grpc_methods() -> list[MethodDescriptor]:
    pool = descriptor_pool.Default()
    found = [m for f in API_FILES for s in f.services_by_name.values() for m in s.methods]
    found += list(pool.FindServiceByName("grpc.health.v1.Health").methods)
    found += list(pool.FindServiceByName("grpc.reflection.v1alpha.ServerReflection").methods)
    return found


def _fill(rng: random.Random, message: Message, depth: int = 0) -> None:
    descriptor: Descriptor = message.DESCRIPTOR
    for fd in descriptor.fields:
        if rng.random() < 0.5:
            continue
        try:
            _set(rng, message, fd, depth)
        except (ValueError, TypeError, OverflowError):
            pass  # a value protobuf itself refuses in Python: the wire mutations cover those


def _scalar(rng: random.Random, fd: FieldDescriptor) -> Any:
    t = fd.type
    if t == FieldDescriptor.TYPE_STRING:
        return _pick(rng, HOSTILE_TEXT)
    if t == FieldDescriptor.TYPE_BYTES:
        return rng.randbytes(rng.choice([0, 3, 100]))
    if t == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return _pick(rng, [0.0, -1.0, 1e308, float("nan"), float("inf"), -float("inf"), 5e-324])
    if t == FieldDescriptor.TYPE_ENUM:
        return rng.choice([0, 1, 2, 99, -5])
    bits = 64 if t in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64) else 32
    unsigned = t in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED32,
                     FieldDescriptor.TYPE_FIXED64)
    low, high = (0, 2**bits - 1) if unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return _pick(rng, [0, 1, -1, low, high, 7, 10_001, 1_800_000_000]) if low <= -1 or rng.random() < 0.5 else high


def _set(rng: random.Random, message: Message, fd: FieldDescriptor, depth: int) -> None:
    name = fd.name
    is_map = fd.type == FieldDescriptor.TYPE_MESSAGE and fd.message_type is not None and \
        fd.message_type.GetOptions().map_entry
    if fd.type == FieldDescriptor.TYPE_MESSAGE and not is_map:
        assert fd.message_type is not None
        full = fd.message_type.full_name
        targets = [getattr(message, name).add() for _ in range(rng.choice([1, 2, 3]))] if fd.is_repeated \
            else [getattr(message, name)]
        for target in targets:
            if full == "google.protobuf.Timestamp":
                target.seconds = _pick(rng, [0, -62135596801, 253402300800, 10**15, -(10**15), int(time.time()) - 60])
                target.nanos = _pick(rng, [0, -1, 10**9, 999_999_999])
            elif full == "google.protobuf.Struct":
                target.update({_pick(rng, HOSTILE_TEXT): _struct_value(rng, 0) for _ in range(rng.choice([0, 1, 5]))})
            elif full == "google.protobuf.FieldMask":
                target.paths.extend(_pick(rng, HOSTILE_TEXT) for _ in range(rng.choice([0, 1, 3])))
            elif depth < 4:
                _fill(rng, target, depth + 1)
        return
    if is_map:
        return
    if fd.is_repeated:
        getattr(message, name).extend(_scalar(rng, fd) for _ in range(rng.choice([0, 1, 3, 100])))
    else:
        setattr(message, name, _scalar(rng, fd))


def _struct_value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if roll < 0.3 or depth > 10:
        return _pick(rng, HOSTILE_TEXT)
    if roll < 0.5:
        return _pick(rng, [None, True, 1.5, float("nan"), 1e308, -1])
    if roll < 0.75:
        return {"k": _struct_value(rng, depth + 1)}
    return [_struct_value(rng, depth + 1) for _ in range(rng.choice([0, 2]))]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    roll = rng.random()
    if roll < 0.45 or not data:
        return data
    if roll < 0.6:  # splice invalid UTF-8 or an encoded surrogate over some bytes
        spot = rng.randrange(len(data))
        junk = _pick(rng, [b"\xff", b"\xed\xa0\x80", b"\xc3\x28", b"\xf4\x90\x80\x80", b"\x00"])
        return data[:spot] + junk + data[spot + len(junk):]
    if roll < 0.75:
        flipped = bytearray(data)
        for _ in range(rng.choice([1, 3, 10])):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        return bytes(flipped)
    if roll < 0.85:
        return data[: rng.randrange(len(data))]
    if roll < 0.95:
        return rng.randbytes(rng.choice([1, 5, 64, 4096]))
    return data + rng.randbytes(rng.choice([1, 9]))


def grpc_payloads(rng: random.Random, method: MethodDescriptor) -> list[bytes]:
    cls = message_factory.GetMessageClass(method.input_type)
    count = rng.choice([0, 1, 2, 5]) if method.client_streaming else 1
    payloads = []
    for _ in range(count):
        message = cls()
        _fill(rng, message)
        payloads.append(_mutate(rng, message.SerializeToString()))
    return payloads


def grpc_web_body(rng: random.Random, payloads: list[bytes]) -> tuple[bytes, str]:
    frames = b"".join(b"\x00" + struct.pack(">I", len(p)) + p for p in payloads)
    roll = rng.random()
    if roll < 0.15:
        frames = frames[: rng.randrange(len(frames) + 1)]  # truncated frame
    elif roll < 0.25:
        frames = b"\x01" + frames[1:] if frames else b"\x01\x00\x00\x00\x00"  # compressed flag, no encoding
    elif roll < 0.32:
        frames = b"\x80\x00\x00\x00\x05grpc-" + frames  # a trailers frame from the client
    elif roll < 0.38:
        frames = b"\x00" + struct.pack(">I", 2**31) + b"xx"  # a length no body will ever reach
    elif roll < 0.42:
        frames = frames * 2  # two messages for a unary method
    if rng.random() < 0.1:
        return base64.b64encode(frames)[: rng.randrange(1, 200)] + b"=*", "application/grpc-web-text"
    return frames, "application/grpc-web+proto"


# --- running ------------------------------------------------------------------------------------------


@dataclass
class Tally:
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    bad: list[str] = field(default_factory=list)
    notable: dict[str, list[str]] = field(default_factory=dict)
    """A few samples of each rare outcome (at most 100 seen), to explain it in the record."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: str, bad: bool, sample: str) -> None:
        with self.lock:
            self.counts[outcome] += 1
            if bad and len(self.bad) < 200:
                self.bad.append(f"{outcome}: {sample}")
            if self.counts[outcome] <= 100:
                self.notable.setdefault(outcome, [])
                if len(self.notable[outcome]) < 3:
                    self.notable[outcome].append(sample[:400])

    @property
    def bad_count(self) -> int:
        return sum(n for outcome, n in self.counts.items() if outcome.endswith("(bad)"))


def _http_outcome(transport: str, response: httpx.Response) -> tuple[str, bool]:
    code = response.status_code
    grpc_code = response.headers.get("grpc-status")
    if transport == "grpc-web":
        if grpc_code is None:
            found = re.search(rb"grpc-status:\s*(\d+)", response.content)
            grpc_code = found.group(1).decode() if found else None
        name = STATUS_NAMES.get(int(grpc_code), grpc_code) if grpc_code and grpc_code.isdigit() else "-"
        bad = name in BAD_GRPC or (name == "UNAVAILABLE" and "retry-after" not in response.headers) or (
            code >= 500 and code != 501 and "retry-after" not in response.headers)
        return f"grpc-web {code} {name}" + (" (bad)" if bad else ""), bad
    bad = code == 500 or (code in (502, 503, 504) and "retry-after" not in response.headers)
    return f"rest {code}" + (" (bad)" if bad else ""), bad


class Fuzzer:
    def __init__(self, url: str, grpc_target: str, creds: Credentials, seed: int, timeout_s: float = 10.0) -> None:
        self.url, self.grpc_target, self.creds, self.seed, self.timeout_s = url, grpc_target, creds, seed, timeout_s
        self.routes = routes()
        self.methods = grpc_methods()
        self.tally = Tally()
        self._local = threading.local()

    def _http(self) -> httpx.Client:
        if not hasattr(self._local, "http"):
            self._local.http = httpx.Client(base_url=self.url, timeout=self.timeout_s,
                                            transport=httpx.HTTPTransport(local_address=next_client_ip()))
            self._local.channel = grpc.insecure_channel(self.grpc_target)
        http: httpx.Client = self._local.http
        return http

    def one(self, index: int) -> None:
        rng = random.Random(f"{self.seed}:{index}")
        roll = rng.random()
        try:
            if roll < 0.6:
                self._rest(rng)
            elif roll < 0.85:
                self._grpc(rng)
            else:
                self._grpc_web(rng)
        except Exception as exc:  # the fuzzer's own failure to send is counted, never hidden
            self.tally.add(f"client error {type(exc).__name__}", False, str(exc)[:200])

    def _rest(self, rng: random.Random) -> None:
        route = _pick(rng, self.routes)
        verb, url, headers, body = rest_request(rng, route)
        auth = _auth_headers(rng, self.creds)
        http = self._http()
        sample = f"{verb} {url[:300]} body={(body or b'')[:200]!r} headers={ {k: v[:60] for k, v in headers.items()}!r}"
        timeout = STREAM_WAIT_S if route.server_streaming else self.timeout_s
        try:
            with http.stream(verb, url, headers={**headers, **auth}, content=body, timeout=timeout) as response:
                if route.server_streaming and response.status_code == 200:
                    outcome = "rest 200 (stream opened)"
                    self.tally.add(outcome, False, sample)
                    return
                response.read()
        except httpx.TimeoutException:
            self.tally.add(f"rest timeout{' (stream)' if route.server_streaming else ' (bad)'}",
                           not route.server_streaming, sample)
            return
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            # A connection closed mid-request: what Envoy does to a request it refuses early (413).
            self.tally.add(f"rest connection closed ({type(exc).__name__})", False, sample)
            return
        outcome, bad = _http_outcome("rest", response)
        if response.status_code == 401 and auth.get("authorization") == f"Bearer {self.creds.user_token}":
            self.creds.renew(self.creds.user_token)  # a fuzzed request may have ended our own session
        self.tally.add(outcome, bad, f"{sample} -> {response.text[:300]}")

    def _grpc(self, rng: random.Random) -> None:
        self._http()
        channel: grpc.Channel = self._local.channel
        method = _pick(rng, self.methods)
        assert method.containing_service is not None
        path = f"/{method.containing_service.full_name}/{method.name}"
        payloads = grpc_payloads(rng, method)
        metadata = [(k, v) for k, v in _auth_headers(rng, self.creds).items() if v and v.isascii()]
        if rng.random() < 0.1:
            metadata.append(_pick(rng, [("x-request-id", "r" * 300), ("x-forwarded-for", "9.9.9.9"),
                                        ("x-insights-gateway", "guess"), ("grpc-timeout", "1x")]))
        identity: Callable[[bytes], bytes] = lambda b: b  # noqa: E731
        sample = f"{path} {[p[:80] for p in payloads]!r}"
        try:
            if method.client_streaming and method.server_streaming:
                call = channel.stream_stream(path, request_serializer=identity, response_deserializer=identity)
                for _ in call(iter(payloads), metadata=metadata, timeout=self.timeout_s):
                    pass
            elif method.client_streaming:
                channel.stream_unary(path, request_serializer=identity, response_deserializer=identity)(
                    iter(payloads), metadata=metadata, timeout=self.timeout_s)
            elif method.server_streaming:
                stream = channel.unary_stream(path, request_serializer=identity, response_deserializer=identity)(
                    payloads[0], metadata=metadata, timeout=STREAM_WAIT_S)
                for _ in stream:
                    stream.cancel()  # one message proves the stream works; live streams never end
                    break
            else:
                channel.unary_unary(path, request_serializer=identity, response_deserializer=identity)(
                    payloads[0], metadata=metadata, timeout=self.timeout_s)
            self.tally.add("grpc OK", False, sample)
        except grpc.RpcError as error:
            code = error.code()  # type: ignore[attr-defined]
            name = code.name if code else "-"
            if name == "CANCELLED" and method.server_streaming:
                self.tally.add("grpc OK (stream)", False, sample)
                return
            if name == "DEADLINE_EXCEEDED" and method.server_streaming:
                self.tally.add("grpc DEADLINE_EXCEEDED (stream open)", False, sample)
                return
            trailers = dict(error.trailing_metadata() or ())  # type: ignore[attr-defined]
            bad = name in BAD_GRPC or name == "DEADLINE_EXCEEDED" or (
                name == "UNAVAILABLE" and "retry-after" not in trailers)
            self.tally.add(f"grpc {name}" + (" (bad)" if bad else ""), bad,
                           f"{sample} -> {error.details()}")  # type: ignore[attr-defined]

    def _grpc_web(self, rng: random.Random) -> None:
        method = _pick(rng, self.methods)
        assert method.containing_service is not None
        path = f"/{method.containing_service.full_name}/{method.name}"
        body, content_type = grpc_web_body(rng, grpc_payloads(rng, method))
        headers = {"content-type": content_type, "x-grpc-web": "1", **_auth_headers(rng, self.creds),
                   **_odd_headers(rng)}
        headers["content-type"] = content_type
        sample = f"grpc-web {path} {body[:120]!r}"
        timeout = STREAM_WAIT_S if method.server_streaming else self.timeout_s
        try:
            with self._http().stream("POST", path, headers=headers, content=body, timeout=timeout) as response:
                if method.server_streaming and response.status_code == 200 and "grpc-status" not in response.headers:
                    self.tally.add("grpc-web 200 (stream opened)", False, sample)
                    return
                response.read()
        except httpx.TimeoutException:
            if method.server_streaming:
                self.tally.add("grpc-web timeout (stream open)", False, sample)
            else:
                self.tally.add("grpc-web timeout (bad)", True, sample)
            return
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            self.tally.add(f"grpc-web connection closed ({type(exc).__name__})", False, sample)
            return
        outcome, bad = _http_outcome("grpc-web", response)
        self.tally.add(outcome, bad, f"{sample} -> {response.headers.get('grpc-message', '')[:200]}")

    def run(self, requests: int, threads: int, start: int = 0, progress: bool = False) -> Tally:
        done = 0
        with ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(self.one, range(start, start + requests)):
                done += 1
                if progress and done % 5000 == 0:
                    print(f"  {done} / {requests}  bad so far: {self.tally.bad_count}", flush=True)
        return self.tally


def utc_now() -> str:
    """Now, as Envoy's access log writes times (2026-12-01T23:58:01.354Z)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def credentials(stack: Stack) -> Credentials:
    """An organization's admin (token, re-signed-in when a fuzzed call ends its session) and an API key
    holding every permission the protos declare, so that most requests get past authentication."""
    permissions = sorted({rule.permission for rule in load_access_rules().values() if rule.permission})
    with stack.client() as http:
        admin = register(http, org="Fuzz")
        created = http.post("/api/api-keys", headers=bearer(admin["accessToken"]),
                            json={"name": "fuzz", "permissions": permissions})
        assert created.status_code == 200, created.text
    email = admin["user"]["email"]

    def sign_in() -> str:
        from tests.support import STRONG_PASSWORD

        with stack.client() as own:
            answer = own.post("/api/auth/login", json={"email": email, "password": STRONG_PASSWORD})
            return str(answer.json().get("accessToken", ""))

    return Credentials(created.json()["secret"], admin["accessToken"], sign_in)


def crashes(stack: Stack) -> int:
    """Calls the server itself logged as crashed (an unexpected exception turned into INTERNAL)."""
    return stack.server_log().count('"event": "rpc.crashed"')


def envoy_flags(stack: Stack, since: str = "") -> dict[str, int]:
    """Envoy's 5xx answers from time ``since`` on (ISO 8601, UTC; its access log is written with a
    delay, so its length at some moment says nothing), by status, flags and details."""
    found: collections.Counter[str] = collections.Counter()
    for line in stack.envoy_log().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if str(entry.get("status", "")).startswith("5") and str(entry.get("time", "")) >= since:
                found[f"{entry.get('status')} {entry.get('flags')} {entry.get('details')}"] += 1
    return dict(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--out", type=Path, help="write the counts as JSON here")
    args = parser.parse_args(argv)

    from insights.dev.machine import cpu_model
    from tests.fixtures.databases import REDIS_URL, create_database, drop_database
    from tests.fixtures.stack import OPEN_LIMITS

    database = create_database()
    workdir = Path(tempfile.mkdtemp(prefix="fuzz-edge-"))
    stack = Stack(database, REDIS_URL, workdir, extra_env={"INSIGHTS_WORKER__ENABLED": "false", **OPEN_LIMITS})
    try:
        stack.start()
        load_before = os.getloadavg()
        log_start = utc_now()
        fuzzer = Fuzzer(stack.url, stack.grpc_target, credentials(stack), args.seed)
        started = time.monotonic()
        tally = fuzzer.run(args.requests, args.threads, progress=True)
        elapsed = time.monotonic() - started
        result = {
            "requests": args.requests, "seed": args.seed, "threads": args.threads, "seconds": round(elapsed, 1),
            "machine": cpu_model(), "cpus": os.cpu_count(), "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()], "counts": dict(sorted(tally.counts.items())),
            "bad": tally.bad_count, "server_crash_log_lines": crashes(stack),
            "envoy_5xx": envoy_flags(stack, log_start),
            "bad_samples": tally.bad[:50],
            "rare_outcomes": {k: v for k, v in tally.notable.items() if tally.counts[k] <= 100},
        }
    finally:
        stack.stop()
        drop_database(database)
    for outcome, count in sorted(result["counts"].items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"{count:>8}  {outcome}")
    print(json.dumps({k: v for k, v in result.items() if k not in ("counts", "bad_samples")}, indent=2))
    for sample in result["bad_samples"]:
        print("BAD", sample)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if result["bad"] or result["server_crash_log_lines"] else 0


if __name__ == "__main__":
    sys.exit(main())
