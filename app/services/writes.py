"""Helpers every service shares: idempotent writes and recognising constraint violations."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, TypeVar

import msgspec

from app.db.tables import IdempotencyKey
from app.db.writer import Tx, WriteOp, Writer
from app.errors import Conflict
from app.models.common import utcnow
from app.models.runs import StateReason

T = TypeVar("T")


async def write(
    writer: Writer,
    op: WriteOp[T],
    actor: str,
    *,
    idempotency: tuple[str, str, Any] | None = None,
    result_type: type[T] | None = None,
) -> T:
    """Run a write; with `idempotency=(scope, key, request)`, a retry returns the first result unchanged."""
    if idempotency is None:
        return await writer.write(op, actor)
    scope, key, request = idempotency
    key_id = hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()
    request_hash = hashlib.sha256(msgspec.json.encode(request)).hexdigest()

    async def once(tx: Tx) -> T:
        stored = await IdempotencyKey.select().where(IdempotencyKey.id == key_id).output(load_json=True).first()
        if stored is not None:
            if stored["request_hash"] != request_hash:
                raise Conflict("Idempotency-Key was already used with a different request", {"key": key})
            return msgspec.convert(stored["response"], result_type) if result_type else stored["response"]
        result = await op(tx)
        await IdempotencyKey.insert(
            IdempotencyKey(
                id=key_id,
                request_hash=request_hash,
                status_code=201,
                response=msgspec.json.encode(result).decode(),  # JSON text: `null` for a change without an answer
                created_at=utcnow(),
            )
        )
        return result

    return await writer.write(once, actor)


KEYS_KEPT = dt.timedelta(days=7)  # a client retrying later than this is a new request


async def forget_old_keys(writer: Writer, now: dt.datetime | None = None) -> int:
    """Delete idempotency keys older than KEYS_KEPT; returns how many went."""
    cutoff = (now or utcnow()) - KEYS_KEPT

    async def op(tx: Tx) -> int:
        old = IdempotencyKey.created_at < cutoff
        count = await IdempotencyKey.count().where(old)
        if count:
            await IdempotencyKey.delete().where(old)
        return count

    return await writer.write(op, "maestro")


def keyed(scope: str, key: str | None, request: Any) -> tuple[str, str, Any] | None:
    """The `idempotency` argument of `write` for a request that carried an Idempotency-Key (None without one)."""
    return (scope, key, request) if key else None


def is_foreign_key_violation(exc: BaseException) -> bool:
    """True for a FOREIGN KEY violation on SQLite or PostgreSQL."""
    return "foreign key" in str(exc).lower() or type(exc).__name__ == "ForeignKeyViolationError"


def is_unique_violation(exc: BaseException) -> bool:
    """True for a UNIQUE/primary-key violation on SQLite or PostgreSQL."""
    text = str(exc).lower()
    return "unique constraint" in text or "duplicate key" in text or type(exc).__name__ == "UniqueViolationError"


def state_reason(tx: Tx, why: str, event: str, at: dt.datetime | None = None) -> StateReason:
    """Why something is in its state, as a write records it: what happened, who acted (the write's actor), when."""
    return StateReason(why=why, by=tx.actor, at=at or utcnow(), event=event)


def stored(reason: StateReason) -> dict[str, Any]:
    """A reason as its JSON column stores it."""
    return msgspec.to_builtins(reason)
