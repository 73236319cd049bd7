"""Signing and verifying the JWT access tokens.

Only the one configured algorithm is accepted when verifying (HS256 with a secret, or RS256 with a
key pair), which rules out ``alg: none`` and HS/RS key confusion by construction. Every failure is
an :class:`omlsvc.core.errors.Unauthorized`, with :class:`omlsvc.core.errors.TokenExpired` for expiry so the
client is told to log in again.

Besides the standard claims a token carries ``fam``, the ``jti`` of the login's first token, kept by
every refresh (revoking one token revokes its whole family), and ``gen``, the user's generation when
the login happened (a password change, disable, enable or role change bumps it and so ends every
earlier token). Tokens without them, issued before sessions had them, are refused.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from omlsvc.config import Settings
from omlsvc.core.errors import TokenExpired, Unauthorized

ISSUER = "omlsvc"
SECRET_FILE = "jwt_secret"  # noqa: S105 - a file name
REQUIRED_CLAIMS = ("sub", "roles", "iat", "exp", "auth_time", "jti", "fam", "gen")


@dataclass(frozen=True)
class Claims:
    subject: str
    roles: tuple[str, ...]
    issued_at: int
    expires_at: int
    auth_time: int
    jti: str
    #: the jti of the login's first token, shared by every token refreshed from it.
    family: str
    #: the user's generation when the login happened.
    generation: int


class TokenCodec:
    def __init__(self, algorithm: str, signing_key: Any, verifying_key: Any) -> None:
        self.algorithm = algorithm
        self._signing_key = signing_key
        self._verifying_key = verifying_key

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenCodec:
        if settings.jwt_private_key_file is not None and settings.jwt_public_key_file is not None:
            return cls(
                "RS256",
                settings.jwt_private_key_file.read_bytes(),
                settings.jwt_public_key_file.read_bytes(),
            )
        secret = settings.jwt_secret or load_or_create_secret(settings.data_dir / SECRET_FILE)
        return cls("HS256", secret, secret)

    def encode(
        self,
        *,
        subject: str,
        roles: tuple[str, ...],
        now: int,
        expires_at: int,
        auth_time: int,
        generation: int,
        family: str | None = None,
    ) -> str:
        """A signed token; without ``family`` it starts a family of its own (a login)."""
        jti = uuid.uuid4().hex
        payload = {
            "iss": ISSUER,
            "sub": subject,
            "roles": list(roles),
            "iat": now,
            "exp": expires_at,
            "auth_time": auth_time,
            "jti": jti,
            "fam": family or jti,
            "gen": generation,
        }
        return jwt.encode(payload, self._signing_key, algorithm=self.algorithm)

    def decode(self, token: str, *, now: int, verify_exp: bool = True) -> Claims:
        try:
            payload = jwt.decode(
                token,
                self._verifying_key,
                algorithms=[self.algorithm],
                issuer=ISSUER,
                options={"require": list(REQUIRED_CLAIMS), "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidTokenError:
            raise Unauthorized("The access token is invalid.") from None
        claims = _claims(payload)
        if verify_exp and claims.expires_at <= now:
            raise TokenExpired("The access token has expired; obtain a new one.")
        return claims


def _claims(payload: dict[str, Any]) -> Claims:
    roles = payload["roles"]
    try:
        if not isinstance(payload["sub"], str) or not isinstance(roles, list):
            raise TypeError
        if not isinstance(payload["gen"], int) or not isinstance(payload["fam"], str) or not payload["fam"]:
            raise TypeError
        return Claims(
            subject=payload["sub"],
            roles=tuple(str(r) for r in roles),
            issued_at=int(payload["iat"]),
            expires_at=int(payload["exp"]),
            auth_time=int(payload["auth_time"]),
            jti=str(payload["jti"]),
            family=payload["fam"],
            generation=payload["gen"],
        )
    except (TypeError, ValueError):
        raise Unauthorized("The access token is invalid.") from None


def load_or_create_secret(path: Path) -> str:
    """The HS256 secret kept in the data directory with 0600 permissions, created on first use.

    Several workers may start at once: the secret is written to a private temporary file and
    linked into place, which fails for all but the first, and the others read the winner's secret.
    """
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".jwt_secret.")
    try:
        os.write(fd, secrets.token_urlsafe(48).encode("ascii"))
        os.fsync(fd)
        os.close(fd)
        os.chmod(temporary, 0o600)
        with contextlib.suppress(FileExistsError):  # another worker won the race: use its secret
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return path.read_text().strip()
