"""Statuses stay small enough for every gRPC client and proxy, however much client input they echo."""

from __future__ import annotations

from urllib.parse import quote

from insights.api.status import MAX_MESSAGE_BYTES, to_failure
from insights.errors import FieldViolation, ValidationError

GRPC_CLIENT_TRAILER_LIMIT = 8 * 1024  # grpc's default soft limit on received metadata


def test_a_status_echoing_huge_input_fits_in_a_clients_trailers() -> None:
    error = ValidationError([FieldViolation(f"permissions[{i}]", "unknown: " + "\u00e9" * 5_000) for i in range(50)])
    failure = to_failure(error, "r" * 64)
    encoded_message = quote(failure.message.encode(), safe=" ")  # grpc-message is percent-encoded
    trailers = sum(len(k) + len(v) for k, v in failure.trailing_metadata) + len("grpc-message") + len(encoded_message)
    assert trailers < GRPC_CLIENT_TRAILER_LIMIT
    assert len(failure.message.encode()) <= MAX_MESSAGE_BYTES
    assert failure.message.startswith("50 invalid fields, the first ")


def test_small_statuses_are_untouched() -> None:
    failure = to_failure(ValidationError([FieldViolation("email", "is required")]), "req-1")
    assert failure.message == "email: is required"
