"""The interceptor (api/interceptor.py), driven directly: ``intercept_service`` with a fake continuation
and a test double of the gRPC servicer context (a real ``grpc.aio.ServicerContext`` exists only inside a
running server). Credentials come from a stub authenticator, audit entries go to a stub audit log, and
rate limits are the real ``RateLimiter`` on its in-memory fallback (its Redis is marked down)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from prometheus_client import REGISTRY

from insights.api.access import load_access_rules
from insights.api.interceptor import GATEWAY_SECRET_HEADER, Interceptor
from insights.auth.authenticator import Authenticator
from insights.context import CallContext, Principal, current_call
from insights.errors import AuthenticationError, FieldViolation, NotFoundError, ValidationError
from insights.infra.audit import AuditLog
from insights.infra.keys import RedisKeys
from insights.infra.ratelimit import RateLimiter
from insights.infra.redis import Redis
from insights.settings import RateLimitSettings

LOGIN = "/insights.v1.AuthService/Login"
GET_ME = "/insights.v1.AuthService/GetMe"
CREATE_USER = "/insights.v1.AuthService/CreateUser"
INGEST = "/insights.v1.IngestionService/Ingest"
INGEST_STREAM = "/insights.v1.IngestionService/IngestStream"
SUBSCRIBE = "/insights.v1.StreamService/Subscribe"
GET_HEALTH = "/insights.v1.SystemService/GetHealth"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"

ENVOY = "ipv4:127.0.0.1:41000"
STRANGER = "ipv4:198.51.100.7:5000"

VIEWER = Principal("user", uuid.uuid4(), uuid.uuid4(), frozenset({"insights:read", "stream:read"}), role="viewer")
ADMIN = Principal(
    "user", uuid.uuid4(), uuid.uuid4(),
    frozenset({"insights:read", "stream:read", "analysis:run", "data:ingest", "data:write", "customers:manage",
               "users:manage", "apikeys:manage"}),
    role="admin",
)
MACHINE = Principal("api_key", uuid.uuid4(), uuid.uuid4(), frozenset({"data:ingest"}))
CREDENTIALS = {"viewer-token": VIEWER, "admin-token": ADMIN, "machine-key": MACHINE}


# --- test doubles ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallDetails:
    """Double of ``grpc.HandlerCallDetails``: what gRPC hands the interceptor before the call starts."""

    method: str
    invocation_metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Abort:
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]

    def header(self, name: str) -> str | bytes | None:
        return next((v for k, v in self.trailing_metadata if k == name), None)

    def status(self) -> status_pb2.Status:
        raw = self.header("grpc-status-details-bin")
        assert isinstance(raw, bytes), "every failure carries a google.rpc.Status"
        return status_pb2.Status.FromString(raw)

    def detail(self, kind: type[Any]) -> Any:
        for packed in self.status().details:
            message = kind()
            if cast(any_pb2.Any, packed).Unpack(message):
                return message
        raise AssertionError(f"no {kind.__name__} among the details")


class FakeServicerContext:
    """Test double of ``grpc.aio.ServicerContext``, implementing what the interceptor uses:
    ``invocation_metadata``, ``peer``, ``send_initial_metadata``, ``abort``, ``cancelled`` and ``done``.
    Like the real one, ``abort`` raises ``AbortError`` and refuses to be called twice."""

    def __init__(self, metadata: dict[str, str] | None = None, peer: str = ENVOY) -> None:
        self._metadata = tuple((metadata or {}).items())
        self._peer = peer
        self.sent_headers: list[list[tuple[str, str | bytes]]] = []
        self.aborts: list[Abort] = []
        self.log: list[str] = []

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def peer(self) -> str:
        return self._peer

    def cancelled(self) -> bool:
        return False  # the client is always still there in these tests

    def done(self) -> bool:
        return False

    async def send_initial_metadata(self, metadata: Any) -> None:
        self.sent_headers.append(list(metadata))
        self.log.append("headers")

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        if self.aborts:
            raise grpc.aio.UsageError("Abort already called!")
        self.aborts.append(Abort(code, details, tuple(trailing_metadata)))
        raise grpc.aio.AbortError("Locally aborted.")

    @property
    def headers(self) -> dict[str, str | bytes]:
        assert len(self.sent_headers) == 1, f"headers sent {len(self.sent_headers)} times"
        return dict(self.sent_headers[0])

    @property
    def aborted(self) -> Abort:
        assert len(self.aborts) == 1, f"aborted {len(self.aborts)} times"
        return self.aborts[0]


class StubAuthenticator:
    """Knows a fixed set of bearer tokens and API keys; records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def from_bearer(self, token: str) -> Principal:
        return self._lookup(f"bearer {token}", token)

    async def from_api_key(self, key: str) -> Principal:
        return self._lookup(f"api-key {key}", key)

    def _lookup(self, what: str, secret: str) -> Principal:
        self.asked.append(what)
        if secret in CREDENTIALS:
            return CREDENTIALS[secret]
        raise AuthenticationError("Invalid or expired credentials")


@dataclass
class StubAuditLog:
    entries: list[tuple[CallContext, str, dict[str, Any]]] = field(default_factory=list)

    async def record(self, ctx: CallContext, action: str, **kwargs: Any) -> None:
        self.entries.append((ctx, action, kwargs))


def memory_limiter(settings: RateLimitSettings) -> RateLimiter:
    """The real limiter, on the per-instance memory it falls back to while Redis is down."""
    redis = Redis("redis://127.0.0.1:1/0", timeout_s=0.1, retry_after_s=3600, block_s=1, keys=RedisKeys())
    redis.mark_down(ConnectionError("unit tests run without Redis"))
    return RateLimiter(settings, redis)


LIMITS = RateLimitSettings(ip_per_minute=50, auth_ip_per_minute=3, user_per_minute=20, api_key_per_minute=10)


@dataclass
class Harness:
    interceptor: Interceptor
    authenticator: StubAuthenticator
    audit: StubAuditLog
    seen: list[CallContext] = field(default_factory=list)
    """The call context each servicer invocation saw."""

    async def handler(self, method: str, behavior: Any, kind: str = "unary_unary") -> Any:
        async def continuation(details: grpc.HandlerCallDetails) -> Any:
            return getattr(grpc, f"{kind}_rpc_method_handler")(behavior)

        details = cast(grpc.HandlerCallDetails, CallDetails(method))
        return await self.interceptor.intercept_service(continuation, details)

    async def unary(
        self, method: str, context: FakeServicerContext,
        behavior: Callable[[Any, Any], Awaitable[Any]] | None = None,
    ) -> Any:
        """One unary call, in a task of its own as gRPC runs it. None when it was aborted."""
        handler = await self.handler(method, behavior or self.answer)
        try:
            # The interceptor reads a unary request as a client stream of one message (as grpc delivers it).
            return await asyncio.create_task(handler.stream_unary(one("request"), context))
        except grpc.aio.AbortError:
            assert context.aborts, "AbortError without an abort"
            return None

    async def stream(self, method: str, context: FakeServicerContext, behavior: Any) -> list[Any]:
        handler = await self.handler(method, behavior, "unary_stream")

        async def consume() -> list[Any]:
            received = []
            try:
                async for message in handler.stream_stream(one("request"), context):
                    context.log.append(f"received {message}")
                    received.append(message)
            except grpc.aio.AbortError:
                assert context.aborts
            return received

        return await asyncio.create_task(consume())

    async def answer(self, request: Any, context: Any) -> str:
        self.seen.append(current_call.get())
        return "response"


async def one(request: Any) -> AsyncIterator[Any]:
    """The request stream of a unary call: one message, then the client's half-close."""
    yield request


def harness(limits: RateLimitSettings = LIMITS, trusted: tuple[str, ...] = ("127.0.0.1/32", "::1/128")) -> Harness:
    authenticator, audit = StubAuthenticator(), StubAuditLog()
    interceptor = Interceptor(
        load_access_rules(), cast(Authenticator, authenticator), memory_limiter(limits), cast(AuditLog, audit),
        list(trusted), gateway_secret=GATEWAY_SECRET,
    )
    return Harness(interceptor, authenticator, audit)


@pytest.fixture
def h() -> Iterator[Harness]:
    yield harness()


GATEWAY_SECRET = "unit-gateway-secret-0123456789abcdef"
FROM_GATEWAY = {GATEWAY_SECRET_HEADER: GATEWAY_SECRET}
"""What Envoy adds to every call it forwards: the server believes its x-forwarded-for only with it."""


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", **extra}


# --- request id and client address -------------------------------------------------------------------


async def test_request_id_is_taken_from_the_header_and_returned(h: Harness) -> None:
    """An x-request-id from Envoy is kept: the servicer's call context and the response headers carry it."""
    context = FakeServicerContext(bearer("viewer-token", **{"x-request-id": "req-from-envoy-1"}))
    assert await h.unary(GET_ME, context) == "response"
    assert h.seen[0].request_id == "req-from-envoy-1"
    assert context.headers["x-request-id"] == "req-from-envoy-1"


async def test_request_id_is_generated_when_absent(h: Harness) -> None:
    """Without a header each call gets a fresh random id (32 hex digits), returned in the headers."""
    first, second = FakeServicerContext(bearer("viewer-token")), FakeServicerContext(bearer("viewer-token"))
    await h.unary(GET_ME, first)
    await h.unary(GET_ME, second)
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(isinstance(i, str) and re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert ids[0] != ids[1]
    assert [c.request_id for c in h.seen] == ids


@pytest.mark.parametrize(
    ("peer", "forwarded", "secret", "client_ip"),
    [
        (ENVOY, "203.0.113.9", GATEWAY_SECRET, "203.0.113.9"),
        # Envoy appends the address it saw: the last hop is the one to believe, not what the client wrote.
        (ENVOY, "6.6.6.6, 203.0.113.9", GATEWAY_SECRET, "203.0.113.9"),
        ("ipv6:[::1]:41000", "2001:db8::7", GATEWAY_SECRET, "2001:db8::7"),
        (STRANGER, "203.0.113.9", GATEWAY_SECRET, "198.51.100.7"),
        ("ipv6:[2001:db8::1]:443", "203.0.113.9", GATEWAY_SECRET, "2001:db8::1"),
        (ENVOY, "", GATEWAY_SECRET, "127.0.0.1"),
        (STRANGER, "", "", "198.51.100.7"),
        # A process on the gateway's host shares its address but not its secret.
        (ENVOY, "203.0.113.9", "", "127.0.0.1"),
        (ENVOY, "203.0.113.9", "a-guess", "127.0.0.1"),
    ],
)
async def test_client_ip_trusts_forwarded_for_only_from_the_gateway(
    h: Harness, peer: str, forwarded: str, secret: str, client_ip: str
) -> None:
    """x-forwarded-for names the client only from a trusted proxy that also carries the gateway's secret;
    otherwise the peer is the client."""
    metadata = bearer("viewer-token", **({"x-forwarded-for": forwarded} if forwarded else {}),
                      **({GATEWAY_SECRET_HEADER: secret} if secret else {}))
    await h.unary(GET_ME, FakeServicerContext(metadata, peer=peer))
    assert h.seen[0].client_ip == client_ip


async def test_per_ip_limit_counts_the_forwarded_client_not_the_proxy() -> None:
    """Two clients behind Envoy have separate per-IP windows (the limit is keyed by the believed address)."""
    h = harness(RateLimitSettings(ip_per_minute=2, auth_ip_per_minute=100, user_per_minute=100))
    def behind_envoy(client: str) -> FakeServicerContext:
        return FakeServicerContext({"x-forwarded-for": client, **FROM_GATEWAY})

    for _ in range(2):
        assert await h.unary(LOGIN, behind_envoy("203.0.113.1")) == "response"
    limited = behind_envoy("203.0.113.1")
    assert await h.unary(LOGIN, limited) is None
    assert limited.aborted.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert await h.unary(LOGIN, behind_envoy("203.0.113.2")) == "response"


# --- credentials and permissions --------------------------------------------------------------------


@pytest.mark.parametrize("credentials", [{}, bearer("stale-token"), {"authorization": "Basic abc"},
                                         {"x-api-key": "revoked-key"}])
async def test_public_methods_ignore_credentials(h: Harness, credentials: dict[str, str]) -> None:
    """A stale or malformed credential must not stop a sign-in: public methods never look at it."""
    context = FakeServicerContext(credentials)
    assert await h.unary(LOGIN, context) == "response"
    assert h.authenticator.asked == []
    assert h.seen[0].principal is None


async def test_signed_in_method_sets_the_principal(h: Harness) -> None:
    """A bearer token's principal reaches the servicer through the call context."""
    await h.unary(GET_ME, FakeServicerContext(bearer("viewer-token")))
    assert h.authenticator.asked == ["bearer viewer-token"]
    assert h.seen[0].principal == VIEWER


async def test_api_keys_authenticate_machine_clients(h: Harness) -> None:
    """x-api-key is checked when there is no authorization header."""
    await h.unary(INGEST, FakeServicerContext({"x-api-key": "machine-key"}))
    assert h.authenticator.asked == ["api-key machine-key"]
    assert h.seen[0].principal == MACHINE


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({}, "Authentication required"),
        ({"authorization": "Basic dXNlcjpwYXNz"}, "Authorization must be 'Bearer <token>'"),
        ({"authorization": "Bearer   "}, "Authorization must be 'Bearer <token>'"),
        (bearer("forged-token"), "Invalid or expired credentials"),
    ],
)
async def test_missing_or_bad_credentials_are_unauthenticated(
    h: Harness, metadata: dict[str, str], message: str
) -> None:
    """A signed-in method without valid credentials answers UNAUTHENTICATED and never reaches the servicer."""
    context = FakeServicerContext(metadata)
    assert await h.unary(GET_ME, context) is None
    assert context.aborted.code is grpc.StatusCode.UNAUTHENTICATED
    assert context.aborted.details == message
    assert h.seen == []


@pytest.mark.parametrize("method", ["/insights.v1.AuthService/NotDeclared", "/some.other.Service/Method"])
async def test_a_method_without_a_declared_rule_is_closed(h: Harness, method: str) -> None:
    """No rule: credentials are required, and even an admin holding every real permission is refused."""
    anonymous = FakeServicerContext()
    assert await h.unary(method, anonymous) is None
    assert anonymous.aborted.code is grpc.StatusCode.UNAUTHENTICATED
    admin = FakeServicerContext(bearer("admin-token"))
    assert await h.unary(method, admin) is None
    assert admin.aborted.code is grpc.StatusCode.PERMISSION_DENIED
    assert h.seen == []


async def test_missing_permission_is_denied_and_audited(h: Harness) -> None:
    """A viewer calling CreateUser gets PERMISSION_DENIED; the refusal is audited with who, what and which call."""
    denied_before = REGISTRY.get_sample_value(
        "insights_rpc_errors_total", {"method": CREATE_USER, "code": "PERMISSION_DENIED"}
    ) or 0.0
    context = FakeServicerContext(bearer("viewer-token", **{"x-request-id": "req-denied"}), peer=STRANGER)
    assert await h.unary(CREATE_USER, context) is None
    assert context.aborted.code is grpc.StatusCode.PERMISSION_DENIED
    assert "users:manage" in context.aborted.details
    assert h.seen == []
    [(call, action, kwargs)] = h.audit.entries
    assert action == "authz.denied"
    assert kwargs["details"] == {"method": CREATE_USER, "permission": "users:manage"}
    assert (call.principal, call.request_id, call.client_ip) == (VIEWER, "req-denied", "198.51.100.7")
    after = REGISTRY.get_sample_value("insights_rpc_errors_total", {"method": CREATE_USER, "code": "PERMISSION_DENIED"})
    assert after == denied_before + 1


async def test_permission_held_is_let_through_without_audit(h: Harness) -> None:
    """Holding the permission: the servicer runs with the principal; nothing is audited."""
    await h.unary(CREATE_USER, FakeServicerContext(bearer("admin-token")))
    assert h.seen[0].principal == ADMIN
    assert h.audit.entries == []


# --- errors become statuses, once --------------------------------------------------------------------


async def test_domain_error_becomes_its_status_once_with_details(h: Harness) -> None:
    """A ValidationError from the core is one INVALID_ARGUMENT abort, with BadRequest naming each field and
    ErrorInfo carrying the reason and the request id."""

    async def invalid(request: Any, context: Any) -> Any:
        raise ValidationError([FieldViolation("email", "is required"), FieldViolation("password", "is too short")])

    context = FakeServicerContext(bearer("viewer-token", **{"x-request-id": "req-42"}))
    assert await h.unary(GET_ME, context, invalid) is None
    failure = context.aborted
    assert failure.code is grpc.StatusCode.INVALID_ARGUMENT
    assert failure.details == "email: is required; password: is too short"
    violations = failure.detail(error_details_pb2.BadRequest).field_violations
    assert [(v.field, v.description) for v in violations] == [("email", "is required"), ("password", "is too short")]
    info = failure.detail(error_details_pb2.ErrorInfo)
    assert (info.reason, info.metadata["requestId"]) == ("INVALID_ARGUMENT", "req-42")
    assert failure.status().code == grpc.StatusCode.INVALID_ARGUMENT.value[0]


async def test_an_abort_by_the_servicer_passes_through_untouched(h: Harness) -> None:
    """A servicer that aborts itself keeps its status: the interceptor does not map (or abort) again."""

    async def aborts(request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "servicer's own status")

    context = FakeServicerContext(bearer("viewer-token"))
    assert await h.unary(GET_ME, context, aborts) is None
    assert (context.aborted.code, context.aborted.details) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                               "servicer's own status")


async def test_unexpected_exception_is_internal_with_request_id_and_no_internals(h: Harness) -> None:
    """A crash answers INTERNAL naming the request id (for support), and nothing of the exception."""

    async def crashes(request: Any, context: Any) -> Any:
        raise RuntimeError("connection to 10.0.0.3 failed: password=hunter2")

    context = FakeServicerContext(bearer("viewer-token", **{"x-request-id": "req-crash"}))
    assert await h.unary(GET_ME, context, crashes) is None
    failure = context.aborted
    assert failure.code is grpc.StatusCode.INTERNAL
    assert failure.details == "Internal error (request id req-crash)"
    everything = failure.details + "".join(
        v.decode("latin-1") if isinstance(v, bytes) else v for _, v in failure.trailing_metadata
    )
    assert "hunter2" not in everything and "10.0.0.3" not in everything and "RuntimeError" not in everything


async def test_not_implemented_becomes_unimplemented(h: Harness) -> None:
    """A declared method that is not built yet answers UNIMPLEMENTED naming the method, never a fake result."""

    async def unbuilt(request: Any, context: Any) -> Any:
        raise NotImplementedError

    context = FakeServicerContext(bearer("viewer-token"))
    assert await h.unary(GET_ME, context, unbuilt) is None
    assert context.aborted.code is grpc.StatusCode.UNIMPLEMENTED
    assert context.aborted.details == f"{GET_ME} is not implemented yet"


async def test_every_call_is_measured_with_its_final_code(h: Harness) -> None:
    """The latency histogram counts each call under the code it ended with."""

    def count(code: str) -> float:
        return REGISTRY.get_sample_value("insights_rpc_duration_seconds_count", {"method": GET_ME, "code": code}) or 0

    ok, not_found = count("OK"), count("NOT_FOUND")

    async def missing(request: Any, context: Any) -> Any:
        raise NotFoundError("Interaction not found")

    await h.unary(GET_ME, FakeServicerContext(bearer("viewer-token")))
    await h.unary(GET_ME, FakeServicerContext(bearer("viewer-token")), missing)
    assert (count("OK"), count("NOT_FOUND")) == (ok + 1, not_found + 1)


# --- rate limits -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "metadata", "limit", "remaining"),
    [
        (LOGIN, {}, "3", "2"),  # per IP (50) and per IP on auth endpoints (3): the auth window is tighter
        (GET_ME, bearer("viewer-token"), "20", "19"),  # per IP (50) and per user (20)
        (INGEST, {"x-api-key": "machine-key"}, "10", "9"),  # per IP (50) and per API key (10)
    ],
)
async def test_rate_limit_headers_carry_the_tightest_window(
    h: Harness, method: str, metadata: dict[str, str], limit: str, remaining: str
) -> None:
    """Of the windows a call counts against, the headers show the one with the fewest calls left."""
    context = FakeServicerContext(metadata)
    await h.unary(method, context)
    headers = context.headers
    assert (headers["x-ratelimit-limit"], headers["x-ratelimit-remaining"]) == (limit, remaining)
    assert 1 <= int(headers["x-ratelimit-reset"]) <= 60


async def test_the_per_ip_window_wins_when_it_is_the_tighter_one() -> None:
    """With a per-IP limit below the per-user one, the headers show the per-IP window."""
    h = harness(RateLimitSettings(ip_per_minute=5, user_per_minute=20))
    context = FakeServicerContext(bearer("viewer-token"))
    await h.unary(GET_ME, context)
    assert (context.headers["x-ratelimit-limit"], context.headers["x-ratelimit-remaining"]) == ("5", "4")


async def test_over_the_limit_is_resource_exhausted_with_retry_headers(h: Harness) -> None:
    """The fourth sign-in attempt within a minute (limit 3) is refused before the servicer runs."""
    for _ in range(3):
        await h.unary(LOGIN, FakeServicerContext())
    context = FakeServicerContext()
    assert await h.unary(LOGIN, context) is None
    failure = context.aborted
    assert failure.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (failure.header("x-ratelimit-limit"), failure.header("x-ratelimit-remaining")) == ("3", "0")
    retry_after = failure.header("retry-after")
    assert isinstance(retry_after, str) and 1 <= int(retry_after) <= 60
    assert failure.detail(error_details_pb2.RetryInfo).retry_delay.seconds == int(retry_after)
    assert len(h.seen) == 3


@pytest.mark.parametrize("method", [GET_HEALTH, HEALTH_CHECK])
async def test_health_is_open_and_not_rate_limited(method: str) -> None:
    """Load balancers probe health without credentials and are never limited (limit 1 per minute here)."""
    h = harness(RateLimitSettings(ip_per_minute=1, auth_ip_per_minute=1, user_per_minute=1, api_key_per_minute=1))
    for _ in range(3):
        context = FakeServicerContext()
        assert await h.unary(method, context) == "response"
        assert set(context.headers) == {"x-request-id"}


# --- handler kinds and streams --------------------------------------------------------------------


async def test_unknown_methods_pass_through_to_grpc(h: Harness) -> None:
    """No handler (gRPC answers UNIMPLEMENTED itself): the interceptor returns None, not a wrapper."""

    async def continuation(details: grpc.HandlerCallDetails) -> Any:
        return None

    details = cast(grpc.HandlerCallDetails, CallDetails("/insights.v1.Nope/Nothing"))
    assert await h.interceptor.intercept_service(continuation, details) is None


@pytest.mark.parametrize(("kind", "served_as"), [
    ("unary_unary", "stream_unary"), ("unary_stream", "stream_stream"),
    ("stream_unary", "stream_unary"), ("stream_stream", "stream_stream"),
])
async def test_every_request_is_read_as_a_client_stream(h: Harness, kind: str, served_as: str) -> None:
    """The wrapper keeps whether responses stream and the response serializer; requests are read as a client
    stream (a unary call's one message: grpc never answers a unary call whose request frame is incomplete),
    through a deserializer that never raises (undecodable bytes become a named violation, not INTERNAL)."""

    def serializer(message: Any) -> bytes:
        return b""

    async def continuation(details: grpc.HandlerCallDetails) -> Any:
        factory = getattr(grpc, f"{kind}_rpc_method_handler")
        return factory(h.answer, request_deserializer=bytes, response_serializer=serializer)

    wrapped = await h.interceptor.intercept_service(continuation, cast(grpc.HandlerCallDetails, CallDetails(GET_ME)))
    kinds = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")
    assert [k for k in kinds if getattr(wrapped, k) is not None] == [served_as]
    assert wrapped.response_serializer is serializer
    wrapped.request_deserializer(b"\xff\xff\xff")  # garbage: no exception


async def test_client_streaming_calls_are_admitted_like_unary_ones(h: Harness) -> None:
    """IngestStream (client streaming) needs data:ingest too: a viewer is refused before reading anything."""

    async def consume(requests: AsyncIterator[Any], context: Any) -> Any:
        raise AssertionError("the servicer must not run")

    handler = await h.handler(INGEST_STREAM, consume, "stream_unary")
    context = FakeServicerContext(bearer("viewer-token"))
    with pytest.raises(grpc.aio.AbortError):
        await asyncio.create_task(handler.stream_unary("requests", context))
    assert context.aborted.code is grpc.StatusCode.PERMISSION_DENIED


async def test_stream_headers_go_out_once_with_the_first_message(h: Harness) -> None:
    """A server stream sends its headers once, right before the first message."""
    async def events(request: Any, context: Any) -> AsyncIterator[str]:
        for n in range(3):
            yield f"event-{n}"

    context = FakeServicerContext(bearer("viewer-token"))
    assert await h.stream(SUBSCRIBE, context, events) == ["event-0", "event-1", "event-2"]
    assert context.log == ["headers", "received event-0", "received event-1", "received event-2"]
    assert context.headers["x-request-id"]


async def test_a_stream_failing_before_its_first_message_is_trailers_only(h: Harness) -> None:
    """No headers are sent before the abort, so Envoy can turn the status into the HTTP code for REST."""

    async def refuses(request: Any, context: Any) -> AsyncIterator[str]:
        raise ValidationError.single("lastEventId", "is not an event id")
        yield "never"

    context = FakeServicerContext(bearer("viewer-token"))
    assert await h.stream(SUBSCRIBE, context, refuses) == []
    assert context.sent_headers == []
    assert context.aborted.code is grpc.StatusCode.INVALID_ARGUMENT


async def test_a_stream_failing_later_keeps_what_was_sent_and_maps_the_error(h: Harness) -> None:
    """A crash mid-stream: the messages sent stay sent; the status is INTERNAL with the request id."""
    async def breaks(request: Any, context: Any) -> AsyncIterator[str]:
        yield "event-0"
        raise RuntimeError("reader crashed")

    context = FakeServicerContext(bearer("viewer-token", **{"x-request-id": "req-stream"}))
    assert await h.stream(SUBSCRIBE, context, breaks) == ["event-0"]
    assert context.log[:2] == ["headers", "received event-0"]
    assert (context.aborted.code, context.aborted.details) == (grpc.StatusCode.INTERNAL,
                                                               "Internal error (request id req-stream)")
