"""Terminals: the pty host that runs a program in a real terminal (no transport; the web layer wires it up), and the
holder process that keeps one running when the server goes away (``HeldTerminal`` is its server-side face).

The names below are imported on first use: each session's holder process imports this package for
`app.terminals.holder` alone, and should not pay for the server side's modules when it starts.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "HeldTerminal": "app.terminals.held",
    "HolderGone": "app.terminals.held",
    "dismiss_holder": "app.terminals.held",
    "MAX_INPUT": "app.terminals.input_queue",
    "ProgramNotFoundError": "app.terminals.pty_host",
    "Terminal": "app.terminals.pty_host",
    "Viewer": "app.terminals.pty_host",
}
__all__ = ["MAX_INPUT", "HeldTerminal", "HolderGone", "ProgramNotFoundError", "Terminal", "Viewer", "dismiss_holder"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
