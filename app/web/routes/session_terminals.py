"""The terminal of a running session: WebSocket /sessions/{id}/terminal (output by offset, input, resize, acks)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import msgspec
from litestar import WebSocket, websocket
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect
from litestar.params import PathParameter

from app.errors import NotFound
from app.ids import is_id
from app.models import close_codes
from app.services.runtime import Runtime

TAGS = ["sessions"]


class ResizeMessage(msgspec.Struct, tag="resize", tag_field="type"):
    """Client text frame: the terminal's new size."""

    cols: int
    rows: int


class AckMessage(msgspec.Struct, tag="ack", tag_field="type"):
    """Client text frame: bytes of output the client has processed (flow control)."""

    bytes: int


ControlMessage = ResizeMessage | AckMessage
_control = msgspec.json.Decoder(ControlMessage)
_encode = msgspec.json.Encoder().encode
MAX_OFFSET = 2**63 - 1


def _offset(raw: str | None) -> int | None:
    """The ``offset`` query parameter: a non-negative integer (default 0), None when malformed."""
    if raw is None:
        return 0
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) > MAX_OFFSET:
        return None
    return int(raw)


@websocket("/sessions/{session_id:str}/terminal")
async def attach_terminal(
    socket: WebSocket,
    session_id: Annotated[str, PathParameter(description="A session id (ses_…)")],
    runtime: NamedDependency[Runtime],
) -> None:
    """Binary frames: output from ``?offset=N`` on (default 0) and input. Text frames: JSON control (docs/api.md)."""
    await socket.accept()
    try:
        if not is_id(session_id, "ses"):
            raise NotFound("not a session id")
        terminal = runtime.runner.get(session_id)
    except NotFound as exc:
        await socket.close(code=close_codes.NO_TERMINAL, reason=exc.detail[:120])
        return
    offset = _offset(socket.query_params.get("offset"))
    if offset is None or offset > terminal.output_bytes:
        reason = f"offset must be an integer from 0 to {terminal.output_bytes} (the output so far)"
        await socket.close(code=close_codes.BAD_REQUEST, reason=reason)
        return
    viewer = terminal.attach(offset)
    pump = asyncio.create_task(_pump(socket, viewer, terminal, runtime.runner, session_id))
    listen = asyncio.create_task(_listen(socket, viewer, terminal))
    try:
        await asyncio.wait({pump, listen}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        viewer.detach()  # closing a tab detaches; it never kills
        for task in (pump, listen):
            task.cancel()
        await asyncio.gather(pump, listen, return_exceptions=True)


async def _pump(socket: WebSocket, viewer, terminal, registry, session_id: str) -> None:
    send = socket.send  # the ASGI send event directly: send_bytes adds two calls and a type check per frame
    # The client's position: the offset of the next output byte. Only gap frames move it other than by output.
    await socket.send_text(_encode({"type": "offset", "offset": viewer.offset}).decode())
    # uvicorn's send waits while the transport is above its high-water mark, so a client that stops reading stops
    # this loop; the viewer then holds what is not sent (bounded: acks are clamped to what was handed out).
    while (chunk := await viewer.read()) is not None:
        if viewer.gap is not None:
            lost_from, lost_to = viewer.gap
            gap = {"type": "gap", "from": lost_from, "to": lost_to, "bytes": lost_to - lost_from}
            await socket.send_text(_encode(gap).decode())
        await send({"type": "websocket.send", "bytes": chunk, "text": None})
    if terminal.exit_code is not None:
        await registry.settled(session_id)  # the record says how it ended before the client hears it
        await socket.send_text(_encode({"type": "exit", "exit_code": terminal.exit_code}).decode())
        with contextlib.suppress(Exception):
            await socket.close(code=1000)


async def _listen(socket: WebSocket, viewer, terminal) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes"):
                if not viewer.write(message["bytes"]):
                    reason = "the program is not reading its input: more than 1 MiB is waiting"
                    await socket.close(code=close_codes.INPUT_OVERFLOW, reason=reason)
                    return
            elif message.get("text"):
                try:
                    control = _control.decode(message["text"])
                except msgspec.DecodeError:  # not JSON, an unknown type or bad fields (ValidationError is one too)
                    continue  # ignored, as docs/api.md says: a newer client's messages must not end the session
                if isinstance(control, ResizeMessage):
                    terminal.resize(control.cols, control.rows)
                else:
                    viewer.ack(control.bytes)


ROUTES = [attach_terminal]
