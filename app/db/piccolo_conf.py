"""Piccolo configuration module (PICCOLO_CONF=app.db.piccolo_conf).

Piccolo's migration runner looks its engine up here through `engine_finder()`. `DB` starts as a throwaway
in-memory SQLite engine (enough for `piccolo migrations new maestro --auto`) and `app.db.engine.bind()` replaces
it with the engine built from the running server's settings.
"""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.sqlite import SQLiteEngine

DB = SQLiteEngine(path=":memory:")

APP_REGISTRY = AppRegistry(apps=["app.db.piccolo_app"])
