"""The outbox file: queued changes in an SQLite database (MAESTRO_HOME/outbox.db, mode 0600), oldest first."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.home import ensure_home

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one replaying process at a time is then the user's affair
    fcntl = None  # type: ignore[assignment]

FILE = "outbox.db"
SCHEMA = """
CREATE TABLE IF NOT EXISTS changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queued_at TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    params TEXT,
    body TEXT,
    idempotency_key TEXT NOT NULL UNIQUE,
    token TEXT,
    actor TEXT NOT NULL,
    command TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'set_aside')),
    reason TEXT
)
"""


@dataclass
class Change:
    """One queued request, as it will be sent again."""

    id: int
    queued_at: str
    method: str
    path: str
    params: dict[str, Any] | None
    body: Any
    idempotency_key: str
    token: str | None  # None: the user's own token at the time of sending
    actor: str  # "you", or the session id whose token it carries
    command: str
    state: str
    reason: str | None

    def public(self) -> dict[str, Any]:
        """What `outbox list --json` shows: everything but the token."""
        return {k: v for k, v in self.__dict__.items() if k != "token"}


class Store:
    """The outbox file: an SQLite database, mode 0600, in a 0700 home; one replaying process at a time."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / FILE

    def exists(self) -> bool:
        """True once something was ever queued here."""
        return self.path.exists()

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """An autocommit connection; the file is created private before SQLite opens it."""
        ensure_home(self.home)
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        if os.name == "posix" and self.path.stat().st_mode & 0o077:
            self.path.chmod(0o600)
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            db.execute(SCHEMA)
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def replaying(self) -> Iterator[None]:
        """Held while sending: two commands replaying at once would send the same change twice."""
        ensure_home(self.home)
        fd = os.open(self.home / "outbox.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def add(self, method: str, path: str, params: Any, body: Any, key: str, token: str | None, actor: str) -> Change:
        """Queue a change at the end; its number orders it."""
        command = shlex.join(["maestro", *sys.argv[1:]])
        now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        with self.connect() as db:
            cursor = db.execute(
                "INSERT INTO changes (queued_at, method, path, params, body, idempotency_key, token, actor, command)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (now, method, path, _dump(params), _dump(body), key, token, actor, command),
            )
            return self.get(db, cursor.lastrowid)

    def get(self, db: sqlite3.Connection, change_id: int | None) -> Change:
        """One change by number (it must exist)."""
        row = db.execute("SELECT * FROM changes WHERE id = ?", (change_id,)).fetchone()
        return _change(row)

    def find(self, change_id: int) -> Change | None:
        """One change by number, or None."""
        if not self.exists():
            return None
        with self.connect() as db:
            row = db.execute("SELECT * FROM changes WHERE id = ?", (change_id,)).fetchone()
        return _change(row) if row else None

    def changes(self, state: str | None = None) -> list[Change]:
        """The changes in the order they were queued, all or in one state."""
        if not self.exists():
            return []
        with self.connect() as db:
            if state is None:
                rows = db.execute("SELECT * FROM changes ORDER BY id").fetchall()
            else:
                rows = db.execute("SELECT * FROM changes WHERE state = ? ORDER BY id", (state,)).fetchall()
        return [_change(row) for row in rows]

    def remove(self, change_id: int) -> bool:
        """Forget a change (sent, or dropped by the user); False if there was none."""
        with self.connect() as db:
            return db.execute("DELETE FROM changes WHERE id = ?", (change_id,)).rowcount == 1

    def set_aside(self, change_id: int, reason: str) -> None:
        """Keep a change the server refused, with why, out of the queue: it is never sent again by itself."""
        with self.connect() as db:
            db.execute("UPDATE changes SET state = 'set_aside', reason = ? WHERE id = ?", (reason, change_id))

    def requeue(self, change_id: int, as_user: bool) -> None:
        """Put a set-aside change back in the queue, at its old place; `as_user` sends it with the user's token."""
        with self.connect() as db:
            if as_user:
                db.execute("UPDATE changes SET token = NULL, actor = 'you' WHERE id = ?", (change_id,))
            db.execute("UPDATE changes SET state = 'pending', reason = NULL WHERE id = ?", (change_id,))


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _change(row: sqlite3.Row) -> Change:
    values = dict(row)
    values["params"] = json.loads(values["params"]) if values["params"] else None
    values["body"] = json.loads(values["body"]) if values["body"] is not None else None
    return Change(**values)
