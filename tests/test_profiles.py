"""Agent profiles: built-ins, config.toml entries through the API (comments kept), errors, and resolving a launch."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx
import pytest

from app.errors import InvalidInput
from app.models.profiles import Profile, ProfileInput
from app.services.agents.launch import placeholders, resolve_launch
from app.services.agents.profiles import BUILTINS, get_profile, list_profiles, save_profile

API = "/api/v1/profiles"
BUILTIN_NAMES = ["claude", "codex", "gemini", "shell"]
AIDER = {"argv": ["aider", "--message", "{prompt}"], "env": {"AIDER_DARK": "1"}, "description": "Aider"}
USER_CONFIG = """# my own settings, keep this comment
[server]
port = 4580  # and this one

[profiles.mine]  # hand-written
argv = ["mine", "{task_prompt}"]
"""


def assert_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"status_code", "detail", "extra"} and body["status_code"] == status
    return body


async def test_list_shows_the_builtins(client: httpx.AsyncClient):
    response = await client.get(API)
    assert response.status_code == 200
    listing = response.json()
    assert listing["warnings"] == []
    assert [p["name"] for p in listing["items"]] == BUILTIN_NAMES
    by_name = {p["name"]: p for p in listing["items"]}
    assert by_name["shell"]["argv"] == ["{shell}"] and by_name["shell"]["prompt_via"] == "none"
    assert by_name["claude"]["argv"] == ["claude", "--append-system-prompt", "{system_prompt}", "{task_prompt}"]
    assert by_name["codex"]["argv"] == ["codex", "{prompt}"]
    assert by_name["gemini"]["argv"] == ["gemini", "--prompt-interactive", "{prompt}"]
    for profile in listing["items"]:
        assert (profile["builtin"], profile["overridden"], profile["source"]) == (True, False, "builtin")
        assert profile["description"] and profile["env"] == {}
    one = await client.get(f"{API}/claude")
    assert one.status_code == 200 and one.json() == by_name["claude"]


async def test_put_custom_profile_keeps_the_users_file(client: httpx.AsyncClient, home: Path):
    config = home / "config.toml"
    config.write_text(USER_CONFIG)

    created = await client.put(f"{API}/aider", json=AIDER)
    assert created.status_code == 201, created.text
    expected = {
        "name": "aider",
        "description": "Aider",
        "argv": AIDER["argv"],
        "env": {"AIDER_DARK": "1"},
        "prompt_via": "argument",
        "builtin": False,
        "overridden": False,
        "source": "config",
        "missing_program": "aider",  # not installed on this machine: a spawn would refuse it
    }
    assert created.json() == expected
    assert (await client.get(f"{API}/aider")).json() == expected
    listing = (await client.get(API)).json()
    assert [p["name"] for p in listing["items"]] == ["aider", "claude", "codex", "gemini", "mine", "shell"]
    assert listing["warnings"] == []

    text = config.read_text()
    assert text.startswith(USER_CONFIG)  # comments, the other section and the hand-written entry as they were
    assert "[profiles.aider]" in text and 'argv = ["aider", "--message", "{prompt}"]' in text
    assert 'env = {AIDER_DARK = "1"}' in text
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert not [p for p in home.iterdir() if p.name.endswith(".tmp")]

    replaced = await client.put(f"{API}/aider", json={"argv": ["aider"], "prompt_via": "stdin"})
    assert replaced.status_code == 200 and replaced.json()["prompt_via"] == "stdin"
    assert replaced.json()["env"] == {} and replaced.json()["description"] == ""
    text = config.read_text()
    assert text.startswith(USER_CONFIG) and "AIDER_DARK" not in text

    assert (await client.delete(f"{API}/aider")).status_code == 204
    assert_error(await client.get(f"{API}/aider"), 404)
    assert config.read_text().rstrip() == USER_CONFIG.rstrip()


async def test_put_into_a_missing_config_creates_it(client: httpx.AsyncClient, home: Path):
    assert (await client.put(f"{API}/aider", json=AIDER)).status_code == 201
    text = (home / "config.toml").read_text()
    assert text.startswith("[profiles.aider]")  # no empty [profiles] header above it
    assert stat.S_IMODE((home / "config.toml").stat().st_mode) == 0o600


async def test_override_builtin_then_delete_restores_it(client: httpx.AsyncClient, home: Path):
    original = (await client.get(f"{API}/claude")).json()
    body = {"argv": ["claude", "--model", "opus", "{task_prompt}"], "env": {"CLAUDE_X": "y"}}
    response = await client.put(f"{API}/claude", json=body)
    assert response.status_code == 200  # the name existed already: replaced, not created
    override = response.json()
    assert (override["builtin"], override["overridden"], override["source"]) == (True, True, "config")
    assert (await client.get(f"{API}/claude")).json() == override
    assert "[profiles.claude]" in (home / "config.toml").read_text()

    assert (await client.delete(f"{API}/claude")).status_code == 204
    assert (await client.get(f"{API}/claude")).json() == original
    assert_error(await client.delete(f"{API}/claude"), 409)  # now a pure built-in again


async def test_delete_builtin_unknown_and_shell(client: httpx.AsyncClient):
    body = assert_error(await client.delete(f"{API}/codex"), 409)
    assert body["detail"] == "built-in profiles cannot be deleted"
    assert_error(await client.delete(f"{API}/shell"), 409)
    assert_error(await client.delete(f"{API}/nope"), 404)
    missing = assert_error(await client.get(f"{API}/nope"), 404)
    assert "claude" in missing["detail"] and missing["extra"]["available"] == BUILTIN_NAMES
    shell = assert_error(await client.put(f"{API}/shell", json={"argv": ["zsh"]}), 400)
    assert "shell" in shell["detail"]
    assert_error(await client.get(f"{API}/.hidden"), 400)  # not a profile name


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"argv": ["x", "{nope}"]}, "{nope}"),
        ({"argv": ["x", "{prompt.upper}"]}, "placeholder"),
        ({"argv": ["x", "{0}"]}, "placeholder"),
        ({"argv": ["x", "{prompt!r}"]}, "placeholder"),
        ({"argv": ["x", "{"]}, "brace"),
        ({"argv": ["x", "}"]}, "brace"),
        ({"argv": ["x"], "env": {"MAESTRO_TOKEN": "stolen"}}, "MAESTRO_TOKEN"),
        ({"argv": ["x"], "env": {"maestro_token": "stolen"}}, "maestro_token"),
        ({"argv": ["x"], "env": {"1BAD": "v"}}, None),
        ({"argv": ["x"], "env": {"A": "v\x00"}}, None),
        ({"argv": []}, None),
        ({"argv": [" "]}, "argv[0]"),
        ({"argv": ["x\x00y"]}, None),
        ({"argv": ["x" * 4097]}, None),
        ({"argv": ["x"] * 65}, None),
        ({"argv": ["x"], "env": {f"K{i}": "v" for i in range(65)}}, None),
        ({"argv": ["x"], "prompt_via": "pipe"}, None),
        ({"argv": ["x"], "extra": 1}, None),
        ({"argv": "x"}, None),
    ],
)
async def test_bad_bodies_are_400(client: httpx.AsyncClient, home: Path, body: dict, needle: str | None):
    error = assert_error(await client.put(f"{API}/bad", json=body), 400)
    if needle is not None:
        assert needle in error["detail"]
    assert not (home / "config.toml").exists()


async def test_unknown_placeholder_is_named_in_extra(client: httpx.AsyncClient):
    error = assert_error(await client.put(f"{API}/bad", json={"argv": ["x", "--{flag}"]}), 400)
    assert error["extra"]["placeholder"] == "{flag}" and "prompt" in error["extra"]["known"]
    literal = await client.put(f"{API}/braces", json={"argv": ["x", "{{literal}}", "--id={session_id}"]})
    assert literal.status_code == 201, literal.text


async def test_malformed_config_is_reported_and_left_alone(client: httpx.AsyncClient, home: Path):
    config = home / "config.toml"
    broken = "# mine\n[profiles.aider\nargv = ['aider']\n"
    config.write_text(broken)

    response = await client.get(API)
    assert response.status_code == 200
    listing = response.json()
    assert [p["name"] for p in listing["items"]] == BUILTIN_NAMES
    assert len(listing["warnings"]) == 1 and "not valid TOML" in listing["warnings"][0]["message"]
    assert listing["warnings"][0]["path"] == str(config)
    assert (await client.get(f"{API}/codex")).status_code == 200

    error = assert_error(await client.put(f"{API}/aider", json=AIDER), 400)
    assert "not valid TOML" in error["detail"] and error["extra"]["path"] == str(config)
    assert_error(await client.delete(f"{API}/aider"), 400)
    assert config.read_text() == broken


async def test_invalid_entries_are_skipped_with_a_warning(client: httpx.AsyncClient, home: Path):
    (home / "config.toml").write_text(
        """
[profiles.good]
argv = ["good"]
[profiles.notlist]
argv = "good"
[profiles.ints]
argv = ["x", 1]
[profiles.unknownkey]
argv = ["x"]
colour = "red"
[profiles.badholder]
argv = ["x", "{what}"]
[profiles.reserved]
argv = ["x"]
env = {MAESTRO_HOME = "/tmp"}
[profiles.shell]
argv = ["zsh"]
[profiles."bad name"]
argv = ["x"]
"""
    )
    listing = (await client.get(API)).json()
    assert [p["name"] for p in listing["items"]] == ["claude", "codex", "gemini", "good", "shell"]
    assert {p["name"]: p["argv"] for p in listing["items"]}["shell"] == ["{shell}"]
    skipped = {w["profile"] for w in listing["warnings"]}
    assert skipped == {"notlist", "ints", "unknownkey", "badholder", "reserved", "shell", "bad name"}
    assert all(w["message"].startswith("skipped: ") for w in listing["warnings"])
    # A skipped entry does not block editing the others, and can be fixed through the API.
    assert (await client.put(f"{API}/notlist", json={"argv": ["fixed"]})).status_code == 201
    assert (await client.get(f"{API}/notlist")).json()["argv"] == ["fixed"]


async def test_a_symlinked_config_stays_a_symlink(client: httpx.AsyncClient, home: Path, tmp_path: Path):
    target = tmp_path / "dotfiles" / "maestro.toml"
    target.parent.mkdir()
    target.write_text("# dotfiles\n")
    (home / "config.toml").symlink_to(target)
    assert (await client.put(f"{API}/aider", json=AIDER)).status_code == 201
    assert (home / "config.toml").is_symlink()
    assert target.read_text().startswith("# dotfiles\n") and "[profiles.aider]" in target.read_text()


def test_inline_tables_are_edited_in_their_own_style(tmp_path: Path):
    config = tmp_path / "config.toml"
    config.write_text('profiles = {a = {argv = ["x"]}}  # all inline\n')
    assert save_profile(tmp_path, "b", ProfileInput(argv=["y"]))[1] is True
    assert save_profile(tmp_path, "a", ProfileInput(argv=["z"], env={"K": "v"}))[1] is False
    assert [p.name for p in list_profiles(tmp_path).items] == ["a", "b", *BUILTIN_NAMES]
    assert get_profile(tmp_path, "a").env == {"K": "v"} and "# all inline" in config.read_text()


# resolve_launch: the service function the session spawn calls.


def make_program(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def profile(argv: list[str], *, prompt_via: str = "argument", env: dict[str, str] | None = None) -> Profile:
    return Profile(
        name="test",
        description="",
        argv=argv,
        env=env or {},
        prompt_via=prompt_via,  # type: ignore[arg-type]
        builtin=False,
        overridden=False,
        source="config",
    )


VALUES = {
    "system_prompt": "You are a worker.",
    "task_prompt": "Fix {the} bug; rm -rf / $(whoami)",
    "session_id": "ses_0jd8n1k2m3p4q5r6s7t8v9w0",
    "manifest": "/tmp/manifest.json",
}


def test_resolve_substitutes_whole_arguments(tmp_path: Path):
    program = make_program(tmp_path / "bin", "agent")
    template = ["agent", "--sys={system_prompt}", "{task_prompt}", "{{literal}}", "--both", "{prompt}", "{manifest}"]
    launch = resolve_launch(profile(template), values=VALUES, env={"PATH": str(tmp_path / "bin")})
    assert launch.program == str(program)
    assert launch.argv == [
        "agent",
        "--sys=You are a worker.",
        "Fix {the} bug; rm -rf / $(whoami)",  # one argument, braces in values not re-expanded
        "{literal}",
        "--both",
        "You are a worker.\n\nFix {the} bug; rm -rf / $(whoami)",
        "/tmp/manifest.json",
    ]
    assert launch.template == template and launch.stdin is None
    assert placeholders(template) == {"system_prompt", "task_prompt", "prompt", "manifest"}


def test_resolve_builtins(tmp_path: Path):
    bindir = tmp_path / "bin"
    for name in ("claude", "codex", "gemini", "zsh"):
        make_program(bindir, name)
    env = {"PATH": str(bindir)}
    values = {**VALUES, "shell": str(bindir / "zsh")}
    listing = list_profiles(tmp_path / "home")
    assert [p.name for p in listing.items] == sorted(BUILTINS)
    claude = resolve_launch(get_profile(tmp_path / "home", "claude"), values=values, env=env)
    assert claude.argv == ["claude", "--append-system-prompt", VALUES["system_prompt"], VALUES["task_prompt"]]
    shell = resolve_launch(get_profile(tmp_path / "home", "shell"), values=values, env=env)
    assert shell.argv == [str(bindir / "zsh")] and shell.program == str(bindir / "zsh") and shell.stdin is None
    gemini = resolve_launch(get_profile(tmp_path / "home", "gemini"), values=values, env=env)
    assert gemini.argv[-1] == f"{VALUES['system_prompt']}\n\n{VALUES['task_prompt']}"


def test_resolve_missing_program_names_it(tmp_path: Path):
    with pytest.raises(InvalidInput) as caught:
        resolve_launch(profile(["no-such-agent-xyz", "{prompt}"]), values=VALUES, env={"PATH": str(tmp_path)})
    assert "no-such-agent-xyz" in caught.value.detail and "not found on PATH" in caught.value.detail
    assert caught.value.extra == {"profile": "test", "program": "no-such-agent-xyz"}
    # Present but not executable is the same as missing.
    (tmp_path / "plain").write_text("data")
    with pytest.raises(InvalidInput, match="'plain'"):
        resolve_launch(profile(["plain"]), values={}, env={"PATH": str(tmp_path)})


def test_resolve_missing_value_is_refused(tmp_path: Path):
    make_program(tmp_path, "agent")
    with pytest.raises(InvalidInput) as caught:
        resolve_launch(profile(["agent", "{working_dir}"]), values={}, env={"PATH": str(tmp_path)})
    assert caught.value.extra == {"profile": "test", "placeholder": "working_dir"}


def test_resolve_relative_program_is_found_in_the_working_dir(tmp_path: Path):
    program = make_program(tmp_path / "project" / "bin", "agent")
    launch = resolve_launch(
        profile(["./bin/agent"]), values={"working_dir": str(tmp_path / "project")}, env={"PATH": os.defpath}
    )
    assert launch.program == str(program) and launch.argv == ["./bin/agent"]


def test_resolve_stdin_mode(tmp_path: Path):
    make_program(tmp_path, "agent")
    launch = resolve_launch(profile(["agent"], prompt_via="stdin"), values=VALUES, env={"PATH": str(tmp_path)})
    assert launch.argv == ["agent"]
    assert launch.stdin == f"{VALUES['system_prompt']}\n\n{VALUES['task_prompt']}"
    explicit = resolve_launch(
        profile(["agent"], prompt_via="stdin"), values={"prompt": "just this"}, env={"PATH": str(tmp_path)}
    )
    assert explicit.stdin == "just this"


def test_resolve_merges_env_but_never_maestro_keys(tmp_path: Path):
    other = tmp_path / "other"
    program = make_program(other, "agent")
    env = {"PATH": str(tmp_path / "empty"), "MAESTRO_TOKEN": "real", "HOME": "/home/me", "KEEP": "1"}
    # config.toml may have been edited by hand: MAESTRO_* entries there are ignored even if they got this far.
    extra = {"PATH": str(other), "HOME": "/elsewhere", "MAESTRO_TOKEN": "fake", "maestro_session_id": "x", "NEW": "v"}
    launch = resolve_launch(profile(["agent"], env=extra), values={}, env=env)
    assert launch.program == str(program)  # looked up on the merged PATH
    assert launch.env == {"PATH": str(other), "MAESTRO_TOKEN": "real", "HOME": "/elsewhere", "KEEP": "1", "NEW": "v"}
    assert env["PATH"] == str(tmp_path / "empty")  # the caller's dict is not changed


def test_an_argument_that_is_only_an_empty_placeholder_is_left_out(home: Path):
    # Like the claude built-in, but with a program every machine has.
    profile = Profile(
        name="p",
        description="",
        argv=["sh", "-c", "echo [{task_prompt}]", "{system_prompt}", "{task_prompt}"],
        env={},
        prompt_via="argument",
        builtin=False,
        overridden=False,
        source="config",
    )
    launch = resolve_launch(
        profile, values={"system_prompt": "be good", "task_prompt": ""}, env={"PATH": "/bin:/usr/bin"}
    )
    assert launch.argv == ["sh", "-c", "echo []", "be good"]  # an empty value inside a larger argument stays
