"""/api/v1/skills: the skills found in SKILL.md folders (global, and a project's own)."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter

from app.ids import id_pattern
from app.models.common import NAME_MAX, NAME_PATTERN
from app.models.skills import Skill, SkillListing
from app.services.agents import skills
from app.services.runtime import Runtime
from app.web.openapi import not_found

TAGS = ["skills"]
ProjectQuery = Annotated[
    str | None,
    QueryParameter(pattern=id_pattern("prj"), description="Also this project's skills (they win on a name clash)"),
]
SkillNamePath = Annotated[
    str,
    PathParameter(min_length=1, max_length=NAME_MAX, pattern=NAME_PATTERN, description="A skill name"),
]


@get(
    "/skills",
    tags=TAGS,
    summary="List skills",
    opt={"agent": "read", "agent_project": "query_optional"},
    responses=not_found("No project with this project_id"),
)
async def list_skills(runtime: NamedDependency[Runtime], project_id: ProjectQuery = None) -> SkillListing:
    """Global skills, plus the project's own with project_id; skipped SKILL.md files are listed in `warnings`."""
    return await skills.list_skills(runtime.settings.home, project_id)


@get(
    "/skills/{name:str}",
    tags=TAGS,
    summary="Get a skill",
    opt={"agent": "read", "agent_project": "query_optional"},
    responses=not_found("No skill with this name, or no project with this project_id"),
)
async def get_skill(name: SkillNamePath, runtime: NamedDependency[Runtime], project_id: ProjectQuery = None) -> Skill:
    """One skill with its `instructions` (the markdown after the front matter); 404 if unknown."""
    return await skills.get_skill(runtime.settings.home, name, project_id)


ROUTES = [list_skills, get_skill]
