"""Model versions and A/B tests: which sentiment model version scores a text.

A rollout (table ``model_rollouts``, db/migrations/0020) names a stable version, optionally a candidate and the
share of traffic (0-1) the candidate gets; an organization's own row wins over the platform default (the row
without organization). No rollout at all: the backend's latest version answers.

Routing is a pure function of a key, never of chance or of the process: the key is hashed (BLAKE2b, first 8
bytes, as a fraction of 2**64) and a fraction below the share goes to the candidate. The worker's key is the
organization and the interaction id (a row keeps its version when it is scored again); the on-demand analysis's
key is the organization and the normalized text, so a retried request lands on the same version and so on the
same cache entry. Raising the share only moves keys from stable to candidate (a key below 0.1 is below 0.2).

A routed version the backend does not serve never fails a call: the stable version answers if it is served,
else the backend's latest; each such text is counted in ``insights_sentiment_version_fallbacks_total`` and
logged once per process and version.

Servers and workers read the whole table (a few rows) at most every ``INFERENCE__ROLLOUT_TTL_S`` seconds
(:class:`RolloutStore`), so ``insights model rollout|promote|rollback`` (:class:`RolloutAdmin`, as the owner)
takes effect without a restart. Only the first read is waited for (at most :data:`READ_TIMEOUT_S`); later ones
run behind the calls, which meanwhile route by the rollouts last read: an analysis, which needs no database
otherwise, never waits for a slow or unreachable PostgreSQL. The database being down keeps the rollouts last read.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from prometheus_client import Counter
from psycopg.rows import DictRow, dict_row

from insights.errors import UnavailableError
from insights.infra.db import Database
from insights.infra.logging import get_logger

log = get_logger(__name__)

ROUTED = Counter("insights_sentiment_version_routed_total", "Texts routed to a model version by the rollouts",
                 ["version"])
FALLBACKS = Counter("insights_sentiment_version_fallbacks_total",
                    "Texts routed to a model version the backend does not serve (answered by another)", ["requested"])

#: How the CLI names the platform default (the row without organization).
DEFAULT_SCOPE = "default"
#: The longest a call waits for the first read of the rollouts.
READ_TIMEOUT_S = 1.0

_SELECT = "SELECT organization_id, stable_version, candidate_version, candidate_share FROM model_rollouts"


class RolloutError(Exception):
    """A rollout that cannot be (invalid versions or share, unknown organization, nothing to promote)."""


@dataclass(frozen=True)
class Rollout:
    stable: str
    candidate: str | None = None
    share: float = 0.0
    """Of the traffic, the fraction the candidate gets (0-1)."""

    def __post_init__(self) -> None:
        if not self.stable.isdigit():
            raise RolloutError(f"stable version must be a version folder number, not {self.stable!r}")
        if self.candidate is not None and not self.candidate.isdigit():
            raise RolloutError(f"candidate version must be a version folder number, not {self.candidate!r}")
        if self.candidate == self.stable:
            raise RolloutError(f"candidate and stable are both version {self.stable}")
        if not 0.0 <= self.share <= 1.0:
            raise RolloutError(f"share must be between 0 and 1, not {self.share}")
        if self.candidate is None and self.share:
            raise RolloutError("a share needs a candidate version")

    def pick(self, *key: str) -> str:
        """The version for this routing key."""
        if self.candidate is not None and fraction(*key) < self.share:
            return self.candidate
        return self.stable


def fraction(*key: str) -> float:
    """A stable, uniform number in [0, 1) for a key: the same in every process, run and Python version."""
    digest = hashlib.blake2b("\x1f".join(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class Rollouts:
    """Every rollout, as read at one moment."""

    default: Rollout | None = None
    by_organization: dict[UUID, Rollout] = field(default_factory=dict)

    def of(self, organization_id: UUID) -> Rollout | None:
        return self.by_organization.get(organization_id, self.default)

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]]) -> Rollouts:
        default: Rollout | None = None
        by_organization: dict[UUID, Rollout] = {}
        for row in rows:
            candidate = row["candidate_version"]
            rollout = Rollout(str(row["stable_version"]), str(candidate) if candidate is not None else None,
                              float(row["candidate_share"]))
            organization = row["organization_id"]
            if organization is None:
                default = rollout
            else:
                by_organization[UUID(str(organization))] = rollout
        return cls(default, by_organization)


def _served(version: str, served: tuple[str, ...]) -> bool:
    """Whether the backend serves ``version``; while it has not learned what it serves, it is assumed to
    (the backend itself answers a missing one with its latest)."""
    return not served or version in served


def _stand_in(rollout: Rollout, served: tuple[str, ...]) -> str:
    """Who answers for a version the backend does not serve: the stable version if served, else the latest."""
    return rollout.stable if _served(rollout.stable, served) else served[-1]


def traffic_shares(rollout: Rollout | None, served: tuple[str, ...], latest: str | None) -> list[tuple[str, float]]:
    """The versions that answer an organization with ``rollout``, production first, and their shares of its
    texts, by the fallback rule above (``latest``: the backend's answer to a call naming no version)."""
    if rollout is None:
        return [(latest, 1.0)] if latest is not None else []
    production = _stand_in(rollout, served)
    candidate = rollout.candidate
    if candidate is None or candidate == production or not _served(candidate, served):
        return [(production, 1.0)]
    return [(production, 1.0 - rollout.share), (candidate, rollout.share)]


class Router:
    """Chooses the version per text against what the backend serves, with the fallback rule above."""

    def __init__(self) -> None:
        self._warned: set[tuple[str, tuple[str, ...]]] = set()

    def version(self, rollout: Rollout | None, key: tuple[str, ...], served: tuple[str, ...]) -> str | None:
        """The version to ask the backend for (``None``: its latest)."""
        if rollout is None:
            return None
        wanted = rollout.pick(*key)
        if _served(wanted, served):
            ROUTED.labels(wanted).inc()
            return wanted
        instead = _stand_in(rollout, served)
        FALLBACKS.labels(wanted).inc()
        ROUTED.labels(instead).inc()
        if (wanted, served) not in self._warned:
            self._warned.add((wanted, served))
            log.warning("rollout.version_not_served", requested=wanted, served=list(served), answered_by=instead)
        return instead


class RolloutStore:
    """The rollouts as this process knows them: read again once they are ``ttl_s`` old, by one caller at a time."""

    def __init__(self, db: Database, ttl_s: float) -> None:
        self._db = db
        self._ttl_s = ttl_s
        self._rollouts = Rollouts()
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()
        self._refresh: asyncio.Task[None] | None = None
        self.router = Router()

    async def current(self) -> Rollouts:
        if time.monotonic() - self._read_at < self._ttl_s:
            return self._rollouts
        if self._read_at > float("-inf") and self._ttl_s > 0:
            # Read before: refresh behind this call (one refresh at a time), which routes by the last read.
            if self._refresh is None or self._refresh.done():
                self._refresh = asyncio.create_task(self._read_once(), name="rollout-refresh")
            return self._rollouts
        await self._read_once()
        return self._rollouts

    async def _read_once(self) -> None:
        async with self._lock:
            if time.monotonic() - self._read_at >= self._ttl_s:
                await self._read()

    async def close(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh

    async def _read(self) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_S), self._db.global_tx() as conn, \
                    conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(_SELECT)
                rows = await cur.fetchall()
        except (UnavailableError, TimeoutError, psycopg.Error) as exc:  # psycopg.Error: e.g. not migrated yet
            log.warning("rollout.read_failed", error=str(exc) or "timed out", note="keeping the rollouts last read")
        else:
            try:
                self._rollouts = Rollouts.from_rows(rows)
            except RolloutError as exc:  # the table's checks make this unreachable; never fail calls for it
                log.error("rollout.invalid", error=str(exc))
        self._read_at = time.monotonic()

    async def versions(
        self, organization_ids: Sequence[UUID], keys: Sequence[str], served: tuple[str, ...]
    ) -> list[str | None]:
        """The version for each (organization, key) pair (``None``: the backend's latest)."""
        rollouts = await self.current()
        return [self.router.version(rollouts.of(organization), (str(organization), key), served)
                for organization, key in zip(organization_ids, keys, strict=True)]


class RolloutAdmin:
    """The ``insights model`` commands' writes, on an owner connection (the application role may only read)."""

    def __init__(self, conn: psycopg.Connection[DictRow]) -> None:
        self._conn = conn

    @staticmethod
    def scope(text: str) -> UUID | None:
        """``default`` (the platform default) or an organization id."""
        if text == DEFAULT_SCOPE:
            return None
        try:
            return UUID(text)
        except ValueError:
            raise RolloutError(f"organization must be an organization id or {DEFAULT_SCOPE!r}, not {text!r}") from None

    def all(self) -> Rollouts:
        return Rollouts.from_rows(self._conn.execute(_SELECT).fetchall())

    def get(self, organization_id: UUID | None) -> Rollout | None:
        rollouts = self.all()
        return rollouts.default if organization_id is None else rollouts.by_organization.get(organization_id)

    def put(self, organization_id: UUID | None, rollout: Rollout) -> Rollout:
        if organization_id is not None and self._conn.execute(
                "SELECT 1 FROM organizations WHERE id = %s", (organization_id,)).fetchone() is None:
            raise RolloutError(f"no organization {organization_id}")
        self._conn.execute(
            "INSERT INTO model_rollouts (organization_id, stable_version, candidate_version, candidate_share)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (organization_id) DO UPDATE SET"
            " stable_version = excluded.stable_version, candidate_version = excluded.candidate_version,"
            " candidate_share = excluded.candidate_share, updated_at = now()",
            (organization_id, rollout.stable, rollout.candidate, rollout.share),
        )
        return rollout

    def start(
        self, organization_id: UUID | None, candidate: str | None, share: float, stable: str | None = None
    ) -> Rollout:
        """A candidate (or none) with its share; the stable version is ``stable``, else the scope's, else the
        default's."""
        current = self.get(organization_id) or (self.get(None) if organization_id is not None else None)
        stable = stable or (current.stable if current is not None else None)
        if stable is None:
            raise RolloutError("no rollout to inherit a stable version from: give --stable")
        return self.put(organization_id, Rollout(stable, candidate, share))

    def promote(self, organization_id: UUID | None) -> Rollout:
        """The candidate becomes the stable version, with no candidate."""
        current = self.get(organization_id)
        if current is None or current.candidate is None:
            raise RolloutError("no candidate to promote")
        return self.put(organization_id, Rollout(current.candidate))

    def rollback(self, organization_id: UUID | None) -> Rollout:
        """The candidate is dropped; the stable version takes all traffic."""
        current = self.get(organization_id)
        if current is None:
            raise RolloutError("no rollout to roll back")
        return self.put(organization_id, Rollout(current.stable))
