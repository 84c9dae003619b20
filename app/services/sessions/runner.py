"""The session runner: spawns an agent (a profile's program in a pty, with its manifest, in place or in a worktree).

One `SessionRunner` per server instance. What it spawns it keeps as a live session (`app.services.sessions.live`:
terminals by session id, stop, exits, reattaching after a restart); the database keeps the record (status, exit
code, which instance and pid host it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import msgspec

from app.errors import InvalidInput, LimitReached, NotFound
from app.home import write_private
from app.ids import is_id, new_id
from app.models.common import CLIENT_ACTORS
from app.models.manifests import MANIFEST_FILE, Manifest
from app.models.profiles import Launch, Profile
from app.models.sessions import Session, SessionSpawn
from app.services.agents import launch as profile_launch
from app.services.agents import profiles
from app.services.agents.manifests import build_manifest, write_manifest
from app.services.agents.prompts import compose_prompt
from app.services.projects import get_project
from app.services.sessions import isolation
from app.services.sessions import records as sessions
from app.services.sessions import status as session_status
from app.services.sessions.folders import read_text_upto, whole_lines
from app.services.sessions.live import STOP_GRACE_S, LiveSessions
from app.services.sessions.tokens import digest_hex
from app.terminals.process import process_start_time

log = logging.getLogger("maestro.sessions")

__all__ = ["STOP_GRACE_S", "SessionRunner", "child_environment", "spawn_source_of"]


def spawn_source_of(actor: str) -> str:
    """Where a spawn came from: the user's own clients by name, Maestro's scheduler, anything else is a session."""
    return actor if actor in CLIENT_ACTORS or actor == "maestro" else "session"


@dataclass(kw_only=True)
class SessionRunner(LiveSessions):
    """Spawns the agents this instance runs (and, through LiveSessions, holds, stops and reattaches them)."""

    home: Path
    base_env: dict[str, str]  # the environment children start from (never containing the user's token)
    api_url: str
    shell: str
    max_sessions: int = 64  # sessions running (or starting) here at once; one more spawn is LimitReached (429)

    def with_program_check(self, profile: Profile, working_dir: str | None = None) -> Profile:
        """The profile with `missing_program` set as a spawn here would judge it (this server's PATH and shell)."""
        missing = profile_launch.missing_program(profile, env=self.base_env, shell=self.shell, working_dir=working_dir)
        return msgspec.structs.replace(profile, missing_program=missing)

    async def spawn(self, request: SessionSpawn, *, actor: str) -> Session:
        """Write the manifest and prompt, then start the profile's program in the project's working directory.

        Everything that can be refused (too many sessions, unknown profile, task or skill, a missing program) is
        refused before a record exists. A session spawning another becomes its parent. The answer is the session
        as it is once started: a program that already exited is `completed` or `failed` with its exit code.
        """
        if len(self._slots) >= self.max_sessions:
            raise LimitReached(
                f"this server already runs {len(self._slots)} sessions, its limit (MAESTRO_MAX_SESSIONS); "
                "stop one or wait for one to end",
                {"limit": self.max_sessions, "running": len(self._slots)},
            )
        session_id = new_id("ses")
        self._slots.add(session_id)  # reserved before any await, so concurrent spawns cannot pass the limit together
        try:
            return await self._spawn(session_id, request, actor)
        except BaseException:
            if session_id not in self._terminals:
                self._slots.discard(session_id)
            raise

    async def _spawn(self, session_id: str, request: SessionSpawn, actor: str) -> Session:
        parent_session_id = actor if is_id(actor, "ses") else request.parent_session_id
        project = await get_project(request.project_id)
        profile = _profile(self.home, request.profile)
        folder = self.folder(session_id)
        name = request.name or profile.name
        manifest_args = {
            "session_id": session_id,
            "session_name": name,
            "role": request.role,
            "profile": profile.name,
            "parent_session_id": parent_session_id,
            "project_id": project.id,
            "task_ids": list(dict.fromkeys(request.task_ids)),
            "skill_names": list(dict.fromkeys(request.skills)),
            "home": self.home,
            "api_url": self.api_url,
            "instructions": request.instructions,
        }
        manifest = await build_manifest(**manifest_args)  # unknown tasks and skills refused here
        mode = await isolation.plan(project, request)  # a non-git project refused here
        if not _is_directory(project.working_dir):
            raise InvalidInput(
                f"cannot start session: the project's working directory does not exist: {project.working_dir}",
                {"cwd": project.working_dir},
            )
        self._launch(profile, session_id, project.id, folder, manifest, request.role, project.working_dir, {})
        placement = await isolation.place(self.writer, self.home, project, request, mode, actor)
        try:
            if placement.worktree is not None:
                manifest = await build_manifest(**manifest_args, worktree=placement.manifest_part())
            token = self.grants.issue(session_id, project.id, request.role)
            try:
                launch = self._launch(
                    profile,
                    session_id,
                    project.id,
                    folder,
                    manifest,
                    request.role,
                    placement.cwd,
                    {**placement.env(), **placement.setup_env(), "MAESTRO_TOKEN": token},
                )
                record = await sessions.create_session_record(
                    self.writer,
                    session_id=session_id,
                    project_id=project.id,
                    name=name,
                    profile=profile.name,
                    role=request.role,
                    command=launch.template,
                    cwd=placement.cwd,
                    spawn_source=spawn_source_of(actor),
                    parent_session_id=parent_session_id,
                    task_ids=request.task_ids,
                    actor=actor,
                    host=self.host,
                    worktree_id=placement.worktree.id if placement.worktree else None,
                    token_digest=digest_hex(token),
                )
            except BaseException:
                self.grants.revoke(session_id)
                raise
        except BaseException:
            await isolation.undo(self.writer, placement, actor)
            raise
        # The program may exit at once (`true`, an agent failing fast), even before its holder has answered: its
        # exit is recorded only once "running" is (see _record_exit), so the record goes spawning -> running ->
        # completed/failed and never refuses a step.
        started = self._started[session_id] = asyncio.get_running_loop().create_future()
        starting_at = time.monotonic()
        try:
            try:
                write_manifest(manifest, folder)
                write_private(folder / "prompt.md", compose_prompt(manifest).full)  # prompts may quote task text
                terminal = await self.hosting.start(
                    session_id,
                    placement.argv(launch.argv),
                    cwd=placement.cwd,
                    env=launch.env,
                    cols=request.cols,
                    rows=request.rows,
                    recording_path=folder / "recording.cast",
                    on_exit=lambda code: self._on_exit(session_id, code),
                    on_lost=lambda why: self._on_lost(session_id, why),
                )
            except OSError as exc:  # ProgramNotFoundError, NotADirectoryError, a holder that did not start
                self.grants.revoke(session_id)
                await session_status.set_status(self.writer, session_id, "failed", actor)
                raise InvalidInput(
                    f"cannot start session: {getattr(exc, 'strerror', None) or exc}",
                    {"program": launch.argv[0], "cwd": placement.cwd},
                ) from exc
            self._terminals[session_id] = terminal
            self._monitor.watch(session_id, terminal, since=starting_at)  # all its output counts as activity
            if launch.stdin:
                terminal.write(launch.stdin.encode() + b"\r")  # typed into the terminal, as a user would
            session = await session_status.mark_running(
                self.writer,
                record.id,
                host=self.host,
                pid=terminal.pid,
                pid_start_time=process_start_time(terminal.pid),
                actor=actor,
            )
        finally:
            started.set_result(None)
            del self._started[session_id]
        if terminal.finished:
            await self.settled(session_id)
            return await sessions.get_session(session_id)
        return session

    def _launch(
        self,
        profile: Profile,
        session_id: str,
        project_id: str,
        folder: Path,
        manifest: Manifest,
        role: str,
        cwd: str,
        extra_env: dict[str, str],
    ) -> Launch:
        """The program, argv and environment a profile starts with here (400 naming a missing program)."""
        prompt = compose_prompt(manifest)
        env = {
            **self.base_env,
            "MAESTRO_SESSION_ID": session_id,
            "MAESTRO_PROJECT_ID": project_id,
            "MAESTRO_TASK_IDS": ",".join(t.id for t in manifest.tasks),
            "MAESTRO_MANIFEST": str(folder / "manifest.json"),
            "MAESTRO_API_URL": self.api_url,
            "MAESTRO_ROLE": role,
            **extra_env,
        }
        values = {
            "shell": self.shell,
            "prompt": prompt.full,
            "system_prompt": prompt.system,
            "task_prompt": prompt.task,
            "prompt_file": str(folder / "prompt.md"),
            "manifest": env["MAESTRO_MANIFEST"],
            "session_id": session_id,
            "project_id": project_id,
            "working_dir": cwd,
        }
        return profile_launch.resolve_launch(profile, values=values, env=env)

    def folder(self, session_id: str) -> Path:
        """Where a session's manifest, prompt and recording live (MAESTRO_HOME/sessions/<id>)."""
        return self.home / "sessions" / session_id

    async def manifest_text(self, session_id: str, limit: int) -> tuple[Path, str | None]:
        """The manifest file the session started with, as text (at most `limit` characters; None when missing)."""
        path = self.folder(session_id) / MANIFEST_FILE
        return path, await asyncio.to_thread(read_text_upto, path, limit)

    async def recording(self, session_id: str) -> Iterator[bytes]:
        """A session's asciicast v2 recording as it is now, in whole lines (it may still be growing)."""
        await sessions.get_session(session_id)  # NotFound for an unknown id
        terminal = self._terminals.get(session_id)
        if terminal is not None:
            flushed = terminal.flush_recording()
            if flushed is not None:
                await flushed  # a holder writes the recording in its own process
        path = self.folder(session_id) / "recording.cast"
        try:
            handle = path.open("rb")  # noqa: ASYNC230 (opening is one syscall; reading happens in the iterator)
        except FileNotFoundError:
            raise NotFound(f"session {session_id} has no recording") from None
        return whole_lines(handle)


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What sessions start from: the server's environment without MAESTRO_* (the user's token never leaks to an
    agent), with this installation's `maestro` first on PATH so agents can run `maestro report`."""
    env = {k: v for k, v in environ.items() if not k.startswith("MAESTRO_")}
    tools = Path(sys.executable).parent
    if (tools / "maestro").exists():
        env["PATH"] = os.pathsep.join([str(tools), *[p for p in env.get("PATH", os.defpath).split(os.pathsep) if p]])
    return env


def _profile(home: Path, name: str) -> Profile:
    """The named profile; an unknown name in a spawn body is a bad request, not a missing resource."""
    try:
        return profiles.get_profile(home, name)
    except NotFound as exc:
        raise InvalidInput(exc.detail, {"profile": name}) from exc


def _is_directory(path: str) -> bool:
    # One stat of a local path: not worth a thread hop.
    return os.path.isdir(path)
