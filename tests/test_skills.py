"""Skill discovery: global and project SKILL.md folders, precedence, broken files skipped, GET one and list."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.services.agents.skills import MAX_SKILL_BYTES, discover, find
from app.settings import Settings
from tests.test_sessions import make_project


def write_skill(root: Path, folder: str, text: str) -> Path:
    path = root / folder / "SKILL.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def skill_md(name: str | None, description: str, body: str = "Do the thing.\n") -> str:
    head = f"name: {name}\n" if name else ""
    return f"---\n{head}description: {description}\n---\n\n{body}"


def populate(home: Path, project: Path, outside: Path) -> None:
    """Global: shared, review, broken; .claude: review, claude-only; .maestro: review, big; a symlink outside."""
    write_skill(home / "skills", "shared", skill_md("shared", "global shared"))
    write_skill(home / "skills", "review", skill_md("review", "global review"))
    write_skill(home / "skills", "broken", "---\nname: [unclosed\n---\nbody\n")
    write_skill(project / ".claude/skills", "review", skill_md("review", "claude review"))
    write_skill(project / ".claude/skills", "claude-only", skill_md(None, "named after its folder"))
    write_skill(project / ".maestro/skills", "review-folder", skill_md("review", "maestro review", "# Review\nLook.\n"))
    write_skill(project / ".maestro/skills", "big", skill_md("big", "too big", "x" * MAX_SKILL_BYTES))
    write_skill(project / ".maestro/skills", "plain", "No front matter at all.\n")
    write_skill(outside, "linked", skill_md("linked", "through a symlink"))
    (project / ".maestro/skills/linked").symlink_to(outside / "linked", target_is_directory=True)
    (project / ".maestro/skills/empty-folder").mkdir()


def test_discovery_precedence_and_warnings(tmp_path: Path):
    home, project, outside = tmp_path / "home", tmp_path / "project", tmp_path / "outside"
    populate(home, project, outside)
    listing = discover(home, project)
    by_name = {s.name: s for s in listing.items}
    assert list(by_name) == sorted(by_name) == ["claude-only", "linked", "plain", "review", "shared"]
    assert (by_name["review"].scope, by_name["review"].description) == ("project", "maestro review")
    assert by_name["review"].path == str(project / ".maestro/skills/review-folder/SKILL.md")
    assert (by_name["shared"].scope, by_name["shared"].description) == ("global", "global shared")
    assert by_name["claude-only"].description == "named after its folder"
    assert by_name["plain"].description == "" and by_name["linked"].scope == "project"
    assert all(s.instructions is None for s in listing.items)
    warned = {Path(w.path).parent.name: w.message for w in listing.warnings}
    assert set(warned) == {"broken", "big"}
    assert "YAML" in warned["broken"] and "KiB" in warned["big"]

    only_global = discover(home)
    assert [(s.name, s.description) for s in only_global.items] == [
        ("review", "global review"),
        ("shared", "global shared"),
    ]
    review = find(home, "review", project)
    assert review.instructions == "# Review\nLook.\n"
    assert find(home, "plain", project).instructions == "No front matter at all.\n"


def test_odd_files_are_skipped_not_fatal(tmp_path: Path):
    home = tmp_path / "home"
    root = home / "skills"
    write_skill(root, "not-a-mapping", "---\n- a\n- b\n---\nbody\n")
    write_skill(root, "unclosed", "---\nname: x\nbody without end\n")
    write_skill(root, "bad-name", skill_md("has spaces", "d"))
    write_skill(root, "wrong-type", "---\nname: 5\ndescription: d\n---\n")
    write_skill(root, "bad-date", "---\ndescription: d\nwhen: 2024-13-45\n---\n")
    write_skill(root, "dup-a", skill_md("dup", "first"))
    write_skill(root, "dup-b", skill_md("dup", "second"))
    (root / "binary").mkdir()
    (root / "binary/SKILL.md").write_bytes(b"\xff\xfe\x00bad")
    (root / "dangling").symlink_to(tmp_path / "nowhere")
    (root / "loose-file").write_text("not a folder")
    (root / ".hidden").mkdir()
    write_skill(root, "ok", "---\n---\nEmpty front matter is fine.\n")
    listing = discover(home, tmp_path / "missing-project")
    assert [(s.name, s.description) for s in listing.items] == [("dup", "first"), ("ok", "")]
    skipped = sorted(Path(w.path).parent.name for w in listing.warnings)
    assert skipped == ["bad-date", "bad-name", "binary", "dup-b", "not-a-mapping", "unclosed", "wrong-type"]


async def test_skills_routes(client: httpx.AsyncClient, settings: Settings, tmp_path: Path):
    pid = await make_project(client, tmp_path, "proj")
    populate(settings.home, tmp_path / "proj", tmp_path / "outside")

    global_only = await client.get("/api/v1/skills")
    assert global_only.status_code == 200
    body = global_only.json()
    assert [s["name"] for s in body["items"]] == ["review", "shared"]
    assert "instructions" not in body["items"][0]
    assert [Path(w["path"]).parent.name for w in body["warnings"]] == ["broken"]

    listed = (await client.get(f"/api/v1/skills?project_id={pid}")).json()
    assert [s["name"] for s in listed["items"]] == ["claude-only", "linked", "plain", "review", "shared"]
    assert {Path(w["path"]).parent.name for w in listed["warnings"]} == {"broken", "big"}

    review = await client.get(f"/api/v1/skills/review?project_id={pid}")
    assert review.status_code == 200
    assert review.json()["instructions"] == "# Review\nLook.\n" and review.json()["scope"] == "project"
    global_review = (await client.get("/api/v1/skills/review")).json()
    assert global_review["description"] == "global review" and global_review["instructions"] == "Do the thing.\n"

    for url, status in [
        ("/api/v1/skills/claude-only", 404),  # a project skill is not visible without the project
        (f"/api/v1/skills/unknown?project_id={pid}", 404),
        (f"/api/v1/skills/broken?project_id={pid}", 404),
        ("/api/v1/skills/-dash", 400),
        ("/api/v1/skills/has%20space", 400),
        ("/api/v1/skills/" + "a" * 101, 400),
        ("/api/v1/skills?project_id=nope", 400),
        ("/api/v1/skills?project_id=prj_0000000000000000000000", 404),
        ("/api/v1/skills/review?project_id=prj_0000000000000000000000", 404),
    ]:
        response = await client.get(url)
        assert response.status_code == status, (url, response.text)
        assert set(response.json()) == {"status_code", "detail", "extra"}
