"""Every SQL statement of the authentication core, returning typed objects (``auth/models.py``).

Row factories build the objects from the cursor, so nothing outside this module sees a database row.
Functions take the connection of a transaction the caller opened: ``tenant_tx`` for an organization's
rows (row-level security admits no other), ``global_tx`` for the pre-tenant tables and look-ups.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import kwargs_row, scalar_row
from psycopg.types.json import Jsonb

from insights.auth.models import (
    Account,
    ApiKeyRecord,
    ApiKeyView,
    PendingRegistration,
    RefreshTokenRecord,
    ResetTokenRecord,
    SessionState,
    SessionView,
    UserView,
)
from insights.auth.permissions import effective_permissions
from insights.infra.db import Conn

_USER_SELECT = """
SELECT u.id, u.email, u.first_name, u.last_name, u.role, u.permissions, u.organization_id,
       o.name AS organization_name, u.created_at, u.last_login_at, u.token_version, u.is_active
FROM users u JOIN organizations o ON o.id = u.organization_id
"""
_API_KEY_COLUMNS = "id, name, prefix, permissions, created_at, last_used_at, revoked_at"


def _user(*, role: str, permissions: list[str], **row: Any) -> UserView:
    return UserView(**row, role=role, permissions=effective_permissions(role, permissions))


def _api_key(*, permissions: list[str], **row: Any) -> ApiKeyView:
    return ApiKeyView(**row, permissions=list(permissions))


def _session(*, client_ip: str | None, user_agent: str | None, **row: Any) -> SessionView:
    return SessionView(**row, client_ip=client_ip or "", user_agent=user_agent or "")


user_row = kwargs_row(_user)
api_key_row = kwargs_row(_api_key)
session_row = kwargs_row(_session)


async def _scalar(conn: Conn, query: str, params: Sequence[Any]) -> Any:
    async with conn.cursor(row_factory=scalar_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchone()


async def _scalars(conn: Conn, query: str, params: Sequence[Any]) -> list[Any]:
    async with conn.cursor(row_factory=scalar_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


# Keyset condition of an ascending (created_at, id) listing; the first page passes NULLs.
_AFTER = "(%s::timestamptz IS NULL OR (created_at, id) > (%s::timestamptz, %s::uuid))"


def _after(after: tuple[datetime, UUID] | None) -> tuple[Any, ...]:
    at, after_id = after if after is not None else (None, None)
    return at, at, after_id


# --- look-ups before the tenant is known (SECURITY DEFINER functions, 0002/0008/0009) ---------------


async def account_by_email(conn: Conn, email: str) -> Account | None:
    async with conn.cursor(row_factory=kwargs_row(Account)) as cur:
        await cur.execute("SELECT id, organization_id, password_hash, is_active FROM auth_user_by_email(%s)", (email,))
        return await cur.fetchone()


async def email_taken(conn: Conn, email: str) -> bool:
    return bool(await _scalar(conn, "SELECT auth_email_taken(%s)", (email,)))


async def refresh_token_by_hash(conn: Conn, token_hash: str) -> RefreshTokenRecord | None:
    async with conn.cursor(row_factory=kwargs_row(RefreshTokenRecord)) as cur:
        await cur.execute(
            "SELECT id, organization_id, user_id, family_id, expires_at, used_at, revoked_at"
            " FROM auth_refresh_token_by_hash(%s)",
            (token_hash,),
        )
        return await cur.fetchone()


async def session_state(conn: Conn, session_id: UUID) -> SessionState | None:
    async with conn.cursor(row_factory=kwargs_row(SessionState)) as cur:
        await cur.execute(
            "SELECT user_id, organization_id, token_version, is_active, revoked FROM auth_session_state(%s)",
            (session_id,),
        )
        rows = await cur.fetchall()
    # A family has one owner by construction; anything else is treated as no valid session.
    return rows[0] if len(rows) == 1 else None


async def api_key_by_hash(conn: Conn, key_hash: str) -> ApiKeyRecord | None:
    async with conn.cursor(row_factory=kwargs_row(ApiKeyRecord)) as cur:
        await cur.execute(
            "SELECT id, organization_id, permissions, revoked_at FROM auth_api_key_by_hash(%s)", (key_hash,)
        )
        return await cur.fetchone()


async def touch_api_key(conn: Conn, key_id: UUID) -> None:
    """Records that the key was used: at most once a minute, so a busy key costs one write a minute."""
    await conn.execute(
        "UPDATE api_keys SET last_used_at = now() WHERE id = %s AND revoked_at IS NULL"
        " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        (key_id,),
    )


async def reset_token_by_hash(conn: Conn, token_hash: str) -> ResetTokenRecord | None:
    async with conn.cursor(row_factory=kwargs_row(ResetTokenRecord)) as cur:
        await cur.execute(
            "SELECT id, organization_id, user_id, expires_at, used_at FROM auth_password_reset_by_hash(%s)",
            (token_hash,),
        )
        return await cur.fetchone()


# --- sign-up --------------------------------------------------------------------------------------


async def insert_pending_registration(
    conn: Conn, *, token_hash: str, registration: PendingRegistration, ttl_s: int
) -> None:
    await conn.execute(
        "INSERT INTO pending_registrations (token_hash, email, password_hash, first_name, last_name,"
        " organization_name, expires_at) VALUES (%s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s))",
        (
            token_hash, registration.email, registration.password_hash, registration.first_name,
            registration.last_name, registration.organization_name, ttl_s,
        ),
    )


async def purge_expired_registrations(conn: Conn) -> None:
    await conn.execute("DELETE FROM pending_registrations WHERE expires_at < now() - interval '1 day'")


async def consume_pending_registration(conn: Conn, token_hash: str) -> PendingRegistration | None:
    """Spends a verification token (once, before it expires): the sign-up it stands for, or None."""
    async with conn.cursor(row_factory=kwargs_row(PendingRegistration)) as cur:
        await cur.execute(
            "UPDATE pending_registrations SET used_at = now()"
            " WHERE token_hash = %s AND used_at IS NULL AND expires_at > now()"
            " RETURNING email, password_hash, first_name, last_name, organization_name",
            (token_hash,),
        )
        return await cur.fetchone()


async def insert_organization(conn: Conn, organization_id: UUID, name: str) -> None:
    await conn.execute("INSERT INTO organizations (id, name) VALUES (%s, %s)", (organization_id, name))


# --- users ----------------------------------------------------------------------------------------


async def insert_user(
    conn: Conn, *, email: str, password_hash: str, first_name: str, last_name: str, role: str,
    permissions: Iterable[str], organization_id: UUID,
) -> UUID:
    user_id: UUID = await _scalar(
        conn,
        "INSERT INTO users (email, password_hash, first_name, last_name, role, permissions, organization_id)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (email, password_hash, first_name, last_name, role, Jsonb(sorted(set(permissions))), organization_id),
    )
    return user_id


async def load_user(conn: Conn, user_id: UUID) -> UserView | None:
    async with conn.cursor(row_factory=user_row) as cur:
        await cur.execute(f"{_USER_SELECT} WHERE u.id = %s", (user_id,))
        return await cur.fetchone()


async def list_users(conn: Conn, after: tuple[datetime, UUID] | None, limit: int) -> list[UserView]:
    async with conn.cursor(row_factory=user_row) as cur:
        # No organization filter needed: row-level security admits only the transaction's tenant.
        await cur.execute(
            f"{_USER_SELECT} WHERE (%s::timestamptz IS NULL OR (u.created_at, u.id) > (%s::timestamptz, %s::uuid))"
            " ORDER BY u.created_at, u.id LIMIT %s",
            (*_after(after), limit),
        )
        return await cur.fetchall()


async def count_users(conn: Conn) -> int:
    return int(await _scalar(conn, "SELECT count(*) FROM users", ()))


async def touch_last_login(conn: Conn, user_id: UUID) -> None:
    await conn.execute("UPDATE users SET last_login_at = now() WHERE id = %s", (user_id,))


async def password_hash_of(conn: Conn, user_id: UUID) -> str | None:
    value: str | None = await _scalar(conn, "SELECT password_hash FROM users WHERE id = %s", (user_id,))
    return value


async def set_password(conn: Conn, user_id: UUID, password_hash: str) -> None:
    """New password and a new token version: every access token issued before is void."""
    await conn.execute(
        "UPDATE users SET password_hash = %s, token_version = token_version + 1, updated_at = now() WHERE id = %s",
        (password_hash, user_id),
    )


async def set_active(conn: Conn, user_id: UUID, active: bool) -> None:
    """Disabling also bumps the token version, so that no access token outlives it; enabling only flips the flag."""
    bump = 0 if active else 1
    await conn.execute(
        "UPDATE users SET is_active = %s, token_version = token_version + %s, updated_at = now() WHERE id = %s",
        (active, bump, user_id),
    )


# --- sessions (refresh-token families) ----------------------------------------------------------------


async def insert_refresh_token(
    conn: Conn, *, organization_id: UUID, user_id: UUID, family_id: UUID, token_hash: str, expires_at: datetime,
    client_ip: str, user_agent: str,
) -> None:
    await conn.execute(
        "INSERT INTO refresh_tokens (organization_id, user_id, family_id, token_hash, expires_at, client_ip,"
        " user_agent) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (organization_id, user_id, family_id, token_hash, expires_at, client_ip[:64], user_agent[:255]),
    )


async def spend_refresh_token(conn: Conn, token_id: UUID) -> bool:
    """Marks a refresh token used; False when it was used or revoked already (a replay)."""
    spent = await _scalar(
        conn,
        "UPDATE refresh_tokens SET used_at = now() WHERE id = %s AND used_at IS NULL AND revoked_at IS NULL"
        " RETURNING id",
        (token_id,),
    )
    return spent is not None


async def revoke_families(conn: Conn, families: Sequence[UUID]) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = ANY(%s) AND revoked_at IS NULL",
        (list(families),),
    )


async def revoke_user_families(conn: Conn, user_id: UUID, *, keep: UUID | None = None) -> list[UUID]:
    """Revokes every session of a user (but ``keep``); returns the sessions that were still open."""
    families = await _scalars(
        conn,
        "UPDATE refresh_tokens SET revoked_at = now()"
        " WHERE user_id = %s AND revoked_at IS NULL AND (%s::uuid IS NULL OR family_id <> %s::uuid)"
        " RETURNING family_id",
        (user_id, keep, keep),
    )
    return sorted(set(families))


_SESSIONS = """
WITH s AS (
  SELECT family_id AS id, min(issued_at) AS created_at, max(issued_at) AS last_used_at,
         max(expires_at) AS expires_at,
         (array_agg(client_ip ORDER BY issued_at DESC))[1] AS client_ip,
         (array_agg(user_agent ORDER BY issued_at DESC))[1] AS user_agent
  FROM refresh_tokens
  WHERE user_id = %s
  GROUP BY family_id
  -- open: never revoked, and its newest refresh token can still be spent
  HAVING bool_and(revoked_at IS NULL) AND bool_or(used_at IS NULL AND expires_at > now())
)
SELECT id, created_at, last_used_at, expires_at, client_ip, user_agent FROM s
WHERE (%s::timestamptz IS NULL OR (last_used_at, id) < (%s::timestamptz, %s::uuid))
ORDER BY last_used_at DESC, id DESC
LIMIT %s
"""


async def list_sessions(
    conn: Conn, user_id: UUID, before: tuple[datetime, UUID] | None, limit: int
) -> list[SessionView]:
    """A user's open sessions, most recently used first."""
    async with conn.cursor(row_factory=session_row) as cur:
        await cur.execute(_SESSIONS, (user_id, *_after(before), limit))
        return await cur.fetchall()


async def revoke_user_family(conn: Conn, user_id: UUID, family_id: UUID) -> bool:
    """Revokes one session of this user; False when the user has no such open session."""
    revoked = await _scalars(
        conn,
        "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = %s AND family_id = %s AND revoked_at IS NULL"
        " RETURNING id",
        (user_id, family_id),
    )
    return bool(revoked)


# --- password reset ---------------------------------------------------------------------------------


async def insert_reset_token(
    conn: Conn, *, organization_id: UUID, user_id: UUID, token_hash: str, ttl_s: int
) -> None:
    await conn.execute(
        "INSERT INTO password_reset_tokens (organization_id, user_id, token_hash, expires_at)"
        " VALUES (%s, %s, %s, now() + make_interval(secs => %s))",
        (organization_id, user_id, token_hash, ttl_s),
    )


async def consume_reset_token(conn: Conn, token_id: UUID) -> UUID | None:
    """Spends a reset token (once, before it expires) and voids the user's other reset links; the user, or None."""
    user_id: UUID | None = await _scalar(
        conn,
        "UPDATE password_reset_tokens SET used_at = now() WHERE id = %s AND used_at IS NULL AND expires_at > now()"
        " RETURNING user_id",
        (token_id,),
    )
    if user_id is not None:
        await conn.execute(
            "UPDATE password_reset_tokens SET used_at = now() WHERE user_id = %s AND used_at IS NULL", (user_id,)
        )
    return user_id


# --- API keys ---------------------------------------------------------------------------------------


async def insert_api_key(
    conn: Conn, *, organization_id: UUID, name: str, prefix: str, key_hash: str, permissions: Iterable[str],
    created_by: UUID | None,
) -> ApiKeyView:
    async with conn.cursor(row_factory=api_key_row) as cur:
        await cur.execute(
            "INSERT INTO api_keys (organization_id, name, prefix, key_hash, permissions, created_by)"
            f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_API_KEY_COLUMNS}",
            (organization_id, name, prefix, key_hash, Jsonb(sorted(set(permissions))), created_by),
        )
        key = await cur.fetchone()
    assert key is not None  # INSERT … RETURNING returns the row
    return key


async def list_api_keys(conn: Conn, after: tuple[datetime, UUID] | None, limit: int) -> list[ApiKeyView]:
    async with conn.cursor(row_factory=api_key_row) as cur:
        await cur.execute(
            f"SELECT {_API_KEY_COLUMNS} FROM api_keys WHERE {_AFTER} ORDER BY created_at, id LIMIT %s",
            (*_after(after), limit),
        )
        return await cur.fetchall()


async def revoke_api_key(conn: Conn, key_id: UUID) -> str | None:
    """Revokes a key of the transaction's organization; its hash (to drop it from the cache), or None."""
    key_hash: str | None = await _scalar(
        conn,
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s RETURNING key_hash",
        (key_id,),
    )
    return key_hash


# --- sign-in throttling (pre-tenant tables, 0008) ---------------------------------------------------


async def pair_locked_until(conn: Conn, email_hash: str, source: str) -> datetime | None:
    value: datetime | None = await _scalar(
        conn,
        "SELECT locked_until FROM login_failures WHERE email_hash = %s AND source = %s AND locked_until > now()",
        (email_hash, source),
    )
    return value


async def throttled_until(conn: Conn, email_hash: str) -> datetime | None:
    value: datetime | None = await _scalar(
        conn,
        "SELECT next_attempt_at FROM login_throttle WHERE email_hash = %s AND next_attempt_at > now()",
        (email_hash,),
    )
    return value


async def is_known_source(conn: Conn, email_hash: str, source: str, days: int) -> bool:
    found = await _scalar(
        conn,
        "SELECT 1 FROM login_known_sources WHERE email_hash = %s AND source = %s"
        " AND last_success_at > now() - make_interval(days => %s)",
        (email_hash, source, days),
    )
    return found is not None


async def count_pair_failure(
    conn: Conn, email_hash: str, source: str, *, window_s: int, threshold: int, lock_s: int
) -> bool:
    """One more failure of this source for this email; locks the pair on reaching the threshold. True if locked."""
    failed = int(await _scalar(
        conn,
        """
        INSERT INTO login_failures AS f (email_hash, source, failed_count, window_started_at) VALUES (%s, %s, 1, now())
        ON CONFLICT (email_hash, source) DO UPDATE SET
          failed_count = CASE WHEN f.window_started_at < now() - make_interval(secs => %s)
                              THEN 1 ELSE f.failed_count + 1 END,
          window_started_at = CASE WHEN f.window_started_at < now() - make_interval(secs => %s)
                                   THEN now() ELSE f.window_started_at END
        RETURNING failed_count
        """,
        (email_hash, source, window_s, window_s),
    ))
    if failed < threshold:
        return False
    await conn.execute(
        "UPDATE login_failures SET locked_until = now() + make_interval(secs => %s), failed_count = 0,"
        " window_started_at = now() WHERE email_hash = %s AND source = %s",
        (lock_s, email_hash, source),
    )
    return True


async def count_email_failure(
    conn: Conn, email_hash: str, *, window_s: int, threshold: int, base_delay_s: float, max_delay_s: float
) -> float:
    """One more failure for this email from any source; past the threshold, unknown sources must wait a delay
    that doubles with every failure (at most ``max_delay_s``). Returns the delay now set (0: none)."""
    failed = int(await _scalar(
        conn,
        """
        INSERT INTO login_throttle AS t (email_hash, failed_count, window_started_at) VALUES (%s, 1, now())
        ON CONFLICT (email_hash) DO UPDATE SET
          failed_count = CASE WHEN t.window_started_at < now() - make_interval(secs => %s)
                              THEN 1 ELSE t.failed_count + 1 END,
          window_started_at = CASE WHEN t.window_started_at < now() - make_interval(secs => %s)
                                   THEN now() ELSE t.window_started_at END
        RETURNING failed_count
        """,
        (email_hash, window_s, window_s),
    ))
    if failed < threshold:
        return 0.0
    delay = float(min(base_delay_s * 2 ** min(failed - threshold, 40), max_delay_s))
    await conn.execute(
        "UPDATE login_throttle SET next_attempt_at = now() + make_interval(secs => %s) WHERE email_hash = %s",
        (delay, email_hash),
    )
    return delay


async def record_sign_in(conn: Conn, email_hash: str, source: str) -> None:
    """A successful sign-in: this source's failures are forgiven, and it is known to the account from now on."""
    await conn.execute("DELETE FROM login_failures WHERE email_hash = %s AND source = %s", (email_hash, source))
    await conn.execute(
        "INSERT INTO login_known_sources (email_hash, source) VALUES (%s, %s)"
        " ON CONFLICT (email_hash, source) DO UPDATE SET last_success_at = now()",
        (email_hash, source),
    )


async def forget_failures(conn: Conn, email_hash: str) -> None:
    """After a password reset: every failure counted against the email is forgotten."""
    await conn.execute("DELETE FROM login_failures WHERE email_hash = %s", (email_hash,))
    await conn.execute("DELETE FROM login_throttle WHERE email_hash = %s", (email_hash,))
