"""The users part of the service document (issue 19, our extension): ``/omlmod/v1/users``.

:mod:`omlsvc.openapi.service` merges these in. The schemas say exactly what
:mod:`omlsvc.auth.accounts` accepts (names, the password policy, roles, database roles), so a
schema-valid request is never refused as malformed; for anyone but an admin every operation is 404.
"""

from __future__ import annotations

import copy
from typing import Any

from omlsvc.auth.service import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from omlsvc.core.authorization import ROLES
from omlsvc.core.patterns import DB_ROLE, USER_NAME, anchored
from omlsvc.openapi.builders import (
    COMMON_ERRORS,
    created,
    json_body,
    links_schema,
    ok,
    operation,
    path_parameter,
    schema_ref,
)

_TAGS = ["users"]
_NAME = {"type": "string", "pattern": anchored(USER_NAME), "description": "The user's name."}
_PASSWORD = {
    "type": "string",
    "format": "password",
    "minLength": MIN_PASSWORD_LENGTH,
    "maxLength": MAX_PASSWORD_LENGTH,
}
_ROLE = {"type": "string", "enum": list(ROLES), "description": "An admin is also a developer."}
_DB_ROLE = {
    "type": "string",
    "nullable": True,
    "pattern": anchored(DB_ROLE),
    "description": "The database identity the user's jobs run as (null: the default, their name).",
}


def _operation(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return operation(*args, tags=_TAGS, **kwargs)


def user_paths() -> dict[str, Any]:
    return {
        "/omlmod/v1/users": {
            "get": _operation(
                "listUsers",
                "Every user: name, roles, state, database role (admins; 404 for anyone else)",
                ok("The users.", "UserCollection"),
                (404, *COMMON_ERRORS),
            ),
            "post": _operation(
                "addUser",
                "Add a user, as `omlsvc users add` does (admins)",
                created("The user was added.", "UserAccount"),
                (400, 404, 409, 413, 415, *COMMON_ERRORS),
                body=json_body("NewUser"),
            ),
        },
        "/omlmod/v1/users/{username}": {
            "parameters": [path_parameter("username", "The user's name.")],
            "get": _operation(
                "getUser",
                "One user (admins)",
                ok("The user.", "UserAccount"),
                (404, *COMMON_ERRORS),
            ),
            "post": _operation(
                "changeUser",
                "Disable or enable a user, reset their password or change their role; each change "
                "ends the tokens they hold, as `omlsvc users` does (admins)",
                ok("The user after the change.", "UserAccount"),
                (400, 404, 409, 413, 415, *COMMON_ERRORS),
                body=json_body("UserChange"),
            ),
        },
    }


def user_schemas() -> dict[str, dict[str, Any]]:
    """The users' schema components, fresh objects on every call."""
    schemas: dict[str, dict[str, Any]] = {
        "UserAccount": {
            "type": "object",
            "required": ["name", "role", "roles", "enabled", "dbRole", "createdOn", "links"],
            "properties": {
                "name": {"type": "string"},
                "role": _ROLE,
                "roles": {"type": "array", "items": {"type": "string", "enum": list(ROLES)}},
                "enabled": {"type": "boolean"},
                "dbRole": {"type": "string", "nullable": True},
                "createdOn": {"type": "string", "format": "date-time"},
                "links": links_schema(),
            },
        },
        "UserCollection": {
            "type": "object",
            "required": ["items"],
            "properties": {"items": {"type": "array", "items": schema_ref("UserAccount")}},
        },
        "NewUser": {
            "type": "object",
            "required": ["name", "password"],
            "additionalProperties": False,
            "properties": {"name": _NAME, "password": _PASSWORD, "role": _ROLE, "dbRole": _DB_ROLE},
        },
        "UserChange": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": False,
            "properties": {
                "enabled": {"type": "boolean", "description": "false: the user's tokens stop working."},
                "role": _ROLE,
                "password": _PASSWORD,
            },
        },
    }
    return copy.deepcopy(schemas)
