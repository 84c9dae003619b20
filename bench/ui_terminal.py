"""The browser terminal measured in a real browser (Debian chromium) against a real `maestro serve`.

1. Keystroke echo: a key pressed in the page's terminal (`cat` reading, pty echo on) until the character is in
   xterm.js's buffer (the write callback of the frame that carries it), timed in the page from the keydown event,
   so the test driver's own latency is excluded; without and then with another session in the same page flooding
   (`yes`). Targets (issue 12): p50 <= 5 ms, p99 <= 20 ms.
2. Output throughput: `cat` of a base64 file into the page's terminal, from the command sent until the marker after
   it is parsed, against xterm.js's own parse rate in the same page: the same bytes, as received, written straight
   into the same Terminal (the ceiling); interleaved rounds. Target: >= 80% of the ceiling. The longest stall of
   the page's main thread (a 10 ms interval timer's lateness) is reported for both. Also per round, "delivery":
   the same command's output over a WebSocket of its own into the page, acknowledged on arrival and not parsed.
3. Ctrl-C under flood: from the keydown of Ctrl-C in a terminal running `yes` until its last output byte is parsed.
4. Memory after `--flood-minutes` of a flooding agent in an open tab: server RSS, and the tab's JS heap and
   renderer RSS (Chrome DevTools Protocol), sampled every 30 s.
Run: .venv/bin/python bench/ui_terminal.py [--keys 300] [--rounds 5] [--mb 20] [--flood-minutes 10]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

from common import cpu_seconds, live_server, maestro_env, percentiles, rss_mib, scratch_home, shell_session
from playwright.sync_api import Page, sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]
LINK = "id => window.maestroTerminal.get(id)"

# Page-side probes. `link` is static/terminal.js's TerminalLink; listeners run when a frame has been parsed.
SETUP = """() => {
  const links = () => [...document.querySelectorAll('[data-testid="terminal"]')]
    .map(el => window.maestroTerminal.get(Number(el.id.slice(1))));
  window.__bench = {links};
  // Main-thread stalls: how late a 10 ms interval fires.
  window.__lag = {max: 0, last: performance.now()};
  setInterval(() => {
    const now = performance.now();
    window.__lag.max = Math.max(window.__lag.max, now - window.__lag.last - 10);
    window.__lag.last = now;
  }, 10);
}"""

ECHO_SETUP = """index => {
  const link = window.__bench.links()[index];
  window.__echo = {pending: null, samples: []};
  document.addEventListener('keydown', e => {
    if (e.key.length === 1 && !e.ctrlKey) window.__echo.pending = {code: e.key.charCodeAt(0), t: performance.now()};
  }, true);
  link.listeners.add(bytes => {
    const p = window.__echo.pending;
    if (p && bytes.includes(p.code)) {
      window.__echo.samples.push(performance.now() - p.t);
      window.__echo.pending = null;
    }
  });
}"""

LIVE = """async ([index, command, marker]) => {
  const link = window.__bench.links()[index];
  const chunks = [];
  const codes = [...marker].map(c => c.charCodeAt(0));
  const hasMarker = bytes => {
    outer: for (let i = 0; i <= bytes.length - codes.length; i++) {
      for (let j = 0; j < codes.length; j++) if (bytes[i + j] !== codes[j]) continue outer;
      return true;
    }
    return false;
  };
  window.__lag.max = 0;
  return await new Promise(resolve => {
    let started;
    const listener = bytes => {
      chunks.push(bytes);
      if (hasMarker(bytes)) {
        const elapsed = performance.now() - started;
        link.listeners.delete(listener);
        window.__captured = chunks;
        resolve({bytes: chunks.reduce((n, c) => n + c.length, 0), ms: elapsed, lag_ms: window.__lag.max});
      }
    };
    link.listeners.add(listener);
    started = performance.now();
    link.send(new TextEncoder().encode(command));
  });
}"""

CEILING = """async index => {
  const term = window.__bench.links()[index].term;
  const chunks = window.__captured;
  term.reset();
  window.__lag.max = 0;
  return await new Promise(resolve => {
    const started = performance.now();
    chunks.forEach((chunk, i) => term.write(chunk, i === chunks.length - 1 ? () => resolve({
      bytes: chunks.reduce((n, c) => n + c.length, 0), ms: performance.now() - started, lag_ms: window.__lag.max,
    }) : undefined));
  });
}"""

# The same command's output over its own WebSocket into the page, acknowledged on arrival and not parsed: what the
# server, the pty and Chromium's network path deliver when xterm.js takes no CPU (a session not shown in the page).
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
    if (e.ctrlKey && e.key.toLowerCase() === 'c') window.__ctrlc = {pressed: performance.now(), last: null};
  }, true);
  link.listeners.add(() => { if (window.__ctrlc.pressed !== null) window.__ctrlc.last = performance.now(); });
}"""


def type_command(page: Page, index: int, text: str) -> None:
    page.get_by_test_id("terminal").nth(index).click()
    page.keyboard.type(text)


def received(page: Page, index: int) -> int:
    return page.evaluate("i => window.__bench.links()[i].received", index)


def echo_latency(page: Page, index: int, keys: int) -> dict:
    """Press `keys` keys one at a time into `cat` in terminal `index`; each sample is keydown → echo parsed."""
    page.evaluate("() => { window.__echo.samples = []; }")
    page.get_by_test_id("terminal").nth(index).click()
    for i in range(keys):
        page.keyboard.press("abcdefghij"[i % 10])
        page.wait_for_function("n => window.__echo.samples.length >= n", arg=i + 1)
    return percentiles(page.evaluate("window.__echo.samples"))


def ctrl_c_under_flood(page: Page, index: int, rounds: int) -> dict:
    """Start `yes`, let it flood, press Ctrl-C; keydown → the last output byte parsed (the output then stops)."""
    samples = []
    for _ in range(rounds):
        type_command(page, index, "yes\n")
        start = received(page, index)
        page.wait_for_function(
            "([i, n]) => window.__bench.links()[i].received > n + 3e6", arg=[index, start], timeout=60_000
        )
        page.keyboard.press("Control+C")
        quiet_since, last = time.monotonic(), received(page, index)
        while time.monotonic() - quiet_since < 1.0:  # one second without output: it stopped
            time.sleep(0.1)
            now = received(page, index)
            if now != last:
                quiet_since, last = time.monotonic(), now
        state = page.evaluate("window.__ctrlc")
        samples.append(state["last"] - state["pressed"])
    return percentiles(samples)


def browser_cpu_s(cdp_browser) -> float:
    """CPU seconds used so far by every process of the browser (CDP SystemInfo)."""
    return sum(p["cpuTime"] for p in cdp_browser.send("SystemInfo.getProcessInfo")["processInfo"])


def renderer_memory(page: Page, cdp_browser, *, collect: bool = False) -> dict:
    """The tab's JS heap (CDP Performance) and its renderer's RSS (MiB): the largest renderer process, as the
    browser runs only this tab (CDP does not say which renderer is whose). `collect` forces a full GC first."""
    session = page.context.new_cdp_session(page)
    if collect:
        session.send("HeapProfiler.collectGarbage")
        time.sleep(2)
    session.send("Performance.enable")
    metrics = {m["name"]: m["value"] for m in session.send("Performance.getMetrics")["metrics"]}
    session.detach()
    processes = cdp_browser.send("SystemInfo.getProcessInfo")["processInfo"]
    renderers = [p["id"] for p in processes if p["type"] == "renderer" and Path(f"/proc/{p['id']}").exists()]
    return {
        "js_heap_MiB": round(metrics["JSHeapUsedSize"] / 2**20, 1),
        "renderer_rss_MiB": round(max(rss_mib(pid) for pid in renderers), 1),
    }


def flood_memory(page: Page, server, cdp_browser, index: int, minutes: float) -> dict:
    """`yes` in terminal `index` for `minutes`; memory sampled every 30 s (and the bytes that went through)."""
    type_command(page, index, "yes\n")
    started, samples = time.monotonic(), []
    first_bytes = received(page, index)
    while True:
        elapsed = time.monotonic() - started
        samples.append(
            {"t_s": round(elapsed), "server_rss_MiB": round(rss_mib(server.proc.pid), 1)}
            | renderer_memory(page, cdp_browser)
        )
        print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
        if elapsed >= minutes * 60:
            break
        time.sleep(min(30.0, minutes * 60 - elapsed))
    total = received(page, index) - first_bytes
    page.get_by_test_id("terminal").nth(index).click()
    page.keyboard.press("Control+C")
    page.wait_for_timeout(1000)
    after_gc = {"server_rss_MiB": round(rss_mib(server.proc.pid), 1)} | renderer_memory(page, cdp_browser, collect=True)
    return {"minutes": minutes, "MB_through": round(total / 1e6), "samples": samples, "stopped_then_full_gc": after_gc}


def main() -> None:
    """Run every measurement and print the figures as JSON (rounds on stderr as they finish)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=300, help="keystrokes per echo measurement")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved throughput rounds")
    parser.add_argument("--mb", type=int, default=20, help="MB of random bytes, base64-encoded, per round")
    parser.add_argument("--flood-minutes", type=float, default=10.0, help="memory test duration (0 skips it)")
    args = parser.parse_args()
    home = scratch_home()
    work = home.parent / "work"
    work.mkdir(parents=True)
    data = work / "data.b64"
    data.write_bytes(base64.encodebytes(os.urandom(args.mb * 1_000_000)))  # 76-column lines, like `base64`
    result: dict = {"browser": "chromium (headless)", "shell": "/bin/sh"}
    try:
        with live_server(home, env=maestro_env(home, SHELL="/bin/sh")) as server, sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
            cdp_browser = browser.new_browser_cdp_session()
            ids = [shell_session(server, name, str(work)) for name in ("echo", "flood", "throughput")]
            unseen = shell_session(server, "delivery", str(work))
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{server.url}?token={server.token}")
            page.goto(f"{server.url}terminals?ids={','.join(ids)}")
            for i in range(3):
                page.get_by_test_id("terminal-state").nth(i).and_(page.locator("[data-state=connected]")).wait_for()
            page.evaluate(SETUP)
            page.evaluate(ECHO_SETUP, 0)
            page.evaluate(CTRL_C_SETUP, 1)
            type_command(page, 0, "exec cat\n")
            page.wait_for_timeout(500)
            echo_latency(page, 0, 20)  # warm-up
            result["echo_ms"] = echo_latency(page, 0, args.keys)
            type_command(page, 1, "yes\n")
            page.wait_for_function("() => window.__bench.links()[1].received > 3e6", timeout=60_000)
            page.evaluate("() => { window.__lag.max = 0; }")
            result["echo_ms_while_another_session_floods"] = echo_latency(page, 0, args.keys)
            result["max_main_thread_stall_ms_while_flooding"] = round(page.evaluate("window.__lag.max"))
            before, t0 = received(page, 1), time.monotonic()
            page.wait_for_timeout(2000)
            result["flood_MB_per_s_during_echo"] = round(
                (received(page, 1) - before) / (time.monotonic() - t0) / 1e6, 1
            )
            page.get_by_test_id("terminal").nth(1).click()
            page.keyboard.press("Control+C")
            page.wait_for_timeout(1000)

            type_command(page, 2, "stty -echo\n")
            page.wait_for_timeout(300)
            rounds = []
            command = f"cat {data}; echo __DO''NE__\n"
            for _ in range(args.rounds):
                cpu = cpu_seconds(server.proc.pid), browser_cpu_s(cdp_browser)
                live = page.evaluate(LIVE, [2, command, "__DONE__"])
                live_cpu = cpu_seconds(server.proc.pid) - cpu[0], browser_cpu_s(cdp_browser) - cpu[1]
                ceiling = page.evaluate(CEILING, 2)
                delivery = page.evaluate(DELIVERY, [unseen, f"stty -echo; {command}", "__DONE__"])
                entry = {
                    "live_MB_per_s": round(live["bytes"] / live["ms"] / 1e3, 2),
                    "ceiling_MB_per_s": round(ceiling["bytes"] / ceiling["ms"] / 1e3, 2),
                    "delivery_MB_per_s": round(delivery["bytes"] / delivery["ms"] / 1e3, 2),
                    "MB": round(live["bytes"] / 1e6, 1),
                    "live_server_cpu_s": round(live_cpu[0], 2),
                    "live_browser_cpu_s": round(live_cpu[1], 2),
                    "live_max_stall_ms": round(live["lag_ms"]),
                    "ceiling_max_stall_ms": round(ceiling["lag_ms"]),
                }
                entry["ratio"] = round(entry["live_MB_per_s"] / entry["ceiling_MB_per_s"], 3)
                rounds.append(entry)
                print(json.dumps(entry), file=sys.stderr, flush=True)
                page.evaluate("() => { window.__captured = null; }")
            result["throughput_rounds"] = rounds
            result["throughput_median"] = {
                key: statistics.median(r[key] for r in rounds)
                for key in (
                    "live_MB_per_s",
                    "ceiling_MB_per_s",
                    "delivery_MB_per_s",
                    "ratio",
                    "live_server_cpu_s",
                    "live_browser_cpu_s",
                    "live_max_stall_ms",
                    "ceiling_max_stall_ms",
                )
            }
            result["ctrl_c_under_flood_ms"] = ctrl_c_under_flood(page, 1, 5)
            result["memory_before_flood"] = {"server_rss_MiB": round(rss_mib(server.proc.pid), 1)} | renderer_memory(
                page, cdp_browser
            )
            if args.flood_minutes > 0:
                result["memory_flood"] = flood_memory(page, server, cdp_browser, 1, args.flood_minutes)
            browser.close()
    finally:
        shutil.rmtree(home.parent, ignore_errors=True)  # recordings of the floods
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
