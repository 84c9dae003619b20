"""The one error shape, `{status_code, detail, extra}`, and the single place domain errors map to it."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from app.db.unavailable import as_unavailable
from app.errors import LimitReached, MaestroError, Unavailable

log = logging.getLogger("maestro.errors")


class ErrorBody(msgspec.Struct, forbid_unknown_fields=True):  # so the schema says: these three keys, no others
    """Every API error, whatever produced it: its HTTP status, what went wrong, and details (or null)."""

    status_code: Annotated[int, msgspec.Meta(ge=400, le=599)]
    detail: str
    # Always sent (no default, so the schema lists it as required): null, an object, or for validation errors a
    # list of {message, key, source}.
    extra: Annotated[
        dict[str, Any] | list[Any] | None,
        msgspec.Meta(description="null, an object naming the values at fault, or a list of validation errors"),
    ]


def error_body(status_code: int, detail: str, extra: Any = None) -> bytes:
    """Encoded error JSON, for code that answers outside Litestar (the security gate)."""
    return msgspec.json.encode(ErrorBody(status_code, detail, extra))


def _respond(status_code: int, detail: str, extra: Any = None, headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=ErrorBody(status_code, detail, extra),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


def domain_error(_: Request, exc: MaestroError) -> Response:
    """Domain errors carry their own status; `Unavailable` (503) also says when to try again."""
    if isinstance(exc, Unavailable):
        return _respond(exc.status, exc.detail, exc.extra, {"Retry-After": str(exc.retry_after_s)})
    return _respond(exc.status, exc.detail, exc.extra)


def limit_error(_: Request, exc: LimitReached) -> Response:
    """A limit was reached: 429, with the Retry-After every 429 of this API carries."""
    return _respond(exc.status, exc.detail, exc.extra, {"Retry-After": str(exc.retry_after_s)})


def http_error(_: Request, exc: HTTPException) -> Response:
    """Litestar's own errors (validation, 404 route, 405, 413) in the same shape."""
    return _respond(exc.status_code, exc.detail, exc.extra or None, exc.headers)


def unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug: log it with its traceback, tell the client nothing internal.

    Except a storage outage that reached here untranslated: that is no bug, so a 503 and one log line.
    """
    unavailable = as_unavailable(exc)
    if unavailable is not None:
        log.warning("%s %s: %s", request.method, request.url.path, unavailable.detail)
        return domain_error(request, unavailable)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _respond(HTTP_500_INTERNAL_SERVER_ERROR, "Internal server error")


EXCEPTION_HANDLERS = {
    LimitReached: limit_error,
    MaestroError: domain_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
