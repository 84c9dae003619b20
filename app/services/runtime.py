"""The running app's parts in one typed handle, and the lifecycle that opens and closes them in order.

`open_runtime(settings, …)` is used by the composition root (app/web/app.py) and by tests alike; routes, NiceGUI
pages and tests all reach the database, writer, event hub and session runner through the `Runtime` it yields.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.db.engine import Database, close_database, open_database
from app.db.writer import Writer
from app.home import sessions_kept
from app.models.common import ENDED_STATUSES
from app.models.events import EventRecord
from app.services.events import log as event_log
from app.services.events.hub import EventHub, Filter, Reset, SlowConsumer
from app.services.events.retention import prune_forever
from app.services.orchestration.scheduler import Scheduler
from app.services.sessions.hosting import Hosting
from app.services.sessions.orphans import recover_orphans
from app.services.sessions.runner import STOP_GRACE_S, SessionRunner, child_environment
from app.services.sessions.tokens import SessionGrants
from app.services.worktrees import actions as worktree_actions
from app.settings import Settings

log = logging.getLogger("maestro")

SCOPE_KEY = "maestro.runtime"  # where the front door puts the Runtime in a NiceGUI request's ASGI scope
SHUTDOWN_STEP_S = 5.0  # four steps stay well inside any supervisor's stop timeout

OnCommit = Callable[[list[EventRecord]], Awaitable[None]]


@dataclass(frozen=True)
class Runtime:
    """What one running app is made of (valid between startup and shutdown)."""

    settings: Settings
    db: Database
    writer: Writer
    hub: EventHub
    runner: SessionRunner
    grants: SessionGrants
    scheduler: Scheduler


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    grants: SessionGrants,
    environ: Mapping[str, str],
    on_commit: OnCommit | None = None,
) -> AsyncIterator[Runtime]:
    """Open the database, start the writer, the event hub and the session runner; stop them all, bounded, on exit.

    `environ` is what sessions start from (MAESTRO_* removed); `on_commit` also hears of every commit (the web
    layer wakes other instances with it).
    """
    db = await open_database(settings)
    hub = EventHub(settings.event_queue_limit)

    async def published(records: list[EventRecord]) -> None:
        hub.wake()
        if on_commit is not None:
            await on_commit(records)

    writer = Writer(db.engine, published)
    await writer.start()
    runner = SessionRunner(
        writer=writer,
        home=settings.home,
        host=f"{socket.gethostname()}:{settings.home}",
        base_env=child_environment(environ),
        api_url=f"http://127.0.0.1:{settings.port}",
        shell=settings.shell,
        grants=grants,
        idle_after_s=settings.session_idle_s,
        stall_after_s=settings.stall_after_s,
        max_sessions=settings.max_sessions,
        max_processes=settings.session_max_processes,
        hosting=Hosting(
            holders=settings.session_holders,
            socket_dir=settings.home / "holders",
            orphan_grace_s=settings.holder_grace_s,
        ),
    )
    background: list[asyncio.Task[None]] = []
    try:
        # Before anything can spawn: every live record of this instance is left over from an earlier run.
        # Sessions whose holders still run are taken over; the others are marked lost.
        lost = await recover_orphans(writer, runner.host, grace=STOP_GRACE_S, take_over=runner.take_over)
        if lost:
            log.info("%d session(s) left live by an earlier run marked lost (see their timelines)", lost)
        await hub.start()
        prune = prune_forever(writer, settings.event_retention_days)
        background.append(asyncio.create_task(prune, name="maestro-prune"))
        background.append(asyncio.create_task(_revoke_on_end(hub, grants), name="maestro-token-revocation"))
        # In the background (it asks git about every active worktree): merges done but not recorded by a crash.
        background.append(asyncio.create_task(_reconcile_worktrees(writer), name="maestro-worktrees"))
        # After orphans are settled (a lost session has ended its run): planned tasks start by themselves.
        scheduler = Scheduler(writer=writer, hub=hub, runner=runner, host=runner.host)
        background.append(asyncio.create_task(scheduler.run(), name="maestro-scheduler"))
        yield Runtime(
            settings=settings, db=db, writer=writer, hub=hub, runner=runner, grants=grants, scheduler=scheduler
        )
    finally:
        # Each step is bounded: a stuck step is logged and skipped, shutdown always completes.
        for task in background:
            task.cancel()
        await bounded("event hub shutdown", _stop_hub(hub, background))
        if sessions_kept(settings.home, os.getpid()):  # `maestro stop --keep-sessions`
            await bounded("leaving sessions running", runner.detach_all())
        else:
            await bounded("stopping sessions", runner.stop_all())
        await bounded("writer drain", writer.stop())
        await bounded("database close", close_database(db))


async def _revoke_on_end(hub: EventHub, grants: SessionGrants) -> None:
    """Sessions also end on other instances (or by a PATCH): their cached tokens stop working here at the event."""
    after = await event_log.last_seq()
    while True:
        try:
            async for item in hub.subscribe(after, Filter(type_prefixes=("session.status_changed",))):
                if isinstance(item, Reset):
                    after = item.last_seq
                elif isinstance(item, EventRecord):
                    after = item.seq
                    if item.entity_id and item.data.get("to") in ENDED_STATUSES:
                        grants.revoke(item.entity_id)
            return  # the hub stopped
        except SlowConsumer as exc:
            after = exc.last_seq


async def _reconcile_worktrees(writer: Writer) -> None:
    try:
        fixed = await worktree_actions.reconcile(writer)
    except Exception:
        log.exception("checking worktrees for unrecorded merges failed")
        return
    if fixed:
        log.info("%d worktree merge(s) found in git but not recorded: recorded now", fixed)


async def _stop_hub(hub: EventHub, background: list[asyncio.Task[None]]) -> None:
    for task in background:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await hub.stop()


async def bounded(step: str, awaitable: Awaitable[Any], seconds: float = SHUTDOWN_STEP_S) -> None:
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
