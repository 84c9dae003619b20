"""`maestro export FILE`, `maestro import FILE` and `maestro import --from-maestro DIR`, with a progress bar."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import msgspec
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from app.cli.common import api_client, body_of, check_folder, console, echo_json, err_console, json_option, text
from app.cli.errors import Refused
from app.models.transfer import ExportDocument, LegacyImportRequest

CHUNK = 1024 * 1024


def _progress(as_json: bool) -> Progress:
    """A progress bar on stderr, shown only to a person at a terminal (never mixed into --json or a pipe)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=as_json or not err_console.is_terminal,
    )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items()) or "nothing"


@click.command("export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@json_option('Print {"path", "bytes", "counts"} as JSON (not with FILE `-`).')
def export(file: Path, as_json: bool) -> None:
    """Write everything (projects, tasks, dependencies, sessions, links, timelines) to FILE; `-` is stdout.

    The file is a `maestro-export` document (docs/api.md) that `maestro import FILE` loads into another Maestro.
    """
    to_stdout = str(file) == "-"
    if to_stdout and as_json:
        raise click.UsageError("--json prints a summary on stdout; with FILE - the document goes there: pick one")
    if not to_stdout:
        check_folder(file)
    partial = file.with_name(file.name + ".part")
    written = 0
    with api_client() as client, client.stream("/export") as response, _progress(as_json) as progress:
        size = int(response.headers.get("content-length", 0)) or None
        bar = progress.add_task("exporting", total=size)
        sink = sys.stdout.buffer if to_stdout else partial.open("wb")
        try:
            for chunk in response.iter_bytes(CHUNK):
                sink.write(chunk)
                written += len(chunk)
                progress.update(bar, advance=len(chunk))
        except BaseException:
            if not to_stdout:
                sink.close()
                partial.unlink(missing_ok=True)
            raise
        if to_stdout:
            sink.flush()
            return
        sink.close()
    try:
        # Read back with the server's own model: what was written is a whole document, and its counts.
        document = msgspec.json.decode(partial.read_bytes(), type=ExportDocument)
    except msgspec.MsgspecError as exc:
        partial.unlink(missing_ok=True)
        raise Refused(f"the export was cut short or damaged ({exc}); {file} was left as it was") from exc
    partial.replace(file)
    counts = {
        name: len(getattr(document, name))
        for name in ("projects", "tasks", "dependencies", "sessions", "task_sessions", "timeline")
    }
    if as_json:
        echo_json({"path": str(file.resolve()), "bytes": written, "counts": counts})
    else:
        console.print(f"exported {_counts(counts)} to {text(file)} ({written:,} bytes)")


@click.command("import")
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--from-maestro",
    "data_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Import the original (TypeScript) Maestro's data directory instead, e.g. ~/.maestro/data.",
)
@json_option("Print the server's report as JSON.")
def import_cmd(file: Path | None, data_dir: Path | None, as_json: bool) -> None:
    """Load FILE (from `maestro export`; `-` is stdin), or the original Maestro's data with --from-maestro DIR.

    All or nothing: ids or project names that exist here already refuse the whole import.
    """
    if (file is None) == (data_dir is None):
        raise click.UsageError("give FILE or --from-maestro DIR (one of them)")
    if data_dir is not None:
        _import_legacy(data_dir, as_json)
        return
    assert file is not None
    raw = sys.stdin.buffer.read() if str(file) == "-" else None
    size = len(raw) if raw is not None else file.stat().st_size
    with api_client() as client, _progress(as_json) as progress:
        bar = progress.add_task("uploading", total=size)

        def chunks() -> Iterator[bytes]:
            if raw is not None:
                progress.update(bar, advance=size)
                yield raw
                return
            with file.open("rb") as source:
                while chunk := source.read(CHUNK):
                    progress.update(bar, advance=len(chunk))
                    yield chunk
            progress.update(bar, description="importing")

        result = client.post_stream("/import", chunks(), size)
    if as_json:
        echo_json(result)
    else:
        console.print(f"imported {_counts(result['counts'])}")


def _import_legacy(data_dir: Path, as_json: bool) -> None:
    body = body_of(LegacyImportRequest, {"data_dir": str(data_dir.expanduser().resolve())})
    with api_client() as client, _progress(as_json) as progress:
        progress.add_task(f"importing {data_dir}", total=None)
        report: dict[str, Any] = client.post("/import/legacy", body)
    if as_json:
        echo_json(report)
        return
    console.print(f"imported {_counts(report['counts'])} from {text(report['data_dir'])}")
    if report["skipped"]:
        console.print(f"skipped {len(report['skipped'])}:")
        for item in report["skipped"]:
            what = item.get("legacy_id") or item.get("file") or ""
            console.print(f"  [dim]{item['kind']}[/] {text(what)}: {text(item['reason'])}")
    for warning in report["warnings"]:
        console.print(f"[yellow]warning[/]: {text(warning)}")
    if report["env_vars_dropped"]:
        console.print(
            f"[dim]dropped the saved environment of the old sessions: {report['env_vars_dropped']} variable(s), "
            f"{report['secrets_dropped']} of them secrets (never stored)[/]"
        )
