"""/api/v1/events: the durable event log, read by seq (GET) or followed live (WebSocket)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated

import msgspec
from litestar import WebSocket, get, websocket
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect
from litestar.params import QueryParameter

from app.ids import id_pattern, is_id
from app.models import close_codes
from app.models.events import EventPage
from app.services import events
from app.services.runtime import Runtime

# The largest seq a client may name: the largest integer every JSON parser reads exactly (2**53 - 1; a 64-bit bound
# would be rounded by float-based parsers to a value above itself). Seqs never come near it.
MAX_SEQ = 2**53 - 1


@get("/events", tags=["events"], summary="Read the event log", opt={"agent": "read", "agent_project": "query"})
async def read_events(
    after: Annotated[int, QueryParameter(ge=0, le=MAX_SEQ, description="Only events with a greater seq")] = 0,
    project_id: Annotated[
        str | None, QueryParameter(pattern=id_pattern("prj"), description="Only this project's events")
    ] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000, description="At most this many events")] = 100,
) -> EventPage:
    """Committed events with seq > after, oldest first; page by passing the last seq seen as `after`."""
    return await events.read_events(after=after, project_id=project_id, limit=limit)


log = logging.getLogger("maestro.events")

SEND_TIMEOUT_S = 10.0  # a send blocked this long counts as a slow consumer


@websocket("/events", opt={"agent": "read", "agent_project": "query"})
async def stream_events(socket: WebSocket, runtime: NamedDependency[Runtime]) -> None:
    """Stored events with seq > after, then live ones: ordered, each exactly once (see docs/events.md)."""
    try:
        after, flt = _stream_params(socket)
    except ValueError as exc:
        await socket.accept()
        await socket.close(code=close_codes.BAD_REQUEST, reason=str(exc)[:120])
        return
    hub = runtime.hub
    heartbeat = runtime.settings.event_heartbeat_s
    await socket.accept()
    pump = asyncio.create_task(_pump(socket, hub.subscribe(after, flt, heartbeat)))
    listen = asyncio.create_task(_until_disconnect(socket))
    done, pending = await asyncio.wait({pump, listen}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if pump not in done or pump.exception() is None:
        return
    exc = pump.exception()
    code, reason = close_codes.SLOW_CONSUMER, str(exc)
    if not isinstance(exc, events.SlowConsumer):
        log.error("event stream failed", exc_info=exc)
        code, reason = close_codes.INTERNAL_ERROR, "internal error; reconnect with after=<last seq>"
    with contextlib.suppress(Exception):
        await asyncio.wait_for(socket.close(code=code, reason=reason[:120]), SEND_TIMEOUT_S)


async def _pump(socket: WebSocket, stream) -> None:
    try:
        async for item in stream:
            if isinstance(item, events.Reset):
                frame = {
                    "v": 1,
                    "type": "reset",
                    "last_seq": item.last_seq,
                    "pruned_through": item.pruned_through,
                    "reason": item.reason,
                }
            elif isinstance(item, events.Heartbeat):
                frame = {"v": 1, "type": "heartbeat", "last_seq": item.last_seq}
            else:
                frame = item
            try:
                await asyncio.wait_for(socket.send_text(msgspec.json.encode(frame).decode()), SEND_TIMEOUT_S)
            except TimeoutError:
                raise events.SlowConsumer(getattr(item, "seq", 0)) from None
    finally:
        await stream.aclose()


async def _until_disconnect(socket: WebSocket) -> None:
    """Client messages are not part of the protocol; reading them notices the disconnect."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await socket.receive_data(mode="text")


def _stream_params(socket: WebSocket) -> tuple[int, events.Filter]:
    query = socket.query_params
    raw_after = query.get("after", "0")
    if not raw_after.isdigit() or int(raw_after) > MAX_SEQ:
        raise ValueError("after must be a non-negative integer seq")
    project_id = query.get("project_id")
    if project_id is not None and not is_id(project_id, "prj"):
        raise ValueError("project_id is not a project id")
    types = events.parse_types(query.get("types"))
    if len(types) > 50 or any(len(t) > 64 for t in types):
        raise ValueError("types: at most 50 prefixes of at most 64 characters")
    return int(raw_after), events.Filter(project_id=project_id, type_prefixes=types)


ROUTES = [read_events, stream_events]
