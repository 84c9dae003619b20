// Keys typed before a terminal can take them: what they are as terminal input, and carrying them to the next page.
//
// Asking for a shell (`s`, the button, the palette) starts it on the server and then opens its page; keys typed
// meanwhile would reach the old page's shortcuts (`c` opens "New task") and be lost with it. `carry()` (run by the
// server as it starts the shell) keeps them in this tab's sessionStorage instead; the new page's terminal
// (static/terminal.js) `take()`s them, first of its type-ahead. `cancel()` when the shell could not start. Keys are
// only taken while nothing on the page has the focus (a person typing into a field keeps their keys), and carried
// keys are used within FRESH_MS or never.
(() => {
  "use strict";
  if (window.maestroKeys) return;
  const STORE = "maestro.typeAhead";
  const FRESH_MS = 15000;
  const MAX_BYTES = 4096;
  const NAMED = { Enter: "\r", Backspace: "\x7f", Tab: "\t", Escape: "\x1b" };

  function pageHasNoFocus() {
    const active = document.activeElement;
    return !active || active === document.body || active === document.documentElement;
  }

  // The text xterm.js would send for this key (Ctrl-C is "\x03"), or null for a key not kept (arrows, F-keys...).
  function textOf(event) {
    if (event.metaKey || event.altKey) return null;
    if (event.ctrlKey) {
      const code = event.key.length === 1 ? event.key.toUpperCase().charCodeAt(0) : 0;
      return code >= 64 && code <= 95 ? String.fromCharCode(code - 64) : null;
    }
    if (event.key.length === 1) return event.key;
    return NAMED[event.key] || null;
  }

  let carrying = null;

  function carry() {
    cancel();
    const keys = [];
    let bytes = 0;
    const save = () => {
      try {
        sessionStorage.setItem(STORE, JSON.stringify({ at: Date.now(), keys }));
      } catch {
        // storage refused (private mode quota): the keys are simply not carried
      }
    };
    carrying = (event) => {
      const text = pageHasNoFocus() ? textOf(event) : null;
      if (text === null) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      if (bytes + text.length > MAX_BYTES) return;
      keys.push(text);
      bytes += text.length;
      save();
    };
    window.addEventListener("keydown", carrying, true);
    save();
  }

  function cancel() {
    if (carrying) window.removeEventListener("keydown", carrying, true);
    carrying = null;
    try {
      sessionStorage.removeItem(STORE);
    } catch {
      // nothing stored
    }
  }

  // What the previous page carried (once; nothing when stale or malformed).
  function take() {
    let stored = null;
    try {
      stored = JSON.parse(sessionStorage.getItem(STORE) || "null");
      sessionStorage.removeItem(STORE);
    } catch {
      return [];
    }
    if (!stored || !Array.isArray(stored.keys) || !(Date.now() - stored.at < FRESH_MS)) return [];
    return stored.keys.filter((key) => typeof key === "string");
  }

  // Keys a page carried and no terminal took (its session had ended, say) do not stay in the tab's storage.
  function dropStale() {
    try {
      const stored = JSON.parse(sessionStorage.getItem(STORE) || "null");
      if (stored && !carrying && !(Date.now() - stored.at < FRESH_MS)) sessionStorage.removeItem(STORE);
    } catch {
      // nothing readable stored
    }
  }
  dropStale();
  setTimeout(dropStale, FRESH_MS + 1000);

  window.maestroKeys = { pageHasNoFocus, textOf, carry, cancel, take };
})();
