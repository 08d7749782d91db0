"""Unguessable secrets for integration keys and password reset tokens."""

from __future__ import annotations

import secrets

from incidentcore.ports import SecretGenerator

SECRET_BYTES = 32


class UrlSafeSecrets(SecretGenerator):
    def new_secret(self) -> str:
        return secrets.token_urlsafe(SECRET_BYTES)
