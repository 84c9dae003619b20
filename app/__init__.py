"""Maestro: a local-first orchestrator for AI coding agents."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("maestro-orchestrator")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
