"""docs/cli.md documents every `maestro` command and option, and nothing that does not exist."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click

from app.cli import cli

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
HELP = {"--help", "-h"}
# Commands that print something other than JSON by nature: a server's log, a script, a terminal.
NO_JSON = {"serve", "completion", "session attach", ""}


def commands(group: click.Command = cli, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    """Every command as ("task dep add", command), the root as ("", cli)."""
    yield " ".join(path), group
    if isinstance(group, click.Group):
        for name, command in sorted(group.commands.items()):
            yield from commands(command, (*path, name))


def options(command: click.Command) -> set[str]:
    return {
        name
        for param in command.params
        if isinstance(param, click.Option)
        for name in (*param.opts, *param.secondary_opts)
        if name not in HELP
    }


def documented(known: set[str]) -> dict[str, tuple[str, set[str]]]:
    """Each `### \\`maestro …\\`` section: its command path -> (its heading, the options of its option table).

    The path is the longest run of words after `maestro` that names a command (`completion bash|zsh|fish` is the
    `completion` command); a heading naming no command keeps all its words, and fails the test.
    """
    sections: dict[str, tuple[str, set[str]]] = {}
    current: str | None = None
    for line in DOC.read_text().splitlines():
        if re.match(r"^#{1,3} ", line):
            current = None
            found = re.match(r"^### `maestro((?: [a-z][a-z-]*)*)", line)
            if found:
                words = found[1].split()
                prefixes = [" ".join(words[:n]) for n in range(len(words), -1, -1)]
                current = next((p for p in prefixes if p in known), " ".join(words))
                assert current not in sections, f"{current!r} is documented twice"
                sections[current] = (line, set())
            continue
        if current is not None and line.startswith("| `"):
            first_cell = re.split(r"(?<!\\)\|", line)[1]  # a `\|` inside a cell is not a column border
            sections[current][1].update(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", first_cell))
    return sections


def test_every_command_and_option_is_documented_and_nothing_else():
    known = {path for path, _ in commands()}
    docs = documented(known)
    problems = []
    for path, command in commands():
        if isinstance(command, click.Group) and not options(command) and path:
            if path in docs:  # a heading naming an unknown subcommand lands here too
                problems.append(f"{docs[path][0]}: `maestro {path}` is a group, not a command")
            continue
        if path not in docs:
            problems.append(f"`maestro {path}` has no section")
            continue
        heading, listed = docs[path]
        for param in command.params:
            if isinstance(param, click.Argument):
                name = param.human_readable_name
                if name not in heading and (param.metavar or "") not in heading:
                    problems.append(f"`maestro {path}`: argument {name} not in the heading")
        missing, extra = options(command) - listed, listed - options(command)
        problems += [f"`maestro {path}`: option {o} is not documented" for o in sorted(missing)]
        problems += [f"`maestro {path}`: option {o} is documented but does not exist" for o in sorted(extra)]
    problems += [f"`maestro {path}` is documented but does not exist" for path in sorted(set(docs) - known)]
    assert not problems, "\n".join(problems)


def test_every_command_but_a_few_has_json():
    for path, command in commands():
        if isinstance(command, click.Group) or path in NO_JSON:
            continue
        assert "--json" in options(command), f"`maestro {path}` has no --json"
