"""The home page: what is running, where its data lives, and a live readiness check."""

from __future__ import annotations

import asyncio

from fastapi import Request
from nicegui import ui

from app import __version__
from app.models.events import EventRecord
from app.services import events, system
from ui.runtime import runtime_of

RECENT = 15


@ui.page("/")
async def home(request: Request) -> None:
    """Show the server's status; the button re-checks readiness in place."""
    runtime = runtime_of(request)
    settings = runtime.settings
    ui.page_title("Maestro")
    with ui.header().classes("items-center bg-slate-800"):
        ui.label("Maestro").classes("text-xl font-bold text-amber-300")
        ui.label(f"v{__version__}").classes("text-sm text-slate-300")
    with ui.column().classes("w-full max-w-3xl mx-auto p-6 gap-4"):
        ui.label("Your agents' control room").classes("text-2xl")
        ui.markdown(
            "Projects, task trees and agent sessions arrive in the next releases. "
            "Automation: the REST API under `/api/v1`, documented at [/schema/swagger](/schema/swagger)."
        )
        with ui.card().classes("w-full"):
            ui.label("Server").classes("text-lg font-semibold")
            db = runtime.db
            ui.label(f"Data directory: {settings.home}").props("data-testid=home-dir")
            ui.label(f"Database: {db.backend} ({db.target})")
            status = ui.label("Readiness: not checked yet").props("data-testid=readiness")

            async def check() -> None:
                result = await system.readiness(runtime.db)
                pending = len(result.migrations.pending)
                status.text = f"Readiness: {result.status} · {pending} pending migrations"
                ui.notify("Database checked", type="positive" if result.status == "ready" else "warning")

            ui.button("Check readiness", on_click=check).props("data-testid=check-readiness")

        with ui.card().classes("w-full"):
            ui.label("Live activity").classes("text-lg font-semibold")
            feed = ui.column().classes("w-full gap-1").props("data-testid=activity")
        await _follow_activity(runtime.hub, feed)


async def _follow_activity(hub: events.EventHub, feed: ui.column) -> None:
    """Show the newest events and keep following them live, in-process, until the page goes away."""
    client = ui.context.client

    async def follow() -> None:
        try:
            await client.connected(timeout=15)
        except TimeoutError:
            return  # the page was fetched but no browser attached to it: nothing to keep live
        start = max(0, await events.last_seq() - RECENT)
        async for item in hub.subscribe(start, events.Filter()):
            if not isinstance(item, EventRecord):
                continue
            with feed:
                label = ui.label(f"#{item.seq} {item.type} · {item.entity_id or ''} · by {item.actor}")
                label.classes("text-sm font-mono").props(f"data-seq={item.seq}")
                label.move(target_index=0)  # newest first
            while len(feed.default_slot.children) > RECENT:
                feed.remove(feed.default_slot.children[-1])

    task = asyncio.create_task(follow())
    client.on_delete(task.cancel)
