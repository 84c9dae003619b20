"""Who may talk to the server: token and cookie checks, Host and Origin allowlists, failed-auth limits."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.services.sessions.tokens import SessionGrants
from app.settings import LOOPBACK_NAMES, Settings, host_has_port

COOKIE_CONTEXT = b"maestro-browser-cookie-v1"
LOGIN_LINK_TTL_S = 120.0
MAX_LOGIN_LINKS = 32


@dataclass(frozen=True)
class Principal:
    """An authenticated caller and how it proved itself (bearer header or browser cookie).

    `kind` is "user" (the user's token or browser cookie) or "session" (an agent's session-scoped token, which
    carries the session, its project and its role).
    """

    kind: str  # "user" | "session"
    via: str  # "bearer" | "cookie"
    session_id: str | None = None
    project_id: str | None = None
    role: str | None = None


class AccessPolicy:
    """The allowlists and secrets for one server instance, bound to its real port."""

    def __init__(self, settings: Settings, token: str, grants: SessionGrants) -> None:
        self._token = token.encode()
        self._grants = grants
        self.port = settings.port
        self.cookie_name = f"maestro_{settings.port}"
        # The cookie never carries the token itself: a value derived from it.
        self._cookie_value = hmac.new(self._token, COOKIE_CONTEXT, hashlib.sha256).hexdigest()
        self.allowed_hosts = _host_allowlist(settings)
        self._failures = FailureLimiter(settings.auth_failures_per_minute)
        self._login_links: dict[bytes, float] = {}

    @property
    def cookie_value(self) -> str:
        """The value the browser cookie must carry."""
        return self._cookie_value

    def token_matches(self, candidate: str) -> bool:
        """Constant-time comparison with the server token."""
        return hmac.compare_digest(candidate.encode(), self._token)

    def issue_login_token(self) -> tuple[str, float]:
        """A single-use login token for a browser link, valid LOGIN_LINK_TTL_S seconds.

        Opening the browser on `/?token=<this>` keeps the real token out of the browser's argv and history.
        """
        now = time.monotonic()
        self._login_links = {k: exp for k, exp in self._login_links.items() if exp > now}
        while len(self._login_links) >= MAX_LOGIN_LINKS:
            self._login_links.pop(next(iter(self._login_links)))
        token = secrets.token_urlsafe(32)
        self._login_links[hashlib.sha256(token.encode()).digest()] = now + LOGIN_LINK_TTL_S
        return token, LOGIN_LINK_TTL_S

    def bootstrap_token_ok(self, candidate: str) -> bool:
        """True for the server token or an unexpired login token (which is consumed)."""
        if self.token_matches(candidate):
            return True
        expiry = self._login_links.pop(hashlib.sha256(candidate.encode()).digest(), None)
        return expiry is not None and expiry > time.monotonic()

    def host_allowed(self, host: str | None) -> bool:
        """Exact match against the allowlist: no suffix or prefix matching (DNS-rebinding defence)."""
        return host is not None and host.lower() in self.allowed_hosts

    def origin_allowed(self, origin: str | None) -> bool:
        """An http(s) Origin whose host[:port] is on the Host allowlist."""
        if not origin:
            return False
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or parts.path not in ("", "/"):
            return False
        return self.host_allowed(parts.netloc)

    def authenticate(self, authorization: str | None, cookie: str | None) -> Principal | None:
        """Bearer header first, then the browser cookie."""
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer":
                return None
            value = value.strip()
            if self.token_matches(value):
                return Principal(kind="user", via="bearer")
            grant = self._grants.lookup(value)
            if grant is not None:
                return Principal(
                    kind="session",
                    via="bearer",
                    session_id=grant.session_id,
                    project_id=grant.project_id,
                    role=grant.role,
                )
            return None
        if cookie and hmac.compare_digest(cookie.encode(), self._cookie_value.encode()):
            return Principal(kind="user", via="cookie")
        return None

    def too_many_failures(self, client: str) -> bool:
        """True once `client` has failed authentication too often in the last minute."""
        return self._failures.blocked(client)

    def record_failure(self, client: str) -> None:
        """Count one failed authentication by `client`."""
        self._failures.add(client)


class FailureLimiter:
    """A sliding one-minute window of failed attempts per client address, with bounded memory."""

    MAX_CLIENTS = 4096

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._events: dict[str, deque[float]] = {}

    def add(self, client: str) -> None:
        """Record a failure now."""
        if len(self._events) >= self.MAX_CLIENTS and client not in self._events:
            self._events.clear()
        window = self._events.setdefault(client, deque(maxlen=self.per_minute + 1))
        window.append(time.monotonic())

    def blocked(self, client: str) -> bool:
        """True if the client reached the limit within the last 60 s."""
        window = self._events.get(client)
        if not window:
            return False
        cutoff = time.monotonic() - 60
        while window and window[0] < cutoff:
            window.popleft()
        return len(window) >= self.per_minute


def _host_allowlist(settings: Settings) -> frozenset[str]:
    """Loopback names with our port, plus each --allowed-host (as given, and with our port if it has none)."""
    names = {f"{name}:{settings.port}" for name in LOOPBACK_NAMES}
    for entry in settings.allowed_hosts:
        entry = entry.strip().lower()
        names.add(entry)
        if not host_has_port(entry):
            names.add(f"{entry}:{settings.port}")
    return frozenset(names)
