"""What went wrong, in one line a person understands: validation messages in words, and the CLI's exit codes.

Exit codes (docs/cli.md): 0 done, 1 refused by the server (or the command could not do it), 2 wrong usage (a value
the server's own models refuse is caught here, before sending), 3 no server could be found or reached.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping
from typing import Any

import click

from app.cli.client import ApiError
from app.ids import id_pattern
from app.models.common import (
    LINK_STATUSES,
    NAME_PATTERN,
    NO_NUL,
    NOT_BLANK,
    PRIORITIES,
    REPORT_KINDS,
    ROLES,
    SESSION_STATUSES,
    TASK_STATUSES,
    TIMELINE_KINDS,
)
from app.models.profiles import PROMPT_VIA

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


class Refused(click.ClickException):
    """The server answered with an error (or the command could not do what was asked): exit 1."""

    exit_code = EXIT_REFUSED


class Unreachable(click.ClickException):
    """No server could be found or reached: exit 3."""

    exit_code = EXIT_UNREACHABLE


# What the patterns of app/models mean, so that no regular expression ever reaches a person.
PATTERN_WORDS: dict[str, str] = {
    id_pattern("prj"): "a project id: prj_ and 22 letters and digits, as `maestro project list` shows",
    id_pattern("tsk"): "a task id: tsk_ and 22 letters and digits, as `maestro task list` shows",
    id_pattern("ses"): "a session id: ses_ and 22 letters and digits, as `maestro session list` shows",
    id_pattern("wtr"): "a worktree id: wtr_ and 22 letters and digits, as `maestro worktree list` shows",
    NOT_BLANK: "more than blanks (and without NUL characters)",
    NO_NUL: "text without NUL characters",
    NAME_PATTERN: "a name of letters, digits, '.', '_' and '-' that starts with a letter or a digit",
}
# msgspec shows a pattern as Python would write it in quotes (a backslash doubled).
_PATTERN_SHOWN = {repr(pattern)[1:-1]: words for pattern, words in PATTERN_WORDS.items()}
# Where a field's name alone does not say which vocabulary it uses, the request path does (see _vocabulary).
FIELD_VALUES: dict[str, tuple[str, ...]] = {"priority": PRIORITIES, "role": ROLES, "prompt_via": PROMPT_VIA}
FIELD_WORDS = {
    "working_dir": "working directory",
    "due_date": "due date",
    "project_id": "project",
    "parent_id": "parent",
    "depends_on": "dependency",
    "dependency_id": "dependency",
    "task_id": "task",
    "task_ids": "tasks",
    "session_id": "session",
    "initial_prompt": "initial prompt",
    "data_dir": "data directory",
}
TYPE_WORDS = {
    "str": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "nothing",
}

_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_MSGSPEC = re.compile(r"Expected `|Invalid enum value|Object contains unknown|Object missing required|Invalid RFC3339")
_VALIDATION = re.compile(r"^Validation failed for (?P<method>[A-Z]+) (?P<path>\S+)")


def explain(
    message: str, *, field: str | None = None, model: type | None = None, body: Any = None, path: str = ""
) -> str:
    """One msgspec/Litestar validation message in words: which field, what is wrong, what is allowed.

    `field` is the parameter name for path and query errors (body errors carry `$.field` in the message); `model`
    is the request body's model when known (its Literal types list the allowed values); `body` the values sent;
    `path` the request path, to tell a task's status from a session's.
    """
    match = _AT.match(message.strip())
    what = match["what"] if match else message
    where = match["path"] if match and match["path"] else ""
    name = field or _field_of(where) or ""
    label = FIELD_WORDS.get(name, name.replace("_", " ")) or "the value"
    if re.fullmatch(r"\.\w+\[\d+\]", where) and label.endswith("s"):
        label = "each " + label[:-1]  # `.skills[2]`: the rule is about one item of the list
    elif where.count(".") > 1:
        label = where.lstrip(".")  # deep in a document (an import): the place says more than the name
    given = _value_at(body, where) if body is not None else None

    if enum := re.match(r"Invalid enum value '(?P<value>.*)'", what):
        values = _literal_values(model, name) or _vocabulary(name, path)
        allowed = f"; use one of: {', '.join(values)}" if values else ""
        return f"{label} '{enum['value']}' is not allowed{allowed}"
    if regex := re.match(r"Expected `str` matching regex '(?P<re>.*)'", what, re.DOTALL):
        words = _PATTERN_SHOWN.get(regex["re"]) or PATTERN_WORDS.get(regex["re"]) or "in the accepted form"
        shown = f" ('{given}' is not)" if isinstance(given, str) and len(given) <= 60 and given.strip() else ""
        return f"{label} must be {words}{shown}"
    if length := re.match(r"Expected `(?P<type>\w+)` of length (?P<op>[<>]=) (?P<n>\d+)", what):
        n = int(length["n"])
        unit = {"str": "character", "array": "item", "object": "entry"}.get(length["type"], "item")
        if length["op"] == ">=" and n == 1:
            return f"{label} must not be empty"
        bound = "at most" if length["op"] == "<=" else "at least"
        has = f" (this one has {len(given)})" if isinstance(given, str | list | dict) else ""
        return f"{label} must be {bound} {n} {unit}{'s' if n != 1 else ''}{has}"
    if number := re.match(r"Expected `(?:int|float)` (?P<op>[<>]=?) (?P<n>-?[\d.]+)", what):
        bound = {"<=": "at most", ">=": "at least", "<": "less than", ">": "more than"}[number["op"]]
        return f"{label} must be {bound} {number['n']}"
    if "RFC3339 encoded date" in what and "datetime" not in what:
        return f"{label} must be a date like 2030-01-31"
    if "RFC3339" in what:
        return f"{label} must be a date and time like 2030-01-31T09:00:00Z"
    if unknown := re.match(r"Object contains unknown field `(?P<name>[^`]*)`", what):
        return f"unknown field '{unknown['name']}'"
    if missing := re.match(r"Object missing required field `(?P<name>[^`]*)`", what):
        return f"{FIELD_WORDS.get(missing['name'], missing['name'].replace('_', ' '))} is required"
    if wrong := re.match(r"Expected `(?P<want>[\w |]+)`, got `(?P<got>\w+)`", what):
        wants = " or ".join(TYPE_WORDS.get(t.strip(), t.strip()) for t in wrong["want"].split("|"))
        return f"{label} must be {wants}, not {TYPE_WORDS.get(wrong['got'], wrong['got'])}"
    # Anything else is shown as it came, but never with a regular expression in it.
    cleaned = re.sub(r"matching regex '.*?'(?=$| - )", "in the accepted form", what)
    return f"{label}: {cleaned}" if name else cleaned


def describe(exc: ApiError, *, session_env: bool = False) -> str:
    """The server's refusal as one line: validation errors explained field by field, the HTTP status at the end."""
    text = exc.detail
    validation = _VALIDATION.match(exc.detail)
    if isinstance(exc.extra, list):
        path = validation["path"].split("?")[0] if validation else ""
        notes = [_explain_entry(e, path) for e in exc.extra if isinstance(e, Mapping) and "message" in e]
        if notes:
            # "Validation failed for GET /api/v1/…" says nothing the notes do not; the notes replace it.
            text = "; ".join(notes) if validation else f"{text} ({'; '.join(notes)})"
    elif validation:
        text = "the server refused the request's values"
    elif embedded := _MSGSPEC.search(text):
        # A service quoting a decoder's message ("invalid export document: Expected `str` matching regex …").
        text = text[: embedded.start()] + explain(text[embedded.start() :])
    if exc.status_code == 401 and session_env:
        # A session token dies with its session: say so rather than leave the agent guessing about credentials.
        text += " (the session token works only while this session runs on the server that started it)"
    return f"{text} [HTTP {exc.status_code}]"


def _explain_entry(entry: Mapping[str, Any], path: str) -> str:
    field = None if entry.get("source") == "body" else entry.get("key")
    return explain(str(entry["message"]), field=field, path=path)


def _field_of(where: str) -> str | None:
    """`.title` → title, `.skills[2]` → skills, `.tasks[3].title` → title (the innermost name)."""
    names = re.findall(r"\.(\w+)", where)
    return names[-1] if names else None


def _value_at(body: Any, where: str) -> Any:
    value = body
    for name, index in re.findall(r"\.(\w+)|\[(\d+)\]", where):
        try:
            value = value[name] if name else value[int(index)]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _literal_values(model: type | None, name: str) -> tuple[str, ...]:
    """The allowed values of `name` in the model, in the order the model declares them."""
    if model is None or not name:
        return ()
    try:
        hint = typing.get_type_hints(model, include_extras=True).get(name)
    except (NameError, TypeError):
        return ()
    stack = [hint]
    while stack:
        current = stack.pop()
        if typing.get_origin(current) is typing.Literal:
            return tuple(str(v) for v in typing.get_args(current))
        stack.extend(typing.get_args(current))
    return ()


def _vocabulary(name: str, path: str) -> tuple[str, ...]:
    """The allowed values of a field the server named, told apart by the request path where names are shared."""
    if name == "status":
        if re.search(r"/sessions/[^/]+/tasks/", path):
            return LINK_STATUSES
        return SESSION_STATUSES if "/sessions" in path else TASK_STATUSES
    if name == "kind":
        return REPORT_KINDS if path.endswith("/reports") else TIMELINE_KINDS
    return FIELD_VALUES.get(name, ())
