"""Opening Maestro like a desktop app: a Chromium-family browser in `--app=` mode (no tabs, no address bar) when
one is installed, else the default browser, else nothing (the caller then prints the single-use link)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import webbrowser
from collections.abc import Mapping
from typing import Literal

# Browsers that understand --app=URL, most specific first.
APP_BROWSERS = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "brave-browser",
    "microsoft-edge",
    "vivaldi",
)
Opened = Literal["app-window", "browser", "none"]


def has_display(environ: Mapping[str, str], platform: str = sys.platform) -> bool:
    """False on a Linux machine without a graphical session (SSH, a server): no window could appear."""
    if platform.startswith("linux"):
        return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))
    return True


def app_browser(environ: Mapping[str, str]) -> str | None:
    """The first Chromium-family browser on PATH (MAESTRO_BROWSER, when set, wins)."""
    path = environ.get("PATH", os.defpath)
    for name in (environ.get("MAESTRO_BROWSER"), *APP_BROWSERS):
        if name and (found := shutil.which(name, path=path)):
            return found
    return None


def open_ui(url: str, environ: Mapping[str, str]) -> Opened:
    """Open `url` in an app window if possible, else in the default browser; say which (or "none")."""
    if environ.get("BROWSER") and not environ.get("MAESTRO_BROWSER"):
        return _default_browser(url)  # the user named their browser: respect it (webbrowser reads $BROWSER)
    if not has_display(environ):
        return "none"
    browser = app_browser(environ)
    if browser is not None:
        try:
            subprocess.Popen(  # detached: closing the terminal or stopping the server never kills the window
                [browser, f"--app={url}", "--new-window"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env=dict(environ),
            )
            return "app-window"
        except OSError:
            pass
    return _default_browser(url)


def _default_browser(url: str) -> Opened:
    try:
        return "browser" if webbrowser.open(url) else "none"
    except webbrowser.Error:
        return "none"
