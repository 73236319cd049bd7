"""The schema components of the token service (``POST /omlusers/api/oauth2/v1/token``): log in with
a password, refresh a token, and the answers; the token service has no published schema, so the
names are ours.

Part of :mod:`omlsvc.openapi.schemas`' registry, which merges them in last.
"""

from __future__ import annotations

from typing import Any

from omlsvc.openapi.builders import schema_ref

#: The token components, in the order the service document lists them.
TOKEN_SCHEMAS: dict[str, dict[str, Any]] = {
    "PasswordTokenRequest": {
        "type": "object",
        "description": "Log in with a user name and password.",
        "required": ["grant_type", "username", "password"],
        "properties": {
            "grant_type": {"type": "string", "enum": ["password"]},
            "username": {"type": "string", "minLength": 1},
            "password": {"type": "string", "format": "password", "minLength": 1},
        },
    },
    "RefreshTokenRequest": {
        "type": "object",
        "description": (
            "Refresh a still valid token (also sent as the bearer credential); possible up to 8 hours "
            "after the original login."
        ),
        "required": ["grant_type"],
        "properties": {
            "grant_type": {"type": "string", "enum": ["refresh_token"]},
            "refresh_token": {
                "type": "string",
                "description": "The current access token itself; when absent, the bearer token is refreshed.",
            },
        },
    },
    "TokenRequest": {
        "description": "Body of POST /omlusers/api/oauth2/v1/token.",
        "oneOf": [schema_ref("PasswordTokenRequest"), schema_ref("RefreshTokenRequest")],
    },
    "TokenResponse": {
        "type": "object",
        "required": ["accessToken", "expiresIn"],
        "properties": {
            "accessToken": {
                "type": "string",
                "description": "Send as 'Authorization: Bearer <accessToken>'.",
            },
            "expiresIn": {"type": "integer", "minimum": 1, "description": "Seconds until the token expires."},
            "tokenType": {"type": "string", "enum": ["Bearer"]},
        },
    },
    "TokenRevokeResponse": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["ok"]}},
    },
}
