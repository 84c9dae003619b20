// The browser half of the review screen: its file list (ui/components/change_list.py, FileRows) and its diffs
// (ui/components/diff_block.py, DiffBody, one per changed file). NiceGUI loads one component per file, so the
// default export is a small switch: `part` says which of the two an element is.
//
// The file list: one element draws every row from `rows` (data, not an element per row: 500 rows would otherwise
// cost thousands of elements to build, send and mount). Paths are written as text by Vue's {{ }} and attribute
// bindings. A click on a row emits `open` ({path}); a click on its viewed box emits `viewed` ({path, viewed}) and
// leaves the box as the server then says (the box also gives the keyboard focus back, so j/k/v keep working).
// Rows off screen are not laid out (content-visibility) until they scroll into view.
//
// The diffs: the diff text arrives as a prop (JSON over NiceGUI's socket, never spliced into HTML by the server)
// and only diff2html turns it into markup: it escapes every line of the file. diff2html (static/vendor/diff2html,
// MIT) is loaded once per page as a classic script, its stylesheet beside it (the page preloads both). Clicking a
// line number emits `line` with the line's number in the new version (`new`) and in the old one (`old`); either
// is null where the line does not exist on that side. The drawing follows the app's dark / light theme (Quasar's
// body--dark) as it changes.
//
// A diff is drawn only once its block comes near the viewport (an IntersectionObserver): a page of twenty diffs
// costs the browser only the few on screen, and the rest keep a placeholder of about their height so the page does
// not jump. Once drawn, a diff stays drawn. Pairing similar lines across a hunk (diff2html's `matching: "lines"`)
// is quadratic: it is used on small diffs only, and bounded even there.

const VENDOR = "/static/vendor/diff2html";
const VERSION = "3.4.56"; // a new bundle gets a new address: browsers never mix an old script with a new page
const STYLE_ID = "m-diff-style";
const LIGHT = "d2h-light-color-scheme";
const DARK = "d2h-dark-color-scheme";
const NEAR = "1200px 0px"; // start drawing a diff this far before it scrolls into view
const LINE_PX = 20; // a drawn line's height, for the placeholder of a diff not drawn yet
const MATCHED_LINES = 400; // diffs up to this long get their similar lines paired (better word highlights)

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
    .m-diff[data-rendered="false"] {
      background: repeating-linear-gradient(transparent 0 19px, rgba(127, 127, 127, 0.08) 19px 20px);
    }
    .m-file { display: flex; align-items: center; gap: 4px; padding: 0 4px; border-radius: 4px;
      content-visibility: auto; contain-intrinsic-size: auto 44px; }
    .m-file-open { display: flex; align-items: center; gap: 8px; flex: 1 1 auto; min-width: 0; padding: 4px 0;
      cursor: pointer; }
    .m-file-kind { font-size: 18px; flex-shrink: 0; }
    .m-file-names { flex: 1 1 auto; min-width: 0; }
    .m-file-name, .m-file-folder, .m-file-counts {
      font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: nowrap; }
    .m-file-name, .m-file-folder { overflow: hidden; text-overflow: ellipsis; }
    .m-file-name { font-size: 0.875rem; line-height: 1.25rem; }
    .m-file-folder { font-size: 0.75rem; line-height: 1rem; opacity: 0.7; }
    .m-file-counts { font-size: 0.75rem; flex-shrink: 0; }
    .m-file-binary { font-size: 0.75rem; border: 1px solid currentColor; border-radius: 4px; padding: 0 4px;
      flex-shrink: 0; opacity: 0.7; }
    .m-file-viewed { width: 15px; height: 15px; margin: 0 2px; flex-shrink: 0; cursor: pointer;
      accent-color: var(--q-primary); }
    .body--dark .m-file-viewed { color-scheme: dark; }
    .body--dark .m-diff .d2h-wrapper.d2h-dark-color-scheme { background: #0d1117; }
  `;
  document.head.append(style);
}

addStyle(); // now, as the page loads this module: the file list is laid out with its style from the start

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

const FileRows = {
  template: `
    <div class="m-files">
      <div v-for="(row, index) in rows" :key="row.path" class="m-file" :class="{ 'm-selected': row.current }"
           data-testid="review-file" :data-path="row.path" :data-index="index" :title="row.path">
        <div class="m-file-open" data-testid="review-file-open" @click="$emit('open', { path: row.path })">
          <i class="material-icons m-file-kind" :class="row.colour" :title="row.kind">{{ row.icon }}</i>
          <div class="m-file-names">
            <div class="m-file-name" data-testid="review-file-name">{{ row.name }}</div>
            <div v-if="row.folder" class="m-file-folder">{{ row.folder }}</div>
          </div>
          <span v-if="row.added === null" class="m-file-binary" data-testid="review-binary">binary</span>
          <span v-else class="m-file-counts">
            <span class="text-green-7">+{{ row.added }}</span> <span class="text-red-7">−{{ row.removed }}</span>
          </span>
        </div>
        <input type="checkbox" class="m-file-viewed" data-testid="review-viewed" title="Viewed"
               :checked="row.viewed" @change="viewed($event, row)" />
      </div>
    </div>`,
  props: {
    rows: Array, // {path, name, folder, kind, icon, colour, added, removed (null: binary), viewed, current}
  },
  emits: ["open", "viewed"],
  methods: {
    viewed(event, row) {
      this.$emit("viewed", { path: row.path, viewed: event.target.checked });
      event.target.checked = row.viewed; // the server's answer redraws it
      event.target.blur();
    },
  },
};

const DiffBody = {
  template: `<div class="m-diff" :data-layout="layout" data-rendered="false" @click="onClick"></div>`,
  props: {
    diff: String,
    layout: String, // line-by-line | side-by-side
  },
  mounted() {
    this.theme = new MutationObserver(() => this.paintTheme());
    this.theme.observe(document.body, { attributes: true, attributeFilter: ["class"] });
    this.near = false; // drawn once it has come near the viewport, and from then on on every change
    this.placeholder();
    if (!("IntersectionObserver" in window)) {
      this.near = true;
      this.render();
      return;
    }
    this.sight = new IntersectionObserver(
      (entries) => {
        if (!entries.some((entry) => entry.isIntersecting)) return;
        this.sight.disconnect();
        this.sight = null;
        this.near = true;
        this.render();
      },
      { rootMargin: NEAR },
    );
    this.sight.observe(this.$el);
  },
  unmounted() {
    this.theme?.disconnect();
    this.sight?.disconnect();
  },
  watch: {
    diff() {
      if (this.near) this.render();
      else this.placeholder();
    },
    layout() {
      if (this.near) this.render();
    },
  },
  methods: {
    placeholder() {
      const lines = (this.diff ?? "").split("\n").length;
      this.$el.style.minHeight = `${Math.min(lines, 6000) * LINE_PX}px`;
    },
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
      const text = this.diff ?? "";
      const small = text.split("\n", MATCHED_LINES + 1).length <= MATCHED_LINES;
      this.$el.innerHTML = library.html(text, {
        outputFormat: this.layout === "side-by-side" ? "side-by-side" : "line-by-line",
        drawFileList: false,
        fileContentToggle: false,
        matching: small ? "lines" : "none", // word highlighting inside a changed line stays either way
        matchingMaxComparisons: 1000, // pairs compared per block before diff2html stops pairing
        maxLineSizeInBlockForComparison: 200, // longer lines are never compared for pairing
        maxLineLengthHighlight: 2000, // longer lines are not word-highlighted
        colorScheme: dark() ? "dark" : "light",
      });
      this.$el.style.minHeight = "";
      this.$el.dataset.rendered = "true";
    },
    problem(text) {
      const note = document.createElement("div");
      note.className = "m-diff-problem";
      note.textContent = text;
      this.$el.replaceChildren(note);
      this.$el.style.minHeight = "";
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

export default {
  template: `<file-rows v-if="part === 'files'" v-bind="$attrs" /><diff-body v-else v-bind="$attrs" />`,
  components: { FileRows, DiffBody },
  inheritAttrs: false,
  props: {
    part: String, // files | diff
  },
};
