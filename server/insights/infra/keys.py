"""Every Redis key the platform writes, built in one place, under one configurable prefix.

Keys that hold a customer's data are built from the organization and the customer's UUID, so that
erasure can find them (``customer_key_patterns``); a test checks that no key mentioning an erased
customer is left.
"""

from __future__ import annotations

import hashlib
import re
from uuid import UUID


class RedisKeys:
    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    # --- authentication cache ---------------------------------------------------------------
    def revoked_token(self, token_id: str) -> str:
        """An access token signed out, until it would expire."""
        return f"{self.prefix}revoked:jti:{token_id}"

    def session(self, session_id: UUID | str) -> str:
        """A session's cached state: its owner and token version, or ``revoked``."""
        return f"{self.prefix}sess:{session_id}"

    def api_key(self, key_hash: str) -> str:
        """An API key's cached organization and permissions, or ``revoked``."""
        return f"{self.prefix}apikey:{key_hash}"

    # --- rate limits (the limits library appends its own suffix) -----------------------------
    @property
    def rate_limit_prefix(self) -> str:
        return f"{self.prefix}rl"

    # --- event streams ----------------------------------------------------------------------
    def events(self, organization_id: UUID | str) -> str:
        """An organization's event stream."""
        return f"{self.prefix}events:{organization_id}"

    # --- caches of tenant data --------------------------------------------------------------
    def prediction(self, organization_id: UUID | str, model_key: str, text_hash: str) -> str:
        """A cached model prediction (per organization: one tenant never learns what another analysed)."""
        return f"{self.prefix}ml:{organization_id}:{model_key}:{text_hash}"

    @staticmethod
    def text_hash(normalized_text: str) -> str:
        """The last part of a prediction key: the SHA-256 of the normalized text."""
        return hashlib.sha256(normalized_text.encode()).hexdigest()

    def predictions_of(self, organization_id: UUID | str) -> str:
        """SCAN pattern of every cached prediction of an organization (any model); the text hash ends each key."""
        return f"{_glob_literal(self.prefix)}ml:{organization_id}:*"

    def cache_prefix(self, organization_id: UUID | str) -> str:
        """Every cached answer about an organization's data starts with this."""
        return f"{self.prefix}cache:{organization_id}:"

    def cache_generation(self, organization_id: UUID | str) -> str:
        """Incremented on every write of the organization: cached aggregates keyed under the old value die."""
        return f"{self.prefix}cache:{organization_id}:generation"

    def customer_key_patterns(self, organization_id: UUID | str, customer_id: UUID | str) -> list[str]:
        """SCAN patterns of every key that holds one customer's data (erasure deletes them)."""
        return [f"{_glob_literal(self.cache_prefix(organization_id))}*{customer_id}*"]


def _glob_literal(text: str) -> str:
    """``text`` as a SCAN pattern that matches only itself: a prefix holding a glob character must not
    match other deployments' keys."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
