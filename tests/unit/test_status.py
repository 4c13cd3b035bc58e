"""Status mapping (api/status.py): each domain error becomes the gRPC status README documents, with its
``google.rpc`` details and headers."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

import insights.events.types  # noqa: F401  # defines an InsightsError subclass of its own
from insights import errors
from insights.api.status import (
    ERROR_DOMAIN,
    RpcFailure,
    internal_failure,
    rate_limit_headers,
    status_code_for,
    to_failure,
    unimplemented_failure,
)
from insights.errors import (
    AccountLockedError,
    AlreadyExistsError,
    AuthenticationError,
    ConflictError,
    FieldViolation,
    InsightsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RateLimitInfo,
    ResourceExhaustedError,
    UnavailableError,
    ValidationError,
)
from insights.events.types import SubscriberTooSlow

README = Path(__file__).resolve().parents[2] / "README.md"

# Each error of insights/errors.py: how to make one, and the situation in README's Errors table it is.
ERRORS: dict[type[InsightsError], tuple[Callable[[], InsightsError], str]] = {
    ValidationError: (lambda: ValidationError.single("email", "is required"), "invalid field(s)"),
    AuthenticationError: (lambda: AuthenticationError("Invalid token"), "missing/invalid/expired/revoked credentials"),
    AccountLockedError: (lambda: AccountLockedError(900), "lockout"),
    PermissionDeniedError: (lambda: PermissionDeniedError("Missing permission"), "missing permission"),
    NotFoundError: (lambda: NotFoundError("User not found"), "unknown resource"),
    AlreadyExistsError: (lambda: AlreadyExistsError("A user with this email already exists"), "already exists"),
    ConflictError: (lambda: ConflictError("stale", metadata={"currentVersion": "3"}), "stale version"),
    RateLimitedError: (lambda: RateLimitedError(RateLimitInfo(5, 0, 42, "auth-ip")), "rate limited"),
    ResourceExhaustedError: (lambda: ResourceExhaustedError("too much"), "subscriber too slow"),
    UnavailableError: (lambda: UnavailableError("Database temporarily unavailable", 2.0), "dependency down"),
}


def _documented_codes() -> dict[str, str]:
    """README's Errors table: situation -> gRPC code name."""
    section = README.read_text().split("**Errors.**", 1)[1].split("\n\n", 2)[1]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| ")]
    return {situation.strip(): code.strip().strip("`") for situation, code, *_ in rows[1:]}


def _subclasses(cls: type[InsightsError]) -> set[type[InsightsError]]:
    return {sub for direct in cls.__subclasses__() for sub in {direct, *_subclasses(direct)}}


def _detail(failure: RpcFailure, kind: type[Any]) -> Any:
    raw = dict(failure.trailing_metadata)["grpc-status-details-bin"]
    assert isinstance(raw, bytes)
    for packed in status_pb2.Status.FromString(raw).details:
        message = kind()
        if cast(any_pb2.Any, packed).Unpack(message):
            return message
    return None


def _status(failure: RpcFailure) -> status_pb2.Status:
    raw = dict(failure.trailing_metadata)["grpc-status-details-bin"]
    assert isinstance(raw, bytes)
    return status_pb2.Status.FromString(raw)


def test_every_error_in_errors_py_is_in_the_table() -> None:
    """A new error class must be given a documented status here (and in README) before it ships."""
    defined = {c for c in _subclasses(InsightsError) if c.__module__ == errors.__name__}
    assert defined == set(ERRORS)


@pytest.mark.parametrize("error_type", list(ERRORS), ids=lambda t: t.__name__)
def test_each_error_maps_to_the_code_readme_documents(error_type: type[InsightsError]) -> None:
    """The code comes from README's Errors table (the row of the error's situation), not from this file."""
    make, situation = ERRORS[error_type]
    documented = [code for row, code in _documented_codes().items() if situation in row]
    assert len(documented) == 1, f"README's Errors table has no single row for {situation!r}"
    error = make()
    assert type(error) is error_type
    failure = to_failure(error, "req-1")
    assert status_code_for(error).name == failure.code.name == documented[0]
    assert _status(failure).code == failure.code.value[0]
    assert failure.message == error.message == _status(failure).message


def test_subclasses_elsewhere_inherit_their_parents_code() -> None:
    """SubscriberTooSlow (events) is a ResourceExhaustedError: RESOURCE_EXHAUSTED, with its own reason."""
    failure = to_failure(SubscriberTooSlow(), "req-1")
    assert failure.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert _detail(failure, error_details_pb2.ErrorInfo).reason == "RESOURCE_EXHAUSTED"


def test_the_base_error_is_internal() -> None:
    """An InsightsError of no known kind is INTERNAL."""
    assert status_code_for(InsightsError("unclassified")) is grpc.StatusCode.INTERNAL


@pytest.mark.parametrize("error_type", list(ERRORS), ids=lambda t: t.__name__)
def test_every_failure_carries_error_info_with_reason_and_request_id(error_type: type[InsightsError]) -> None:
    """Clients branch on ErrorInfo.reason; support finds the call by requestId."""
    error = ERRORS[error_type][0]()
    info = _detail(to_failure(error, "req-77"), error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain, info.metadata["requestId"]) == (error.reason, ERROR_DOMAIN, "req-77")


def test_reasons_are_distinct_machine_readable_codes() -> None:
    """Each error type has its own stable reason in UPPER_SNAKE_CASE."""
    reasons = [t.reason for t in ERRORS]
    assert len(set(reasons)) == len(reasons)
    assert all(re.fullmatch(r"[A-Z_]+", r) for r in reasons)


def test_validation_error_names_every_field_in_bad_request() -> None:
    """Every violation becomes a BadRequest field violation, in order; the message joins them."""
    error = ValidationError([
        FieldViolation("interactions[0].channel", "is required"),
        FieldViolation("interactions[2].timestamp", "must not be in the future"),
    ])
    bad_request = _detail(to_failure(error, "r"), error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("interactions[0].channel", "is required"), ("interactions[2].timestamp", "must not be in the future"),
    ]
    assert error.message == "interactions[0].channel: is required; interactions[2].timestamp: must not be in the future"


def test_conflict_metadata_reaches_error_info_next_to_the_request_id() -> None:
    """ErrorInfo.metadata carries the current version (for a retry) and the request id."""
    info = _detail(to_failure(ConflictError("stale", metadata={"currentVersion": "3"}), "r-9"),
                   error_details_pb2.ErrorInfo)
    assert dict(info.metadata) == {"currentVersion": "3", "requestId": "r-9"}


def test_rate_limited_carries_retry_info_and_window_headers() -> None:
    """429: the window's x-ratelimit-* headers, retry-after and RetryInfo agree."""
    failure = to_failure(RateLimitedError(RateLimitInfo(limit=5, remaining=0, reset_s=42)), "r")
    headers = dict(failure.trailing_metadata)
    assert (headers["x-ratelimit-limit"], headers["x-ratelimit-remaining"], headers["x-ratelimit-reset"]) == (
        "5", "0", "42")
    assert headers["retry-after"] == "42"
    assert _detail(failure, error_details_pb2.RetryInfo).retry_delay.seconds == 42


@pytest.mark.parametrize(("retry_after_s", "seconds"), [(2.0, 2), (2.6, 3), (0.2, 1), (0.0, 1), (30.0, 30)])
def test_unavailable_carries_a_whole_retry_delay_of_at_least_one_second(retry_after_s: float, seconds: int) -> None:
    """retry-after is whole seconds (rounded), never 0."""
    failure = to_failure(UnavailableError("down", retry_after_s), "r")
    assert dict(failure.trailing_metadata)["retry-after"] == str(seconds)
    assert _detail(failure, error_details_pb2.RetryInfo).retry_delay.seconds == seconds


def test_lockout_carries_its_retry_delay() -> None:
    """A locked account is UNAUTHENTICATED with ACCOUNT_LOCKED and the lockout's remaining time."""
    failure = to_failure(AccountLockedError(900), "r")
    assert failure.code is grpc.StatusCode.UNAUTHENTICATED
    assert dict(failure.trailing_metadata)["retry-after"] == "900"
    assert _detail(failure, error_details_pb2.RetryInfo).retry_delay.seconds == 900
    assert _detail(failure, error_details_pb2.ErrorInfo).reason == "ACCOUNT_LOCKED"


@pytest.mark.parametrize("error_type", [ValidationError, AuthenticationError, PermissionDeniedError, NotFoundError,
                                        AlreadyExistsError, ConflictError, ResourceExhaustedError])
def test_errors_without_a_retry_delay_have_no_retry_headers(error_type: type[InsightsError]) -> None:
    """Only rate limits, outages and lockouts tell the client when to retry; others carry no BadRequest either."""
    failure = to_failure(ERRORS[error_type][0](), "r")
    assert "retry-after" not in dict(failure.trailing_metadata)
    assert _detail(failure, error_details_pb2.RetryInfo) is None
    assert _detail(failure, error_details_pb2.BadRequest) is None or error_type is ValidationError


def test_internal_failure_says_only_the_request_id() -> None:
    """INTERNAL carries no details at all: only the request id, in the message."""
    failure = internal_failure("req-5")
    assert (failure.code, failure.message) == (grpc.StatusCode.INTERNAL, "Internal error (request id req-5)")
    status = _status(failure)
    assert (status.code, status.message, list(status.details)) == (code_pb2.INTERNAL, failure.message, [])


def test_unimplemented_failure_names_the_method() -> None:
    """UNIMPLEMENTED names the method that is not built yet."""
    failure = unimplemented_failure("/insights.v1.QueryService/GetInsights")
    assert failure.code is grpc.StatusCode.UNIMPLEMENTED
    assert _status(failure).code == code_pb2.UNIMPLEMENTED
    assert failure.message == "/insights.v1.QueryService/GetInsights is not implemented yet"


def test_rate_limit_headers_are_strings() -> None:
    """Metadata values are strings, in a fixed order."""
    assert rate_limit_headers(RateLimitInfo(100, 99, 60)) == [
        ("x-ratelimit-limit", "100"), ("x-ratelimit-remaining", "99"), ("x-ratelimit-reset", "60"),
    ]
