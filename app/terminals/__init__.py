"""Terminals: the pty host that runs a program in a real terminal (no transport; the web layer wires it up), and the
holder process that keeps one running when the server goes away (``HeldTerminal`` is its server-side face)."""

from app.terminals.held import HeldTerminal, HolderGone, dismiss_holder
from app.terminals.input_queue import MAX_INPUT
from app.terminals.pty_host import ProgramNotFoundError, Terminal, Viewer

__all__ = ["MAX_INPUT", "HeldTerminal", "HolderGone", "ProgramNotFoundError", "Terminal", "Viewer", "dismiss_holder"]
