"""The offline outbox: changes made while the server cannot be reached wait in MAESTRO_HOME/outbox.db and are sent
later, in order, each at most once (docs/cli.md, Offline outbox).

The client (app/cli/client.py) hands every request to `Outbox.call`: the first request of a command sends what is
queued first; a change the server cannot take now is queued instead of failing. Entries keep the credential they
were made with: a session's change is only ever sent with that session's token, never with the user's.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from app.cli.client import ApiError, NoServer
from app.cli.errors import describe
from app.cli.outbox_store import Change, Store

if TYPE_CHECKING:
    from app.cli.client import ApiClient, Target

OFF = ("0", "off", "no", "false")

# Changes to the data, which still mean the same later. Starting or stopping a program, login links and imports are
# never queued: done late, they would surprise.
QUEUEABLE = [
    (method, re.compile(pattern))
    for method, pattern in (
        ("POST", r"/projects"),
        ("PATCH", r"/projects/[^/]+"),
        ("DELETE", r"/projects/[^/]+"),
        ("POST", r"/tasks"),
        ("PATCH", r"/tasks/[^/]+"),
        ("DELETE", r"/tasks/[^/]+"),
        ("POST", r"/tasks/[^/]+/(move|dependencies|timeline)"),
        ("DELETE", r"/tasks/[^/]+/dependencies/[^/]+"),
        ("POST", r"/sessions/[^/]+/(reports|timeline)"),
        ("PATCH", r"/sessions/[^/]+"),
        ("POST", r"/sessions/[^/]+/tasks/[^/]+"),
        ("DELETE", r"/sessions/[^/]+/tasks/[^/]+"),
        ("PUT", r"/profiles/[^/]+"),
        ("DELETE", r"/profiles/[^/]+"),
    )
]
# Sent twice, these leave the same state: the server honours the Idempotency-Key header on these (docs/api.md), and
# PUT and PATCH set values. Any other change whose answer was lost may have been applied: it is not sent again blindly.
KEYED = [
    (method, re.compile(pattern))
    for method, pattern in (
        ("POST", r"/projects"),
        ("POST", r"/tasks"),
        ("DELETE", r"/tasks/[^/]+"),
        ("POST", r"/tasks/[^/]+/(move|dependencies|timeline)"),
        ("DELETE", r"/tasks/[^/]+/dependencies/[^/]+"),
        ("POST", r"/sessions/[^/]+/(reports|timeline)"),
    )
]
RETRY_SAFE_METHODS = {"PUT", "PATCH"}
# Answers that mean "not now" rather than "no": the change stays queued and the replay stops, keeping the order.
NOT_NOW = {408, 429, 502, 503, 504}


def queueable(method: str, path: str) -> bool:
    """True for a change that may wait in the outbox (see QUEUEABLE)."""
    return any(method == m and pattern.fullmatch(path) for m, pattern in QUEUEABLE)


def retry_safe(method: str, path: str) -> bool:
    """True when sending the change a second time cannot apply it twice."""
    return method in RETRY_SAFE_METHODS or any(method == m and pattern.fullmatch(path) for m, pattern in KEYED)


def outbox_home(target_home: Path | None, environ: Mapping[str, str]) -> Path | None:
    """Where the outbox lives: inside a session, the server's home (the folder of MAESTRO_MANIFEST, which is
    MAESTRO_HOME/sessions/<id>/manifest.json), so the user's `maestro sync` sees it; elsewhere MAESTRO_HOME."""
    manifest = environ.get("MAESTRO_MANIFEST")
    if manifest and environ.get("MAESTRO_SESSION_ID"):
        folder = Path(manifest).parent
        if folder.parent.name == "sessions" and folder.name == environ["MAESTRO_SESSION_ID"]:
            return folder.parent.parent
    return target_home


@dataclass
class Replay:
    """What one replay did."""

    sent: list[tuple[Change, Any]] = field(default_factory=list)
    set_aside: list[Change] = field(default_factory=list)
    stopped: str | None = None  # why it stopped early (the server cannot be reached or is busy); None: all done
    waiting: int = 0  # changes still queued after it

    def as_json(self) -> dict[str, Any]:
        """The replay for `--json`."""
        return {
            "sent": [{**c.public(), "answer": answer} for c, answer in self.sent],
            "set_aside": [c.public() for c in self.set_aside],
            "waiting": self.waiting,
            "stopped": self.stopped,
        }


class Queued(click.exceptions.Exit):
    """The change waits in the outbox: the command has done what it can and ends successfully (exit code 0)."""

    def __init__(self, change: Change) -> None:
        super().__init__(0)
        self.change = change


class Outbox:
    """One command's view of the outbox: its own credential, and whether it has sent what was queued yet."""

    def __init__(self, store: Store, environ: Mapping[str, str]) -> None:
        self.store = store
        # A token from the environment (a session's) is stored with the change; the user's own is read when sending.
        self.own_token = environ.get("MAESTRO_TOKEN") or None
        self.actor = environ.get("MAESTRO_SESSION_ID") or ("token from MAESTRO_TOKEN" if self.own_token else "you")
        self.replayed = False
        self.blocked: str | None = None  # why queued changes could not all be sent: new ones queue behind them

    def call(self, client: ApiClient, method: str, path: str, kwargs: dict[str, Any]) -> Any:
        """Send one request for the client: queued changes first, and this one queued if the server cannot take it."""
        if not self.replayed:
            self.replayed = True
            result = self.replay(client)
            announce(result, err=True, waiting=False)  # this command's own outcome says whether the server is there
            self.blocked = result.stopped
        if method == "GET" or not queueable(method, path):
            return client.send(method, path, **kwargs)
        key = str(uuid.uuid4())
        if self.blocked is not None:
            raise self.queue(method, path, kwargs, key, self.blocked)
        kwargs["headers"] = {**(kwargs.get("headers") or {}), "Idempotency-Key": key}
        try:
            return client.send(method, path, **kwargs)
        except NoServer as exc:
            if exc.maybe_applied and not retry_safe(method, path):
                raise NoServer(f"{exc}; the change may have been applied: check before repeating it") from exc
            raise self.queue(method, path, kwargs, key, str(exc)) from exc
        except ApiError as exc:
            if exc.status_code != 503:  # 503: nothing was written and a retry is safe (docs/api.md)
                raise
            raise self.queue(method, path, kwargs, key, describe(exc)) from exc

    def queue(self, method: str, path: str, kwargs: dict[str, Any], key: str, why: str) -> Queued:
        """Keep the change for later, say so (stderr; stdout too with --json) and end the command successfully."""
        change = self.store.add(method, path, kwargs.get("params"), kwargs.get("json"), key, self.own_token, self.actor)
        why = why if why.endswith((".", ")", "]")) else f"{why}."
        click.echo(
            f"{why} The change is queued as #{change.id} in {self.store.path}: "
            "`maestro sync` or the next command that reaches the server sends it.",
            err=True,
        )
        if _wants_json():
            click.echo(json.dumps({"queued": True, "outbox": str(self.store.path), **change.public()}, indent=2))
        return Queued(change)

    def replay(self, client: ApiClient) -> Replay:
        """Send the queued changes this command may send, oldest first, each once; stop at the first "not now"."""
        result = Replay()
        if not self.store.exists():
            return result
        with self.store.replaying():
            for change in self.store.changes("pending"):
                if change.token is None and self.own_token is not None:
                    continue  # the user's change: sent by the user's next command, never with another's token
                if result.stopped is None:
                    self._send(client, change, result)
            result.waiting = len(self.store.changes("pending"))
        return result

    def _send(self, client: ApiClient, change: Change, result: Replay) -> None:
        token = change.token or client.target.token
        headers = {"Idempotency-Key": change.idempotency_key, **({"Authorization": f"Bearer {token}"} if token else {})}
        kwargs: dict[str, Any] = {"headers": headers, "params": change.params}
        if change.body is not None:
            kwargs["json"] = change.body
        try:
            answer = client.send(change.method, change.path, **kwargs)
        except NoServer as exc:
            if exc.maybe_applied and not retry_safe(change.method, change.path):
                reason = f"the server went away while answering ({exc}): it may have been applied; check, then retry"
                self.store.set_aside(change.id, reason)
                result.set_aside.append(self.store.find(change.id) or change)
            result.stopped = str(exc)
            return
        except ApiError as exc:
            if exc.status_code in NOT_NOW:
                result.stopped = describe(exc)
                return
            if exc.status_code == 401 and change.token is None:
                raise  # the user's own token is refused: the command cannot go on either
            reason = describe(exc)
            if exc.status_code == 401:
                reason = "its token is no longer accepted: the session ended or the server restarted [HTTP 401]"
            self.store.set_aside(change.id, reason)
            result.set_aside.append(self.store.find(change.id) or change)
            return
        self.store.remove(change.id)
        result.sent.append((change, answer))


def for_target(target: Target, environ: Mapping[str, str] | None = None, *, force: bool = False) -> Outbox | None:
    """The outbox for a command talking to `target`; None when MAESTRO_OUTBOX=off (unless forced) or homeless."""
    env = os.environ if environ is None else environ
    if not force and env.get("MAESTRO_OUTBOX", "").strip().lower() in OFF:
        return None
    home = outbox_home(target.home, env)
    return Outbox(Store(home), env) if home is not None else None


def announce(result: Replay, *, err: bool, waiting: bool = True) -> None:
    """One line for what was sent, one per change set aside (the conflicts), one if changes still wait."""
    if result.sent:
        n = len(result.sent)
        click.echo(
            f"sent {n} queued change{'s' if n != 1 else ''}: " + ", ".join(_label(c) for c, _ in result.sent), err=err
        )
    for change in result.set_aside:
        click.echo(
            f"not applied, set aside: change #{change.id} `{change.command}`: {change.reason} "
            f"(`maestro outbox list`, `maestro outbox retry {change.id}` or `maestro outbox drop {change.id}`)",
            err=err,
        )
    if waiting and result.stopped is not None and result.waiting:
        n = result.waiting
        click.echo(f"{n} change{'s' if n != 1 else ''} still queued: {result.stopped}", err=err)


def _label(change: Change) -> str:
    return f"#{change.id} {change.method} {change.path}"


def _wants_json() -> bool:
    """True when the running command was given --json."""
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.params.get("as_json") or ctx.params.get("json") is True:
            return True
        ctx = ctx.parent
    return False
