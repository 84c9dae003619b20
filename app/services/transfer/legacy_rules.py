"""Mapping rules for the original TypeScript Maestro's values: ids, timestamps, statuses, secrets.

Pure functions and tables (no I/O); `legacy_convert` applies them to whole objects. Documented in docs/api.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from typing import Any

from app.ids import ALPHABET, BODY_LENGTH
from app.models.common import PRIORITIES, TASK_STATUSES

SOURCE = "maestro-legacy"
TEXT_LIMIT = 65536
NAME_LIMIT = 200
MAX_SKILLS = 50
MASTER_PROJECT_NAME = "Master"
VOICE_TASK_REQUEST_ID = "system-voice-directives-task"
TEAM_MEMBER_TASK_TYPE = "team-member"

# Legacy task status -> ours. "archived" is not here: it also sets archived_at (see archived_status).
TASK_STATUS = {s: s for s in TASK_STATUSES}
PRIORITY = {p: p for p in PRIORITIES} | {"urgent": "critical"}
DEFAULT_PRIORITY = "medium"

# Legacy per-session task status -> our link status. "skipped" (the session passed the task over without doing it)
# becomes failed, plus a note on the task's timeline; the early-core queue statuses map to their nearest meaning.
LINK_STATUS = {
    "working": "working",
    "blocked": "blocked",
    "completed": "completed",
    "failed": "failed",
    "skipped": "failed",
    "queued": "working",
    "needs_input": "blocked",
}

# Legacy session status -> ours. No process survives an import, so whatever was alive is `lost`.
SESSION_STATUS = {
    "spawning": "lost",
    "idle": "lost",
    "working": "lost",
    "completed": "completed",
    "failed": "failed",
    "stopped": "stopped",
}
# A link whose status the legacy data does not say follows how its session ended.
LINK_FROM_SESSION = {"completed": "completed", "failed": "failed", "stopped": "failed"}

# Legacy session timeline type -> (our kind, label). Types without a kind of their own become notes whose message
# starts with the label, so what happened is still readable.
TIMELINE = {
    "session_started": ("note", "Session started"),
    "session_stopped": ("note", "Session stopped"),
    "task_started": ("progress", "Task started"),
    "task_completed": ("completed", "Task completed"),
    "task_failed": ("error", "Task failed"),
    "task_skipped": ("note", "Task skipped"),
    "task_blocked": ("blocked", "Task blocked"),
    "task_status_changed": ("note", "Task status changed"),
    "needs_input": ("needs_input", "Needs input"),
    "progress": ("progress", "Progress"),
    "error": ("error", "Error"),
    "milestone": ("milestone", "Milestone"),
    "doc_added": ("note", "Document added"),
    "prompt_received": ("note", "Prompt received"),
}

# Legacy agent tool (metadata.agentTool, or launchConfig.provider) -> our profile name.
PROFILE = {
    "claude-code": "claude",
    "claude": "claude",
    "codex": "codex",
    "openai": "codex",
    "gemini": "gemini",
    "hermes": "hermes",
}
DEFAULT_PROFILE = "claude"  # the original launched Claude Code unless told otherwise

KNOWN_SECRETS = frozenset({"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"})
_SECRET_WORDS = frozenset(
    {"KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASS", "PASSPHRASE", "CREDENTIAL", "CREDENTIALS"}
    | {"AUTH", "PRIVATE", "COOKIE", "SIGNATURE"}
)
_SECRET_VALUE = re.compile(
    r"^(?:sk-|sk_|rk_|ghp_|gho_|ghs_|ghu_|github_pat_|glpat-|xox[abprs]-|AIza|AKIA|ya29\.)|://[^/\s:@]+:[^/\s@]+@"
)
MIN_SCRUBBED_LENGTH = 8  # shorter values ("1", "true") are not secrets worth scrubbing from every text
REDACTED = "[redacted]"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def legacy_id(prefix: str, old_id: str) -> str:
    """Our id for a legacy id: prefix + the first 22 base32 characters of sha256(old id), so re-imports collide."""
    number = int.from_bytes(hashlib.sha256(old_id.encode()).digest(), "big")
    body = "".join(ALPHABET[(number >> (256 - 5 * (i + 1))) & 31] for i in range(BODY_LENGTH))
    return f"{prefix}_{body}"


def parse_timestamp(value: Any) -> dt.datetime | None:
    """Epoch milliseconds (number or digits) or ISO-8601 (naive means UTC) -> aware UTC datetime; else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if not math.isfinite(value) or not 0 <= value <= _MAX_MS:
            return None
        return _EPOCH + dt.timedelta(milliseconds=value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if re.fullmatch(r"\d{1,15}", text):
        return parse_timestamp(int(text))
    try:
        parsed = dt.datetime.fromisoformat(text)
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    except (ValueError, OverflowError):
        return None


def parse_date(value: Any) -> dt.date | None:
    """A due date: "YYYY-MM-DD" (or anything parse_timestamp reads, by its UTC date); else None."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    stamp = parse_timestamp(value)
    return stamp.date() if stamp else None


def is_secret(name: str, value: Any) -> bool:
    """True for the known API-key variables and anything named or shaped like a key, token, secret or password."""
    upper = name.upper()
    if upper in KNOWN_SECRETS or upper.endswith(("KEY", "TOKEN", "SECRET", "PASSWORD")):
        return True
    if set(re.split(r"[^A-Z0-9]+", upper)) & _SECRET_WORDS:
        return True
    return isinstance(value, str) and _SECRET_VALUE.search(value) is not None


def archived_status(completed_at: dt.datetime | None) -> str:
    """Our status for a legacy "archived" task (whose earlier status is lost): completed if it was, else cancelled."""
    return "completed" if completed_at is not None else "cancelled"


def is_absolute(path: str) -> bool:
    """POSIX, drive-letter or UNC absolute path (the data may come from another machine)."""
    return re.match(r"^(?:/|[A-Za-z]:[\\/]|\\\\)", path) is not None
