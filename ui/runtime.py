"""How a NiceGUI page reaches the running app: the `Runtime` the front door put in its request's scope."""

from __future__ import annotations

from fastapi import Request

from app.services.runtime import SCOPE_KEY, Runtime


def runtime_of(request: Request) -> Runtime:
    """The running app's parts for this page's request (pages call services with them, never HTTP)."""
    runtime = request.scope.get(SCOPE_KEY)
    if not isinstance(runtime, Runtime):
        raise RuntimeError("page served outside Maestro's front door")
    return runtime
