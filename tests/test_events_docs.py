"""docs/events.md documents every event type the code can publish."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TYPE = re.compile(r"^(project|task|session|timeline|import)\.[a-z_]+$")


def published_types() -> set[str]:
    """Every string literal in the services that has the shape of an event type."""
    found = set()
    for path in (REPO / "app" / "services").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and TYPE.match(node.value):
                found.add(node.value)
    return found


def test_every_published_type_is_documented():
    docs = (REPO / "docs" / "events.md").read_text()
    types = published_types()
    assert len(types) >= 15
    missing = sorted(t for t in types if f"| `{t}` |" not in docs)
    assert not missing, f"undocumented event types: {missing}"
