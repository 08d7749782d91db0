"""Sign-up, login, tokens, password recovery, and user administration."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from incidentcore.changes import UNSET, Unset
from incidentcore.errors import (
    AuthenticationFailed,
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
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
    TokenClaims,
    TokenService,
    UnitOfWork,
    UserFilter,
)
from incidentcore.validation import NAME_MAX, check_password, check_text, normalise_email

RESET_TOKEN_TTL = timedelta(minutes=30)
INVALID_CREDENTIALS = "Incorrect email or password"
SIGNUP_CLOSED = "sign-up is closed: ask an administrator for an account"


def hash_secret(secret: str) -> str:
    """What is stored of a secret handed out (a reset token, a calendar feed's key): its SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()


def invalid_reset_token() -> ValidationFailed:
    return ValidationFailed(
        FieldError("token", "is invalid, expired, already used, or older than a change to the account")
    )


def _still_valid(user: User | None, claims: TokenClaims) -> User:
    if user is None or not user.is_active or user.credentials_version != claims.credentials_version:
        raise AuthenticationFailed("the token is no longer valid")
    return user


@dataclass(frozen=True)
class SignupPolicy:
    """Who may create their own account; admins create users (and `create-admin` admins) regardless.

    `allowed_domains`: the email domains sign-up is open to, matched exactly and case-insensitively
    against the part after the @; empty: any domain."""

    enabled: bool = True
    allowed_domains: frozenset[str] = frozenset()

    def admits(self, email: str) -> bool:
        if not self.enabled:
            return False
        domain = email.rpartition("@")[2].lower()
        return not self.allowed_domains or domain in {allowed.lower() for allowed in self.allowed_domains}


@dataclass
class _PasswordAttempt:
    succeeded: bool = False


@dataclass(frozen=True)
class NewUser:
    """An account an admin creates (`Accounts.create_user`)."""

    email: str
    password: str
    full_name: str
    role: Role = Role.USER
    team_id: int | None = None


@dataclass(frozen=True)
class ProfileChanges:
    """What users may change on their own account; a new email or password needs
    `ProfileChanges.current_password`."""

    full_name: str | Unset = UNSET
    email: str | Unset = UNSET
    password: str | Unset = UNSET
    current_password: str | Unset = UNSET


@dataclass(frozen=True)
class UserChanges:
    """What an admin may change on any account."""

    full_name: str | Unset = UNSET
    email: str | Unset = UNSET
    password: str | Unset = UNSET
    role: Role | Unset = UNSET
    team_id: int | Unset | None = UNSET
    is_active: bool | Unset = UNSET


class Accounts:
    """Sign-up, login, password reset, one's own profile, and the administration of users."""

    def __init__(
        self,
        uow: UnitOfWork,
        clock: Clock,
        hasher: PasswordHasher,
        tokens: TokenService,
        secrets: SecretGenerator,
        throttle: LoginThrottle,
        signup_policy: SignupPolicy,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.hasher = hasher
        self.tokens = tokens
        self.secrets = secrets
        self.throttle = throttle
        self.signup_policy = signup_policy

    async def signup(self, email: str, password: str, full_name: str, client: str) -> User:
        """A new user (role `Role.USER`) with no team, when the sign-up policy admits the email; a few per
        client."""
        if not self.signup_policy.enabled:
            raise PermissionDenied(SIGNUP_CLOSED)
        self._count(f"signup-client:{client}", "too many sign-ups from this address")
        if not self.signup_policy.admits(normalise_email(email)):
            raise PermissionDenied("sign-up is not open to addresses at this domain")
        return await self._create(NewUser(email, password, full_name))

    async def login(self, email: str, password: str, client: str) -> AccessToken:
        """Same answer, and about the same time, for an unknown email and a wrong password."""
        return self.tokens.issue(await self.check_login(email, password, client))

    async def check_login(self, email: str, password: str, client: str) -> User:
        """The active user with this email and password, throttled like `login` (which issues a token
        for them); a web session keeps their `TokenClaims` instead (`authenticate_claims`)."""
        email = email.strip().lower()
        user: User | None = None
        async with self._password_attempt(email, client) as attempt:
            async with self.uow:
                user = await self.uow.users.get_by_email(email)
            verified = await self.hasher.verify(password, user.password_hash if user else None)
            attempt.succeeded = user is not None and verified and user.is_active
        if user is None or not attempt.succeeded:
            raise AuthenticationFailed(INVALID_CREDENTIALS)
        return user

    @asynccontextmanager
    async def _password_attempt(self, email: str, client: str) -> AsyncIterator[_PasswordAttempt]:
        """Throttles one password check of the account `email` from `client` (set `succeeded`).

        Refused (429) after a few failures of this account from this client, or many from this
        client over all accounts. Failures of the account from everywhere only slow its checks down:
        a stranger must not be able to lock its owner out."""
        now = self.clock.now()
        from_client = f"account-client:{client} {email}"  # an address has no space: unambiguous
        hard_limits = [from_client, f"client:{client}"]
        # The attempt counts from here, before the slow check: parallel guesses cannot all get in.
        retry_after = self.throttle.begin_attempt(hard_limits, now)
        if retry_after is not None:
            raise RateLimited("too many failed password attempts", retry_after)
        account = f"account:{email}"
        attempt = _PasswordAttempt()
        try:
            await self.throttle.slow_down(account, now)
            yield attempt
        finally:
            self.throttle.end_attempt([*hard_limits, account], now, attempt.succeeded, clear=[from_client])

    def _count(self, key: str, refusal: str) -> None:
        """Counts a request against `key` for good (a success too); 429 once it has too many."""
        retry_after = self.throttle.begin_attempt([key], self.clock.now())
        if retry_after is not None:
            raise RateLimited(refusal, retry_after)

    async def authenticate(self, token: str) -> User:
        """The active user a token belongs to; a new password or email, or deactivation, ends its tokens.

        The user is read outside an `async with` block: in a request, that read begins the request's
        transaction and the use case the request then runs continues it (one transaction, one
        connection per request). Whoever owns the unit of work ends it (the HTTP app: with the request).
        """
        claims = self.tokens.decode(token)
        return _still_valid(await self.uow.users.get(claims.user_id), claims)

    async def authenticate_claims(self, claims: TokenClaims) -> User:
        """The active user `claims` name (a web session's), while the account's credentials are still
        those the claims were made under, as `authenticate` judges a token's. Read in a transaction of
        its own, ended before it returns: a web server keeps its sessions on connections of its own,
        which must not wait for this one."""
        async with self.uow:
            user = await self.uow.users.get(claims.user_id)
        return _still_valid(user, claims)

    async def request_password_reset(self, email: str, client: str) -> None:
        """Sends a single-use reset token to a known active user; says nothing either way.

        At most a few emails per address in a while (the throttle's `recovery:` limit): more requests
        are answered the same and send nothing, so nobody can flood a mailbox through this. A client
        asking too often (for any addresses) is refused (429), which tells nothing about them."""
        self._count(f"recovery-client:{client}", "too many password recovery requests from this address")
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
                PasswordResetToken(
                    user.id,
                    hash_secret(token),
                    expires_at=now + RESET_TOKEN_TTL,
                    credentials_version=user.credentials_version,
                )
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
                        idempotency_key=f"password-reset:{hash_secret(token)}",
                        created_at=now,
                    )
                ]
            )
            await self.uow.commit()

    async def reset_password(self, token: str, new_password: str, client: str) -> None:
        """Sets a new password with a reset token: once per token, and only while the account's
        credentials are those the token was issued under. Failures are limited per client."""
        check_password(new_password, "new_password")
        now = self.clock.now()
        keys = [f"reset-client:{client}"]
        retry_after = self.throttle.begin_attempt(keys, now)
        if retry_after is not None:
            raise RateLimited("too many failed password resets from this address", retry_after)
        succeeded = False
        try:
            await self._reset_password(hash_secret(token), new_password)
            succeeded = True
        finally:
            self.throttle.end_attempt(keys, now, succeeded)

    async def _reset_password(self, token_hash: str, new_password: str) -> None:
        # The token is checked first, so a made-up one costs a lookup, not a bcrypt hash. Hashing then
        # runs with no transaction open (no row lock, no SQLite write lock held for its duration),
        # and the token is claimed only after it: the claim is one atomic UPDATE, so of concurrent
        # resets with one token exactly one changes the password; the others answer 400.
        async with self.uow:
            issued = await self.uow.reset_tokens.get(token_hash)
            user = await self.uow.users.get(issued.user_id) if issued is not None else None
        if issued is None or user is None or not (issued.usable(self.clock.now()) and issued.valid_for(user)):
            raise invalid_reset_token()
        password_hash = await self.hasher.hash(new_password)
        async with self.uow:
            claimed = await self.uow.reset_tokens.use(token_hash, self.clock.now())
            user = await self.uow.users.get(claimed.user_id, for_update=True) if claimed is not None else None
            if claimed is None or user is None or not claimed.valid_for(user):
                raise invalid_reset_token()  # leaving the block rolls the claim back
            user.change_password(password_hash)
            await self.uow.users.update(user)
            await self.uow.commit()

    async def update_me(self, actor: User, changes: ProfileChanges, client: str) -> User:
        """Name, email and password. A new email or password needs `ProfileChanges.current_password`
        (checked and throttled like a login), so a stolen token cannot be turned into the account for good."""
        require(actor, Action.SELF_MANAGE)
        update = UserChanges(full_name=changes.full_name, email=changes.email, password=changes.password)
        # Bad input is refused before the (slow, throttled) password check.
        if changes.password is not UNSET:
            check_password(changes.password)
        new_email = normalise_email(changes.email) if changes.email is not UNSET else actor.email
        if changes.password is not UNSET or new_email != actor.email:
            await self._confirm_password(actor, changes.current_password, client)
            return await self._update(actor.id, update, credentials_version=actor.credentials_version)
        return await self._update(actor.id, update)

    async def _confirm_password(self, actor: User, password: str | Unset, client: str) -> None:
        if password is UNSET:
            raise ValidationFailed(
                FieldError("current_password", "is required to change the email or password")
            )
        async with self._password_attempt(actor.email, client) as attempt:
            attempt.succeeded = await self.hasher.verify(password, actor.password_hash)
        if not attempt.succeeded:
            raise ValidationFailed(FieldError("current_password", "is not the current password"))

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

    async def update_user(self, actor: User, user_id: int, changes: UserChanges) -> User:
        require(actor, Action.USER_MANAGE)
        if user_id == actor.id and (changes.is_active is False or changes.role not in (UNSET, Role.ADMIN)):
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
            for schedule in await self.uow.schedules.list_all():
                if user_id in schedule.participant_ids:
                    raise Conflict(f"schedule {schedule.id} ({schedule.name}) has this user in its rotation")
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
        check_text("full_name", new.full_name, NAME_MAX, required=True)
        # A taken email or a missing team costs a lookup, not a bcrypt hash. The unique index and the
        # foreign key still decide a race with another request.
        async with self.uow:
            if await self.uow.users.get_by_email(email) is not None:
                raise Conflict(f"a user with email {email} already exists")
            await self._check_team(new.team_id)
        password_hash = await self.hasher.hash(new.password)
        async with self.uow:
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

    async def _update(self, user_id: int, changes: UserChanges, *, credentials_version: int | None = None) -> User:
        """`credentials_version`: the one the caller's password was confirmed against; should the
        credentials have changed since, the change is refused (the caller's token has just died)."""
        new_hash = None
        if changes.password is not UNSET:
            check_password(changes.password)
            new_hash = await self.hasher.hash(changes.password)
        if changes.full_name is not UNSET:
            check_text("full_name", changes.full_name, NAME_MAX, required=True)
        async with self.uow:
            user = await self._load(user_id, for_update=True)
            if credentials_version is not None and user.credentials_version != credentials_version:
                raise AuthenticationFailed("the token is no longer valid")
            if changes.email is not UNSET:
                user.change_email(normalise_email(changes.email))
            if changes.full_name is not UNSET:
                user.full_name = changes.full_name.strip()
            if changes.role is not UNSET:
                user.role = changes.role
            if changes.team_id is not UNSET:
                await self._check_team(changes.team_id)
                user.team_id = changes.team_id
            if changes.is_active is not UNSET:
                user.set_active(changes.is_active)
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
