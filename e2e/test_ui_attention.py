"""Who needs you, in a real browser against a real `maestro serve`: a fake agent started from the Run agent dialog
asks a question with `maestro report needs-input`, shows under Needs input with the count in the frame and the tab's
title, and gets its answer through the reply box."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from playwright.sync_api import Browser, expect

from e2e.test_ui_shell import signed_in
from tests.helpers import LiveServer

# The fake agent: it reads its manifest as any agent would, asks through the CLI Maestro puts on its PATH, waits for
# the answer typed into its terminal, and reports what it will do with it.
FAKE_AGENT = """\
import json, os, subprocess, sys, time
manifest = json.load(open(os.environ["MAESTRO_MANIFEST"], encoding="utf-8"))
task = manifest["tasks"][0]
subprocess.run(["maestro", "report", "needs-input", "Which DB?", "--task", task["id"]], check=True)
answer = sys.stdin.readline().strip()
said = f"Using {answer} for {task['title']}"
subprocess.run(["maestro", "report", "progress", said, "--task", task["id"]], check=True)
time.sleep(600)
"""


def test_a_fake_agent_asks_shows_under_needs_input_and_gets_its_answer(
    browser: Browser, server: LiveServer, tmp_path: Path
):
    script = tmp_path / "fake_agent.py"
    script.write_text(FAKE_AGENT)
    with server.client() as api:
        saved = api.put("/api/v1/profiles/fake", json={"argv": [sys.executable, str(script)], "prompt_via": "none"})
        assert saved.status_code == 201, saved.text
        project = api.post("/api/v1/projects", json={"name": "Shop", "working_dir": str(tmp_path)}).json()
        task = api.post("/api/v1/tasks", json={"project_id": project["id"], "title": "Store orders"}).json()

    page = signed_in(browser, server, f"/tasks/{task['id']}")
    page.get_by_test_id("run-agent").click()
    dialog = page.get_by_test_id("run-agent-dialog")
    expect(dialog.get_by_text("Store orders")).to_be_visible()  # the task it was opened from, chosen
    page.get_by_test_id("run-agent-profile").click()
    page.get_by_role("option", name="fake", exact=True).click()
    page.get_by_test_id("run-agent-start").click()
    expect(page).to_have_url(re.compile(r"/sessions/ses_"))

    page.goto(f"{server.url}sessions")
    row = page.get_by_test_id("sessions-needs-input").get_by_test_id("session-row")
    expect(row).to_have_count(1, timeout=20_000)  # the agent's own `maestro report` starts a Python process
    expect(row.get_by_test_id("session-question")).to_have_text("Which DB?")
    expect(row.get_by_test_id("session-status")).to_have_text("needs input")
    expect(row.get_by_test_id("session-why")).to_have_text(re.compile(r"reported needs input at \d\d:\d\d"))
    expect(page.get_by_test_id("attention-count")).to_have_text("1")
    expect(page).to_have_title(re.compile(r"^\(1\) Sessions"))

    row.get_by_test_id("reply-box").fill("Postgres")
    row.get_by_test_id("reply-box").press("Enter")
    working = page.get_by_test_id("sessions-working").get_by_test_id("session-row")
    report = working.get_by_test_id("session-last-report")
    expect(report).to_have_text("progress: Using Postgres for Store orders", timeout=20_000)
    expect(page.get_by_test_id("sessions-needs-input").get_by_test_id("session-row")).to_have_count(0)
    expect(page.get_by_test_id("attention-count")).to_be_hidden()
    expect(page).to_have_title(re.compile(r"^Sessions"))
