// The browser half of the replay player (ui/components/replay.py renders the element, the terminal and an empty
// control bar; this module fills the bar and plays).
//
// The recording (asciicast v2) is fetched from /api/v1/sessions/{id}/recording with the page's cookie and parsed
// line by line as it streams in; it never travels over NiceGUI's socket. Its bytes go only into xterm.js, which
// draws them; nothing from the recording or the timeline is ever put into HTML (text goes in as textContent or
// title). Output is written in bounded chunks and the next chunk waits for xterm's write callback, so a 50 MB
// recording neither freezes the page nor piles up in xterm's write buffer. Seeking backwards resets the terminal
// and re-feeds from the start, as fast as xterm parses.

const SPEEDS = [
  ["1", "1×"],
  ["2", "2×"],
  ["8", "8×"],
  ["instant", "Instant"],
];
// xterm.js parses one write without a break (~15 MB/s here): small writes keep every task short.
const PLAY_CHUNK = 64 * 1024; // characters per write while playing in time
const FAST_CHUNK = 256 * 1024; // characters per write while seeking or playing instantly
const PARSE_SLICE_MS = 12; // parsing the download yields to the page this often
const TICK_MS = 50; // the clock, seek bar and time move at least this often while playing
const POLL_MS = 2000; // a live session playing at its end re-fetches the recording this often (at least)
const LIVE = new Set(["spawning", "running", "idle", "needs_input"]);
const OUTPUT = 0;
const RESIZE = 1;
const STYLE_ID = "m-replay-style";

/** Attach a player to the element NiceGUI rendered as `c{rootId}` and its ui.xterm `xtermId` (once each). */
export async function attach(rootId, xtermId) {
  const found = await waitFor(() => {
    const root = document.getElementById(`c${rootId}`);
    const terminal = window.getElement?.(xtermId)?.terminal; // created asynchronously by NiceGUI's xterm component
    return root && terminal ? { root, terminal } : null;
  });
  if (!found || found.root.replayPlayer) return;
  found.root.replayPlayer = new Player(found.root, found.terminal);
}

class Player {
  constructor(root, terminal) {
    this.root = root;
    this.term = terminal;
    this.sessionId = root.dataset.sessionId;
    this.startedMs = Date.parse(root.dataset.started ?? "");
    this.live = root.dataset.live === "true";
    // The recording: a header, then parallel arrays of event times, kinds and data.
    this.header = null;
    this.times = [];
    this.kinds = [];
    this.data = [];
    this.bytes = 0; // bytes of whole lines parsed so far (a refresh skips them)
    this.received = 0; // bytes of the response being read (shown while loading)
    this.loading = false;
    this.failed = false;
    this.lastFetchMs = 0;
    this.lastPoll = 0;
    this.reports = []; // timeline entries: {at: ms since the epoch, kind, message}
    this.lastEntryId = 0;
    this.marks = []; // the same with `t`, seconds into the recording, in time order
    // Playback: events before `pos` are on the screen, `clock` is the time shown.
    this.pos = 0;
    this.clock = 0;
    this.speed = 1;
    this.playing = false;
    this.seeking = false;
    this.dragging = false;
    this.gen = 0; // bumped by every play and seek: an older loop that sees a newer gen stops
    this.inflight = Promise.resolve(); // the write xterm is parsing now: nothing resets the screen before it ends
    this.controller = null; // aborts the download in progress
    this.listening = new AbortController(); // removes the window listener when the player goes away
    addStyle();
    this.build(root.querySelector(".m-replay-controls") ?? root);
    root.addEventListener("keydown", (event) => this.onKey(event));
    this.watcher = new MutationObserver(() => this.render()); // the page says when the session has ended
    this.watcher.observe(root, { attributes: true, attributeFilter: ["data-live"] });
    this.load();
  }

  // ------------------------------------------------------------------------------------------ controls
  build(bar) {
    this.playButton = button("replay-play", "play_arrow", "Play", () => (this.playing ? this.pause() : this.play()));
    this.timeLabel = element("span", { className: "m-replay-time", "data-testid": "replay-time" });
    this.seekBar = element("input", {
      type: "range",
      min: "0",
      max: "0",
      step: "0.01",
      value: "0",
      "aria-label": "Position in the recording",
      "data-testid": "replay-seek",
    });
    this.seekBar.addEventListener("pointerdown", () => (this.dragging = true));
    window.addEventListener("pointerup", () => (this.dragging = false), { signal: this.listening.signal });
    this.seekBar.addEventListener("change", () => (this.dragging = false));
    this.seekBar.addEventListener("input", () => this.seek(this.seekBarTime()));
    this.markerLayer = element("div", { className: "m-replay-markers" });
    const seekBox = element("div", { className: "m-replay-seek" }, this.seekBar, this.markerLayer);
    this.nextButton = button("replay-next-report", "skip_next", "Next report", () => this.nextReport());
    this.speedSelect = element("select", { "aria-label": "Speed", "data-testid": "replay-speed" });
    for (const [value, label] of SPEEDS) this.speedSelect.append(element("option", { value, textContent: label }));
    this.speedSelect.addEventListener("change", () => this.setSpeed(this.speedSelect.value));
    this.refreshButton = button("replay-refresh", "refresh", "Load what it printed since", () => this.refresh());
    this.stateLabel = element("span", { className: "m-replay-note", "data-testid": "replay-state", role: "status" });
    this.reportLabel = element("span", { className: "m-replay-note", "data-testid": "replay-report" });
    const row = element("div", { className: "m-replay-bar" }, this.playButton, this.timeLabel, seekBox);
    const row2 = element("div", { className: "m-replay-bar" }, this.nextButton, this.speedSelect, this.refreshButton);
    row2.append(this.stateLabel, this.reportLabel);
    bar.append(row, row2);
    this.render();
  }

  /** The seek bar's time; its value is rounded to its step, so its last step means the very end. */
  seekBarTime() {
    const value = Number(this.seekBar.value);
    return value >= Number(this.seekBar.max) - Number(this.seekBar.step) ? Infinity : value;
  }

  onKey(event) {
    if (event.target instanceof HTMLSelectElement || event.ctrlKey || event.metaKey || event.altKey) return;
    const actions = {
      " ": () => (this.playing ? this.pause() : this.play()),
      ArrowLeft: () => this.seek(this.clock - 5),
      ArrowRight: () => this.seek(this.clock + 5),
      n: () => this.nextReport(),
    };
    const action = actions[event.key];
    if (!action || (event.target === this.seekBar && event.key.startsWith("Arrow"))) return;
    event.preventDefault();
    event.stopPropagation(); // the page's own shortcuts must not see keys meant for the player
    action();
  }

  render() {
    if (this.root.dataset.live === "false") this.live = false; // the page learnt that the session ended
    this.refreshButton.hidden = !this.live;
    const end = this.end();
    const state = this.state();
    this.root.dataset.state = state;
    this.playButton.disabled = !this.header;
    setIcon(this.playButton, this.playing ? "pause" : "play_arrow", this.playing ? "Pause" : "Play");
    this.playButton.dataset.state = this.playing ? "playing" : "paused";
    this.timeLabel.textContent = `${clockText(this.clock)} / ${clockText(end)}`;
    this.seekBar.max = String(end);
    if (!this.dragging) this.seekBar.value = String(this.clock);
    this.nextButton.disabled = !this.nextMarker();
    const words = {
      loading: `Loading the recording… ${megabytes(this.received)}`,
      seeking: "Seeking…",
      waiting: "Live: waiting for more output",
      empty: this.failure,
      error: this.failure,
    };
    this.stateLabel.textContent = words[state] ?? "";
    const passed = this.lastMarkerBefore(this.clock);
    this.reportLabel.textContent = passed ? `${clockText(passed.t)} ${passed.kind}: ${passed.message}` : "";
  }

  state() {
    if (this.failed) return this.failedAs;
    if (this.seeking) return "seeking";
    if (this.loading && !this.header) return "loading";
    if (this.playing) return this.atEnd() && this.live && !this.loading ? "waiting" : "playing";
    if (this.loading) return "loading";
    return this.clock >= this.end() && this.pos >= this.times.length ? "ended" : "paused";
  }

  drawMarkers() {
    const end = this.end();
    const ticks = this.marks.map((marker) => {
      const tick = element("button", {
        type: "button",
        className: "m-replay-marker",
        title: `${clockText(marker.t)} ${marker.kind}: ${marker.message}`,
        "data-testid": "replay-marker",
        "data-time": marker.t.toFixed(2),
      });
      tick.style.left = `calc(8px + (100% - 16px) * ${end > 0 ? marker.t / end : 0})`;
      tick.addEventListener("click", () => this.seek(marker.t));
      return tick;
    });
    this.markerLayer.replaceChildren(...ticks);
  }

  // ------------------------------------------------------------------------------------------ loading
  async load() {
    await Promise.all([this.fetchRecording(), this.fetchMarkers()]);
    this.drawMarkers();
    this.render();
  }

  /** Load the recording while the session runs: only what was appended since is parsed. */
  async refresh() {
    if (this.loading || !this.root.isConnected) return;
    const [, session] = await Promise.all([this.fetchRecording(), getJson(`/api/v1/sessions/${this.sessionId}`)]);
    await this.fetchMarkers();
    if (session && !LIVE.has(session.status)) this.live = false;
    this.drawMarkers();
    this.render();
  }

  async fetchRecording() {
    const began = performance.now();
    this.loading = true;
    this.render();
    const controller = (this.controller = new AbortController());
    const skip = this.bytes;
    try {
      const response = await fetch(`/api/v1/sessions/${this.sessionId}/recording`, {
        credentials: "same-origin",
        cache: "no-store",
        signal: controller.signal,
      });
      if (response.ok) this.failed = false; // a session that had no recording yet may have one now
      else {
        if (response.status === 404) this.fail("No recording for this session.", "empty");
        else this.fail(await errorText(response));
        return;
      }
      await this.parseStream(response.body.getReader(), skip);
    } catch (error) {
      if (error.name !== "AbortError") this.fail(`Could not load the recording: ${error.message}`);
    } finally {
      this.loading = false;
      this.lastFetchMs = performance.now() - began;
      this.render();
    }
  }

  /** Parse whole lines as they arrive; `this.bytes` counts exactly the bytes parsed (a refresh skips them). */
  async parseStream(reader, skip) {
    const decoder = new TextDecoder();
    let tail = new Uint8Array(0); // the start of a line whose end has not arrived yet
    let received = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!this.root.isConnected) return this.dispose();
      received += value.length;
      this.received = received;
      if (received <= skip) continue; // a refresh: these lines were parsed before (the recording only grows)
      const chunk = received - value.length < skip ? value.subarray(skip - (received - value.length)) : value;
      const cut = chunk.lastIndexOf(10) + 1; // after the last newline
      if (!cut) {
        tail = joined(tail, chunk);
        continue;
      }
      const whole = joined(tail, chunk.subarray(0, cut));
      tail = chunk.slice(cut);
      const lines = decoder.decode(whole).split("\n"); // whole lines hold whole characters
      let slice = performance.now();
      for (const line of lines) {
        if (this.failed) return;
        this.parseLine(line);
        if (performance.now() - slice > PARSE_SLICE_MS) {
          await sleep(0);
          slice = performance.now();
        }
      }
      this.bytes += whole.length;
      this.render();
    }
    if (received < skip) this.fail("The recording changed on the server; reload the page.");
  }

  parseLine(line) {
    if (!line) return;
    let value;
    try {
      value = JSON.parse(line);
    } catch {
      return; // a damaged line is skipped, the rest still plays
    }
    if (this.header === null) {
      if (!value || value.version !== 2) return this.fail("This is not an asciicast v2 recording.");
      this.header = value;
      if (!Number.isFinite(this.startedMs)) this.startedMs = (value.timestamp ?? 0) * 1000;
      this.placeReports();
      this.resizeTo(value.width, value.height);
      return;
    }
    if (!Array.isArray(value) || typeof value[0] !== "number" || typeof value[2] !== "string") return;
    const kind = value[1] === "o" ? OUTPUT : value[1] === "r" ? RESIZE : null;
    if (kind === null) return; // input ("i") and markers ("m") are not drawn
    const last = this.times.length ? this.times[this.times.length - 1] : 0;
    this.times.push(Math.max(last, value[0]));
    this.kinds.push(kind);
    this.data.push(value[2]);
  }

  /** The session's timeline entries after the last one seen (a refresh asks only for new ones). */
  async fetchMarkers() {
    for (;;) {
      const url = `/api/v1/sessions/${this.sessionId}/timeline?limit=500&after=${this.lastEntryId}`;
      const page = await getJson(url);
      if (!Array.isArray(page) || !page.length) break;
      for (const entry of page) {
        const at = Date.parse(entry.created_at);
        if (Number.isFinite(at)) this.reports.push({ at, kind: String(entry.kind), message: String(entry.message) });
      }
      this.lastEntryId = page[page.length - 1].id;
      if (page.length < 500) break;
    }
    this.placeReports();
  }

  /** Reports at their time in the recording: seconds since the session started (the recording's start). */
  placeReports() {
    if (!Number.isFinite(this.startedMs)) return;
    this.marks = this.reports
      .map((report) => ({ ...report, t: Math.max(0, (report.at - this.startedMs) / 1000) }))
      .sort((a, b) => a.t - b.t);
  }

  fail(message, state = "error") {
    this.failed = true;
    this.failedAs = state;
    this.failure = message;
    this.playing = false;
    this.render();
  }

  /** The element left the page: stop playing, downloading and listening. */
  dispose() {
    this.gen++;
    this.playing = false;
    this.controller?.abort();
    this.listening.abort();
    this.watcher.disconnect();
  }

  // ------------------------------------------------------------------------------------------ playback
  play() {
    if (!this.header || this.failed) return;
    this.playing = true;
    if (this.seeking) return this.render(); // the seek resumes playing when it is done
    if (this.atEnd() && !this.live && this.clock >= this.end()) {
      this.seek(0); // at the end, play starts over
      return;
    }
    this.run(++this.gen);
  }

  pause() {
    this.playing = false; // the loop stops at its next step
    this.render();
  }

  setSpeed(value) {
    this.speed = value === "instant" ? Infinity : Number(value);
    this.speedSelect.value = value;
  }

  nextReport() {
    const marker = this.nextMarker();
    if (marker) this.seek(marker.t);
  }

  async run(gen) {
    let wall = performance.now();
    while (this.gen === gen && this.playing) {
      if (!this.root.isConnected) return this.dispose();
      const now = performance.now();
      const target = this.speed === Infinity ? Infinity : this.clock + ((now - wall) / 1000) * this.speed;
      wall = now;
      const reached = await this.feed(target, this.speed === Infinity ? FAST_CHUNK : PLAY_CHUNK);
      if (this.gen !== gen) return;
      // Behind (xterm could not keep up): the clock shows what is on the screen, and time runs on from there.
      this.clock = reached ? Math.min(target, this.end()) : this.times[this.pos - 1];
      if (this.atEnd() && this.clock >= this.end() && !this.loading) {
        if (!this.live) {
          this.playing = false;
          this.render();
          return;
        }
        this.pollLive();
      }
      this.render();
      const next = this.times[this.pos];
      const wait = next === undefined ? TICK_MS : Math.min(TICK_MS, ((next - this.clock) / this.speed) * 1000);
      await sleep(Math.max(0, wait));
    }
    if (this.gen === gen) this.render();
  }

  /** Move to `seconds`: forward by feeding what lies between, backward by resetting and re-feeding from 0. */
  async seek(seconds) {
    if (!this.header) return;
    const gen = ++this.gen;
    const target = Math.max(0, Math.min(Number.isNaN(seconds) ? 0 : seconds, this.end())); // Infinity: the end
    this.seeking = true;
    this.clock = target; // the bar and time follow the hand at once; the screen catches up
    this.render();
    await this.inflight; // never reset the screen while xterm still parses an earlier write
    if (this.gen !== gen) return;
    if (this.pos > 0 && this.times[this.pos - 1] > target) this.resetScreen();
    while (!(await this.feed(target, FAST_CHUNK))) {
      if (this.gen !== gen) return;
    }
    if (this.gen !== gen) return;
    this.seeking = false;
    this.clock = target;
    this.render();
    if (this.playing) this.run(gen);
  }

  /** Write events up to `target` seconds, at most about `budget` characters; true once nothing up to it is left. */
  feed(target, budget) {
    const parts = [];
    let size = 0;
    const count = this.times.length;
    while (this.pos < count && this.times[this.pos] <= target && size < budget) {
      if (this.kinds[this.pos] === RESIZE) {
        if (parts.length) break; // the output before a resize is drawn at the old size
        this.resizeTo(...this.data[this.pos].split("x").map(Number));
      } else {
        parts.push(this.data[this.pos]);
        size += this.data[this.pos].length;
      }
      this.pos++;
    }
    const reached = !(this.pos < count && this.times[this.pos] <= target);
    if (!parts.length) return Promise.resolve(reached);
    this.inflight = new Promise((resolve) => this.term.write(parts.join(""), resolve));
    return this.inflight.then(() => reached);
  }

  resetScreen() {
    this.term.reset();
    this.resizeTo(this.header.width, this.header.height);
    this.pos = 0;
  }

  resizeTo(cols, rows) {
    const clamp = (value, high) => Math.max(1, Math.min(high, Math.floor(value) || 1));
    this.term.resize(clamp(cols, 1000), clamp(rows, 500));
  }

  pollLive() {
    const interval = Math.max(POLL_MS, 10 * this.lastFetchMs); // a big recording is fetched less often
    if (performance.now() - this.lastPoll < interval) return;
    this.lastPoll = performance.now();
    this.refresh();
  }

  // ------------------------------------------------------------------------------------------ time
  atEnd() {
    return this.pos >= this.times.length;
  }

  end() {
    const last = this.times.length ? this.times[this.times.length - 1] : 0;
    return Math.max(last, this.marks.length ? this.marks[this.marks.length - 1].t : 0);
  }

  nextMarker() {
    return this.marks.find((marker) => marker.t > this.clock + 0.005);
  }

  lastMarkerBefore(seconds) {
    return this.marks.findLast((marker) => marker.t <= seconds + 0.005);
  }
}

// -------------------------------------------------------------------------------------------- helpers
function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "className" || name === "textContent" || name === "title" || name === "value") node[name] = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function joined(first, second) {
  if (!first.length) return second;
  const both = new Uint8Array(first.length + second.length);
  both.set(first);
  both.set(second, first.length);
  return both;
}

function button(testId, icon, label, onClick) {
  const node = element("button", { type: "button", className: "m-replay-btn", "data-testid": testId });
  node.append(element("i", { className: "material-icons", "aria-hidden": "true" }), element("span"));
  setIcon(node, icon, label);
  node.addEventListener("click", onClick);
  return node;
}

function setIcon(node, icon, label) {
  node.firstChild.textContent = icon;
  node.lastChild.textContent = label;
  node.title = label;
}

function clockText(seconds) {
  const whole = Math.max(0, Math.floor(seconds || 0));
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const secs = String(whole % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${secs}` : `${minutes}:${secs}`;
}

function megabytes(bytes) {
  return bytes >= 1e5 ? `${(bytes / 1e6).toFixed(1)} MB` : "";
}

async function getJson(url) {
  try {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

async function errorText(response) {
  try {
    const body = await response.json();
    return `Could not load the recording: ${body.detail ?? response.statusText}`;
  } catch {
    return `Could not load the recording (HTTP ${response.status}).`;
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(probe, timeoutMs = 20000) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value || performance.now() > deadline) return value;
    await sleep(50);
  }
}

function addStyle() {
  if (document.getElementById(STYLE_ID)) return;
  const style = element("style", { id: STYLE_ID });
  style.textContent = `
    .m-replay { display: flex; flex-direction: column; gap: 6px; outline: none; }
    .m-replay-screen { overflow: auto; max-width: 100%; background: #0b1120; border-radius: 4px; padding: 4px; }
    .m-replay-bar { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
    .m-replay-btn { display: inline-flex; align-items: center; gap: 4px; padding: 2px 10px; font: inherit;
      font-size: 13px; color: inherit; background: transparent; border: 1px solid rgba(128, 128, 128, 0.45);
      border-radius: 4px; cursor: pointer; }
    .m-replay-btn .material-icons { font-size: 18px; }
    .m-replay-btn:disabled { opacity: 0.4; cursor: default; }
    .m-replay-btn[hidden] { display: none; }
    .m-replay select { font: inherit; font-size: 13px; color: inherit; background: transparent; padding: 2px 4px;
      border: 1px solid rgba(128, 128, 128, 0.45); border-radius: 4px; }
    .body--dark .m-replay select option { background: #1e293b; }
    .m-replay-time { font-family: monospace; font-size: 13px; min-width: 8.5em; }
    .m-replay-seek { position: relative; flex: 1 1 240px; min-width: 160px; height: 28px; display: flex;
      align-items: center; }
    .m-replay-seek input { width: 100%; margin: 0; }
    .m-replay-markers { position: absolute; inset: 0; pointer-events: none; }
    .m-replay-marker { position: absolute; top: 0; width: 6px; height: 9px; margin-left: -3px; padding: 0;
      background: #f59e0b; border: none; border-radius: 1px; cursor: pointer; pointer-events: auto; }
    .m-replay-note { font-size: 12px; opacity: 0.8; overflow-wrap: anywhere; }
  `;
  document.head.append(style);
}
