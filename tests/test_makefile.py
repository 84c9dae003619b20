"""`make run`/`make test` recover from a broken .venv instead of failing the same way forever."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_broken_venv_is_recreated(tmp_path: Path):
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    broken = tmp_path / ".venv" / "bin"
    broken.mkdir(parents=True)
    (broken / "python").symlink_to(tmp_path / "no-such-python")  # the Python it was made with is gone
    (tmp_path / ".venv" / ".installed-run").touch()
    result = subprocess.run(
        ["make", "venv", f"PYTHON={sys.executable}"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Creating .venv" in result.stdout
    fresh = tmp_path / ".venv" / "bin" / "python"
    assert subprocess.run([str(fresh), "-c", "import pip"], timeout=60).returncode == 0
    assert not (tmp_path / ".venv" / ".installed-run").exists()  # so the next `make run` installs again
    again = subprocess.run(["make", "venv"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "Creating" not in again.stdout  # a healthy .venv is left alone
