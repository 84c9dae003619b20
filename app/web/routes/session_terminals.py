"""The terminal of a running session: WebSocket /sessions/{id}/terminal (output, input, resize, flow control)."""

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


@websocket("/sessions/{session_id:str}/terminal")
async def attach_terminal(
    socket: WebSocket,
    session_id: Annotated[str, PathParameter(description="A session id (ses_…)")],
    runtime: NamedDependency[Runtime],
) -> None:
    """Binary frames: output (scrollback first) and input. Text frames: JSON control (see docs/api.md)."""
    await socket.accept()
    try:
        if not is_id(session_id, "ses"):
            raise NotFound("not a session id")
        terminal = runtime.runner.get(session_id)
    except NotFound as exc:
        await socket.close(code=close_codes.NO_TERMINAL, reason=exc.detail[:120])
        return
    viewer = terminal.attach()
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
    while (chunk := await viewer.read()) is not None:
        await send({"type": "websocket.send", "bytes": chunk, "text": None})
    if terminal.exit_code is not None:
        await registry.settled(session_id)  # the record says how it ended before the client hears it
        await socket.send_text(msgspec.json.encode({"type": "exit", "exit_code": terminal.exit_code}).decode())
        with contextlib.suppress(Exception):
            await socket.close(code=1000)


async def _listen(socket: WebSocket, viewer, terminal) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes"):
                terminal.write(message["bytes"])
            elif message.get("text"):
                try:
                    control = _control.decode(message["text"])
                except msgspec.ValidationError:
                    continue  # unknown control messages are ignored, like the protocol says
                if isinstance(control, ResizeMessage):
                    terminal.resize(control.cols, control.rows)
                else:
                    viewer.ack(control.bytes)


ROUTES = [attach_terminal]
