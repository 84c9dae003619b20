"""Terminals: the pty host that runs a program in a real terminal (no transport; the web layer wires it up)."""

from app.terminals.pty_host import ProgramNotFoundError, Terminal, Viewer
from app.terminals.ring import DROPPED_MARKER

__all__ = ["DROPPED_MARKER", "ProgramNotFoundError", "Terminal", "Viewer"]
