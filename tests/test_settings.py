"""Settings: the environment is read in one place, and unsafe binds are refused."""

from pathlib import Path

import pytest

from app.settings import UnsafeBindError, settings_from_env


def test_defaults_bind_loopback_and_home_from_env(tmp_path: Path):
    settings = settings_from_env({"MAESTRO_HOME": str(tmp_path)})
    assert settings.host == "127.0.0.1"
    assert settings.home == tmp_path
    assert settings.database_path == tmp_path / "maestro.db"
    assert not settings.uses_postgres


def test_home_defaults_to_dot_maestro(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert settings_from_env({}).home == tmp_path / ".maestro"


def test_postgres_url_switches_backend(tmp_path: Path):
    settings = settings_from_env({"MAESTRO_HOME": str(tmp_path), "MAESTRO_DATABASE_URL": "postgresql://u@h/db"})
    assert settings.uses_postgres


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com"])
def test_non_loopback_bind_needs_allowed_hosts(tmp_path: Path, host: str):
    with pytest.raises(UnsafeBindError, match="allowed-host"):
        settings_from_env({"MAESTRO_HOME": str(tmp_path)}, host=host)
    allowed = settings_from_env({"MAESTRO_HOME": str(tmp_path)}, host=host, allowed_hosts=("maestro.lan",))
    assert allowed.allowed_hosts == ("maestro.lan",)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_binds_are_fine(tmp_path: Path, host: str):
    assert settings_from_env({"MAESTRO_HOME": str(tmp_path)}, host=host).host == host


def test_synchronous_level_is_validated(tmp_path: Path):
    with pytest.raises(ValueError, match="sqlite_synchronous"):
        settings_from_env({"MAESTRO_HOME": str(tmp_path)}, sqlite_synchronous="OFF")
