"""Fixtures: settings on a temporary MAESTRO_HOME, the app with its lifespan, HTTP clients through the gate."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.settings import Settings
from app.web import MaestroApp, create_app
from tests.helpers import fresh_postgres_database, postgres_url_or_skip, reap_holders

pytest_plugins = ["tests.ui_support"]  # the `user` fixture: NiceGUI's User driver over the real app

PORT = 4599
BASE_URL = f"http://127.0.0.1:{PORT}"
ORIGIN = BASE_URL


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """Each test using this runs on SQLite and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    with fresh_postgres_database(postgres_url_or_skip()) as url:
        yield url


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "maestro-home"


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings(home=home, port=PORT)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[MaestroApp]:
    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


@pytest.fixture
def token(app: MaestroApp, home: Path) -> str:
    return (home / "token").read_text().strip()


@pytest.fixture
async def client(app: MaestroApp, token: str) -> AsyncIterator[httpx.AsyncClient]:
    """Authenticated like the CLI: bearer token, no Origin."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL, headers={"Authorization": f"Bearer {token}"}
    ) as c:
        yield c


@pytest.fixture
async def anon(app: MaestroApp) -> AsyncIterator[httpx.AsyncClient]:
    """No credentials at all."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as c:
        yield c


@pytest.fixture(scope="session", autouse=True)
def no_holder_outlives_the_tests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Sessions outlive a killed server by design; the test run's own must not outlive the test run."""
    yield
    reap_holders(tmp_path_factory.getbasetemp())
