"""The ASGI security gate in front of everything the server answers (API, OpenAPI docs, NiceGUI pages).

Order of checks: one Host header, on the allowlist (all requests, DNS-rebinding defence) -> body size -> public
routes -> browser bootstrap (`/?token=`) -> credentials (bearer or cookie; only failures are rate-limited) ->
Origin (every WebSocket upgrade, every cookie-authenticated state-changing request) -> Sec-Fetch-Site (cookie
requests from another site) -> JSON-only API bodies.
Refusals happen before any WebSocket is accepted and before the app sees the request.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl, urlencode

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.models import close_codes
from app.resources import maestro_command
from app.services.sessions.tokens import TOKEN_PREFIX
from app.web.errors import error_body
from app.web.security import OVER, REACHED, AccessPolicy, Principal

log = logging.getLogger("maestro.security")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"frame-ancestors 'self'"),
    (b"referrer-policy", b"same-origin"),
]
PRINCIPAL_KEY = "maestro.principal"
SINGLE_HEADERS = ("host", "origin", "authorization")  # two of these would leave which one counts ambiguous
Refusal = tuple[int, str, list[tuple[bytes, bytes]]]  # status, detail, extra headers


class SecurityGate:
    """Wraps the front door; every request passes here first."""

    def __init__(
        self,
        app: ASGIApp,
        policy: AccessPolicy,
        public_paths: frozenset[str],
        max_body: int,
        body_limits: Mapping[str, int],
    ) -> None:
        self.app = app
        self.policy = policy
        self.public_paths = public_paths
        self.max_body = max_body
        self.body_limits = dict(body_limits)  # paths whose route allows a larger body (the import)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        await self._load_session_token(scope)
        refusal = self._check(scope)
        if refusal is not None:
            status, detail, extra_headers = refusal
            await _refuse(scope, send, status, detail, extra_headers)
            return
        if scope["type"] == "http":
            if _wants_bootstrap(scope):
                await self._bootstrap(scope, send)
                return
            await self._within_body_limit(scope, receive, _with_security_headers(send))
        else:
            await self.app(scope, receive, send)

    async def _load_session_token(self, scope: Scope) -> None:
        """A session token this instance has not seen (issued before a restart, or by another instance) is looked
        up in the database first, so the checks below can stay synchronous."""
        authorization = _headers(scope).get("authorization", "")
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip().startswith(TOKEN_PREFIX):
            await self.policy.grants.load(value.strip())

    def _check(self, scope: Scope) -> Refusal | None:
        """Return (status, detail, headers) to refuse the request, or None to let it through."""
        headers = _headers(scope)
        repeated = _repeated(scope, SINGLE_HEADERS)
        if repeated:
            return 400, f"More than one {repeated.title()} header", []
        if not self.policy.host_allowed(headers.get("host")):
            return 403, "Host not allowed", []
        length = headers.get("content-length")
        limit = self._body_limit(scope)
        if length is not None and (not length.isdigit() or int(length) > limit):
            return 413, f"Request body larger than {limit} bytes", []
        path = scope["path"]
        if path in self.public_paths and scope["type"] == "http":
            return None
        if scope["type"] == "http" and _wants_bootstrap(scope):
            return None  # validated in _bootstrap
        cookie = _cookie(headers, self.policy.cookie_name)
        # Credentials are checked before the failure limiter: a valid one always works, whatever others tried.
        principal = self.policy.authenticate(headers.get("authorization"), cookie)
        if principal is None:
            detail = "Missing or invalid token" if scope["type"] == "http" else "Authentication required"
            unauthorized: Refusal = (401, detail, [(b"www-authenticate", b'Bearer realm="maestro"')])
            if headers.get("authorization") or cookie:  # a wrong guess counts; no credentials at all does not
                return self._failed(scope, unauthorized)
            return unauthorized
        if principal.kind == "session" and not path.startswith("/api/"):
            return 403, "A session token works for the API only", []  # pages, docs and assets are the user's
        if not self._origin_ok(scope, headers, principal):
            return 403, "Origin not allowed", []
        if principal.via == "cookie" and _from_another_site(scope, headers):
            return 403, "Cookie-authenticated requests from another site are not allowed", []
        if scope["type"] == "http" and path.startswith("/api/") and not _json_body_ok(scope, headers):
            return 415, "Request bodies must be JSON (Content-Type: application/json)", []
        scope[PRINCIPAL_KEY] = principal
        return None

    async def _within_body_limit(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app with the body cut off at the limit; a body cut off is answered 413, whatever the app says.

        Why here: the app only sees a disconnect, which it would answer as a failure (500) of its own.
        """
        limit = self._body_limit(scope)
        over = [False]
        answered = False

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if over[0]:
                if not answered:
                    answered = True
                    await _refuse(scope, send, 413, f"Request body larger than {limit} bytes", [])
                return  # the app's own answer to the cut-off body is dropped
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, _limited_receive(receive, limit, over), guarded_send)
        if over[0] and not answered:
            await _refuse(scope, send, 413, f"Request body larger than {limit} bytes", [])

    def _body_limit(self, scope: Scope) -> int:
        """A route's own limit where it sets a larger one (the import takes whole documents); else the general one."""
        return self.body_limits.get(scope["path"], self.max_body)

    def _origin_ok(self, scope: Scope, headers: dict[str, str], principal: Principal) -> bool:
        """A present Origin must be ours; a missing one is accepted only with a bearer token."""
        if scope["type"] == "http" and scope["method"] in SAFE_METHODS:
            return True
        origin = headers.get("origin")
        if origin is None:
            return principal.via == "bearer"
        return self.policy.origin_allowed(origin, _served_scheme(scope))

    def _failed(self, scope: Scope, unauthorized: Refusal) -> Refusal:
        """Count a failed credential: `unauthorized` while under the limit, 429 past it."""
        client = (scope.get("client") or ("unknown", 0))[0]
        verdict = self.policy.record_failure(client)
        if verdict == REACHED:  # logged once per block: the 429s themselves are only logged at debug level
            log.warning("Too many failed authentication attempts from %s: 429 until a quiet minute", client)
        if verdict in (REACHED, OVER):
            return 429, "Too many failed authentication attempts; wait a minute", [(b"retry-after", b"60")]
        return unauthorized

    async def _bootstrap(self, scope: Scope, send: Send) -> None:
        """`GET /path?token=...`: set the browser cookie and redirect to the clean URL.

        A wrong token counts as a failed attempt, except from a browser that is already signed in (a used link
        reopened): that is not a guess, and a valid cookie is never answered 429.
        """
        headers = _headers(scope)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        token = next((v for k, v in query if k == "token"), "")
        if not self.policy.bootstrap_token_ok(token):
            refusal: Refusal = (401, "Invalid token in the login link", [])
            signed_in = self.policy.authenticate(
                headers.get("authorization"), _cookie(headers, self.policy.cookie_name)
            )
            if signed_in is None or signed_in.kind != "user":
                refusal = self._failed(scope, refusal)
            await _refuse(scope, send, *refusal)
            return
        rest = urlencode([(k, v) for k, v in query if k != "token"])
        location = scope["path"] + (f"?{rest}" if rest else "")
        cookie = f"{self.policy.cookie_name}={self.policy.cookie_value}; HttpOnly; SameSite=Strict; Path=/"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location.encode("latin-1")),
                    (b"set-cookie", cookie.encode("latin-1")),
                    (b"cache-control", b"no-store"),
                    (b"content-length", b"0"),
                    (b"referrer-policy", b"no-referrer"),
                    *SECURITY_HEADERS[:2],
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def _headers(scope: Scope) -> dict[str, str]:
    """Request headers, lower-cased names; the first value wins."""
    out: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        out.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return out


def _repeated(scope: Scope, names: tuple[str, ...]) -> str | None:
    """The first of `names` that the request sends more than once, if any."""
    seen: set[str] = set()
    for raw, _ in scope.get("headers", []):
        name = raw.decode("latin-1").lower()
        if name in names:
            if name in seen:
                return name
            seen.add(name)
    return None


def _served_scheme(scope: Scope) -> str:
    """The scheme our origin has for this connection: `http` or `https` (WebSockets: `ws` or `wss`)."""
    scheme = scope.get("scheme", "http")
    return {"ws": "http", "wss": "https"}.get(scheme, scheme)


def _from_another_site(scope: Scope, headers: dict[str, str]) -> bool:
    """A browser request made by another site's page (Fetch Metadata), not by ours or by the user.

    `same-site` counts as another site: every server on localhost, whatever its port, is the same site. A link
    followed to one of our pages is the user navigating, not that page reading ours, and stays allowed.
    """
    if headers.get("sec-fetch-site") not in ("cross-site", "same-site"):
        return False  # same-origin, none (typed, bookmarked, opened by `maestro open`), or no Fetch Metadata
    navigation = scope["type"] == "http" and headers.get("sec-fetch-mode") == "navigate"
    return not (navigation and not scope["path"].startswith("/api/"))


def _cookie(headers: dict[str, str], name: str) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    try:
        jar = SimpleCookie(raw)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


def _wants_bootstrap(scope: Scope) -> bool:
    """A browser login link: GET on a page path with a token query parameter."""
    return (
        scope["type"] == "http"
        and scope["method"] == "GET"
        and not scope["path"].startswith("/api/")
        and b"token=" in scope.get("query_string", b"")
        and any(k == "token" for k, _ in parse_qsl(scope["query_string"].decode("latin-1")))
    )


def _json_body_ok(scope: Scope, headers: dict[str, str]) -> bool:
    """State-changing API requests that carry a body must declare JSON (defeats form-post CSRF)."""
    if scope["method"] in SAFE_METHODS:
        return True
    has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
    if not has_body:
        return True
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _with_security_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            existing = {name.lower() for name, _ in message.get("headers", [])}
            extra = [(n, v) for n, v in SECURITY_HEADERS if n not in existing]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


def _limited_receive(receive: Receive, limit: int, over: list[bool]) -> Receive:
    """Stop a chunked body that grows past the limit (Content-Length was checked up front); `over[0]` says so."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                over[0] = True
                return {"type": "http.disconnect"}
        return message

    return wrapped


async def _refuse(scope: Scope, send: Send, status: int, detail: str, extra: list[tuple[bytes, bytes]]) -> None:
    """Answer with the error shape (HTML for a browser page), or refuse a WebSocket before accepting it."""
    # 429s are counted, not logged one by one: the limiter logs once when a client reaches it.
    log.log(
        logging.DEBUG if status == 429 else logging.INFO,
        "refused %s %s: %s (%d)",
        scope["type"],
        scope["path"],
        detail,
        status,
    )
    if scope["type"] == "websocket":
        if "websocket.http.response" in (scope.get("extensions") or {}):
            await _send_http(send, "websocket.http.response", status, detail, extra, html_page=False)
        else:
            await send({"type": "websocket.close", "code": close_codes.POLICY_VIOLATION, "reason": detail[:120]})
        return
    accept = _headers(scope).get("accept", "")
    wants_html = not scope["path"].startswith(("/api/", "/schema", "/static/")) and "text/html" in accept
    await _send_http(send, "http.response", status, detail, extra, html_page=wants_html)


async def _send_http(
    send: Send, prefix: str, status: int, detail: str, extra: list[tuple[bytes, bytes]], *, html_page: bool
) -> None:
    if html_page:
        body = _HTML_REFUSAL.format(status=status, detail=html.escape(detail), command=_SIGN_IN_COMMAND).encode()
        ctype = b"text/html; charset=utf-8"
    else:
        body = error_body(status, detail)
        ctype = b"application/json"
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode()), *extra, *SECURITY_HEADERS]
    await send({"type": f"{prefix}.start", "status": status, "headers": headers})
    await send({"type": f"{prefix}.body", "body": body})


_HTML_REFUSAL = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Maestro: {status}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}}
code{{background:#f2f2f2;padding:.1rem .3rem;border-radius:3px}}</style></head><body>
<h1>Maestro needs you to sign in</h1><p>{detail}.</p>
<p>Run <code>{command} open</code> in a terminal to open Maestro in your browser already signed in,
or <code>{command} url --login</code> to print a login link.</p></body></html>"""
# The absolute path of this installation's command: it works whether or not `maestro` is on the user's PATH.
_SIGN_IN_COMMAND = html.escape(maestro_command())
