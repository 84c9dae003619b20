"""The browser terminal measured in a real browser (Debian chromium) against a real `maestro serve`.

Chromium is driven over the DevTools protocol directly, not through Playwright: Playwright enables DevTools'
Network domain on every page, and Chromium then copies each WebSocket frame, base64-encoded, to the driver — on
this machine that took about half of the terminal's output throughput and added to the echo under a flood. A
browser with DevTools closed does none of that. Each round opens a fresh page on `/terminals` with three fresh
`/bin/sh` sessions side by side (echo, flood, throughput) and measures, for every variant of the terminal client
in turn (rounds interleaved, the order rotated):

1. Keystroke echo: a key pressed in a terminal running `cat` (pty echo on) until the echoed character is in
   xterm.js's buffer (the write callback of the output that carries it), from the key event's own time stamp (so
   time spent waiting for the page to take the key counts); also until the animation frame that draws it. Without
   and then with the second session flooding (`yes`). Targets (issue 12): p50 <= 5 ms, p99 <= 20 ms.
2. Output throughput: `cat` of a base64 file into the third terminal, from the command sent until the marker after
   it is parsed, against xterm.js's own parse rate in the same page: the same bytes, as received, written straight
   into the same Terminal (the ceiling; three times, the median kept). Target: >= 80% of the ceiling. The longest
   stall of the page's main thread (a 10 ms interval timer's lateness) is reported for both. Also "delivery": the
   same command's output over a WebSocket of its own into the page, acknowledged on arrival and not parsed, and
   "raw pty": the same file `cat` in a pty that this process reads in a tight loop (no server, no browser: what any
   reader of a pty gets here).
   Each run also says where the machine's CPU went meanwhile, by part (the renderer's main thread, holders, the
   server, the pty's kernel workers...), and how long each part waited for a CPU (common.cpu_by_part).
3. Ctrl-C under flood: from the Ctrl-C key event in a terminal running `yes` until its last output byte is parsed.
4. Memory during `--flood-minutes` of `yes` in an open tab, per variant in a browser of its own, started as a person
   would (a click into the terminal first): server RSS, the tab's JS heap and its renderer's RSS, sampled every
   30 s, then after Ctrl-C and a full GC.

A variant is `NAME=CONFIG`: CONFIG is a JSON object set as `window.maestroTerminalConfig` before static/terminal.js
runs (e.g. `dom={"renderer": "dom"}`), or `file:PATH`, a terminal.js served instead of static/terminal.js (e.g. the
previous version, for a before/after in one run). Without --variant: the current client as it is.
Run: .venv/bin/python bench/ui_terminal.py [--rounds 3] [--keys 200] [--mb 20] [--flood-minutes 3] [--variant ...]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from common import (
    cpu_by_part,
    cpu_seconds,
    cpu_spent,
    live_server,
    maestro_env,
    page_thread_alone,
    percentiles,
    raw_pty_read,
    rss_mib,
    scratch_home,
    shell_session,
)
from websockets.sync.client import connect

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",  # as on the CI machines: WebGL then runs on SwiftShader (the CPU) in the GPU process
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-extensions",
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--password-store=basic",
    "--use-mock-keychain",
    "--hide-scrollbars",
    "--mute-audio",
]
VIEWPORT = {"width": 1600, "height": 1000, "deviceScaleFactor": 1, "mobile": False}
SESSIONS = ("echo", "flood", "throughput", "delivery")  # the last one is not shown in the page
STARTED: list[str] = []  # every session this run started, stopped again before the server stops
ENDED = ("completed", "failed", "stopped", "lost")
CEILING_RUNS = 3  # the ceiling measured this many times per round (median)
STAGES = ("parsed", "drawn", "dispatch", "key", "arrival")  # echo samples kept per key (see ECHO_SETUP)

# Page-side probes. `link` is static/terminal.js's TerminalLink; listeners run when output has been parsed.
SETUP = """() => {
  const links = () => [...document.querySelectorAll('[data-testid="terminal"]')]
    .map(el => window.maestroTerminal.get(Number(el.id.slice(1))));
  const send = (i, text) => links()[i].send(new TextEncoder().encode(text));
  window.__bench = {links, send};
  // Main-thread stalls: how late a 10 ms interval fires.
  window.__lag = {max: 0, last: performance.now()};
  setInterval(() => {
    const now = performance.now();
    window.__lag.max = Math.max(window.__lag.max, now - window.__lag.last - 10);
    window.__lag.last = now;
  }, 10);
  return links().map(link => link.renderer);
}"""

ECHO_SETUP = """index => {
  const link = window.__bench.links()[index];
  const echo = window.__echo = {pending: null, parsed: [], drawn: [], dispatch: [], key: [], arrival: [],
                                resolve: null, armed: null};
  echo.arm = () => { echo.armed = new Promise(resolve => echo.resolve = resolve); };
  document.addEventListener('keydown', e => {
    if (e.key.length !== 1 || e.ctrlKey) return;
    echo.pending = {code: e.key.charCodeAt(0), t: e.timeStamp, seen: performance.now(), arrived: null};
  }, true);
  // When the output carrying the echo reached the page (the socket's message handler).
  const receive = link.receive.bind(link);
  link.receive = data => {
    const p = echo.pending;
    if (p && p.arrived === null && typeof data !== 'string') p.arrived = performance.now();
    receive(data);
  };
  link.listeners.add(bytes => {
    const p = echo.pending;
    if (p && bytes.includes(p.code)) {
      echo.pending = null;
      const now = performance.now();
      echo.parsed.push(now - p.t);
      echo.dispatch.push(now - p.seen);
      echo.key.push(p.seen - p.t);
      echo.arrival.push((p.arrived === null ? now : p.arrived) - p.seen);
      // xterm.js asked for its frame while parsing; this callback runs after its drawing in that frame.
      requestAnimationFrame(() => { echo.drawn.push(performance.now() - p.t); echo.resolve(); });
    }
  });
}"""

# Output throughput. The marker is looked for only near the end of each piece parsed (with the previous piece's
# tail carried over), so the probe costs nearly nothing per byte.
LIVE = """async ([index, command, marker]) => {
  const link = window.__bench.links()[index];
  const chunks = [];
  const decoder = new TextDecoder();
  let tail = '';
  window.__lag.max = 0;
  return await new Promise(resolve => {
    let started;
    const listener = bytes => {
      chunks.push(bytes);
      const text = tail + decoder.decode(bytes.subarray(Math.max(0, bytes.length - 256)));
      if (text.includes(marker)) {
        const elapsed = performance.now() - started;
        link.listeners.delete(listener);
        window.__captured = chunks;
        resolve({bytes: chunks.reduce((n, c) => n + c.length, 0), ms: elapsed, lag_ms: window.__lag.max,
                 frames: link.frames - frames});
      }
      tail = text.slice(-256);
    };
    link.listeners.add(listener);
    const frames = link.frames;
    started = performance.now();
    link.send(new TextEncoder().encode(command));
  });
}"""

CEILING = """async ([index, keep]) => {
  const term = window.__bench.links()[index].term;
  const chunks = window.__captured;
  if (!keep) window.__captured = null;
  term.reset();
  // The live run's flood is over before this starts: the terminal draws every frame again (terminal_frames.js).
  await new Promise(resolve => setTimeout(resolve, 300));
  window.__lag.max = 0;
  return await new Promise(resolve => {
    const started = performance.now();
    chunks.forEach((chunk, i) => term.write(chunk, i === chunks.length - 1 ? () => resolve({
      bytes: chunks.reduce((n, c) => n + c.length, 0), ms: performance.now() - started, lag_ms: window.__lag.max,
    }) : undefined));
  });
}"""

# The same command's output over its own WebSocket into the page, acknowledged on arrival and not parsed: what the
# server, the pty and Chromium's network path deliver when xterm.js takes no CPU.
DELIVERY = """async ([sessionId, command, marker]) => {
  const ws = new WebSocket(`ws://${location.host}/api/v1/sessions/${sessionId}/terminal`);
  ws.binaryType = 'arraybuffer';
  await new Promise(resolve => ws.onopen = resolve);
  ws.onmessage = e => {
    if (typeof e.data !== 'string') ws.send(JSON.stringify({type: 'ack', bytes: e.data.byteLength}));
  };
  await new Promise(resolve => setTimeout(resolve, 500));  // the scrollback replayed on attach is not counted
  const decoder = new TextDecoder();
  return await new Promise(resolve => {
    let total = 0, tail = '', started;
    ws.onmessage = e => {
      if (typeof e.data === 'string') return;
      total += e.data.byteLength;
      ws.send(JSON.stringify({type: 'ack', bytes: e.data.byteLength}));
      const text = tail + decoder.decode(new Uint8Array(e.data, Math.max(0, e.data.byteLength - 64)));
      if (text.includes(marker)) { resolve({bytes: total, ms: performance.now() - started}); ws.close(); }
      tail = text.slice(-64);
    };
    started = performance.now();
    ws.send(new TextEncoder().encode(command));
  });
}"""

CTRL_C_SETUP = """index => {
  const link = window.__bench.links()[index];
  window.__ctrlc = {pressed: null, last: null};
  document.addEventListener('keydown', e => {
    if (e.ctrlKey && e.key.toLowerCase() === 'c') window.__ctrlc = {pressed: e.timeStamp, last: null};
  }, true);
  link.listeners.add(() => { if (window.__ctrlc.pressed !== null) window.__ctrlc.last = performance.now(); });
}"""

WAIT_FOR = """([source, arg, timeout]) => new Promise((resolve, reject) => {
  const predicate = eval(source), started = performance.now();
  (function poll() {
    let value;
    try { value = predicate(arg); } catch (e) {}
    if (value) resolve(value);
    else if (performance.now() - started > timeout) reject(new Error('timed out waiting for ' + source));
    else setTimeout(poll, 50);
  })();
})"""


class Cdp:
    """One DevTools protocol connection to the browser; page sessions are flattened into it (by session id)."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.last_id = 0
        self.results: dict[int, dict] = {}
        self.handlers: dict[str, Callable[[dict, str | None], None]] = {}

    def post(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        """Send a command without waiting; returns its id for `wait`."""
        self.last_id += 1
        message: dict = {"id": self.last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        return self.last_id

    def wait(self, command_id: int, timeout: float = 120) -> dict:
        """The result of a posted command; events that arrive meanwhile go to their handlers."""
        deadline = time.monotonic() + timeout
        while command_id not in self.results:
            message = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if "id" in message:
                self.results[message["id"]] = message
            elif handler := self.handlers.get(message.get("method", "")):
                handler(message.get("params", {}), message.get("sessionId"))
        message = self.results.pop(command_id)
        if "error" in message:
            raise RuntimeError(f"DevTools: {message['error']}")
        return message.get("result", {})

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 120) -> dict:
        return self.wait(self.post(method, params, session), timeout)


@contextlib.contextmanager
def chromium(cpus: set[int] | None = None) -> Iterator[Cdp]:
    """A headless Chromium with a scratch profile, and a DevTools connection to it; on `cpus` only when given."""
    profile = Path(tempfile.mkdtemp(prefix="bench-chromium-"))
    command = [CHROMIUM, *ARGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"]
    if cpus:
        command = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *command]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("chromium did not start")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        with connect(f"ws://127.0.0.1:{port}{path}", max_size=None, compression=None, open_timeout=30) as ws:
            cdp = Cdp(ws)
            try:
                yield cdp
            finally:
                with contextlib.suppress(Exception):
                    cdp.send("Browser.close", timeout=10)
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


LETTERS = {c: {"key": c, "code": f"Key{c.upper()}", "windowsVirtualKeyCode": ord(c.upper())} for c in "abcdefghij"}


class Tab:
    """One page, driven over its own DevTools session (no Network domain: nothing copies the page's traffic)."""

    def __init__(self, cdp: Cdp) -> None:
        self.cdp = cdp
        self.target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = cdp.send("Target.attachToTarget", {"targetId": self.target, "flatten": True})["sessionId"]
        self.send("Page.enable")
        self.send("Emulation.setDeviceMetricsOverride", VIEWPORT)
        self.send("Emulation.setFocusEmulationEnabled", {"enabled": True})  # a focused page, as Playwright's

    def send(self, method: str, params: dict | None = None, timeout: float = 120) -> dict:
        return self.cdp.send(method, params, self.session, timeout)

    def serve_instead(self, url_part: str, body: bytes) -> None:
        """Answer requests whose URL contains `url_part` with `body` (a script) instead of the server's file."""
        self.send("Fetch.enable", {"patterns": [{"urlPattern": f"*{url_part}*", "requestStage": "Request"}]})

        def paused(params: dict, session: str | None) -> None:
            if session != self.session:
                return
            headers = [{"name": "Content-Type", "value": "text/javascript"}]
            answer = {"requestId": params["requestId"], "responseCode": 200, "responseHeaders": headers}
            self.cdp.post("Fetch.fulfillRequest", answer | {"body": base64.b64encode(body).decode()}, self.session)

        self.cdp.handlers["Fetch.requestPaused"] = paused

    def before_scripts(self, source: str) -> None:
        """Run `source` in every document this page loads, before its own scripts."""
        self.send("Page.addScriptToEvaluateOnNewDocument", {"source": source})

    def goto(self, url: str, timeout: float = 30) -> None:
        """Navigate and wait until the new document (after redirects) has loaded."""
        self.evaluate("() => { window.__leaving = true; }")
        self.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError):
                if self.evaluate("() => !window.__leaving && document.readyState === 'complete'"):
                    return
            time.sleep(0.05)
        raise TimeoutError(f"{url} did not load")

    def evaluate(self, fn: str, arg: object = None, timeout: float = 120) -> object:
        """Call the JS function `fn` with `arg` in the page; the (awaited) result, by value."""
        params = {"expression": f"({fn})({json.dumps(arg)})", "awaitPromise": True, "returnByValue": True}
        result = self.send("Runtime.evaluate", params, timeout)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise RuntimeError(details.get("exception", {}).get("description") or details.get("text"))
        return result["result"].get("value")

    def wait_for(self, predicate: str, arg: object = None, timeout_s: float = 60) -> object:
        """Wait in the page until the JS function `predicate(arg)` returns something truthy."""
        return self.evaluate(WAIT_FOR, [predicate, arg, timeout_s * 1000], timeout=timeout_s + 10)

    def key_down(self, char: str) -> None:
        """A letter key pressed, as a keyboard sends it (keydown, keypress, input)."""
        self.send("Input.dispatchKeyEvent", {"type": "keyDown", **LETTERS[char], "text": char, "unmodifiedText": char})

    def key_up(self, char: str) -> None:
        self.send("Input.dispatchKeyEvent", {"type": "keyUp", **LETTERS[char]})

    def ctrl_c(self) -> None:
        control = {"key": "Control", "code": "ControlLeft", "windowsVirtualKeyCode": 17, "location": 1}
        c = {"key": "c", "code": "KeyC", "windowsVirtualKeyCode": 67, "modifiers": 2}
        self.send("Input.dispatchKeyEvent", {"type": "rawKeyDown", "modifiers": 2, **control})
        self.send("Input.dispatchKeyEvent", {"type": "rawKeyDown", **c})
        self.send("Input.dispatchKeyEvent", {"type": "keyUp", **c})
        self.send("Input.dispatchKeyEvent", {"type": "keyUp", **control})

    def memory(self, *, collect: bool = False) -> dict:
        """The tab's JS heap and its renderer's RSS (MiB; the largest renderer: the browser shows only this tab).
        `collect` forces a full GC first."""
        if collect:
            self.send("HeapProfiler.collectGarbage")
            time.sleep(2)
        self.send("Performance.enable")
        metrics = {m["name"]: m["value"] for m in self.send("Performance.getMetrics")["metrics"]}
        processes = self.cdp.send("SystemInfo.getProcessInfo")["processInfo"]
        renderers = [p["id"] for p in processes if p["type"] == "renderer" and Path(f"/proc/{p['id']}").exists()]
        return {
            "js_heap_MiB": round(metrics["JSHeapUsedSize"] / 2**20, 1),
            "renderer_rss_MiB": round(max(rss_mib(pid) for pid in renderers), 1),
        }

    def close(self) -> None:
        self.cdp.send("Target.closeTarget", {"targetId": self.target})


@dataclass
class Variant:
    """A version of the terminal client: a config for static/terminal.js, or another terminal.js altogether."""

    name: str
    config: dict | None = None
    script: bytes | None = None

    @classmethod
    def parse(cls, text: str) -> Variant:
        name, _, spec = text.partition("=")
        if spec.startswith("file:"):
            return cls(name, script=Path(spec[5:]).read_bytes())
        return cls(name, config=json.loads(spec or "{}"))


def browser_cpu_s(cdp: Cdp) -> float:
    """CPU seconds used so far by every process of the browser."""
    return sum(p["cpuTime"] for p in cdp.send("SystemInfo.getProcessInfo")["processInfo"])


def open_terminals(cdp: Cdp, server, work: Path, variant: Variant) -> tuple[Tab, list[str]]:
    """Fresh sessions and a fresh page showing the first three side by side; the page and all the session ids."""
    ids = [shell_session(server, name, str(work)) for name in SESSIONS]
    STARTED.extend(ids)
    tab = Tab(cdp)
    if variant.script is not None:
        tab.serve_instead("/static/terminal.js", variant.script)
    if variant.config is not None:
        tab.before_scripts(f"window.maestroTerminalConfig = {json.dumps(variant.config)};")
    tab.goto(f"{server.url}?token={server.token}")
    tab.goto(f"{server.url}terminals?ids={','.join(ids[:3])}")
    tab.wait_for("() => document.querySelectorAll('[data-testid=terminal-state][data-state=connected]').length === 3")
    tab.wait_for("() => window.maestroTerminal.get !== undefined")
    time.sleep(1)  # the renderer addon loads after the terminal connects
    tab.evaluate(SETUP)
    return tab, ids


def close_terminals(tab: Tab, server, ids: list[str]) -> None:
    tab.close()
    stop_sessions(server, ids)


def stop_sessions(server, ids: list[str]) -> None:
    """Stop these sessions (a session's holder would keep its shell running after the server stops)."""
    with server.client() as api:
        for session_id in ids:
            if api.get(f"/api/v1/sessions/{session_id}").json().get("status") not in ENDED:
                api.post(f"/api/v1/sessions/{session_id}/stop")


def received(tab: Tab, index: int) -> int:
    return tab.evaluate("i => window.__bench.links()[i].received", index)


def focus(tab: Tab, index: int) -> None:
    tab.evaluate("i => window.__bench.links()[i].term.focus()", index)


def click(tab: Tab, index: int) -> None:
    """A mouse click into the middle of a terminal, as a person clicks before typing. (Until a page has had some
    input, Chromium's Largest Contentful Paint detection keeps a record of every text it paints, so a page never
    touched grows with every frame of output; nobody runs a program in a terminal without touching the page.)"""
    box = tab.evaluate(
        "i => { const r = document.querySelectorAll('[data-testid=terminal]')[i].getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; }",
        index,
    )
    for kind in ("mousePressed", "mouseReleased"):
        event = {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1}
        tab.send("Input.dispatchMouseEvent", event)


def echo_latency(tab: Tab, index: int, keys: int, rng: random.Random) -> dict[str, list[float]]:
    """Press `keys` letters one at a time into `cat` in terminal `index`, at random intervals (15-60 ms, so keys
    fall anywhere in the frame cycle, as a person's do), each released once its echo is drawn (a person holds a key
    longer than that: a key released at once would put its keyup in the echo's way, which typing does not do);
    samples in ms per key."""
    tab.evaluate("() => { for (const k of STAGES) window.__echo[k] = []; }".replace("STAGES", json.dumps(STAGES)))
    focus(tab, index)
    for i in range(keys):
        char = "abcdefghij"[i % 10]
        tab.evaluate("() => window.__echo.arm()")
        tab.key_down(char)
        tab.evaluate("() => window.__echo.armed", timeout=30)
        tab.key_up(char)
        time.sleep(rng.uniform(0.015, 0.06))
    return tab.evaluate(
        "() => Object.fromEntries(STAGES.map(k => [k, window.__echo[k]]))".replace("STAGES", json.dumps(STAGES))
    )


def wait_quiet(tab: Tab, index: int, quiet_s: float = 1.0) -> None:
    """Wait until terminal `index` has received nothing for `quiet_s`."""
    quiet_since, last = time.monotonic(), received(tab, index)
    while time.monotonic() - quiet_since < quiet_s:
        time.sleep(0.1)
        now = received(tab, index)
        if now != last:
            quiet_since, last = time.monotonic(), now


def ctrl_c_under_flood(tab: Tab, index: int) -> float:
    """Start `yes`, let it flood, press Ctrl-C; ms from the key event to the last output byte parsed."""
    tab.evaluate("i => window.__bench.send(i, 'yes\\n')", index)
    start = received(tab, index)
    tab.wait_for("([i, n]) => window.__bench.links()[i].received > n + 3e6", [index, start])
    focus(tab, index)
    tab.ctrl_c()
    wait_quiet(tab, index)
    state = tab.evaluate("() => window.__ctrlc")
    return state["last"] - state["pressed"]


def measure_round(cdp: Cdp, server, work: Path, data: Path, variant: Variant, args, rng: random.Random) -> dict:
    """One page of this variant: echo idle and under a flood, one throughput round, Ctrl-C under flood."""
    tab, ids = open_terminals(cdp, server, work, variant)
    out: dict = {"renderers": tab.evaluate("() => window.__bench.links().map(link => link.renderer)")}
    tab.evaluate(ECHO_SETUP, 0)
    tab.evaluate(CTRL_C_SETUP, 1)
    tab.evaluate("() => window.__bench.send(0, 'exec cat\\n')")
    tab.wait_for("() => window.__bench.links()[0].received > 0")
    time.sleep(0.5)
    echo_latency(tab, 0, 10, rng)  # warm-up
    out["echo"] = echo_latency(tab, 0, args.keys, rng)

    tab.evaluate("() => window.__bench.send(1, 'yes\\n')")
    tab.wait_for("() => window.__bench.links()[1].received > 3e6")
    tab.evaluate("() => { window.__lag.max = 0; }")
    before, t0 = received(tab, 1), time.monotonic()
    out["echo_flood"] = echo_latency(tab, 0, args.keys, rng)
    out["flood_MB_per_s_during_echo"] = (received(tab, 1) - before) / (time.monotonic() - t0) / 1e6
    out["max_stall_ms_while_flooding"] = tab.evaluate("() => window.__lag.max")
    focus(tab, 1)
    tab.ctrl_c()
    wait_quiet(tab, 1)

    tab.evaluate("() => window.__bench.send(2, 'stty -echo\\n')")
    time.sleep(0.3)
    command = f"cat {data}; echo __DO''NE__\n"
    alone = page_thread_alone(min(os.sched_getaffinity(0))) if args.page_core else contextlib.nullcontext()
    with alone:
        cpu = cpu_seconds(server.proc.pid), browser_cpu_s(cdp)
        parts = [cpu_by_part(server.proc.pid)]
        live = tab.evaluate(LIVE, [2, command, "__DONE__"])
        parts.append(cpu_by_part(server.proc.pid))
        server_cpu, browser_cpu = cpu_seconds(server.proc.pid) - cpu[0], browser_cpu_s(cdp) - cpu[1]
        ceiling = tab.evaluate(CEILING, [2, True])
        parts.append(cpu_by_part(server.proc.pid))
        # The ceiling is one short run, so it is taken CEILING_RUNS times and the median kept.
        ceilings = [ceiling] + [tab.evaluate(CEILING, [2, i < CEILING_RUNS - 2]) for i in range(CEILING_RUNS - 1)]
        parts.append(cpu_by_part(server.proc.pid))
    delivery = tab.evaluate(DELIVERY, [ids[3], f"stty -echo; {command}", "__DONE__"])
    parts.append(cpu_by_part(server.proc.pid))
    total, seconds = raw_pty_read(f"cat {data}")
    pty_alone = total / seconds / 1e6
    ceiling_rate = statistics.median(c["bytes"] / c["ms"] / 1e3 for c in ceilings)
    out["throughput"] = {
        "live_MB_per_s": live["bytes"] / live["ms"] / 1e3,
        "ceiling_MB_per_s": ceiling_rate,
        "ceiling_spread": (max(c["bytes"] / c["ms"] for c in ceilings) / min(c["bytes"] / c["ms"] for c in ceilings)),
        "ratio": (live["bytes"] / live["ms"] / 1e3) / ceiling_rate,
        "live_vs_delivery": (live["bytes"] / live["ms"]) / (delivery["bytes"] / delivery["ms"]),
        "delivery_MB_per_s": delivery["bytes"] / delivery["ms"] / 1e3,
        "raw_pty_MB_per_s": pty_alone,
        "raw_pty_vs_ceiling": pty_alone / ceiling_rate,
        "MB": live["bytes"] / 1e6,
        "live_KiB_per_frame": live["bytes"] / max(1, live["frames"]) / 1024,
        "live_server_cpu_s": server_cpu,
        "live_browser_cpu_s": browser_cpu,
        "live_max_stall_ms": live["lag_ms"],
        "ceiling_max_stall_ms": ceiling["lag_ms"],
        # Where each run spent its CPU (seconds by part of the machine; see common.cpu_by_part).
        "cpu": {
            "live": {"wall_s": live["ms"] / 1e3, **cpu_spent(parts[0], parts[1])},
            "ceiling": {"wall_s": ceiling["ms"] / 1e3, **cpu_spent(parts[1], parts[2])},
            "delivery": {"wall_s": delivery["ms"] / 1e3, **cpu_spent(parts[3], parts[4])},
        },
    }
    out["ctrl_c_ms"] = [ctrl_c_under_flood(tab, 1) for _ in range(args.ctrl_c)]
    close_terminals(tab, server, ids)
    return out


def cpu_medians(runs: list[dict]) -> dict:
    """Per phase (live, ceiling, delivery), the median over rounds of each part's CPU seconds (0 where a round
    did not list it)."""
    out = {}
    for phase in runs[0]:
        names = {name for run in runs for name in run[phase]}
        medians = {name: round(statistics.median(run[phase].get(name, 0.0) for run in runs), 3) for name in names}
        out[phase] = dict(sorted(medians.items(), key=lambda kv: (kv[0] != "wall_s", -kv[1])))
    return out


def summarize(rounds: list[dict]) -> dict:
    """Pooled echo percentiles, medians (and ranges) of the throughput rounds, Ctrl-C percentiles."""

    def pooled(key: str, kind: str) -> dict:
        samples = [s for r in rounds for s in r[key][kind]]
        return {k: round(v, 1) for k, v in percentiles(samples).items()} if samples else {}

    ctrl_c = [s for r in rounds for s in r["ctrl_c_ms"]]
    throughput = {}
    for key in rounds[0]["throughput"]:
        if key == "cpu":
            continue
        values = [r["throughput"][key] for r in rounds]
        digits = 3 if key in ("ratio", "live_vs_delivery", "raw_pty_vs_ceiling") else 2
        throughput[key] = {
            "median": round(statistics.median(values), digits),
            "rounds": [round(v, digits) for v in values],
        }
    return {
        "renderers": rounds[0]["renderers"],
        "echo_parsed_ms": pooled("echo", "parsed"),
        "echo_drawn_ms": pooled("echo", "drawn"),
        "echo_parsed_ms_from_dispatch": pooled("echo", "dispatch"),
        "echo_p50_per_round": [round(statistics.median(r["echo"]["parsed"]), 1) for r in rounds],
        "echo_parsed_ms_while_another_session_floods": pooled("echo_flood", "parsed"),
        "echo_drawn_ms_while_another_session_floods": pooled("echo_flood", "drawn"),
        # Where the time under a flood goes: the key event waiting to be handled, the echo on its way (the server
        # and the page's message queue), and from the handler to the parsed echo.
        "echo_stages_while_another_session_floods": {
            "key_event_waits": pooled("echo_flood", "key"),
            "key_handled_to_echo_arrived": pooled("echo_flood", "arrival"),
            "key_handled_to_echo_parsed": pooled("echo_flood", "dispatch"),
        },
        "echo_flood_p50_per_round": [round(statistics.median(r["echo_flood"]["parsed"]), 1) for r in rounds],
        "echo_flood_p99_per_round": [round(percentiles(r["echo_flood"]["parsed"])["p99"], 1) for r in rounds],
        "flood_MB_per_s_during_echo": round(statistics.median(r["flood_MB_per_s_during_echo"] for r in rounds), 2),
        "max_stall_ms_while_flooding": round(max(r["max_stall_ms_while_flooding"] for r in rounds)),
        "throughput": throughput,
        "cpu_s_median_by_part": cpu_medians([r["throughput"]["cpu"] for r in rounds]),
        "ctrl_c_under_flood_ms": {k: round(v) for k, v in percentiles(ctrl_c).items()} if ctrl_c else {},
    }


def flood_memory(server, work: Path, variant: Variant, minutes: float, *, touched: bool = True) -> dict:
    """`yes` for `minutes` in the second terminal of a fresh page in a browser of its own; memory every 30 s.
    `touched`: a click into the terminal first (else the page never has any input)."""
    with chromium() as cdp:
        tab, ids = open_terminals(cdp, server, work, variant)
        if touched:
            click(tab, 1)
        tab.evaluate("() => window.__bench.send(1, 'yes\\n')")
        started, samples = time.monotonic(), []
        first = received(tab, 1)
        while True:
            elapsed = time.monotonic() - started
            samples.append({"t_s": round(elapsed), "server_rss_MiB": round(rss_mib(server.proc.pid), 1)} | tab.memory())
            print(json.dumps({"variant": variant.name, "touched": touched} | samples[-1]), file=sys.stderr, flush=True)
            if elapsed >= minutes * 60:
                break
            time.sleep(min(30.0, minutes * 60 - elapsed))
        through = received(tab, 1) - first
        focus(tab, 1)
        tab.ctrl_c()
        wait_quiet(tab, 1)
        after = {"server_rss_MiB": round(rss_mib(server.proc.pid), 1)} | tab.memory(collect=True)
        close_terminals(tab, server, ids)
    return {"minutes": minutes, "MB_through": round(through / 1e6), "samples": samples, "stopped_then_full_gc": after}


def main() -> None:
    """Run every measurement for every variant and print the figures as JSON (rounds on stderr as they finish)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=200, help="keystrokes per echo measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (a fresh page each)")
    parser.add_argument("--mb", type=int, default=20, help="MB of random bytes, base64-encoded, per round")
    parser.add_argument("--ctrl-c", type=int, default=2, help="Ctrl-C under flood measurements per round")
    parser.add_argument("--flood-minutes", type=float, default=3.0, help="memory test per variant (0 skips it)")
    parser.add_argument(
        "--flood-untouched", action="store_true", help="also run the memory test on a page that never has input"
    )
    parser.add_argument(
        "--only-untouched", action="store_true", help="run the memory test only on a page that never has input"
    )
    parser.add_argument("--variant", action="append", default=[], help="NAME=JSON-config or NAME=file:terminal.js")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="the browser on the last core, the server, its programs and this process on the others (delivery then "
        "does not compete with the page for a core, as on a machine with cores to spare)",
    )
    parser.add_argument(
        "--page-core",
        action="store_true",
        help="during the live and ceiling runs, the page's main thread alone on the first core and every other "
        "thread (kernel workers included) on the others: a model of a machine with a core to spare for the page",
    )
    args = parser.parse_args()
    browser_cpus = None
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            parser.error("--pin needs two cores or more")
        browser_cpus = {cpus[-1]}
        os.sched_setaffinity(0, set(cpus[:-1]))  # the server and everything it starts inherit this
    variants = [Variant.parse(v) for v in args.variant] or [Variant("current", config={})]
    home = scratch_home()
    work = home.parent / "work"
    work.mkdir(parents=True)
    data = work / "data.b64"
    data.write_bytes(base64.encodebytes(os.urandom(args.mb * 1_000_000)))  # 76-column lines, like `base64`
    rng = random.Random(12)
    per_variant: dict[str, list[dict]] = {v.name: [] for v in variants}
    result: dict = {"browser": "chromium (headless, DevTools protocol without the Network domain)", "shell": "/bin/sh"}
    if args.page_core:
        result["page_core"] = "live and ceiling runs: renderer main threads on one core, everything else on the rest"
    if browser_cpus:
        result["pinned"] = {"browser": sorted(browser_cpus), "the rest": sorted(os.sched_getaffinity(0))}
    try:
        with live_server(home, env=maestro_env(home, SHELL="/bin/sh")) as server, chromium(browser_cpus) as cdp:
            try:
                for r in range(args.rounds):
                    for variant in variants[r % len(variants) :] + variants[: r % len(variants)]:
                        figures = measure_round(cdp, server, work, data, variant, args, rng)
                        per_variant[variant.name].append(figures)
                        brief = {
                            "round": r,
                            "variant": variant.name,
                            "echo_p50": statistics.median(figures["echo"]["parsed"]),
                            "flood_echo_p50": statistics.median(figures["echo_flood"]["parsed"]),
                            "flood_echo_p99": percentiles(figures["echo_flood"]["parsed"])["p99"],
                        } | {k: v if isinstance(v, dict) else round(v, 3) for k, v in figures["throughput"].items()}
                        print(json.dumps(brief), file=sys.stderr, flush=True)
                result["load_average"] = os.getloadavg()
                result["variants"] = {name: summarize(rounds) for name, rounds in per_variant.items() if rounds}
                if args.flood_minutes > 0:
                    memory = result["memory_flood"] = {}
                    for v in variants:
                        if not args.only_untouched:
                            memory[v.name] = flood_memory(server, work, v, args.flood_minutes)
                        if args.flood_untouched or args.only_untouched:
                            untouched = flood_memory(server, work, v, args.flood_minutes, touched=False)
                            memory[f"{v.name}, never touched"] = untouched
            finally:
                stop_sessions(server, STARTED)
    finally:
        shutil.rmtree(home.parent, ignore_errors=True)  # recordings of the floods
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
