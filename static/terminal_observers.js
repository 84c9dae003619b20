// Keeps page-wide DOM observers from hearing about the rows xterm.js redraws (loaded before the page's scripts).
//
// NiceGUI's Tailwind (its browser build) watches the whole document with a MutationObserver and, on every batch
// of added elements, scans every element with a class in the page and records performance marks. xterm.js's DOM
// renderer replaces the spans of every changed row each frame, so a terminal printing output made the page scan
// itself up to 60 times a second: CPU taken from the terminal's own parsing, and garbage that Chromium keeps until
// a full collection. What happens inside a terminal's element concerns xterm.js alone (it uses no
// MutationObserver), so records whose target lies inside one are dropped before any observer sees them; every
// other change still reaches Tailwind, Quasar and Vue as before.
// `window.maestroTerminalConfig = {observeTerminals: true}` (benchmarks) leaves the observers as they are.
(() => {
  "use strict";

  if ((window.maestroTerminalConfig || {}).observeTerminals || window.MutationObserver.maestroFiltered) return;
  const Native = window.MutationObserver;

  function inTerminal(record) {
    const node = record.target;
    const element = node.nodeType === Node.ELEMENT_NODE ? node : node.parentElement;
    return element !== null && element.closest(".xterm") !== null;
  }

  class FilteredMutationObserver extends Native {
    constructor(callback) {
      super((records, observer) => {
        const kept = records.filter((record) => !inTerminal(record));
        if (kept.length > 0) callback.call(observer, kept, observer);
      });
    }

    takeRecords() {
      return super.takeRecords().filter((record) => !inTerminal(record));
    }
  }
  FilteredMutationObserver.maestroFiltered = true;
  window.MutationObserver = FilteredMutationObserver;
})();
