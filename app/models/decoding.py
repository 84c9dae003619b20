"""JSON decoding as the OpenAPI schema describes it: strict types, except that an integral float is an integer."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T")
INT64 = 2**63


def decode_json(raw: bytes, type_: type[T] | Any) -> T:
    """Decode `raw` as `type_` strictly (no `"5"` for an int, no `0` for a bool), but take `5.0` as the integer 5.

    Why the exception: in JSON Schema (and so in the OpenAPI document) 5.0 is an integer, while msgspec's strict
    mode refuses it. Raises msgspec.DecodeError or msgspec.ValidationError, like msgspec.json.decode, also for
    JSON nested too deeply to decode (msgspec raises RecursionError there, which would otherwise be a 500).
    """
    try:
        try:
            return msgspec.json.decode(raw, type=type_)  # the common case: no integral floats where ints belong
        except msgspec.ValidationError as exc:
            if "got `float`" not in str(exc):
                raise  # the first error is not about an integral float, so reinterpreting floats cannot help
            plain = msgspec.json.decode(raw)
            if not _integral_floats_to_ints(plain):
                raise  # nothing to reinterpret: the strict error stands
        return msgspec.convert(plain, type_, strict=True)
    except RecursionError:
        raise msgspec.DecodeError("JSON is nested too deeply") from None


def _integral_floats_to_ints(tree: Any) -> bool:
    """Replace in place every float with an integral value (in int64 range) by that int; True if any was.

    Iterative, so a deeply nested body cannot exhaust the stack.
    """
    changed = False
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            entries: Any = list(node.items())
        elif isinstance(node, list):
            entries = list(enumerate(node))
        else:
            continue
        for key, value in entries:
            if isinstance(value, float) and value.is_integer() and -INT64 <= value < INT64:
                node[key] = int(value)
                changed = True
            elif isinstance(value, dict | list):
                stack.append(value)
    return changed


def from_column(value: Any, type_: type[T] | Any) -> T | None:
    """A JSON column's value as `type_`, or None when it is empty or no longer readable as that type.

    JSON columns come back as text on SQLite and as parsed values on PostgreSQL; an outdated stored value is
    dropped rather than making the row that holds it unreadable."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, str | bytes):
            value = msgspec.json.decode(value)
        return msgspec.convert(value, type_)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
