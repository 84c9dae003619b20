"""The composition root: `create_app(settings)` builds storage, services, the API, the UI and the gate."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, Response, Router, route
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.enums import HttpMethod
from litestar.handlers import HTTPRouteHandler
from litestar.plugins import InitPlugin
from litestar.static_files import create_static_files_router
from litestar.types import Receive, Scope, Send

from app.home import ensure_home, load_or_create_token
from app.resources import static_dir
from app.services.runtime import Runtime, bounded, open_runtime
from app.services.sessions.tokens import SessionGrants
from app.settings import Settings
from app.web.agent_access import agent_guard
from app.web.bodies import strict_json_body
from app.web.deps import provide_actor
from app.web.errors import EXCEPTION_HANDLERS
from app.web.frontdoor import FrontDoor
from app.web.gate import SecurityGate
from app.web.live import channels_plugin, follow_other_instances, wake_other_instances
from app.web.openapi import StructSchemas, openapi_config
from app.web.routes import (
    events,
    graphs,
    login_links,
    profiles,
    projects,
    reports,
    runs,
    session_terminals,
    sessions,
    skills,
    system,
    tasks,
    timeline,
    transfer,
    worktrees,
)
from app.web.security import AccessPolicy
from app.web.static_cache import hashed_static_cache

log = logging.getLogger("maestro")

API_PREFIX = "/api/v1"


class MaestroApp:
    """The ASGI application uvicorn serves: security gate -> front door -> Litestar or NiceGUI."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        ensure_home(settings.home)
        self.grants = SessionGrants()
        self.policy = AccessPolicy(settings, load_or_create_token(settings.home), self.grants)
        self.channels = channels_plugin(settings)
        self._runtime: Runtime | None = None
        self.api = self._build_api()
        from ui import nicegui_app  # imported here: NiceGUI is process-global and heavy

        self._nicegui = nicegui_app(settings)
        public = frozenset(route.path for route in self.api.routes if _is_public(route))
        front = FrontDoor(self.api, self._nicegui, lambda: self.runtime)
        self._asgi = SecurityGate(front, self.policy, public, settings.max_body_bytes, _larger_body_limits(self.api))

    @property
    def runtime(self) -> Runtime:
        """The running app's parts (database, writer, hub, session runner); only valid while the app runs."""
        if self._runtime is None:
            raise RuntimeError("Maestro's runtime used before the app started (or after it stopped)")
        return self._runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._asgi(scope, receive, send)

    def _build_api(self) -> Litestar:
        modules = (
            system,
            login_links,
            projects,
            tasks,
            sessions,
            session_terminals,
            profiles,
            reports,
            timeline,
            skills,
            events,
            transfer,
            worktrees,
            runs,
            graphs,
        )
        handlers = [h for m in modules for h in m.ROUTES]
        v1 = Router(
            path=API_PREFIX,
            route_handlers=[*_options_handlers(handlers), *handlers],
            before_request=strict_json_body,  # bodies exactly as the schema says, never coerced
        )
        structs = StructSchemas()  # msgspec's schemas replace Litestar's when the document is first served
        return Litestar(
            route_handlers=[
                v1,
                create_static_files_router(
                    path="/static",
                    directories=[static_dir()],
                    include_in_schema=False,
                    middleware=[hashed_static_cache],
                ),
            ],
            dependencies={
                "runtime": Provide(lambda: self.runtime, sync_to_thread=False),
                "db": Provide(lambda: self.runtime.db, sync_to_thread=False),
                "writer": Provide(lambda: self.runtime.writer, sync_to_thread=False),
                "policy": Provide(lambda: self.policy, sync_to_thread=False),
                "actor": Provide(provide_actor, sync_to_thread=False),
            },
            guards=[agent_guard],  # what session-scoped tokens may do (app/web/agent_access.py)
            exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
            openapi_config=openapi_config(structs),
            # Our lifespan runs inside the channels plugin's (it publishes through it), hence a plugin of its own.
            plugins=[self.channels, _LifespanAfterPlugins(self._lifespan), structs],
            request_max_body_size=self.settings.max_body_bytes,
            debug=False,
            logging_config=None,  # the launcher configures logging (with token redaction)
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, _: Litestar) -> AsyncIterator[None]:
        opened = open_runtime(
            self.settings,
            grants=self.grants,
            environ=os.environ,
            on_commit=wake_other_instances(self.channels),
        )
        async with opened as runtime:
            self._runtime = runtime
            try:
                async with follow_other_instances(runtime.hub, self.channels):
                    pages = self._nicegui.router.lifespan_context(self._nicegui)
                    await pages.__aenter__()
                    try:
                        log.info("Maestro ready (%s database)", runtime.db.backend)
                        yield
                    finally:
                        await bounded("UI shutdown", pages.__aexit__(None, None, None))
            finally:
                self._runtime = None


class _LifespanAfterPlugins(InitPlugin):
    """Registers a lifespan context after the plugins' own (so it can use them until it ends)."""

    def __init__(self, lifespan: Any) -> None:
        self.lifespan = lifespan

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.lifespan.append(self.lifespan)
        return app_config


def create_app(settings: Settings) -> MaestroApp:
    """Build the whole application from explicit settings."""
    return MaestroApp(settings)


def _options_handlers(handlers: list[Any]) -> list[HTTPRouteHandler]:
    """One OPTIONS handler per path, registered first, whose Allow lists every method of the path.

    Why not Litestar's: when several handlers share a path, its default OPTIONS handler lists only the methods of
    the first one registered (litestar#4169, fixed only in Litestar 3).
    """
    methods: dict[str, set[str]] = {}
    for handler in handlers:
        if isinstance(handler, HTTPRouteHandler):
            for path in handler.paths:
                methods.setdefault(path, {"OPTIONS"}).update(handler.http_methods)
    return [_options_handler(path, ", ".join(sorted(allowed))) for path, allowed in methods.items()]


def _options_handler(path: str, allow: str) -> HTTPRouteHandler:
    @route(path, http_method=HttpMethod.OPTIONS, include_in_schema=False, sync_to_thread=False)
    def options() -> Response[None]:
        return Response(content=None, status_code=204, headers={"Allow": allow})

    return options


def _larger_body_limits(api: Litestar) -> dict[str, int]:
    """Paths whose handlers accept more than the app-wide body limit; the gate, which reads bodies first, must too."""
    limits: dict[str, int] = {}
    for api_route in api.routes:
        for handler in getattr(api_route, "route_handlers", []):
            limit = (
                handler.resolve_request_max_body_size() if hasattr(handler, "resolve_request_max_body_size") else None
            )
            if limit is not None and limit > (api.request_max_body_size or 0):
                limits[api_route.path] = max(limit, limits.get(api_route.path, 0))
    return limits


def _is_public(route: object) -> bool:
    handlers = [h for h in getattr(route, "route_handlers", []) if set(h.http_methods) != {"OPTIONS"}]
    return bool(handlers) and all(h.opt.get("public") for h in handlers)
