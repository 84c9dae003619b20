"""NiceGUI pages, served by the same process behind the same gate as the API."""

from __future__ import annotations

from fastapi import FastAPI

from app.settings import Settings

_shim: FastAPI | None = None


def nicegui_app(settings: Settings) -> FastAPI:
    """The FastAPI shim NiceGUI runs on; `ui.run_with` may only be called once per process."""
    global _shim
    if _shim is None:
        from nicegui import storage, ui

        from ui.pages import register_pages

        storage.Storage.path = settings.home / "nicegui"
        register_pages()
        shim = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        ui.run_with(
            shim,
            title="Maestro",
            favicon=_favicon(),
            show_welcome_message=False,
            reconnect_timeout=10.0,
        )
        _shim = shim
    return _shim


def _favicon() -> str:
    from app.resources import static_dir

    return str(static_dir() / "favicon.svg")
