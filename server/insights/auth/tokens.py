"""Access tokens (HS256 JWT, short-lived, signed by the key ring) and opaque secrets stored hashed: refresh
tokens, API keys, and the single-use tokens of emailed links."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from uuid import UUID

import jwt

from insights.auth.keyring import KeyRing
from insights.errors import AuthenticationError
from insights.settings import AuthSettings


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class AccessClaims:
    user_id: UUID
    organization_id: UUID
    role: str
    permissions: frozenset[str]
    token_version: int
    session_id: UUID
    token_id: str
    expires_at: int


class TokenService:
    def __init__(self, settings: AuthSettings, keys: KeyRing) -> None:
        self._keys = keys
        self._issuer = settings.jwt_issuer
        self.access_ttl_s = settings.access_token_ttl_s
        self.refresh_ttl_s = settings.refresh_token_ttl_s

    def issue_access(
        self,
        *,
        user_id: UUID,
        organization_id: UUID,
        role: str,
        permissions: frozenset[str],
        token_version: int,
        session_id: UUID,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": self._issuer,
            "sub": str(user_id),
            "org": str(organization_id),
            "role": role,
            "perms": sorted(permissions),
            "ver": token_version,
            "sid": str(session_id),
            "jti": uuid.uuid4().hex,
            "typ": "access",
            "iat": now,
            "exp": now + self.access_ttl_s,
        }
        key = self._keys.signing_key
        return jwt.encode(claims, key.secret, algorithm="HS256", headers={"kid": key.kid})

    def decode_access(self, token: str) -> AccessClaims:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise AuthenticationError("Invalid token") from None
        # The header only picks which of our keys to try; a kid we do not hold is refused outright.
        key = self._keys.verification_key(kid) if isinstance(kid, str) else None
        if key is None:
            raise AuthenticationError("Invalid token")
        try:
            claims = jwt.decode(
                token,
                key.secret,
                algorithms=["HS256"],  # never "none", never an algorithm the token picks
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "jti", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("Token expired") from None
        except jwt.PyJWTError:
            raise AuthenticationError("Invalid token") from None
        if claims.get("typ") != "access":
            raise AuthenticationError("Invalid token")
        try:
            return AccessClaims(
                user_id=UUID(claims["sub"]),
                organization_id=UUID(claims["org"]),
                role=str(claims["role"]),
                permissions=frozenset(claims.get("perms", [])),
                token_version=int(claims["ver"]),
                session_id=UUID(claims["sid"]),
                token_id=str(claims["jti"]),
                expires_at=int(claims["exp"]),
            )
        except (KeyError, ValueError, TypeError):
            raise AuthenticationError("Invalid token") from None

    @staticmethod
    def new_refresh_token() -> tuple[str, str]:
        token = "rt_" + secrets.token_urlsafe(32)
        return token, sha256_hex(token)

    @staticmethod
    def new_link_token(prefix: str) -> tuple[str, str]:
        """A token for an emailed link (verification, password reset): (token, its hash as stored)."""
        token = f"{prefix}_" + secrets.token_urlsafe(32)
        return token, sha256_hex(token)

    @staticmethod
    def new_api_key() -> tuple[str, str, str]:
        """Returns (secret, prefix, hash). The prefix is shown in listings to recognise a key."""
        prefix = secrets.token_hex(4)
        secret = f"ik_{prefix}_{secrets.token_urlsafe(32)}"
        return secret, f"ik_{prefix}", sha256_hex(secret)
