// The browser half of the run graph (ui/components/graph_view.py, GraphView): tasks as boxes, dependencies as
// arrows (from the task depended on to the task that waits for it), laid out by dagre (static/vendor/dagre-*, MIT;
// loaded once per page as a classic script) and drawn as SVG by Vue.
//
// Titles are untrusted: they reach the browser as props (JSON over NiceGUI's socket) and are written only by Vue's
// {{ }} text bindings, as text. Each node is an SVG link to its task (/tasks/<id>): a click, Enter on a focused
// node, a middle click for a new tab all work as links do; Tab walks the nodes and `step(±1)` (the page's j / k)
// moves the focus through them in reading order.
//
// A live update that changes only states (colours, words, queue numbers) keeps every box where it is: the layout
// runs again only when the set of nodes or edges changes. A box whose agent works has a gently beating dot. Tasks without any edge are set in a grid under the
// layered drawing rather than in one tall column.

const DAGRE = "/static/vendor/dagre-3.1.3/dagre.min.js"; // a new release gets a new folder: no stale mix
const STYLE_ID = "m-graph-style";
const NODE_W = 196;
const NODE_H = 70;
const PAD = 14; // inside a box, left of the title and the state word
const TITLE_FONT = "600 13px";
const WORD_FONT = "600 11px";
const GAP = 24; // between boxes of a rank, and between the grid's boxes
const MIN_SCALE = 0.2;
const READABLE = 0.6; // a large graph opens no smaller than this (scroll to see the rest; "fit" shows it whole)
const MAX_SCALE = 2;

let library = null; // the one load of dagre shared by every graph on the page

function dagre() {
  if (window.dagre) return Promise.resolve(window.dagre);
  if (library === null) {
    library = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = DAGRE;
      script.onload = () => resolve(window.dagre);
      script.onerror = () => {
        library = null; // the next draw tries again
        reject(new Error("dagre did not load"));
      };
      document.head.append(script);
    });
  }
  return library;
}

function addStyle() {
  if (document.getElementById(STYLE_ID)) return;
  const style = document.createElement("style");
  style.id = STYLE_ID;
  style.textContent = `
    .m-graph-wrap { position: relative; width: 100%; }
    .m-graph { width: 100%; min-height: 160px; overflow: auto; border-radius: 6px;
      background-color: #f8fafc;
      background-image: radial-gradient(rgba(100, 116, 139, 0.18) 1px, transparent 1px);
      background-size: 18px 18px; }
    .body--dark .m-graph { background-color: #0f172a; }
    .m-graph svg { display: block; }
    /* Above the drawing, never over it: a drawing as wide as its box has boxes in every corner. */
    .m-graph-tools { display: flex; gap: 2px; width: fit-content; margin: 0 0 6px auto;
      padding: 2px; border-radius: 6px; background: rgba(255, 255, 255, 0.92);
      box-shadow: 0 1px 3px rgba(15, 23, 42, 0.18); }
    .body--dark .m-graph-tools { background: rgba(30, 41, 59, 0.92); }
    .m-graph-tools button { border: 0; background: transparent; color: inherit; cursor: pointer; min-width: 28px;
      height: 28px; border-radius: 4px; font: 600 12px/28px sans-serif; padding: 0 6px; }
    .m-graph-tools button:hover, .m-graph-tools button:focus-visible { background: rgba(100, 116, 139, 0.18); }
    .m-graph-edge { fill: none; stroke: #94a3b8; stroke-width: 1.6; }
    .m-graph-edge.m-open { stroke-dasharray: 5 4; }
    .m-graph-edge.m-failed { stroke: #d32f2f; }
    .m-graph-arrow { fill: #94a3b8; }
    .m-graph-arrow.m-failed { fill: #d32f2f; }
    .m-graph-node { cursor: pointer; outline: none; }
    .m-graph-card { fill: #ffffff; stroke: rgba(100, 116, 139, 0.45); stroke-width: 1; }
    .body--dark .m-graph-card { fill: #1e293b; stroke: rgba(148, 163, 184, 0.35); }
    .m-graph-node:hover .m-graph-card { stroke: currentColor; stroke-width: 1.5; }
    .m-graph-node:focus-visible .m-graph-card { stroke: #f59e0b; stroke-width: 3; }
    .m-graph-node.m-finished .m-graph-title { opacity: 0.62; }
    .m-graph-title { fill: #0f172a; font-family: inherit; }
    .body--dark .m-graph-title { fill: #e2e8f0; }
    .m-graph-word { fill: #ffffff; font-family: inherit; }
    .m-graph-beat { animation: m-graph-pulse 1.6s ease-in-out infinite; }
    @keyframes m-graph-pulse { 50% { opacity: 0.25; } }
    @media (prefers-reduced-motion: reduce) { .m-graph-beat { animation: none; } }
  `;
  document.head.append(style);
}

addStyle();

let measurer = null;

/** The width of `text` in `font` (the page's own font family), in pixels. */
function width(text, font) {
  if (measurer === null) measurer = document.createElement("canvas").getContext("2d");
  const family = getComputedStyle(document.body).fontFamily || "sans-serif";
  measurer.font = `${font} ${family}`;
  return measurer.measureText(text).width;
}

/** A title in at most two lines of `room` pixels, the second cut with an ellipsis when it does not fit. */
function wrap(title, room) {
  const words = title.replace(/\s+/g, " ").trim().split(" ");
  const lines = [];
  let line = "";
  while (words.length && lines.length < 2) {
    const word = words[0];
    const candidate = line ? `${line} ${word}` : word;
    if (width(candidate, TITLE_FONT) <= room) {
      line = candidate;
      words.shift();
    } else if (!line) {
      // One word longer than the line: break it where it stops fitting.
      let cut = word.length;
      while (cut > 1 && width(word.slice(0, cut), TITLE_FONT) > room) cut -= 1;
      lines.push(word.slice(0, cut));
      words[0] = word.slice(cut);
    } else {
      lines.push(line);
      line = "";
    }
  }
  if (line && lines.length < 2) lines.push(line);
  if (words.length || lines.length > 2) {
    let last = lines[lines.length - 1] || "";
    while (last && width(`${last}…`, TITLE_FONT) > room) last = last.slice(0, -1);
    lines[lines.length - 1] = `${last.trimEnd()}…`;
  }
  return lines.slice(0, 2);
}

/** A smooth SVG path through dagre's edge points (a uniform B-spline, as d3's curveBasis draws it). */
function basis(points) {
  if (points.length < 3) return "M" + points.map((p) => `${p.x},${p.y}`).join("L");
  const [first] = points;
  let d = `M${first.x},${first.y}`;
  let [x0, y0, x1, y1] = [first.x, first.y, first.x, first.y];
  const curve = (x, y) => {
    d += `C${(2 * x0 + x1) / 3},${(2 * y0 + y1) / 3},${(x0 + 2 * x1) / 3},${(y0 + 2 * y1) / 3},`;
    d += `${(x0 + 4 * x1 + x) / 6},${(y0 + 4 * y1 + y) / 6}`;
  };
  points.slice(1).forEach((p, i) => {
    if (i === 1) d += `L${(5 * x0 + x1) / 6},${(5 * y0 + y1) / 6}`;
    if (i >= 1) curve(p.x, p.y);
    [x0, y0, x1, y1] = [x1, y1, p.x, p.y];
  });
  curve(x1, y1);
  return d + `L${x1},${y1}`;
}

export default {
  template: `
    <div class="m-graph-wrap">
      <div class="m-graph-tools" v-if="ready && nodes.length" data-testid="graph-tools">
        <button type="button" title="Zoom out" aria-label="Zoom out" data-testid="graph-zoom-out"
                @click="zoom(1 / 1.25)">−</button>
        <button type="button" title="Fit the graph in view" data-testid="graph-fit" @click="fit(true)">
          {{ Math.round(scale * 100) }}%</button>
        <button type="button" title="Zoom in" aria-label="Zoom in" data-testid="graph-zoom-in"
                @click="zoom(1.25)">+</button>
      </div>
      <div class="m-graph" ref="box" :style="{ maxHeight: maxHeight }">
      <svg v-if="ready" :width="size.w * scale" :height="size.h * scale" :viewBox="'0 0 ' + size.w + ' ' + size.h"
           role="group" aria-label="Tasks and their dependencies" data-testid="graph-canvas">
        <defs>
          <marker id="m-graph-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7"
                  orient="auto-start-reverse"><path class="m-graph-arrow" d="M0,0L10,5L0,10z" /></marker>
          <marker id="m-graph-arrow-failed" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7"
                  orient="auto-start-reverse"><path class="m-graph-arrow m-failed" d="M0,0L10,5L0,10z" /></marker>
        </defs>
        <path v-for="e in drawnEdges" :key="e.key" :d="e.d" class="m-graph-edge"
              :class="{ 'm-open': !e.met, 'm-failed': e.failed }"
              :marker-end="e.failed ? 'url(#m-graph-arrow-failed)' : 'url(#m-graph-arrow)'"
              data-testid="graph-edge" :data-from="e.from" :data-to="e.to" />
        <a v-for="n in drawnNodes" :key="n.id" :href="n.href" class="m-graph-node" :class="n.classes"
           :transform="'translate(' + n.x + ',' + n.y + ')'" data-testid="graph-node" :data-task-id="n.id"
           :data-state="n.word" :aria-label="n.title + ' — ' + n.word" @focus="focused = n.id">
          <title>{{ n.tip }}</title>
          <rect class="m-graph-card" :width="W" :height="H" rx="8" ry="8" />
          <path :d="stripe" fill="currentColor" />
          <text class="m-graph-title" :x="PAD" y="20" font-size="13" font-weight="600">
            <tspan v-for="(line, i) in n.lines" :key="i" :x="PAD" :dy="i ? 16 : 0">{{ line }}</tspan>
          </text>
          <rect class="m-graph-pill" :x="PAD" y="46" :width="n.pill" height="17" rx="8.5" fill="currentColor" />
          <text class="m-graph-word" :x="PAD + 7" y="58.5" font-size="11" font-weight="600"
                data-testid="graph-node-state">{{ n.word }}</text>
          <circle v-if="n.live" class="m-graph-beat" :cx="PAD + n.pill + 9" cy="54.5" r="3.5" fill="currentColor" />
          <text v-if="n.mark" class="m-graph-title" :x="W - 10" y="58.5" font-size="11" text-anchor="end"
                opacity="0.7">{{ n.mark }}</text>
        </a>
      </svg>
      <div v-else-if="failed" class="q-pa-md text-negative">The graph could not be drawn: {{ failed }}</div>
      </div>
    </div>`,
  props: {
    nodes: Array, // {id, title, word, color (a Quasar colour name), tip, mark, finished, live}
    edges: Array, // {from, to, met (the dependency is completed), failed (its run failed)}
    maxHeight: String, // the drawing's view grows with the graph up to this CSS height, then scrolls
  },
  data() {
    return {
      ready: false,
      failed: "",
      positions: {}, // node id -> {x, y} of its box's top left
      points: {}, // "from>to" -> the edge's points
      size: { w: 0, h: 0 },
      scale: 1,
      zoomed: false, // the person zoomed: keep their scale across re-layouts
      shape: "", // the nodes and edges the layout was made for
      focused: null,
      order: [], // node ids in reading order
      W: NODE_W,
      H: NODE_H,
      PAD,
      stripe: `M8,0H4A4,4 0 0 0 0,4V${NODE_H - 4}A4,4 0 0 0 4,${NODE_H}H8Z`,
    };
  },
  computed: {
    drawnNodes() {
      return this.nodes
        .filter((n) => this.positions[n.id])
        .map((n) => ({
          ...n,
          ...this.positions[n.id],
          href: `/tasks/${encodeURIComponent(n.id)}`,
          lines: wrap(n.title, NODE_W - PAD - 10),
          pill: Math.ceil(width(n.word, WORD_FONT)) + 14,
          classes: [`text-${n.color}`, { "m-finished": n.finished, "m-live": n.live }],
        }));
    },
    drawnEdges() {
      return this.edges
        .filter((e) => this.points[`${e.from}>${e.to}`])
        .map((e) => ({ ...e, key: `${e.from}>${e.to}`, d: basis(this.points[`${e.from}>${e.to}`]) }));
    },
  },
  watch: {
    nodes() {
      this.layout();
    },
    edges() {
      this.layout();
    },
  },
  mounted() {
    this.onWheel = (event) => {
      if (!(event.ctrlKey || event.metaKey)) return; // a plain wheel scrolls; Ctrl + wheel zooms
      event.preventDefault();
      this.zoom(event.deltaY < 0 ? 1.1 : 1 / 1.1);
    };
    this.$refs.box.addEventListener("wheel", this.onWheel, { passive: false });
    this.layout();
  },
  unmounted() {
    this.$refs.box?.removeEventListener("wheel", this.onWheel);
  },
  methods: {
    async layout() {
      const shape = JSON.stringify([this.nodes.map((n) => n.id), this.edges.map((e) => [e.from, e.to])]);
      if (shape === this.shape && this.ready) return; // only states changed: every box stays where it is
      let lib;
      try {
        lib = await dagre();
      } catch (error) {
        this.failed = String(error.message || error);
        return;
      }
      this.shape = shape;
      const linked = new Set(this.edges.flatMap((e) => [e.from, e.to]));
      const graph = new lib.graphlib.Graph();
      graph.setGraph({ rankdir: "LR", nodesep: GAP, ranksep: 48, edgesep: 12, marginx: 20, marginy: 20 });
      graph.setDefaultEdgeLabel(() => ({}));
      for (const n of this.nodes) if (linked.has(n.id)) graph.setNode(n.id, { width: NODE_W, height: NODE_H });
      for (const e of this.edges) if (graph.hasNode(e.from) && graph.hasNode(e.to)) graph.setEdge(e.from, e.to);
      const positions = {};
      const points = {};
      let [w, h] = [0, 0];
      if (graph.nodeCount()) {
        lib.layout(graph);
        for (const id of graph.nodes()) {
          const node = graph.node(id);
          positions[id] = { x: node.x - NODE_W / 2, y: node.y - NODE_H / 2 };
        }
        for (const edge of graph.edges()) points[`${edge.v}>${edge.w}`] = graph.edge(edge).points;
        w = graph.graph().width;
        h = graph.graph().height;
      }
      // The tasks no edge touches: a grid under the drawing, as wide as the drawing or the view.
      const alone = this.nodes.filter((n) => !linked.has(n.id));
      if (alone.length) {
        const room = Math.max(w, this.$refs.box?.clientWidth || 0, NODE_W + 40);
        const columns = Math.max(1, Math.floor((room - 40 + GAP) / (NODE_W + GAP)));
        const top = h ? h : 20;
        alone.forEach((n, i) => {
          positions[n.id] = {
            x: 20 + (i % columns) * (NODE_W + GAP),
            y: top + Math.floor(i / columns) * (NODE_H + GAP),
          };
        });
        w = Math.max(w, 40 + Math.min(columns, alone.length) * (NODE_W + GAP) - GAP);
        h = top + Math.ceil(alone.length / columns) * (NODE_H + GAP) - GAP + 20;
      }
      // Reading order for j / k: the layered drawing rank by rank (top to bottom in each), then the grid.
      const layered = Object.keys(positions).filter((id) => linked.has(id));
      layered.sort((a, b) => positions[a].x - positions[b].x || positions[a].y - positions[b].y);
      this.order = [...layered, ...alone.map((n) => n.id)];
      this.positions = positions;
      this.points = points;
      this.size = { w: Math.ceil(w), h: Math.ceil(h) };
      this.ready = true;
      if (!this.zoomed) this.fit(false);
    },
    /** Scale the drawing to the view: never above 100% (zoom in for that), and by itself never below READABLE. */
    fit(asked) {
      const box = this.$refs.box;
      if (!box || !this.size.w) return;
      const room = parseFloat(getComputedStyle(box).maxHeight) || box.clientHeight;
      const scale = Math.min(1, (box.clientWidth - 8) / this.size.w, (room - 8) / this.size.h);
      this.scale = Math.max(asked ? MIN_SCALE : READABLE, scale);
      if (asked) this.zoomed = false;
    },
    zoom(factor) {
      this.scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, this.scale * factor));
      this.zoomed = true;
    },
    /** Move the keyboard focus to the next (+1) or previous (-1) node in reading order (rank by rank). */
    step(delta) {
      const order = this.order;
      if (!order.length) return;
      const at = order.indexOf(this.focused);
      const next = at < 0 ? (delta > 0 ? 0 : order.length - 1) : Math.max(0, Math.min(order.length - 1, at + delta));
      const target = this.$el.querySelector(`[data-task-id="${CSS.escape(order[next])}"]`);
      if (target) {
        target.focus();
        target.scrollIntoView({ block: "nearest", inline: "nearest" });
      }
    },
  },
};
