"""User accounts over HTTP (issue 19): the admin-only use cases behind ``/omlmod/v1/users``.

Every change is the same :class:`~omlsvc.auth.service.AuthService` call ``omlsvc users`` makes (so a
disable ends the user's tokens within a second everywhere, exactly as the CLI's does); this layer
only asks :func:`~omlsvc.core.authorization.may_administer_users` first and names the field an
invalid value came from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from omlsvc.auth.service import (
    AuthService,
    check_db_role,
    check_password,
    check_role,
    check_user_name,
)
from omlsvc.auth.store import User
from omlsvc.core.authorization import ADMIN, DEVELOPER, Principal, may_administer_users
from omlsvc.core.errors import Conflict, InvalidInput, NotFound

NEW_USER_FIELDS = ("name", "password", "role", "dbRole")
CHANGE_FIELDS = ("enabled", "role", "password")


@dataclass(frozen=True)
class Account:
    """What the API shows of a user: never the password hash, nor the token generation."""

    name: str
    roles: tuple[str, ...]
    enabled: bool
    db_role: str | None
    created_at: datetime

    @property
    def role(self) -> str:
        return ADMIN if ADMIN in self.roles else DEVELOPER


def _account(user: User) -> Account:
    return Account(user.name, user.roles, not user.disabled, user.db_role, user.created_at)


class UserAdministration:
    def __init__(self, auth: AuthService) -> None:
        self._auth = auth

    def require_admin(self, principal: Principal) -> None:
        """For transports: refuse a non-admin before reading their request body."""
        _require_admin(principal)

    def list(self, principal: Principal) -> list[Account]:
        _require_admin(principal)
        return [_account(user) for user in self._auth.list_users()]

    def get(self, principal: Principal, name: str) -> Account:
        _require_admin(principal)
        return self._existing(name)

    def add(self, principal: Principal, body: Mapping[str, Any]) -> Account:
        """Add a user from ``{"name", "password", "role"?, "dbRole"?}``; 409 when the name is taken."""
        _require_admin(principal)
        _no_unknown_fields(body, NEW_USER_FIELDS)
        name = _text(body, "name", required=True)
        password = _text(body, "password", required=True)
        role = _text(body, "role") or DEVELOPER
        db_role = _text(body, "dbRole")
        assert name is not None and password is not None
        _checked("name", lambda: check_user_name(name))
        _checked("password", lambda: check_password(password))
        _checked("role", lambda: check_role(role))
        _checked("dbRole", lambda: check_db_role(db_role))
        self._auth.add_user(name, password, role, db_role=db_role)
        return self._existing(name)

    def change(self, principal: Principal, name: str, body: Mapping[str, Any]) -> Account:
        """Apply ``{"enabled"?, "role"?, "password"?}`` (at least one), each as ``omlsvc users`` does:
        every change ends the user's earlier tokens. An admin may not disable or demote themselves
        over HTTP (409), so the console cannot lock the last admin out by a slip."""
        principal = _require_admin(principal)
        _no_unknown_fields(body, CHANGE_FIELDS)
        if not any(field in body for field in CHANGE_FIELDS):
            raise InvalidInput(f"Send at least one of {', '.join(CHANGE_FIELDS)}.")
        enabled = body.get("enabled")
        if "enabled" in body and not isinstance(enabled, bool):
            raise InvalidInput("Field 'enabled' must be true or false.")
        role = _text(body, "role")
        password = _text(body, "password")
        if role is not None:
            _checked("role", lambda: check_role(role))
        if password is not None:
            _checked("password", lambda: check_password(password))
        current = self._existing(name)
        if name == principal.name and (enabled is False or (role is not None and role != ADMIN)):
            raise Conflict("An administrator cannot disable or demote themselves; another admin can.")
        if password is not None:
            self._auth.set_password(name, password)
        if role is not None and role != current.role:
            self._auth.set_role(name, role)
        if isinstance(enabled, bool) and enabled != current.enabled:
            self._auth.set_disabled(name, not enabled)
        return self._existing(name)

    def _existing(self, name: str) -> Account:
        user = self._auth.find_user(name)
        if user is None:
            raise NotFound(f"User {name!r} does not exist.")
        return _account(user)


def _require_admin(principal: Principal) -> Principal:
    """Admins pass; anyone else is told the resource does not exist (401 without a principal)."""
    if not may_administer_users(principal):
        raise NotFound("No such resource.")
    return principal


def _no_unknown_fields(body: Mapping[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise InvalidInput(f"Unknown field(s) {', '.join(unknown)}; expected {', '.join(known)}.")


def _text(body: Mapping[str, Any], field: str, *, required: bool = False) -> str | None:
    value = body.get(field)
    if value is None:
        if required:
            raise InvalidInput(f"Field '{field}' is required.")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"Field '{field}' must be a string.")
    return value


def _checked(field: str, check: Callable[[], None]) -> None:
    """Run one of the auth service's own checks, naming the field in its message."""
    try:
        check()
    except InvalidInput as error:
        raise InvalidInput(f"Field '{field}': {error.message}") from None
