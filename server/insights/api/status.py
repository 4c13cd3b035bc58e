"""The one place where domain errors become gRPC statuses (with ``google.rpc`` details).

Envoy's ``convert_grpc_status`` turns these into HTTP codes and JSON bodies for REST clients;
plain metadata such as ``retry-after`` and ``x-ratelimit-*`` become HTTP headers.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from insights.errors import (
    AccountLockedError,
    AlreadyExistsError,
    AuthenticationError,
    ConflictError,
    InsightsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RateLimitInfo,
    ResourceExhaustedError,
    UnavailableError,
    ValidationError,
)

ERROR_DOMAIN = "insights.v1"

# A status travels in HTTP/2 trailers, which proxies cap (Envoy resets a stream whose trailers are too
# large: the client saw a 503 "upstream reset"). Messages and violations echo what the client sent, so
# they are bounded here, once for every error.
MAX_MESSAGE = 1_000
MAX_DESCRIPTION = 300
MAX_VIOLATIONS = 50


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"

_CODES: list[tuple[type[InsightsError], grpc.StatusCode]] = [
    (ValidationError, grpc.StatusCode.INVALID_ARGUMENT),
    (AuthenticationError, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDeniedError, grpc.StatusCode.PERMISSION_DENIED),
    (NotFoundError, grpc.StatusCode.NOT_FOUND),
    (AlreadyExistsError, grpc.StatusCode.ALREADY_EXISTS),
    (ConflictError, grpc.StatusCode.ABORTED),
    (RateLimitedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (ResourceExhaustedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (UnavailableError, grpc.StatusCode.UNAVAILABLE),
]

Metadata = list[tuple[str, str | bytes]]


@dataclass(frozen=True)
class RpcFailure:
    code: grpc.StatusCode
    message: str
    trailing_metadata: Metadata


def status_code_for(error: InsightsError) -> grpc.StatusCode:
    for error_type, code in _CODES:
        if isinstance(error, error_type):
            return code
    return grpc.StatusCode.INTERNAL


def rate_limit_headers(info: RateLimitInfo) -> Metadata:
    return [
        ("x-ratelimit-limit", str(info.limit)),
        ("x-ratelimit-remaining", str(info.remaining)),
        ("x-ratelimit-reset", str(info.reset_s)),
    ]


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def to_failure(error: InsightsError, request_id: str) -> RpcFailure:
    code = status_code_for(error)
    details = [
        _pack(
            error_details_pb2.ErrorInfo(
                reason=error.reason, domain=ERROR_DOMAIN, metadata={**error.metadata, "requestId": request_id}
            )
        )
    ]
    headers: Metadata = []
    message = _bounded(error.message, MAX_MESSAGE)
    if isinstance(error, ValidationError):
        violations = error.violations[:MAX_VIOLATIONS]
        if len(error.violations) > MAX_VIOLATIONS:
            count = len(error.violations)
            message = _bounded(f"{count} invalid fields, the first {MAX_VIOLATIONS} named in the details; {message}",
                               MAX_MESSAGE)
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=_bounded(v.field, MAX_DESCRIPTION),
                            description=_bounded(v.description, MAX_DESCRIPTION),
                        )
                        for v in violations
                    ]
                )
            )
        )
    retry_after: float | None = None
    if isinstance(error, RateLimitedError):
        retry_after = error.info.reset_s
        headers += rate_limit_headers(error.info)
    elif isinstance(error, UnavailableError):
        retry_after = error.retry_after_s
    elif isinstance(error, AccountLockedError):
        retry_after = error.retry_after_s
    if retry_after is not None:
        seconds = max(1, round(retry_after))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=seconds))))
        headers.append(("retry-after", str(seconds)))
    status = status_pb2.Status(code=code.value[0], message=message, details=details)
    return RpcFailure(code, message, [*headers, *rpc_status.to_status(status).trailing_metadata])


def internal_failure(request_id: str) -> RpcFailure:
    message = f"Internal error (request id {request_id})"
    status = status_pb2.Status(code=code_pb2.INTERNAL, message=message)
    return RpcFailure(grpc.StatusCode.INTERNAL, message, list(rpc_status.to_status(status).trailing_metadata))


def unimplemented_failure(method: str) -> RpcFailure:
    message = f"{method} is not implemented yet"
    status = status_pb2.Status(code=code_pb2.UNIMPLEMENTED, message=message)
    return RpcFailure(
        grpc.StatusCode.UNIMPLEMENTED, message, list(rpc_status.to_status(status).trailing_metadata)
    )
