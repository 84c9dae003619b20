"""/api/v1 routes for tasks (being written in this change)."""

ROUTES: list = []
