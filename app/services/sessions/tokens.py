"""Session-scoped tokens: what a spawned agent authenticates with instead of the user's token.

A token is random, handed to one session's process in MAESTRO_TOKEN; only its SHA-256 digest is kept: in the
session's record (`sessions.token_digest`, written with the record, cleared in the same transaction that ends
the session) and in a cache here. So a token keeps working across a server restart and on every instance that
shares the database, and stops working the moment its session ends: locally at once, on other instances when
the `session.status_changed` event reaches them (the runtime revokes on it). A token this instance has not seen
is looked up in the database once (`load`), before the request is checked.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from dataclasses import dataclass

from app.db.tables import Session as SessionRow

log = logging.getLogger("maestro.tokens")

TOKEN_PREFIX = "mst_"  # noqa: S105 (a prefix, not a secret) recognisable in logs and secret scanners; never the user's token format


@dataclass(frozen=True)
class SessionGrant:
    """What a session token may act as: one session, within one project, with one role."""

    session_id: str
    project_id: str
    role: str  # "worker" | "orchestrator"


class SessionGrants:
    """The live session tokens of this server instance."""

    def __init__(self) -> None:
        self._by_digest: dict[bytes, SessionGrant] = {}
        self._digest_of: dict[str, bytes] = {}
        self._lock = threading.Lock()  # looked up from the gate, issued from the event loop: keep it simple and safe

    def issue(self, session_id: str, project_id: str, role: str) -> str:
        """A new token for `session_id` (replacing any earlier one)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest = _digest(token)
        with self._lock:
            old = self._digest_of.pop(session_id, None)
            if old is not None:
                self._by_digest.pop(old, None)
            self._by_digest[digest] = SessionGrant(session_id=session_id, project_id=project_id, role=role)
            self._digest_of[session_id] = digest
        return token

    def revoke(self, session_id: str) -> None:
        """The session ended: its token stops working."""
        with self._lock:
            digest = self._digest_of.pop(session_id, None)
            if digest is not None:
                self._by_digest.pop(digest, None)

    def lookup(self, token: str) -> SessionGrant | None:
        """The grant of a live token, or None."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        with self._lock:
            return self._by_digest.get(_digest(token))

    def adopt(self, grant: SessionGrant, digest_hex: str) -> None:
        """Cache a grant stored in the database (a session this instance took over, or another instance's)."""
        digest = bytes.fromhex(digest_hex)
        with self._lock:
            old = self._digest_of.pop(grant.session_id, None)
            if old is not None:
                self._by_digest.pop(old, None)
            self._by_digest[digest] = grant
            self._digest_of[grant.session_id] = digest

    async def load(self, token: str) -> SessionGrant | None:
        """The grant of a token this instance has not cached, from the database (a live session's digest)."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        cached = self.lookup(token)
        if cached is not None:
            return cached
        digest_hex = _digest(token).hex()
        try:
            row = await (
                SessionRow.select(SessionRow.id, SessionRow.project, SessionRow.role)
                .where((SessionRow.token_digest == digest_hex) & SessionRow.ended_at.is_null())
                .first()
            )
        except Exception:  # noqa: BLE001 - no database, no grant: the request is then refused as unauthenticated
            log.warning("looking up a session token failed", exc_info=True)
            return None
        if row is None:
            return None
        grant = SessionGrant(session_id=row["id"], project_id=row["project"], role=row["role"])
        self.adopt(grant, digest_hex)
        return grant

    def __len__(self) -> int:
        return len(self._by_digest)


def _digest(token: str) -> bytes:
    # A dict lookup by digest leaks nothing useful about the token: the digest of a guess says nothing of a hit.
    return hashlib.sha256(token.encode()).digest()


def digest_hex(token: str) -> str:
    """What the database keeps of a token: its SHA-256, hex."""
    return _digest(token).hex()


async def adopt_grant(grants: SessionGrants, session_id: str) -> None:
    """Cache the stored grant of a live session this instance takes over (after a restart)."""
    row = await (
        SessionRow.select(SessionRow.project, SessionRow.role, SessionRow.token_digest)
        .where((SessionRow.id == session_id) & SessionRow.ended_at.is_null())
        .first()
    )
    if row is not None and row["token_digest"]:
        grants.adopt(
            SessionGrant(session_id=session_id, project_id=row["project"], role=row["role"]), row["token_digest"]
        )
