"""Colours, labels and icons for statuses and priorities, in one place."""

from __future__ import annotations

from app.models.common import PRIORITIES, SESSION_STATUSES, TASK_STATUSES

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
    "completed": "green-7",
    "failed": "red-7",
    "stopped": "grey-7",
    "lost": "grey-7",
}
LIVE_SESSION_STATUSES = ("spawning", "running", "idle", "needs_input")

assert set(STATUS_LABEL) == set(TASK_STATUSES) and set(PRIORITY_COLOR) == set(PRIORITIES)
assert set(SESSION_COLOR) == set(SESSION_STATUSES)
