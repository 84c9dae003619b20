"""The one place a domain error from a service call becomes a toast with its message (never a traceback)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

from nicegui import ui

from app.errors import MaestroError

T = TypeVar("T")
log = logging.getLogger("maestro.ui")


async def run(call: Awaitable[T], *, success: str | None = None) -> T | None:
    """Await a service call; on a domain error show its message and return None; on success optionally say so."""
    try:
        result = await call
    except MaestroError as exc:
        ui.notify(exc.detail, type="warning", multi_line=True)
        return None
    except Exception:
        log.exception("UI action failed")
        ui.notify("Something went wrong; the server log has the details.", type="negative")
        return None
    if success:
        ui.notify(success, type="positive")
    return result
