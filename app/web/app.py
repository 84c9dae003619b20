"""The composition root: `create_app(settings)` builds storage, services, the API, the UI and the gate."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Litestar, Router
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.plugins import InitPlugin
from litestar.static_files import create_static_files_router
from litestar.types import Receive, Scope, Send

from app.db.engine import Database, close_database, open_database
from app.db.writer import Writer
from app.home import ensure_home, load_or_create_token
from app.resources import static_dir
from app.services.event_stream import EventHub
from app.services.session_status import mark_live_sessions_lost
from app.services.session_tokens import SessionGrants
from app.services.terminal_sessions import TerminalRegistry
from app.settings import Settings
from app.web.agent_access import agent_guard
from app.web.deps import provide_actor, provide_writer
from app.web.errors import EXCEPTION_HANDLERS
from app.web.frontdoor import FrontDoor
from app.web.gate import SecurityGate
from app.web.live import channels_plugin, publisher, run_live
from app.web.openapi import openapi_config
from app.web.routes import (
    events,
    login_links,
    profiles,
    projects,
    reports,
    session_terminals,
    sessions,
    skills,
    system,
    tasks,
    timeline,
    transfer,
)
from app.web.security import AccessPolicy

log = logging.getLogger("maestro")

API_PREFIX = "/api/v1"
SHUTDOWN_STEP_S = 5.0  # four steps stay well inside any supervisor's stop timeout


@dataclass
class AppState:
    """What handlers and pages share for one running app; filled in by the lifespan."""

    settings: Settings
    policy: AccessPolicy
    hub: EventHub
    db: Database | None = None
    _writer: Writer | None = None
    _terminals: TerminalRegistry | None = None

    def database(self) -> Database:
        """The open database (only valid while the app runs)."""
        if self.db is None:
            raise RuntimeError("database used before the app started")
        return self.db

    def terminals(self) -> TerminalRegistry:
        """The sessions running on this instance (only valid while the app runs)."""
        if self._terminals is None:
            raise RuntimeError("terminals used before the app started")
        return self._terminals

    def writer(self) -> Writer:
        """The single write path (only valid while the app runs)."""
        if self._writer is None:
            raise RuntimeError("writer used before the app started")
        return self._writer


class MaestroApp:
    """The ASGI application uvicorn serves: security gate -> front door -> Litestar or NiceGUI."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        ensure_home(settings.home)
        self.grants = SessionGrants()
        self.policy = AccessPolicy(settings, load_or_create_token(settings.home), self.grants)
        self.state = AppState(settings=settings, policy=self.policy, hub=EventHub(settings.event_queue_limit))
        self.channels = channels_plugin(settings)
        self.api = self._build_api()
        from ui import nicegui_app  # imported here: NiceGUI is process-global and heavy

        self._nicegui = nicegui_app(settings)
        public = frozenset(route.path for route in self.api.routes if _is_public(route))
        self._asgi = SecurityGate(
            FrontDoor(self.api, self._nicegui, self.state), self.policy, public, settings.max_body_bytes
        )

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
        )
        v1 = Router(path=API_PREFIX, route_handlers=[h for m in modules for h in m.ROUTES])
        return Litestar(
            route_handlers=[
                v1,
                create_static_files_router(path="/static", directories=[static_dir()], include_in_schema=False),
            ],
            dependencies={
                "db": Provide(_database, sync_to_thread=False),
                "writer": Provide(provide_writer, sync_to_thread=False),
                "actor": Provide(provide_actor, sync_to_thread=False),
            },
            guards=[agent_guard],  # what session-scoped tokens may do (app/web/agent_access.py)
            exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
            openapi_config=openapi_config(),
            # Our lifespan runs inside the channels plugin's (it publishes through it), hence a plugin of its own.
            plugins=[self.channels, _LifespanAfterPlugins(self._lifespan)],
            request_max_body_size=self.settings.max_body_bytes,
            state=State({"maestro": self.state}),
            debug=False,
            logging_config=None,  # the launcher configures logging (with token redaction)
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, _: Litestar) -> AsyncIterator[None]:
        self.state.db = await open_database(self.settings)
        self.state._writer = Writer(self.state.db.engine, publisher(self.state.hub, self.channels))
        await self.state._writer.start()
        self.state._terminals = TerminalRegistry(
            writer=self.state._writer,
            home=self.settings.home,
            host=f"{socket.gethostname()}:{self.settings.home}",
            base_env=_child_environment(os.environ),
            api_url=f"http://127.0.0.1:{self.settings.port}",
            shell=self.settings.shell,
            grants=self.grants,
            idle_after_s=self.settings.session_idle_s,
        )
        lost = await mark_live_sessions_lost(self.state._writer, self.state._terminals.host)
        if lost:
            log.info("%d session(s) whose process is gone marked lost", lost)
        live = run_live(self.state.hub, self.channels, self.state._writer, self.settings)
        pages = self._nicegui.router.lifespan_context(self._nicegui)
        try:
            await live.__aenter__()
            try:
                await pages.__aenter__()
                try:
                    log.info("Maestro ready (%s database)", self.state.db.backend)
                    yield
                finally:
                    await _bounded("UI shutdown", pages.__aexit__(None, None, None))
            finally:
                await _bounded("live events shutdown", live.__aexit__(None, None, None))
        finally:
            # Each step is bounded: a stuck step is logged and skipped, shutdown always completes.
            await _bounded("stopping sessions", self.state._terminals.stop_all())
            await _bounded("writer drain", self.state._writer.stop())
            self.state._writer = None
            await _bounded("database close", close_database(self.state.db))
            self.state.db = None


async def _bounded(step: str, awaitable: Any, seconds: float = SHUTDOWN_STEP_S) -> None:
    """Await a shutdown step for at most `seconds`; say which step was stuck instead of hanging."""
    started = time.monotonic()
    try:
        await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        log.warning("%s did not finish within %.0f s; continuing", step, seconds)
    except Exception:
        log.exception("%s failed", step)
    else:
        if time.monotonic() - started > 1:
            log.warning("%s took %.1f s", step, time.monotonic() - started)


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


def _child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What sessions start from: the server's environment without MAESTRO_* (the user's token never leaks to an
    agent), with this installation's `maestro` first on PATH so agents can run `maestro report`."""
    env = {k: v for k, v in environ.items() if not k.startswith("MAESTRO_")}
    tools = Path(sys.executable).parent
    if (tools / "maestro").exists():
        env["PATH"] = os.pathsep.join([str(tools), *[p for p in env.get("PATH", os.defpath).split(os.pathsep) if p]])
    return env


def _database(state: State) -> Database:
    return state.maestro.database()


def _is_public(route: object) -> bool:
    handlers = [h for h in getattr(route, "route_handlers", []) if set(h.http_methods) != {"OPTIONS"}]
    return bool(handlers) and all(h.opt.get("public") for h in handlers)
