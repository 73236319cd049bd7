"""Use cases of users and tokens: log in, refresh, revoke, authenticate a request, manage users."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from omlsvc.auth.passwords import hash_password, verify_nobody, verify_password
from omlsvc.auth.store import LoginFailureStore, User, UserStore
from omlsvc.auth.throttle import BackOff, PasswordChecks, throttle_keys
from omlsvc.auth.tokens import Claims, TokenCodec
from omlsvc.config import Settings
from omlsvc.core.authorization import ADMIN, DEVELOPER, ROLES, Principal
from omlsvc.core.errors import InvalidInput, TokenExpired, TooManyRequests, Unauthorized
from omlsvc.core.observe import UNOBSERVED, Observer
from omlsvc.core.patterns import DB_ROLE, USER_NAME
from omlsvc.db.changes import WorkerCache
from omlsvc.db.transactions import Transactions

MIN_PASSWORD_LENGTH = 8
#: issue 19: the longest password accepted (characters); hashing reads at most 1 KiB of it anyway.
MAX_PASSWORD_LENGTH = 256


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret


class AuthService:
    def __init__(
        self,
        transactions: Transactions,
        codec: TokenCodec,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        password_checks: PasswordChecks | None = None,
        observer: Observer = UNOBSERVED,
    ) -> None:
        """``transactions`` carry the worker's change feed (shared with the other services, so that a
        revocation here empties every cache here at once). ``password_checks``
        bounds the password hashing this worker does at once (``settings.login_concurrency``)."""
        self._transactions = transactions
        self._observer = observer  # told every refused login
        self._codec = codec
        self._lifetime = settings.token_lifetime_s
        self._refresh_window = settings.token_refresh_window_s
        self._clock = clock
        self._changes = transactions.changes
        self._backoff = BackOff(settings.login_free_attempts, settings.login_max_delay_s)
        self._password_checks = password_checks or PasswordChecks(settings.login_concurrency)
        #: token -> (expiry, principal) of tokens verified since the last change anywhere.
        self._verified: WorkerCache[str, tuple[int, Principal]] = WorkerCache(self._changes)

    # -- tokens -------------------------------------------------------------------------------

    def login(self, username: str, password: str, client_address: str | None = None) -> IssuedToken:
        """Check a password and issue a token that starts a new family.

        Unknown users and wrong passwords fail identically (message, timing, throttling). A user
        name or client address still waiting after earlier failures is refused with
        :class:`TooManyRequests` before any password is hashed, as is a login that finds all of this
        worker's password-check slots taken.
        """
        valid_name = USER_NAME.fullmatch(username) is not None
        keys = throttle_keys(username if valid_name else None, client_address)
        with self._transactions() as uow:
            blocked_until = LoginFailureStore(uow.connection).blocked_until(keys) if keys else None
            now = _datetime(self._clock())
            if blocked_until is not None and blocked_until > now:
                wait = math.ceil((blocked_until - now).total_seconds())
                unit = "second" if wait == 1 else "seconds"
                self._observer.login_throttled()
                raise TooManyRequests(f"Too many failed logins; retry in {wait} {unit}.", retry_after_s=wait)
            user = UserStore(uow.connection).get(username) if valid_name else None
        with self._password_checks.slot():
            if user is None:
                accepted = verify_nobody(password)
            else:
                accepted = verify_password(password, user.password_hash) and not user.disabled
        if user is None or not accepted:
            self._count_failure(keys)
            self._observer.login_failed()
            raise Unauthorized("Invalid username or password.")
        if blocked_until is not None:  # failures on record: a success forgets them
            self._forget_failures(keys)
        now_s = int(self._clock())
        return self._issue(user.name, user.roles, user.generation, now=now_s, auth_time=now_s)

    def _count_failure(self, keys: tuple[str, ...]) -> None:
        now = _datetime(self._clock())
        since = now - timedelta(seconds=self._backoff.forget_after_s)
        with self._transactions(write=True) as uow:
            store = LoginFailureStore(uow.connection)
            for key in keys:
                failures = store.failures(key, since) + 1
                delay = timedelta(seconds=self._backoff.delay_after(failures))
                store.put(key, failures, blocked_until=now + delay, updated_at=now)
            uow.commit()
        self._purge_failures(since)

    def _forget_failures(self, keys: tuple[str, ...]) -> None:
        with self._transactions(write=True) as uow:
            LoginFailureStore(uow.connection).clear(keys)
            uow.commit()
        self._purge_failures(_datetime(self._clock()) - timedelta(seconds=self._backoff.forget_after_s))

    def _purge_failures(self, before: datetime) -> None:
        # its own transaction, after the counted one: it skips rows others hold and never waits.
        with self._transactions(write=True) as uow:
            LoginFailureStore(uow.connection).purge(before)
            uow.commit()

    def refresh(self, token: str) -> IssuedToken:
        """A new token of the same family for a valid one, until the refresh window after the
        original login closes."""
        claims = self._verify(token)
        now = int(self._clock())
        deadline = claims.auth_time + self._refresh_window
        if now >= deadline:
            raise Unauthorized("The login is too old to refresh its token; log in again.")
        return self._issue(
            claims.subject,
            claims.roles,
            claims.generation,
            now=now,
            auth_time=claims.auth_time,
            family=claims.family,
        )

    def revoke(self, token: str) -> None:
        """Revoke the token's whole family: the login it came from and every token refreshed from it.
        The revocation is kept until the last token the family could hold expires."""
        claims = self._verify(token)
        family_ends = _datetime(claims.auth_time + self._refresh_window)
        with self._transactions(write=True) as uow:
            UserStore(uow.connection).revoke(claims.family, max(family_ends, _datetime(claims.expires_at)))
            uow.commit(announce=True)

    def authenticate(self, token: str) -> Principal:
        """Who sends ``token``. The signature check and the revocation/user lookup run once per token
        per worker; until a change is recorded (or the token expires) the answer comes from a cache,
        so revocations and disabled users take effect within a second everywhere, at once here."""
        expires_at, principal = self._verified.get(token, lambda: self._verified_principal(token))
        if expires_at <= int(self._clock()):
            raise TokenExpired("The access token has expired; obtain a new one.")
        return principal

    def _verified_principal(self, token: str) -> tuple[int, Principal]:
        claims = self._verify(token)
        return claims.expires_at, Principal(claims.subject, claims.roles)

    def _verify(self, token: str) -> Claims:
        claims = self._codec.decode(token, now=int(self._clock()))
        with self._transactions() as uow:
            standing = UserStore(uow.connection).token_standing(claims.subject, claims.jti, claims.family)
        if standing.revoked:
            raise Unauthorized("The access token has been revoked.")
        if not standing.active:
            raise Unauthorized("The access token's user is disabled or no longer exists.")
        if claims.generation != standing.generation:
            raise Unauthorized("The access token was issued before the user's access changed; log in again.")
        return claims

    def _issue(
        self,
        subject: str,
        roles: tuple[str, ...],
        generation: int,
        *,
        now: int,
        auth_time: int,
        family: str | None = None,
    ) -> IssuedToken:
        expires_at = min(now + self._lifetime, auth_time + self._refresh_window)
        token = self._codec.encode(
            subject=subject,
            roles=roles,
            now=now,
            expires_at=expires_at,
            auth_time=auth_time,
            generation=generation,
            family=family,
        )
        return IssuedToken(access_token=token, expires_in=expires_at - now)

    # -- users --------------------------------------------------------------------------------

    def add_user(
        self, name: str, password: str, role: str = "developer", *, db_role: str | None = None
    ) -> None:
        """``db_role``: the database identity the user's jobs run as (None: the default, their name)."""
        check_user_name(name)
        check_password(password)
        roles = _roles(role)
        check_db_role(db_role)
        with self._transactions(write=True) as uow:
            UserStore(uow.connection).add(
                name, hash_password(password), roles, _datetime(self._clock()), db_role=db_role
            )
            uow.commit()

    def ensure_admin(self, password: str) -> bool:
        """Create the ``admin`` user when the database has no user at all; True when it did."""
        with self._transactions(write=True) as uow:
            store = UserStore(uow.connection)
            if store.count() > 0:
                return False
            check_password(password)
            store.add(ADMIN, hash_password(password), (DEVELOPER, ADMIN), _datetime(self._clock()))
            uow.commit()
        return True

    def set_password(self, name: str, password: str) -> None:
        """Change a password; every token issued before stops working (within a second everywhere)."""
        check_password(password)
        password_hash = hash_password(password)
        self._change_access(lambda store: store.set_password(name, password_hash))

    def set_disabled(self, name: str, disabled: bool = True) -> None:
        """Disable or enable a user; either way every token issued before stops working, so enabling
        a user again never revives the sessions they had."""
        self._change_access(lambda store: store.set_disabled(name, disabled))

    def set_role(self, name: str, role: str) -> None:
        """Make a user a ``developer`` or an ``admin``; every token issued before stops working."""
        roles = _roles(role)
        self._change_access(lambda store: store.set_roles(name, roles))

    def _change_access(self, change: Callable[[UserStore], None]) -> None:
        """Apply a change that moves the user's generation on, and tell every worker's caches."""
        with self._transactions(write=True) as uow:
            change(UserStore(uow.connection))
            uow.commit(announce=True)

    def find_user(self, name: str) -> User | None:
        with self._transactions() as uow:
            return UserStore(uow.connection).get(name)

    def list_users(self) -> list[User]:
        with self._transactions() as uow:
            return UserStore(uow.connection).list()

    # -- for other capabilities (no caller: the job runner acts for a job's owner) -----------------

    def principal_of(self, name: str) -> Principal | None:
        """The enabled user ``name`` as a :class:`Principal` (None: no such user, or disabled)."""
        user = self.find_user(name)
        return None if user is None or user.disabled else Principal(user.name, user.roles)

    def db_role_of(self, name: str) -> str | None:
        """The database identity set for user ``name`` (None: the default, or no such user)."""
        user = self.find_user(name)
        return None if user is None else user.db_role


def check_user_name(name: str) -> None:
    if not USER_NAME.fullmatch(name):
        raise InvalidInput(
            f"Invalid user name {name!r}: a letter, then up to 127 letters, digits, '_', '$' or '#'."
        )


def _roles(role: str) -> tuple[str, ...]:
    if role not in ROLES:
        raise InvalidInput(f"Unknown role {role!r}; expected one of {', '.join(ROLES)}.")
    return (DEVELOPER, ADMIN) if role == ADMIN else (DEVELOPER,)


def check_password(password: str) -> None:
    """The password policy, for every way a password is set (CLI, HTTP, first start)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"A password has at most {MAX_PASSWORD_LENGTH} characters.")


def check_role(role: str) -> None:
    _roles(role)


def check_db_role(db_role: str | None) -> None:
    if db_role is not None and not DB_ROLE.fullmatch(db_role):
        raise InvalidInput(
            f"Invalid database role {db_role!r}: a letter or '_', then up to 62 letters, digits, '_' or '$'."
        )


def _datetime(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None)
