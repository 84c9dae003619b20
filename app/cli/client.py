"""The CLI's only way to reach a server: locate it, then call the REST API over HTTP with the token."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app.home import live_runtime, read_token


class ApiError(Exception):
    """An error answer from the server, in its one error shape."""

    def __init__(self, status_code: int, detail: str, extra: Any = None) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail
        self.extra = extra


class NoServer(Exception):
    """No running server could be found or reached."""


@dataclass(frozen=True)
class Target:
    """Where the server is and how to authenticate to it."""

    url: str
    token: str | None


def locate(home: Path, environ: Mapping[str, str] | None = None, server: str | None = None) -> Target:
    """--server, MAESTRO_API_URL or the live server.json, with MAESTRO_TOKEN or MAESTRO_HOME/token."""
    env = os.environ if environ is None else environ
    url = server or env.get("MAESTRO_API_URL")
    if not url:
        info = live_runtime(home)
        if info is None:
            raise NoServer(f"Maestro is not running (no live server for {home}). Start it with `maestro`.")
        url = info.url
    token = env.get("MAESTRO_TOKEN") or read_token(home)
    return Target(url=url.rstrip("/"), token=token)


class ApiClient:
    """Thin synchronous client for /api/v1; raises ApiError for error answers and NoServer when unreachable."""

    def __init__(self, target: Target, timeout: float = 30.0) -> None:
        headers = {"X-Maestro-Client": "cli"}
        if target.token:
            headers["Authorization"] = f"Bearer {target.token}"
        self.target = target
        self._http = httpx.Client(base_url=f"{target.url}/api/v1", headers=headers, timeout=timeout)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def get(self, path: str, **params: Any) -> Any:
        """GET and decode JSON."""
        return self._call("GET", path, params=params or None)

    def post(self, path: str, body: Any = None) -> Any:
        """POST a JSON body and decode the JSON answer."""
        return self._call("POST", path, json=body if body is not None else {})

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise NoServer(f"cannot reach Maestro at {self.target.url}: {exc}") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
                raise ApiError(response.status_code, body.get("detail", response.text), body.get("extra"))
            except ValueError:
                raise ApiError(response.status_code, response.text) from None
        return response.json() if response.content else None
