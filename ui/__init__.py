"""NiceGUI pages, served by the same process behind the same gate as the API."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import FastAPI

from app.home import load_or_create_token
from app.settings import Settings

_shim: FastAPI | None = None


def nicegui_app(settings: Settings) -> FastAPI:
    """The FastAPI shim NiceGUI runs on; `ui.run_with` may only be called once per process."""
    global _shim
    if _shim is None:
        from nicegui import storage, ui

        from ui.pages import register_pages

        storage.Storage.path = settings.home / "nicegui"
        ui.button.default_props("no-caps")  # labels as written: Quasar's capitals made some buttons shout
        register_pages()
        shim = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        ui.run_with(
            shim,
            title="Maestro",
            favicon=_favicon(),
            show_welcome_message=False,
            reconnect_timeout=10.0,
            storage_secret=_storage_secret(settings),
        )
        _shim = shim
    return _shim


def _favicon() -> str:
    from app.resources import static_dir

    return str(static_dir() / "favicon.svg")


def _storage_secret(settings: Settings) -> str:
    """Per-browser preferences are signed with a key derived from the server's token, never a constant."""
    token = load_or_create_token(settings.home)
    return hmac.new(token.encode(), b"maestro nicegui storage", hashlib.sha256).hexdigest()
