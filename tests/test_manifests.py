"""Session manifests: built from the real database and skill folders, written privately, schema, prompt and docs."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from app.errors import InvalidInput
from app.ids import new_id
from app.models import manifests as models
from app.models.common import REPORT_KINDS
from app.models.manifests import MANIFEST_VERSION, Manifest
from app.services.agents import manifests
from app.services.agents.manifests import build_manifest, manifest_schema, write_manifest
from app.services.agents.prompts import ROLE_INSTRUCTIONS, compose_prompt
from app.settings import Settings
from tests.conftest import PORT
from tests.test_dependencies import depend
from tests.test_skills import skill_md, write_skill
from tests.test_tasks import API, make_project, make_task

DOCS = Path(__file__).resolve().parents[1] / "docs" / "manifest.md"
API_URL = "http://127.0.0.1:4599"


@pytest.fixture
def settings(home: Path, database_url: str | None) -> Settings:
    """The app of these tests runs on SQLite and on PostgreSQL: the tree and dependency queries are raw SQL."""
    return Settings(home=home, port=PORT, database_url=database_url)


async def scenario(client: httpx.AsyncClient, tmp_path: Path, home: Path) -> dict[str, Any]:
    """A project with root > parent > task > child > grandchild, dependencies both ways, and two skills."""
    work = tmp_path / "work"
    work.mkdir()
    pid = await make_project(client, work)
    root = await make_task(client, pid, "Ship v2", status="in_progress")
    parent = await make_task(client, pid, "Parser", parent_id=root["id"])
    task = await make_task(
        client, pid, "Tokenizer", parent_id=parent["id"], description="Handle **unicode**.", priority="high"
    )
    child = await make_task(client, pid, "Identifiers", parent_id=task["id"])
    grandchild = await make_task(client, pid, "Emoji identifiers", parent_id=child["id"], status="completed")
    second = await make_task(client, pid, "Numbers", parent_id=task["id"])
    hidden = await make_task(client, pid, "Old idea", parent_id=task["id"])
    await make_task(client, pid, "Under old idea", parent_id=hidden["id"])
    archived = await client.patch(f"{API}/tasks/{hidden['id']}", json={"archived": True})
    assert archived.status_code == 200, archived.text
    spec = await make_task(client, pid, "Grammar spec")
    done = await make_task(client, pid, "Char classes", status="completed")
    waiting = await make_task(client, pid, "Pretty printer")
    for a, b in ((task, spec), (task, done), (waiting, task)):
        assert (await depend(client, a["id"], b["id"])).status_code == 201
    write_skill(work / ".maestro/skills", "review", skill_md("review", "Code review", "# Review\nRead every diff.\n"))
    write_skill(home / "skills", "style", skill_md("style", "House style", "Use short sentences.\n"))
    return {
        "pid": pid, "work": work, "root": root, "parent": parent, "task": task, "child": child,
        "grandchild": grandchild, "second": second, "hidden": hidden, "spec": spec, "done": done, "waiting": waiting,
    }  # fmt: skip


async def build(s: dict[str, Any], home: Path, **overrides: Any) -> Manifest:
    """build_manifest for the scenario's task with both skills, unless overridden."""
    args: dict[str, Any] = {
        "session_id": new_id("ses"),
        "session_name": "tokenizer worker",
        "role": "worker",
        "profile": "claude",
        "parent_session_id": None,
        "project_id": s["pid"],
        "task_ids": [s["task"]["id"]],
        "skill_names": ["review", "style"],
        "home": home,
        "api_url": API_URL + "/",
    }
    return await build_manifest(**{**args, **overrides})


async def test_manifest_describes_tasks_tree_dependencies_and_skills(
    client: httpx.AsyncClient, tmp_path: Path, home: Path
):
    s = await scenario(client, tmp_path, home)
    m = await build(s, home)
    assert m.manifest_version == MANIFEST_VERSION == 1
    assert m.session.role == "worker" and m.session.profile == "claude" and m.session.working_dir == str(s["work"])
    assert (m.project.id, m.project.name, m.project.working_dir) == (s["pid"], "Alpha", str(s["work"]))

    (t,) = m.tasks
    assert (t.id, t.title, t.description, t.status, t.priority) == (
        s["task"]["id"], "Tokenizer", "Handle **unicode**.", "todo", "high",
    )  # fmt: skip
    assert t.parent_id == s["parent"]["id"]
    assert [(a.id, a.relationship) for a in t.ancestors] == [
        (s["root"]["id"], "ancestor"),
        (s["parent"]["id"], "parent"),
    ]
    assert t.ancestors[0].status == "in_progress" and t.ancestors[1].parent_id == s["root"]["id"]
    # The whole visible subtree as an outline (by position), each with its parent; archived ones are hidden.
    assert [(x.id, x.parent_id, x.relationship) for x in t.subtasks] == [
        (s["child"]["id"], s["task"]["id"], "subtask"),
        (s["grandchild"]["id"], s["child"]["id"], "subtask"),
        (s["second"]["id"], s["task"]["id"], "subtask"),
    ]
    assert t.subtasks_truncated == 0 and t.subtasks[1].status == "completed"
    assert {d.id: (d.status, d.relationship) for d in t.dependencies} == {
        s["spec"]["id"]: ("todo", "depends_on"),
        s["done"]["id"]: ("completed", "depends_on"),
    }
    assert t.blocked_by == [s["spec"]["id"]]
    assert [(d.id, d.relationship) for d in t.dependents] == [(s["waiting"]["id"], "dependent")]
    related = {r.id: r.relationship for r in m.related_tasks}
    assert related[s["parent"]["id"]] == "parent" and related[s["waiting"]["id"]] == "dependent"
    assert related[s["grandchild"]["id"]] == "subtask" and s["task"]["id"] not in related

    assert [(k.name, k.description, k.instructions) for k in m.skills] == [
        ("review", "Code review", "# Review\nRead every diff.\n"),
        ("style", "House style", "Use short sentences.\n"),
    ]
    assert m.skills[0].source == str(s["work"] / ".maestro/skills/review/SKILL.md")

    r = m.reporting
    assert r.api_url == API_URL and r.endpoint == f"/api/v1/sessions/{m.session.id}/reports"
    assert r.auth == "Authorization: Bearer $MAESTRO_TOKEN"
    assert r.kinds == ["progress", "blocked", "needs_input", "complete", "error"] and set(r.cli) == set(r.kinds)
    assert r.cli["needs_input"].startswith("maestro report needs-input ")
    assert json.loads(r.body)["kind"] == "progress"
    assert m.environment == [
        "MAESTRO_SESSION_ID", "MAESTRO_PROJECT_ID", "MAESTRO_TASK_IDS", "MAESTRO_MANIFEST", "MAESTRO_API_URL",
        "MAESTRO_TOKEN",
    ]  # fmt: skip


async def test_caps_and_duplicates(client: httpx.AsyncClient, tmp_path: Path, home: Path, monkeypatch):
    s = await scenario(client, tmp_path, home)
    monkeypatch.setattr(manifests, "MAX_SUBTASKS", 2)
    monkeypatch.setattr(manifests, "MAX_ANCESTORS", 1)
    m = await build(s, home, task_ids=[s["task"]["id"], s["task"]["id"]], skill_names=["style", "style"])
    (t,) = m.tasks
    # Breadth first decides what stays: both direct children, not the grandchild.
    assert [x.id for x in t.subtasks] == [s["child"]["id"], s["second"]["id"]] and t.subtasks_truncated == 1
    assert [a.id for a in t.ancestors] == [s["parent"]["id"]] and t.ancestors_truncated == 1
    assert [k.name for k in m.skills] == ["style"]


async def test_refusals(client: httpx.AsyncClient, tmp_path: Path, home: Path):
    s = await scenario(client, tmp_path, home)
    with pytest.raises(InvalidInput) as unknown_skill:
        await build(s, home, skill_names=["review", "nope", "bad name"])
    assert unknown_skill.value.extra == {"skills": ["nope", "bad name"]}
    missing = new_id("tsk")
    with pytest.raises(InvalidInput) as unknown_task:
        await build(s, home, task_ids=[s["task"]["id"], missing])
    assert unknown_task.value.extra == {"task_ids": [missing]}
    other = tmp_path / "other"
    other.mkdir()
    foreign = await make_task(client, await make_project(client, other, "Beta"), "elsewhere")
    with pytest.raises(InvalidInput) as wrong_project:
        await build(s, home, task_ids=[foreign["id"]])
    assert wrong_project.value.extra == {"task_ids": [foreign["id"]]}
    with pytest.raises(InvalidInput):
        await build(s, home, role="boss")


async def test_write_manifest_is_private_atomic_and_matches_the_schema(
    client: httpx.AsyncClient, tmp_path: Path, home: Path
):
    s = await scenario(client, tmp_path, home)
    m = await build(s, home)
    folder = home / "sessions" / m.session.id
    path = write_manifest(m, folder)
    assert path == folder / "manifest.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json"]  # no temp file left behind
    raw = path.read_bytes()
    assert raw.startswith(b"{\n  ") and raw.endswith(b"\n")
    assert msgspec.json.decode(raw, type=Manifest) == m
    document = json.loads(raw)
    schema = manifest_schema()
    top = resolve(schema, schema)
    assert set(document) == set(top["properties"]) == set(top["required"])
    conform(document, schema, schema)

    folder.chmod(0o755)
    write_manifest(msgspec.structs.replace(m, skills=[]), folder)  # a rewrite replaces it and tightens the folder
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert msgspec.json.decode(path.read_bytes(), type=Manifest).skills == []


def resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow `$ref`s to the schema they name."""
    while "$ref" in node:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def conform(value: Any, node: dict[str, Any], root: dict[str, Any], where: str = "$") -> None:
    """A small structural JSON Schema check: types, enums, required and known properties, items, anyOf."""
    node = resolve(node, root)
    if "anyOf" in node:
        errors = []
        for option in node["anyOf"]:
            try:
                conform(value, option, root, where)
                return
            except AssertionError as exc:
                errors.append(str(exc))
        raise AssertionError(f"{where}: matches no alternative: {errors}")
    if "enum" in node:
        assert value in node["enum"], f"{where}: {value!r} not in {node['enum']}"
    kind = node.get("type")
    types = {"object": dict, "array": list, "string": str, "integer": int, "null": type(None), "boolean": bool}
    if kind is not None:
        assert isinstance(value, types[kind]), f"{where}: {value!r} is not {kind}"
    if kind == "object":
        assert set(node.get("required", ())) <= set(value), f"{where}: missing {set(node['required']) - set(value)}"
        properties = node.get("properties", {})
        for key, item in value.items():
            sub = properties.get(key, node.get("additionalProperties"))
            assert sub is not None, f"{where}: unknown property {key!r}"
            conform(item, sub, root, f"{where}.{key}")
    if kind == "array":
        for i, item in enumerate(value):
            conform(item, node.get("items", {}), root, f"{where}[{i}]")
    if "pattern" in node:
        assert re.search(node["pattern"], value), f"{where}: {value!r} does not match {node['pattern']}"


async def test_prompt_from_the_manifest(client: httpx.AsyncClient, tmp_path: Path, home: Path):
    s = await scenario(client, tmp_path, home)
    worker = await build(s, home)
    prompt = compose_prompt(worker)
    assert prompt.full == prompt.system + "\n\n" + prompt.task
    assert compose_prompt(worker) == prompt  # deterministic
    for title in ("Tokenizer", "Ship v2", "Parser", "Identifiers", "Emoji identifiers", "Grammar spec"):
        assert title in prompt.task
    assert "Old idea" not in prompt.task
    assert "Handle **unicode**." in prompt.task and "Read every diff." in prompt.task
    assert "Use short sentences." in prompt.task and "still blocking" in prompt.task
    assert "Pretty printer" in prompt.task  # who waits on this task
    for command in worker.reporting.cli.values():
        assert command in prompt.system
    assert worker.reporting.endpoint in prompt.system and "$MAESTRO_TOKEN" in prompt.system
    assert "$MAESTRO_API_URL" in prompt.system and "$MAESTRO_MANIFEST" in prompt.system
    assert worker.session.id in prompt.system and ROLE_INSTRUCTIONS["worker"] in prompt.system
    assert "```xml" not in prompt.full and "<task>" not in prompt.full

    parent_session = new_id("ses")
    boss = compose_prompt(
        await build(s, home, role="orchestrator", parent_session_id=parent_session, session_id=worker.session.id)
    )
    assert ROLE_INSTRUCTIONS["orchestrator"] in boss.system and ROLE_INSTRUCTIONS["worker"] not in boss.system
    assert "maestro task create --parent" in boss.system and "maestro session spawn" in boss.system
    assert "maestro session spawn" not in prompt.system and parent_session in boss.system
    assert boss.system != prompt.system and boss.task == prompt.task

    single = compose_prompt(await build(s, home, task_ids=[s["spec"]["id"]], skill_names=[]))
    assert len(single.system.encode()) < 4096 and len(prompt.system.encode()) < 4096
    assert "Grammar spec" in single.task and "Skill" not in single.task

    shell = compose_prompt(await build(s, home, task_ids=[], skill_names=[], profile="shell"))
    assert shell.task == "" and shell.full == shell.system
    assert len(shell.system.encode()) < len(single.system.encode()) and "curl" not in shell.system
    assert "maestro report complete" in shell.system


def struct_fields(struct: type, seen: set[type] | None = None) -> set[str]:
    """Every field name of a Struct and of the Structs its fields hold, recursively."""
    seen = set() if seen is None else seen
    if struct in seen:
        return set()
    seen.add(struct)
    names: set[str] = set()
    for field in msgspec.structs.fields(struct):
        names.add(field.encode_name)
        names |= nested_fields(msgspec.inspect.type_info(field.type), seen)
    return names


def nested_fields(info: msgspec.inspect.Type, seen: set[type]) -> set[str]:
    """Field names of the Structs inside a (possibly list, dict or union) type."""
    if isinstance(info, msgspec.inspect.StructType):
        return struct_fields(info.cls, seen)
    inner: list[msgspec.inspect.Type] = []
    if isinstance(info, msgspec.inspect.UnionType):
        inner = list(info.types)
    elif isinstance(info, msgspec.inspect.ListType):
        inner = [info.item_type]
    elif isinstance(info, msgspec.inspect.DictType):
        inner = [info.value_type]
    names: set[str] = set()
    for item in inner:
        names |= nested_fields(item, seen)
    return names


def test_every_manifest_field_is_documented():
    text = DOCS.read_text()
    structs = [v for v in vars(models).values() if isinstance(v, type) and issubclass(v, msgspec.Struct)]
    assert Manifest in structs
    names: set[str] = set()
    for struct in structs:
        names |= struct_fields(struct)
    missing = sorted(n for n in names if f"`{n}`" not in text)
    assert not missing, f"fields missing from docs/manifest.md: {missing}"
    for kind in REPORT_KINDS:
        assert f"`{kind}`" in text
    for variable in models.AGENT_ENV_VARS:
        assert variable in text


async def test_extra_instructions_go_last_in_the_task_prompt(client: httpx.AsyncClient, tmp_path: Path, home: Path):
    s = await scenario(client, tmp_path, home)
    worker = await build(s, home, instructions="  Keep the public API unchanged.\n")
    assert worker.instructions == "Keep the public API unchanged."
    prompt = compose_prompt(worker)
    assert prompt.task.endswith("# Instructions from the user\n\nKeep the public API unchanged.\n")
    assert prompt.task.index("# Your task") < prompt.task.index("# Skills") < prompt.task.index("# Instructions")

    shell = compose_prompt(await build(s, home, task_ids=[], skill_names=[], instructions="Tidy the README"))
    assert shell.task == "# Instructions from the user\n\nTidy the README\n"
    assert shell.full == shell.system + "\n\n" + shell.task
    blank = compose_prompt(await build(s, home, instructions="   "))
    assert blank.task == prompt.task.split("\n\n# Instructions")[0] + "\n" and "Instructions" not in blank.task
