"""`maestro completion bash|zsh|fish`: print the shell completion script (click's own completion)."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_MAESTRO_COMPLETE"  # what click's scripts set when they ask `maestro` for completions


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish.

    \b
    bash:  maestro completion bash > ~/.local/share/bash-completion/completions/maestro
    zsh:   maestro completion zsh > "${fpath[1]}/_maestro"   (or: eval "$(maestro completion zsh)" in ~/.zshrc)
    fish:  maestro completion fish > ~/.config/fish/completions/maestro.fish
    """
    completer = get_completion_class(shell)
    assert completer is not None  # click ships all three
    click.echo(completer(ctx.find_root().command, {}, "maestro", COMPLETE_VAR).source())
