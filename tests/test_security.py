"""The security baseline, through the real ASGI stack: token, cookie, Host, Origin, limits, headers."""

from __future__ import annotations

import re

import httpx
import pytest
from nicegui import core as nicegui_core

from app.web import MaestroApp
from tests.conftest import BASE_URL, ORIGIN, PORT

PUBLIC = {("GET", "/api/v1/health"), ("HEAD", "/api/v1/health")}


def concrete(path: str) -> str:
    """Fill path parameters ({id}, {id:str}, {key:path}) with a harmless value."""
    return re.sub(r"\{[^}]+\}", "x", path)


def cookie_header(app: MaestroApp) -> dict[str, str]:
    """The browser cookie a login link sets."""
    return {"cookie": f"{app.policy.cookie_name}={app.policy.cookie_value}"}


def http_routes(app: MaestroApp) -> list[tuple[str, str]]:
    """Every (method, path) the process serves: Litestar's routes and NiceGUI's."""
    found: set[tuple[str, str]] = set()
    for route in app.api.routes:
        for method in getattr(route, "methods", ()):
            if method != "OPTIONS":
                found.add((method, concrete(route.path)))
    for route in nicegui_core.app.routes:
        methods = getattr(route, "methods", None) or ("GET", "POST")  # a Mount serves whatever it holds
        suffix = "" if getattr(route, "methods", None) else "/x"
        for method in methods:
            found.add((method, concrete(route.path) + suffix))
    return sorted(found)


def websocket_paths(app: MaestroApp) -> list[str]:
    """Every WebSocket endpoint: Litestar's WebSocket routes and NiceGUI's socket.io."""
    paths = [concrete(r.path) for r in app.api.routes if type(r).__name__ == "WebSocketRoute"]
    return [*paths, "/_nicegui_ws/socket.io/"]


async def test_route_inventory_is_not_empty(app: MaestroApp):
    routes = http_routes(app)
    assert ("GET", "/api/v1/ready") in routes and ("GET", "/") in routes
    assert any(path.startswith("/schema") for _, path in routes)
    assert any(path.startswith("/_nicegui") for _, path in routes)
    assert ("POST", "/_nicegui_ws/x") in routes and ("GET", "/favicon.ico") in routes


async def test_every_route_refuses_a_missing_token(app: MaestroApp, anon: httpx.AsyncClient):
    for method, path in http_routes(app):
        response = await anon.request(method, path)
        if (method, path) in PUBLIC:
            assert response.status_code < 400, (method, path)
            continue
        assert response.status_code == 401, (method, path, response.status_code)
        if method != "HEAD":
            assert response.headers["content-type"].startswith(("application/json", "text/html"))


async def test_every_route_refuses_a_foreign_host(app: MaestroApp, client: httpx.AsyncClient):
    for method, path in http_routes(app):
        for host in ("evil.example", f"evil.example:{PORT}", f"127.0.0.1:{PORT}.evil.example", "127.0.0.1"):
            response = await client.request(method, path, headers={"host": host})
            assert response.status_code == 403, (method, path, host, response.status_code)


async def test_every_route_refuses_a_wrong_token(app: MaestroApp, anon: httpx.AsyncClient, token: str):
    for method, path in http_routes(app):
        if (method, path) in PUBLIC:
            continue
        response = await anon.request(method, path, headers={"Authorization": f"Bearer {token}x"})
        assert response.status_code in (401, 429), (method, path)


class Recorder:
    """Captures what an ASGI app sends for a hand-made WebSocket upgrade scope."""

    def __init__(self) -> None:
        self.sent: list[dict] = []

    async def receive(self) -> dict:
        return {"type": "websocket.connect"}

    async def send(self, message: dict) -> None:
        self.sent.append(message)


def ws_scope(path: str, headers: dict[str, str]) -> dict:
    return {
        "type": "websocket",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"EIO=4&transport=websocket",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 5555),
        "server": ("127.0.0.1", PORT),
        "scheme": "ws",
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
    }


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"host": f"127.0.0.1:{PORT}"}, 401),  # no credentials
        ({"host": "evil.example", "authorization": "Bearer {token}"}, 403),  # DNS rebinding
        ({"host": f"127.0.0.1:{PORT}", "authorization": "Bearer {token}", "origin": "http://evil.example"}, 403),
        ({"host": f"127.0.0.1:{PORT}", "cookie": "{cookie}"}, 403),  # cookie without an Origin
        ({"host": f"127.0.0.1:{PORT}", "cookie": "{cookie}", "origin": "http://evil.example"}, 403),
        ({"host": f"127.0.0.1:{PORT}", "cookie": "{cookie}", "origin": f"http://localhost:{PORT + 1}"}, 403),
    ],
)
async def test_every_websocket_refuses_before_accept(app: MaestroApp, token: str, headers: dict, status: int):
    cookie = f"{app.policy.cookie_name}={app.policy.cookie_value}"
    filled = {k: v.format(token=token, cookie=cookie) for k, v in headers.items()}
    for path in websocket_paths(app):
        recorder = Recorder()
        await app(ws_scope(path, filled), recorder.receive, recorder.send)
        types = [m["type"] for m in recorder.sent]
        assert "websocket.accept" not in types, path
        assert recorder.sent[0]["type"] == "websocket.http.response.start"
        assert recorder.sent[0]["status"] == status, (path, recorder.sent[0])


async def test_browser_bootstrap_sets_strict_cookie_and_redirects(anon: httpx.AsyncClient, token: str, app: MaestroApp):
    response = await anon.get(f"/?token={token}&tab=board")
    assert response.status_code == 303
    assert response.headers["location"] == "/?tab=board"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"maestro_{PORT}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert token not in cookie  # the cookie carries a derived value, never the token
    assert response.headers["cache-control"] == "no-store"
    page = await anon.get("/", headers=cookie_header(app))
    assert page.status_code == 200
    assert "<title>Maestro</title>" in page.text


async def test_bad_login_link_is_refused(anon: httpx.AsyncClient):
    response = await anon.get("/?token=nope", headers={"accept": "text/html"})
    assert response.status_code == 401
    assert "maestro open" in response.text
    assert "set-cookie" not in response.headers


async def test_login_links_work_once(client: httpx.AsyncClient, anon: httpx.AsyncClient, token: str):
    created = await client.post("/api/v1/login-links")
    assert created.status_code == 201
    link = created.json()["url"]
    assert token not in link and link.startswith(f"{BASE_URL}/?token=")
    path = link.removeprefix(BASE_URL)
    assert (await anon.get(path)).status_code == 303
    assert (await anon.get(path)).status_code == 401  # single use


async def test_cookie_auth_needs_our_origin_to_change_state(anon: httpx.AsyncClient, app: MaestroApp):
    cookie = cookie_header(app)
    assert (await anon.get("/api/v1/ready", headers=cookie)).status_code == 200  # reads are fine
    no_origin = await anon.post("/api/v1/login-links", headers=cookie)
    assert no_origin.status_code == 403
    foreign = await anon.post("/api/v1/login-links", headers={**cookie, "origin": "http://evil.example"})
    assert foreign.status_code == 403
    ours = await anon.post("/api/v1/login-links", headers={**cookie, "origin": ORIGIN})
    assert ours.status_code == 201


async def test_bearer_requests_may_omit_origin_but_not_send_a_foreign_one(client: httpx.AsyncClient):
    assert (await client.post("/api/v1/login-links")).status_code == 201
    foreign = await client.post("/api/v1/login-links", headers={"origin": "http://evil.example"})
    assert foreign.status_code == 403


async def test_state_changing_api_bodies_must_be_json(client: httpx.AsyncClient):
    form = await client.post("/api/v1/login-links", content=b"a=1", headers={"content-type": "text/plain"})
    assert form.status_code == 415
    assert form.json() == {
        "status_code": 415,
        "detail": "Request bodies must be JSON (Content-Type: application/json)",
        "extra": None,
    }


async def test_oversized_bodies_get_413(client: httpx.AsyncClient, app: MaestroApp):
    big = b"[" + b"1," * (app.settings.max_body_bytes // 2) + b"1]"
    response = await client.post("/api/v1/login-links", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["status_code"] == 413


async def test_failed_logins_are_rate_limited(anon: httpx.AsyncClient, client: httpx.AsyncClient, app: MaestroApp):
    limit = app.settings.auth_failures_per_minute
    for _ in range(limit):
        assert (await anon.get("/api/v1/ready", headers={"Authorization": "Bearer wrong"})).status_code == 401
    blocked = await anon.get("/api/v1/ready", headers={"Authorization": "Bearer wrong"})
    assert blocked.status_code == 429
    assert blocked.headers["retry-after"] == "60"


async def test_no_cors_headers_and_security_headers_everywhere(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, app: MaestroApp
):
    preflight = await client.options(
        "/api/v1/ready", headers={"origin": "http://evil.example", "access-control-request-method": "POST"}
    )
    assert not any(h.startswith("access-control-") for h in preflight.headers)
    for response in (
        await anon.get("/", headers=cookie_header(app)),
        await client.get("/schema/swagger"),
        await client.get("/api/v1/ready", headers={"origin": "http://evil.example"}),
        await anon.get("/api/v1/health"),
        await anon.get("/"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'self'" in response.headers["content-security-policy"]
        assert not any(h.startswith("access-control-") for h in response.headers)


async def test_allowed_hosts_extend_the_allowlist(tmp_path):
    from asgi_lifespan import LifespanManager

    from app.settings import Settings
    from app.web import create_app

    settings = Settings(home=tmp_path / "h", host="0.0.0.0", port=PORT, allowed_hosts=("maestro.lan",))
    application = create_app(settings)
    token = (settings.home / "token").read_text().strip()
    async with LifespanManager(application, startup_timeout=30):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application),
            base_url=BASE_URL,
            headers={"Authorization": f"Bearer {token}"},
        ) as c:
            for host, status in [
                ("maestro.lan", 200),
                (f"maestro.lan:{PORT}", 200),
                ("maestro.lan:1", 403),
                ("sub.maestro.lan", 403),
                ("maestro.lan.evil", 403),
            ]:
                assert (await c.get("/api/v1/ready", headers={"host": host})).status_code == status, host


async def test_session_tokens_are_refused_wherever_a_route_has_not_opted_in(app: MaestroApp, anon: httpx.AsyncClient):
    from app.web.agent_access import GRANTS, PROJECT_SOURCES

    worker = app.grants.issue("ses_0000000000000000000001", "prj_0000000000000000000001", "worker")
    headers = {"Authorization": f"Bearer {worker}"}
    handlers = [h for route in app.api.routes for h in getattr(route, "route_handlers", [])]
    for handler in handlers:
        assert handler.opt.get("agent", "read") in GRANTS, handler
        assert handler.opt.get("agent_project", "path") in PROJECT_SOURCES, handler
    for route in app.api.routes:
        for handler in getattr(route, "route_handlers", []):
            if type(route).__name__ == "WebSocketRoute" or handler.opt.get("public"):
                continue
            allowed = handler.opt.get("agent") in ("read", "write", "self")
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                response = await anon.request(method, concrete(route.path), headers=headers)
                if not allowed:
                    assert response.status_code == 403, (method, route.path, response.status_code)
                    assert response.json()["status_code"] == 403
                else:
                    assert response.status_code != 401, (method, route.path)
    for method, path in http_routes(app):  # NiceGUI pages and assets are the user's
        if not path.startswith("/api/") and method == "GET":
            assert (await anon.get(path, headers=headers)).status_code == 403, path
    app.grants.revoke("ses_0000000000000000000001")
    assert (await anon.get("/api/v1/ready", headers=headers)).status_code == 401
