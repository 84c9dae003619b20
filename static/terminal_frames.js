// Adaptive frame rate: a terminal in a flood is drawn a few times a second, not on every frame (loaded before
// static/terminal.js, which calls `maestroTerminalFrames.adapt(term, isFlooding, fps)` for each terminal).
//
// xterm.js draws a terminal whose content changed on the next animation frame, and every such frame costs the page
// the same whatever was printed: xterm.js rebuilds the visible rows, Chromium styles, lays out, paints and commits
// them. Under a flood that is up to 60 pictures a second nobody can read, paid in the CPU the parser needs: the
// output itself then comes slower (docs/performance.md). In the spirit of iTerm2's adaptive frame rate, a terminal
// whose output arrives faster than a person reads (terminal.js decides: `isFlooding()`) is drawn at most `fps`
// times a second; the moment it is not (its output pauses), it is drawn on the next frame again. Nothing is
// dropped, only delayed: every frame callback xterm.js asks for runs, at the latest 1/fps s later.
//
// How: xterm.js asks for frames through one object per terminal (its browser service's `window`), so that object
// is given a `requestAnimationFrame` of ours, and the helper textarea xterm.js moves to the cursor after every
// parsed write (a layout change, hence a frame, of its own) follows on the next drawn frame during a flood. This
// reaches into xterm.js 5.5's internals; where they are not as expected the terminal is left as it is.
(() => {
  "use strict";

  const POLL_MS = 25;

  function adapt(term, isFlooding, fps) {
    const core = term && term._core;
    const service = core && core._coreBrowserService;
    if (!fps || !service || !service.window || typeof core._syncTextArea !== "function") return false;
    const realWindow = service.window;
    const gate = new FrameGate(realWindow, isFlooding, 1000 / fps);
    Object.defineProperty(service, "window", {
      configurable: true,
      get: () => gate.window,
      // xterm.js sets it when the terminal's element moves to another window: it is then left as it is.
      set: (other) => {
        if (other === realWindow) return;
        delete service.window;
        service.window = other;
      },
    });

    const syncTextArea = core._syncTextArea;
    let syncQueued = false;
    core._syncTextArea = function () {
      if (!isFlooding()) return syncTextArea.call(core);
      if (syncQueued) return undefined;
      syncQueued = true;
      gate.request(() => {
        syncQueued = false;
        syncTextArea.call(core);
      });
      return undefined;
    };
    return true;
  }

  // Frame callbacks of one terminal: passed on to the next frame, or during a flood held until `intervalMs` after
  // the last frame this terminal drew, then all run in one frame.
  class FrameGate {
    constructor(realWindow, isFlooding, intervalMs) {
      this.real = realWindow;
      this.isFlooding = isFlooding;
      this.intervalMs = intervalMs;
      this.pending = new Map(); // id -> callback
      this.nextId = 1;
      this.scheduled = false;
      this.lastDrawn = 0;
      // The window's own methods, bound to it once each: xterm.js adds and later removes listeners through it, and
      // constructs observers with it (a bound constructor constructs the original).
      const bound = new Map(); // key -> [method, bound method]
      const request = (callback) => this.request(callback);
      const cancel = (id) => this.pending.delete(id);
      this.window = new Proxy(realWindow, {
        get(target, key) {
          if (key === "requestAnimationFrame") return request;
          if (key === "cancelAnimationFrame") return cancel;
          const value = Reflect.get(target, key);
          if (typeof value !== "function") return value;
          const known = bound.get(key);
          if (known && known[0] === value) return known[1];
          const method = value.bind(target);
          bound.set(key, [value, method]);
          return method;
        },
      });
    }

    request(callback) {
      const id = this.nextId++;
      this.pending.set(id, callback);
      this.schedule();
      return id;
    }

    schedule() {
      if (this.scheduled) return;
      this.scheduled = true;
      this.wait();
    }

    // During a flood, look again every POLL_MS until the interval is over (a frame takes up to ~16 ms to come, so
    // it is asked for that much earlier); the moment the flood stops, the next frame draws what it left.
    wait() {
      const left = this.isFlooding() ? this.lastDrawn + this.intervalMs - 16 - performance.now() : 0;
      if (left > 0) setTimeout(() => this.wait(), Math.min(left, POLL_MS));
      else this.real.requestAnimationFrame((time) => this.draw(time));
    }

    draw(time) {
      this.scheduled = false;
      this.lastDrawn = performance.now();
      const callbacks = [...this.pending.values()];
      this.pending.clear();
      for (const callback of callbacks) {
        try {
          callback(time);
        } catch (error) {
          setTimeout(() => {
            throw error; // reported as the frame callback's own error would be, without skipping the others
          });
        }
      }
    }
  }

  window.maestroTerminalFrames = { adapt };
})();
