"""Skill discovery from SKILL.md folders: a project's .maestro/skills and .claude/skills, and MAESTRO_HOME/skills.

Every function takes the folders explicitly (MAESTRO_HOME, the project's working_dir); nothing reads globals.
A SKILL.md that cannot be used (broken front matter, too large, unreadable, invalid or duplicate name) is skipped
and reported as a warning, never an error: one bad folder must not hide the others.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from app.errors import InvalidInput, NotFound
from app.models.common import is_name
from app.models.skills import Skill, SkillListing, SkillWarning
from app.services.projects import get_project

SKILL_FILE = "SKILL.md"
MAX_SKILL_BYTES = 256 * 1024
# Lowest precedence first: a later folder's skill replaces an earlier one of the same name.
PROJECT_FOLDERS = (".claude/skills", ".maestro/skills")


@dataclass
class _Found:
    skill: Skill
    body: str


def discover(home: Path, working_dir: str | Path | None = None) -> SkillListing:
    """Every skill visible to a project (or only the global ones without working_dir), by name."""
    found, warnings = _discover(home, working_dir)
    items = [f.skill for _, f in sorted(found.items())]
    return SkillListing(items=items, warnings=warnings)


def find(home: Path, name: str, working_dir: str | Path | None = None) -> Skill:
    """One skill with its instructions (the markdown after the front matter); NotFound if unknown."""
    if not is_name(name):
        raise InvalidInput("invalid skill name", {"name": name})
    found, _ = _discover(home, working_dir)
    if name not in found:
        raise NotFound(f"skill {name!r} not found")
    hit = found[name]
    return Skill(
        name=hit.skill.name,
        description=hit.skill.description,
        scope=hit.skill.scope,
        path=hit.skill.path,
        instructions=hit.body,
    )


async def list_skills(home: Path, project_id: str | None = None) -> SkillListing:
    """The skills of a project (its own and the global ones), or only the global ones without project_id."""
    working_dir = (await get_project(project_id)).working_dir if project_id else None
    return await asyncio.to_thread(discover, home, working_dir)  # file reads stay off the event loop


async def get_skill(home: Path, name: str, project_id: str | None = None) -> Skill:
    """One skill (with instructions) as seen by a project, or a global one without project_id."""
    if not is_name(name):
        raise InvalidInput("invalid skill name", {"name": name})
    working_dir = (await get_project(project_id)).working_dir if project_id else None
    return await asyncio.to_thread(find, home, name, working_dir)


def _discover(home: Path, working_dir: str | Path | None) -> tuple[dict[str, _Found], list[SkillWarning]]:
    roots: list[tuple[Path, str]] = [(Path(home) / "skills", "global")]
    if working_dir is not None:
        roots += [(Path(working_dir) / folder, "project") for folder in PROJECT_FOLDERS]
    found: dict[str, _Found] = {}
    warnings: list[SkillWarning] = []
    for root, scope in roots:
        in_root: set[str] = set()
        for folder in _skill_folders(root):
            path = folder / SKILL_FILE
            try:
                hit = _load(path, folder.name, scope)
            except _Skip as skip:
                warnings.append(SkillWarning(path=str(path), message=str(skip)))
                continue
            if hit is None:
                continue
            if hit.skill.name in in_root:  # two folders of one root claim the same name: keep the first
                warnings.append(SkillWarning(path=str(path), message=f"duplicate skill name {hit.skill.name!r}"))
                continue
            in_root.add(hit.skill.name)
            found[hit.skill.name] = hit
    return found, warnings


def _skill_folders(root: Path) -> list[Path]:
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:  # no such folder (the usual case), or not readable
        return []
    folders = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_dir():  # follows symlinks, also ones pointing outside the root
                folders.append(Path(entry.path))
        except OSError:  # a dangling or looping symlink
            continue
    return folders


class _Skip(Exception):
    """Why a SKILL.md was skipped."""


def _load(path: Path, folder_name: str, scope: str) -> _Found | None:
    try:
        if not path.is_file():
            return None  # a folder without SKILL.md is not a skill
        with path.open("rb") as f:
            raw = f.read(MAX_SKILL_BYTES + 1)  # read bounded: the size may change after a stat
    except OSError as exc:
        raise _Skip(f"unreadable: {exc.strerror or exc}") from exc
    if len(raw) > MAX_SKILL_BYTES:
        raise _Skip(f"larger than {MAX_SKILL_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _Skip("not UTF-8 text") from exc
    meta, body = _split_front_matter(text)
    name = meta.get("name")
    name = folder_name if name is None else name  # an empty `name:` line means no name
    description = meta.get("description")
    description = "" if description is None else description
    if not isinstance(name, str) or not isinstance(description, str):
        raise _Skip("front matter name and description must be strings")
    name = name.strip()
    if not is_name(name):
        raise _Skip(f"invalid skill name {name!r}")
    skill = Skill(name=name, description=description.strip(), scope=scope, path=str(path))  # type: ignore[arg-type]
    return _Found(skill=skill, body=body)


def _split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The YAML front matter (between `---` lines at the very top) and the markdown after it."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return {}, text  # no front matter: the whole file is instructions
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() in ("---", "..."):
            header, body = "".join(lines[1:i]), "".join(lines[i + 1 :])
            break
    else:
        raise _Skip("front matter is not closed by a '---' line")
    try:
        meta = yaml.safe_load(header)
    except Exception as exc:  # YAMLError, but also ValueError (bad dates) or RecursionError (deep nesting)
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise _Skip(f"front matter is not valid YAML: {first}") from exc
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise _Skip("front matter must be a YAML mapping")
    return meta, body.lstrip("\n")
