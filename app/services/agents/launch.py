"""Resolving a profile into a launch: argv placeholders substituted, environment merged, program found.

A profile's argv is a template: `{placeholder}` fields are replaced by one session's values, each argument as a
whole string (never split, never given to a shell); `{{` and `}}` are literal braces.
"""

from __future__ import annotations

import os
import shutil
import string
from collections.abc import Mapping

from app.errors import InvalidInput
from app.models import profiles as profile_models
from app.models.profiles import RESERVED_ENV_PREFIX, Launch, Profile

PLACEHOLDERS: frozenset[str] = frozenset(profile_models.PLACEHOLDERS)


def resolve_launch(profile: Profile, *, values: dict[str, str], env: dict[str, str]) -> Launch:
    """Substitute one session's values into the profile's argv and find its program on the environment's PATH.

    `values` are keyed by placeholder name without braces; `prompt`, when not given, is built from
    `system_prompt` and `task_prompt`. InvalidInput names the placeholder without a value, or the program that is
    not on PATH (nothing has been started then).
    """
    values = dict(values)
    if "prompt" not in values and ("system_prompt" in values or "task_prompt" in values):
        values["prompt"] = combined_prompt(values.get("system_prompt", ""), values.get("task_prompt", ""))
    # An argument that is only a placeholder with nothing in it is left out: `claude "{task_prompt}"` for a session
    # without tasks starts claude with no prompt rather than with an empty one.
    argv = [
        _substitute(profile.name, arg, values)
        for arg in profile.argv
        if not (_sole_placeholder(arg) and values.get(_sole_placeholder(arg) or "") == "")
    ]
    if not argv:
        raise InvalidInput(f"profile {profile.name!r}: the command is empty", {"profile": profile.name})
    merged = dict(env)
    for key, value in profile.env.items():
        if not reserved_env(key):  # save and load refuse these too; this guards a Profile built any other way
            merged[key] = value
    bad = [key for key, value in merged.items() if "\x00" in key or "\x00" in value]
    if bad or any("\x00" in arg for arg in argv):
        raise InvalidInput(f"profile {profile.name!r}: a value contains a NUL character", {"profile": profile.name})
    program = _which(argv[0], merged.get("PATH", os.defpath), values.get("working_dir"))
    if program is None:
        raise InvalidInput(
            f"profile {profile.name!r}: program {argv[0]!r} was not found on PATH",
            {"profile": profile.name, "program": argv[0]},
        )
    stdin = values.get("prompt", "") if profile.prompt_via == "stdin" else None
    return Launch(
        profile=profile.name, argv=argv, program=program, env=merged, stdin=stdin, template=list(profile.argv)
    )


def missing_program(
    profile: Profile, *, env: Mapping[str, str], shell: str, working_dir: str | None = None
) -> str | None:
    """The program a profile would start when it is not found on PATH, else None: what a spawn would refuse, told
    before one (the Run agent dialog marks such profiles). None too when the program depends on a session's values."""
    values = {"shell": shell, **({"working_dir": working_dir} if working_dir else {})}
    try:
        program = _substitute(profile.name, profile.argv[0], values)
    except InvalidInput:
        return None  # e.g. "{prompt_file}" as the program: only a spawn can tell
    merged = {**env, **{k: v for k, v in profile.env.items() if not reserved_env(k)}}
    if _which(program, merged.get("PATH", os.defpath), working_dir) is None:
        return program
    return None


def placeholders(argv: list[str]) -> set[str]:
    """The placeholder names an argv template uses; InvalidInput for unknown ones or malformed braces."""
    used: set[str] = set()
    for arg in argv:
        for _literal, field in _parse(arg):
            if field is not None:
                used.add(field)
    return used


def combined_prompt(system_prompt: str, task_prompt: str) -> str:
    """What `{prompt}` means: the system prompt, then the task prompt, a blank line apart (empty parts left out)."""
    return "\n\n".join(part for part in (system_prompt, task_prompt) if part)


def _sole_placeholder(arg: str) -> str | None:
    """The placeholder name when an argument is exactly one placeholder, like "{task_prompt}"."""
    pieces = _parse(arg)
    return pieces[0][1] if len(pieces) == 1 and pieces[0][0] == "" else None


def _parse(arg: str) -> list[tuple[str, str | None]]:
    """Split one argv template into (literal text, placeholder or None) pieces, refusing anything but names."""
    pieces: list[tuple[str, str | None]] = []
    try:
        parsed = list(string.Formatter().parse(arg))
    except ValueError as exc:  # a lone "{" or "}"
        raise InvalidInput(
            f"argument {arg!r}: {exc}; write a literal brace as {{{{ or }}}}", {"argument": arg}
        ) from exc
    for literal, field, spec, conversion in parsed:
        if field is None:
            pieces.append((literal, None))
            continue
        # Only bare names: no "{0}", "{}", "{x.attr}", "{x[0]}", "{x!r}" or "{x:>5}", whatever str.format allows.
        if field not in PLACEHOLDERS or spec or conversion:
            shown = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise InvalidInput(
                f"unknown placeholder {shown} (known: {', '.join(sorted(PLACEHOLDERS))})",
                {"placeholder": shown, "known": sorted(PLACEHOLDERS)},
            )
        pieces.append((literal, field))
    return pieces


def _substitute(profile: str, arg: str, values: dict[str, str]) -> str:
    out = []
    for literal, field in _parse(arg):
        out.append(literal)
        if field is not None:
            if field not in values:
                raise InvalidInput(
                    f"profile {profile!r}: no value for placeholder {{{field}}}",
                    {"profile": profile, "placeholder": field},
                )
            out.append(values[field])
    return "".join(out)


def reserved_env(key: str) -> bool:
    """True for the server's own variables (MAESTRO_*), which a profile may not set."""
    # Upper-cased: on Windows the environment is case-insensitive, so maestro_token would shadow MAESTRO_TOKEN.
    return key.upper().startswith(RESERVED_ENV_PREFIX)


def _which(program: str, path: str, working_dir: str | None) -> str | None:
    if not program:
        return None
    if os.sep in program or (os.altsep and os.altsep in program):
        # A relative path means the session's directory (where the program runs), not the server's.
        if not os.path.isabs(program) and working_dir:
            program = os.path.join(working_dir, program)
        found = shutil.which(program)
    else:
        found = shutil.which(program, path=path)
    return os.path.abspath(found) if found else None
