"""Typed domain errors. The core raises these; the gRPC boundary maps each to one status code.

Nothing here knows about gRPC: ``api/status.py`` does the mapping, once.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldViolation:
    field: str
    """The request field, as REST clients name it (camelCase JSON name, dotted path, ``items[3].channel``)."""
    description: str


class InsightsError(Exception):
    """Base of every error a caller may see. ``reason`` is a stable machine-readable code."""

    reason = "INTERNAL"

    def __init__(self, message: str, *, metadata: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.metadata = metadata or {}


class ValidationError(InsightsError):
    """The request is malformed; ``violations`` names every bad field (400)."""

    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: list[FieldViolation], message: str | None = None) -> None:
        self.violations = violations
        super().__init__(message or "; ".join(f"{v.field}: {v.description}" for v in violations))

    @classmethod
    def single(cls, field: str, description: str) -> ValidationError:
        return cls([FieldViolation(field, description)])


class AuthenticationError(InsightsError):
    """Missing, invalid, expired or revoked credentials (401)."""

    reason = "UNAUTHENTICATED"


class AccountLockedError(AuthenticationError):
    """Too many failed sign-ins for this email (401, with a retry delay)."""

    reason = "ACCOUNT_LOCKED"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("Too many failed sign-in attempts; try again later")
        self.retry_after_s = retry_after_s


class PermissionDeniedError(InsightsError):
    """Authenticated, but not allowed to do this (403)."""

    reason = "PERMISSION_DENIED"


class NotFoundError(InsightsError):
    reason = "NOT_FOUND"


class AlreadyExistsError(InsightsError):
    reason = "ALREADY_EXISTS"


class ConflictError(InsightsError):
    """Optimistic-concurrency conflict (409); ``metadata`` carries the current version."""

    reason = "CONFLICT"


@dataclass
class RateLimitInfo:
    limit: int
    remaining: int
    reset_s: int
    """Seconds until the window frees a slot."""
    scope: str = field(default="")


class RateLimitedError(InsightsError):
    reason = "RATE_LIMITED"

    def __init__(self, info: RateLimitInfo) -> None:
        super().__init__(f"Rate limit exceeded. Retry after {info.reset_s} seconds")
        self.info = info


class ResourceExhaustedError(InsightsError):
    """The caller uses more than the service can give it (e.g. a subscriber that cannot keep up)."""

    reason = "RESOURCE_EXHAUSTED"


class UnavailableError(InsightsError):
    """A dependency is down; the caller should retry after ``retry_after_s`` (503)."""

    reason = "UNAVAILABLE"

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
