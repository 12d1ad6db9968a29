"""Hashing of the per-organisation HTTP passwords (scrypt from the standard library)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import lru_cache

_N, _R, _P = 2**14, 8, 1


def new_password() -> str:
    """A random password to hand to an organisation once."""
    return secrets.token_urlsafe(18)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


@lru_cache(maxsize=4096)
def _check(password: str, stored: str) -> bool:
    # Cached: scrypt is deliberately slow, and getState polling repeats the same pair.
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt_b64), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the stored scrypt hash."""
    return _check(password, stored)
