"""Protocol edges at the gate, on a real server: Origin schemes, duplicate Host headers, Sec-Fetch-Site."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.helpers import LiveServer, live_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with live_server(tmp_path_factory.mktemp("gate") / "home") as running:
        yield running


def signed_in(server: LiveServer) -> dict[str, str]:
    """The browser cookie, obtained the way a browser gets it."""
    with httpx.Client(base_url=server.url, follow_redirects=False) as anon:
        response = anon.get(f"/?token={server.token}")
    assert response.status_code == 303
    return {"cookie": response.headers["set-cookie"].split(";", 1)[0]}


async def raw_request(server: LiveServer, head: str) -> tuple[int, bytes]:
    """Send a hand-written request head (for what HTTP clients refuse to send); status and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(head.replace("\n", "\r\n").encode() + b"\r\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    header, _, body = data.partition(b"\r\n\r\n")
    return int(header.split()[1]), body


def test_origins_match_with_their_scheme(server: LiveServer):
    cookie = signed_in(server)
    ours, https_ours = f"http://127.0.0.1:{server.port}", f"https://127.0.0.1:{server.port}"
    with httpx.Client(base_url=server.url) as anon, server.client() as api:
        assert anon.post("/api/v1/login-links", headers={**cookie, "origin": ours}).status_code == 201
        for client, headers in ((anon, cookie), (api, {})):
            refused = client.post("/api/v1/login-links", headers={**headers, "origin": https_ours})
            assert refused.status_code == 403
            assert refused.json() == {"status_code": 403, "detail": "Origin not allowed", "extra": None}
        assert api.post("/api/v1/login-links", headers={"origin": f"http://localhost:{server.port}"}).status_code == 201

    async def sockets() -> None:
        url = f"ws://127.0.0.1:{server.port}/api/v1/events?after=0"
        bearer = {"Authorization": f"Bearer {server.token}"}
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(url, additional_headers={**bearer, "Origin": https_ours})
        assert refused.value.response.status_code == 403
        async with websockets.connect(url, additional_headers={**cookie, "Origin": ours}):
            pass

    asyncio.run(sockets())


def test_two_host_headers_are_refused(server: LiveServer):
    port = server.port
    for second in (f"127.0.0.1:{port}", "evil.example"):
        head = (
            f"GET /api/v1/ready HTTP/1.1\nHost: 127.0.0.1:{port}\nHost: {second}\n"
            f"Authorization: Bearer {server.token}\nConnection: close\n"
        )
        status, body = asyncio.run(raw_request(server, head))
        assert status == 400, (second, status, body)
        assert json.loads(body) == {"status_code": 400, "detail": "More than one Host header", "extra": None}
    one = (
        f"GET /api/v1/ready HTTP/1.1\nHost: 127.0.0.1:{port}\nAuthorization: Bearer {server.token}\nConnection: close\n"
    )
    assert asyncio.run(raw_request(server, one))[0] == 200


def test_cookie_reads_from_other_sites_are_refused(server: LiveServer):
    cookie = signed_in(server)
    with httpx.Client(base_url=server.url) as anon, server.client() as api:
        for site in ("cross-site", "same-site"):  # same-site: another server on localhost, any port
            refused = anon.get("/api/v1/ready", headers={**cookie, "sec-fetch-site": site, "sec-fetch-mode": "cors"})
            assert refused.status_code == 403, site
            assert refused.json() == {
                "status_code": 403,
                "detail": "Cookie-authenticated requests from another site are not allowed",
                "extra": None,
            }
            script = anon.get("/schema/openapi.json", headers={**cookie, "sec-fetch-site": site})
            assert script.status_code == 403, site
        for site in ("same-origin", "none"):  # the app's own requests; an address typed or opened by `maestro open`
            assert anon.get("/api/v1/ready", headers={**cookie, "sec-fetch-site": site}).status_code == 200, site
        assert anon.get("/api/v1/ready", headers=cookie).status_code == 200  # browsers without Fetch Metadata
        # A link followed from another local page opens the UI (a navigation, not a read by that page).
        navigate = {**cookie, "sec-fetch-site": "same-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document"}
        assert anon.get("/", headers=navigate).status_code == 200
        # Bearer clients (CLI, agents) are unaffected: the token, not the browser's ambient cookie, vouches.
        assert api.get("/api/v1/ready").status_code == 200
        assert api.get("/api/v1/ready", headers={"sec-fetch-site": "cross-site"}).status_code == 200


def _chunked_post(server: LiveServer, path: str, chunks: list[bytes]) -> tuple[int, dict]:
    """POST a body with Transfer-Encoding: chunked (no Content-Length to refuse up front)."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.putrequest("POST", path)
    connection.putheader("Authorization", f"Bearer {server.token}")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    try:
        for chunk in [*chunks, b""]:
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer and close before the whole body was sent
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"null")


def test_a_chunked_body_over_the_limit_is_413_and_creates_nothing(server: LiveServer):
    with server.client() as api:
        project = api.post("/api/v1/projects", json={"name": "chunked", "working_dir": "/"}).json()
    head = f'{{"project_id": "{project["id"]}", "title": "'.encode()
    status, body = _chunked_post(server, "/api/v1/tasks", [head, *([b"a" * 65536] * 40), b'"}'])
    assert status == 413
    assert set(body) == {"status_code", "detail", "extra"} and body["status_code"] == 413
    status, body = _chunked_post(server, "/api/v1/tasks", [head, b"small", b'"}'])
    assert status == 201 and body["title"] == "small"  # a chunked body within the limit is fine
    with server.client() as api:
        titles = [t["title"] for t in api.get("/api/v1/tasks", params={"project_id": project["id"]}).json()["items"]]
    assert titles == ["small"]
