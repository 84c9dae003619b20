"""Models for health and readiness."""

from __future__ import annotations

from typing import Literal

import msgspec


class Health(msgspec.Struct, kw_only=True):
    """Liveness: the process answers."""

    status: Literal["ok"] = "ok"
    version: str


class DatabaseStatus(msgspec.Struct, kw_only=True):
    """Whether the database answers, and which one it is."""

    backend: Literal["sqlite", "postgresql"]
    reachable: bool
    error: str | None = None  # why it could not be used, in words (no credentials, no traceback)


class MigrationStatus(msgspec.Struct, kw_only=True):
    """Shipped migrations the database has not applied yet."""

    pending: list[str]


class Readiness(msgspec.Struct, kw_only=True):
    """Readiness: the database is reachable and the schema is current."""

    status: Literal["ready", "not_ready"]
    reason: str | None = None  # why not ready (None when ready)
    version: str
    database: DatabaseStatus
    migrations: MigrationStatus
