"""Long caching for content-hashed static URLs: `/static/terminal.js?v=<hash>` (made by `ui`'s `script_url`).

Such a URL names one content for good (new content, new hash), so the browser may keep it without asking again;
a page then runs its scripts from the cache at once, instead of after a revalidation round trip per script on
every page load. URLs without `v` are revalidated as before.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

IMMUTABLE = "private, max-age=31536000, immutable"  # private: every static file needs the user's sign-in


def hashed_static_cache(app: ASGIApp) -> ASGIApp:
    """Middleware: a successful response to a request with a `v` query parameter may be cached for a year."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v"):
            await app(scope, receive, send)
            return

        async def send_cached(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                MutableScopeHeaders.from_message(message)["Cache-Control"] = IMMUTABLE
            await send(message)

        await app(scope, receive, send_cached)

    return middleware
