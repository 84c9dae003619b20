// Keys typed before a terminal can take them: what they are as terminal input, and carrying them to the next page.
//
// Asking for a shell (`s`, the button, the palette) starts it on the server and then opens its page; keys typed
// meanwhile would reach the old page's shortcuts (`c` opens "New task") and be lost with it. `carry()` (run by the
// server as it starts the shell) keeps them in this tab's sessionStorage instead; the new page, whose terminal
// script says data-catch-keys, carries on (`carry({resume: true})`) while it connects, and its terminal `take()`s
// them all, in order, first of its type-ahead (static/terminal.js). `cancel()` when the shell could not start.
// Keys are only taken while nothing on the page has the focus (a person typing into a field keeps their keys),
// and carried keys are used within FRESH_MS or never.
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

  let carrying = null; // the keydown listener while keys are carried
  let carryTimer = null;

  // From now on, keys typed with nothing focused are kept (not this page's), in the tab's sessionStorage: for the
  // terminal of the page about to open, or of this page once it is ready. `resume` goes on with keys a previous
  // page carried (if fresh); otherwise they start afresh. Nothing is kept after FRESH_MS.
  function carry({ resume = false } = {}) {
    const earlier = resume ? stored() : [];
    stop();
    const keys = earlier;
    let bytes = keys.reduce((n, key) => n + key.length, 0);
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
    carryTimer = setTimeout(cancel, FRESH_MS); // nobody took them (the page never opened): the keys are the page's
    save();
  }

  function stop() {
    if (carrying) window.removeEventListener("keydown", carrying, true);
    clearTimeout(carryTimer);
    carrying = null;
  }

  // The keys carried so far (fresh and well-formed only).
  function stored() {
    try {
      const value = JSON.parse(sessionStorage.getItem(STORE) || "null");
      if (!value || !Array.isArray(value.keys) || !(Date.now() - value.at < FRESH_MS)) return [];
      return value.keys.filter((key) => typeof key === "string");
    } catch {
      return [];
    }
  }

  function forget() {
    try {
      sessionStorage.removeItem(STORE);
    } catch {
      // nothing stored
    }
  }

  // Stop carrying and hand over what was carried, once (to the terminal that takes the keys from now on).
  function take() {
    stop();
    const keys = stored();
    forget();
    return keys;
  }

  // Stop carrying and drop what was carried (the shell could not start; the page has no terminal to take them).
  function cancel() {
    stop();
    forget();
  }

  // Keys a page carried and no terminal took (its session had ended, say) do not stay in the tab's storage.
  function dropStale() {
    if (!carrying && !stored().length) forget();
  }
  dropStale();
  setTimeout(dropStale, FRESH_MS + 1000);

  window.maestroKeys = { pageHasNoFocus, textOf, carry, cancel, take };
})();
