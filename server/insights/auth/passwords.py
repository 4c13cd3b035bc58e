"""bcrypt hashing (off the event loop) and the password policy."""

from __future__ import annotations

import asyncio
import re

import bcrypt

# The most common base words of breached passwords; a password that is one of these once
# digits and symbols are stripped is refused, however long.
_COMMON_BASES = frozenset(
    """password passw0rd qwerty qwertyuiop asdfghjkl zxcvbnm letmein welcome admin administrator
    iloveyou monkey dragon football baseball sunshine princess trustno abc abcdef abcdefgh
    abcdefghijkl login master shadow superman batman starwars whatever freedom hello
    changeme secret default customer insights summer winter spring autumn""".split()
)


def password_policy_violations(password: str) -> list[str]:
    problems = []
    if len(password) < 12:
        problems.append("at least 12 characters")
    if len(password) > 128:
        problems.append("at most 128 characters")
    if not re.search(r"[a-z]", password):
        problems.append("a lowercase letter")
    if not re.search(r"[A-Z]", password):
        problems.append("an uppercase letter")
    if not re.search(r"\d", password):
        problems.append("a digit")
    if not re.search(r"[^A-Za-z0-9]", password):
        problems.append("a symbol")
    if re.sub(r"[^a-z]", "", password.lower()) in _COMMON_BASES:
        problems.append("not a common password")
    return problems


def _bcrypt_input(password: str) -> bytes:
    # bcrypt uses at most 72 bytes and bcrypt 5 raises on longer input: cut it, identically on both paths.
    return password.encode()[:72]


class PasswordHasher:
    def __init__(self, rounds: int) -> None:
        self._rounds = rounds
        # Verified against when the email is unknown, so both paths cost one bcrypt check.
        self._dummy_hash = bcrypt.hashpw(b"no-such-user-placeholder", bcrypt.gensalt(rounds))

    async def hash(self, password: str) -> str:
        digest = await asyncio.to_thread(bcrypt.hashpw, _bcrypt_input(password), bcrypt.gensalt(self._rounds))
        return digest.decode()

    async def verify(self, password: str, password_hash: str | None) -> bool:
        target = password_hash.encode() if password_hash else self._dummy_hash
        ok = await asyncio.to_thread(bcrypt.checkpw, _bcrypt_input(password), target)
        return ok and password_hash is not None
