"""Hashing of the per-organisation HTTP passwords (scrypt from the standard library)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict

_N, _R, _P = 2**14, 8, 1
_CACHE_SIZE = 4096

#: Keys the cache of checked passwords; new in every process, never stored.
_CACHE_KEY = secrets.token_bytes(32)
_cache: OrderedDict[tuple[str, bytes], bool] = OrderedDict()
_lock = threading.Lock()


def new_password() -> str:
    """A random password to hand to an organisation once."""
    return secrets.token_urlsafe(18)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _check(password: str, stored: str) -> bool:
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
    """True when ``password`` matches the stored scrypt hash.

    Checks are cached (scrypt is deliberately slow, and getState polling repeats the same
    pair), keyed by an HMAC of the presented password under a per-process random key: the
    cache never holds a password, nor anything that would let one be tested offline once
    the process is gone."""
    tag = hmac.new(_CACHE_KEY, password.encode(), hashlib.sha256).digest()
    key = (stored, tag)
    with _lock:
        known = _cache.get(key)
        if known is not None:
            _cache.move_to_end(key)
            return known
    result = _check(password, stored)
    with _lock:
        _cache[key] = result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result
