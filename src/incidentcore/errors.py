"""Domain errors. Entrypoints map each to one HTTP status; the core never knows HTTP."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One offending input field (`field`, e.g. `steps[0].delay_minutes`) and what is wrong with it."""

    field: str
    message: str


class DomainError(Exception):
    """Base of every error the core raises on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    """The addressed resource does not exist (or is not visible to the actor)."""


class Conflict(DomainError):
    """The request clashes with existing state: a duplicate, or a delete of something still referenced."""


class InvalidTransition(Conflict):
    """The entity's current state does not allow the requested action."""


class PermissionDenied(DomainError):
    """The actor is authenticated but not allowed to do this."""


class AuthenticationFailed(DomainError):
    """Credentials or token are missing, wrong, expired or revoked."""


class RateLimited(DomainError):
    """Too many attempts; try again after `retry_after` seconds."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ValidationFailed(DomainError):
    """Input is well-formed but breaks a rule; `errors` names each offending field."""

    def __init__(self, errors: list[FieldError] | FieldError) -> None:
        self.errors = [errors] if isinstance(errors, FieldError) else list(errors)
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in self.errors))


class StaleState(Conflict):
    """An optimistic (fenced) write lost a race: someone else changed the row since it was read."""
