"""Session-scoped tokens: what a spawned agent authenticates with instead of the user's token.

A token is random, handed to one session's process in MAESTRO_TOKEN and only its SHA-256 digest is kept, in
memory: it is valid while that process runs on this instance and is revoked when the session ends. A restart
therefore revokes every token, which is right, since the restart also ends every process (they are marked lost).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass

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

    def __len__(self) -> int:
        return len(self._by_digest)


def _digest(token: str) -> bytes:
    # A dict lookup by digest leaks nothing useful about the token: the digest of a guess says nothing of a hit.
    return hashlib.sha256(token.encode()).digest()
