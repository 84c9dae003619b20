"""Domain errors: services raise these; each transport maps them to its own shape in one place."""

from __future__ import annotations

from typing import Any


class MaestroError(Exception):
    """Base of every error a client may see; `status` is the HTTP status it maps to."""

    status = 400

    def __init__(self, detail: str, extra: Any = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(MaestroError):
    """The request is well-formed but its values break a rule."""

    status = 400


class NotFound(MaestroError):
    """The named entity does not exist (or is not visible to the caller)."""

    status = 404


class Conflict(MaestroError):
    """The change contradicts the current state (duplicate name, cycle, non-empty delete)."""

    status = 409


class Forbidden(MaestroError):
    """The caller is authenticated but may not do this."""

    status = 403


class Unavailable(MaestroError):
    """A dependency (database, Redis) cannot be reached right now; the same request may succeed later."""

    status = 503
    retry_after_s = 2  # the Retry-After a client gets: long enough for a lock to clear or a reconnect


class LimitReached(MaestroError):
    """A configured limit (such as the number of concurrent sessions) is reached; retry once something ended."""

    status = 429
    retry_after_s = 5  # a hint for clients; sessions end on their own schedule
