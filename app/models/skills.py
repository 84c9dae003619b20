"""Skills discovered from SKILL.md folders."""

from __future__ import annotations

from typing import Literal

import msgspec


class Skill(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A skill: name and description from SKILL.md front matter, where it was found; `instructions` on GET one."""

    name: str
    description: str
    scope: Literal["project", "global"]
    path: str
    instructions: str | None = None


class SkillWarning(msgspec.Struct, kw_only=True):
    """A SKILL.md that was skipped, and why (broken front matter, too large, unreadable, duplicate name)."""

    path: str
    message: str


class SkillListing(msgspec.Struct, kw_only=True):
    """GET /skills: the skills found, by name, and the SKILL.md files that were skipped."""

    items: list[Skill]
    warnings: list[SkillWarning]
