"""An unavailable database gives 503 with Retry-After (never a 500), acknowledges nothing unsaved, and service
resumes by itself: SQLite held by another writer, PostgreSQL cut off behind a TCP proxy, each with a real server."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx

from tests.helpers import LiveServer, fresh_postgres_database, live_server, maestro_env, postgres_url_or_skip


def _create(http: httpx.Client, name: str, working_dir: Path) -> httpx.Response:
    return http.post("/api/v1/projects", json={"name": name, "working_dir": str(working_dir)})


def _assert_unavailable(response: httpx.Response) -> dict:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert set(body) == {"status_code", "detail", "extra"} and body["status_code"] == 503
    assert "try again" in body["detail"]
    return body


def _names(http: httpx.Client) -> set[str]:
    response = http.get("/api/v1/projects")
    assert response.status_code == 200, response.text
    return {p["name"] for p in response.json()}


def _assert_quiet_log(server: LiveServer) -> None:
    log = server.log()
    assert "Traceback" not in log and "Internal server error" not in log, log[-4000:]


def test_sqlite_locked_by_another_writer_gives_503_then_recovers(tmp_path: Path):
    home = tmp_path / "home"
    env = maestro_env(home, MAESTRO_SQLITE_BUSY_TIMEOUT_S="0.3")
    with live_server(home, env=env) as server, server.client() as http:
        assert _create(http, "before", tmp_path).status_code == 201
        other = sqlite3.connect(home / "maestro.db", isolation_level=None, timeout=5)
        other.execute("BEGIN EXCLUSIVE")  # another program holds the write lock past the busy timeout
        try:
            # More refused writes than the connection pool holds: none may leak a connection.
            for n in range(6):
                body = _assert_unavailable(_create(http, f"locked-{n}", tmp_path))
                assert "locked" in body["detail"]
            assert http.get("/api/v1/projects").status_code == 200  # WAL: reads go on
            ready = http.get("/api/v1/ready")  # but readiness says writes cannot
            assert ready.status_code == 503 and "locked by another writer" in ready.json()["reason"]
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert _create(http, "after", tmp_path).status_code == 201  # the very next write succeeds
        assert _names(http) == {"before", "after"}  # nothing refused was saved
        assert http.get("/api/v1/ready").json()["status"] == "ready"
        _assert_quiet_log(server)
        assert "writes are failing: the database is locked by another writer" in server.log()


class CuttableProxy:
    """A TCP proxy to PostgreSQL that can be cut (every connection closed, new ones refused) and restored."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    def __enter__(self) -> CuttableProxy:
        self.thread.start()
        self.restore()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def _call(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def restore(self) -> None:
        """Listen again, on the same port."""
        self._call(self._listen())

    def cut(self) -> None:
        """Stop listening (new connections are refused) and close every open connection."""
        self._call(self._cut())

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()  # a reset, as when the network or the server goes away
        self.writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self.writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
        self.writers.discard(writer)


@contextlib.contextmanager
def _postgres_behind_proxy() -> Iterator[tuple[str, str, CuttableProxy]]:
    """A fresh database, its direct URL, and its URL through a proxy the test can cut."""
    with fresh_postgres_database(postgres_url_or_skip()) as direct:
        scheme, _, rest = direct.partition("://")
        creds, _, hostpath = rest.rpartition("@")
        hostport, _, dbname = hostpath.partition("/")
        port = int(hostport.rpartition(":")[2]) if ":" in hostport else 5432
        with CuttableProxy(port) as proxy:
            prefix = f"{creds}@" if creds else ""
            yield direct, f"{scheme}://{prefix}127.0.0.1:{proxy.port}/{dbname}", proxy


def _burst_cut_midway(server: LiveServer, proxy: CuttableProxy, working_dir: Path) -> list[tuple[str, httpx.Response]]:
    """Four clients write at once; the proxy is cut once a few writes were acknowledged."""
    results: list[tuple[str, httpx.Response]] = []
    some_acknowledged = threading.Event()

    def client(k: int) -> None:
        with server.client() as http:
            for n in range(12):
                name = f"burst-{k}-{n}"
                response = _create(http, name, working_dir)
                results.append((name, response))
                if len(results) >= 8:
                    some_acknowledged.set()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    some_acknowledged.wait(30)
    proxy.cut()
    for thread in threads:
        thread.join(60)
    return results


def _saved_names(direct_url: str) -> set[str]:
    async def read() -> set[str]:
        conn = await asyncpg.connect(direct_url)
        try:
            return {row["name"] for row in await conn.fetch("SELECT name FROM projects")}
        finally:
            await conn.close()

    return asyncio.run(read())


def test_postgresql_unreachable_gives_503_and_service_resumes_by_itself(tmp_path: Path):
    home = tmp_path / "home"
    with _postgres_behind_proxy() as (direct, proxied, proxy):
        with live_server(home, env=maestro_env(home, MAESTRO_DATABASE_URL=proxied)) as server, server.client() as http:
            assert _create(http, "before", tmp_path).status_code == 201

            # Cut in the middle of a burst of concurrent writes: whatever was acknowledged must be saved.
            acknowledged: set[str] = {"before"}
            responses = _burst_cut_midway(server, proxy, tmp_path)
            acknowledged |= {name for name, response in responses if response.status_code == 201}
            refused = [response for _, response in responses if response.status_code != 201]
            assert len(refused) >= 10
            for response in refused:
                _assert_unavailable(response)  # every one a 503, never a 500

            # More refused writes than the asyncpg pool holds, a read, and readiness saying why.
            for n in range(12):
                body = _assert_unavailable(_create(http, f"down-{n}", tmp_path))
                assert "cannot be reached" in body["detail"] or "connection was lost" in body["detail"]
            _assert_unavailable(http.get("/api/v1/projects"))
            ready = http.get("/api/v1/ready")
            assert ready.status_code == 503
            assert ready.json()["status"] == "not_ready" and "cannot be reached" in ready.json()["reason"]
            assert ready.json()["database"]["reachable"] is False

            proxy.restore()
            assert _create(http, "after", tmp_path).status_code == 201  # the pool reconnects by itself
            acknowledged.add("after")
            assert http.get("/api/v1/ready").json()["status"] == "ready"
            assert acknowledged <= _names(http)
            _assert_quiet_log(server)
        saved = _saved_names(direct)
        assert acknowledged <= saved  # nothing acknowledged is missing
        assert not any(name.startswith("down-") for name in saved)  # refused while down: nothing saved
