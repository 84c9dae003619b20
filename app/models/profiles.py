"""Agent profiles: how to start a kind of agent (or the plain shell) in a terminal."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from app.models.common import NO_NUL, NOT_BLANK, Input, values_of

PromptVia = Literal["argument", "stdin", "file", "none"]
ProfileSource = Literal["builtin", "config"]
PROMPT_VIA = values_of(PromptVia)


ARGV_MAX = 64
ENV_MAX = 64
VALUE_MAX = 4096
ENV_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# The server owns every MAESTRO_* variable of a session (its id, token, manifest); profiles may not set them.
RESERVED_ENV_PREFIX = "MAESTRO_"

# The placeholders an argv template may use, as `{name}` (`{{` and `}}` are literal braces).
PLACEHOLDERS = (
    "shell",
    "prompt",
    "system_prompt",
    "task_prompt",
    "prompt_file",
    "manifest",
    "session_id",
    "project_id",
    "working_dir",
)
# The rules the profile service checks (with friendlier messages than a regex could give), stated in the schema so
# it allows exactly what the server accepts: braces only as known placeholders or doubled (str.format syntax, an
# empty format spec allowed), a program in argv[0], no MAESTRO_* variable in any letter case.
ARG_PATTERN = r"^(?:[^{}\x00]|\{\{|\}\}|\{(?:" + "|".join(PLACEHOLDERS) + r"):?\})*$"
PROGRAM_SCHEMA = {"type": "string", "maxLength": VALUE_MAX, "allOf": [{"pattern": ARG_PATTERN}, {"pattern": NOT_BLANK}]}
UNRESERVED_ENV_KEY = r"^(?![Mm][Aa][Ee][Ss][Tt][Rr][Oo]_)[A-Za-z_][A-Za-z0-9_]*$"

# (in `allOf`: msgspec writes its own `pattern` over a `pattern` given in extra_json_schema)
Arg = Annotated[
    str, msgspec.Meta(max_length=VALUE_MAX, pattern=NO_NUL, extra_json_schema={"allOf": [{"pattern": ARG_PATTERN}]})
]
Argv = Annotated[
    list[Arg], msgspec.Meta(min_length=1, max_length=ARGV_MAX, extra_json_schema={"prefixItems": [PROGRAM_SCHEMA]})
]
EnvKey = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=256,
        pattern=ENV_KEY_PATTERN,
        extra_json_schema={"allOf": [{"pattern": UNRESERVED_ENV_KEY}]},
    ),
]
EnvValue = Annotated[str, msgspec.Meta(max_length=VALUE_MAX, pattern=NO_NUL)]
Env = Annotated[dict[EnvKey, EnvValue], msgspec.Meta(max_length=ENV_MAX)]
Description = Annotated[str, msgspec.Meta(max_length=VALUE_MAX, pattern=NO_NUL)]


class Profile(msgspec.Struct, kw_only=True):
    """A profile as the API shows it: the argv template, extra environment and how the prompt is passed.

    `builtin` is true for the names Maestro ships; `overridden` when a config.toml entry replaces such a built-in;
    `source` says where the definition in effect comes from. `missing_program` names the program a spawn would
    refuse because the server cannot find it on the sessions' PATH (null when found, or known only at spawn).
    """

    name: str
    description: str
    argv: list[str]
    env: dict[str, str]
    prompt_via: PromptVia
    builtin: bool
    overridden: bool
    source: ProfileSource
    missing_program: str | None = None


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
