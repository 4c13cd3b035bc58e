"""One interceptor wraps every method: request decoding, request id and logs, rate limits,
authentication, permission check, metrics, and the mapping of errors to statuses.

Order per call: request id → client address → per-IP limit (and the strict auth-endpoint limit) →
credentials → permission → per-principal limit → the request's bytes (``api/decoding.py``: a request
that is not UTF-8, holds NUL or an impossible timestamp is INVALID_ARGUMENT naming each field) → the
servicer. Client-streaming requests are checked message by message as the servicer reads them.
"""

from __future__ import annotations

import hmac
import importlib
import inspect
import ipaddress
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import grpc
import structlog
from prometheus_client import Counter, Histogram

from insights.api.access import AccessRule, rule_for
from insights.api.decoding import Rejected, deserializer_for, guard, request_type_of, rest_body_field
from insights.api.status import (
    Metadata,
    RpcFailure,
    internal_failure,
    rate_limit_headers,
    to_failure,
    unimplemented_failure,
)
from insights.api.types import Context
from insights.auth.authenticator import Authenticator
from insights.context import CallContext, Principal, current_call
from insights.errors import (
    AuthenticationError,
    FieldViolation,
    InsightsError,
    PermissionDeniedError,
    RateLimitInfo,
    ValidationError,
)
from insights.infra.audit import AuditLog
from insights.infra.logging import get_logger
from insights.infra.ratelimit import RateLimiter

if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]

log = get_logger(__name__)

RPC_LATENCY = Histogram(
    "insights_rpc_duration_seconds",
    "Server-side latency per method",
    ["method", "code"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RPC_ERRORS = Counter("insights_rpc_errors_total", "Calls that ended with a non-OK status", ["method", "code"])

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# What grpc raises when the call can no longer be written to (the client reset or abandoned it).
class _NeverRaised(Exception):
    pass


_CALL_GONE: type[Exception] = getattr(importlib.import_module("grpc._cython.cygrpc"), "ExecuteBatchError", _NeverRaised)
GATEWAY_SECRET_HEADER = "x-insights-gateway"
"""Set by Envoy on every call it forwards (``gateway.secret``); removed from what clients send."""

# The REST name of a client stream's items: IngestStream's messages are the events of one long batch.
STREAM_ITEMS = {"/insights.v1.IngestionService/IngestStream": ("interaction", "interactions")}


def _accepted(request: Any) -> Any:
    if isinstance(request, Rejected):
        raise ValidationError(list(request.violations))
    return request


async def _single(requests: AsyncIterator[Any]) -> Any:
    """The one message of a unary call (read as a stream: see ``intercept_service``)."""
    async for request in requests:
        return _accepted(request)
    raise ValidationError.single("request", "is missing: the call ended before one complete message arrived")


def _item_path(method: str, index: int, field: str) -> str:
    inner, outer = STREAM_ITEMS.get(method, ("", "requests"))
    if inner and (field == inner or field.startswith(f"{inner}.") or field.startswith(f"{inner}[")):
        return f"{outer}[{index}]{field[len(inner):]}"
    if field == "request":
        return f"{outer}[{index}]"
    return f"{outer}[{index}].{field}"


async def _accepted_stream(method: str, requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """The client's messages, checked one by one: the first rejected one ends the call with its fields
    named by position (``interactions[7].customerId``)."""
    index = 0
    async for request in requests:
        if isinstance(request, Rejected):
            raise ValidationError([FieldViolation(_item_path(method, index, v.field), v.description)
                                   for v in request.violations])
        index += 1
        yield request


def _metadata(context: Context) -> dict[str, str]:
    return {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}


def _peer_address(peer: str) -> str:
    # "ipv4:127.0.0.1:5000", "ipv6:[::1]:5000", "unix:/path"
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return rest.rsplit("]", 1)[0].lstrip("[")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    return rest or peer


class Interceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]  # not generic at run time
    def __init__(
        self,
        rules: dict[str, AccessRule],
        authenticator: Authenticator,
        limiter: RateLimiter,
        audit: AuditLog,
        trusted_proxies: list[str],
        gateway_secret: str | None = None,
    ) -> None:
        self._rules = rules
        self._authenticator = authenticator
        self._limiter = limiter
        self._audit = audit
        self._trusted = [ipaddress.ip_network(n) for n in trusted_proxies]
        self._gateway_secret = gateway_secret.encode() if gateway_secret else None
        self._deserializers: dict[str, Callable[[bytes], Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(details)
        if handler is None:
            return handler
        method: str = details.method
        rule = rule_for(self._rules, method)
        wrap_args = {
            "request_deserializer": self._deserializer(method, handler.request_deserializer),
            "response_serializer": handler.response_serializer,
        }
        # Unary requests are read as client streams of one message: grpc's asyncio server never answers a
        # unary call whose client half-closes without a complete message (an empty or truncated frame),
        # so such a call hung until a proxy timed it out. Read here, it is INVALID_ARGUMENT.
        if handler.unary_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(handler.unary_unary, method, rule), **wrap_args
            )
        if handler.unary_stream:
            return grpc.stream_stream_rpc_method_handler(
                self._stream(handler.unary_stream, method, rule), **wrap_args
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(handler.stream_unary, method, rule, client_stream=True), **wrap_args
            )
        return grpc.stream_stream_rpc_method_handler(
            self._stream(handler.stream_stream, method, rule, client_stream=True), **wrap_args
        )

    def _deserializer(self, method: str, original: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
        """A deserializer that never raises (see ``api/decoding.py``), one per method."""
        found = self._deserializers.get(method)
        if found is None:
            type_name = request_type_of(method)
            found = deserializer_for(type_name, rest_body_field(method)) if type_name else guard(original)
            self._deserializers[method] = found
        return found

    def _unary(self, behavior: Any, method: str, rule: AccessRule, *, client_stream: bool = False) -> Any:
        async def wrapper(request: Any, context: Context) -> Any:
            async with self._boundary(method, context):
                headers = await self._admit(method, rule, context)
                request = _accepted_stream(method, request) if client_stream else await _single(request)
                response = await behavior(request, context)
                await context.send_initial_metadata(headers)
                return response

        return wrapper

    def _stream(self, behavior: Any, method: str, rule: AccessRule, *, client_stream: bool = False) -> Any:
        # Most servicers yield their responses; some (grpc's health service, Watch) write them with
        # context.write() and return None. Both are served: iterating the coroutine of the second kind
        # was why every Health/Watch call failed.
        writes = not inspect.isasyncgenfunction(behavior)

        async def wrapper(request: Any, context: Context) -> AsyncIterator[Any]:
            async with self._boundary(method, context):
                admitted = await self._admit(method, rule, context)
                headers: Metadata | None = admitted
                request = _accepted_stream(method, request) if client_stream else await _single(request)
                if writes:
                    await context.send_initial_metadata(admitted)
                    await behavior(request, context)
                    return
                async for response in behavior(request, context):
                    # Headers go out with the first message: a stream that fails before it is then a
                    # trailers-only response, which Envoy turns into the right HTTP status for REST.
                    if headers is not None:
                        await context.send_initial_metadata(headers)
                        headers = None
                    yield response

        return wrapper

    @asynccontextmanager
    async def _boundary(self, method: str, context: Context) -> AsyncIterator[None]:
        """Around every call: any exception becomes its status (once, here); latency is recorded."""
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            yield
        except Exception as exc:
            if context.cancelled() or context.done() or isinstance(exc, _CALL_GONE):
                # The client cancelled or its deadline passed: there is nobody to answer (sending the
                # headers is what fails then), and nothing crashed.
                code = grpc.StatusCode.CANCELLED
                log.info("rpc.cancelled", error=type(exc).__name__)
                return
            failure = self._failure(exc, method)
            if failure is None:
                raise
            code = failure.code
            await context.abort(failure.code, failure.message, tuple(failure.trailing_metadata))
        finally:
            self._observe(method, code, started)
            structlog.contextvars.clear_contextvars()

    def _failure(self, exc: Exception, method: str) -> RpcFailure | None:
        """The status for an exception, or None for one that is already a gRPC status (abort)."""
        if isinstance(exc, grpc.aio.AbortError):
            return None
        call = current_call.get(None)
        request_id = call.request_id if call else "-"
        if isinstance(exc, InsightsError):
            log.info("rpc.failed", reason=exc.reason, error=exc.message)
            return to_failure(exc, request_id)
        if isinstance(exc, NotImplementedError):
            return unimplemented_failure(method)
        log.exception("rpc.crashed")
        return internal_failure(request_id)

    def _observe(self, method: str, code: grpc.StatusCode, started: float) -> None:
        name = code.name
        RPC_LATENCY.labels(method, name).observe(time.perf_counter() - started)
        if code is not grpc.StatusCode.OK:
            RPC_ERRORS.labels(method, name).inc()
        log.info("rpc", code=name, ms=round((time.perf_counter() - started) * 1000, 2))

    def _client_ip(self, context: Context, metadata: dict[str, str]) -> str:
        """The caller's address: the peer's, or the one the gateway saw (x-forwarded-for), but only when
        the call comes from a trusted proxy address *and* carries the gateway's secret header. A process
        on the gateway's host shares its address; it does not know the secret."""
        peer = _peer_address(context.peer() or "")
        forwarded = metadata.get("x-forwarded-for")
        if forwarded and self._from_gateway(peer, metadata):
            # The proxy (Envoy) appends the address it saw; that last hop is the one to believe.
            hop = forwarded.split(",")[-1].strip()
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
        return peer

    def _from_gateway(self, peer: str, metadata: dict[str, str]) -> bool:
        if self._gateway_secret is None:
            return False
        presented = metadata.get(GATEWAY_SECRET_HEADER, "").encode()
        if not hmac.compare_digest(presented, self._gateway_secret):
            return False
        try:
            return any(ipaddress.ip_address(peer) in net for net in self._trusted)
        except ValueError:
            return False

    async def _admit(self, method: str, rule: AccessRule, context: Context) -> Metadata:
        """Sets the call context; raises if the call may not proceed. Returns response headers."""
        metadata = _metadata(context)
        offered = metadata.get("x-request-id", "")
        # A client's own request id is kept for correlation when it is a plausible one; it ends up in
        # logs, the audit log (64 characters) and error details, so anything else gets a fresh id.
        request_id = offered if _REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        client_ip = self._client_ip(context, metadata)
        call = CallContext(
            request_id=request_id, client_ip=client_ip, user_agent=metadata.get("user-agent", "")
        )
        current_call.set(call)
        structlog.contextvars.bind_contextvars(request_id=request_id, method=method, client_ip=client_ip)

        windows: list[RateLimitInfo] = []
        if rule.rate_limited:
            windows.append(await self._limiter.hit(self._limiter.ip, client_ip))
            if rule.auth_endpoint:
                windows.append(await self._limiter.hit(self._limiter.auth_ip, client_ip))

        # Public methods ignore credentials: a stale token must not stop someone from signing in.
        principal = None if rule.public else await self._authenticate(metadata)
        if principal is not None:
            call = CallContext(request_id, client_ip, call.user_agent, principal)
            current_call.set(call)
            structlog.contextvars.bind_contextvars(principal=f"{principal.kind}:{principal.id}")
            if not principal.can(rule.permission):
                await self._audit.record(
                    call, "authz.denied", details={"method": method, "permission": rule.permission}
                )
                raise PermissionDeniedError(f"Missing permission {rule.permission!r}")
            if rule.rate_limited:
                limit = self._limiter.api_key if principal.kind == "api_key" else self._limiter.user
                windows.append(await self._limiter.hit(limit, str(principal.id)))

        headers: Metadata = [("x-request-id", request_id)]
        if windows:
            headers += rate_limit_headers(min(windows, key=lambda w: w.remaining))
        return headers

    async def _authenticate(self, metadata: dict[str, str]) -> Principal:
        authorization = metadata.get("authorization", "")
        api_key = metadata.get("x-api-key", "")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthenticationError("Authorization must be 'Bearer <token>'")
            return await self._authenticator.from_bearer(token.strip())
        if api_key:
            return await self._authenticator.from_api_key(api_key)
        raise AuthenticationError("Authentication required")
