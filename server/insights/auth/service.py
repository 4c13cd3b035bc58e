"""Accounts and sessions: sign-up with email verification, sign-in, rotation, sign-out, sessions, password reset,
users and API keys.

Transport-agnostic: takes plain values and a ``CallContext``, returns domain objects (``auth/models.py``),
raises ``insights.errors``. The SQL is in ``auth/repository.py``; this module is the orchestration. Every
state change and every sign-in attempt is audited.

Two rules hold throughout:

- **Nothing tells a stranger whether an email has an account.** Sign-up and password reset answer the
  same either way, after the same work (one bcrypt hash for sign-up, one look-up for both); what differs
  (a pending sign-up or a reset link, and which mail) happens after the answer, in the outbox.
- **Nobody grants what they do not hold.** A new user's effective permissions and a new key's
  permissions must be a subset of the caller's, and a user may be disabled or enabled only by a caller
  who holds every permission the user has (``permissions.beyond``).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg.errors

from insights.auth import repository as repo
from insights.auth.authenticator import SessionCache
from insights.auth.lockout import SignInThrottle, source_of
from insights.auth.messages import Messages
from insights.auth.models import Account, ApiKeyView, AuthResult, PendingRegistration, SessionView, UserView
from insights.auth.passwords import PasswordHasher
from insights.auth.permissions import beyond, beyond_role
from insights.auth.tokens import TokenService, sha256_hex
from insights.auth.validation import Violations
from insights.context import CallContext, Principal
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
from insights.infra.mail import MailMessage, Outbox
from insights.infra.paging import Page
from insights.settings import AuthSettings

_INVALID_CREDENTIALS = "Invalid credentials"
REGISTERED = "verification_sent"
RESET_REQUESTED = "reset_sent_if_registered"


def _raise_if(violations: Violations) -> None:
    if violations:
        raise ValidationError(list(violations))


def _uuid(field: str, value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise ValidationError.single(field, "must be a UUID") from None


def _keyset(after: list[Any] | None) -> tuple[datetime, UUID] | None:
    """The (timestamp, id) a page token carries, checked: a doctored token is a 400, never a 500."""
    if after is None:
        return None
    try:
        at = datetime.fromisoformat(str(after[0]))
        return at if at.tzinfo else at.replace(tzinfo=UTC), UUID(str(after[1]))
    except ValueError:
        raise ValidationError.single("pageToken", "is not a page token this API issued") from None


def _next_token(scope: str, items: list[Any], size: int, key: Any) -> str:
    if len(items) <= size:
        return ""
    at, last_id = key(items[size - 1])
    return paging.encode_token(scope, [at.isoformat(), str(last_id)])


class AuthService:
    def __init__(
        self,
        settings: AuthSettings,
        db: Database,
        tokens: TokenService,
        passwords: PasswordHasher,
        sessions: SessionCache,
        audit: AuditLog,
        outbox: Outbox,
        messages: Messages,
    ) -> None:
        self._settings = settings
        self._db = db
        self._tokens = tokens
        self._passwords = passwords
        self._sessions = sessions
        self._audit = audit
        self._outbox = outbox
        self._messages = messages
        self._throttle = SignInThrottle(settings, db)

    # --- sign-up --------------------------------------------------------------------------------

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
        """Starts a sign-up. New email: a pending sign-up and a verification link; known email: a notice to its
        owner. The answer, and the work before it, is the same either way."""
        v = Violations()
        email = v.email("email", email)
        v.password("password", password)
        first_name = v.text("firstName", first_name, 100)
        last_name = v.text("lastName", last_name, 100)
        organization_name = v.text("organizationName", organization_name, 255)
        _raise_if(v)
        password_hash = await self._passwords.hash(password)  # on both paths: one bcrypt either way
        async with self._db.global_tx() as conn:
            taken = await repo.email_taken(conn, email)
        if taken:
            self._outbox.later(lambda: self._notify_taken(ctx, email), "register")
        else:
            pending = PendingRegistration(email, password_hash, first_name, last_name, organization_name)
            self._outbox.later(lambda: self._hold_registration(ctx, pending), "register")
        return REGISTERED

    async def _hold_registration(self, ctx: CallContext, pending: PendingRegistration) -> MailMessage:
        token, token_hash = self._tokens.new_link_token("ev")
        ttl_s = self._settings.verification_ttl_s
        async with self._db.global_tx() as conn:
            await repo.purge_expired_registrations(conn)
            await repo.insert_pending_registration(conn, token_hash=token_hash, registration=pending, ttl_s=ttl_s)
            await self._audit.record(
                ctx, "auth.register.requested", conn=conn, details={"email_hash": sha256_hex(pending.email)}
            )
        return self._messages.verification(pending.email, token, ttl_s)

    async def _notify_taken(self, ctx: CallContext, email: str) -> MailMessage:
        await self._audit.record(ctx, "auth.register.email_taken", details={"email_hash": sha256_hex(email)})
        return self._messages.account_exists(email)

    async def verify_email(self, ctx: CallContext, *, token: str, password: str) -> AuthResult:
        """Completes a sign-up: creates the organization and its admin, and signs them in.

        The password chosen at sign-up must be given again: a mailbox owner who did not start the sign-up
        (someone else entered their address, with a password of their own) cannot create an account
        whose password a stranger knows. A wrong password leaves the link unspent."""
        v = Violations()
        if not token.strip():
            v.add("token", "is required")
        if not password:
            v.add("password", "is required: the password chosen at sign-up")
        _raise_if(v)
        organization_id = uuid.uuid4()
        try:
            async with self._db.tenant_tx(organization_id) as conn:
                pending = await repo.consume_pending_registration(conn, sha256_hex(token.strip()))
                if pending is None:
                    raise AuthenticationError("Invalid or expired verification link")
                if not await self._passwords.verify(password, pending.password_hash):
                    raise AuthenticationError(_INVALID_CREDENTIALS)  # rolls back: the link stays unspent
                await repo.insert_organization(conn, organization_id, pending.organization_name)
                user_id = await repo.insert_user(
                    conn, email=pending.email, password_hash=pending.password_hash, first_name=pending.first_name,
                    last_name=pending.last_name, role="admin", permissions=(), organization_id=organization_id,
                )
                await repo.touch_last_login(conn, user_id)
                user = await self._user(conn, user_id)
                result = await self._start_session(conn, ctx, user)
                await self._audit.record(
                    ctx, "auth.register", conn=conn, organization_id=organization_id, actor_id=user_id,
                    actor_type="user", resource_type="organization", resource_id=organization_id,
                )
        except psycopg.errors.UniqueViolation:
            # Only the mailbox's owner holds the link, so saying this reveals nothing to a stranger.
            raise AlreadyExistsError("This email has an account already: sign in, or reset the password") from None
        await self._throttle.succeeded(sha256_hex(user.email), source_of(ctx.client_ip))
        return result

    # --- sign-in --------------------------------------------------------------------------------

    async def login(self, ctx: CallContext, *, email: str, password: str) -> AuthResult:
        v = Violations()
        if not email.strip():
            v.add("email", "is required")
        if not password:
            v.add("password", "is required")
        _raise_if(v)
        email = email.strip().lower()
        email_hash, source = sha256_hex(email), source_of(ctx.client_ip)
        retry_after = await self._throttle.refusal(email_hash, source)
        async with self._db.global_tx() as conn:
            account = await repo.account_by_email(conn, email)
        organization_id = account.organization_id if account else None
        actor_id = account.id if account else None
        if retry_after is not None:
            await self._audit.record(
                ctx, "auth.login.locked", organization_id=organization_id, actor_id=actor_id,
                details={"email_hash": email_hash, "retry_after_s": retry_after},
            )
            raise AccountLockedError(retry_after)
        # One bcrypt check on every path, unknown email included: same answer, similar time.
        valid = await self._passwords.verify(password, account.password_hash if account else None)
        if not (valid and account and account.is_active):
            locked, delay = await self._throttle.failed(email_hash, source)
            await self._audit.record(
                ctx, "auth.login.failed", organization_id=organization_id, actor_id=actor_id,
                details={"email_hash": email_hash, "locked": locked, "delay_s": delay},
            )
            raise AuthenticationError(_INVALID_CREDENTIALS)
        async with self._db.tenant_tx(account.organization_id) as conn:
            await repo.touch_last_login(conn, account.id)
            user = await self._user(conn, account.id)
            result = await self._start_session(conn, ctx, user)
            await self._audit.record(
                ctx, "auth.login.succeeded", conn=conn, organization_id=account.organization_id,
                actor_id=account.id, actor_type="user",
            )
        await self._throttle.succeeded(email_hash, source)
        return result

    async def refresh(self, ctx: CallContext, *, refresh_token: str) -> AuthResult:
        if not refresh_token:
            raise ValidationError.single("refreshToken", "is required")
        async with self._db.global_tx() as conn:
            token = await repo.refresh_token_by_hash(conn, sha256_hex(refresh_token))
        if token is None or token.revoked_at is not None or token.expires_at <= datetime.now(UTC):
            raise AuthenticationError("Invalid refresh token")
        async with self._db.tenant_tx(token.organization_id) as conn:
            if await repo.spend_refresh_token(conn, token.id):
                user = await repo.load_user(conn, token.user_id)
                if user is None or not user.is_active:
                    raise AuthenticationError("Invalid refresh token")
                result = await self._start_session(conn, ctx, user, family_id=token.family_id)
                await self._audit.record(
                    ctx, "auth.refresh", conn=conn, organization_id=token.organization_id, actor_id=user.id,
                    actor_type="user", resource_type="session", resource_id=token.family_id,
                )
                return result
        # The token was already spent: someone replayed it. End the whole session.
        await self._revoke_families(token.organization_id, [token.family_id])
        await self._audit.record(
            ctx, "auth.refresh.reuse_detected", organization_id=token.organization_id, actor_id=token.user_id,
            actor_type="user", resource_type="session", resource_id=token.family_id,
        )
        raise AuthenticationError("Refresh token was already used; the session has been revoked")

    async def logout(self, ctx: CallContext, *, refresh_token: str) -> None:
        principal = ctx.require_principal()
        families = [principal.session_id] if principal.session_id else []
        if refresh_token:
            async with self._db.global_tx() as conn:
                token = await repo.refresh_token_by_hash(conn, sha256_hex(refresh_token))
            if token is not None and token.user_id == principal.id:
                families.append(token.family_id)
        await self._revoke_families(principal.organization_id, families)
        if principal.token_id and principal.token_expires_at:
            await self._sessions.revoke_token(principal.token_id, principal.token_expires_at)
        await self._audit.record(ctx, "auth.logout", resource_type="session", resource_id=principal.session_id)

    async def _revoke_families(self, organization_id: UUID, families: list[UUID]) -> None:
        if not families:
            return
        async with self._db.tenant_tx(organization_id) as conn:
            await repo.revoke_families(conn, families)
        await self._sessions.revoke_sessions(families)

    async def _start_session(
        self, conn: Conn, ctx: CallContext, user: UserView, family_id: UUID | None = None
    ) -> AuthResult:
        family_id = family_id or uuid.uuid4()
        refresh_token, refresh_hash = self._tokens.new_refresh_token()
        await repo.insert_refresh_token(
            conn, organization_id=user.organization_id, user_id=user.id, family_id=family_id,
            token_hash=refresh_hash, expires_at=datetime.now(UTC) + timedelta(seconds=self._tokens.refresh_ttl_s),
            client_ip=ctx.client_ip, user_agent=ctx.user_agent,
        )
        access_token = self._tokens.issue_access(
            user_id=user.id, organization_id=user.organization_id, role=user.role, permissions=user.permissions,
            token_version=user.token_version, session_id=family_id,
        )
        return AuthResult(access_token, refresh_token, self._tokens.access_ttl_s, user)

    # --- the signed-in person -------------------------------------------------------------------

    @staticmethod
    def _person(ctx: CallContext, what: str = "a profile") -> Principal:
        principal = ctx.require_principal()
        if principal.kind != "user":
            raise PermissionDeniedError(f"Only people have {what}; this is an API key")
        return principal

    async def me(self, ctx: CallContext) -> UserView:
        principal = self._person(ctx)
        async with self._db.tenant_tx(principal.organization_id) as conn:
            return await self._user(conn, principal.id)

    async def change_password(self, ctx: CallContext, *, current_password: str, new_password: str) -> None:
        principal = self._person(ctx, "a password")
        v = Violations()
        if not current_password:
            v.add("currentPassword", "is required")
        v.password("newPassword", new_password)
        _raise_if(v)
        async with self._db.tenant_tx(principal.organization_id) as conn:
            current_hash = await repo.password_hash_of(conn, principal.id)
        if current_hash is None or not await self._passwords.verify(current_password, current_hash):
            await self._audit.record(ctx, "auth.password_change.failed")
            raise AuthenticationError(_INVALID_CREDENTIALS)
        new_hash = await self._passwords.hash(new_password)
        async with self._db.tenant_tx(principal.organization_id) as conn:
            # A new token version voids every access token; revoking the families voids every refresh token.
            await repo.set_password(conn, principal.id, new_hash)
            families = await repo.revoke_user_families(conn, principal.id)
            await self._audit.record(
                ctx, "auth.password_changed", conn=conn, resource_type="user", resource_id=principal.id
            )
        await self._sessions.revoke_sessions(families + ([principal.session_id] if principal.session_id else []))

    # --- sessions -------------------------------------------------------------------------------

    async def list_sessions(self, ctx: CallContext, *, page_size: int, page_token: str) -> Page[SessionView]:
        principal = self._person(ctx, "sessions")
        size = paging.page_size(page_size)
        before = _keyset(paging.decode_token(page_token, "sessions", arity=2))
        async with self._db.tenant_tx(principal.organization_id) as conn:
            found = await repo.list_sessions(conn, principal.id, before, size + 1)
        token = _next_token("sessions", found, size, lambda s: (s.last_used_at, s.id))
        return Page([replace(s, current=s.id == principal.session_id) for s in found[:size]], token)

    async def revoke_session(self, ctx: CallContext, *, session_id: str) -> None:
        principal = self._person(ctx, "sessions")
        family = _uuid("sessionId", session_id)
        async with self._db.tenant_tx(principal.organization_id) as conn:
            if not await repo.revoke_user_family(conn, principal.id, family):
                raise NotFoundError("Session not found")
            await self._audit.record(ctx, "auth.session_revoked", conn=conn, resource_type="session",
                                     resource_id=family)
        await self._sessions.revoke_sessions([family])

    async def revoke_all_sessions(self, ctx: CallContext, *, keep_current: bool) -> int:
        principal = self._person(ctx, "sessions")
        keep = principal.session_id if keep_current else None
        async with self._db.tenant_tx(principal.organization_id) as conn:
            families = await repo.revoke_user_families(conn, principal.id, keep=keep)
            await self._audit.record(
                ctx, "auth.sessions_revoked", conn=conn, resource_type="user", resource_id=principal.id,
                details={"sessions": len(families), "keptCurrent": keep is not None},
            )
        await self._sessions.revoke_sessions(families)
        return len(families)

    # --- password reset -------------------------------------------------------------------------

    async def request_password_reset(self, ctx: CallContext, *, email: str) -> str:
        """Emails a reset link when the email belongs to an active account; the answer is the same either way."""
        v = Violations()
        email = v.email("email", email)
        _raise_if(v)
        async with self._db.global_tx() as conn:
            account = await repo.account_by_email(conn, email)
        if account is not None and account.is_active:
            self._outbox.later(lambda: self._issue_reset(ctx, account, email), "password_reset")
        else:
            self._outbox.later(lambda: self._reset_not_sent(ctx, email), "password_reset")
        return RESET_REQUESTED

    async def _issue_reset(self, ctx: CallContext, account: Account, email: str) -> MailMessage:
        token, token_hash = self._tokens.new_link_token("pr")
        ttl_s = self._settings.password_reset_ttl_s
        async with self._db.tenant_tx(account.organization_id) as conn:
            await repo.insert_reset_token(
                conn, organization_id=account.organization_id, user_id=account.id, token_hash=token_hash, ttl_s=ttl_s
            )
            await self._audit.record(
                ctx, "auth.password_reset.requested", conn=conn, organization_id=account.organization_id,
                actor_id=account.id, actor_type="user", resource_type="user", resource_id=account.id,
            )
        return self._messages.password_reset(email, token, ttl_s)

    async def _reset_not_sent(self, ctx: CallContext, email: str) -> None:
        await self._audit.record(ctx, "auth.password_reset.no_account", details={"email_hash": sha256_hex(email)})

    async def reset_password(self, ctx: CallContext, *, token: str, new_password: str) -> None:
        """Sets a new password with an emailed token (once, within its hour); ends every session."""
        v = Violations()
        if not token.strip():
            v.add("token", "is required")
        v.password("newPassword", new_password)
        _raise_if(v)
        async with self._db.global_tx() as conn:
            found = await repo.reset_token_by_hash(conn, sha256_hex(token.strip()))
        if found is None or found.used_at is not None or found.expires_at <= datetime.now(UTC):
            await self._audit.record(ctx, "auth.password_reset.failed")
            raise AuthenticationError("Invalid or expired reset link")
        new_hash = await self._passwords.hash(new_password)
        async with self._db.tenant_tx(found.organization_id) as conn:
            user_id = await repo.consume_reset_token(conn, found.id)
            user = await repo.load_user(conn, user_id) if user_id is not None else None
            if user is None or not user.is_active:
                raise AuthenticationError("Invalid or expired reset link")
            await repo.set_password(conn, user.id, new_hash)
            families = await repo.revoke_user_families(conn, user.id)
            await repo.forget_failures(conn, sha256_hex(user.email))
            await self._audit.record(
                ctx, "auth.password_reset", conn=conn, organization_id=user.organization_id, actor_id=user.id,
                actor_type="user", resource_type="user", resource_id=user.id, details={"sessions": len(families)},
            )
        await self._sessions.revoke_sessions(families)

    # --- administration -------------------------------------------------------------------------

    async def _deny_beyond(self, ctx: CallContext, action: str, missing: frozenset[str]) -> None:
        if missing:
            await self._audit.record(
                ctx, "authz.denied", details={"action": action, "missing": sorted(missing)}
            )
            raise PermissionDeniedError(
                f"Cannot {action} beyond your own permissions (you lack {', '.join(sorted(missing))})"
            )

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
        v.permissions("permissions", permissions)
        _raise_if(v)
        await self._deny_beyond(ctx, "create a user", beyond_role(principal.permissions, role, permissions))
        password_hash = await self._passwords.hash(password)
        try:
            async with self._db.tenant_tx(principal.organization_id) as conn:
                user_id = await repo.insert_user(
                    conn, email=email, password_hash=password_hash, first_name=first_name, last_name=last_name,
                    role=role, permissions=permissions, organization_id=principal.organization_id,
                )
                await self._audit.record(
                    ctx, "user.created", conn=conn, resource_type="user", resource_id=user_id,
                    details={"role": role, "permissions": sorted(set(permissions))},
                )
                return await self._user(conn, user_id)
        except psycopg.errors.UniqueViolation:
            raise AlreadyExistsError("A user with this email already exists") from None

    async def list_users(self, ctx: CallContext, *, page_size: int, page_token: str) -> Page[UserView]:
        principal = ctx.require_principal()
        size = paging.page_size(page_size)
        after = _keyset(paging.decode_token(page_token, "users", arity=2))
        async with self._db.tenant_tx(principal.organization_id) as conn:
            users = await repo.list_users(conn, after, size + 1)
            total = await repo.count_users(conn)
        token = _next_token("users", users, size, lambda u: (u.created_at, u.id))
        return Page(users[:size], token, total)

    async def set_user_active(self, ctx: CallContext, *, user_id: str, active: bool) -> UserView:
        """Disable (ends every session at once; the user's tokens get 401 from the next call) or enable a user."""
        principal = ctx.require_principal()
        target_id = _uuid("userId", user_id)
        action = "enable a user" if active else "disable a user"
        if not active and principal.kind == "user" and target_id == principal.id:
            raise PermissionDeniedError("You cannot disable yourself")
        async with self._db.tenant_tx(principal.organization_id) as conn:
            target = await repo.load_user(conn, target_id)
            if target is None:
                raise NotFoundError("User not found")
        await self._deny_beyond(ctx, action, beyond(principal.permissions, target.permissions))
        families: list[UUID] = []
        async with self._db.tenant_tx(principal.organization_id) as conn:
            await repo.set_active(conn, target_id, active)
            if not active:
                families = await repo.revoke_user_families(conn, target_id)
            await self._audit.record(
                ctx, "user.enabled" if active else "user.disabled", conn=conn, resource_type="user",
                resource_id=target_id, details={"sessions": len(families)},
            )
            updated = await self._user(conn, target_id)
        await self._sessions.revoke_sessions(families)
        return updated

    async def create_api_key(self, ctx: CallContext, *, name: str, permissions: list[str]) -> tuple[ApiKeyView, str]:
        principal = ctx.require_principal()
        v = Violations()
        name = v.text("name", name, 255)
        if not permissions:
            v.add("permissions", "must name at least one permission")
        v.permissions("permissions", permissions)
        _raise_if(v)
        await self._deny_beyond(ctx, "create an API key", beyond(principal.permissions, permissions))
        secret, prefix, key_hash = self._tokens.new_api_key()
        async with self._db.tenant_tx(principal.organization_id) as conn:
            key = await repo.insert_api_key(
                conn, organization_id=principal.organization_id, name=name, prefix=prefix, key_hash=key_hash,
                permissions=permissions, created_by=principal.id if principal.kind == "user" else None,
            )
            await self._audit.record(
                ctx, "api_key.created", conn=conn, resource_type="api_key", resource_id=key.id,
                details={"permissions": key.permissions},
            )
        return key, secret

    async def list_api_keys(self, ctx: CallContext, *, page_size: int, page_token: str) -> Page[ApiKeyView]:
        principal = ctx.require_principal()
        size = paging.page_size(page_size)
        after = _keyset(paging.decode_token(page_token, "api_keys", arity=2))
        async with self._db.tenant_tx(principal.organization_id) as conn:
            keys = await repo.list_api_keys(conn, after, size + 1)
        return Page(keys[:size], _next_token("api_keys", keys, size, lambda k: (k.created_at, k.id)))

    async def revoke_api_key(self, ctx: CallContext, *, key_id: str) -> None:
        principal = ctx.require_principal()
        key_uuid = _uuid("keyId", key_id)
        async with self._db.tenant_tx(principal.organization_id) as conn:
            key_hash = await repo.revoke_api_key(conn, key_uuid)
            if key_hash is None:
                raise NotFoundError("API key not found")
            await self._audit.record(ctx, "api_key.revoked", conn=conn, resource_type="api_key", resource_id=key_uuid)
        await self._sessions.forget_api_key(key_hash)

    async def close(self) -> None:
        """Lets mail still being prepared or sent finish (bounded), at shutdown."""
        await self._outbox.close()

    @staticmethod
    async def _user(conn: Conn, user_id: UUID) -> UserView:
        user = await repo.load_user(conn, user_id)
        if user is None:
            raise NotFoundError("User not found")
        return user
