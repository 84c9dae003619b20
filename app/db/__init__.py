"""Storage: Piccolo tables, engine set-up and migrations (SQLite by default, PostgreSQL optional)."""
