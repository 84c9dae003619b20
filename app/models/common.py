"""Shared field types: ids, bounded strings, enums and timestamps, with their validation rules."""

from __future__ import annotations

import datetime as dt
import os
import re
from typing import Annotated, Any, Literal, get_args

import msgspec

from app.ids import id_pattern

# Examples for the schema: well-formed ids (22 characters of app.ids.ALPHABET after the prefix).
PROJECT_ID_EXAMPLE = "prj_01jd8n1k2m3p4q5r6s7t8v"
TASK_ID_EXAMPLE = "tsk_01jd8n1m4x7c2q9r5s3t6v"
SESSION_ID_EXAMPLE = "ses_01jd8n1p6w2e8g4h9j3k5m"
ProjectId = Annotated[str, msgspec.Meta(pattern=id_pattern("prj"), examples=[PROJECT_ID_EXAMPLE])]
TaskId = Annotated[str, msgspec.Meta(pattern=id_pattern("tsk"), examples=[TASK_ID_EXAMPLE])]
SessionId = Annotated[str, msgspec.Meta(pattern=id_pattern("ses"), examples=[SESSION_ID_EXAMPLE])]

# Text never contains NUL (PostgreSQL refuses it in text columns); names and titles are not blank. "Blank" is
# spelled out (exactly what Python's str.isspace() calls space) rather than written \s, which means different
# things in Python and in the ECMA regexes that OpenAPI clients use (\x1c-\x1f, \ufeff).
_SPACE = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = r"^[^\x00]*[^\x00" + _SPACE + r"][^\x00]*$"
NO_NUL = r"^[^\x00]*$"
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NOT_BLANK)]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NOT_BLANK)]
LongText = Annotated[str, msgspec.Meta(max_length=65536, pattern=NO_NUL)]
# What os.path.isabs accepts on this machine: POSIX "/…"; drive-letter or UNC on Windows. Stated in the schema
# only: the services check it themselves, with a message that says "absolute" (a regex error would not).
ABSOLUTE = r"^(?:[A-Za-z]:[\\/]|[\\/]{2})[^\x00]*$" if os.name == "nt" else r"^/[^\x00]*$"
AbsolutePath = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=4096, pattern=NO_NUL, extra_json_schema={"allOf": [{"pattern": ABSOLUTE}]}),
]
# The one name rule for things a user names in files and URLs (skills, profiles): no spaces, no leading dot.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
NAME_MAX = 100
SlugName = Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX, pattern=NAME_PATTERN)]
SkillName = SlugName
ProfileName = SlugName
SkillList = Annotated[list[SkillName], msgspec.Meta(max_length=50)]
Message = Annotated[str, msgspec.Meta(min_length=1, max_length=65536, pattern=NOT_BLANK)]

# One vocabulary: every set of allowed values is one Literal type here; the tuples below derive from them.
TaskStatus = Literal["todo", "in_progress", "in_review", "blocked", "completed", "cancelled"]
Priority = Literal["low", "medium", "high", "critical"]
EndedStatus = Literal["completed", "failed", "stopped", "lost"]  # final: an ended session stays ended
SessionStatus = Literal["spawning", "running", "idle", "needs_input", "stalled", EndedStatus]
Role = Literal["worker", "orchestrator"]
ClientActor = Literal["ui", "cli", "api"]  # the user's own clients, as event actors and spawn sources
SpawnSource = Literal[ClientActor, "session", "maestro"]  # maestro: its scheduler started a planned run
LinkStatus = Literal["working", "blocked", "completed", "failed", "ended_without_report"]
TimelineKind = Literal["progress", "blocked", "needs_input", "milestone", "error", "completed", "note"]
ReportKind = Literal["progress", "blocked", "needs_input", "complete", "error"]  # what an agent may report


def values_of(literal: Any) -> tuple[str, ...]:
    """The allowed values of a Literal type, in order (nested Literals flattened)."""
    return tuple(get_args(literal))


TASK_STATUSES = values_of(TaskStatus)
PRIORITIES = values_of(Priority)
SESSION_STATUSES = values_of(SessionStatus)
ENDED_STATUSES: frozenset[str] = frozenset(values_of(EndedStatus))
ROLES = values_of(Role)
CLIENT_ACTORS = values_of(ClientActor)
SPAWN_SOURCES = values_of(SpawnSource)
LINK_STATUSES = values_of(LinkStatus)
TIMELINE_KINDS = values_of(TimelineKind)
REPORT_KINDS = values_of(ReportKind)


def is_name(value: object) -> bool:
    """True if `value` follows the one name rule (NAME_PATTERN, at most NAME_MAX characters)."""
    return isinstance(value, str) and 0 < len(value) <= NAME_MAX and re.fullmatch(NAME_PATTERN, value) is not None


def utcnow() -> dt.datetime:
    """Now, timezone-aware UTC, at microsecond precision (what both databases store)."""
    return dt.datetime.now(dt.UTC)


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies: unknown fields are an error, never silently dropped."""
