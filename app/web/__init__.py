"""HTTP and WebSocket transport: the Litestar API, the ASGI front door and its security gate."""

from app.web.app import MaestroApp, create_app

__all__ = ["MaestroApp", "create_app"]
