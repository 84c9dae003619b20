"""Where packaged resources live, in a source checkout and in an installed wheel."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path


def static_dir() -> Path:
    """`static/` from the repository, or its copy packed into the wheel as app/static."""
    packed = Path(__file__).resolve().parent / "static"
    return packed if packed.is_dir() else Path(__file__).resolve().parents[1] / "static"


def maestro_command(search_path: str | None = None) -> str:
    """How to run this installation's `maestro` in a terminal: plain `maestro` when `search_path` (a PATH value)
    finds this very program, else its absolute path (`make run` does not put .venv/bin on PATH)."""
    script = Path(sys.executable).parent / "maestro"
    if not script.exists():
        return f"{shlex.quote(sys.executable)} -m app.cli"
    found = shutil.which("maestro", path=search_path) if search_path is not None else None
    if found and os.path.samefile(found, script):
        return "maestro"
    return shlex.quote(str(script))
