"""The review screen in a real browser (Debian chromium) against a real `maestro serve`: how long until it is usable.

A repository of 10,000 files, an agent's worktree with 500 changed files (the same changes as
bench/worktree_review.py: five diffs of ~5,000 lines on the first page), then `/worktrees/{id}` opened N times:
from navigation until the file list shows its 500 files and the first diff is drawn by diff2html (target: 1 s).
Also reported: when the file list was there, the page's element count by then, and how long "Show diff" takes to
draw one of the large (collapsed) diffs.
Run: .venv/bin/python bench/ui_review.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import live_server, percentiles, scratch_home
from playwright.sync_api import Page, sync_playwright
from worktree_review import change_files, make_repo

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]


def agent_worktree(server, repo: Path) -> str:
    """A worktree made the way an agent gets one: a session spawned with isolation worktree (a program that exits)."""
    with server.client() as api:
        project = api.post("/api/v1/projects", json={"name": "big", "working_dir": str(repo)}).json()
        profile = {"argv": [sys.executable, "-c", "pass"], "description": "exits at once"}
        assert api.put("/api/v1/profiles/noop", json=profile).status_code in (200, 201)
        task = api.post("/api/v1/tasks", json={"project_id": project["id"], "title": "Big change"}).json()
        body = {"project_id": project["id"], "task_ids": [task["id"]], "profile": "noop", "isolation": "worktree"}
        session = api.post("/api/v1/sessions", json=body).json()
        return session["worktree_id"]


def show_large_diff(page: Page) -> float:
    """Press "Show diff" on the first collapsed large diff: ms until diff2html has drawn it (0: none collapsed)."""
    collapsed = page.locator("[data-testid=review-diff]:has([data-testid=review-show-diff])")
    if not collapsed.count():
        return 0.0
    path = collapsed.first.get_attribute("data-path")
    block = page.locator("[data-testid=review-diff]").filter(has=page.get_by_text(path, exact=True)).first
    started = time.perf_counter()
    block.get_by_test_id("review-show-diff").click()
    block.locator("table.d2h-diff-table").first.wait_for(timeout=30_000)
    page.evaluate("new Promise(r => requestAnimationFrame(() => r()))")
    return (time.perf_counter() - started) * 1000


def main() -> None:
    """Measure and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--changed", type=int, default=500)
    args = parser.parse_args()
    home = scratch_home()
    repo = home.parent / "repo"
    names = make_repo(repo, args.files)
    with live_server(home) as server, sync_playwright() as p:
        worktree_id = agent_worktree(server, repo)
        with server.client() as api:
            path = Path(api.get(f"/api/v1/worktrees/{worktree_id}").json()["path"])
        kinds = change_files(path, names, args.changed)
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{server.url}?token={server.token}")
        usable, listed, large = [], [], []
        elements = 0
        for i in range(args.rounds + 1):  # the first round warms git's and the browser's caches
            started = time.perf_counter()
            page.goto(f"{server.url}worktrees/{worktree_id}")
            page.locator("[data-testid=review-file]").nth(args.changed - 1).wait_for(state="attached", timeout=30_000)
            rows = time.perf_counter()
            page.locator(".d2h-file-wrapper, .d2h-files-diff, table.d2h-diff-table").first.wait_for(timeout=30_000)
            page.evaluate("new Promise(r => requestAnimationFrame(() => r()))")  # painted and answering
            done = time.perf_counter()
            elements = page.evaluate("document.getElementsByTagName('*').length")
            took = show_large_diff(page)
            if i:
                usable.append((done - started) * 1000)
                listed.append((rows - started) * 1000)
                large.append(took)
        browser.close()
    result = {
        "files": args.files,
        "changed": kinds,
        "open_until_usable_ms": percentiles(usable),
        "samples_ms": [round(v) for v in usable],
        "file_list_shown_ms": percentiles(listed),
        "dom_elements_when_usable": elements,
        "show_large_diff_ms": percentiles(large) if all(large) else None,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
