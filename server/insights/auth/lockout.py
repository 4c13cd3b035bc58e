"""Sign-in throttling that stops password guessing without handing anyone a way to lock others out.

Two counters, both keyed by the email's hash (known or not, so they say nothing about which accounts
exist), both over ``lockout_window_s``:

- **per (email, source address)**: ``lockout_threshold`` failures lock that pair for
  ``lockout_duration_s``. A guesser locks only themselves out of that account; the owner, elsewhere,
  is not affected.
- **per email, from every source**: past ``throttle_threshold`` failures, a sign-in from a source
  that never signed in to the account (within ``known_source_days``) must wait a delay that starts
  at ``throttle_base_delay_s`` and doubles with each further failure, up to ``throttle_max_delay_s``.
  Guessing spread over many addresses is slowed as much as the per-pair lock slows one address.

A source the account signed in from before is exempt from the per-email delay, a session's refresh
token is never throttled (refresh is no password check), and a password reset forgets every
failure. An IPv6 source counts as its /64 (one host can hold a whole /64).
"""

from __future__ import annotations

import ipaddress
import math
from datetime import UTC, datetime

from insights.auth import repository as repo
from insights.infra.db import Database
from insights.settings import AuthSettings


def source_of(client_ip: str) -> str:
    """The address a failure is counted against: IPv4 as is, IPv6 as its /64 network."""
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return client_ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _seconds_until(moment: datetime) -> int:
    return max(1, math.ceil((moment - datetime.now(UTC)).total_seconds()))


class SignInThrottle:
    def __init__(self, settings: AuthSettings, db: Database) -> None:
        self._s = settings
        self._db = db

    async def refusal(self, email_hash: str, source: str) -> int | None:
        """Seconds this source must wait before trying this email again, or None when it may try now."""
        async with self._db.global_tx() as conn:
            locked = await repo.pair_locked_until(conn, email_hash, source)
            if locked is not None:
                return _seconds_until(locked)
            delayed = await repo.throttled_until(conn, email_hash)
            if delayed is None or await repo.is_known_source(conn, email_hash, source, self._s.known_source_days):
                return None
            return _seconds_until(delayed)

    async def failed(self, email_hash: str, source: str) -> tuple[bool, float]:
        """Counts a failure; returns (this pair is locked now, the per-email delay now set)."""
        s = self._s
        async with self._db.global_tx() as conn:
            locked = await repo.count_pair_failure(
                conn, email_hash, source, window_s=s.lockout_window_s, threshold=s.lockout_threshold,
                lock_s=s.lockout_duration_s,
            )
            delay = await repo.count_email_failure(
                conn, email_hash, window_s=s.lockout_window_s, threshold=s.throttle_threshold,
                base_delay_s=s.throttle_base_delay_s, max_delay_s=s.throttle_max_delay_s,
            )
        return locked, delay

    async def succeeded(self, email_hash: str, source: str) -> None:
        async with self._db.global_tx() as conn:
            await repo.record_sign_in(conn, email_hash, source)
