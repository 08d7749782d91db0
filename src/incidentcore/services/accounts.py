"""Sign-up, login, tokens, password recovery, and user administration."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from incidentcore.errors import (
    AuthenticationFailed,
    Conflict,
    FieldError,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from incidentcore.model import Channel, Notification, PasswordResetToken, Role, User
from incidentcore.permissions import Action, require
from incidentcore.ports import (
    AccessToken,
    Clock,
    LoginThrottle,
    Page,
    Paged,
    PasswordHasher,
    SecretGenerator,
    TokenService,
    UnitOfWork,
    UserFilter,
)
from incidentcore.validation import check_text

PASSWORD_MIN = 8
PASSWORD_MAX = 4096
RESET_TOKEN_TTL = timedelta(minutes=30)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
INVALID_CREDENTIALS = "Incorrect email or password"


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValidationFailed(FieldError("email", "is not a valid email address"))
    return email


def check_password(password: str, field: str = "password") -> None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise ValidationFailed(FieldError(field, f"must be {PASSWORD_MIN} to {PASSWORD_MAX} characters"))


def hash_reset_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewUser:
    email: str
    password: str
    full_name: str
    role: Role = Role.USER
    team_id: int | None = None


class Accounts:
    def __init__(
        self,
        uow: UnitOfWork,
        clock: Clock,
        hasher: PasswordHasher,
        tokens: TokenService,
        secrets: SecretGenerator,
        throttle: LoginThrottle,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.hasher = hasher
        self.tokens = tokens
        self.secrets = secrets
        self.throttle = throttle

    async def signup(self, email: str, password: str, full_name: str) -> User:
        return await self._create(NewUser(email, password, full_name))

    async def login(self, email: str, password: str, client: str) -> AccessToken:
        """Same answer, and about the same time, for an unknown email and a wrong password."""
        now = self.clock.now()
        email = email.strip().lower()
        account_key = f"account:{email}"
        keys = [account_key, f"client:{client}"]
        # The attempt counts from here, before the slow check: parallel guesses cannot all get in.
        retry_after = self.throttle.begin_attempt(keys, now)
        if retry_after is not None:
            raise RateLimited("too many failed login attempts", retry_after)
        user: User | None = None
        succeeded = False
        try:
            async with self.uow:
                user = await self.uow.users.get_by_email(email)
            verified = await self.hasher.verify(password, user.password_hash if user else None)
            succeeded = user is not None and verified and user.is_active
        finally:
            self.throttle.end_attempt(keys, now, succeeded, clear=[account_key])
        if user is None or not succeeded:
            raise AuthenticationFailed(INVALID_CREDENTIALS)
        return self.tokens.issue(user)

    async def authenticate(self, token: str) -> User:
        """The active user a token belongs to; tokens die on password change and deactivation."""
        claims = self.tokens.decode(token)
        async with self.uow:
            user = await self.uow.users.get(claims.user_id)
        if user is None or not user.is_active or user.credentials_version != claims.credentials_version:
            raise AuthenticationFailed("the token is no longer valid")
        return user

    async def request_password_reset(self, email: str) -> None:
        """Sends a single-use reset token to a known active user; says nothing either way.

        At most a few emails per address in a while (the throttle's `recovery:` limit): more requests
        are answered the same and send nothing, so nobody can flood a mailbox through this."""
        try:
            email = normalise_email(email)
        except ValidationFailed:
            return
        now = self.clock.now()
        # Every request counts against the address, sent or not; it is never ended as a success.
        if self.throttle.begin_attempt([f"recovery:{email}"], now) is not None:
            return
        async with self.uow:
            user = await self.uow.users.get_by_email(email)
            if user is None or not user.is_active:
                return
            token = self.secrets.new_secret()
            await self.uow.reset_tokens.add(
                PasswordResetToken(user.id, hash_reset_token(token), expires_at=now + RESET_TOKEN_TTL)
            )
            minutes = int(RESET_TOKEN_TTL.total_seconds() // 60)
            body = (
                "Someone asked to reset the password of your incidentcore account.\n"
                f"Reset token: {token}\n"
                f"Send it with a new password to POST /v1/auth/reset-password/ within {minutes} minutes.\n"
                "If it was not you, ignore this message."
            )
            await self.uow.notifications.add_new(
                [
                    Notification(
                        user_id=None,  # an email to an address, not a page: it must not pin the user
                        channel=Channel.EMAIL,
                        address=user.email,
                        subject="incidentcore password reset",
                        body=body,
                        idempotency_key=f"password-reset:{hash_reset_token(token)}",
                        created_at=now,
                    )
                ]
            )
            await self.uow.commit()

    async def reset_password(self, token: str, new_password: str) -> None:
        check_password(new_password, "new_password")
        password_hash = await self.hasher.hash(new_password)  # slow: before the transaction, not in it
        async with self.uow:
            # Marking the token used is what claims it: of concurrent resets with one token, one wins.
            user_id = await self.uow.reset_tokens.use(hash_reset_token(token), self.clock.now())
            user = await self.uow.users.get(user_id, for_update=True) if user_id is not None else None
            if user is None or not user.is_active:
                raise ValidationFailed(FieldError("token", "is invalid, expired or already used"))
            user.change_password(password_hash)
            await self.uow.users.update(user)
            await self.uow.commit()

    async def update_me(self, actor: User, changes: dict[str, Any]) -> User:
        require(actor, Action.SELF_MANAGE)
        allowed = {"full_name", "email", "password"}
        if set(changes) - allowed:
            fields = sorted(set(changes) - allowed)
            raise ValidationFailed([FieldError(f, "cannot be changed by the user") for f in fields])
        return await self._update(actor.id, changes)

    async def create_user(self, actor: User, new: NewUser) -> User:
        require(actor, Action.USER_MANAGE)
        return await self._create(new)

    async def get_user(self, actor: User, user_id: int) -> User:
        require(actor, Action.USER_MANAGE)
        async with self.uow:
            return await self._load(user_id)

    async def list_users(self, actor: User, where: UserFilter, page: Page) -> Paged[User]:
        require(actor, Action.USER_MANAGE)
        async with self.uow:
            return await self.uow.users.list(where, page)

    async def update_user(self, actor: User, user_id: int, changes: dict[str, Any]) -> User:
        require(actor, Action.USER_MANAGE)
        if user_id == actor.id and (
            changes.get("is_active") is False or changes.get("role", Role.ADMIN) != Role.ADMIN
        ):
            raise Conflict("an admin cannot deactivate or demote themselves")
        return await self._update(user_id, changes)

    async def delete_user(self, actor: User, user_id: int) -> None:
        require(actor, Action.USER_MANAGE)
        if user_id == actor.id:
            raise Conflict("an admin cannot delete themselves")
        async with self.uow:
            await self._load(user_id)
            for policy in await self.uow.policies.list_all():
                if policy.pages_user(user_id):
                    raise Conflict(f"escalation policy {policy.id} ({policy.name}) pages this user")
            try:
                await self.uow.users.delete(user_id)
                await self.uow.commit()
            except Conflict as history:
                raise Conflict(f"{history.detail}; deactivate the user instead (is_active: false)") from None

    async def ensure_admin(self, email: str, password: str, full_name: str = "Administrator") -> User:
        """Creates an admin, or promotes (and re-passwords, re-activates) an existing user."""
        email = normalise_email(email)
        check_password(password)
        password_hash = await self.hasher.hash(password)
        async with self.uow:
            user = await self.uow.users.get_by_email(email)
            if user is not None:
                user = await self.uow.users.get(user.id, for_update=True)
            if user is None:
                user = await self.uow.users.add(
                    User(email, full_name, password_hash, Role.ADMIN, created_at=self.clock.now())
                )
            else:
                user.role = Role.ADMIN
                user.set_active(True)
                user.change_password(password_hash)
                await self.uow.users.update(user)
            await self.uow.commit()
        return user

    async def _create(self, new: NewUser) -> User:
        email = normalise_email(new.email)
        check_password(new.password)
        check_text("full_name", new.full_name, 200, required=True)
        password_hash = await self.hasher.hash(new.password)
        async with self.uow:
            await self._check_team(new.team_id)
            user = await self.uow.users.add(
                User(
                    email=email,
                    full_name=new.full_name.strip(),
                    password_hash=password_hash,
                    role=new.role,
                    team_id=new.team_id,
                    created_at=self.clock.now(),
                )
            )
            await self.uow.commit()
        return user

    async def _update(self, user_id: int, changes: dict[str, Any]) -> User:
        new_hash = None
        if "password" in changes:
            check_password(changes["password"])
            new_hash = await self.hasher.hash(changes["password"])
        async with self.uow:
            user = await self._load(user_id, for_update=True)
            for name, value in changes.items():
                if name == "email":
                    user.email = normalise_email(value)
                elif name == "full_name":
                    check_text("full_name", value, 200, required=True)
                    user.full_name = value.strip()
                elif name == "role":
                    if value is None:
                        raise ValidationFailed(FieldError("role", "must not be null"))
                    user.role = Role(value)
                elif name == "team_id":
                    await self._check_team(value)
                    user.team_id = value
                elif name == "is_active":
                    user.set_active(bool(value))
            if new_hash is not None:
                user.change_password(new_hash)
            await self.uow.users.update(user)
            await self.uow.commit()
        return user

    async def _load(self, user_id: int, *, for_update: bool = False) -> User:
        user = await self.uow.users.get(user_id, for_update=for_update)
        if user is None:
            raise NotFound(f"user {user_id} does not exist")
        return user

    async def _check_team(self, team_id: int | None) -> None:
        if team_id is not None and await self.uow.teams.get(team_id) is None:
            raise ValidationFailed(FieldError("team_id", f"team {team_id} does not exist"))
