"""REST route handlers under /api/v1, one module per resource."""
