"""The browser app, measured in a real browser (Debian chromium) against a real `maestro serve`.

1. Live latency: a task created through the REST API, until its card is visible on an open board (target: within
   300 ms). 2. A board of 1,000 tasks: navigation until every column is drawn and the page answers a click.
Run: .venv/bin/python bench/ui_live.py [--rounds 100] [--tasks 1000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import live_server, percentiles, scratch_home, seed_tasks
from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]


# A MutationObserver stamps the moment the text is in the DOM, so the figure excludes the test driver's polling.
WATCH = """title => {
  window.__seenAt = null;
  const observer = new MutationObserver(() => {
    if (document.body.innerText.includes(title)) { window.__seenAt = Date.now(); observer.disconnect(); }
  });
  observer.observe(document.body, {childList: true, subtree: true, characterData: true});
}"""
STATUSES = ("todo", "in_progress", "in_review", "blocked", "completed", "cancelled")


def live_latency(page, server, project_id: str, rounds: int, offset: int = 0) -> list[float]:
    """API write → card visible, `rounds` times, one at a time (spread over the columns so each card is drawn)."""
    samples = []
    with server.client() as api:
        for i in range(rounds):
            title = f"live-{i}-{time.monotonic_ns()}"
            status = STATUSES[(i + offset) % len(STATUSES)]
            page.evaluate(WATCH, title)  # the page notes (its clock = ours) when the card's text appears
            started = time.time() * 1000
            body = {"project_id": project_id, "title": title, "status": status}
            response = api.post("/api/v1/tasks", json=body)
            assert response.status_code == 201, response.text
            page.get_by_text(title, exact=True).wait_for(state="visible", timeout=10_000)
            samples.append(page.evaluate("window.__seenAt") - started)
    return samples


def main() -> None:
    """Run both measurements and print them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=100, help="at most 200: each column draws 40 cards")
    parser.add_argument("--tasks", type=int, default=1000)
    args = parser.parse_args()
    home = scratch_home()
    work = home.parent / "work"
    work.mkdir(parents=True)
    big_project, _ = seed_tasks(home, str(work), args.tasks)
    result: dict = {}
    with live_server(home) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{server.url}?token={server.token}")
        with server.client() as api:
            small = api.post("/api/v1/projects", json={"name": "live", "working_dir": str(work)}).json()["id"]
        board_ms = []
        for _ in range(5):
            started = time.perf_counter()
            page.goto(f"{server.url}projects/{big_project}/board")
            page.get_by_test_id("board-column-cancelled").wait_for(state="visible")
            page.wait_for_function("document.querySelectorAll('[data-testid=task-card]').length > 0")
            page.evaluate("new Promise(r => requestAnimationFrame(() => r()))")  # painted and answering
            board_ms.append((time.perf_counter() - started) * 1000)
        cards = page.evaluate("document.querySelectorAll('[data-testid=task-card]').length")
        result["board_1000_tasks_open_ms"] = percentiles(board_ms)
        result["board_cards_drawn"] = cards
        page.goto(f"{server.url}projects/{small}/board")
        page.get_by_test_id("connection-status").and_(page.locator("[data-state=live]")).wait_for()
        live_latency(page, server, small, 5)  # warm-up
        result["api_write_to_visible_ms"] = percentiles(live_latency(page, server, small, args.rounds, offset=5))
        browser.close()
    result["tasks"] = args.tasks
    print(json.dumps(result, indent=2))
    Path(home.parent / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
