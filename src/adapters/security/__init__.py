"""Security adapters: password hashing, access tokens, secrets, login throttling."""

from adapters.security.passwords import BcryptPasswordHasher
from adapters.security.random_secrets import UrlSafeSecrets
from adapters.security.throttle import InMemoryLoginThrottle, Limit
from adapters.security.tokens import JwtTokenService

__all__ = ["BcryptPasswordHasher", "InMemoryLoginThrottle", "JwtTokenService", "Limit", "UrlSafeSecrets"]
