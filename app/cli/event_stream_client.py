"""Follow the live event stream over WebSocket, reconnecting with backoff and resuming from the last seq.

Used by `maestro events --follow`, by automation and by the tests. (The NiceGUI pages run in the server process
and subscribe to the same hub directly, with the same replay-then-live guarantees.)
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.models import close_codes

PERMANENT_STATUSES = {400, 401, 403, 404}


class StreamRefused(Exception):
    """The server refused the subscription (bad token, Host or Origin); retrying cannot help."""


class EventFollower:
    """Async iterator over events (dicts), exactly once and in order across reconnects."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        after: int = 0,
        project_id: str | None = None,
        types: tuple[str, ...] = (),
        max_backoff: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.last_seq = after
        self.project_id = project_id
        self.types = types
        self.max_backoff = max_backoff
        self.reconnects = 0
        self._socket: Any = None

    def url(self) -> str:
        """The WebSocket URL resuming after the last seq seen."""
        query: dict[str, Any] = {"after": self.last_seq}
        if self.project_id:
            query["project_id"] = self.project_id
        if self.types:
            query["types"] = ",".join(self.types)
        return f"{self.base_url.replace('http', 'ws', 1)}/api/v1/events?{urlencode(query)}"

    async def drop(self) -> None:
        """Close the current connection (as a network failure would); iteration reconnects and resumes."""
        if self._socket is not None:
            await self._socket.close()

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        backoff = 0.1
        while True:
            try:
                async with websockets.connect(
                    self.url(),
                    additional_headers={"Authorization": f"Bearer {self.token}"},
                    max_size=2**24,
                    ping_interval=20,
                    ping_timeout=20,
                ) as socket:
                    self._socket = socket
                    backoff = 0.1
                    async for raw in socket:
                        message = json.loads(raw)
                        kind = message.get("type")
                        if kind == "heartbeat":
                            continue
                        if kind == "reset":
                            self.last_seq = message["last_seq"]
                            yield message
                            continue
                        if message["seq"] <= self.last_seq:
                            continue  # never twice, even if a server replays generously
                        self.last_seq = message["seq"]
                        yield message
            except InvalidStatus as exc:
                if exc.response.status_code in PERMANENT_STATUSES:
                    raise StreamRefused(f"event stream refused: HTTP {exc.response.status_code}") from exc
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == close_codes.BAD_REQUEST:
                    raise StreamRefused(exc.rcvd.reason) from exc
            except OSError:
                pass  # server down or restarting: retry
            finally:
                self._socket = None
            self.reconnects += 1
            await asyncio.sleep(backoff * (0.5 + random.random()))  # noqa: S311 (jitter, not security)
            backoff = min(backoff * 2, self.max_backoff)
