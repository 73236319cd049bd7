"""Password hashing with scrypt (memory-hard, in the standard library) and a per-user salt.

Hashes are self-describing (``scrypt$n$r$p$salt$hash``) so the cost can be raised later without
invalidating stored passwords. :func:`verify_nobody` burns the same time as a real check, so an
unknown user and a wrong password cannot be told apart by timing.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
MAX_PASSWORD_BYTES = 1024


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return "$".join(("scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(key)))


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        actual = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def _nobody() -> str:
    return hash_password(secrets.token_urlsafe(16))


def verify_nobody(password: str) -> bool:
    """Spend the time of one verification and fail: used when the user does not exist."""
    verify_password(password, _nobody())
    return False


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # Long inputs are cut to a fixed size first so a megabyte "password" costs no more than a short one.
    data = password.encode("utf-8", "surrogatepass")[:MAX_PASSWORD_BYTES]
    return hashlib.scrypt(data, salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=KEY_BYTES)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
