"""The CLI's only way to reach a server: locate it, then call the REST API over HTTP with the token."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
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
    """No running server could be found or reached; `maybe_applied` when a request had gone out before it failed."""

    def __init__(self, message: str, maybe_applied: bool = False) -> None:
        super().__init__(message)
        self.maybe_applied = maybe_applied


@dataclass(frozen=True)
class Target:
    """Where the server is and how to authenticate to it."""

    url: str  # "" when no server was found: `missing` says why, and every request raises NoServer with it
    token: str | None
    home: Path | None = None
    missing: str | None = None


def locate(home: Path, environ: Mapping[str, str] | None = None, server: str | None = None) -> Target:
    """--server, MAESTRO_API_URL or the live server.json, with MAESTRO_TOKEN or MAESTRO_HOME/token.

    No server is not an error yet: the first request raises NoServer, unless the outbox can keep it (a change).
    """
    env = os.environ if environ is None else environ
    token = env.get("MAESTRO_TOKEN") or read_token(home)
    url = server or env.get("MAESTRO_API_URL")
    if not url:
        info = live_runtime(home)
        if info is None:
            missing = f"Maestro is not running (no live server for {home}). Start it with `maestro`."
            return Target(url="", token=token, home=home, missing=missing)
        url = info.url
    return Target(url=url.rstrip("/"), token=token, home=home)


class ApiClient:
    """Thin synchronous client for /api/v1; raises ApiError for error answers and NoServer when unreachable."""

    def __init__(self, target: Target, timeout: float = 30.0) -> None:
        headers = {"X-Maestro-Client": "cli"}
        if target.token:
            headers["Authorization"] = f"Bearer {target.token}"
        self.target = target
        self._http = httpx.Client(base_url=f"{target.url}/api/v1", headers=headers, timeout=timeout)
        from app.cli import outbox  # here, not at the top: the outbox module uses this one's errors

        self.outbox = outbox.for_target(target)

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

    def patch(self, path: str, body: Any) -> Any:
        """PATCH with a JSON body and decode the JSON answer."""
        return self._call("PATCH", path, json=body)

    def put(self, path: str, body: Any) -> Any:
        """PUT a JSON body and decode the JSON answer."""
        return self._call("PUT", path, json=body)

    def delete(self, path: str, **params: Any) -> Any:
        """DELETE (the API answers 204, so usually None)."""
        return self._call("DELETE", path, params=params or None)

    def post_stream(self, path: str, chunks: Iterable[bytes], size: int) -> Any:
        """POST a large JSON body from chunks (an import document) without holding it whole."""
        headers = {"Content-Type": "application/json", "Content-Length": str(size)}
        return self._call("POST", path, content=chunks, headers=headers)

    @contextlib.contextmanager
    def stream(self, path: str, **params: Any) -> Iterator[httpx.Response]:
        """GET a large answer (an export, a recording) to read with `iter_bytes()`, never whole in memory."""
        if not self.target.url:
            raise NoServer(self.target.missing or "no Maestro server")
        try:
            with self._http.stream("GET", path, params=params or None) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _api_error(response)
                yield response
        except httpx.TransportError as exc:
            raise NoServer(f"cannot reach Maestro at {self.target.url}: {exc}") from exc

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        if self.outbox is None:
            return self.send(method, path, **kwargs)
        return self.outbox.call(self, method, path, kwargs)  # sends what is queued first; queues what cannot go

    def send(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request, straight to the server (the outbox's way out); decodes the JSON answer."""
        if not self.target.url:
            raise NoServer(self.target.missing or "no Maestro server")
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            # Refused or timed out while connecting: nothing reached the server. Anything later may have.
            unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
            raise NoServer(f"cannot reach Maestro at {self.target.url}: {exc}", maybe_applied=not unsent) from exc
        if response.status_code >= 400:
            raise _api_error(response)
        return response.json() if response.content else None


def _api_error(response: httpx.Response) -> ApiError:
    """The server's error answer in its one shape (or its raw text when it is not JSON)."""
    try:
        body = response.json()
        return ApiError(response.status_code, body.get("detail", response.text), body.get("extra"))
    except ValueError:
        return ApiError(response.status_code, response.text)
