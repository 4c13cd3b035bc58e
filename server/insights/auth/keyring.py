"""The JWT signing keys: a ring of HS256 secrets, each named by a ``kid``; the newest signs, all verify.

The ring is a JSON file (``auth.jwt_keyring_path``)::

    {"keys": [{"kid": "k-2f9c…", "secret": "…", "created": "2025-01-31T09:00:00+00:00"}, …]}

``insights keys rotate`` adds a key (the new newest), ``insights keys retire`` drops keys that were
superseded longer ago than an access token lives, so every token they signed has expired. Both
write the file atomically (a temporary file renamed over it). A running server looks at the file's
modification time at most every ``jwt_keyring_check_s`` seconds and re-reads it when it changed, so
rotation needs no restart; a file that cannot be read or is invalid leaves the ring as it was.

Without a file the ring is ``auth.jwt_secret`` alone, under a ``kid`` derived from it. Outside
development mode a ring with the built-in default secret, or with a secret shorter than 32 bytes,
is refused: ``InsecureKeys`` stops the server from starting.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from insights.infra.logging import get_logger
from insights.settings import DEFAULT_JWT_SECRET, MIN_SECRET_BYTES, AuthSettings

log = get_logger(__name__)


class InsecureKeys(Exception):
    """The configured signing keys would let others sign tokens (or there are none): do not start."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    secret: str
    created: datetime

    def as_json(self) -> dict[str, str]:
        return {"kid": self.kid, "secret": self.secret, "created": self.created.isoformat()}


def kid_for_secret(secret: str) -> str:
    """The ``kid`` of a secret given by setting rather than by a ring file: stable, and says nothing usable
    about the secret (a token's HMAC already lets anyone test guesses offline; this adds nothing)."""
    return "s-" + hashlib.sha256(b"insights-kid:" + secret.encode()).hexdigest()[:16]


def new_key(now: datetime | None = None) -> SigningKey:
    return SigningKey(kid="k-" + secrets.token_hex(8), secret=secrets.token_urlsafe(48), created=now or _now())


def _now() -> datetime:
    return datetime.now(UTC)


def problems(keys: list[SigningKey], *, development: bool) -> list[str]:
    """Why these keys may not sign tokens; empty when they may."""
    if not keys:
        return ["the key ring holds no key"]
    found = []
    kids = [k.kid for k in keys]
    if len(set(kids)) != len(kids):
        found.append("two keys share a kid")
    if not development:
        for key in keys:
            if key.secret == DEFAULT_JWT_SECRET:
                found.append(f"key {key.kid} is the built-in development secret")
            elif len(key.secret.encode()) < MIN_SECRET_BYTES:
                found.append(f"key {key.kid} is shorter than {MIN_SECRET_BYTES} bytes")
    return found


def parse_ring(text: str) -> list[SigningKey]:
    """The keys of a ring file, oldest first. ``ValueError`` for anything that is not a valid ring."""
    data: Any = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError('a key ring is {"keys": [...]}')
    keys = []
    for entry in data["keys"]:
        if not isinstance(entry, dict):
            raise ValueError("every key is an object with kid, secret and created")
        kid, secret, created = entry.get("kid"), entry.get("secret"), entry.get("created")
        if not (isinstance(kid, str) and kid and isinstance(secret, str) and secret and isinstance(created, str)):
            raise ValueError("every key has a non-empty kid, secret and created")
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None:
            raise ValueError(f"key {kid}: created must carry a time zone")
        keys.append(SigningKey(kid, secret, moment))
    return sorted(keys, key=lambda k: k.created)


def read_ring(path: Path) -> list[SigningKey]:
    return parse_ring(path.read_text())


def write_ring(path: Path, keys: list[SigningKey]) -> None:
    """Replace the ring file atomically (readers see the old file or the new one, never half of one), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"keys": [k.as_json() for k in sorted(keys, key=lambda k: k.created)]}, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rotate(path: Path, now: datetime | None = None) -> SigningKey:
    """Add a new newest key to the ring (creating the file if there is none); returns it."""
    keys = read_ring(path) if path.exists() else []
    key = new_key(now)
    write_ring(path, [*keys, key])
    return key


def retire(path: Path, *, access_token_ttl_s: int, grace_s: float, now: datetime | None = None) -> list[str]:
    """Drop every key superseded by a newer one longer ago than an access token lives (plus ``grace_s``, the
    time servers may take to notice the newer key). The newest key always stays. Returns the dropped kids."""
    keys = read_ring(path)
    cutoff = (now or _now()) - timedelta(seconds=access_token_ttl_s + grace_s)
    kept: list[SigningKey] = []
    dropped: list[SigningKey] = []
    for i, key in enumerate(keys):
        superseded_at = keys[i + 1].created if i + 1 < len(keys) else None
        (dropped if superseded_at is not None and superseded_at < cutoff else kept).append(key)
    if dropped:
        write_ring(path, kept)
    return [k.kid for k in dropped]


class KeyRing:
    """The keys a server signs and verifies with, re-read from the ring file when it changes."""

    def __init__(self, keys: list[SigningKey], *, path: Path | None, check_s: float, development: bool) -> None:
        self._keys = {k.kid: k for k in keys}
        self._signing = keys[-1]
        self._path = path
        self._check_s = check_s
        self._development = development
        self._stamp = self._file_stamp()
        self._checked_at = time.monotonic()

    @classmethod
    def from_settings(cls, settings: AuthSettings, *, development: bool) -> KeyRing:
        """The ring the settings name; ``InsecureKeys`` when it must not be used."""
        path = settings.jwt_keyring_path
        if path is None:
            secret = settings.jwt_secret.get_secret_value()
            keys = [SigningKey(kid_for_secret(secret), secret, datetime(2000, 1, 1, tzinfo=UTC))]
        else:
            try:
                keys = read_ring(path)
            except (OSError, ValueError) as exc:
                raise InsecureKeys(f"cannot read the JWT key ring {path}: {exc}") from None
        found = problems(keys, development=development)
        if found:
            hint = "" if development else " (or set INSIGHTS_ENVIRONMENT=development on a developer machine)"
            raise InsecureKeys(
                "refusing to sign tokens: " + "; ".join(found)
                + ". Set INSIGHTS_AUTH__JWT_SECRET to at least 32 random bytes (e.g. `openssl rand -hex 32`)"
                + " or INSIGHTS_AUTH__JWT_KEYRING_PATH to a ring written by `insights keys rotate`" + hint
            )
        return cls(keys, path=path, check_s=settings.jwt_keyring_check_s, development=development)

    @property
    def signing_key(self) -> SigningKey:
        self._maybe_reload()
        return self._signing

    def verification_key(self, kid: str) -> SigningKey | None:
        self._maybe_reload()
        return self._keys.get(kid)

    @property
    def kids(self) -> list[str]:
        self._maybe_reload()
        return list(self._keys)

    def _file_stamp(self) -> tuple[int, int, int] | None:
        if self._path is None:
            return None
        try:
            st = self._path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_ino, st.st_size

    def _maybe_reload(self) -> None:
        if self._path is None:
            return
        now = time.monotonic()
        if now - self._checked_at < self._check_s:
            return
        self._checked_at = now
        stamp = self._file_stamp()
        if stamp is None or stamp == self._stamp:
            return
        try:
            keys = read_ring(self._path)
        except (OSError, ValueError) as exc:
            log.error("keyring.unreadable", path=str(self._path), error=str(exc))
            return
        found = problems(keys, development=self._development)
        if found:
            log.error("keyring.refused", path=str(self._path), problems=found)
            return
        self._stamp = stamp
        self._keys = {k.kid: k for k in keys}
        self._signing = keys[-1]
        log.info("keyring.reloaded", kids=list(self._keys), signing=self._signing.kid)
