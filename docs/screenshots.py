"""Draw the main screens of the browser app for docs/ and the README: a seeded demo in a real `maestro serve`,
photographed by headless Debian chromium. Run: `make screenshots` (or .venv/bin/python docs/screenshots.py)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers import live_server, maestro_env  # noqa: E402

OUT = REPO / "docs" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]


def seed(api, work: Path) -> dict[str, str]:
    """A small, realistic project: a task tree with progress, a blocker, a running agent and its report."""
    project = api.post(
        "/api/v1/projects",
        json={"name": "Log analyzer", "working_dir": str(work), "description": "Parse and summarise **service logs**."},
    ).json()

    def task(title: str, **fields) -> dict:
        return api.post("/api/v1/tasks", json={"project_id": project["id"], "title": title, **fields}).json()

    parse = task(
        "Parse the nginx access logs",
        priority="high",
        status="in_progress",
        description="Split each line, extract the **status code** and the latency.",
    )
    task("Handle gzip-rotated files", parent_id=parse["id"], status="completed")
    task("Skip malformed lines", parent_id=parse["id"])
    task("Benchmark on 1 GB of logs", parent_id=parse["id"], priority="low")
    report = task("Write the summary report")
    deploy = task("Deploy the dashboard", priority="critical", status="blocked")
    api.post(f"/api/v1/tasks/{deploy['id']}/dependencies", json={"depends_on": report["id"]})
    task("Review the alert thresholds", status="in_review")
    task("Set up CI", status="completed")
    session = api.post(
        "/api/v1/sessions", json={"project_id": project["id"], "task_ids": [parse["id"]], "name": "parser-agent"}
    ).json()
    api.post(
        f"/api/v1/sessions/{session['id']}/reports",
        json={"kind": "progress", "message": "Parsed 12,000 lines; 3 malformed skipped", "task_id": parse["id"]},
    )
    return {"project": project["id"], "task": parse["id"], "session": session["id"]}


def seed_sessions(api, project_id: str) -> None:
    """Sessions in several groups of the sessions page: one asking a question, one done, one failed (the seed's
    parser-agent is working)."""
    tasks = {t["title"]: t["id"] for t in api.get("/api/v1/tasks", params={"project_id": project_id}).json()["items"]}

    def spawn(name: str, title: str, **body) -> str:
        json_body = {"project_id": project_id, "task_ids": [tasks[title]], "name": name, **body}
        return api.post("/api/v1/sessions", json=json_body).json()["id"]

    def report(session_id: str, kind: str, message: str) -> None:
        api.post(f"/api/v1/sessions/{session_id}/reports", json={"kind": kind, "message": message})

    report(spawn("ci-agent", "Set up CI"), "complete", "CI runs lint and the tests on every push")
    api.put("/api/v1/profiles/flaky", json={"argv": ["/bin/sh", "-c", "echo 'tests failed'; exit 3"]})
    spawn("threshold-check", "Review the alert thresholds", profile="flaky")
    asker = spawn("report-writer", "Write the summary report")
    report(asker, "progress", "Drafted the outline: traffic, errors, latency")
    report(asker, "needs_input", "Which time range should the report cover: the last 7 days or the whole month?")


def shoot(page: Page, path: str, name: str, *, ready: str) -> None:
    page.goto(path)
    expect(page.get_by_test_id(ready).first).to_be_visible()
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "live")
    page.wait_for_timeout(300)  # let fonts and transitions settle
    page.screenshot(path=str(OUT / f"{name}.png"))
    print(f"wrote docs/screenshots/{name}.png")


# True once the shell's prompt is the last line again (the command before it finished).
PROMPT_BACK = """el => {
  const buffer = getElement(el).terminal.buffer.active;
  const lines = [];
  for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i).translateToString(true).trim());
  const filled = lines.filter(Boolean);
  return filled.length > 1 && ['#', '$'].includes(filled[filled.length - 1]);
}"""


def shoot_session(page: Page, base: str, session_id: str, work: Path) -> None:
    """The session page with its terminal showing a little work (typed into the real shell)."""
    (work / "access.log").write_text(
        "".join(f"10.0.0.{i % 250} GET /api/items/{i} 200 {i % 90} ms\n" for i in range(12000))
    )
    (work / "parse_logs.py").write_text("# parses nginx access logs\n")
    page.goto(f"{base}/sessions/{session_id}")
    expect(page.get_by_test_id("terminal-state")).to_have_attribute("data-state", "connected")
    terminal = page.get_by_test_id("terminal")
    terminal.click()
    for command in ("ls -l", "head -n 12 access.log", "wc -l access.log", "echo 'Parsed 12,000 lines, 3 skipped'"):
        page.keyboard.type(command + "\n")
        page.wait_for_function(PROMPT_BACK, arg=terminal.element_handle())  # one at a time: no typed-ahead echo
    page.wait_for_timeout(300)  # let it render
    page.mouse.click(5, 300)  # unfocus the terminal: no blinking cursor box in the picture
    page.screenshot(path=str(OUT / "session-page.png"))
    print("wrote docs/screenshots/session-page.png")


def seed_worktree(api, project_id: str, work: Path) -> str:
    """Make the demo folder a git repository and let an agent change it in a worktree of its own; its id."""
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=Ada", "-c", "user.email=ada@example.com", *args], cwd=work, check=True)

    (work / "parse_logs.py").write_text(
        "def parse(line):\n    parts = line.split()\n    return parts[0], int(parts[3])\n\n\n"
        "def summary(lines):\n    return len(lines)\n"
    )
    (work / "README.md").write_text("# Log analyzer\n\nParses nginx logs.\n")
    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "Parser skeleton")
    tasks = {t["title"]: t["id"] for t in api.get("/api/v1/tasks", params={"project_id": project_id}).json()["items"]}
    api.put("/api/v1/profiles/quiet", json={"argv": ["/bin/sh", "-c", "sleep 600"], "description": "demo agent"})
    body = {"project_id": project_id, "task_ids": [tasks["Skip malformed lines"]], "name": "malformed-agent"}
    session = api.post("/api/v1/sessions", json={**body, "profile": "quiet", "isolation": "worktree"}).json()
    tree = Path(session["cwd"])
    (tree / "parse_logs.py").write_text(
        "def parse(line):\n    parts = line.split()\n    if len(parts) < 4 or not parts[3].isdigit():\n"
        "        return None  # malformed: skipped, counted by summary()\n    return parts[0], int(parts[3])\n\n\n"
        "def summary(lines):\n    parsed = [parse(line) for line in lines]\n"
        "    return {'lines': len(parsed), 'skipped': parsed.count(None)}\n"
    )
    (tree / "test_parse_logs.py").write_text(
        "from parse_logs import parse\n\n\ndef test_malformed_lines_are_skipped():\n"
        "    assert parse('10.0.0.1 GET /') is None\n"
    )
    api.post(
        f"/api/v1/sessions/{session['id']}/reports",
        json={"kind": "progress", "message": "Malformed lines are skipped and counted; added a test"},
    )
    return session["worktree_id"]


def seed_runs(api, work: Path) -> dict[str, str]:
    """A project whose task tree runs itself: two agents at once (the limit), two ready tasks queued behind them, a
    run that could not start and asks the person, one that ended without report and the task it blocks."""
    project = api.post(
        "/api/v1/projects", json={"name": "Nightly report", "working_dir": str(work), "max_agents": 2}
    ).json()
    api.put("/api/v1/profiles/coder", json={"argv": ["/bin/sh", "-c", "sleep 600"], "description": "demo agent"})
    api.put("/api/v1/profiles/broken", json={"argv": ["/nonexistent/agent"]})
    api.put("/api/v1/profiles/hasty", json={"argv": ["/bin/sh", "-c", "sleep 1"], "description": "quits early"})

    def task(title: str, after: tuple[str, ...] = (), **fields) -> str:
        body = {"project_id": project["id"], "title": title, **fields}
        task_id = api.post("/api/v1/tasks", json=body).json()["id"]
        for dependency in after:
            api.post(f"/api/v1/tasks/{task_id}/dependencies", json={"depends_on": dependency})
        return task_id

    def plan(task_id: str, profile: str, until: tuple[str, ...], **fields) -> None:
        api.put(f"/api/v1/tasks/{task_id}/plan", json={"profile": profile, **fields})
        deadline = time.monotonic() + 30
        while (api.get(f"/api/v1/tasks/{task_id}").json().get("run") or {}).get("state") not in until:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the run of {task_id} did not reach {until}")
            time.sleep(0.2)

    spec = task("Write the log format spec", status="completed")
    gzip = task("Handle gzip-rotated files", (spec,))
    ingest = task("Ingest into SQLite", (spec,), description="One table per day; keep the raw line.")
    parse = task("Parse the nginx access logs", (spec,), priority="high")
    bench = task("Benchmark on 1 GB of logs", (spec,))
    tune = task("Tune the alert thresholds", (ingest,), priority="critical")
    summary = task("Write the summary report", (parse, bench))
    deploy = task("Deploy the dashboard", (summary, tune))
    ci, docs = task("Set up CI for the parser"), task("Document the CLI", priority="low")
    plan(gzip, "broken", ("needs_person",), on_failure="ask")
    plan(ingest, "hasty", ("ended_without_report",), on_failure="stop")
    plan(parse, "coder", ("running",))
    plan(bench, "coder", ("running",))
    for task_id in (ci, docs):
        plan(task_id, "coder", ("queued",))
    plan(tune, "coder", ("waiting",))
    for task_id in (summary, deploy):
        plan(task_id, "coder", ("waiting",), check={"command": "pytest -q", "timeout_s": 600})
    return {"project": project["id"], "ingest": ingest}


def main() -> None:
    """Seed a demo and write the screenshots."""
    OUT.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="maestro-shots-"))
    (scratch / "work").mkdir()
    env = maestro_env(scratch / "home", SHELL="/bin/sh")
    with live_server(scratch / "home", env=env) as server, sync_playwright() as p:
        with server.client() as api:
            ids = seed(api, scratch / "work")
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 860})
        page.goto(f"{server.url}?token={server.token}")
        base = server.url.rstrip("/")
        shoot(page, f"{base}/projects/{ids['project']}/board", "board", ready="board")
        shoot(page, f"{base}/projects/{ids['project']}/tasks", "task-tree", ready="task-tree")
        shoot(page, f"{base}/tasks/{ids['task']}", "task-page", ready="task-title")
        shoot(page, f"{base}/projects/{ids['project']}", "project-overview", ready="recent-activity")
        page.keyboard.press("Control+k")
        page.get_by_test_id("palette-input").fill("dash")
        expect(page.get_by_test_id("palette-result").first).to_be_visible()
        page.screenshot(path=str(OUT / "command-palette.png"))
        print("wrote docs/screenshots/command-palette.png")
        page.keyboard.press("Escape")
        with server.client() as api:
            seed_sessions(api, ids["project"])
        shoot(page, f"{base}/sessions", "sessions", ready="session-question")
        shoot_session(page, base, ids["session"], scratch / "work")
        with server.client() as api:
            worktree_id = seed_worktree(api, ids["project"], scratch / "work")
        shoot(page, f"{base}/worktrees/{worktree_id}", "review", ready="review-diff")
        shoot(page, f"{base}/projects/{ids['project']}/worktrees", "worktrees", ready="worktree-row")
        runs_work = scratch / "runs"
        runs_work.mkdir()
        with server.client() as api:
            runs = seed_runs(api, runs_work)
        shoot(page, f"{base}/projects/{runs['project']}/graph", "graph", ready="graph-node")
        shoot(page, f"{base}/projects/{runs['project']}/board", "board-runs", ready="run-badge")
        shoot(page, f"{base}/tasks/{runs['ingest']}", "task-run", ready="run-decide")
        browser.close()


if __name__ == "__main__":
    main()
