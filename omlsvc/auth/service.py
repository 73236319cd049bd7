"""Use cases of users and tokens: log in, refresh, revoke, authenticate a request, manage users."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from omlsvc.auth.passwords import hash_password, verify_nobody, verify_password
from omlsvc.auth.store import User, UserStore
from omlsvc.auth.tokens import Claims, TokenCodec
from omlsvc.authorization import ADMIN, DEVELOPER, ROLES, Principal
from omlsvc.config import Settings
from omlsvc.db.changes import ChangeFeed, WorkerCache
from omlsvc.db.uow import UnitOfWork
from omlsvc.errors import InvalidInput, TokenExpired, Unauthorized

USER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_$#]{0,127}")
MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret


class AuthService:
    def __init__(
        self,
        engine: Engine,
        codec: TokenCodec,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        changes: ChangeFeed | None = None,
    ) -> None:
        """``changes`` is the worker's feed (shared with the other services, so that a revocation
        here empties every cache here at once); a private one by default."""
        self._engine = engine
        self._codec = codec
        self._lifetime = settings.token_lifetime_s
        self._refresh_window = settings.token_refresh_window_s
        self._clock = clock
        self._changes = changes or ChangeFeed(engine)
        #: token -> (expiry, principal) of tokens verified since the last change anywhere.
        self._verified: WorkerCache[str, tuple[int, Principal]] = WorkerCache(self._changes)

    # -- tokens -------------------------------------------------------------------------------

    def login(self, username: str, password: str) -> IssuedToken:
        """Check a password and issue a token. Unknown users and wrong passwords fail identically."""
        with UnitOfWork(self._engine) as uow:
            user = UserStore(uow.connection).get(username) if USER_NAME.fullmatch(username) else None
        if user is None:
            verify_nobody(password)
            raise Unauthorized("Invalid username or password.")
        if not verify_password(password, user.password_hash) or user.disabled:
            raise Unauthorized("Invalid username or password.")
        now = int(self._clock())
        return self._issue(user.name, user.roles, now=now, auth_time=now)

    def refresh(self, token: str) -> IssuedToken:
        """A new token for a valid one, until the refresh window after the original login closes."""
        claims = self._verify(token)
        now = int(self._clock())
        deadline = claims.auth_time + self._refresh_window
        if now >= deadline:
            raise Unauthorized("The login is too old to refresh its token; log in again.")
        return self._issue(claims.subject, claims.roles, now=now, auth_time=claims.auth_time)

    def revoke(self, token: str) -> None:
        claims = self._verify(token)
        with UnitOfWork(self._engine, write=True) as uow:
            UserStore(uow.connection).revoke(claims.jti, _datetime(claims.expires_at))
            self._changes.record(uow.connection)
            uow.commit()
        self._changes.changed()

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
        with UnitOfWork(self._engine) as uow:
            active, revoked = UserStore(uow.connection).token_standing(claims.subject, claims.jti)
        if revoked:
            raise Unauthorized("The access token has been revoked.")
        if not active:
            raise Unauthorized("The access token's user is disabled or no longer exists.")
        return claims

    def _issue(self, subject: str, roles: tuple[str, ...], *, now: int, auth_time: int) -> IssuedToken:
        expires_at = min(now + self._lifetime, auth_time + self._refresh_window)
        token = self._codec.encode(
            subject=subject, roles=roles, now=now, expires_at=expires_at, auth_time=auth_time
        )
        return IssuedToken(access_token=token, expires_in=expires_at - now)

    # -- users --------------------------------------------------------------------------------

    def add_user(self, name: str, password: str, role: str = "developer") -> None:
        _check_user_name(name)
        _check_password(password)
        if role not in ROLES:
            raise InvalidInput(f"Unknown role {role!r}; expected one of {', '.join(ROLES)}.")
        roles = (DEVELOPER, ADMIN) if role == ADMIN else (DEVELOPER,)
        with UnitOfWork(self._engine, write=True) as uow:
            UserStore(uow.connection).add(name, hash_password(password), roles, _datetime(self._clock()))
            uow.commit()

    def ensure_admin(self, password: str) -> bool:
        """Create the ``admin`` user when the database has no user at all; True when it did."""
        with UnitOfWork(self._engine, write=True) as uow:
            store = UserStore(uow.connection)
            if store.count() > 0:
                return False
            _check_password(password)
            store.add(ADMIN, hash_password(password), (DEVELOPER, ADMIN), _datetime(self._clock()))
            uow.commit()
        return True

    def set_password(self, name: str, password: str) -> None:
        _check_password(password)
        with UnitOfWork(self._engine, write=True) as uow:
            UserStore(uow.connection).set_password(name, hash_password(password))
            uow.commit()

    def set_disabled(self, name: str, disabled: bool = True) -> None:
        with UnitOfWork(self._engine, write=True) as uow:
            UserStore(uow.connection).set_disabled(name, disabled)
            self._changes.record(uow.connection)
            uow.commit()
        self._changes.changed()

    def find_user(self, name: str) -> User | None:
        with UnitOfWork(self._engine) as uow:
            return UserStore(uow.connection).get(name)

    def list_users(self) -> list[User]:
        with UnitOfWork(self._engine) as uow:
            return UserStore(uow.connection).list()


def _check_user_name(name: str) -> None:
    if not USER_NAME.fullmatch(name):
        raise InvalidInput(
            f"Invalid user name {name!r}: a letter, then up to 127 letters, digits, '_', '$' or '#'."
        )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")


def _datetime(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None)
