"""`maestro worktree list|show|changes|diff|commit|merge|pr|discard|cleanup`: agents' worktrees, reviewed and finished.

A worktree is named by its id (wtr_…) or, for convenience, by a session (ses_…) or a task (tsk_…) that works in it.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.syntax import Syntax

from app.cli.client import ApiClient, ApiError
from app.cli.common import (
    PROJECT,
    api_client,
    body_of,
    chosen_project,
    console,
    echo_json,
    json_option,
    new_table,
    print_table,
    styled,
    text,
    when,
)
from app.cli.errors import Refused
from app.models.worktrees import CommitRequest, DiscardRequest, MergeRequest, PullRequestRequest

STATE_STYLE = {"clean": "green", "dirty": "yellow", "merged": "cyan", "unmerged": "magenta", "missing": "red"}
KIND_MARK = {"added": "A", "modified": "M", "deleted": "D", "renamed": "R", "copied": "C", "type_changed": "T"}
WORKTREE_ARG = click.argument("worktree", metavar="WORKTREE")


@click.group("worktree")
def worktree() -> None:
    """Agents' git worktrees: review their changes, then commit, merge, open a pull request or discard.

    WORKTREE is a worktree id (wtr_…), or a session (ses_…) or task (tsk_…) that works in one.
    """


def resolve_worktree(client: ApiClient, ref: str) -> str:
    """The worktree id named by a worktree, session or task id."""
    if ref.startswith("ses_"):
        return str(client.get(f"/sessions/{ref}/worktree")["id"])
    if ref.startswith("tsk_"):
        return str(client.get(f"/tasks/{ref}/worktree")["id"])
    if ref.startswith("wtr_"):
        return ref
    raise click.BadParameter(f"'{ref}' is not a worktree, session or task id (wtr_…, ses_…, tsk_…)")


@worktree.command("list")
@click.option("--project", type=PROJECT, default=None, help="Only this project's [default: $MAESTRO_PROJECT_ID].")
@click.option("--status", type=click.Choice(["active", "merged", "discarded"]), default=None, help="Only these.")
@json_option("Print the worktrees as a JSON array.")
def list_cmd(project: str | None, status: str | None, as_json: bool) -> None:
    """List worktrees, newest first, with what git says of each (clean, dirty, merged, unmerged, missing)."""
    with api_client() as client:
        params: dict[str, Any] = {}
        if project_id := chosen_project(client, project):
            params["project_id"] = project_id
        if status:
            params["status"] = status
        items = client.get("/worktrees", **params)
    if as_json:
        echo_json(items)
        return
    if not items:
        console.print("[dim]no worktrees: start an agent with `maestro session spawn --worktree`[/]")
        return
    table = new_table("id", "branch", "state", "status", "sessions", "created")
    for item in items:
        table.add_row(
            item["id"],
            text(item["branch"]),
            styled(item.get("state") or "", STATE_STYLE),
            item["status"],
            str(len(item["session_ids"])),
            when(item["created_at"]),
        )
    print_table(table)


@worktree.command("show")
@WORKTREE_ARG
@json_option("Print the worktree as JSON.")
def show(worktree: str, as_json: bool) -> None:
    """Show a worktree: branch, base, path, state, sessions, and its changed files."""
    with api_client() as client:
        item = client.get(f"/worktrees/{resolve_worktree(client, worktree)}")
        changes = client.get(f"/worktrees/{item['id']}/changes") if item["status"] != "discarded" else None
    if as_json:
        echo_json(item)
        return
    console.print(f"[bold]{text(item['branch'])}[/]  {item['id']}  {styled(item.get('state') or '', STATE_STYLE)}")
    console.print(f"[dim]base      [/]{text(item['base_ref'])} ({item['base_commit'][:10]})")
    console.print(f"[dim]path      [/]{text(item['path'])}")
    console.print(
        f"[dim]status    [/]{item['status']}" + (f" ({item['merged_commit'][:10]})" if item["merged_commit"] else "")
    )
    if item["pr_url"]:
        console.print(f"[dim]pull req  [/]{text(item['pr_url'])}")
    if item["session_ids"]:
        console.print(f"[dim]sessions  [/]{', '.join(item['session_ids'])}")
    if changes is not None:
        console.print(f"[dim]changes   [/]{changes['total']} file(s), +{changes['added']} −{changes['removed']}")


@worktree.command("changes")
@WORKTREE_ARG
@json_option("Print the change list as JSON.")
def changes_cmd(worktree: str, as_json: bool) -> None:
    """The files changed against the base (committed and not, untracked included), with line counts."""
    with api_client() as client:
        listing = client.get(f"/worktrees/{resolve_worktree(client, worktree)}/changes", limit=5000)
    if as_json:
        echo_json(listing)
        return
    if not listing["files"]:
        console.print("[dim]no changes against the base yet[/]")
        return
    for item in listing["files"]:
        counts = "binary" if item["binary"] else f"[green]+{item['added']}[/] [red]−{item['removed']}[/]"
        moved = f"{text(item['old_path'])} → " if item.get("old_path") else ""
        console.print(f"{KIND_MARK.get(item['kind'], '?')}  {moved}{text(item['path'])}  {counts}")
    console.print(f"[dim]{listing['total']} file(s), +{listing['added']} −{listing['removed']}[/]")


@worktree.command("diff")
@WORKTREE_ARG
@click.argument("paths", nargs=-1)
@json_option("Print the diffs as a JSON array.")
def diff_cmd(worktree: str, paths: tuple[str, ...], as_json: bool) -> None:
    """The unified diff against the base: of the PATHS given, else of every changed file (coloured on a terminal)."""
    with api_client() as client:
        worktree_id = resolve_worktree(client, worktree)
        if paths:
            diffs = [client.get(f"/worktrees/{worktree_id}/diff", path=path) for path in paths]
        else:
            diffs, offset = [], 0
            while page := client.get(f"/worktrees/{worktree_id}/diffs", offset=offset, limit=100):
                diffs += page
                offset += len(page)
    if as_json:
        echo_json(diffs)
        return
    for item in diffs:
        body = item["diff"] or f"Binary file {item['path']} differs\n"
        if sys.stdout.isatty():
            console.print(Syntax(body, "diff", theme="ansi_dark", background_color="default", word_wrap=False))
        else:
            click.echo(body, nl=not body.endswith("\n"))
        if item["truncated"]:
            console.print(f"[yellow]… cut at 5,000 of {item['lines']} lines[/]")


@worktree.command("commit")
@WORKTREE_ARG
@click.option("-m", "--message", default=None, help="The message [default: the task's title and the last report].")
@json_option("Print the worktree as JSON.")
def commit(worktree: str, message: str | None, as_json: bool) -> None:
    """Commit everything in the worktree on its branch."""
    with api_client() as client:
        worktree_id = resolve_worktree(client, worktree)
        if message is None:
            message = client.get(f"/worktrees/{worktree_id}/commit-message")["message"]
        item = client.post(f"/worktrees/{worktree_id}/commit", body_of(CommitRequest, {"message": message}))
    if as_json:
        echo_json(item)
    else:
        console.print(f"committed on [bold]{text(item['branch'])}[/]: {text(message.splitlines()[0])}")


@worktree.command("merge")
@WORKTREE_ARG
@click.option(
    "--strategy", type=click.Choice(["fast_forward", "merge_commit"]), default=None, help="[default: the project's]"
)
@json_option("Print the merge result as JSON.")
def merge(worktree: str, strategy: str | None, as_json: bool) -> None:
    """Merge the worktree's branch into its base; a conflict changes nothing and lists the files."""
    with api_client() as client:
        worktree_id = resolve_worktree(client, worktree)
        try:
            result = client.post(f"/worktrees/{worktree_id}/merge", body_of(MergeRequest, {"strategy": strategy}))
        except ApiError as exc:
            files = exc.extra.get("files") if isinstance(exc.extra, dict) else None
            if exc.status_code == 409 and files:
                raise Refused(
                    f"{exc.detail}\nnothing was changed; resolve in the worktree, commit, and merge again"
                ) from exc
            raise
    if as_json:
        echo_json(result)
    else:
        how = "fast-forward" if result["fast_forward"] else "merge commit"
        target = result["worktree"]
        console.print(
            f"merged [bold]{text(target['branch'])}[/] into {text(target['base_ref'])} ({how}, {result['commit'][:10]})"
        )


@worktree.command("pr")
@WORKTREE_ARG
@click.option("--title", default=None, help="[default: the task's title]")
@click.option("--body", default="", help="The pull request's description.")
@json_option("Print the worktree as JSON.")
def pull_request(worktree: str, title: str | None, body: str, as_json: bool) -> None:
    """Push the branch and open a pull request with GitHub's `gh`."""
    values: dict[str, Any] = {"body": body}
    if title is not None:
        values["title"] = title
    with api_client() as client:
        worktree_id = resolve_worktree(client, worktree)
        item = client.post(f"/worktrees/{worktree_id}/pull-request", body_of(PullRequestRequest, values))
    if as_json:
        echo_json(item)
    else:
        console.print(f"pull request: {text(item['pr_url'])}")


@worktree.command("discard")
@WORKTREE_ARG
@click.option(
    "--force", is_flag=True, help="Also when it holds uncommitted work (or, with --delete-branch, unmerged commits)."
)
@click.option("--delete-branch", is_flag=True, help="Delete its branch too (kept by default).")
@json_option("Print the worktree as JSON.")
def discard(worktree: str, force: bool, delete_branch: bool, as_json: bool) -> None:
    """Remove the worktree's checkout; its branch is kept unless --delete-branch."""
    with api_client() as client:
        worktree_id = resolve_worktree(client, worktree)
        body = body_of(DiscardRequest, {"force": force, "delete_branch": delete_branch})
        try:
            item = client.post(f"/worktrees/{worktree_id}/discard", body)
        except ApiError as exc:
            if exc.status_code == 409 and isinstance(exc.extra, dict) and exc.extra.get("needs_force"):
                raise Refused(f"{exc.detail} (add --force)") from exc
            raise
    if as_json:
        echo_json(item)
    else:
        kept = "deleted" if delete_branch else "kept"
        console.print(f"discarded the worktree of [bold]{text(item['branch'])}[/] (branch {kept})")


@worktree.command("cleanup")
@click.option("--project", type=PROJECT, default=None, help="The project [default: $MAESTRO_PROJECT_ID].")
@json_option("Print the removed worktrees as a JSON array.")
def cleanup(project: str | None, as_json: bool) -> None:
    """Remove every finished worktree that is clean or merged; dirty and unmerged ones stay."""
    with api_client() as client:
        project_id = chosen_project(client, project)
        if not project_id:
            raise click.UsageError("no project: pass --project")
        removed = client.post(f"/projects/{project_id}/worktrees/cleanup")
        left = [w for w in client.get("/worktrees", project_id=project_id, status="active")]
    if as_json:
        echo_json(removed)
        return
    console.print(f"removed {len(removed)} worktree(s)")
    if left:
        console.print(f"[dim]kept {len(left)} with unmerged or uncommitted work: `maestro worktree list`[/]")
