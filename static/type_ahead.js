// Keys typed before a terminal can take them: what they are as terminal input, and carrying them to the next page.
//
// Asking for a shell (`s`, the button, the palette) starts it on the server and then opens its page; keys typed
// meanwhile would reach the old page's shortcuts (`c` opens "New task") and be lost with it. `carry()` keeps them in
// this tab's sessionStorage instead: started here on the `s` key itself where `s` opens a shell (the script tag's
// data-shell-key) and on the click of a shell button (data-shell-button) — the server's own carry(), sent as it
// starts the shell, arrives a round trip later, after the next key — and by the server for the palette. While keys
// are carried, the page's move to the shell's page (NiceGUI's window.open(url, "_self")) waits for a pause in the
// typing: a key pressed while the browser swaps the pages has no page to go to. The new page, whose terminal
// script says data-catch-keys, carries on (`carry({resume: true})`) while it connects, and its terminal `take()`s
// them all, in order, first of its type-ahead (static/terminal.js). `cancel()` when the shell could not start. Keys
// are only taken while no text field has the focus (a person typing into a field keeps their keys), and carried
// keys are used within FRESH_MS or never.
(() => {
  "use strict";
  if (window.maestroKeys) return;
  const STORE = "maestro.typeAhead";
  const FRESH_MS = 15000;
  const MAX_BYTES = 4096;
  const NAMED = { Enter: "\r", Backspace: "\x7f", Tab: "\t", Escape: "\x1b" };
  const QUIET_MS = 300; // a pause in the typing this long lets a held page move go ahead...
  const HOLD_MAX_MS = 8000; // ...and it waits no longer than this for one
  const shellKey = (document.currentScript && document.currentScript.dataset.shellKey) || null;

  // Whether keys typed now are nobody's in particular: no text field (nor xterm.js's textarea) has the focus; a
  // focused button or dialog does not type (the page's shortcuts take keys then too).
  function noFieldHasFocus() {
    const active = document.activeElement;
    if (!active || active === document.body || active === document.documentElement) return true;
    return !(active.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName));
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
  let lastKeyAt = 0; // when the last carried key was typed

  // From now on, keys typed with no field focused are kept (not this page's), in the tab's sessionStorage: for the
  // terminal of the page about to open, or of this page once it is ready. `resume` goes on with keys a previous
  // page carried (if fresh); otherwise they start afresh. Carrying already, it goes on as it was (the server's
  // carry() arrives after the `s` that started it). Nothing is kept after FRESH_MS.
  function carry({ resume = false } = {}) {
    if (carrying) return;
    const keys = resume ? stored() : [];
    let bytes = keys.reduce((n, key) => n + key.length, 0);
    const save = () => {
      try {
        sessionStorage.setItem(STORE, JSON.stringify({ at: Date.now(), keys }));
      } catch {
        // storage refused (private mode quota): the keys are simply not carried
      }
    };
    carrying = (event) => {
      const text = noFieldHasFocus() ? textOf(event) : null;
      if (text === null) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      lastKeyAt = Date.now();
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

  // Where `s` opens a shell, carrying starts with the key itself (when the server will hear it: its connection is
  // up), so the keys typed right after it are the shell's; the server cancels when it asks which project instead.
  if (shellKey) {
    window.addEventListener(
      "keydown",
      (event) => {
        const plain = !event.ctrlKey && !event.metaKey && !event.altKey && !event.repeat;
        if (event.key === shellKey && plain && noFieldHasFocus() && window.socket && window.socket.connected) carry();
      },
      true,
    );
  }

  // So does a click on a button that opens a shell (data-shell-button; Enter or Space on it click it too): the server
  // hears the click a round trip later, and a quick typist's first keys come before its carry() does.
  document.addEventListener(
    "click",
    (event) => {
      const button = event.target instanceof Element && event.target.closest("[data-shell-button]");
      if (button && window.socket && window.socket.connected) carry();
    },
    true,
  );

  // NiceGUI moves to another page with window.open(url, "_self"). While keys are carried, that waits until the
  // typing pauses (QUIET_MS, at most HOLD_MAX_MS): keys pressed while the browser swaps the pages would be lost.
  const openNow = window.open.bind(window);
  window.open = (url, target, ...rest) => {
    if (!carrying || target !== "_self" || Date.now() - lastKeyAt >= QUIET_MS) return openNow(url, target, ...rest);
    const until = Date.now() + HOLD_MAX_MS;
    if (window.Quasar) {
      const message = "The shell is ready: it opens when you pause typing, and what you type goes to it.";
      const attrs = { "data-testid": "shell-held" };
      window.Quasar.Notify.create({ message, position: "bottom", timeout: HOLD_MAX_MS, attrs });
    }
    const go = () => {
      const quiet = Date.now() - lastKeyAt;
      if (quiet >= QUIET_MS || Date.now() >= until) openNow(url, target, ...rest);
      else setTimeout(go, QUIET_MS - quiet);
    };
    go();
    return null;
  };

  // Keys a page carried and no terminal took (its session had ended, say) do not stay in the tab's storage.
  function dropStale() {
    if (!carrying && !stored().length) forget();
  }
  dropStale();
  setTimeout(dropStale, FRESH_MS + 1000);

  window.maestroKeys = { noFieldHasFocus, textOf, carry, cancel, take };
})();
