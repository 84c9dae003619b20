"""The ASGI front door: /api, /schema and /static go to Litestar, everything else to NiceGUI.

Litestar's root mount cannot host NiceGUI (it mangles paths and swallows routes with path parameters; see
docs/architecture.md), so this small router dispatches by path prefix instead. Lifespan events go to Litestar,
whose lifespan in turn drives NiceGUI's startup and shutdown.
"""

from __future__ import annotations

from collections.abc import Callable

from litestar.types import ASGIApp, Receive, Scope, Send

from app.services.runtime import SCOPE_KEY, Runtime

API_PREFIXES = ("/api/", "/schema", "/static/")


class FrontDoor:
    """Dispatches each ASGI scope to the API or the UI app."""

    def __init__(self, api: ASGIApp, ui: ASGIApp, runtime: Callable[[], Runtime]) -> None:
        self.api = api
        self.ui = ui
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or is_api_path(scope["path"]):
            await self.api(scope, receive, send)
            return
        # NiceGUI pages reach the services through the scope, not through globals or HTTP.
        scope[SCOPE_KEY] = self.runtime()  # type: ignore[literal-required]
        await self.ui(scope, receive, send)


def is_api_path(path: str) -> bool:
    """True for paths Litestar serves."""
    return path.startswith(API_PREFIXES) or path in ("/api", "/schema")
