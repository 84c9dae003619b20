"""Schemathesis hooks for tests/test_openapi_contract.py: the one error shape, and the rules a schema cannot state.

Loaded by the `st` process through SCHEMATHESIS_HOOKS; `--checks all` then runs these next to the built-in checks.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from schemathesis.checks import positive_data_acceptance

ERROR_KEYS = {"status_code", "detail", "extra"}

# Body and query fields whose validity depends on what exists on the server, by operation. No JSON Schema can
# say "an id of a task that exists" or "a directory on this machine", so a schema-valid request naming one that
# does not exist is refused with a 400 naming that field in `extra` (docs/api.md: ids in a body are input, not
# the resource addressed). Only such a 400 is forgiven, and only for these fields of these operations; any other
# refusal of schema-valid data still fails.
STATE_DEPENDENT: dict[str, frozenset[str]] = {
    "GET /api/v1/tasks": frozenset({"cursor"}),  # an opaque token only the server issues
    "POST /api/v1/projects": frozenset({"working_dir"}),  # must be an existing directory
    "PATCH /api/v1/projects/{project_id}": frozenset({"working_dir"}),
    "POST /api/v1/tasks": frozenset({"project_id", "parent_id"}),  # must exist (the parent in the same project)
    "POST /api/v1/tasks/{task_id}/move": frozenset({"parent_id", "project_id"}),
    "POST /api/v1/tasks/{task_id}/dependencies": frozenset({"depends_on", "task_id"}),  # both in one project
    "POST /api/v1/tasks/{task_id}/timeline": frozenset({"session_id"}),  # a session of the task's project
    "POST /api/v1/sessions/{session_id}/timeline": frozenset({"task_id"}),  # a task of the session's project
    "POST /api/v1/sessions/{session_id}/reports": frozenset({"task_id"}),  # a task linked to the session
    "PUT /api/v1/tasks/{task_id}/plan": frozenset({"profile"}),  # a known profile
    "POST /api/v1/tasks/{task_id}/run-tree": frozenset({"profile", "task_id"}),  # a known profile, an unfinished leaf
    # A known profile whose program is installed, tasks of the project, installed skills, a parent of the project,
    # a working directory that still exists; for a worktree: a git repository, a base ref it has, an active
    # worktree of the project to share (and not also isolation in_place: a rule across two fields).
    "POST /api/v1/sessions": frozenset(
        {"profile", "task_ids", "skills", "parent_session_id", "program", "cwd"}
        | {"isolation", "working_dir", "base_ref", "worktree_id"}
    ),
    "POST /api/v1/import/legacy": frozenset({"data_dir"}),  # must be an original Maestro data directory
    # A document is consistent or refused whole: rows refer to rows of the same document and project, ids, names
    # and pairs are unique, dependencies acyclic, timestamps representable in UTC. JSON Schema describes each row,
    # not the relations between rows (app/services/transfer/documents.py names the field at fault).
    "POST /api/v1/import": frozenset(
        {"id", "name", "project_id", "task_id", "session_id", "parent_id", "parent_session_id", "depends_on"}
        | {"pair", "ids", "task_ids", "created_at", "updated_at", "started_at", "completed_at", "archived_at"}
        | {"ended_at", "last_activity_at"}
    ),
}


@schemathesis.check
def error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error is `{status_code, detail, extra}` as JSON, with the response's own status (whatever answered)."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{response.status_code} answered with a body that is not JSON") from None
    if not isinstance(body, dict) or set(body) != ERROR_KEYS:
        raise AssertionError(f"{response.status_code} answered without the one error shape: {body!r}")
    if body["status_code"] != response.status_code:
        raise AssertionError(f"error body says {body['status_code']}, the response {response.status_code}")
    return None


@schemathesis.check
def accepts_valid_data(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schemathesis' positive_data_acceptance, except a 400 that names only state-dependent fields (above)."""
    fields = STATE_DEPENDENT.get(case.operation.label)
    if fields and response.status_code == 400 and _named_fields(response) <= fields:
        return None
    return positive_data_acceptance(ctx, response, case)


def _named_fields(response: Any) -> set[str] | frozenset[str]:
    """The fields a domain error names in its `extra` object; none for schema validation errors (a list)."""
    try:
        extra = json.loads(response.content).get("extra")
    except (ValueError, AttributeError):
        return frozenset({"<unreadable>"})
    return set(extra) if isinstance(extra, dict) and extra else frozenset({"<not a domain error>"})
