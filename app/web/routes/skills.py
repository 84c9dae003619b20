"""/api/v1 routes for skills (being written in this change)."""

ROUTES: list = []
