"""Who may talk to the server: token and cookie checks, Host and Origin allowlists, failed-auth limits."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from collections import OrderedDict, deque
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
        self.grants = grants  # the gate loads unseen session tokens into it before checking
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

    def origin_allowed(self, origin: str | None, scheme: str) -> bool:
        """An Origin with the scheme we serve (`http` or `https`) and a host[:port] on the Host allowlist.

        `https://localhost:P` is another origin than `http://localhost:P` (a different server could answer it).
        """
        if not origin:
            return False
        parts = urlsplit(origin)
        if parts.scheme != scheme or parts.path not in ("", "/") or parts.query or parts.fragment:
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

    def record_failure(self, client: str) -> str:
        """Count one failed authentication by `client` (see FailureLimiter.fail); what to answer it."""
        return self._failures.fail(client_key(client))


# What FailureLimiter.fail answers: under the limit (401), the failure that reaches it (429, logged once), past it.
UNDER, REACHED, OVER = "under", "reached", "over"


class _Window:
    """One key's failure times within the window, and whether it is over the limit."""

    __slots__ = ("over", "times")

    def __init__(self, size: int) -> None:
        self.times: deque[float] = deque(maxlen=size)
        self.over = False


class FailureLimiter:
    """Failed attempts per client key in a sliding one-minute window, for at most MAX_CLIENTS keys.

    Only failures are counted and only failures are throttled: a request with a valid credential is checked first
    and never reaches the limiter, so a page that makes the browser send bad tokens cannot lock the user out; it
    only gets its own guesses answered 429 (which count too, so a guesser that keeps guessing stays throttled).
    Keys live in least-recently-failing order: when a new key would pass MAX_CLIENTS the oldest one is evicted,
    never all of them, so a flood from many addresses cannot wipe out the blocks of a client that keeps failing.
    """

    MAX_CLIENTS = 4096
    WINDOW_S = 60.0

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._windows: OrderedDict[str, _Window] = OrderedDict()  # least recently failing first

    def __len__(self) -> int:
        return len(self._windows)

    def fail(self, key: str) -> str:
        """Count one failure by `key` now: UNDER the limit, the failure that REACHED it, or OVER it already."""
        now = time.monotonic()
        cutoff = now - self.WINDOW_S
        while self._windows:  # keys whose newest failure left the window are forgotten, oldest first
            oldest = next(iter(self._windows.values()))
            if oldest.times[-1] > cutoff:
                break
            self._windows.popitem(last=False)
        window = self._windows.pop(key, None) or _Window(self.per_minute + 1)
        self._windows[key] = window  # now the most recent
        while window.times and window.times[0] <= cutoff:
            window.times.popleft()
        window.times.append(now)
        was_over, window.over = window.over, len(window.times) > self.per_minute
        while len(self._windows) > self.MAX_CLIENTS:
            self._windows.popitem(last=False)
        if not window.over:
            return UNDER
        return OVER if was_over else REACHED


def client_key(address: str) -> str:
    """The limiter's key for a client address: IPv4 as is, IPv6 by its /64 (one host owns a whole /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _host_allowlist(settings: Settings) -> frozenset[str]:
    """Loopback names with our port, plus each --allowed-host (as given, and with our port if it has none)."""
    names = {f"{name}:{settings.port}" for name in LOOPBACK_NAMES}
    for entry in settings.allowed_hosts:
        entry = entry.strip().lower()
        names.add(entry)
        if not host_has_port(entry):
            names.add(f"{entry}:{settings.port}")
    return frozenset(names)
