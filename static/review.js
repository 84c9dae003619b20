// The browser half of the review screen's diffs (ui/components/diff_block.py): one Vue component per changed file.
//
// The diff text arrives as a prop (JSON over NiceGUI's socket, never spliced into HTML by the server) and only
// diff2html turns it into markup: it escapes every line of the file. diff2html (static/vendor/diff2html, MIT) is
// loaded once per page as a classic script, its stylesheet beside it. Clicking a line number emits `line` with
// the line's number in the new version (`new`) and in the old one (`old`); either is null where the line does
// not exist on that side. The drawing follows the app's dark / light theme (Quasar's body--dark) as it changes.

const VENDOR = "/static/vendor/diff2html";
const VERSION = "3.4.56"; // a new bundle gets a new address: browsers never mix an old script with a new page
const STYLE_ID = "m-diff-style";
const LIGHT = "d2h-light-color-scheme";
const DARK = "d2h-dark-color-scheme";

let library = null; // the one load of diff2html shared by every diff on the page

function diff2html() {
  if (window.Diff2Html) return Promise.resolve(window.Diff2Html);
  if (library === null) {
    library = new Promise((resolve, reject) => {
      const css = document.createElement("link");
      css.rel = "stylesheet";
      css.href = `${VENDOR}/diff2html.min.css?v=${VERSION}`;
      document.head.append(css);
      const script = document.createElement("script");
      script.src = `${VENDOR}/diff2html.min.js?v=${VERSION}`;
      script.onload = () => resolve(window.Diff2Html);
      script.onerror = () => {
        library = null; // the next diff tries again
        reject(new Error("diff2html did not load"));
      };
      document.head.append(script);
    });
  }
  return library;
}

function dark() {
  return document.body.classList.contains("body--dark");
}

function addStyle() {
  if (document.getElementById(STYLE_ID)) return;
  const style = document.createElement("style");
  style.id = STYLE_ID;
  // Our own header (path, counts, viewed, comment) replaces diff2html's; line numbers are where comments start.
  style.textContent = `
    .m-diff .d2h-file-header { display: none; }
    .m-diff .d2h-wrapper { text-align: left; }
    .m-diff .d2h-file-wrapper { border: 0; border-radius: 0; margin: 0; }
    .m-diff .d2h-code-linenumber, .m-diff .d2h-code-side-linenumber { cursor: pointer; }
    .m-diff .d2h-code-linenumber:not(.d2h-info):hover,
    .m-diff .d2h-code-side-linenumber:not(.d2h-info):hover { box-shadow: inset 3px 0 0 #f59e0b; }
    .m-diff .d2h-code-line, .m-diff .d2h-code-side-line { font-size: 12.5px; }
    .m-diff .d2h-code-linenumber, .m-diff .d2h-code-side-linenumber { font-size: 12px; }
    .m-diff .m-diff-problem { padding: 8px 12px; font-size: 14px; }
    .body--dark .m-diff .d2h-wrapper.d2h-dark-color-scheme { background: #0d1117; }
  `;
  document.head.append(style);
}

/** The line numbers of a clicked number cell: {new, old}, each a number or null. */
function lineOf(cell) {
  const number = (el) => {
    const value = parseInt((el?.textContent ?? "").trim(), 10);
    return Number.isFinite(value) ? value : null;
  };
  if (cell.classList.contains("d2h-code-linenumber")) {
    return { old: number(cell.querySelector(".line-num1")), new: number(cell.querySelector(".line-num2")) };
  }
  // Side by side: the left table is the old version, the right one the new.
  const side = cell.closest(".d2h-file-side-diff");
  const sides = side ? [...side.parentElement.querySelectorAll(":scope > .d2h-file-side-diff")] : [];
  const value = number(cell);
  return sides.indexOf(side) === 0 ? { old: value, new: null } : { old: null, new: value };
}

export default {
  template: `<div class="m-diff" :data-layout="layout" data-rendered="false" @click="onClick"></div>`,
  props: {
    diff: String,
    layout: String, // line-by-line | side-by-side
  },
  mounted() {
    addStyle();
    this.theme = new MutationObserver(() => this.paintTheme());
    this.theme.observe(document.body, { attributes: true, attributeFilter: ["class"] });
    this.render();
  },
  unmounted() {
    this.theme?.disconnect();
  },
  watch: {
    diff() {
      this.render();
    },
    layout() {
      this.render();
    },
  },
  methods: {
    async render() {
      const wanted = `${this.layout}\u0000${this.diff}`;
      this.drawn = wanted;
      let library;
      try {
        library = await diff2html();
      } catch (error) {
        this.problem("The diff viewer could not be loaded; reload the page to try again.");
        return;
      }
      if (this.drawn !== wanted || !this.$el) return; // a newer diff or layout arrived meanwhile
      this.$el.innerHTML = library.html(this.diff ?? "", {
        outputFormat: this.layout === "side-by-side" ? "side-by-side" : "line-by-line",
        drawFileList: false,
        fileContentToggle: false,
        matching: "none", // word highlighting inside a changed line stays; pairing lines across a hunk is slow
        colorScheme: dark() ? "dark" : "light",
      });
      this.$el.dataset.rendered = "true";
    },
    problem(text) {
      const note = document.createElement("div");
      note.className = "m-diff-problem";
      note.textContent = text;
      this.$el.replaceChildren(note);
      this.$el.dataset.rendered = "failed";
    },
    paintTheme() {
      const wrapper = this.$el?.querySelector(".d2h-wrapper");
      if (!wrapper) return;
      wrapper.classList.toggle(DARK, dark());
      wrapper.classList.toggle(LIGHT, !dark());
    },
    onClick(event) {
      const cell = event.target.closest(".d2h-code-linenumber, .d2h-code-side-linenumber");
      if (!cell || cell.classList.contains("d2h-info") || !this.$el.contains(cell)) return;
      const line = lineOf(cell);
      if (line.new !== null || line.old !== null) this.$emit("line", line);
    },
  },
};
