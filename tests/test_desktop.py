"""Desktop-style launch: an app window with a Chromium-family browser, else the default browser, else the link."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from app.desktop import has_display, open_ui

URL = "http://127.0.0.1:4580/?token=one-time"


def fake_browser(folder: Path, name: str) -> Path:
    """An executable that records the arguments it was started with, as a browser would be started."""
    folder.mkdir(exist_ok=True)
    program = folder / name
    program.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{folder}/argv"\n')
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return program


def wait_for(path: Path) -> str:
    deadline = time.monotonic() + 10
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return path.read_text()


def test_a_chromium_family_browser_opens_an_app_window(tmp_path: Path):
    bin_dir = tmp_path / "bin"
    fake_browser(bin_dir, "google-chrome")
    env = {"PATH": str(bin_dir), "DISPLAY": ":0"}
    assert open_ui(URL, env) == "app-window"
    argv = wait_for(bin_dir / "argv").splitlines()
    assert f"--app={URL}" in argv  # no tabs, no address bar


def test_without_a_display_nothing_is_opened_and_the_caller_prints_the_link(tmp_path: Path):
    fake_browser(tmp_path / "bin", "chromium")
    env = {"PATH": str(tmp_path / "bin")}  # an SSH session: no DISPLAY, no WAYLAND_DISPLAY
    assert not has_display(env, "linux")
    assert open_ui(URL, env) == "none"
    assert not (tmp_path / "bin" / "argv").exists()


def test_maestro_browser_overrides_the_search(tmp_path: Path):
    fake_browser(tmp_path / "bin", "chromium")
    mine = fake_browser(tmp_path / "mine", "my-chromium")
    env = {"PATH": os.pathsep.join([str(tmp_path / "bin")]), "DISPLAY": ":0", "MAESTRO_BROWSER": str(mine)}
    assert open_ui(URL, env) == "app-window"
    assert f"--app={URL}" in wait_for(tmp_path / "mine" / "argv")
    assert not (tmp_path / "bin" / "argv").exists()
