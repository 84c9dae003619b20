"""The failed-login limiter on a real server: no web page can lock the user out, and its memory stays bounded."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import websockets

from app.web.security import FailureLimiter
from tests.helpers import LiveServer, live_server, maestro_env
from tests.test_session_agents import _token_of, setup_project

LIMIT = 30  # Settings.auth_failures_per_minute, the default a real server runs with


async def raw_get(server: LiveServer, path: str, source: str, headers: dict[str, str] | None = None) -> int:
    """One HTTP/1.1 GET over a fresh connection from `source` (any 127/8 address is loopback); its status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port, local_addr=(source, 0))
    try:
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        status_line = await reader.readline()
        return int(status_line.split()[1])
    finally:
        writer.close()


def test_a_flood_of_bad_credentials_never_locks_out_valid_ones(tmp_path: Path):
    home = tmp_path / "home"
    with live_server(home, env=maestro_env(home, SHELL="/bin/sh")) as server, server.client() as api:
        project, _ = setup_project(api, tmp_path)
        session = api.post("/api/v1/sessions", json={"project_id": project["id"]}).json()
        agent_token = _token_of(server, session["id"])
        login_link = api.post("/api/v1/login-links").json()["url"].removeprefix(server.url.rstrip("/"))
        cookie_name = f"maestro_{server.port}"

        async def scenario() -> None:
            async with httpx.AsyncClient(base_url=server.url, timeout=10, follow_redirects=False) as anon:
                # What any web page can make the browser do: <img src="http://127.0.0.1:P/?token=x">, many times.
                img_statuses = [(await anon.get(f"/?token=x{i}")).status_code for i in range(LIMIT + 5)]
                assert img_statuses[:LIMIT] == [401] * LIMIT and set(img_statuses[LIMIT:]) == {429}
                bad_bearer = {"Authorization": "Bearer not-the-token"}
                bearer_statuses = [(await anon.get("/api/v1/ready", headers=bad_bearer)).status_code for _ in range(5)]
                assert bearer_statuses == [429] * 5  # wrong guesses are throttled...
                bad_cookie = await anon.get("/api/v1/ready", headers={"cookie": f"{cookie_name}=forged"})
                assert bad_cookie.status_code == 429

                # ...but every valid credential still works, all at once.
                bootstrap = await anon.get(f"/?token={server.token}&tab=board")
                assert bootstrap.status_code == 303, bootstrap.text
                cookie = bootstrap.headers["set-cookie"].split(";", 1)[0]
                anon.cookies.clear()  # each request below presents exactly the credential it names
                as_user = {"Authorization": f"Bearer {server.token}"}
                as_agent = {"Authorization": f"Bearer {agent_token}"}
                results = await asyncio.gather(
                    anon.get("/api/v1/ready", headers=as_user),
                    anon.get("/api/v1/ready", headers={"cookie": cookie}),
                    anon.get("/", headers={"cookie": cookie}),
                    anon.get(f"/api/v1/projects/{project['id']}", headers=as_agent),
                    anon.post(
                        f"/api/v1/sessions/{session['id']}/reports",
                        headers=as_agent,
                        json={"kind": "progress", "message": "still here"},
                    ),
                    anon.get(login_link),  # a fresh single-use login link
                    anon.get("/?token=stale", headers={"cookie": cookie}),  # a used link reopened, signed in: 401
                )
                assert [r.status_code for r in results] == [200, 200, 200, 200, 201, 303, 401], [
                    (r.status_code, r.text[:200]) for r in results
                ]
                ws_url = f"ws://127.0.0.1:{server.port}/api/v1/events?after=0"
                async with websockets.connect(ws_url, additional_headers=as_user) as ws:
                    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["seq"] == 1
                # The attacker is still throttled after all that, and told for how long.
                anon.cookies.clear()  # the login link above signed this client in again
                throttled = await anon.get("/?token=x")
                assert throttled.status_code == 429 and throttled.headers["retry-after"] == "60"

        asyncio.run(scenario())
        # Blocked guesses are not logged one by one: the log says once that the limit was reached.
        log = server.log()
        assert log.count("Too many failed authentication attempts") <= 2, log[-3000:]


def test_many_failing_clients_keep_the_limiter_bounded_without_dropping_blocks(tmp_path: Path):
    cap = FailureLimiter.MAX_CLIENTS
    with live_server(tmp_path / "home") as server:

        async def scenario() -> None:
            bad = {"Authorization": "Bearer wrong"}
            blocked, nearly = "127.0.0.2", "127.0.0.3"
            statuses = [await raw_get(server, "/api/v1/ready", blocked, bad) for _ in range(LIMIT + 1)]
            assert statuses[-2:] == [401, 429]
            for _ in range(LIMIT - 1):  # one failure short of the limit
                assert await raw_get(server, "/api/v1/ready", nearly, bad) == 401

            # More distinct failing clients than the limiter holds; the blocked one keeps guessing meanwhile.
            sources = [f"127.1.{i // 250}.{i % 250 + 1}" for i in range(cap + 200)]
            gate = asyncio.Semaphore(64)

            async def one(source: str) -> int:
                async with gate:
                    return await raw_get(server, "/api/v1/ready", source, bad)

            for start in range(0, len(sources), 500):
                flood = await asyncio.gather(*(one(s) for s in sources[start : start + 500]))
                assert set(flood) == {401}
                assert await raw_get(server, "/api/v1/ready", blocked, bad) == 429, f"block dropped at {start}"

            assert await raw_get(server, "/api/v1/ready", blocked, bad) == 429  # its block survived the flood
            # The oldest quiet client was evicted to make room: its count starts again (memory is bounded).
            assert [await raw_get(server, "/api/v1/ready", nearly, bad) for _ in range(2)] == [401, 401]
            ok = {"Authorization": f"Bearer {server.token}"}
            assert await raw_get(server, "/api/v1/ready", blocked, ok) == 200

        asyncio.run(scenario())


def test_the_limiter_never_holds_more_keys_than_its_cap():
    from app.web.security import OVER, REACHED, UNDER, client_key

    limiter = FailureLimiter(per_minute=3)
    limiter.MAX_CLIENTS = 100
    assert [limiter.fail("guesser") for _ in range(5)] == [UNDER, UNDER, UNDER, REACHED, OVER]
    assert [limiter.fail("nearly") for _ in range(3)] == [UNDER] * 3  # one more would reach the limit
    for i in range(1000):
        assert limiter.fail(f"10.0.{i // 250}.{i % 250}") == UNDER
        assert len(limiter) <= 100
        if i % 50 == 0:
            assert limiter.fail("guesser") == OVER  # a client that keeps failing keeps its block
    assert limiter.fail("nearly") == UNDER  # the oldest quiet key was evicted: memory stays bounded
    assert limiter.fail("guesser") == OVER
    # One host owns a whole IPv6 /64: its addresses share one key; IPv4-mapped addresses are their IPv4.
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert client_key("::ffff:127.0.0.1") == "127.0.0.1" and client_key("unknown") == "unknown"
