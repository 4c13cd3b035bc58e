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

# A status travels in HTTP/2 trailers: grpc-message percent-encoded, the details base64-encoded. Every
# default gRPC client refuses trailers over 8 KiB (and Envoy resets a stream whose trailers exceed its
# limit: that read as a 503 "upstream reset"), while messages and violations echo what the client sent.
# So they are bounded here, once for every error: at most 1,000 bytes of message (3,000 encoded) and
# 3,000 bytes of details (4,000 encoded).
MAX_MESSAGE_BYTES = 1_000
MAX_DETAILS_BYTES = 3_000
MAX_TEXT = 120
"""Longest field name or description once a status has to be cut down to fit."""


def _bounded(text: str, limit: int) -> str:
    """At most ``limit`` bytes of UTF-8, cut on a character boundary."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "\u2026"


def _violations(error: ValidationError, room: int) -> tuple[error_details_pb2.BadRequest, int]:
    """As many of the error's violations as fit in ``room`` bytes (all of them, usually)."""
    full = [error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in error.violations]
    found = error_details_pb2.BadRequest(field_violations=full)
    if found.ByteSize() <= room:
        return found, len(full)
    found = error_details_pb2.BadRequest()
    for v in error.violations:
        found.field_violations.add(field=_bounded(v.field, MAX_TEXT), description=_bounded(v.description, MAX_TEXT))
        if found.ByteSize() > room:
            del found.field_violations[-1]
            break
    return found, len(found.field_violations)

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
    message = error.message
    if isinstance(error, ValidationError):
        room = MAX_DETAILS_BYTES - sum(d.ByteSize() for d in details) - 200  # RetryInfo, framing
        violations, named = _violations(error, room)
        if named < len(error.violations):
            message = f"{len(error.violations)} invalid fields, the first {named} named in the details; {message}"
        details.append(_pack(violations))
    message = _bounded(message, MAX_MESSAGE_BYTES)
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
