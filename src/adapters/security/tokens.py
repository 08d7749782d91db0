"""Access tokens: HS256 JWTs carrying the user id and the user's credentials version."""

from __future__ import annotations

from datetime import timedelta

import jwt

from incidentcore.errors import AuthenticationFailed
from incidentcore.model import User
from incidentcore.ports import AccessToken, Clock, TokenClaims, TokenService

ALGORITHM = "HS256"
CREDENTIALS_VERSION_CLAIM = "cv"
REQUIRED_CLAIMS = ["exp", "iat", "sub", CREDENTIALS_VERSION_CLAIM]


class JwtTokenService(TokenService):
    def __init__(self, secret_key: str, lifetime: timedelta, clock: Clock) -> None:
        if len(secret_key) < 32:
            raise ValueError("the token signing key must be at least 32 characters")
        self._key = secret_key
        self.lifetime = lifetime
        self.clock = clock

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
        try:
            # One pinned algorithm: a token signed any other way (including "none") is rejected.
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM], options={"require": REQUIRED_CLAIMS})
            return TokenClaims(int(claims["sub"]), int(claims[CREDENTIALS_VERSION_CLAIM]))
        except jwt.ExpiredSignatureError:
            raise AuthenticationFailed("the token has expired") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise AuthenticationFailed("the token is invalid") from None
