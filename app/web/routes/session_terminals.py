"""Running sessions: POST /sessions (spawn), POST /sessions/{id}/stop, WebSocket /sessions/{id}/terminal."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Literal

import msgspec
from litestar import WebSocket, post, websocket
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect
from litestar.params import JSONBody, PathParameter

from app.errors import NotFound
from app.ids import is_id
from app.models.common import Input, Name, ProjectId
from app.models.sessions import Session
from app.web.deps import SessionIdPath

TAGS = ["sessions"]
Cols = Annotated[int, msgspec.Meta(ge=1, le=1000)]
Rows = Annotated[int, msgspec.Meta(ge=1, le=500)]
CLOSE_NO_TERMINAL = 4404


class SessionSpawn(Input):
    """Body of POST /sessions. Agent profiles and task context arrive with the agent-session feature."""

    project_id: ProjectId
    profile: Literal["shell"] = "shell"
    name: Name = "shell"
    cols: Cols = 80
    rows: Rows = 24


class ResizeMessage(msgspec.Struct, tag="resize", tag_field="type"):
    """Client text frame: the terminal's new size."""

    cols: int
    rows: int


class AckMessage(msgspec.Struct, tag="ack", tag_field="type"):
    """Client text frame: bytes of output the client has processed (flow control)."""

    bytes: int


ControlMessage = ResizeMessage | AckMessage
_control = msgspec.json.Decoder(ControlMessage)


@post("/sessions", tags=TAGS, summary="Start a session in a terminal")
async def spawn_session(data: JSONBody[SessionSpawn], state: State, actor: NamedDependency[str]) -> Session:
    """Run the profile's program in a pty in the project's working directory (400 naming a missing program)."""
    return await state.maestro.terminals().spawn_shell(
        project_id=data.project_id,
        name=data.name,
        cols=data.cols,
        rows=data.rows,
        actor=actor,
    )


@post("/sessions/{session_id:str}/stop", tags=TAGS, summary="Stop a running session", status_code=200)
async def stop_session(session_id: SessionIdPath, state: State, actor: NamedDependency[str]) -> Session:
    """HUP, TERM, then KILL the session's process group after a grace period; the session ends as stopped."""
    return await state.maestro.terminals().stop(session_id, actor)


@websocket("/sessions/{session_id:str}/terminal")
async def attach_terminal(
    socket: WebSocket, session_id: Annotated[str, PathParameter(description="A session id (ses_…)")], state: State
) -> None:
    """Binary frames: output (scrollback first) and input. Text frames: JSON control (see docs/api.md)."""
    await socket.accept()
    try:
        if not is_id(session_id, "ses"):
            raise NotFound("not a session id")
        terminal = state.maestro.terminals().get(session_id)
    except NotFound as exc:
        await socket.close(code=CLOSE_NO_TERMINAL, reason=exc.detail[:120])
        return
    viewer = terminal.attach()
    pump = asyncio.create_task(_pump(socket, viewer, terminal, state.maestro.terminals(), session_id))
    listen = asyncio.create_task(_listen(socket, viewer, terminal))
    try:
        await asyncio.wait({pump, listen}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        viewer.detach()  # closing a tab detaches; it never kills
        for task in (pump, listen):
            task.cancel()
        await asyncio.gather(pump, listen, return_exceptions=True)


async def _pump(socket: WebSocket, viewer, terminal, registry, session_id: str) -> None:
    while (chunk := await viewer.read()) is not None:
        await socket.send_bytes(chunk)
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


ROUTES = [spawn_session, stop_session, attach_terminal]
