"""One error shape, `{status_code, detail, extra}`, on every error path; unexpected errors never leak."""

from __future__ import annotations

import sqlite3

import httpx
import msgspec
import pytest
from litestar import Request
from litestar.exceptions import ValidationException

from app.errors import Conflict, InvalidInput, NotFound, Unavailable
from app.web.errors import domain_error, http_error, unexpected_error


class Shape(msgspec.Struct, forbid_unknown_fields=True):
    status_code: int
    detail: str
    extra: object = None


def assert_shape(response: httpx.Response, status: int) -> Shape:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = msgspec.json.decode(response.content, type=Shape)
    assert body.status_code == status and body.detail
    return body


async def test_error_shape_across_paths(client: httpx.AsyncClient, anon: httpx.AsyncClient):
    assert_shape(await client.get("/api/v1/nothing-here"), 404)
    assert_shape(await client.delete("/api/v1/ready"), 405)
    assert_shape(await anon.get("/api/v1/ready"), 401)
    assert_shape(await client.get("/api/v1/ready", headers={"host": "evil.example"}), 403)
    assert_shape(
        await client.post(
            "/api/v1/login-links", content=b"x=1", headers={"content-type": "application/x-www-form-urlencoded"}
        ),
        415,
    )
    assert_shape(
        await client.post(
            "/api/v1/login-links", content=b"0" * (3 << 20), headers={"content-type": "application/json"}
        ),
        413,
    )


@pytest.mark.parametrize(
    ("exc", "status"),
    [(InvalidInput("bad"), 400), (NotFound("gone"), 404), (Conflict("cycle", extra={"path": ["a", "b"]}), 409)],
)
def test_domain_errors_map_to_their_status(exc, status):
    response = domain_error(Request(scope={"type": "http", "app": None}), exc)  # type: ignore[arg-type]
    assert response.status_code == status
    assert response.content.status_code == status and response.content.detail == exc.detail
    assert response.content.extra == exc.extra


def test_validation_errors_keep_litestar_detail_and_extra():
    exc = ValidationException(detail="Validation failed for POST /x", extra=[{"message": "bad", "key": "name"}])
    response = http_error(Request(scope={"type": "http", "app": None}), exc)  # type: ignore[arg-type]
    assert response.status_code == 400
    assert response.content.extra == [{"message": "bad", "key": "name"}]


def test_unexpected_errors_say_nothing_internal(caplog: pytest.LogCaptureFixture):
    scope = {
        "type": "http",
        "app": None,
        "method": "GET",
        "path": "/api/v1/x",
        "headers": [],
        "query_string": b"",
        "server": ("127.0.0.1", 1),
        "scheme": "http",
        "root_path": "",
    }
    response = unexpected_error(Request(scope=scope), RuntimeError("secret internals"))  # type: ignore[arg-type]
    assert response.status_code == 500
    assert response.content.detail == "Internal server error"
    assert "secret internals" in caplog.text  # logged for the operator, not sent to the client


def test_unavailable_is_503_with_retry_after():
    response = domain_error(Request(scope={"type": "http", "app": None}), Unavailable("the database is away"))  # type: ignore[arg-type]
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(Unavailable.retry_after_s)
    assert response.content.detail == "the database is away"


def test_a_storage_outage_that_escaped_translation_is_still_a_503(tmp_path, caplog: pytest.LogCaptureFixture):
    # A real "database is locked" from sqlite3, raised where no engine translated it.
    holder = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(tmp_path / "x.db", timeout=0)
    with pytest.raises(sqlite3.OperationalError) as locked:
        other.execute("INSERT INTO t VALUES (1)")
    holder.execute("ROLLBACK")
    scope = {"type": "http", "app": None, "method": "POST", "path": "/api/v1/projects", "headers": []}
    response = unexpected_error(Request(scope=scope), locked.value)  # type: ignore[arg-type]
    assert response.status_code == 503 and "Retry-After" in response.headers
    assert "locked" in response.content.detail
    assert "Traceback" not in caplog.text
