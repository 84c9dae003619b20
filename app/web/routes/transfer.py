"""/api/v1 routes for transfer (being written in this change)."""

ROUTES: list = []
