"""Access tokens: HS256 JWTs carrying the user id and the user's credentials version."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from datetime import timedelta

import jwt

from incidentcore.errors import AuthenticationFailed
from incidentcore.model import User
from incidentcore.ports import AccessToken, Clock, TokenClaims, TokenService

ALGORITHM = "HS256"
CREDENTIALS_VERSION_CLAIM = "cv"
REQUIRED_CLAIMS = ["exp", "iat", "sub", CREDENTIALS_VERSION_CLAIM]
# Ids are 32-bit INTEGER columns on every engine (the HTTP layer's MAX_ID): Postgres refuses to even
# compare a larger one with them, SQLite anything past 64 bits.
MAX_USER_ID = 2**31 - 1
MAX_CREDENTIALS_VERSION = 2**31 - 1
# ASCII digits only (int() also takes other scripts' digits), and few: int() of a long one is slow.
_USER_ID = re.compile(r"[1-9][0-9]{0,9}")
# Tokens whose signature and claims were verified, by their exact text: every request of a client
# carries the same token, and the HMAC check and claim parsing cost more than the rest of a read's
# authentication. Only expiry still changes with time, so a hit checks it again; revocation is never
# decided here (the user's credentials version is compared with the database on every request).
VERIFIED_TOKENS_KEPT = 4096


class JwtTokenService(TokenService):
    def __init__(self, secret_key: str, lifetime: timedelta, clock: Clock) -> None:
        if len(secret_key) < 32:
            raise ValueError("the token signing key must be at least 32 characters")
        self._key = secret_key
        self.lifetime = lifetime
        self.clock = clock
        self._verified: OrderedDict[str, tuple[TokenClaims, int]] = OrderedDict()

    def issue(self, user: User) -> AccessToken:
        now = self.clock.now()
        claims = {
            "sub": str(user.id),
            "iat": now,
            "exp": now + self.lifetime,
            CREDENTIALS_VERSION_CLAIM: user.credentials_version,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        return AccessToken(token, int(self.lifetime.total_seconds()))

    def decode(self, token: str) -> TokenClaims:
        verified = self._verified.get(token)
        if verified is None:
            verified = self._verify(token)
            self._verified[token] = verified
            if len(self._verified) > VERIFIED_TOKENS_KEPT:
                self._verified.popitem(last=False)  # the oldest verified first
        claims, expires_at = verified
        if expires_at <= time.time():  # PyJWT's own rule, on its own clock (the wall clock)
            raise AuthenticationFailed("the token has expired")
        return claims

    def _verify(self, token: str) -> tuple[TokenClaims, int]:
        try:
            # One pinned algorithm: a token signed any other way (including "none") is rejected.
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM], options={"require": REQUIRED_CLAIMS})
        except jwt.ExpiredSignatureError:
            raise AuthenticationFailed("the token has expired") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise AuthenticationFailed("the token is invalid") from None
        # Exactly what `issue` writes, nothing int() would merely tolerate (" 7", "1_0", "+7", other
        # scripts' digits, 0.5, True, 2**70): a signed token must not reach the database with an id it
        # cannot hold.
        subject, version = claims["sub"], claims[CREDENTIALS_VERSION_CLAIM]
        if not (isinstance(subject, str) and _USER_ID.fullmatch(subject) and int(subject) <= MAX_USER_ID):
            raise AuthenticationFailed("the token is invalid")
        if type(version) is not int or not 0 <= version <= MAX_CREDENTIALS_VERSION:
            raise AuthenticationFailed("the token is invalid")
        return TokenClaims(int(subject), version), int(claims["exp"])
