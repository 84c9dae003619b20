"""The browser app in a real browser: first run, palette and shortcuts, theme, drag and drop, inert HTML, live tabs."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.helpers import LiveServer

XSS_TITLE = "<img src=x onerror=\"document.title='pwned'\">"


def signed_in(browser: Browser, server: LiveServer, path: str = "") -> Page:
    page = browser.new_context().new_page()
    page.goto(f"{server.url}{path.lstrip('/')}?token={server.token}")
    return live(page)


def live(page: Page) -> Page:
    """Wait until the page's connection is up: clicks before that would not reach the server."""
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "live")
    return page


def seed(server: LiveServer, tmp_path: Path, titles: list[str]) -> tuple[dict, list[dict]]:
    with server.client() as api:
        project = api.post("/api/v1/projects", json={"name": "Demo", "working_dir": str(tmp_path)}).json()
        made = [api.post("/api/v1/tasks", json={"project_id": project["id"], "title": t}).json() for t in titles]
    return project, made


def test_first_run_leads_from_an_empty_install_to_a_first_task(browser: Browser, server: LiveServer, tmp_path: Path):
    page = signed_in(browser, server)
    expect(page.get_by_test_id("first-run")).to_be_visible()
    page.get_by_test_id("new-project").click()
    page.get_by_test_id("project-name").fill("My app")
    page.get_by_test_id("project-working-dir").fill(str(tmp_path / "missing"))
    page.get_by_test_id("project-save").click()
    expect(page.get_by_text("working_dir must be an existing directory")).to_be_visible()  # in place, nothing lost
    page.get_by_test_id("project-working-dir").fill(str(tmp_path))
    page.get_by_test_id("project-save").click()
    expect(page.get_by_test_id("project-title")).to_have_text("My app")
    live(page)
    page.get_by_test_id("new-task").click()
    page.get_by_test_id("task-form-title").fill("Parse the logs")
    page.get_by_test_id("task-form-save").click()
    expect(page).to_have_url(re.compile(r"/tasks/tsk_"))
    with server.client() as api:
        tasks = api.get("/api/v1/tasks").json()["items"]
        assert [t["title"] for t in tasks] == ["Parse the logs"]
        events = api.get("/api/v1/events").json()["items"]
        assert {e["actor"] for e in events if e["type"] in ("project.created", "task.created")} == {"ui"}


def test_palette_jumps_to_a_task_and_shortcuts_work(browser: Browser, server: LiveServer, tmp_path: Path):
    project, made = seed(server, tmp_path, ["Parse logs", "Write report"])
    page = signed_in(browser, server, f"/projects/{project['id']}/board")
    expect(page.get_by_test_id("board")).to_be_visible()
    page.keyboard.press("Control+k")
    expect(page.get_by_test_id("palette-input")).to_be_visible()
    page.get_by_test_id("palette-input").fill("wrrep")  # fuzzy: letters in order
    expect(page.get_by_test_id("palette-result").first).to_contain_text("Write report")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{server.url}tasks/{made[1]['id']}")
    page.goto(f"{server.url}projects/{project['id']}/board")
    live(page)
    page.keyboard.press("?")
    expect(page.get_by_test_id("shortcut-sheet")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("shortcut-sheet")).to_be_hidden()
    page.keyboard.press("c")
    expect(page.get_by_test_id("task-form")).to_be_visible()


def test_theme_choice_survives_a_reload(browser: Browser, server: LiveServer):
    page = signed_in(browser, server)
    expect(page.locator("body.body--dark")).to_have_count(0)
    page.get_by_test_id("theme-toggle").click()
    expect(page.locator("body.body--dark")).to_have_count(1)
    page.reload()
    live(page)
    expect(page.locator("body.body--dark")).to_have_count(1)
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "live")


def test_dark_text_is_light(browser: Browser, server: LiveServer, tmp_path: Path):
    # Quasar's darkest greys are text colours for a light page: the task page's breadcrumb and a run's reason use
    # them, and in the dark theme they must read as light, not as dark grey on dark grey.
    _, (task,) = seed(server, tmp_path, ["Read me in the dark"])
    page = signed_in(browser, server, f"/tasks/{task['id']}")
    crumbs = page.get_by_test_id("task-breadcrumb")
    brightness = "el => getComputedStyle(el).color.match(/\\d+/g).slice(0, 3).reduce((a, b) => a + Number(b), 0) / 3"
    assert crumbs.evaluate(brightness) < 128
    page.get_by_test_id("theme-toggle").click()
    expect(page.locator("body.body--dark")).to_have_count(1)
    assert crumbs.evaluate(brightness) > 160


def test_drag_a_card_to_change_its_status_and_html_stays_text(browser: Browser, server: LiveServer, tmp_path: Path):
    project, made = seed(server, tmp_path, [XSS_TITLE])
    page = signed_in(browser, server, f"/projects/{project['id']}/board")
    card = page.get_by_test_id("task-card")
    expect(card).to_contain_text(XSS_TITLE)  # the characters, not an image
    assert page.title() != "pwned"
    card.drag_to(page.get_by_test_id("board-column-in_progress"))
    expect(page.get_by_test_id("board-column-in_progress").get_by_test_id("task-card")).to_have_count(1)
    with server.client() as api:
        assert api.get(f"/api/v1/tasks/{made[0]['id']}").json()["status"] == "in_progress"


def test_two_tabs_see_each_others_changes_live(browser: Browser, server: LiveServer, tmp_path: Path):
    project, _ = seed(server, tmp_path, ["First"])
    first = signed_in(browser, server, f"/projects/{project['id']}/board")
    second = signed_in(browser, server, f"/projects/{project['id']}/board")
    expect(second.get_by_test_id("task-card")).to_have_count(1)
    first.keyboard.press("c")
    first.get_by_test_id("task-form-title").fill("Made in the first tab")
    first.get_by_test_id("task-form-save").click()
    expect(second.get_by_text("Made in the first tab")).to_be_visible()
    with server.client() as api:  # and a change through the API shows up in both
        api.post("/api/v1/tasks", json={"project_id": project["id"], "title": "From the API"})
    expect(first.get_by_text("From the API")).to_be_visible()
    expect(second.get_by_text("From the API")).to_be_visible()


def test_on_a_phone_no_page_is_wider_than_the_screen(browser: Browser, server: LiveServer, tmp_path: Path):
    long_title = "Payment provider integration with retries, idempotency keys and a title that wraps over lines"
    project, (task, _) = seed(server, tmp_path, [long_title, XSS_TITLE])
    with server.client() as api:
        api.post("/api/v1/tasks", json={"project_id": project["id"], "title": "A subtask", "parent_id": task["id"]})
        body = {"kind": "progress", "message": "Read the schema; three tables"}
        session = api.post("/api/v1/sessions", json={"project_id": project["id"], "task_ids": [task["id"]]}).json()
        assert api.post(f"/api/v1/sessions/{session['id']}/reports", json=body).status_code == 201
    page = signed_in(browser, server)
    page.set_viewport_size({"width": 400, "height": 860})
    pid = project["id"]
    for path in (
        "",
        f"projects/{pid}/board",
        f"projects/{pid}/tasks",
        f"projects/{pid}/graph",
        f"projects/{pid}/worktrees",
        f"tasks/{task['id']}",
        "sessions",
        f"sessions/{session['id']}",
        "settings",
    ):
        page.goto(f"{server.url}{path}")
        live(page)
        page.wait_for_timeout(300)  # late layout (the graph fits itself, the terminal sizes itself)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, f"/{path} is {width} px wide on a 400 px screen"
    with server.client() as api:
        api.post(f"/api/v1/sessions/{session['id']}/stop")
