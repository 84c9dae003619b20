"""docs/events.md documents every event type the code can publish, with the fields of its typed data."""

from __future__ import annotations

import ast
import datetime as dt
import re
from pathlib import Path

import msgspec

from app.models.events import DATA_OF, EVENT_TYPES, EventData, EventRecord, decode_data

REPO = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^\| `([a-z_]+\.[a-z_]+)` \| [^|]+ \| (.+) \|$", re.M)
ENTITIES = {
    "Project": "the project",
    "Task": "the task",
    "Session": "the session record",
    "TimelineEntry": "the timeline entry",
    "Worktree": "the worktree",
}


def documented_rows() -> dict[str, str]:
    return dict(ROW.findall((REPO / "docs" / "events.md").read_text()))


def wire_fields(cls: type[EventData]) -> list[str]:
    return [f.encode_name for f in msgspec.structs.fields(cls)]


def test_every_defined_type_is_documented_with_its_fields():
    rows = documented_rows()
    assert set(rows) == set(DATA_OF), "docs/events.md and app/models/events.py list different types"
    for cls in EVENT_TYPES:
        data = rows[cls.TYPE]
        entity = next((b.__name__ for b in cls.__mro__[1:] if b.__name__ in ENTITIES), None)
        if entity is not None:
            assert data.startswith(ENTITIES[entity]), (cls.TYPE, data)
            continue
        missing = [name for name in wire_fields(cls) if not re.search(rf"\b{name}\b", data)]
        assert not missing, f"{cls.TYPE}: fields {missing} are not in its docs/events.md row"


def published_classes() -> set[str]:
    """Names of the event data classes the services construct (what they can publish)."""
    names = {cls.__name__ for cls in EVENT_TYPES}
    found = set()
    for path in (REPO / "app" / "services").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Name) and node.id in names:
                found.add(node.id)
    return found


def test_every_defined_type_is_published_and_only_typed_data_is_emitted():
    assert published_classes() == {cls.__name__ for cls in EVENT_TYPES}
    for path in (REPO / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "emit":
                assert node.args and not isinstance(node.args[0], ast.Constant), f"untyped emit in {path}"


def test_records_decode_to_their_definitions_and_unknown_types_are_skipped():
    record = EventRecord(
        seq=1,
        type="task.dependency_added",
        ts=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        project_id="prj_x",
        entity_id="tsk_a",
        actor="api",
        data={"task_id": "tsk_a", "depends_on": "tsk_b"},
    )
    decoded = decode_data(record)
    assert decoded is not None and decoded.TYPE == "task.dependency_added"
    assert decoded.depends_on == "tsk_b"  # type: ignore[attr-defined]
    assert decode_data(msgspec.structs.replace(record, type="something.new")) is None


def test_every_websocket_close_code_is_documented():
    from app.models import close_codes

    docs = (REPO / "docs" / "events.md").read_text() + (REPO / "docs" / "api.md").read_text()
    codes = {name: value for name, value in vars(close_codes).items() if name.isupper()}
    assert len(codes) >= 6
    missing = sorted(name for name, value in codes.items() if str(value) not in docs)
    assert not missing, f"close codes missing from docs/events.md and docs/api.md: {missing}"
