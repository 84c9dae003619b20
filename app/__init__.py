"""Maestro: a local-first orchestrator for AI coding agents."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # Looked up on first use: importlib.metadata costs tens of milliseconds, and every session's holder process
    # imports this package without needing the version.
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("maestro-orchestrator")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0+source"
