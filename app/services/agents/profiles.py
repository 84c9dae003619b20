"""Agent profiles: the built-ins and the user's own in MAESTRO_HOME/config.toml (launching one: profile_launch).

config.toml is the user's file: it is edited with tomlkit so comments and layout survive, written atomically, and
a broken file is reported and left alone, never overwritten or fatal.
"""

from __future__ import annotations

import os
import threading
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import tomlkit
import tomlkit.items

from app.errors import Conflict, InvalidInput, NotFound
from app.home import ensure_home, write_private
from app.models.common import is_name
from app.models.profiles import (
    Profile,
    ProfileInput,
    ProfileListing,
    ProfileWarning,
)
from app.services.agents.launch import placeholders, reserved_env

CONFIG_FILE = "config.toml"
MAX_CONFIG_BYTES = 1024 * 1024
SHELL = "shell"

BUILTINS: dict[str, ProfileInput] = {
    "shell": ProfileInput(
        argv=["{shell}"],
        prompt_via="none",
        description="A plain terminal: your login shell ($SHELL), no agent and no prompt.",
    ),
    "claude": ProfileInput(
        argv=["claude", "--append-system-prompt", "{system_prompt}", "{task_prompt}"],
        prompt_via="argument",
        description="Claude Code (`claude`): Maestro's instructions appended to its system prompt, the task as the "
        "first message.",
    ),
    "codex": ProfileInput(
        argv=["codex", "{prompt}"],
        prompt_via="argument",
        description="OpenAI Codex CLI (`codex`): instructions and task together as the first message.",
    ),
    "gemini": ProfileInput(
        argv=["gemini", "--prompt-interactive", "{prompt}"],
        prompt_via="argument",
        description="Gemini CLI (`gemini`): runs the prompt, then stays interactive.",
    ),
}

# Every config.toml read-modify-write of this process goes through here, so two API edits never lose one another.
_lock = threading.Lock()


class _BadConfig(Exception):
    """config.toml cannot be read or parsed; the message names the problem."""


def config_path(home: Path) -> Path:
    """Where the user's profiles live: MAESTRO_HOME/config.toml."""
    return Path(home) / CONFIG_FILE


def list_profiles(home: Path) -> ProfileListing:
    """The built-ins merged with config.toml's entries, by name; config.toml problems are listed in `warnings`."""
    entries, warnings = _load_config(home)
    merged = {name: _profile(name, body, source="builtin") for name, body in BUILTINS.items()}
    merged.update({name: _profile(name, body, source="config") for name, body in entries.items()})
    return ProfileListing(items=[merged[name] for name in sorted(merged)], warnings=warnings)


def get_profile(home: Path, name: str) -> Profile:
    """The profile in effect under `name` (a config.toml entry wins over a built-in); NotFound lists the names."""
    if not is_name(name):
        raise InvalidInput("invalid profile name", {"name": name})
    listing = list_profiles(home)
    for profile in listing.items:
        if profile.name == name:
            return profile
    available = [p.name for p in listing.items]
    raise NotFound(f"profile {name!r} not found; available: {', '.join(available)}", {"available": available})


def save_profile(home: Path, name: str, body: ProfileInput) -> tuple[Profile, bool]:
    """Create or replace `name` in config.toml (overriding a built-in of that name); True when it is new."""
    if not is_name(name):
        raise InvalidInput("invalid profile name", {"name": name})
    if name == SHELL:
        raise InvalidInput("the shell profile cannot be overridden: it is the plain terminal", {"name": name})
    _check(body)
    with _lock:
        path, doc = _editable(home)
        table = doc.get("profiles")
        if table is None:
            table = tomlkit.table(is_super_table=True)  # renders as [profiles.<name>], not an empty [profiles]
            doc["profiles"] = table
        elif not isinstance(table, dict):
            raise InvalidInput(f"{path}: 'profiles' is not a table; fix the file first", {"path": str(path)})
        entry = table.get(name)
        created = name not in BUILTINS and not _usable(name, entry)  # a skipped entry was not there for clients
        if isinstance(entry, tomlkit.items.Table | tomlkit.items.InlineTable):
            _fill(entry, body)  # in place, so comments inside the entry stay
        else:
            if entry is not None:
                del table[name]
            # `profiles = {…}` written inline can only hold inline tables.
            inline = isinstance(table, tomlkit.items.InlineTable)
            entry = tomlkit.inline_table() if inline else tomlkit.table()
            _fill(entry, body)
            table[name] = entry
        _write(path, tomlkit.dumps(doc))
    return _profile(name, body, source="config"), created


def delete_profile(home: Path, name: str) -> None:
    """Remove `name` from config.toml (an override: the built-in returns); Conflict for a pure built-in."""
    if not is_name(name):
        raise InvalidInput("invalid profile name", {"name": name})
    with _lock:
        path, doc = _editable(home)
        table = doc.get("profiles")
        if isinstance(table, dict) and name in table:
            del table[name]
            _write(path, tomlkit.dumps(doc))
            return
    if name in BUILTINS:
        raise Conflict("built-in profiles cannot be deleted", {"name": name})
    raise NotFound(f"profile {name!r} not found", {"name": name})


def _check(body: ProfileInput) -> None:
    """The rules msgspec cannot express: known placeholders, a program in argv[0], no MAESTRO_* variables."""
    placeholders(body.argv)
    if not body.argv[0].strip():
        raise InvalidInput("argv[0] must name the program", {"argv": body.argv})
    reserved = sorted(key for key in body.env if reserved_env(key))
    if reserved:
        raise InvalidInput(
            f"env may not set {', '.join(reserved)}: MAESTRO_* variables belong to the server", {"env": reserved}
        )


def _profile(name: str, body: ProfileInput, *, source: str) -> Profile:
    builtin = name in BUILTINS
    return Profile(
        name=name,
        description=body.description,
        argv=list(body.argv),
        env=dict(body.env),
        prompt_via=body.prompt_via,
        builtin=builtin,
        overridden=builtin and source == "config",
        source=source,  # type: ignore[arg-type]
    )


def _read(path: Path) -> tuple[str, dict[str, Any]] | None:
    """config.toml's text and data, None when there is none; _BadConfig when it cannot be used."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)  # bounded: a huge file must not eat the server's memory
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _BadConfig(f"unreadable: {exc.strerror or exc}") from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise _BadConfig(f"larger than {MAX_CONFIG_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _BadConfig("not UTF-8 text") from exc
    try:
        data = tomllib.loads(text)  # the strict parser decides what is valid TOML; tomlkit is only the editor
    except Exception as exc:  # TOMLDecodeError, but also RecursionError on absurd nesting
        raise _BadConfig(f"not valid TOML: {exc}") from exc
    return text, data


def _load_config(home: Path) -> tuple[dict[str, ProfileInput], list[ProfileWarning]]:
    path = config_path(home)
    try:
        found = _read(path)
    except _BadConfig as exc:
        return {}, [ProfileWarning(path=str(path), message=f"{exc}; only the built-in profiles are available")]
    if found is None:
        return {}, []
    table = found[1].get("profiles", {})
    if not isinstance(table, dict):
        return {}, [ProfileWarning(path=str(path), message="'profiles' is not a table; no profile was read from it")]
    entries: dict[str, ProfileInput] = {}
    warnings: list[ProfileWarning] = []
    for name, raw in table.items():
        try:
            entries[name] = _entry(name, raw)
        except (InvalidInput, msgspec.ValidationError) as exc:
            detail = exc.detail if isinstance(exc, InvalidInput) else str(exc)
            warnings.append(ProfileWarning(path=str(path), profile=name, message=f"skipped: {detail}"))
    return entries, warnings


def _entry(name: str, raw: Any) -> ProfileInput:
    """One [profiles.<name>] table, checked by exactly the rules of the API."""
    if not is_name(name):
        raise InvalidInput(f"invalid profile name {name!r}")
    if name == SHELL:
        raise InvalidInput("the shell profile cannot be overridden")
    if not isinstance(raw, dict):
        raise InvalidInput("not a table")
    body = msgspec.convert(raw, ProfileInput)
    _check(body)
    return body


def _usable(name: str, item: Any) -> bool:
    if item is None:
        return False
    try:
        _entry(name, item.unwrap() if hasattr(item, "unwrap") else item)
    except (InvalidInput, msgspec.ValidationError):
        return False
    return True


def _editable(home: Path) -> tuple[Path, tomlkit.TOMLDocument]:
    """config.toml (its real file, through a symlink) parsed for editing; InvalidInput if it is broken."""
    path = config_path(home)
    if path.is_symlink():
        path = Path(os.path.realpath(path))  # a dotfiles symlink stays a symlink; its target is edited
    try:
        found = _read(path)
    except _BadConfig as exc:
        raise InvalidInput(
            f"{path}: {exc}; fix or remove the file first, it was left unchanged",
            {"path": str(path), "error": str(exc)},
        ) from exc
    if found is None:
        return path, tomlkit.document()
    try:
        return path, tomlkit.parse(found[0])
    except Exception as exc:  # tomllib accepted it, so this is tomlkit's limit; still never overwrite the file
        raise InvalidInput(f"{path}: cannot be edited: {exc}", {"path": str(path), "error": str(exc)}) from exc


def _fill(entry: tomlkit.items.Table | tomlkit.items.InlineTable, body: ProfileInput) -> None:
    argv = tomlkit.array()
    argv.extend(body.argv)
    entry["argv"] = argv
    if body.env:
        env = tomlkit.inline_table()
        env.update(body.env)
        entry["env"] = env
    elif "env" in entry:
        del entry["env"]
    entry["prompt_via"] = body.prompt_via
    if body.description:
        entry["description"] = body.description
    elif "description" in entry:
        del entry["description"]


def _write(path: Path, text: str) -> None:
    """Replace config.toml atomically, mode 0600 (a reader sees the old file or the new, never half)."""
    if not path.parent.exists():
        ensure_home(path.parent)
    write_private(path, text)
