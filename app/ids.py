"""Short, URL-safe, type-prefixed ids (`prj_…`, `tsk_…`, `ses_…`) that sort by creation time."""

from __future__ import annotations

import re
import secrets
import time

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
TIME_CHARS = 9  # 45 bits of milliseconds: good until the year 3084
RANDOM_CHARS = 13  # 65 random bits
BODY_LENGTH = TIME_CHARS + RANDOM_CHARS
PREFIXES = {"project": "prj", "task": "tsk", "session": "ses"}


def new_id(prefix: str) -> str:
    """A fresh id: prefix, underscore, 22 base32 characters (time first, so ids sort by creation)."""
    ms = time.time_ns() // 1_000_000
    head = "".join(ALPHABET[(ms >> (5 * i)) & 31] for i in reversed(range(TIME_CHARS)))
    tail = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_CHARS))
    return f"{prefix}_{head}{tail}"


def id_pattern(prefix: str) -> str:
    """The regular expression an id of this prefix must match."""
    return rf"^{prefix}_[{ALPHABET}]{{{BODY_LENGTH}}}$"


def is_id(value: str, prefix: str) -> bool:
    """True if `value` is a well-formed id with this prefix."""
    return re.fullmatch(id_pattern(prefix), value) is not None
