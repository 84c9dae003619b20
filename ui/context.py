"""What every page needs: the running app's parts for this request, the UI actor, and stable test ids."""

from __future__ import annotations

from typing import TypeVar

from nicegui import ui

UI_ACTOR = "ui"  # every write from the browser app is recorded with this actor

E = TypeVar("E", bound=ui.element)


def tid(element: E, name: str) -> E:
    """Give `element` a stable test id: NiceGUI's mark (the User driver) and data-testid (Playwright, automation)."""
    element.mark(name)
    element.props(f"data-testid={name}")
    return element
