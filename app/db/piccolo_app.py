"""Piccolo app definition: the tables and the folder of shipped migration files."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.db.tables import TABLES

APP_NAME = "maestro"

APP_CONFIG = AppConfig(
    app_name=APP_NAME,
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=list(TABLES),
    migration_dependencies=[],
    commands=[],
)
