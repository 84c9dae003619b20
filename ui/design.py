"""Colours, labels and icons for statuses and priorities, in one place."""

from __future__ import annotations

from app.models.common import PRIORITIES, SESSION_STATUSES, TASK_STATUSES, values_of
from app.models.worktrees import WORKTREE_STATES, ChangeKind

STATUS_LABEL = {
    "todo": "To do",
    "in_progress": "In progress",
    "in_review": "In review",
    "blocked": "Blocked",
    "completed": "Done",
    "cancelled": "Cancelled",
}
STATUS_COLOR = {
    "todo": "grey-7",
    "in_progress": "blue-7",
    "in_review": "purple-6",
    "blocked": "red-7",
    "completed": "green-7",
    "cancelled": "grey-5",
}
PRIORITY_COLOR = {"low": "grey-6", "medium": "blue-6", "high": "orange-8", "critical": "red-8"}
PRIORITY_ICON = {"low": "south", "medium": "drag_handle", "high": "north", "critical": "priority_high"}
SESSION_COLOR = {
    "spawning": "grey-6",
    "running": "blue-6",
    "idle": "grey-6",
    "needs_input": "amber-8",
    "stalled": "deep-orange-8",
    "completed": "green-7",
    "failed": "red-7",
    "stopped": "grey-7",
    "lost": "grey-7",
}
LIVE_SESSION_STATUSES = ("spawning", "running", "idle", "needs_input", "stalled")

# A planned run's state (app.models.runs), on the board, the tree, the task page, attention and the run graph: live
# work blue, what waits grey or amber, what ended badly red or orange, done green as a completed task.
RUN_COLOR = {
    "waiting": "blue-grey-5",
    "queued": "amber-9",
    "starting": "light-blue-8",
    "running": "blue-7",
    "checking": "purple-6",
    "done": STATUS_COLOR["completed"],
    "failed": "red-7",
    "needs_person": "deep-orange-7",
    "ended_without_report": "deep-orange-9",
}
RUN_WORDS = {
    "waiting": "waiting",
    "queued": "queued",
    "starting": "starting",
    "running": "running",
    "checking": "checking",
    "done": "done",
    "failed": "run failed",
    "needs_person": "needs you",
    "ended_without_report": "ended without report",
}
BLOCKED_BY_FAILED_COLOR = "red-4"  # a planned task waiting on a dependency whose run failed

# What git says of a worktree now (and "discarded": Maestro removed its checkout), in the board's palette.
WORKTREE_STATE_COLOR = {
    "clean": "grey-7",
    "dirty": "amber-8",
    "unmerged": "blue-7",
    "merged": STATUS_COLOR["completed"],
    "missing": "red-7",
    "discarded": STATUS_COLOR["cancelled"],
}
WORKTREE_STATE_WORDS = {  # the state in a few words (the review screen's badge)
    "clean": "no changes",
    "dirty": "uncommitted changes",
    "unmerged": "committed, not merged",
    "merged": "merged",
    "missing": "folder missing",
    "discarded": "discarded",
}
WORKTREE_STATE_HINT = {  # the state in a sentence (the worktrees table's badge)
    "clean": "Nothing new against its base yet",
    "dirty": "Uncommitted changes in its checkout",
    "unmerged": "Commits not merged into its base yet",
    "merged": "Merged into its base",
    "missing": "Its checkout is gone (removed by hand?) or the repository cannot be read",
    "discarded": "Its checkout was removed; the branch was kept unless deleted",
}
CHANGE_KIND_ICON: dict[ChangeKind, tuple[str, str]] = {  # icon, colour
    "added": ("add_box", "green-7"),
    "modified": ("edit_document", "amber-8"),
    "deleted": ("indeterminate_check_box", "red-7"),
    "renamed": ("drive_file_rename_outline", "blue-7"),
    "copied": ("file_copy", "blue-7"),
    "type_changed": ("swap_horiz", "purple-6"),
    "binary": ("insert_drive_file", "grey-7"),
}

assert set(STATUS_LABEL) == set(TASK_STATUSES) and set(PRIORITY_COLOR) == set(PRIORITIES)
assert set(SESSION_COLOR) == set(SESSION_STATUSES)
_SHOWN_STATES = {*WORKTREE_STATES, "discarded"}
assert set(WORKTREE_STATE_COLOR) == set(WORKTREE_STATE_WORDS) == set(WORKTREE_STATE_HINT) == _SHOWN_STATES
assert set(CHANGE_KIND_ICON) == set(values_of(ChangeKind))
