// Maestro's browser terminal: attaches a NiceGUI `ui.xterm` to a session's terminal WebSocket.
//
// The page calls `maestroTerminal.attach(elementId, sessionId, stateId)` (ui/components/terminal.py). Terminal bytes
// travel only over /api/v1/sessions/{id}/terminal (docs/api.md), never over NiceGUI's socket:
// - binary frames both ways; flow control by acknowledgements: up to 512 KiB is acknowledged on arrival, the rest
//   once xterm.js has parsed it, and the server stops reading the pty while 1 MiB more is unacknowledged, so a
//   flooding program blocks instead of freezing the tab (and this tab never holds more than about 1.5 MiB);
// - output is handed to xterm.js in slices of about 8 ms of parsing, one task each, so a flooding terminal never
//   holds the page for long; right after a key, the other terminals of the page wait for its echo, and for a
//   second after it they acknowledge nothing, so a flood next to the terminal being typed into pauses instead of
//   taking the CPU its echo needs (flow control holds it back as for any slow reader; it goes on when typing stops);
// - drawn by xterm.js's WebGL renderer (static/vendor/) where a GPU draws WebGL, else by its DOM renderer (also
//   the fallback when WebGL fails or its context is lost);
// - Ctrl-C (or Ctrl-\) during a flood skips the output still waiting to be drawn, as a tty flushes on interrupt;
// - the terminal fits its container and tells the server its size (`resize`);
// - keys typed while it connects or reconnects are sent once it is connected (up to 4 KiB); a terminal attached
//   with {focus: true} takes the keyboard focus, and keys typed before xterm.js is ready are its own too (not
//   the page's shortcuts), from this page and, carried over, from the page that asked for the shell
//   (static/type_ahead.js);
// - after a dropped connection it reconnects by itself with `?offset=N` (the next byte it has not received), so
//   nothing is shown twice; a `gap` frame says what the server no longer had;
// - a tab hidden for a few seconds detaches (its throttled timers would slow the program) and resumes when shown;
// - the state element says connecting / connected / reconnecting / paused / ended; the terminal says how it ended.
// NiceGUI's xterm.js instance is replaced by one without NiceGUI's per-event relay (see ownTerminal).
// Page-wide MutationObservers (NiceGUI's Tailwind) do not see its rows redrawn: static/terminal_observers.js.
// OSC 52 clipboard writes from the program are swallowed; links are clickable (NiceGUI loads the web-links
// addon); selecting text copies it; Ctrl+V and Ctrl+Shift+V paste, Ctrl+Shift+C copies.
(() => {
  "use strict";

  const NO_TERMINAL = 4404; // app/models/close_codes.py
  const BAD_REQUEST = 4400;
  const INPUT_OVERFLOW = 4413;
  const RETRY_FIRST_MS = 250;
  const RETRY_MAX_MS = 2000;
  const HIDDEN_DETACH_MS = 3000;
  const TYPE_AHEAD_MAX = 4096; // keys typed while (re)connecting, sent once connected; beyond this they are dropped
  const FLUSH_ABOVE = 256 * 1024; // Ctrl-C with more than this waiting skips it, as a tty flushes on interrupt
  const INTERRUPT = /[\x03\x1c]/; // Ctrl-C, Ctrl-\
  // Benchmarks and diagnostics may set window.maestroTerminalConfig before this script runs.
  const CONFIG = Object.assign(
    {
      // "auto": WebGL where the GPU draws it, else the DOM renderer. "webgl" also takes WebGL drawn in software
      // (SwiftShader: measured several times slower on text-heavy output, though its memory stays flat); "dom".
      renderer: "auto",
      sliceMs: 8, // parse time of one slice: what a key or an echo in another terminal waits for a flooding one
      firstSlice: 16 * 1024, // bytes in a slice before the parse rate of this output is known
      maxSlice: 256 * 1024,
      ackBatch: 64 * 1024, // acknowledge parsed output in batches (and whenever everything is parsed)
      cushion: 512 * 1024, // output acknowledged on arrival, before it is parsed (the server pauses at 1 MiB)
      holdMs: 50, // after a key, other terminals hold their output this long at most, until its echo is parsed
      // After a key, the other terminals of the page acknowledge nothing for this long: a flood next to the
      // terminal being typed into pauses (the server stops at 1 MiB unacknowledged) instead of taking the CPU the
      // echo needs. Output at a reading pace never comes near 1 MiB in that time and flows on.
      quietMs: 1000,
      inlineUntilInput: true, // see lightUntilInput
      // A terminal receiving more than floodBytes within FLOOD_WINDOW_MS, without a pause of FLOOD_GAP_MS (or with
      // that much waiting to be parsed), is drawn at most floodFps times a second (static/terminal_frames.js); 0
      // draws every frame.
      floodFps: 10,
      floodBytes: 32 * 1024,
    },
    window.maestroTerminalConfig || {},
  );
  const MIN_SLICE = 1024;
  const FLOOD_WINDOW_MS = 100;
  const FLOOD_GAP_MS = 25; // output paused this long: the flood is over (or paused), and what it left is drawn
  const encoder = new TextEncoder();
  const links = new Map(); // element id -> TerminalLink
  const scriptBase = document.currentScript ? document.currentScript.src : location.href;
  const WEBGL_ADDON = "vendor/xterm-addon-webgl-0.18.0/addon-webgl.js"; // @xterm/addon-webgl for xterm.js 5.5
  let webglAddon = null; // promise of the addon's class (null: none), probed and loaded once per page

  // The terminal typed into last: until its next output is parsed (at most CONFIG.holdMs) the other terminals of
  // the page hold theirs back, so a flood next to it does not delay the echo.
  const typing = { link: null, timer: null };
  const held = new Set();
  function typedInto(link) {
    if (!CONFIG.holdMs) return;
    typing.link = link;
    clearTimeout(typing.timer);
    typing.timer = setTimeout(releaseHeld, CONFIG.holdMs);
    const until = performance.now() + CONFIG.quietMs;
    for (const other of links.values()) if (other !== link) other.quietUntil = until;
  }
  function releaseHeld() {
    typing.link = null;
    clearTimeout(typing.timer);
    for (const link of held) nextTask(() => link.pump());
    held.clear();
  }

  // One task per slice: a message posted to ourselves runs after the tasks already queued (a WebSocket message,
  // a key) and, unlike a timer, is never clamped to 4 ms when chained.
  const slices = [];
  const channel = new MessageChannel();
  channel.port1.onmessage = () => slices.shift()();
  function nextTask(fn) {
    slices.push(fn);
    channel.port2.postMessage(null);
  }

  // The WebGL addon's class when this browser can draw with WebGL2 (on the GPU unless `software`), else null.
  function webglRenderer(software) {
    if (!webglAddon) {
      webglAddon = !webglContext(software)
        ? Promise.resolve(null)
        : new Promise((resolve) => {
            const script = document.createElement("script");
            script.src = new URL(WEBGL_ADDON, scriptBase).href;
            script.onload = () => resolve((window.WebglAddon || {}).WebglAddon || null);
            script.onerror = () => resolve(null);
            document.head.appendChild(script);
          });
    }
    return webglAddon;
  }

  // A probe context, given back at once. Chromium hands out SwiftShader (the CPU) when there is no usable GPU,
  // even to failIfMajorPerformanceCaveat; the renderer's name tells.
  const SOFTWARE_GL = /swiftshader|llvmpipe|softpipe|software|basic render/i;
  function webglContext(software) {
    try {
      const gl = document.createElement("canvas").getContext("webgl2", { failIfMajorPerformanceCaveat: !software });
      if (!gl) return false;
      const info = gl.getExtension("WEBGL_debug_renderer_info");
      const name = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : "";
      const lose = gl.getExtension("WEBGL_lose_context");
      if (lose) lose.loseContext();
      return software || !SOFTWARE_GL.test(name);
    } catch {
      return false;
    }
  }

  function dim(text) {
    return `\r\n\x1b[2m[${text}]\x1b[0m\r\n`;
  }

  // A page whose terminal is where the person types (a running session's page: its <script> tag says
  // data-catch-keys) keeps the keys typed before the terminal is ready: the page shows before its connection to
  // the server is up and the terminal attached, and a person who just pressed `s` for a shell types on at once.
  // They are carried on with those typed on the page that asked for the shell (static/type_ahead.js, loaded
  // before this script), instead of reaching the page's shortcuts (another `s` would start another shell).
  if (document.currentScript && "catchKeys" in document.currentScript.dataset && window.maestroKeys) {
    window.maestroKeys.carry({ resume: true });
  }

  // Until a page has had input (a click, key, touch or wheel), Chromium's Largest Contentful Paint bookkeeping
  // keeps a record of each new block of text it paints, and xterm.js's DOM renderer draws every run of a row as an
  // inline-block span, each one such a block, new every frame: a flooding terminal that is only watched grew the
  // tab by ~2 MiB/s, garbage that no collection came for in 10 minutes (docs/performance.md). Plain inline spans
  // make the row (which xterm.js keeps) the block, recorded once. Cells stay where they are (xterm.js aligns them
  // with letter-spacing); a coloured background spans the text's height rather than the row's. After the first
  // input Chromium records nothing more, and the spans are xterm.js's own again.
  function lightUntilInput() {
    if (!CONFIG.inlineUntilInput) return;
    const root = document.documentElement;
    const style = document.createElement("style");
    style.textContent = "html:not(.m-had-input) .xterm .xterm-rows span { display: inline !important; }";
    document.head.appendChild(style);
    const kinds = ["pointerdown", "keydown", "touchstart", "wheel"];
    const hadInput = (event) => {
      if (!event.isTrusted) return;
      root.classList.add("m-had-input");
      for (const kind of kinds) window.removeEventListener(kind, hadInput, true);
    };
    for (const kind of kinds) window.addEventListener(kind, hadInput, { capture: true, passive: true });
  }
  lightUntilInput();

  class TerminalLink {
    constructor(elementId, sessionId, stateId, options = {}) {
      this.elementId = elementId;
      this.wantsFocus = Boolean(options.focus);
      this.sessionId = sessionId;
      this.stateId = stateId;
      this.position = null; // offset of the next output byte; null until the server said where we start
      this.ws = null;
      this.retryMs = RETRY_FIRST_MS;
      this.ended = false;
      this.disposed = false;
      this.unacked = 0; // output bytes to acknowledge in the next ack
      this.credit = 0; // output bytes acknowledged on arrival and not parsed yet (at most CONFIG.cushion)
      this.received = 0; // output bytes received (diagnostics and benchmarks)
      this.parsed = 0; // output bytes done with: parsed by xterm.js, or skipped after Ctrl-C (all acknowledged)
      this.skipped = 0;
      this.frames = 0;
      // Output (and notes about it) not yet handed to xterm.js, in order: {data, length: its output bytes (0 for a
      // note), ws: the socket it came over, early: its bytes acknowledged on arrival}.
      this.queue = [];
      this.queued = 0; // output bytes in the queue
      this.inXterm = 0; // writes handed to xterm.js that it has not parsed yet (one slice at a time)
      this.rate = CONFIG.firstSlice / CONFIG.sliceMs; // recent parse rate, bytes per ms: sizes the next slice
      this.sliceStart = 0;
      this.renderer = "dom";
      this.listeners = new Set(); // benchmarks: functions called with each piece of output after it is parsed
      this.quietUntil = 0; // acknowledge nothing before this time (another terminal of the page is typed into)
      this.ackTimer = null;
      this.typedAhead = []; // input typed while not connected, in order (see typeAhead)
      this.typedAheadBytes = 0;
      this.typedAheadFull = false;
      this.windowStart = 0; // output received in the current and the previous FLOOD_WINDOW_MS (see flooding)
      this.windowBytes = 0;
      this.lastWindowBytes = 0;
      this.lastArrival = 0;
    }

    async start() {
      const component = await this.waitForTerminal();
      if (!component) {
        if (this.wantsFocus && window.maestroKeys) window.maestroKeys.cancel();
        return;
      }
      this.component = component;
      this.term = await this.ownTerminal(component);
      this.element = getHtmlElement(this.elementId);
      this.setupTerminal();
      if (this.wantsFocus) {
        // Keys typed for it before it was ready (see above) go first, then what is typed into it from now on.
        const keys = window.maestroKeys;
        for (const text of keys ? keys.take() : []) this.typeAhead(encoder.encode(text));
        if (!keys || keys.noFieldHasFocus()) this.term.focus();
      }
      this.connect();
      this.watchRemoval = setInterval(() => {
        if (!document.body.contains(this.element)) this.dispose();
      }, 2000);
      this.onVisibility = () => this.visibilityChanged();
      document.addEventListener("visibilitychange", this.onVisibility);
      await this.useRenderer(CONFIG.renderer);
    }

    // A hidden tab's timers are throttled, so xterm.js would parse slowly and, through flow control, slow the
    // program down. After a moment hidden the tab detaches (the server keeps draining the pty into its scrollback)
    // and, once shown again, resumes from its offset: nothing twice, a gap said if the scrollback moved on.
    visibilityChanged() {
      clearTimeout(this.hideTimer);
      if (document.hidden) {
        this.hideTimer = setTimeout(() => this.pause(), HIDDEN_DETACH_MS);
      } else if (this.paused) {
        this.paused = false;
        this.retryMs = RETRY_FIRST_MS;
        this.connect();
      }
    }

    pause() {
      if (this.disposed || this.ended) return;
      this.paused = true; // a reconnect already scheduled waits for the tab to be shown
      if (this.ws) {
        const ws = this.ws;
        this.ws = null;
        ws.close(1000);
      }
      this.setState("paused");
    }

    // NiceGUI's component re-emits every xterm.js event (a line feed, a scroll, a cursor move...) as a Vue event,
    // which halves xterm.js's parse rate. Its terminal is swapped for one of the same classes without those
    // listeners; `terminal` and `fit_addon` on the component then name ours, so NiceGUI's methods keep working.
    async ownTerminal(component) {
      const { Terminal, FitAddon, WebLinksAddon } = await import("nicegui-xterm");
      component.terminal.dispose();
      const term = new Terminal(component.options || {});
      const fit = new FitAddon();
      term.loadAddon(fit);
      term.loadAddon(new WebLinksAddon());
      term.open(component.$el);
      const frames = window.maestroTerminalFrames; // static/terminal_frames.js
      if (frames) frames.adapt(term, () => this.flooding(), CONFIG.floodFps);
      component.terminal = term;
      component.fit_addon = fit;
      return term;
    }

    // xterm.js's DOM renderer rebuilds the rows it draws as elements on every frame: under a flood the garbage
    // grows the tab's memory until a full collection, which Chromium may not run for many minutes. The WebGL
    // renderer draws into one canvas (flat memory) and, on a GPU, faster. Output flows meanwhile: the DOM
    // renderer draws until the addon is loaded, and again if WebGL fails or its context is lost.
    async useRenderer(name) {
      if (name === "dom") return;
      const Addon = await webglRenderer(name === "webgl");
      if (!Addon || this.disposed) return;
      let addon = null;
      try {
        addon = new Addon();
        this.term.loadAddon(addon);
      } catch {
        if (addon) addon.dispose(); // back to the DOM renderer
        return;
      }
      this.renderer = "webgl";
      // The GPU process restarted or the page holds too many contexts: back to the DOM renderer, not a blank
      // terminal. (xterm.js gives the context 3 s to come back first.)
      addon.onContextLoss(() => {
        addon.dispose();
        this.renderer = "dom";
      });
    }

    // The JS Terminal appears asynchronously (ESM import); give up if the element never shows.
    async waitForTerminal() {
      for (let i = 0; i < 400; i++) {
        const component = typeof getElement === "function" ? getElement(this.elementId) : null;
        if (component && component.terminal && component.fit_addon) return component;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      links.delete(this.elementId);
      return null;
    }

    setupTerminal() {
      const term = this.term;
      // OSC 52 asks to write the clipboard: a program must not be able to do that. Handlers registered last run
      // first, so this one wins over any clipboard addon.
      term.parser.registerOscHandler(52, () => true);
      term.onData((data) => {
        typedInto(this);
        this.send(encoder.encode(data));
        // After the interrupt is on its way (acking first would let the program flood on until it arrives).
        if (INTERRUPT.test(data) && this.queued > FLUSH_ABOVE) this.skipQueued();
      });
      term.onBinary((data) => {
        typedInto(this);
        this.send(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff));
      });
      term.onResize(({ cols, rows }) => {
        // A fit while the element is hidden or collapsing yields sizes like 2x1; the program would reflow to them.
        if (this.element.offsetWidth === 0 || cols < 4 || rows < 2) return;
        this.sendControl({ type: "resize", cols, rows });
      });
      let copyTimer = null;
      term.onSelectionChange(() => {
        clearTimeout(copyTimer);
        copyTimer = setTimeout(() => this.copySelection(), 150);
      });
      term.attachCustomKeyEventHandler((event) => this.onKey(event));
      new ResizeObserver(() => this.scheduleFit()).observe(this.element);
      this.scheduleFit();
    }

    onKey(event) {
      if (event.type !== "keydown") return true;
      const key = event.key.toLowerCase();
      if (event.ctrlKey && event.shiftKey && key === "c") {
        this.copySelection();
        event.preventDefault();
        return false;
      }
      if (event.ctrlKey && !event.altKey && key === "v") {
        return false; // not ^V: the browser's own paste event follows, and xterm.js types what was pasted
      }
      return true;
    }

    copySelection() {
      const text = this.term.getSelection();
      if (text && navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).catch(() => {});
      }
    }

    scheduleFit() {
      if (this.fitPending) return;
      this.fitPending = true;
      requestAnimationFrame(() => {
        this.fitPending = false;
        if (this.element.offsetWidth > 0 && this.element.offsetHeight > 0) {
          this.component.fit_addon.fit(); // onResize tells the server when the size changed
        }
      });
    }

    url() {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const base = `${scheme}//${location.host}/api/v1/sessions/${encodeURIComponent(this.sessionId)}/terminal`;
      return this.position === null ? base : `${base}?offset=${this.position}`;
    }

    connect() {
      if (this.disposed || this.ended || this.paused || this.ws) return;
      this.setState(this.position === null && this.frames === 0 ? "connecting" : "reconnecting");
      const ws = new WebSocket(this.url());
      ws.binaryType = "arraybuffer";
      this.ws = ws;
      this.unacked = 0;
      this.credit = 0;
      ws.onopen = () => {
        this.retryMs = RETRY_FIRST_MS;
        this.setState("connected");
        this.sendControl({ type: "resize", cols: this.term.cols, rows: this.term.rows });
        for (const bytes of this.typedAhead) ws.send(bytes);
        this.clearTypeAhead();
      };
      ws.onmessage = (event) => {
        if (ws === this.ws) this.receive(event.data); // a socket being closed: its output comes again on resume
      };
      ws.onclose = (event) => this.closed(ws, event);
    }

    receive(data) {
      if (typeof data === "string") {
        this.control(JSON.parse(data));
        return;
      }
      const bytes = new Uint8Array(data);
      this.countArrival(bytes.length);
      this.position += bytes.length;
      this.received += bytes.length;
      this.frames += 1;
      // What fits in the cushion is acknowledged on arrival (the rest once parsed): the server then reads on while
      // xterm.js works through what is here, instead of waiting to hear that the last megabyte was parsed.
      const quiet = performance.now() < this.quietUntil;
      const early = quiet ? 0 : Math.max(0, Math.min(bytes.length, CONFIG.cushion - this.credit));
      this.credit += early;
      this.unacked += early;
      if (this.unacked >= CONFIG.ackBatch) this.ack();
      this.queue.push({ data: bytes, length: bytes.length, ws: this.ws, early });
      this.queued += bytes.length;
      this.pump();
    }

    countArrival(length) {
      const now = performance.now();
      if (now - this.windowStart >= FLOOD_WINDOW_MS) {
        this.lastWindowBytes = now - this.windowStart < 2 * FLOOD_WINDOW_MS ? this.windowBytes : 0;
        this.windowStart = now;
        this.windowBytes = 0;
      }
      this.windowBytes += length;
      this.lastArrival = now;
    }

    // Output comes faster than anyone reads: more than floodBytes within the last one or two FLOOD_WINDOW_MS and
    // more of it within FLOOD_GAP_MS, or that much still to parse. Such a terminal is drawn a few times a second
    // (see terminal_frames.js); when its output pauses, at once.
    flooding() {
      if (this.queued >= CONFIG.floodBytes) return true;
      const now = performance.now();
      if (now - this.lastArrival > FLOOD_GAP_MS) return false;
      const age = now - this.windowStart;
      if (age >= 2 * FLOOD_WINDOW_MS) return false;
      return this.windowBytes + (age < FLOOD_WINDOW_MS ? this.lastWindowBytes : 0) >= CONFIG.floodBytes;
    }

    // A line of ours in the output (a gap, the exit, a refusal), after everything received before it.
    note(text) {
      this.queue.push({ data: dim(text), length: 0, ws: this.ws, early: 0 });
      this.pump();
    }

    // Hand xterm.js the next slice: about sliceMs of parsing at the rate it parsed this output so far. xterm.js
    // parses a write in a task of its own; when the slice is parsed the next one is posted as a new task, so
    // between slices the page handles keys, other terminals' output and drawing. Keeping the backlog here (not in
    // xterm.js) also lets Ctrl-C skip it.
    pump() {
      if (this.inXterm || !this.queue.length) return;
      if (typing.link && typing.link !== this) {
        held.add(this); // another terminal was just typed into: its echo first
        return;
      }
      const budget = Math.max(MIN_SLICE, Math.min(CONFIG.maxSlice, Math.floor(this.rate * CONFIG.sliceMs)));
      const slice = [];
      let bytes = 0;
      while (this.queue.length && bytes < budget) {
        let entry = this.queue[0];
        if (entry.length > budget - bytes) {
          // A frame larger than what is left of the slice: its head now, the rest later.
          const take = budget - bytes;
          const early = Math.min(entry.early, take); // the head's bytes were the first acknowledged
          const rest = { data: entry.data.subarray(take), length: entry.length - take, early: entry.early - early };
          this.queue[0] = { ...entry, ...rest };
          entry = { ...entry, data: entry.data.subarray(0, take), length: take, early };
        } else {
          this.queue.shift();
        }
        this.queued -= entry.length;
        bytes += entry.length;
        slice.push(entry);
      }
      this.inXterm = slice.length;
      // xterm.js parses in a zero-delay timer of its own (or at once, right after a key typed here); a timer set
      // just before it fires just before it and marks the start of the parse, for the rate.
      const token = {};
      this.sliceToken = token;
      this.sliceStart = 0;
      let synchronous = true;
      setTimeout(() => {
        if (this.sliceToken === token && this.inXterm) this.sliceStart = performance.now();
      });
      for (const entry of slice) {
        this.term.write(entry.data, () => {
          this.inXterm -= 1;
          if (entry.length) {
            this.done(entry);
            for (const listener of this.listeners) listener(entry.data);
          }
          if (!this.inXterm) this.sliceDone(bytes, synchronous ? 0 : this.sliceStart);
        });
      }
      synchronous = false;
    }

    sliceDone(bytes, started) {
      this.sliceToken = null;
      if (started && bytes >= MIN_SLICE) {
        const rate = bytes / Math.max(0.05, performance.now() - started);
        this.rate = 0.7 * this.rate + 0.3 * rate;
      }
      if (typing.link === this) releaseHeld(); // the echo (or whatever came first) is parsed: the others go on
      if (this.queue.length) nextTask(() => this.pump());
    }

    // Output parsed (or skipped): acknowledge what was not acknowledged on arrival.
    done(entry) {
      this.parsed += entry.length;
      // Acks count per connection: bytes that came over a connection since closed are not this one's to ack.
      if (entry.ws !== this.ws) return;
      this.credit -= entry.early;
      this.unacked += entry.length - entry.early;
      if (this.unacked >= CONFIG.ackBatch || (!this.queue.length && !this.inXterm)) this.ack();
    }

    ack() {
      if (!this.unacked) return;
      const wait = this.quietUntil - performance.now();
      if (wait > 0) {
        if (!this.ackTimer) {
          this.ackTimer = setTimeout(() => {
            this.ackTimer = null;
            this.ack();
          }, wait);
        }
        return;
      }
      this.sendControl({ type: "ack", bytes: this.unacked });
      this.unacked = 0;
    }

    // A flood interrupted: what waits here is skipped and acknowledged, so the prompt shows at once instead of
    // after xterm.js parsed up to a megabyte the program printed before it stopped. (The tty itself flushes its
    // output queue on an interrupt; the server's scrollback and the recording keep everything.)
    skipQueued() {
      const skipped = this.queued;
      const queue = this.queue;
      this.queue = [];
      this.queued = 0;
      for (const entry of queue) if (entry.length) this.done(entry);
      this.ack();
      this.skipped += skipped;
      // CAN ends an escape sequence the skipped bytes may have left open.
      this.queue.push({ data: "\x18", length: 0, ws: this.ws, early: 0 });
      this.note(`… ${skipped} bytes of output skipped after the interrupt …`);
    }

    control(message) {
      if (message.type === "offset") {
        this.position = message.offset;
      } else if (message.type === "gap") {
        this.note(`… ${message.bytes} bytes of output dropped …`);
        this.position = message.to;
      } else if (message.type === "exit") {
        this.finish(`program exited with status ${message.exit_code}`, message.exit_code);
      }
    }

    closed(ws, event) {
      if (ws !== this.ws || this.disposed || this.ended) return;
      this.ws = null;
      if (event.code === NO_TERMINAL) {
        this.finish("this session has no running terminal: it has ended", null);
      } else if (event.code === BAD_REQUEST && this.position !== null) {
        // Our position is not one this terminal knows: start over from its scrollback.
        this.term.reset();
        this.queue = [];
        this.queued = 0;
        this.position = null;
        this.reconnectSoon();
      } else if (event.code === BAD_REQUEST) {
        this.finish(`the server refused the terminal: ${event.reason}`, null);
      } else {
        if (event.code === INPUT_OVERFLOW) this.note(event.reason || "input refused");
        this.reconnectSoon();
      }
    }

    reconnectSoon() {
      this.setState("reconnecting");
      const delay = this.retryMs;
      this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
      setTimeout(() => this.connect(), delay);
    }

    finish(text, exitCode) { // exitCode: from the exit frame, or null when the session had already ended
      this.ended = true;
      this.clearTypeAhead();
      this.exitCode = exitCode;
      this.note(text);
      this.queue.push({ data: "\x1b[?25l", length: 0, ws: this.ws, early: 0 }); // no cursor: no more input
      this.pump();
      this.term.options.disableStdin = true;
      this.term.options.cursorBlink = false;
      this.setState("ended");
    }

    send(bytes) {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes);
      else if (!this.ended) this.typeAhead(bytes);
    }

    // Connecting or reconnecting: what is typed now goes to the program once connected, as over a slow link.
    typeAhead(bytes) {
      if (this.typedAheadBytes + bytes.length <= TYPE_AHEAD_MAX) {
        this.typedAhead.push(bytes);
        this.typedAheadBytes += bytes.length;
      } else if (!this.typedAheadFull) {
        this.typedAheadFull = true;
        this.note(`input typed while disconnected beyond ${TYPE_AHEAD_MAX} bytes is not sent`);
      }
    }

    clearTypeAhead() {
      this.typedAhead = [];
      this.typedAheadBytes = 0;
      this.typedAheadFull = false;
    }

    sendControl(message) {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
    }

    setState(state) {
      this.state = state;
      const el = document.getElementById(this.stateId);
      if (!el) return;
      el.dataset.state = state;
      // "Ended" without the status: the page shows that beside it, from the session record.
      el.textContent = {
        connecting: "Connecting…",
        connected: "Connected",
        reconnecting: "Reconnecting…",
        paused: "Paused while hidden",
        ended: "Ended",
      }[state];
      el.title = state === "reconnecting" ? "The connection dropped; retrying and resuming where it stopped" : "";
    }

    dispose() {
      this.disposed = true;
      clearInterval(this.watchRemoval);
      clearTimeout(this.hideTimer);
      document.removeEventListener("visibilitychange", this.onVisibility);
      links.delete(this.elementId);
      if (this.ws) this.ws.close(1000);
      this.ws = null;
    }
  }

  function attach(elementId, sessionId, stateId, options = {}) {
    const existing = links.get(elementId);
    if (existing && !existing.disposed) return existing;
    const link = new TerminalLink(elementId, sessionId, stateId, options);
    links.set(elementId, link);
    link.start();
    return link;
  }

  window.maestroTerminal = { attach, get: (elementId) => links.get(elementId) };
})();
