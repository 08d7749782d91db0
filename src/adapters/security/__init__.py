"""Security adapters: password hashing, access tokens, secrets."""

from adapters.security.passwords import BcryptPasswordHasher
from adapters.security.random_secrets import UrlSafeSecrets
from adapters.security.tokens import JwtTokenService

__all__ = ["BcryptPasswordHasher", "JwtTokenService", "UrlSafeSecrets"]
