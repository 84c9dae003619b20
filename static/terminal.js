// Maestro's browser terminal: attaches a NiceGUI `ui.xterm` to a session's terminal WebSocket.
//
// The page calls `maestroTerminal.attach(elementId, sessionId, stateId)` (ui/components/terminal.py). Terminal bytes
// travel only over /api/v1/sessions/{id}/terminal (docs/api.md), never over NiceGUI's socket:
// - binary frames both ways; output is acknowledged once xterm.js has parsed it (flow control: the server stops
//   reading the pty while this tab holds more than 1 MiB unacknowledged, so a flooding program blocks instead of
//   freezing the tab), handed to xterm.js in small pieces a little ahead of its parser;
// - Ctrl-C (or Ctrl-\) during a flood skips the output still waiting to be drawn, as a tty flushes on interrupt;
// - the terminal fits its container and tells the server its size (`resize`);
// - after a dropped connection it reconnects by itself with `?offset=N` (the next byte it has not received), so
//   nothing is shown twice; a `gap` frame says what the server no longer had;
// - a tab hidden for a few seconds detaches (its throttled timers would slow the program) and resumes when shown;
// - the state element says connecting / connected / reconnecting / paused / ended; the terminal says how it ended.
// NiceGUI's xterm.js instance is replaced by one without NiceGUI's per-event relay (see ownTerminal).
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
  const LOOKAHEAD = 64 * 1024; // output handed to xterm.js ahead of its parser; the rest waits here
  const PIECE = 16 * 1024; // xterm.js parses one write at a time: a 256 KiB frame of `yes` would hold the page ~0.1 s
  const FLUSH_ABOVE = 256 * 1024; // Ctrl-C with more than this waiting skips it, as a tty flushes on interrupt
  const INTERRUPT = /[\x03\x1c]/; // Ctrl-C, Ctrl-\
  const ACK_BATCH = 64 * 1024; // acknowledge parsed output in batches (and whenever everything is parsed)
  const encoder = new TextEncoder();
  const links = new Map(); // element id -> TerminalLink

  function dim(text) {
    return `\r\n\x1b[2m[${text}]\x1b[0m\r\n`;
  }

  class TerminalLink {
    constructor(elementId, sessionId, stateId) {
      this.elementId = elementId;
      this.sessionId = sessionId;
      this.stateId = stateId;
      this.position = null; // offset of the next output byte; null until the server said where we start
      this.ws = null;
      this.retryMs = RETRY_FIRST_MS;
      this.ended = false;
      this.disposed = false;
      this.unacked = 0; // parsed output bytes not acknowledged yet
      this.received = 0; // output bytes received (diagnostics and benchmarks)
      this.parsed = 0; // output bytes done with: parsed by xterm.js, or skipped after Ctrl-C (all acknowledged)
      this.skipped = 0;
      this.frames = 0;
      // Output (and notes about it) not yet handed to xterm.js, in order: [data, output bytes, the socket they came
      // over]; notes count 0 output bytes.
      this.queue = [];
      this.queued = 0; // output bytes in the queue
      this.inXterm = 0; // bytes handed to xterm.js that it has not parsed yet
      this.listeners = new Set(); // benchmarks: functions called with each output frame after it is parsed
    }

    async start() {
      const component = await this.waitForTerminal();
      if (!component) return;
      this.component = component;
      this.term = await this.ownTerminal(component);
      this.element = getHtmlElement(this.elementId);
      this.setupTerminal();
      this.connect();
      this.watchRemoval = setInterval(() => {
        if (!document.body.contains(this.element)) this.dispose();
      }, 2000);
      this.onVisibility = () => this.visibilityChanged();
      document.addEventListener("visibilitychange", this.onVisibility);
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
      component.terminal = term;
      component.fit_addon = fit;
      return term;
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
        this.send(encoder.encode(data));
        // After the interrupt is on its way (acking first would let the program flood on until it arrives).
        if (INTERRUPT.test(data) && this.queued > FLUSH_ABOVE) this.skipQueued();
      });
      term.onBinary((data) => this.send(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
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
      ws.onopen = () => {
        this.retryMs = RETRY_FIRST_MS;
        this.setState("connected");
        this.sendControl({ type: "resize", cols: this.term.cols, rows: this.term.rows });
      };
      ws.onmessage = (event) => this.receive(event.data);
      ws.onclose = (event) => this.closed(ws, event);
    }

    receive(data) {
      if (typeof data === "string") {
        this.control(JSON.parse(data));
        return;
      }
      const bytes = new Uint8Array(data);
      this.position += bytes.length;
      this.received += bytes.length;
      this.frames += 1;
      for (let start = 0; start < bytes.length; start += PIECE) {
        const piece = bytes.subarray(start, start + PIECE);
        this.queue.push([piece, piece.length, this.ws]);
      }
      this.queued += bytes.length;
      this.feed();
    }

    // A line of ours in the output (a gap, the exit, a refusal), after everything received before it.
    note(text) {
      this.queue.push([dim(text), 0, this.ws]);
      this.feed();
    }

    // Hand xterm.js the next frames while it has less than LOOKAHEAD to parse; its write callbacks feed it again
    // (inside its own parse loop, so it never waits for us). Keeping the backlog here lets Ctrl-C skip it.
    feed() {
      while (this.queue.length && this.inXterm < LOOKAHEAD) {
        const [data, length, ws] = this.queue.shift();
        this.queued -= length;
        this.inXterm += data.length;
        this.term.write(data, () => {
          this.inXterm -= data.length;
          if (length) {
            this.done(length, ws);
            for (const listener of this.listeners) listener(data);
          }
          this.feed();
        });
      }
    }

    done(length, ws) {
      this.parsed += length;
      // Acks count per connection: bytes that came over a connection since closed are not this one's to ack.
      if (ws !== this.ws) return;
      this.unacked += length;
      if (this.unacked >= ACK_BATCH || (!this.queue.length && !this.inXterm)) this.ack();
    }

    ack() {
      if (this.unacked) this.sendControl({ type: "ack", bytes: this.unacked });
      this.unacked = 0;
    }

    // A flood interrupted: what waits here is skipped and acknowledged, so the prompt shows at once instead of
    // after xterm.js parsed up to a megabyte the program printed before it stopped. (The tty itself flushes its
    // output queue on an interrupt; the server's scrollback and the recording keep everything.)
    skipQueued() {
      const skipped = this.queued;
      for (const [, length, ws] of this.queue) if (length) this.done(length, ws);
      this.ack();
      this.queue = [];
      this.queued = 0;
      this.skipped += skipped;
      // CAN ends an escape sequence the skipped bytes may have left open.
      this.queue.push(["\x18", 0, this.ws]);
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
      this.exitCode = exitCode;
      this.note(text);
      this.queue.push(["\x1b[?25l", 0, this.ws]); // no cursor in a terminal that takes no more input
      this.feed();
      this.term.options.disableStdin = true;
      this.term.options.cursorBlink = false;
      this.setState("ended");
    }

    send(bytes) {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes);
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

  function attach(elementId, sessionId, stateId) {
    const existing = links.get(elementId);
    if (existing && !existing.disposed) return existing;
    const link = new TerminalLink(elementId, sessionId, stateId);
    links.set(elementId, link);
    link.start();
    return link;
  }

  window.maestroTerminal = { attach, get: (elementId) => links.get(elementId) };
})();
