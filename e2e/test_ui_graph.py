"""The run graph in a real browser against a real `maestro serve`: dagre lays out a small diamond of dependencies,
the boxes and arrows are drawn (an HTML title as inert text), a live change of state keeps every box in place, a
click opens the task, and j / Enter do the same from the keyboard."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, expect

from e2e.test_ui_shell import XSS_TITLE, signed_in
from tests.helpers import LiveServer


def diamond(server: LiveServer, tmp_path: Path) -> tuple[dict, dict[str, dict]]:
    """Design -> (API, UI) -> Ship, plus an HTML title hanging off Ship."""
    with server.client() as api:
        project = api.post("/api/v1/projects", json={"name": "Diamond", "working_dir": str(tmp_path)}).json()

        def task(title: str, **fields) -> dict:
            return api.post("/api/v1/tasks", json={"project_id": project["id"], "title": title, **fields}).json()

        made = {
            "design": task("Design", status="completed"),
            "api": task("Build the API"),
            "web": task("Build the UI"),
            "ship": task("Ship it"),
            "html": task(XSS_TITLE),
        }
        for task_key, on in (("api", "design"), ("web", "design"), ("ship", "api"), ("ship", "web"), ("html", "ship")):
            body = {"depends_on": made[on]["id"]}
            response = api.post(f"/api/v1/tasks/{made[task_key]['id']}/dependencies", json=body)
            assert response.status_code == 201, response.text
    return project, made


def test_the_graph_draws_a_diamond_and_a_click_opens_the_task(browser: Browser, server: LiveServer, tmp_path: Path):
    project, made = diamond(server, tmp_path)
    page = signed_in(browser, server, f"/projects/{project['id']}/graph")
    nodes = page.get_by_test_id("graph-node")
    expect(nodes).to_have_count(5)
    expect(page.get_by_test_id("graph-edge")).to_have_count(5)
    design = page.locator(f'[data-task-id="{made["design"]["id"]}"]')
    ship = page.locator(f'[data-task-id="{made["ship"]["id"]}"]')
    expect(design.get_by_test_id("graph-node-state")).to_have_text("done")
    expect(ship.get_by_test_id("graph-node-state")).to_have_text("to do")
    # Laid out left to right: the dependency before the tasks that wait for it.
    assert design.bounding_box()["x"] < ship.bounding_box()["x"]
    html = page.locator(f'[data-task-id="{made["html"]["id"]}"]')
    expect(html).to_have_attribute("aria-label", re.compile(re.escape(XSS_TITLE)))  # drawn as text
    assert page.locator("svg img").count() == 0 and page.title() != "pwned"

    # A live change of state redraws the box where it was: no new layout, no jitter.
    build = page.locator(f'[data-task-id="{made["api"]["id"]}"]')
    where = build.get_attribute("transform")
    with server.client() as api:
        assert api.patch(f"/api/v1/tasks/{made['api']['id']}", json={"status": "in_progress"}).status_code == 200
    expect(build.get_by_test_id("graph-node-state")).to_have_text("in progress")
    assert build.get_attribute("transform") == where

    ship.click()
    expect(page).to_have_url(re.compile(rf"/tasks/{made['ship']['id']}$"))
    expect(page.get_by_text("Ship it").first).to_be_visible()

    # From the keyboard: j focuses the first box (the diamond's top), Enter opens it.
    page.go_back()
    expect(page.get_by_test_id("graph-node")).to_have_count(5)
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "live")
    page.keyboard.press("j")
    expect(design).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/tasks/{made['design']['id']}$"))


def test_on_a_narrow_window_the_panel_goes_under_the_drawing(browser: Browser, server: LiveServer, tmp_path: Path):
    project, _ = diamond(server, tmp_path)
    page = signed_in(browser, server, f"/projects/{project['id']}/graph")
    page.set_viewport_size({"width": 420, "height": 900})
    expect(page.get_by_test_id("graph-node")).to_have_count(5)
    drawing = page.get_by_test_id("graph").bounding_box()
    panel = page.get_by_test_id("graph-panel").bounding_box()
    assert drawing["width"] > 300  # not squeezed beside the panel
    assert panel["y"] >= drawing["y"] + drawing["height"]


def test_the_zoom_tools_never_cover_a_box(browser: Browser, server: LiveServer, tmp_path: Path):
    # Tasks without dependencies are laid out in rows as wide as the drawing: boxes in its top corners.
    with server.client() as api:
        project = api.post("/api/v1/projects", json={"name": "Rows", "working_dir": str(tmp_path)}).json()
        for n in range(8):
            api.post("/api/v1/tasks", json={"project_id": project["id"], "title": f"Task {n}"})
    page = signed_in(browser, server, f"/projects/{project['id']}/graph")
    for width in (1280, 420):
        page.set_viewport_size({"width": width, "height": 900})
        expect(page.get_by_test_id("graph-node")).to_have_count(8)
        page.wait_for_timeout(300)  # the drawing fits itself to its new width
        tools = page.get_by_test_id("graph-tools").bounding_box()
        for box in (node.bounding_box() for node in page.get_by_test_id("graph-node").all()):
            apart = (
                box["x"] >= tools["x"] + tools["width"]
                or tools["x"] >= box["x"] + box["width"]
                or box["y"] >= tools["y"] + tools["height"]
                or tools["y"] >= box["y"] + box["height"]
            )
            assert apart, (width, box, tools)
