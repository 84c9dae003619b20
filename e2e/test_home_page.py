"""A real browser signs in with a login link, sees the home page, and a NiceGUI interaction works."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.helpers import LiveServer


def test_login_link_opens_the_home_page_and_button_works(browser: Browser, server: LiveServer):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}?token={server.token}")
    assert page.url == server.url  # redirected to the clean URL: no token left in the address bar
    expect(page).to_have_title("Maestro")
    expect(page.get_by_text("Welcome to Maestro")).to_be_visible()
    page.get_by_test_id("nav-settings").click()
    expect(page.get_by_test_id("home-dir")).to_contain_text(str(server.home))
    readiness = page.get_by_test_id("readiness")
    expect(readiness).to_have_text("Readiness: not checked yet")
    page.get_by_test_id("check-readiness").click()  # travels over NiceGUI's socket, through the gate
    expect(readiness).to_have_text("Readiness: ready · 0 pending migrations")
    expect(page.get_by_text("Database checked")).to_be_visible()
    cookie = next(c for c in context.cookies() if c["name"] == f"maestro_{server.port}")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert cookie["value"] != server.token
    page.reload()  # the cookie keeps the browser signed in
    expect(page.get_by_test_id("home-dir")).to_be_visible()
    context.close()


def test_page_without_token_is_refused(browser: Browser, server: LiveServer):
    context = browser.new_context()
    page = context.new_page()
    response = page.goto(server.url)
    assert response is not None and response.status == 401
    expect(page.get_by_role("heading")).to_have_text("Maestro needs you to sign in")
    expect(page.get_by_text("maestro open")).to_be_visible()
    wrong = page.goto(f"{server.url}?token=not-the-token")
    assert wrong is not None and wrong.status == 401
    context.close()


def test_login_link_from_the_api_works_once(browser: Browser, server: LiveServer):
    with server.client() as api:
        link = api.post("/api/v1/login-links").json()["url"]
    first = browser.new_context()
    page = first.new_page()
    page.goto(link)
    expect(page.get_by_text("Welcome to Maestro")).to_be_visible()
    first.close()
    second = browser.new_context()
    response = second.new_page().goto(link)
    assert response is not None and response.status == 401
    second.close()


def test_swagger_docs_render_offline(browser: Browser, server: LiveServer):
    context = browser.new_context()
    page = context.new_page()
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(server.url) else None)
    page.goto(f"{server.url}?token={server.token}")
    page.goto(f"{server.url}schema/swagger")
    expect(page.get_by_text("/api/v1/health").first).to_be_visible()
    assert external == []
    context.close()


def test_home_and_overview_show_changes_live_in_words(browser: Browser, server: LiveServer):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}?token={server.token}")
    expect(page.get_by_test_id("first-run")).to_be_visible()
    cli = {"X-Maestro-Client": "cli"}
    with server.client() as api:
        project = api.post("/api/v1/projects", json={"name": "Shown live", "working_dir": "/"}, headers=cli).json()
    expect(page.get_by_test_id("project-card")).to_contain_text("Shown live")
    page.get_by_test_id("project-card").click()
    feed = page.get_by_test_id("recent-activity")
    expect(feed).to_contain_text("Project 'Shown live' created by you (CLI)")
    with server.client() as api:
        api.post("/api/v1/tasks", json={"project_id": project["id"], "title": "Parse logs"}, headers=cli)
    expect(feed).to_contain_text("Task 'Parse logs' created by you (CLI)")
    context.close()
