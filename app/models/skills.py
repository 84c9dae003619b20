"""Skills discovered from SKILL.md folders."""

from __future__ import annotations

from typing import Literal

import msgspec


class Skill(msgspec.Struct, kw_only=True):
    """A skill: its name and description from SKILL.md front matter, where it was found."""

    name: str
    description: str
    scope: Literal["project", "global"]
    path: str
    instructions: str | None = None
