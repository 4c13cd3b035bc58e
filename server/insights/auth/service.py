"""Accounts and sessions: register, sign in, rotate, sign out, users and API keys.

Transport-agnostic: takes plain values and a ``CallContext``, returns domain objects, raises
``insights.errors``. Every state change and every sign-in attempt is audited.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg.errors
from psycopg.types.json import Jsonb

from insights.auth.authenticator import SessionCache
from insights.auth.models import ApiKeyView, AuthResult, UserView
from insights.auth.passwords import PasswordHasher
from insights.auth.tokens import TokenService, sha256_hex
from insights.auth.validation import Violations
from insights.context import CallContext
from insights.errors import (
    AccountLockedError,
    AlreadyExistsError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from insights.infra import paging
from insights.infra.audit import AuditLog
from insights.infra.db import Conn, Database
from insights.infra.paging import Page
from insights.settings import AuthSettings

_USER_COLUMNS = """u.id, u.email, u.first_name, u.last_name, u.role, u.permissions, u.organization_id,
  o.name AS organization_name, u.created_at, u.last_login_at, u.token_version, u.is_active"""
_USER_SELECT = f"SELECT {_USER_COLUMNS} FROM users u JOIN organizations o ON o.id = u.organization_id"
_INVALID_CREDENTIALS = "Invalid credentials"
REGISTERED = "verification_sent"


# Keyset condition of the (created_at, id) listings; the first page passes NULLs.
_AFTER = "(%s::timestamptz IS NULL OR {key} > (%s::timestamptz, %s::uuid))"


def _after_params(after: list[Any] | None, size: int) -> tuple[Any, ...]:
    at, after_id = after if after is not None else (None, None)
    return at, at, after_id, size + 1


def _raise_if(violations: Violations) -> None:
    if violations:
        raise ValidationError(list(violations))


class AuthService:
    def __init__(
        self,
        settings: AuthSettings,
        db: Database,
        tokens: TokenService,
        passwords: PasswordHasher,
        sessions: SessionCache,
        audit: AuditLog,
    ) -> None:
        self._settings = settings
        self._db = db
        self._tokens = tokens
        self._passwords = passwords
        self._sessions = sessions
        self._audit = audit

    # --- sign-up and sign-in -----------------------------------------------------------------

    async def register(
        self,
        ctx: CallContext,
        *,
        email: str,
        password: str,
        first_name: str,
        last_name: str,
        organization_name: str,
    ) -> str:
        """Creates the organization and its first admin; the answer never says whether the email was taken."""
        v = Violations()
        email = v.email("email", email)
        v.password("password", password)
        first_name = v.text("firstName", first_name, 100)
        last_name = v.text("lastName", last_name, 100)
        organization_name = v.text("organizationName", organization_name, 255)
        _raise_if(v)
        password_hash = await self._passwords.hash(password)
        organization_id = uuid.uuid4()
        try:
            async with self._db.tenant_tx(organization_id) as conn:
                await conn.execute(
                    "INSERT INTO organizations (id, name) VALUES (%s, %s)",
                    (organization_id, organization_name),
                )
                cur = await conn.execute(
                    "INSERT INTO users (email, password_hash, first_name, last_name, role, organization_id)"
                    " VALUES (%s, %s, %s, %s, 'admin', %s) RETURNING id",
                    (email, password_hash, first_name, last_name, organization_id),
                )
                user_id = (await cur.fetchone() or {})["id"]
                await self._audit.record(
                    ctx,
                    "auth.register",
                    conn=conn,
                    organization_id=organization_id,
                    actor_id=user_id,
                    actor_type="user",
                    resource_type="organization",
                    resource_id=organization_id,
                )
        except psycopg.errors.UniqueViolation:
            await self._audit.record(ctx, "auth.register.email_taken")
        return REGISTERED

    async def login(self, ctx: CallContext, *, email: str, password: str) -> AuthResult:
        v = Violations()
        if not email.strip():
            v.add("email", "is required")
        if not password:
            v.add("password", "is required")
        _raise_if(v)
        email = email.strip().lower()
        email_hash = sha256_hex(email)
        async with self._db.global_tx() as conn:
            cur = await conn.execute(
                "SELECT locked_until FROM login_attempts WHERE email_hash = %s AND locked_until > now()",
                (email_hash,),
            )
            locked = await cur.fetchone()
            cur = await conn.execute("SELECT * FROM auth_user_by_email(%s)", (email,))
            account = await cur.fetchone()
        organization_id = account["organization_id"] if account else None
        actor_id = account["id"] if account else None
        if locked:
            retry_after = max(1, int((locked["locked_until"] - datetime.now(UTC)).total_seconds()))
            await self._audit.record(
                ctx,
                "auth.login.locked",
                organization_id=organization_id,
                actor_id=actor_id,
                details={"email_hash": email_hash},
            )
            raise AccountLockedError(retry_after)
        # One bcrypt check on every path, unknown email included: same answer, similar time.
        valid = await self._passwords.verify(password, account["password_hash"] if account else None)
        if not (valid and account and account["is_active"]):
            now_locked = await self._record_failure(email_hash)
            await self._audit.record(
                ctx,
                "auth.login.failed",
                organization_id=organization_id,
                actor_id=actor_id,
                details={"email_hash": email_hash, "locked": now_locked},
            )
            raise AuthenticationError(_INVALID_CREDENTIALS)
        assert organization_id is not None and actor_id is not None
        async with self._db.global_tx() as conn:
            await conn.execute("DELETE FROM login_attempts WHERE email_hash = %s", (email_hash,))
        async with self._db.tenant_tx(organization_id) as conn:
            await conn.execute("UPDATE users SET last_login_at = now() WHERE id = %s", (actor_id,))
            user = await self._load_user(conn, actor_id)
            result = await self._start_session(conn, ctx, user)
            await self._audit.record(
                ctx,
                "auth.login.succeeded",
                conn=conn,
                organization_id=organization_id,
                actor_id=actor_id,
                actor_type="user",
            )
        return result

    async def _record_failure(self, email_hash: str) -> bool:
        """Count a failed sign-in for this email; lock it on reaching the threshold. True if locked now."""
        s = self._settings
        async with self._db.global_tx() as conn:
            cur = await conn.execute(
                """
                INSERT INTO login_attempts AS a (email_hash, failed_count, window_started_at) VALUES (%s, 1, now())
                ON CONFLICT (email_hash) DO UPDATE SET
                  failed_count = CASE WHEN a.window_started_at < now() - make_interval(secs => %s)
                                      THEN 1 ELSE a.failed_count + 1 END,
                  window_started_at = CASE WHEN a.window_started_at < now() - make_interval(secs => %s)
                                           THEN now() ELSE a.window_started_at END
                RETURNING failed_count
                """,
                (email_hash, s.lockout_window_s, s.lockout_window_s),
            )
            failed = (await cur.fetchone() or {"failed_count": 0})["failed_count"]
            if failed < s.lockout_threshold:
                return False
            await conn.execute(
                "UPDATE login_attempts SET locked_until = now() + make_interval(secs => %s), failed_count = 0,"
                " window_started_at = now() WHERE email_hash = %s",
                (s.lockout_duration_s, email_hash),
            )
            return True

    async def refresh(self, ctx: CallContext, *, refresh_token: str) -> AuthResult:
        if not refresh_token:
            raise ValidationError.single("refreshToken", "is required")
        async with self._db.global_tx() as conn:
            cur = await conn.execute(
                "SELECT * FROM auth_refresh_token_by_hash(%s)", (sha256_hex(refresh_token),)
            )
            token = await cur.fetchone()
        if token is None or token["revoked_at"] is not None or token["expires_at"] <= datetime.now(UTC):
            raise AuthenticationError("Invalid refresh token")
        organization_id, family_id = token["organization_id"], token["family_id"]
        result: AuthResult | None = None
        async with self._db.tenant_tx(organization_id) as conn:
            cur = await conn.execute(
                "UPDATE refresh_tokens SET used_at = now() WHERE id = %s AND used_at IS NULL AND revoked_at IS NULL"
                " RETURNING id",
                (token["id"],),
            )
            if await cur.fetchone() is not None:
                user = await self._load_user(conn, token["user_id"])
                if user.is_active:
                    result = await self._start_session(conn, ctx, user, family_id=family_id)
                    await self._audit.record(
                        ctx,
                        "auth.refresh",
                        conn=conn,
                        organization_id=organization_id,
                        actor_id=user.id,
                        actor_type="user",
                        resource_type="session",
                        resource_id=family_id,
                    )
        if result is not None:
            return result
        # The token was already spent: someone replayed it. End the whole session.
        await self._revoke_families(organization_id, [family_id])
        await self._audit.record(
            ctx,
            "auth.refresh.reuse_detected",
            organization_id=organization_id,
            actor_id=token["user_id"],
            actor_type="user",
            resource_type="session",
            resource_id=family_id,
        )
        raise AuthenticationError("Refresh token was already used; the session has been revoked")

    async def logout(self, ctx: CallContext, *, refresh_token: str) -> None:
        principal = ctx.require_principal()
        families = [principal.session_id] if principal.session_id else []
        if refresh_token:
            async with self._db.global_tx() as conn:
                cur = await conn.execute(
                    "SELECT * FROM auth_refresh_token_by_hash(%s)", (sha256_hex(refresh_token),)
                )
                token = await cur.fetchone()
            if token is not None and token["user_id"] == principal.id:
                families.append(token["family_id"])
        await self._revoke_families(principal.organization_id, families)
        if principal.token_id and principal.token_expires_at:
            await self._sessions.revoke_token(principal.token_id, principal.token_expires_at)
        await self._audit.record(
            ctx, "auth.logout", resource_type="session", resource_id=principal.session_id
        )

    async def _revoke_families(self, organization_id: UUID, families: list[UUID]) -> None:
        if not families:
            return
        async with self._db.tenant_tx(organization_id) as conn:
            await conn.execute(
                "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = ANY(%s) AND revoked_at IS NULL",
                (families,),
            )
        await self._sessions.revoke_sessions(families)

    async def _start_session(
        self, conn: Conn, ctx: CallContext, user: UserView, family_id: UUID | None = None
    ) -> AuthResult:
        family_id = family_id or uuid.uuid4()
        refresh_token, refresh_hash = self._tokens.new_refresh_token()
        await conn.execute(
            "INSERT INTO refresh_tokens (organization_id, user_id, family_id, token_hash, expires_at, client_ip,"
            " user_agent) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                user.organization_id,
                user.id,
                family_id,
                refresh_hash,
                datetime.now(UTC) + timedelta(seconds=self._tokens.refresh_ttl_s),
                ctx.client_ip,
                ctx.user_agent[:255],
            ),
        )
        access_token = self._tokens.issue_access(
            user_id=user.id,
            organization_id=user.organization_id,
            role=user.role,
            permissions=user.permissions,
            token_version=user.token_version,
            session_id=family_id,
        )
        return AuthResult(access_token, refresh_token, self._tokens.access_ttl_s, user)

    # --- the signed-in user ------------------------------------------------------------------

    async def me(self, ctx: CallContext) -> UserView:
        principal = ctx.require_principal()
        if principal.kind != "user":
            raise PermissionDeniedError("Only people have a profile; this is an API key")
        async with self._db.tenant_tx(principal.organization_id) as conn:
            return await self._load_user(conn, principal.id)

    async def change_password(self, ctx: CallContext, *, current_password: str, new_password: str) -> None:
        principal = ctx.require_principal()
        v = Violations()
        if not current_password:
            v.add("currentPassword", "is required")
        v.password("newPassword", new_password)
        _raise_if(v)
        async with self._db.tenant_tx(principal.organization_id) as conn:
            cur = await conn.execute("SELECT password_hash FROM users WHERE id = %s", (principal.id,))
            row = await cur.fetchone()
        if row is None or not await self._passwords.verify(current_password, row["password_hash"]):
            await self._audit.record(ctx, "auth.password_change.failed")
            raise AuthenticationError(_INVALID_CREDENTIALS)
        new_hash = await self._passwords.hash(new_password)
        async with self._db.tenant_tx(principal.organization_id) as conn:
            # A new token version voids every access token; revoking the families voids every refresh token.
            await conn.execute(
                "UPDATE users SET password_hash = %s, token_version = token_version + 1, updated_at = now()"
                " WHERE id = %s",
                (new_hash, principal.id),
            )
            cur = await conn.execute(
                "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL"
                " RETURNING family_id",
                (principal.id,),
            )
            families = list({row["family_id"] for row in await cur.fetchall()})
            await self._audit.record(
                ctx, "auth.password_changed", conn=conn, resource_type="user", resource_id=principal.id
            )
        await self._sessions.revoke_sessions(
            families + ([principal.session_id] if principal.session_id else [])
        )

    # --- administration ----------------------------------------------------------------------

    async def create_user(
        self,
        ctx: CallContext,
        *,
        email: str,
        password: str,
        first_name: str,
        last_name: str,
        role: str,
        permissions: list[str],
    ) -> UserView:
        principal = ctx.require_principal()
        v = Violations()
        email = v.email("email", email)
        v.password("password", password)
        first_name = v.text("firstName", first_name, 100)
        last_name = v.text("lastName", last_name, 100)
        v.role("role", role)
        v.permissions("permissions", permissions, principal.permissions)
        _raise_if(v)
        password_hash = await self._passwords.hash(password)
        try:
            async with self._db.tenant_tx(principal.organization_id) as conn:
                cur = await conn.execute(
                    "INSERT INTO users (email, password_hash, first_name, last_name, role, permissions,"
                    " organization_id) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    (
                        email,
                        password_hash,
                        first_name,
                        last_name,
                        role,
                        Jsonb(sorted(set(permissions))),
                        principal.organization_id,
                    ),
                )
                user_id = (await cur.fetchone() or {})["id"]
                await self._audit.record(
                    ctx,
                    "user.created",
                    conn=conn,
                    resource_type="user",
                    resource_id=user_id,
                    details={"role": role, "permissions": permissions},
                )
                return await self._load_user(conn, user_id)
        except psycopg.errors.UniqueViolation:
            raise AlreadyExistsError("A user with this email already exists") from None

    async def list_users(self, ctx: CallContext, *, page_size: int, page_token: str) -> Page[UserView]:
        principal = ctx.require_principal()
        size = paging.page_size(page_size)
        after = paging.decode_token(page_token, "users", arity=2)
        async with self._db.tenant_tx(principal.organization_id) as conn:
            # No organization filter needed: row-level security admits only the caller's users.
            cur = await conn.execute(
                f"{_USER_SELECT} WHERE {_AFTER.format(key='(u.created_at, u.id)')}"
                " ORDER BY u.created_at, u.id LIMIT %s",
                _after_params(after, size),
            )
            users = [UserView.from_row(r) for r in await cur.fetchall()]
            cur = await conn.execute("SELECT count(*) AS n FROM users")
            total = (await cur.fetchone() or {"n": 0})["n"]
        more = len(users) > size
        users = users[:size]
        token = paging.encode_token("users", [users[-1].created_at.isoformat(), str(users[-1].id)]) if more else ""
        return Page(users, token, total)

    async def create_api_key(
        self, ctx: CallContext, *, name: str, permissions: list[str]
    ) -> tuple[ApiKeyView, str]:
        principal = ctx.require_principal()
        v = Violations()
        name = v.text("name", name, 255)
        if not permissions:
            v.add("permissions", "must name at least one permission")
        v.permissions("permissions", permissions, principal.permissions)
        _raise_if(v)
        secret, prefix, key_hash = self._tokens.new_api_key()
        async with self._db.tenant_tx(principal.organization_id) as conn:
            cur = await conn.execute(
                "INSERT INTO api_keys (organization_id, name, prefix, key_hash, permissions, created_by)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
                (
                    principal.organization_id,
                    name,
                    prefix,
                    key_hash,
                    Jsonb(sorted(set(permissions))),
                    principal.id if principal.kind == "user" else None,
                ),
            )
            key = ApiKeyView.from_row(await cur.fetchone() or {})
            await self._audit.record(
                ctx,
                "api_key.created",
                conn=conn,
                resource_type="api_key",
                resource_id=key.id,
                details={"permissions": key.permissions},
            )
        return key, secret

    async def list_api_keys(self, ctx: CallContext, *, page_size: int, page_token: str) -> Page[ApiKeyView]:
        principal = ctx.require_principal()
        size = paging.page_size(page_size)
        after = paging.decode_token(page_token, "api_keys", arity=2)
        async with self._db.tenant_tx(principal.organization_id) as conn:
            cur = await conn.execute(
                f"SELECT * FROM api_keys WHERE {_AFTER.format(key='(created_at, id)')}"
                " ORDER BY created_at, id LIMIT %s",
                _after_params(after, size),
            )
            keys = [ApiKeyView.from_row(r) for r in await cur.fetchall()]
        more = len(keys) > size
        keys = keys[:size]
        token = paging.encode_token("api_keys", [keys[-1].created_at.isoformat(), str(keys[-1].id)]) if more else ""
        return Page(keys, token)

    async def revoke_api_key(self, ctx: CallContext, *, key_id: str) -> None:
        principal = ctx.require_principal()
        try:
            key_uuid = UUID(key_id)
        except ValueError:
            raise ValidationError.single("keyId", "must be a UUID") from None
        async with self._db.tenant_tx(principal.organization_id) as conn:
            cur = await conn.execute(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s RETURNING key_hash",
                (key_uuid,),
            )
            row = await cur.fetchone()
            if row is None:
                raise NotFoundError("API key not found")
            await self._audit.record(
                ctx, "api_key.revoked", conn=conn, resource_type="api_key", resource_id=key_uuid
            )
        await self._sessions.forget_api_key(row["key_hash"])

    @staticmethod
    async def _load_user(conn: Conn, user_id: Any) -> UserView:
        cur = await conn.execute(f"{_USER_SELECT} WHERE u.id = %s", (user_id,))
        row = await cur.fetchone()
        if row is None:
            raise NotFoundError("User not found")
        return UserView.from_row(row)
