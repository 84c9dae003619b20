"""Runtime settings: built once from the environment or the CLI, then passed down explicitly."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

DEFAULT_PORT = 4580
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the server needs to know; nothing else reads the environment."""

    home: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    allowed_hosts: tuple[str, ...] = ()
    database_url: str | None = None
    redis_url: str | None = None
    max_body_bytes: int = 2 * 1024 * 1024
    sqlite_synchronous: str = "FULL"  # survive power loss too, not only a crash (docs/architecture.md)
    sqlite_busy_timeout_s: float = 10.0  # how long a write waits for another writer's lock before a 503
    auth_failures_per_minute: int = 30
    event_retention_days: float | None = None  # None keeps every event
    event_queue_limit: int = 2048  # per live subscriber; overflow closes it with code 4008
    event_heartbeat_s: float = 15.0
    shell: str = "/bin/sh"  # the `shell` profile's program: the user's $SHELL
    session_idle_s: float = 30.0  # a running session with no output this long becomes idle
    stall_after_s: float = 600.0  # ... and with neither output nor a report this long, stalled (shown with evidence)
    max_sessions: int = 64  # sessions running on this instance at once; one more spawn is a 429
    session_max_processes: int = 512  # processes in one session's tree; beyond it the session is killed
    # Each session's pty in a holder process of its own, so agents outlive the server (POSIX; off: in process).
    session_holders: bool = os.name == "posix"
    holder_grace_s: float | None = None  # a holder whose server never returns stops its program after this

    @property
    def database_path(self) -> Path:
        """The SQLite file used when no database URL is configured."""
        return self.home / "maestro.db"

    @property
    def uses_postgres(self) -> bool:
        """True when the database URL points at PostgreSQL."""
        return bool(self.database_url) and self.database_url.startswith(("postgresql://", "postgres://"))

    def with_port(self, port: int) -> Settings:
        """A copy bound to the port the server actually listens on."""
        return msgspec.structs.replace(self, port=port)


def default_home(environ: Mapping[str, str]) -> Path:
    """MAESTRO_HOME, or ~/.maestro."""
    value = environ.get("MAESTRO_HOME")
    return Path(value).expanduser().resolve() if value else Path.home() / ".maestro"


def settings_from_env(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from MAESTRO_* variables; keyword overrides (from CLI flags) win."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {"home": default_home(env)}
    if env.get("MAESTRO_DATABASE_URL"):
        values["database_url"] = env["MAESTRO_DATABASE_URL"]
    if env.get("MAESTRO_REDIS_URL"):
        values["redis_url"] = env["MAESTRO_REDIS_URL"]
    if env.get("MAESTRO_SQLITE_SYNCHRONOUS"):
        values["sqlite_synchronous"] = env["MAESTRO_SQLITE_SYNCHRONOUS"].upper()
    if env.get("MAESTRO_SQLITE_BUSY_TIMEOUT_S"):
        values["sqlite_busy_timeout_s"] = float(env["MAESTRO_SQLITE_BUSY_TIMEOUT_S"])
    if env.get("MAESTRO_EVENT_RETENTION_DAYS"):
        values["event_retention_days"] = float(env["MAESTRO_EVENT_RETENTION_DAYS"])
    if env.get("MAESTRO_EVENT_QUEUE_LIMIT"):
        values["event_queue_limit"] = int(env["MAESTRO_EVENT_QUEUE_LIMIT"])
    if env.get("MAESTRO_EVENT_HEARTBEAT_S"):
        values["event_heartbeat_s"] = float(env["MAESTRO_EVENT_HEARTBEAT_S"])
    if env.get("MAESTRO_SESSION_IDLE_S"):
        values["session_idle_s"] = float(env["MAESTRO_SESSION_IDLE_S"])
    if env.get("MAESTRO_STALL_AFTER_S"):
        values["stall_after_s"] = float(env["MAESTRO_STALL_AFTER_S"])
    if env.get("MAESTRO_MAX_SESSIONS"):
        values["max_sessions"] = int(env["MAESTRO_MAX_SESSIONS"])
    if env.get("MAESTRO_SESSION_MAX_PROCESSES"):
        values["session_max_processes"] = int(env["MAESTRO_SESSION_MAX_PROCESSES"])
    if env.get("MAESTRO_SESSION_HOLDERS"):
        values["session_holders"] = env["MAESTRO_SESSION_HOLDERS"].strip().lower() not in ("0", "false", "no", "off")
    if env.get("MAESTRO_HOLDER_GRACE_S"):
        values["holder_grace_s"] = float(env["MAESTRO_HOLDER_GRACE_S"])
    if env.get("SHELL"):
        values["shell"] = env["SHELL"]
    if env.get("MAESTRO_ALLOWED_HOSTS"):
        values["allowed_hosts"] = tuple(h.strip() for h in env["MAESTRO_ALLOWED_HOSTS"].split(",") if h.strip())
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = Settings(**values)  # type: ignore[arg-type]
    validate_bind(settings)
    return settings


class UnsafeBindError(ValueError):
    """Raised when the server would listen beyond loopback without an allowed-host list."""


def is_loopback(host: str) -> bool:
    """True for localhost names and loopback addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_has_port(host: str) -> bool:
    """True if `host` ends in :port (IPv6 literals are bracketed)."""
    return ":" in host.rsplit("]", 1)[-1]


def validate_bind(settings: Settings) -> None:
    """Refuse a non-loopback bind unless allowed host names are given (auth always stays on)."""
    if not is_loopback(settings.host) and not settings.allowed_hosts:
        raise UnsafeBindError(
            f"refusing to listen on {settings.host}: a non-loopback address needs --allowed-host NAME "
            "for every host name clients will use (DNS-rebinding protection); the token stays required"
        )
    if settings.max_sessions < 1 or settings.session_max_processes < 1:
        raise ValueError("MAESTRO_MAX_SESSIONS and MAESTRO_SESSION_MAX_PROCESSES must be at least 1")
    if settings.sqlite_synchronous.upper() not in {"NORMAL", "FULL", "EXTRA"}:
        raise ValueError("sqlite_synchronous must be NORMAL, FULL or EXTRA")
    if settings.sqlite_busy_timeout_s < 0:
        raise ValueError("sqlite_busy_timeout_s (MAESTRO_SQLITE_BUSY_TIMEOUT_S) must not be negative")
