"""bcrypt password hashing, off the event loop, with no silent truncation of long passwords."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac

import bcrypt

from incidentcore.ports import PasswordHasher

DEFAULT_ROUNDS = 12
# A fixed, public key: it only separates this pre-hash from a bare SHA-256 of the password, so a
# leaked unsalted SHA-256 list cannot be fed to bcrypt directly ("password shucking").
_PREHASH_KEY = b"incidentcore/bcrypt-prehash/v1"


def prehash(password: str) -> bytes:
    """bcrypt reads at most 72 bytes; HMAC-SHA256 then base64 (44 bytes, no NUL) keeps every byte."""
    digest = hmac.new(_PREHASH_KEY, password.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest)


class BcryptPasswordHasher(PasswordHasher):
    def __init__(self, rounds: int = DEFAULT_ROUNDS) -> None:
        if not 4 <= rounds <= 31:
            raise ValueError("bcrypt rounds must be between 4 and 31")
        self.rounds = rounds
        # Made now, once: an unknown email then costs one bcrypt check, exactly like a wrong password.
        self._dummy_hash = bcrypt.hashpw(prehash("not-a-real-password"), bcrypt.gensalt(rounds))

    async def hash(self, password: str) -> str:
        hashed = await asyncio.to_thread(bcrypt.hashpw, prehash(password), bcrypt.gensalt(self.rounds))
        return hashed.decode("ascii")

    async def verify(self, password: str, password_hash: str | None) -> bool:
        if password_hash is None:
            # Unknown account: spend the same time on a real check, so timing does not tell.
            await asyncio.to_thread(bcrypt.checkpw, prehash(password), self._dummy_hash)
            return False
        try:
            stored = password_hash.encode("ascii")
            return await asyncio.to_thread(bcrypt.checkpw, prehash(password), stored)
        except ValueError:  # not a bcrypt hash: never matches
            return False
