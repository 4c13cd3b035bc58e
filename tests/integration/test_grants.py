"""The subset rule through the auth service, in process, against real PostgreSQL and Redis: for every caller kind
(a person of any role with any extras, an API key with any permissions), every role and every set of extras,
creating a user, creating a key, and disabling a user succeed exactly when the result stays within the caller's
own permissions, and a refusal leaves nothing behind.

Hypothesis draws from the whole lattice (3 roles x 2^8 extras for the target, 3 roles x 2^8 extras or 2^8 key
permission sets for the caller); ``tests/unit/test_permissions.py`` walks the rule itself exhaustively, and
``tests/integration/test_accounts.py`` checks a few of these cases through Envoy.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from insights.auth import repository as repo
from insights.auth.authenticator import SessionCache
from insights.auth.keyring import KeyRing
from insights.auth.messages import Messages
from insights.auth.passwords import PasswordHasher
from insights.auth.permissions import ALL_PERMISSIONS, ROLE_PERMISSIONS, ROLES, effective_permissions
from insights.auth.service import AuthService
from insights.auth.tokens import TokenService
from insights.context import CallContext, Principal
from insights.errors import PermissionDeniedError
from insights.infra.audit import AuditLog
from insights.infra.db import Database
from insights.infra.mail import Outbox, SmtpMailSender
from insights.infra.migrate import apply_migrations
from insights.infra.redis import Redis
from insights.settings import AuthSettings, MailSettings, Settings
from tests.fixtures.databases import create_database, drop_database
from tests.support import STRONG_PASSWORD

PERMISSIONS = sorted(ALL_PERMISSIONS)
subsets = st.frozensets(st.sampled_from(PERMISSIONS))
LATTICE = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def grant_settings(redis_url: str, redis_key_prefix: str) -> Iterator[Settings]:
    url = create_database()
    configured = Settings(
        database_url=url, redis_url=redis_url, redis={"key_prefix": redis_key_prefix},  # type: ignore[arg-type]
        auth=AuthSettings(jwt_secret=SecretStr("grants-test-secret-0123456789abcdef"), bcrypt_rounds=4),
    )
    apply_migrations(configured)
    yield configured
    drop_database(url)


class Org:
    def __init__(self, auth: AuthService, db: Database, organization_id: UUID, person_id: UUID) -> None:
        self.auth, self.db, self.id, self.person_id = auth, db, organization_id, person_id

    def ctx(self, kind: str, permissions: frozenset[str]) -> CallContext:
        """A caller of this organization, as the authenticator would hand it to the service."""
        principal_id = self.person_id if kind == "user" else uuid.uuid4()
        principal = Principal(kind=kind, id=principal_id, organization_id=self.id,  # type: ignore[arg-type]
                              permissions=permissions, role="analyst" if kind == "user" else None)
        return CallContext(request_id=uuid.uuid4().hex, client_ip="127.0.0.1", principal=principal)

    @property
    def everything(self) -> CallContext:
        return self.ctx("user", ALL_PERMISSIONS)

    async def users_with_email(self, email: str) -> int:
        async with self.db.tenant_tx(self.id) as conn:
            return sum(1 for u in await repo.list_users(conn, None, 1000) if u.email == email)


@pytest.fixture(scope="module")
async def org(grant_settings: Settings) -> AsyncIterator[Org]:
    db = Database(grant_settings)
    await db.open()
    redis = Redis.from_settings(grant_settings)
    auth_settings = grant_settings.auth
    tokens = TokenService(auth_settings, KeyRing.from_settings(auth_settings, development=False))
    mail = MailSettings()  # these flows send no mail
    auth = AuthService(auth_settings, db, tokens, PasswordHasher(4), SessionCache(redis, 60), AuditLog(db),
                       Outbox(SmtpMailSender(mail)), Messages(mail))
    organization_id = uuid.uuid4()
    async with db.tenant_tx(organization_id) as conn:
        await repo.insert_organization(conn, organization_id, "Grants")
        person = await repo.insert_user(conn, email=f"caller-{uuid.uuid4().hex[:8]}@example.com",
                                        password_hash="x", first_name="C", last_name="Aller", role="analyst",
                                        permissions=(), organization_id=organization_id)
    yield Org(auth, db, organization_id, person)
    await auth.close()
    await redis.close()
    await db.close()


@st.composite
def callers(draw: st.DrawFn) -> tuple[str, frozenset[str]]:
    """A person (a role and extras, as their token carries them) or an API key (any permissions)."""
    if draw(st.booleans()):
        return "user", effective_permissions(draw(st.sampled_from(ROLES)), draw(subsets))
    return "api_key", draw(subsets)


@LATTICE
@given(caller=callers(), role=st.sampled_from(ROLES), extra=subsets)
async def test_create_user_stays_within_the_callers_permissions(
    org: Org, caller: tuple[str, frozenset[str]], role: str, extra: frozenset[str]
) -> None:
    kind, held = caller
    email = f"new-{uuid.uuid4().hex[:12]}@example.com"
    wanted = ROLE_PERMISSIONS[role] | extra
    call = org.auth.create_user(org.ctx(kind, held), email=email, password=STRONG_PASSWORD, first_name="N",
                                last_name="Ew", role=role, permissions=sorted(extra))
    if wanted <= held:
        created = await call
        assert (created.role, created.permissions) == (role, wanted)
    else:
        with pytest.raises(PermissionDeniedError) as denied:
            await call
        assert all(p in denied.value.message for p in wanted - held)
        assert await org.users_with_email(email) == 0


@LATTICE
@given(caller=callers(), wanted=subsets.filter(bool))
async def test_create_api_key_stays_within_the_callers_permissions(
    org: Org, caller: tuple[str, frozenset[str]], wanted: frozenset[str]
) -> None:
    kind, held = caller
    name = f"key-{uuid.uuid4().hex[:8]}"
    call = org.auth.create_api_key(org.ctx(kind, held), name=name, permissions=sorted(wanted))
    if wanted <= held:
        key, secret = await call
        assert set(key.permissions) == wanted and secret.startswith(key.prefix)
    else:
        with pytest.raises(PermissionDeniedError):
            await call
        keys = await org.auth.list_api_keys(org.everything, page_size=100, page_token="")
        assert name not in {k.name for k in keys.items}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(caller=callers(), role=st.sampled_from(ROLES), extra=subsets)
async def test_disable_user_only_for_users_within_the_callers_permissions(
    org: Org, caller: tuple[str, frozenset[str]], role: str, extra: frozenset[str]
) -> None:
    kind, held = caller
    target = await org.auth.create_user(org.everything, email=f"t-{uuid.uuid4().hex[:12]}@example.com",
                                        password=STRONG_PASSWORD, first_name="T", last_name="Arget", role=role,
                                        permissions=sorted(extra))
    call = org.auth.set_user_active(org.ctx(kind, held), user_id=str(target.id), active=False)
    if target.permissions <= held:
        assert (await call).is_active is False
        enabled = await org.auth.set_user_active(org.ctx(kind, held), user_id=str(target.id), active=True)
        assert enabled.is_active is True
    else:
        with pytest.raises(PermissionDeniedError):
            await call
        async with org.db.tenant_tx(org.id) as conn:
            still = await repo.load_user(conn, target.id)
        assert still is not None and still.is_active


async def test_nobody_disables_themselves(org: Org) -> None:
    with pytest.raises(PermissionDeniedError, match="yourself"):
        await org.auth.set_user_active(org.everything, user_id=str(org.person_id), active=False)
