"""Users and revoked tokens in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from omlsvc.db.schema import revoked_tokens, users
from omlsvc.errors import Conflict, NotFound

ROLE_SEPARATOR = ","


@dataclass(frozen=True)
class User:
    name: str
    password_hash: str
    roles: tuple[str, ...]
    disabled: bool
    created_at: datetime
    #: the database identity a job of this user runs as; None: the default (see omlsvc.jobs.access).
    db_role: str | None = None


class UserStore:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def get(self, name: str) -> User | None:
        row = self._connection.execute(select(users).where(users.c.name == name)).one_or_none()
        if row is None:
            return None
        return User(
            name=row.name,
            password_hash=row.password_hash,
            roles=tuple(r for r in row.roles.split(ROLE_SEPARATOR) if r),
            disabled=bool(row.disabled),
            created_at=row.created_at,
            db_role=row.db_role,
        )

    def list(self) -> list[User]:
        names = self._connection.execute(select(users.c.name).order_by(users.c.name)).scalars().all()
        return [user for user in map(self.get, names) if user is not None]

    def count(self) -> int:
        return len(self._connection.execute(select(users.c.name)).all())

    def add(
        self,
        name: str,
        password_hash: str,
        roles: tuple[str, ...],
        created_at: datetime,
        db_role: str | None = None,
    ) -> None:
        try:
            with self._connection.begin_nested():
                self._connection.execute(
                    insert(users).values(
                        name=name,
                        password_hash=password_hash,
                        roles=ROLE_SEPARATOR.join(roles),
                        disabled=False,
                        created_at=created_at,
                        db_role=db_role,
                    )
                )
        except IntegrityError:
            raise Conflict(f"User {name!r} already exists.") from None

    def set_password(self, name: str, password_hash: str) -> None:
        self._update(name, password_hash=password_hash)

    def set_disabled(self, name: str, disabled: bool) -> None:
        self._update(name, disabled=disabled)

    def _update(self, name: str, **values: object) -> None:
        result = self._connection.execute(update(users).where(users.c.name == name).values(**values))
        if result.rowcount == 0:
            raise NotFound(f"User {name!r} does not exist.")

    def token_standing(self, name: str, jti: str) -> tuple[bool, bool]:
        """(user exists and is enabled, token is revoked), in one round trip: run on every request."""
        revoked = exists().where(revoked_tokens.c.jti == jti)
        row = self._connection.execute(
            select(users.c.disabled, revoked.label("revoked")).where(users.c.name == name)
        ).one_or_none()
        if row is None:
            return False, False
        return not row.disabled, bool(row.revoked)

    def revoke(self, jti: str, expires_at: datetime) -> None:
        try:
            with self._connection.begin_nested():
                self._connection.execute(insert(revoked_tokens).values(jti=jti, expires_at=expires_at))
        except IntegrityError:
            pass  # revoking twice is not an error

    def purge_revoked(self, before: datetime) -> int:
        """Forget revocations of tokens that have expired anyway."""
        result = self._connection.execute(delete(revoked_tokens).where(revoked_tokens.c.expires_at < before))
        return result.rowcount
