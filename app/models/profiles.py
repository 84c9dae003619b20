"""Agent profiles: how to start a kind of agent (or the plain shell) in a terminal."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from app.models.common import NO_NUL, Input
from app.models.sessions import ProfileName

PromptVia = Literal["argument", "stdin", "file", "none"]
ProfileSource = Literal["builtin", "config"]
PROMPT_VIA: tuple[str, ...] = PromptVia.__args__  # type: ignore[attr-defined]

# The route's path parameter repeats the rules of ProfileName; read them from it so the two never drift.
PROFILE_NAME_META: msgspec.Meta = ProfileName.__metadata__[0]  # type: ignore[attr-defined]
PROFILE_NAME_PATTERN: str = PROFILE_NAME_META.pattern  # type: ignore[assignment]
PROFILE_NAME_MAX: int = PROFILE_NAME_META.max_length  # type: ignore[assignment]

ARGV_MAX = 64
ENV_MAX = 64
VALUE_MAX = 4096
ENV_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# The server owns every MAESTRO_* variable of a session (its id, token, manifest); profiles may not set them.
RESERVED_ENV_PREFIX = "MAESTRO_"

Arg = Annotated[str, msgspec.Meta(max_length=VALUE_MAX, pattern=NO_NUL)]
Argv = Annotated[list[Arg], msgspec.Meta(min_length=1, max_length=ARGV_MAX)]
EnvKey = Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=ENV_KEY_PATTERN)]
EnvValue = Annotated[str, msgspec.Meta(max_length=VALUE_MAX, pattern=NO_NUL)]
Env = Annotated[dict[EnvKey, EnvValue], msgspec.Meta(max_length=ENV_MAX)]
Description = Annotated[str, msgspec.Meta(max_length=VALUE_MAX, pattern=NO_NUL)]


class Profile(msgspec.Struct, kw_only=True):
    """A profile as the API shows it: the argv template, extra environment and how the prompt is passed.

    `builtin` is true for the names Maestro ships; `overridden` when a config.toml entry replaces such a built-in;
    `source` says where the definition in effect comes from.
    """

    name: str
    description: str
    argv: list[str]
    env: dict[str, str]
    prompt_via: PromptVia
    builtin: bool
    overridden: bool
    source: ProfileSource


class ProfileInput(Input):
    """Body of PUT /profiles/{name}: the whole definition (a PUT replaces, it does not merge)."""

    argv: Argv
    env: Env = {}
    prompt_via: PromptVia = "argument"
    description: Description = ""


class ProfileWarning(msgspec.Struct, kw_only=True):
    """A config.toml problem: the file does not parse, or one entry was skipped, and why."""

    path: str
    message: str
    profile: str | None = None


class ProfileListing(msgspec.Struct, kw_only=True):
    """GET /profiles: every profile in effect, by name, and the config.toml problems that were skipped."""

    items: list[Profile]
    warnings: list[ProfileWarning]


class Launch(msgspec.Struct, kw_only=True):
    """What to run for a session: the profile resolved against one session's values and environment.

    `template` is the unsubstituted argv (what the session record stores, so records stay small and never hold a
    prompt); `argv` is substituted; `program` is the absolute path of argv[0]; `stdin` is the prompt text to feed
    the program when the profile reads it from stdin.
    """

    profile: str
    argv: list[str]
    program: str
    env: dict[str, str]
    stdin: str | None
    template: list[str]
