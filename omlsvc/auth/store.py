"""Users, revoked token families and failed logins in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from omlsvc.core.errors import Conflict, NotFound
from omlsvc.db.schema import login_failures, revoked_tokens, users

ROLE_SEPARATOR = ","
#: Most stale login-failure rows one purge deletes (each failed login runs one).
PURGE_BATCH = 500


@dataclass(frozen=True)
class User:
    name: str
    password_hash: str
    roles: tuple[str, ...]
    disabled: bool
    created_at: datetime
    #: bumped by every change that must end the user's earlier sessions; tokens carry it.
    generation: int = 0
    #: the database identity a job of this user runs as; None: the default (see omlsvc.jobs.access).
    db_role: str | None = None


@dataclass(frozen=True)
class TokenStanding:
    """What a token's verification needs from the database, read in one round trip."""

    #: the user exists and is enabled.
    active: bool
    #: the token, or its family, is revoked.
    revoked: bool
    #: the user's current generation (0 when the user does not exist).
    generation: int


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
            generation=int(row.generation),
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
        """Change the password and end every earlier session (the generation moves on)."""
        self._update(name, password_hash=password_hash, generation=users.c.generation + 1)

    def set_disabled(self, name: str, disabled: bool) -> None:
        """Disable or enable; either ends every earlier session, so enabling never revives them."""
        self._update(name, disabled=disabled, generation=users.c.generation + 1)

    def set_roles(self, name: str, roles: tuple[str, ...]) -> None:
        """Change the roles and end every earlier session (its tokens carry the old roles)."""
        self._update(name, roles=ROLE_SEPARATOR.join(roles), generation=users.c.generation + 1)

    def _update(self, name: str, **values: object) -> None:
        result = self._connection.execute(update(users).where(users.c.name == name).values(**values))
        if result.rowcount == 0:
            raise NotFound(f"User {name!r} does not exist.")

    def token_standing(self, name: str, jti: str, family: str) -> TokenStanding:
        """The user's state and whether the token or its family is revoked, in one round trip."""
        revoked = exists().where(revoked_tokens.c.jti.in_((jti, family)))
        row = self._connection.execute(
            select(users.c.disabled, users.c.generation, revoked.label("revoked")).where(users.c.name == name)
        ).one_or_none()
        if row is None:
            return TokenStanding(active=False, revoked=False, generation=0)
        return TokenStanding(
            active=not row.disabled, revoked=bool(row.revoked), generation=int(row.generation)
        )

    def revoke(self, jti: str, expires_at: datetime) -> None:
        """Revoke a token id, or a family id (every token refreshed from one login); ``expires_at``
        is when the last token it covers expires anyway, after which the row can go."""
        try:
            with self._connection.begin_nested():
                self._connection.execute(insert(revoked_tokens).values(jti=jti, expires_at=expires_at))
        except IntegrityError:
            pass  # revoking twice is not an error

    def purge_revoked(self, before: datetime) -> int:
        """Forget revocations of tokens that have expired anyway."""
        result = self._connection.execute(delete(revoked_tokens).where(revoked_tokens.c.expires_at < before))
        return result.rowcount


class LoginFailureStore:
    """Failed logins per throttling key ("user:NAME", "addr:IP"), shared by every worker and instance."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def blocked_until(self, keys: tuple[str, ...]) -> datetime | None:
        """The latest ``blocked_until`` of ``keys``; None when none of them has failures on record."""
        value = self._connection.execute(
            select(func.max(login_failures.c.blocked_until)).where(login_failures.c.throttle_key.in_(keys))
        ).scalar()
        return value if isinstance(value, datetime) else None

    def failures(self, key: str, since: datetime) -> int:
        """Failures of ``key`` counted since ``since`` (older ones are forgotten), locking its row
        until the transaction ends so concurrent failures of one key are all counted."""
        row = self._connection.execute(
            select(login_failures.c.failures, login_failures.c.updated_at)
            .where(login_failures.c.throttle_key == key)
            .with_for_update()
        ).one_or_none()
        if row is None or row.updated_at < since:
            return 0
        return int(row.failures)

    def put(self, key: str, failures: int, blocked_until: datetime, updated_at: datetime) -> None:
        values = {"failures": failures, "blocked_until": blocked_until, "updated_at": updated_at}
        statement = update(login_failures).where(login_failures.c.throttle_key == key).values(**values)
        if self._connection.execute(statement).rowcount:
            return
        try:
            with self._connection.begin_nested():
                self._connection.execute(insert(login_failures).values(throttle_key=key, **values))
        except IntegrityError:
            # another transaction created the row meanwhile: it is there (and committed) now.
            self._connection.execute(statement)

    def clear(self, keys: tuple[str, ...]) -> None:
        self._connection.execute(delete(login_failures).where(login_failures.c.throttle_key.in_(keys)))

    def purge(self, before: datetime, limit: int = PURGE_BATCH) -> int:
        """Forget up to ``limit`` keys without a failure since ``before``. Rows another transaction
        holds are left for a later purge, so a purge never waits for (or deadlocks with) a login
        being counted."""
        query = select(login_failures.c.throttle_key).where(login_failures.c.updated_at < before)
        if self._connection.dialect.name == "oracle":
            # Oracle refuses FETCH FIRST with FOR UPDATE (ORA-02014) but locks rows as they are
            # fetched under SKIP LOCKED (as the job store's claims do).
            result = self._connection.execute(
                query.with_for_update(skip_locked=True).execution_options(yield_per=limit)
            )
            stale = [row[0] for row in result.fetchmany(limit)]
            result.close()
        else:
            stale = list(
                self._connection.execute(query.limit(limit).with_for_update(skip_locked=True)).scalars()
            )
        if not stale:
            return 0
        result = self._connection.execute(
            delete(login_failures).where(
                login_failures.c.throttle_key.in_(stale), login_failures.c.updated_at < before
            )
        )
        return result.rowcount
