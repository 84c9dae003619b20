"""Where packaged resources live, in a source checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path


def static_dir() -> Path:
    """`static/` from the repository, or its copy packed into the wheel as app/static."""
    packed = Path(__file__).resolve().parent / "static"
    return packed if packed.is_dir() else Path(__file__).resolve().parents[1] / "static"
