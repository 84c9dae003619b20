"""Browser terminals in a real browser against a real `maestro serve`: typing, resizing, reloading, clipboard and
links, a flood next to a responsive page, Ctrl-C under flood, how a session ends, dropped connections and restarts."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.helpers import LiveServer, live_server, maestro_env, start_server

# The screen of an xterm as text lines (the JS Terminal is the NiceGUI element's `terminal`).
SCREEN = """el => {
  const buffer = getElement(el).terminal.buffer.active;
  const lines = [];
  for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i).translateToString(true));
  return lines;
}"""
HAS_LINE = f"""([el, text]) => ({SCREEN})(el).some(line => line.trim() === text)"""
# Pretend the tab is hidden or shown again (headless pages are never hidden by themselves).
VISIBILITY = """hidden => {
  Object.defineProperty(document, 'hidden', {configurable: true, get: () => hidden});
  Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => hidden ? 'hidden' : 'visible'});
  document.dispatchEvent(new Event('visibilitychange'));
}"""
# xterm.js waits for a handler's promise: OSC 777 then holds its parser until the test calls window.__release.
HOLD_PARSER = (
    "el => getElement(el).terminal.parser.registerOscHandler(777, () => new Promise(r => window.__release = r))"
)
WAIT = 15_000  # ms: generous, for a loaded 2-core machine (a wait, never a speed assertion)
LINK = "el => window.maestroTerminal.get(Number(el.id.slice(1)))"  # static/terminal.js's link of that xterm


def bash_env(home: Path, **extra: str) -> dict[str, str]:
    """A server whose shells are bash with a home of their own: the machine's ~/.bashrc (a pyenv set-up, say, that
    waits a minute on a lock a killed shell left behind) must not decide whether a prompt comes."""
    user_home = home.parent / "user-home"
    user_home.mkdir(parents=True, exist_ok=True)
    return maestro_env(home, SHELL="/bin/bash", HOME=str(user_home), **extra)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the tests that do not restart it (bash, so prompts and job control are a user's)."""
    home = tmp_path_factory.mktemp("terminals") / "home"
    with live_server(home, env=bash_env(home)) as server:
        yield server


def spawn(server: LiveServer, name: str = "shell") -> str:
    """A project in a scratch directory and a shell session in it; the session id."""
    with server.client() as api:
        work = server.home.parent / "work"
        work.mkdir(exist_ok=True)
        project = api.post("/api/v1/projects", json={"name": f"p-{name}", "working_dir": str(work)}).json()
        session = api.post("/api/v1/sessions", json={"project_id": project["id"], "name": name}).json()
    assert session["status"] == "running", session
    return session["id"]


def open_page(browser: Browser, server: LiveServer, path: str, **context) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 860}, **context).new_page()
    joiner = "&" if "?" in path else "?"
    page.goto(f"{server.url}{path.lstrip('/')}{joiner}token={server.token}")
    return live(page)


def live(page: Page) -> Page:
    """Wait until the page's NiceGUI connection is up: clicks before that would not reach the server."""
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "live", timeout=WAIT)
    return page


def connected(where: Page | Locator) -> None:
    """Wait until the terminal's own WebSocket is attached."""
    expect(where.get_by_test_id("terminal-state")).to_have_attribute("data-state", "connected", timeout=WAIT)


def type_into(page: Page, terminal: Locator, text: str) -> None:
    terminal.click()
    page.keyboard.type(text)


def wait_line(page: Page, terminal: Locator, text: str, timeout: float = WAIT) -> None:
    """Wait until a line of the terminal's buffer is exactly `text` (commands print computed text, so the echo of
    the command line never matches)."""
    page.wait_for_function(HAS_LINE, arg=[terminal.element_handle(), text], timeout=timeout)


def wait_clipboard(page: Page, text: str) -> None:
    """Wait until the clipboard holds `text` (wait_for_function cannot await the Clipboard API's promise)."""
    deadline = time.monotonic() + WAIT / 1000
    while (found := page.evaluate("navigator.clipboard.readText()")) != text and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert found == text


def screen(terminal: Locator) -> list[str]:
    return terminal.evaluate(SCREEN)


def shell_pid_line(page: Page, terminal: Locator) -> str:
    """The line `echo pid-$$` printed (`pid-1234`); a long prompt may wrap the command's own echo onto a line that
    starts with `pid-` too, so only digits count."""
    deadline = time.monotonic() + WAIT / 1000
    while not (found := [line for line in screen(terminal) if re.fullmatch(r"pid-\d+", line)]):
        assert time.monotonic() < deadline, screen(terminal)
        page.wait_for_timeout(50)
    return found[0]


def test_type_resize_reload_and_bytes_stay_off_nicegui(browser: Browser, shared: LiveServer):
    session_id = spawn(shared, "typing")
    page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    sockets: list[str] = []
    nicegui_frames: list[str] = []

    def watch(ws) -> None:
        sockets.append(ws.url)
        if "socket.io" in ws.url:
            ws.on("framereceived", lambda payload: nicegui_frames.append(f"in {payload}"))
            ws.on("framesent", lambda payload: nicegui_frames.append(f"out {payload}"))

    page.on("websocket", watch)
    page.goto(f"{shared.url}sessions/{session_id}?token={shared.token}", wait_until="commit")
    live(page)
    terminal = page.get_by_test_id("terminal")
    connected(page)
    type_into(page, terminal, "echo hi-$((40+2))\n")
    wait_line(page, terminal, "hi-42")
    assert any(url.endswith(f"/api/v1/sessions/{session_id}/terminal") for url in sockets)
    # Terminal bytes never ride NiceGUI's socket: no output in its frames, no event from the xterm element.
    assert not [frame for frame in nicegui_frames if "hi-42" in frame]
    xterm_id = terminal.evaluate("el => el.id.slice(1)")
    assert not [f for f in nicegui_frames if f.startswith('out 42["event"') and f'"id":{xterm_id},' in f]

    before = terminal.evaluate("el => [getElement(el).terminal.rows, getElement(el).terminal.cols]")
    page.set_viewport_size({"width": 700, "height": 560})
    page.wait_for_function(
        "([el, size]) => getElement(el).terminal.rows < size[0] && getElement(el).terminal.cols < size[1]",
        arg=[terminal.element_handle(), before],
    )
    rows, cols = terminal.evaluate("el => [getElement(el).terminal.rows, getElement(el).terminal.cols]")
    assert (rows, cols) != tuple(before)
    type_into(page, terminal, "stty size\n")
    wait_line(page, terminal, f"{rows} {cols}")  # the pty has the size the fitted terminal has

    page.reload()
    live(page)
    connected(page)
    wait_line(page, terminal, "hi-42")  # the scrollback came back from the server
    assert sum(line == "hi-42" for line in screen(terminal)) == 1


def test_copy_on_select_paste_links_and_no_clipboard_writes_from_programs(browser: Browser, shared: LiveServer):
    session_id = spawn(shared, "clipboard")
    page = open_page(browser, shared, f"/sessions/{session_id}", permissions=["clipboard-read", "clipboard-write"])
    terminal = page.get_by_test_id("terminal")
    connected(page)
    page.evaluate("navigator.clipboard.writeText('untouched')")

    # OSC 52 asks the terminal to write the clipboard: ignored.
    type_into(page, terminal, "printf '\\033]52;c;%s\\007' $(printf pwned | base64); echo osc-$((5*5))\n")
    wait_line(page, terminal, "osc-25")
    assert page.evaluate("navigator.clipboard.readText()") == "untouched"

    # Selecting text copies it.
    type_into(page, terminal, "echo copy-$((6*7))\n")
    wait_line(page, terminal, "copy-42")
    row = screen(terminal).index("copy-42")
    terminal.evaluate(f"el => getElement(el).terminal.select(0, {row}, 7)")
    wait_clipboard(page, "copy-42")

    # Ctrl+V pastes what the clipboard holds.
    page.evaluate("navigator.clipboard.writeText('echo pasted-$((8+1))')")
    terminal.click()
    page.keyboard.press("Control+V")
    page.keyboard.press("Enter")
    wait_line(page, terminal, "pasted-9")

    # A link in the output opens (in a new window, without access to this one).
    type_into(page, terminal, "echo https://example.invalid/maestro-$((1+1))\n")
    wait_line(page, terminal, "https://example.invalid/maestro-2")
    page.evaluate("window.open = () => (window.__opened = {location: {}, opener: window})")
    row = screen(terminal).index("https://example.invalid/maestro-2")
    box = terminal.evaluate(
        """(el, row) => {
          const term = getElement(el).terminal;
          const screen = el.querySelector('.xterm-screen').getBoundingClientRect();
          const line = row - term.buffer.active.viewportY;
          const cell = {width: screen.width / term.cols, height: screen.height / term.rows};
          return {x: screen.left + cell.width * 5.5, y: screen.top + cell.height * (line + 0.5)};
        }""",
        row,
    )
    page.mouse.move(box["x"], box["y"])
    page.mouse.move(box["x"] + 2, box["y"])
    hovered = "el => el.classList.contains('xterm-cursor-pointer') || !!el.querySelector('.xterm-cursor-pointer')"
    page.wait_for_function(hovered, arg=terminal.element_handle(), timeout=WAIT)  # the link is found on hover
    page.mouse.click(box["x"] + 2, box["y"])
    page.wait_for_function("window.__opened && window.__opened.location.href")
    opened = page.evaluate("[window.__opened.location.href, window.__opened.opener]")
    assert opened == ["https://example.invalid/maestro-2", None]


def flooding_beside_another(
    browser: Browser, shared: LiveServer, names: tuple[str, str], command: str, received: float
) -> tuple[Page, Locator, Locator]:
    """Two shells side by side on one page (`names`: their projects' are unique), the first running `command` until
    `received` bytes have arrived."""
    flood, quiet = spawn(shared, names[0]), spawn(shared, names[1])
    page = open_page(browser, shared, f"/terminals?ids={flood},{quiet}")
    panes = page.get_by_test_id("terminal-pane")
    expect(panes).to_have_count(2, timeout=WAIT)
    flooding, other = panes.nth(0).get_by_test_id("terminal"), panes.nth(1).get_by_test_id("terminal")
    connected(panes.nth(0))
    connected(panes.nth(1))
    type_into(page, flooding, command + "\n")
    page.wait_for_function(
        f"([el, n]) => ({LINK})(el).received > n", arg=[flooding.element_handle(), received], timeout=30_000
    )
    return page, flooding, other


def test_a_flood_leaves_the_page_responsive_and_ctrl_c_stops_it(browser: Browser, shared: LiveServer):
    page, flooding, other = flooding_beside_another(browser, shared, ("flood", "quiet"), "yes", 1e6)

    # The rest of the page still answers: another terminal echoes, a NiceGUI button reacts.
    type_into(page, other, "echo alive-$((1+1))\n")
    wait_line(page, other, "alive-2")
    expect(other.locator(".xterm-rows")).to_contain_text("alive-2")  # drawn, not only parsed
    page.get_by_test_id("theme-toggle").click()
    expect(page.locator("body.body--dark")).to_have_count(1, timeout=WAIT)
    # Flow control: the server never has more than about 1.25 MiB of output in flight to this tab.
    in_flight = [flooding.evaluate(f"el => {{ const l = ({LINK})(el); return l.received - l.parsed; }}")]
    for _ in range(20):
        page.wait_for_timeout(50)
        in_flight.append(flooding.evaluate(f"el => {{ const l = ({LINK})(el); return l.received - l.parsed; }}"))
    assert max(in_flight) <= 1.5 * 1024 * 1024, in_flight

    # While the person types in the other terminal the flood pauses (it would take the CPU their echo needs): no
    # more than the unacknowledged window arrives, and it goes on once typing stops.
    other.click()
    received = f"el => ({LINK})(el).received"
    page.keyboard.type(": typing")  # the first key starts the pause
    before = flooding.evaluate(received)
    page.keyboard.type(" pauses the flood next door", delay=60)
    assert flooding.evaluate(received) - before <= 1.5 * 1024 * 1024
    page.keyboard.press("Enter")
    page.wait_for_function(f"([el, n]) => ({received})(el) > n", arg=[flooding.element_handle(), before + 2e6])

    # Ctrl-C stops it.
    flooding.click()
    page.keyboard.press("Control+C")
    type_into(page, flooding, "echo stopped-$((2+2))\n")
    wait_line(page, flooding, "stopped-4")
    expect(flooding.locator(".xterm-rows")).to_contain_text("stopped-4")  # drawn, not only parsed
    received = flooding.evaluate(f"el => ({LINK})(el).received")
    type_into(page, other, "echo still-$((3+3))\n")
    wait_line(page, other, "still-6")
    assert flooding.evaluate(f"el => ({LINK})(el).received") - received < 4096  # `yes` is gone: only a prompt

    # What waits to be drawn when Ctrl-C comes is skipped, as the tty flushes its output on an interrupt. To have
    # a backlog for sure, the test holds xterm.js's parser at an escape sequence the program prints first. (Long
    # lines: what the program printed before the interrupt reached it must not scroll the note out of sight.)
    flooding.evaluate(HOLD_PARSER)
    type_into(page, flooding, "printf '\\033]777;hold\\007'; yes \"$(head -c 600 /dev/zero | tr '\\0' x)\"\n")
    page.wait_for_function(f"el => ({LINK})(el).queued > 512 * 1024", arg=flooding.element_handle(), timeout=WAIT)
    page.keyboard.press("Control+C")
    assert flooding.evaluate(f"el => ({LINK})(el).skipped") > 512 * 1024
    page.evaluate("window.__release(true)")
    page.wait_for_function(
        f"el => ({SCREEN})(el).some(line => line.includes('bytes of output skipped after the interrupt'))",
        arg=flooding.element_handle(),
        timeout=WAIT,
    )
    type_into(page, flooding, "echo again-$((4+4))\n")
    wait_line(page, flooding, "again-8")


def test_a_flooding_terminal_is_drawn_a_few_times_a_second_and_fully_when_it_stops(
    browser: Browser, shared: LiveServer
):
    """Drawing a flood at 60 frames a second shows nothing anyone can read and takes the CPU its parsing needs: a
    terminal in a flood is redrawn about ten times a second, the terminal next to it on every frame, and when the
    flood stops its last lines are drawn."""
    page, flooding, other = flooding_beside_another(browser, shared, ("counting", "beside"), "seq 1 100000000", 2e6)
    # Every frame of the page for two seconds: how often the flooding terminal's drawn rows changed.
    drawn = flooding.evaluate(
        """el => new Promise(resolve => {
          const rows = el.querySelector('.xterm-rows');
          let last = rows.textContent, changes = 0, frames = 0;
          const started = performance.now();
          const frame = () => {
            frames += 1;
            if (rows.textContent !== last) { changes += 1; last = rows.textContent; }
            if (performance.now() - started < 2000) requestAnimationFrame(frame);
            else resolve({changes, frames});
          };
          requestAnimationFrame(frame);
        })"""
    )
    assert 4 <= drawn["changes"] <= 2 * 15, drawn  # about 10 a second: still moving, not every frame
    # The terminal beside it is drawn on the next frame as ever: its echo shows at once.
    type_into(page, other, "echo beside-$((3*3))\n")
    expect(other.locator(".xterm-rows")).to_contain_text("beside-9", timeout=WAIT)

    flooding.click()
    page.keyboard.press("Control+C")
    type_into(page, flooding, "seq 1 200000 | tail -c 300000; echo counted-$((6*7))\n")
    expect(flooding.locator(".xterm-rows")).to_contain_text("counted-42", timeout=WAIT)  # drawn, not only parsed
    expect(flooding.locator(".xterm-rows")).to_contain_text("199999")


def test_a_terminal_redrawing_is_hidden_from_page_wide_observers(browser: Browser, shared: LiveServer):
    """xterm.js redraws rows every frame; NiceGUI's Tailwind rescanned the whole page on each of them. Observers
    of the page hear nothing from inside a terminal now, and Tailwind still styles what the page adds."""
    session = spawn(shared, "redraw")
    page = open_page(browser, shared, f"/terminals?ids={session}")
    terminal = page.get_by_test_id("terminal")
    connected(page)
    page.evaluate(
        """() => {
          window.__heard = {inside: 0, outside: 0};
          new MutationObserver(records => {
            for (const r of records) {
              const el = r.target.nodeType === Node.ELEMENT_NODE ? r.target : r.target.parentElement;
              window.__heard[el && el.closest('.xterm') ? 'inside' : 'outside'] += 1;
            }
          }).observe(document.documentElement, {subtree: true, childList: true, attributes: true, characterData: true});
        }"""
    )
    type_into(page, terminal, "yes\n")
    page.wait_for_function(f"el => ({LINK})(el).received > 2e6", arg=terminal.element_handle(), timeout=30_000)
    expect(terminal.locator(".xterm-rows")).to_contain_text("y")  # drawn, frame after frame
    page.keyboard.press("Control+C")
    type_into(page, terminal, "echo done-$((5+5))\n")
    wait_line(page, terminal, "done-10")
    expect(terminal.locator(".xterm-rows")).to_contain_text("done-10")
    assert page.evaluate("window.__heard.inside") == 0

    page.evaluate("""() => {
      const probe = document.createElement('div');
      probe.dataset.testid = 'tailwind-probe';
      probe.className = 'mt-[37px]';
      document.body.appendChild(probe);
    }""")
    expect(page.get_by_test_id("tailwind-probe")).to_have_css("margin-top", "37px", timeout=WAIT)
    assert page.evaluate("window.__heard.outside") > 0


def test_how_a_session_ends_is_shown(browser: Browser, shared: LiveServer):
    exits, stopped = spawn(shared, "exits"), spawn(shared, "stopped")
    page = open_page(browser, shared, f"/terminals?ids={exits},{stopped}")
    panes = page.get_by_test_id("terminal-pane")
    connected(panes.nth(0))
    connected(panes.nth(1))

    type_into(page, panes.nth(0).get_by_test_id("terminal"), "exit 3\n")
    expect(panes.nth(0).get_by_test_id("terminal-state")).to_have_attribute("data-state", "ended", timeout=WAIT)
    expect(panes.nth(0).get_by_test_id("terminal-state")).to_have_text("Ended", timeout=WAIT)
    wait_line(page, panes.nth(0).get_by_test_id("terminal"), "[program exited with status 3]")
    expect(panes.nth(0).get_by_test_id("session-status")).to_have_text("failed", timeout=WAIT)
    expect(panes.nth(0).get_by_test_id("terminal-exit")).to_have_text("exit status 3", timeout=WAIT)
    expect(panes.nth(0).get_by_test_id("terminal-stop")).to_be_hidden(timeout=WAIT)

    panes.nth(1).get_by_test_id("terminal-stop").click()
    expect(page.get_by_test_id("terminal-stop-dialog")).to_be_visible(timeout=WAIT)
    page.get_by_test_id("terminal-stop-confirm").click()
    expect(panes.nth(1).get_by_test_id("terminal-state")).to_have_attribute("data-state", "ended", timeout=WAIT)
    expect(panes.nth(1).get_by_test_id("session-status")).to_have_text("stopped", timeout=WAIT)
    wait_line(page, panes.nth(1).get_by_test_id("terminal"), "[program exited with status -1]")
    with shared.client() as api:
        assert api.get(f"/api/v1/sessions/{stopped}").json()["status"] == "stopped"


def test_a_dropped_connection_or_a_hidden_tab_resumes_without_repeating_output(browser: Browser, shared: LiveServer):
    session_id = spawn(shared, "drop")
    page = open_page(browser, shared, f"/sessions/{session_id}")
    terminal = page.get_by_test_id("terminal")
    connected(page)
    page.evaluate(
        """() => {
          window.__states = [];
          const el = document.querySelector('[data-testid="terminal-state"]');
          new MutationObserver(() => window.__states.push(el.dataset.state))
            .observe(el, {attributes: true, attributeFilter: ['data-state']});
        }"""
    )
    type_into(page, terminal, "echo once-$((5+5))\n")
    wait_line(page, terminal, "once-10")
    terminal.evaluate(f"el => ({LINK})(el).ws.close()")  # as a network drop would
    page.wait_for_function("window.__states.includes('reconnecting')")
    connected(page)
    type_into(page, terminal, "echo again-$((3+3))\n")
    wait_line(page, terminal, "again-6")
    assert sum(line == "once-10" for line in screen(terminal)) == 1  # resumed from its offset: nothing twice
    assert page.evaluate("window.__states").count("connected") == 1

    # A hidden tab detaches (its throttled timers must not slow the program) and catches up once shown again.
    type_into(page, terminal, "sleep 4; echo later-$((2*4))\n")
    page.evaluate(VISIBILITY, True)
    expect(page.get_by_test_id("terminal-state")).to_have_attribute("data-state", "paused", timeout=WAIT)
    with shared.client() as api:  # the program ran on while nobody watched
        recording = lambda: api.get(f"/api/v1/sessions/{session_id}/recording").text  # noqa: E731
        deadline = time.monotonic() + WAIT / 1000
        while "later-8" not in recording() and time.monotonic() < deadline:
            time.sleep(0.2)
    assert "later-8" not in screen(terminal)
    page.evaluate(VISIBILITY, False)
    connected(page)
    wait_line(page, terminal, "later-8")
    assert sum(line == "once-10" for line in screen(terminal)) == 1


def test_keys_typed_while_disconnected_reach_the_program_once_connected(browser: Browser, shared: LiveServer):
    session_id = spawn(shared, "ahead")
    page = open_page(browser, shared, f"/sessions/{session_id}")
    terminal = page.get_by_test_id("terminal")
    connected(page)
    # The connection drops and cannot come back for now: its address refuses (port 9) until the test allows it.
    terminal.evaluate(f"el => {{ const l = ({LINK})(el); l.url = () => 'ws://127.0.0.1:9/'; l.ws.close(); }}")
    expect(page.get_by_test_id("terminal-state")).to_have_attribute("data-state", "reconnecting", timeout=WAIT)
    type_into(page, terminal, "echo ahead-$((2+3))\n")
    page.wait_for_timeout(600)  # a retry or two fails meanwhile
    expect(page.get_by_test_id("terminal-state")).to_have_attribute("data-state", "reconnecting")
    assert "ahead-5" not in screen(terminal)
    terminal.evaluate(f"el => {{ delete ({LINK})(el).url; }}")
    connected(page)
    wait_line(page, terminal, "ahead-5")
    assert screen(terminal).count("ahead-5") == 1


def test_a_running_session_page_takes_the_keys_from_the_start(browser: Browser, shared: LiveServer):
    session_id = spawn(shared, "first-keys")
    with shared.client() as api:
        sessions_before = len(api.get("/api/v1/sessions").json())
    page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    # The page's own connection to the server is held back, so the keys below are typed before the terminal is
    # attached (as a person who just pressed `s` for a shell types on while the new page connects).
    held: list = []

    def hold(socket) -> None:
        held.append(socket)

    page.route_web_socket(re.compile(r"_nicegui_ws"), hold)
    page.goto(f"{shared.url}sessions/{session_id}?token={shared.token}")
    expect(page.get_by_test_id("terminal")).to_be_visible(timeout=WAIT)
    page.keyboard.type("echo early-s-r-$((3+4))\n")  # `s` and `r` are the page's shortcuts elsewhere
    assert held, "the page did not open its connection"
    expect(page.get_by_test_id("terminal-state")).to_have_attribute("data-state", "connecting")
    for socket in held:
        socket.connect_to_server()
    connected(page)
    terminal = page.get_by_test_id("terminal")
    wait_line(page, terminal, "early-s-r-7")
    page.keyboard.type("echo then-$((1+1))\n")  # no click: the terminal has the focus
    wait_line(page, terminal, "then-2")
    assert screen(terminal).count("early-s-r-7") == 1
    expect(page.get_by_test_id("run-agent-dialog")).to_have_count(0)
    with shared.client() as api:
        assert len(api.get("/api/v1/sessions").json()) == sessions_before  # no shell started by `s`


def open_new_board(browser: Browser, shared: LiveServer, name: str) -> tuple[Page, int]:
    """A new project's board, open and live; with how many sessions the server had before."""
    with shared.client() as api:
        work = shared.home.parent / "work"
        work.mkdir(exist_ok=True)
        project = api.post("/api/v1/projects", json={"name": name, "working_dir": str(work)}).json()
        sessions_before = len(api.get("/api/v1/sessions").json())
    return open_page(browser, shared, f"/projects/{project['id']}/board"), sessions_before


def one_shell_ran_once(page: Page, shared: LiveServer, sessions_before: int, line: str) -> None:
    """The page moved to a shell's page whose terminal shows `line` exactly once, and one session was started."""
    page.wait_for_url(re.compile(r"/sessions/ses_"), timeout=WAIT)
    live(page)
    connected(page)
    terminal = page.get_by_test_id("terminal")
    wait_line(page, terminal, line)
    assert screen(terminal).count(line) == 1
    with shared.client() as api:
        assert len(api.get("/api/v1/sessions").json()) == sessions_before + 1


def test_keys_typed_while_a_shell_starts_reach_it(browser: Browser, shared: LiveServer):
    page, sessions_before = open_new_board(browser, shared, "p-carry")
    # The shell's page is held back until the keys are typed, so they are typed on the board (whose `c` would open
    # New task) while the shell starts.
    held: list = []
    session_page = re.compile(r"/sessions/ses_")

    def hold(route) -> None:
        held.append(route)

    page.route(session_page, hold)
    page.keyboard.press("s")
    # Once the shell's page is asked for, the shell has started and the board carries keys (the server sends the
    # carry before it starts the shell). The board's storage cannot be read meanwhile: Playwright's evaluate waits
    # for the held navigation.
    deadline = time.monotonic() + WAIT / 1000
    while not held:
        assert time.monotonic() < deadline, "the shell's page was never opened"
        page.wait_for_timeout(50)
    page.keyboard.type("echo carried-$((5+6))\n")
    for route in held:
        route.continue_()
    page.unroute(session_page, hold)
    one_shell_ran_once(page, shared, sessions_before, "carried-11")


def test_a_command_typed_right_after_s_reaches_the_shell_whole(browser: Browser, shared: LiveServer):
    page, sessions_before = open_new_board(browser, shared, "p-typist")
    # A person's pace, no waiting: the first keys come before the server has heard `s`, and the shell's page opens
    # while they type. Every key, in order, reaches the shell.
    page.keyboard.press("s")
    page.keyboard.type("echo right-after-s-$((2+3))-abcdefghij\n", delay=100)
    one_shell_ran_once(page, shared, sessions_before, "right-after-s-5-abcdefghij")


def test_keys_typed_right_after_the_shell_button_reach_the_shell(browser: Browser, tmp_path: Path):
    # A server with one project, so the Sessions page's button opens its shell without asking which. The server is
    # slow to answer (what it sends is held back while the keys are typed): the keys still reach the shell, all of
    # them, since the browser kept them from the click on.
    home = tmp_path / "home"
    with live_server(home, env=bash_env(home)) as server:
        _, sessions_before = open_new_board(browser, server, "p-button")
        page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
        held: list = []  # (the page's end of the connection, a message from the server) while holding
        holding = [False]

        def slow_server(socket) -> None:
            upstream = socket.connect_to_server()
            upstream.on_message(lambda message: held.append((socket, message)) if holding[0] else socket.send(message))
            socket.on_message(upstream.send)

        page.route_web_socket(re.compile(r"_nicegui_ws"), slow_server)
        page.goto(f"{server.url}sessions?token={server.token}")
        live(page)
        holding[0] = True
        page.get_by_test_id("open-shell").click()
        page.keyboard.type("echo after-the-button-$((6+1))-abc\n", delay=30)
        page.wait_for_timeout(300)  # the server has long answered: its carry and the move to the shell's page
        assert held, "the server did not answer the click"
        while held:  # in order, and what comes meanwhile after them
            socket, message = held.pop(0)
            socket.send(message)
        holding[0] = False
        one_shell_ran_once(page, server, sessions_before, "after-the-button-7-abc")


def test_an_ended_session_page_leaves_the_keys_to_the_page(browser: Browser, shared: LiveServer):
    session_id = spawn(shared, "ended-keys")
    with shared.client() as api:
        api.post(f"/api/v1/sessions/{session_id}/stop")
    page = open_page(browser, shared, f"/sessions/{session_id}")
    expect(page.get_by_test_id("terminal-state")).to_have_attribute("data-state", "ended", timeout=WAIT)
    page.keyboard.press("?")  # the shortcut sheet: the keys are the page's, not a dead terminal's
    expect(page.get_by_test_id("shortcut-sheet")).to_be_visible()


def test_after_a_server_crash_the_terminal_reconnects_to_the_same_shell(browser: Browser, tmp_path: Path):
    home = tmp_path / "home"
    env = bash_env(home)
    server = start_server(home, env=env)
    try:
        session_id = spawn(server, "restart")
        page = open_page(browser, server, f"/sessions/{session_id}")
        connected(page)
        terminal = page.get_by_test_id("terminal")
        type_into(page, terminal, "echo before-$((1+1)); echo pid-$$\n")
        wait_line(page, terminal, "before-2")
        pid_line = shell_pid_line(page, terminal)
        server.stop(signal.SIGKILL)  # a crash: the shell's holder keeps it and its terminal
        expect(page.get_by_test_id("terminal-state")).to_have_attribute("data-state", "reconnecting", timeout=WAIT)
        with page.expect_navigation(timeout=2 * WAIT):  # NiceGUI reloads a page whose server is a new process
            server = start_server(home, "--port", str(server.port), env=env)
        live(page)
        connected(page)
        type_into(page, terminal, "echo after-$((2+2)); echo pid-$$\n")
        wait_line(page, terminal, "after-4")
        lines = screen(terminal)
        assert lines.count("before-2") == 1 and lines.count(pid_line) == 2  # the same shell; nothing twice
        expect(page.get_by_test_id("session-status")).not_to_have_text("lost")
    finally:
        server.stop()


def test_without_holders_a_server_restart_shows_the_session_as_lost(browser: Browser, tmp_path: Path):
    home = tmp_path / "home"
    env = bash_env(home, MAESTRO_SESSION_HOLDERS="0")
    server = start_server(home, env=env)
    try:
        session_id = spawn(server, "restart")
        page = open_page(browser, server, f"/sessions/{session_id}")
        connected(page)
        server.stop(signal.SIGKILL)  # a crash: the shell loses its terminal with it
        expect(page.get_by_test_id("terminal-state")).to_have_attribute("data-state", "reconnecting", timeout=WAIT)
        server = start_server(home, "--port", str(server.port), env=env)
        expect(page.get_by_test_id("session-status")).to_have_text("lost", timeout=2 * WAIT)
        expect(page.get_by_test_id("terminal-state")).to_have_attribute("data-state", "ended", timeout=2 * WAIT)
        expect(page.get_by_test_id("terminal-exit")).to_have_text("the server restarted while it ran", timeout=WAIT)
    finally:
        server.stop()
