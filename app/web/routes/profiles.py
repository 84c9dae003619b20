"""/api/v1/profiles: the agent profiles (built-in and from MAESTRO_HOME/config.toml), read, saved and deleted."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, delete, get, put
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, PathParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from app.models.common import NAME_MAX, NAME_PATTERN
from app.models.profiles import Profile, ProfileInput, ProfileListing
from app.services.agents import profiles
from app.services.agents.profiles import SHELL
from app.services.runtime import Runtime
from app.web.openapi import conflict

TAGS = ["profiles"]
ProfileNamePath = Annotated[
    str,
    PathParameter(min_length=1, max_length=NAME_MAX, pattern=NAME_PATTERN, description="A profile name"),
]
# `shell` is the plain terminal: it can be read but never replaced (the service refuses it with a 400).
WritableProfileNamePath = Annotated[
    str,
    PathParameter(
        min_length=1,
        max_length=NAME_MAX,
        pattern=NAME_PATTERN,
        description="A profile name other than `shell`",
        schema_extra={"not": {"const": SHELL}},
    ),
]

# The handlers are sync (small reads and writes of config.toml under a lock), so they run in the thread pool.


@get(
    "/profiles", tags=TAGS, summary="List profiles", sync_to_thread=True, opt={"agent": "read", "agent_project": "none"}
)
def list_profiles(runtime: NamedDependency[Runtime]) -> ProfileListing:
    """Built-ins and config.toml's profiles by name, each saying whether its program can be found here; a broken
    config.toml or entry is listed in `warnings`."""
    listing = profiles.list_profiles(runtime.settings.home)
    checked = [runtime.runner.with_program_check(p) for p in listing.items]
    return ProfileListing(items=checked, warnings=listing.warnings)


@get(
    "/profiles/{name:str}",
    tags=TAGS,
    summary="Get a profile",
    sync_to_thread=True,
    opt={"agent": "read", "agent_project": "none"},
)
def get_profile(name: ProfileNamePath, runtime: NamedDependency[Runtime]) -> Profile:
    """The profile in effect under this name, saying whether its program can be found here; 404 lists the names."""
    return runtime.runner.with_program_check(profiles.get_profile(runtime.settings.home, name))


@put(
    "/profiles/{name:str}",
    tags=TAGS,
    summary="Create or replace a profile",
    sync_to_thread=True,
    status_code=HTTP_200_OK,
    responses={HTTP_201_CREATED: ResponseSpec(data_container=Profile, description="A new profile was created")},
)
def put_profile(
    name: WritableProfileNamePath, data: JSONBody[ProfileInput], runtime: NamedDependency[Runtime]
) -> Response[Profile]:
    """Write the profile to config.toml (201 new, 200 replaced; a built-in's name overrides it); `shell` is 400."""
    profile, created = profiles.save_profile(runtime.settings.home, name, data)
    status = HTTP_201_CREATED if created else HTTP_200_OK
    return Response(runtime.runner.with_program_check(profile), status_code=status)


@delete(
    "/profiles/{name:str}",
    tags=TAGS,
    summary="Delete a profile",
    sync_to_thread=True,
    responses=conflict("Built-in profiles cannot be deleted"),
)
def delete_profile(name: ProfileNamePath, runtime: NamedDependency[Runtime]) -> None:
    """Remove it from config.toml (an override: the built-in returns); 409 for a built-in, 404 if unknown."""
    profiles.delete_profile(runtime.settings.home, name)


ROUTES = [list_profiles, get_profile, put_profile, delete_profile]
