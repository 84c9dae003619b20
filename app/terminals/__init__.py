"""Terminals: the pty host that runs a program in a real terminal (no transport; the web layer wires it up)."""

from app.terminals.input_queue import MAX_INPUT
from app.terminals.pty_host import ProgramNotFoundError, Terminal, Viewer

__all__ = ["MAX_INPUT", "ProgramNotFoundError", "Terminal", "Viewer"]
