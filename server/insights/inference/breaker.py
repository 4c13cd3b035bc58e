"""A circuit breaker for the model tier: stop calling a tier that keeps failing, probe it later.

closed → (``threshold`` consecutive failures) → open → (``reset_after_s``) → half-open: one probe
call goes through; its success closes the circuit, its failure opens it again. While open, calls
fail at once, so the API answers with its fallback in microseconds instead of after every retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from insights.inference.types import CIRCUIT_OPEN, InferenceUnavailable
from insights.infra.logging import get_logger

log = get_logger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self, name: str, *, threshold: int = 5, reset_after_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._threshold = threshold
        self._reset_after_s = reset_after_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self._reset_after_s:
            return BreakerState.HALF_OPEN
        return self._state

    def acquire(self) -> None:
        """Call before each attempt: raises when the circuit does not let a call through now."""
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._state = BreakerState.HALF_OPEN
            self._probe_in_flight = True
            return
        retry_after = max(0.1, self._reset_after_s - (self._clock() - self._opened_at))
        raise InferenceUnavailable(f"{self.name}: circuit open", retry_after_s=retry_after, reason=CIRCUIT_OPEN)

    def success(self) -> None:
        if self._state is not BreakerState.CLOSED:
            log.info("breaker.closed", name=self.name)
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._probe_in_flight = False

    def failure(self) -> None:
        self._failures += 1
        was_probe = self._probe_in_flight
        self._probe_in_flight = False
        if was_probe or self._failures >= self._threshold:
            if self._state is not BreakerState.OPEN or was_probe:
                log.warning("breaker.opened", name=self.name, failures=self._failures,
                            retry_in_s=self._reset_after_s)
            self._state = BreakerState.OPEN
            self._opened_at = self._clock()

    def release(self) -> None:
        """An attempt ended without a verdict (cancelled): let the next call probe instead."""
        self._probe_in_flight = False
