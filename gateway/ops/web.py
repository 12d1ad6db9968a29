"""HTTP plumbing of the console: signed session cookies, CSRF, forms, security headers.

Sessions are stateless cookies: base64url(JSON) + "." + HMAC-SHA256 under the console
secret, carrying the operator's login, a per-session CSRF token, the time of issue and a
fingerprint of the operator's password hash (a password change ends every session of that
operator). Cookies are HttpOnly, SameSite=Strict, Path=/console, Secure over https.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

COOKIE = "hcs_console"
MAX_FORM_BYTES = 64 * 1024

#: Every console answer: nothing from elsewhere, no scripts at all, no framing.
SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
)


def load_secret(configured: str, data_dir: Path) -> bytes:
    """The configured secret, or one generated once into ``<data_dir>/console-secret``.

    Created atomically (link of a finished temporary file), so gunicorn workers starting
    together agree on one secret.
    """
    if configured:
        return configured.encode()
    path = data_dir / "console-secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        temporary = data_dir / f".console-secret.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text().strip().encode()


class SessionCodec:
    def __init__(self, secret: bytes, max_age_seconds: int) -> None:
        self._key = hashlib.sha256(b"hcs-gateway console session\0" + secret).digest()
        self.max_age = max_age_seconds

    def _sign(self, payload: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self._key, payload, "sha256").digest()).decode()

    def dumps(self, data: dict[str, Any]) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
        return payload.decode() + "." + self._sign(payload)

    def loads(self, value: str | None) -> dict[str, Any] | None:
        if not value or "." not in value:
            return None
        payload, _, signature = value.partition(".")
        if not hmac.compare_digest(self._sign(payload.encode()), signature):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload.encode()))
        except (ValueError, binascii.Error):
            return None
        if not isinstance(data, dict) or time.time() - float(data.get("iat", 0)) > self.max_age:
            return None
        return data


def new_session(login: str | None = None, password_hash: str | None = None) -> dict[str, Any]:
    return {
        "sid": secrets.token_urlsafe(16),
        "csrf": secrets.token_urlsafe(24),
        "op": login,
        "pw": password_fingerprint(password_hash) if password_hash else None,
        "iat": int(time.time()),
    }


def password_fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


@dataclass
class Request:
    environ: dict[str, Any]
    method: str
    path: str
    query: dict[str, str]
    cookies: dict[str, str]
    _form: dict[str, str] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, environ: dict[str, Any]) -> Request:
        query = {
            k: v[-1]
            for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()
        }
        cookies: dict[str, str] = {}
        try:
            jar = SimpleCookie(environ.get("HTTP_COOKIE", ""))
            cookies = {k: m.value for k, m in jar.items()}
        except CookieError:
            pass
        return cls(
            environ,
            environ.get("REQUEST_METHOD", "GET").upper(),
            environ.get("PATH_INFO", ""),
            query,
            cookies,
        )

    @property
    def https(self) -> bool:
        return self.environ.get("wsgi.url_scheme") == "https"

    def form(self) -> dict[str, str]:
        """The urlencoded form of a POST (at most ``MAX_FORM_BYTES``)."""
        if self._form is None:
            try:
                length = int(self.environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            body = self.environ["wsgi.input"].read(min(length, MAX_FORM_BYTES)) if length else b""
            self._form = {
                k: v[-1]
                for k, v in parse_qs(
                    body.decode("utf-8", "replace"), keep_blank_values=True
                ).items()
            }
        return self._form

    def same_origin(self) -> bool:
        """A POST must come from a page of this console: the host of its Origin (else of its
        Referer), when the browser sends one, is the host it was sent to. Only hosts are
        compared: TLS often ends at a proxy in front of the gateway."""
        hosts = {
            h
            for h in (
                self.environ.get("HTTP_HOST", ""),
                self.environ.get("HTTP_X_FORWARDED_HOST", "").split(",")[0].strip(),
            )
            if h
        }
        origin = self.environ.get("HTTP_ORIGIN")
        if origin == "null":
            return False  # sandboxed or opaque contexts
        source = origin or self.environ.get("HTTP_REFERER")
        if not source:
            return True  # an old client: the CSRF token still decides
        return urlsplit(source).netloc in hosts


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(303, b"", "text/plain", [("Location", location)])

    def set_cookie(self, value: str, *, max_age: int, secure: bool) -> None:
        attributes = f"Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}"
        self.headers.append(
            ("Set-Cookie", f"{COOKIE}={value}; {attributes}{'; Secure' if secure else ''}")
        )

    def send(self, start_response: Any) -> list[bytes]:
        headers = [
            ("Content-Type", self.content_type),
            ("Content-Length", str(len(self.body))),
            *SECURITY_HEADERS,
            *self.headers,
        ]
        start_response(f"{self.status} {HTTPStatus(self.status).phrase}", headers)
        return [self.body]
