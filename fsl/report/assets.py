"""The HTML page's inline CSS and JavaScript (no network, no library).

`ERROR_HOOK` runs first: it counts script errors and `console.error` calls
into `<html data-errors>`, so a headless browser's dumped DOM says whether
the page rendered cleanly.  `RENDERER` draws every `<figure data-chart=ID>`
from the JSON specs of charts.py as SVG (bars with hover titles, axes with
ticks and labels) and sets `<html data-rendered>` to how many it drew.
Kept as Python strings so the page needs no package data files.
"""

ERROR_HOOK = r"""
(function () {
  var errors = [];
  function note(msg) {
    errors.push(String(msg));
    var root = document.documentElement;
    root.setAttribute("data-errors", String(errors.length));
    root.setAttribute("data-error-text", errors.join(" | ").slice(0, 2000));
  }
  window.addEventListener("error", function (e) { note(e.message || "error"); });
  window.addEventListener("unhandledrejection", function (e) { note("unhandled rejection: " + e.reason); });
  var original = console.error;
  console.error = function () {
    note(Array.prototype.map.call(arguments, String).join(" "));
    return original.apply(console, arguments);
  };
})();
"""

RENDERER = r"""
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var CHAR = 6.6;  // average width of an 11px label, for layout

  function el(tag, attrs, parent) {
    var node = document.createElementNS(NS, tag);
    for (var k in attrs) { if (attrs[k] !== undefined) node.setAttribute(k, attrs[k]); }
    if (parent) parent.appendChild(node);
    return node;
  }
  function label(parent, x, y, s, cls, anchor) {
    var t = el("text", {x: x, y: y, "class": cls || "tick", "text-anchor": anchor || "start"}, parent);
    t.textContent = s;
    return t;
  }
  function title(node, s) { if (s) { el("title", {}, node).textContent = s; } }
  function fit(s, width) {
    var n = Math.max(3, Math.floor(width / CHAR));
    return s.length > n ? s.slice(0, n - 1) + "\u2026" : s;
  }
  function sums(spec) {
    return spec.categories.map(function (_, i) {
      return spec.series.reduce(function (a, s) { return a + (s.values[i] || 0); }, 0);
    });
  }
  function top(spec) {
    var vals = spec.stacked ? sums(spec) : [].concat.apply([], spec.series.map(function (s) { return s.values; }));
    return Math.max.apply(null, [0].concat(vals));
  }
  // An axis from 0 with round steps; percentages step in whole percents up to 100%.
  function axis(spec) {
    var pctAxis = !!spec.percent, max = top(spec) * (pctAxis ? 100 : 1);
    if (max <= 0) { max = pctAxis ? 100 : 1; }
    var raw = max / 4, p = Math.pow(10, Math.floor(Math.log10(raw))), m = raw / p;
    var step = (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p;
    step = Math.max(1, Math.round(step));
    var hi = Math.ceil(max / step) * step;
    if (pctAxis) { hi = Math.min(hi, 100); if (hi < max) { hi = 100; } }
    var ticks = [];
    for (var v = 0; v <= hi + 1e-9; v += step) { ticks.push(v); }
    var k = pctAxis ? 100 : 1;
    return {max: hi / k, ticks: ticks.map(function (t) { return t / k; }),
            fmt: function (v) { return pctAxis ? Math.round(v * 100) + "%" : String(Math.round(v * 10) / 10); }};
  }
  // Draw at the host's real width, so 11px text stays 11px in narrow columns.
  function widthOf(host) {
    var w = Math.round(host.getBoundingClientRect().width || 0);
    return w >= 240 ? w : 620;
  }
  function svgIn(host, w, h, name) {
    var svg = el("svg", {viewBox: "0 0 " + w + " " + h, width: "100%", role: "img",
                         "aria-label": name, preserveAspectRatio: "xMidYMid meet"}, host);
    return svg;
  }
  function empty(svg, w, h) {
    label(svg, w / 2, h / 2, "No data in this period", "empty", "middle");
  }
  function color(s, i) { return (s.colors && s.colors[i]) || s.color; }

  function columns(host, spec) {
    var W = widthOf(host), H = 290, m = {l: 58, r: 14, t: 26, b: 58};
    var svg = svgIn(host, W, H, host.getAttribute("data-name"));
    var n = spec.categories.length, pw = W - m.l - m.r, ph = H - m.t - m.b;
    if (!n) { return empty(svg, W, H); }
    var ax = axis(spec), y = function (v) { return m.t + ph - (v / ax.max) * ph; };
    ax.ticks.forEach(function (t) {
      el("line", {x1: m.l, x2: W - m.r, y1: y(t), y2: y(t), "class": t ? "grid" : "axis"}, svg);
      label(svg, m.l - 8, y(t) + 4, ax.fmt(t), "tick", "end");
    });
    var gw = pw / n, ns = spec.stacked ? 1 : spec.series.length;
    var bw = Math.min(spec.stacked ? 64 : 44, (gw * 0.72) / ns);
    var totals = sums(spec);
    spec.categories.forEach(function (cat, i) {
      var gx = m.l + gw * i + (gw - bw * ns) / 2, base = 0;
      spec.series.forEach(function (s, j) {
        var v = s.values[i] || 0, x = spec.stacked ? gx : gx + j * bw;
        var y0 = spec.stacked ? y(base + v) : y(v), h = Math.max(0, (spec.stacked ? y(base) : y(0)) - y0);
        var r = el("rect", {x: x + 1, y: y0, width: Math.max(1, bw - 2), height: Math.max(h, v ? 1 : 0.0001),
                            rx: 3, fill: color(s, i), "class": "bar"}, svg);
        title(r, s.titles[i]);
        if (!spec.stacked && s.labels[i] && (v || !spec.hide_zero)) { label(svg, x + bw / 2, y0 - 6, s.labels[i], "value", "middle"); }
        if (spec.stacked && h >= 16 && s.labels[i]) {
          label(svg, x + bw / 2, y0 + h / 2 + 4, s.labels[i], "inbar", "middle");
        }
        base += v;
      });
      if (spec.stacked && totals[i]) { label(svg, gx + bw / 2, y(totals[i]) - 6, String(totals[i]), "value", "middle"); }
      var t = label(svg, m.l + gw * i + gw / 2, m.t + ph + 18, fit(cat, gw - 4), "cat", "middle");
      title(t, cat);
    });
    if (!top(spec)) { label(svg, m.l + pw / 2, m.t + ph / 2, "None in this period", "empty", "middle"); }
    label(svg, m.l + pw / 2, H - 12, spec.x_label || "", "axis-label", "middle");
    var yl = label(svg, 0, 0, spec.y_label || "", "axis-label", "middle");
    yl.setAttribute("transform", "translate(15," + (m.t + ph / 2) + ") rotate(-90)");
  }

  function hbars(host, spec) {
    var n = spec.categories.length, row = 26, gap = 10;
    var longest = Math.max.apply(null, [4].concat(spec.categories.map(function (c) { return c.length; })));
    var m = {l: Math.min(170, Math.max(70, longest * CHAR + 18)), r: 76, t: 8, b: 48};
    var W = widthOf(host), H = m.t + Math.max(1, n) * (row + gap) - gap + m.b;
    var svg = svgIn(host, W, H, host.getAttribute("data-name"));
    if (!n) { return empty(svg, W, H); }
    var pw = W - m.l - m.r, ax = axis(spec), x = function (v) { return m.l + (v / ax.max) * pw; };
    ax.ticks.forEach(function (t) {
      el("line", {x1: x(t), x2: x(t), y1: m.t - 4, y2: H - m.b + 4, "class": t ? "grid" : "axis"}, svg);
      label(svg, x(t), H - m.b + 18, ax.fmt(t), "tick", "middle");
    });
    var totals = sums(spec);
    spec.categories.forEach(function (cat, i) {
      var yy = m.t + i * (row + gap), base = 0;
      var c = label(svg, m.l - 10, yy + row / 2 + 4, fit(cat, m.l - 14), "cat", "end");
      title(c, cat);
      spec.series.forEach(function (s) {
        var v = s.values[i] || 0, w = x(base + v) - x(base);
        var r = el("rect", {x: x(base), y: yy, width: Math.max(w, v ? 2 : 0.0001), height: row, rx: 4,
                            fill: color(s, i), "class": "bar"}, svg);
        title(r, s.titles[i]);
        if (spec.stacked && w >= 22 && v) { label(svg, x(base) + w / 2, yy + row / 2 + 4, String(v), "inbar", "middle"); }
        base += v;
      });
      var text = spec.stacked ? String(totals[i]) : spec.series[0].labels[i];
      label(svg, x(totals[i]) + 8, yy + row / 2 + 4, text, "value", "start");
    });
    label(svg, m.l + pw / 2, H - 10, spec.x_label || "", "axis-label", "middle");
  }

  var data = JSON.parse(document.getElementById("report-data").textContent);
  var drawn = 0;
  Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), function (fig) {
    var spec = data.charts[fig.getAttribute("data-chart")];
    var host = fig.querySelector(".plot");
    try {
      (spec.type === "hbars" ? hbars : columns)(host, spec);
      drawn += 1;
    } catch (err) {
      console.error("chart " + fig.getAttribute("data-chart") + ": " + err);
    }
  });
  document.documentElement.setAttribute("data-rendered", String(drawn));
})();
"""

CSS = r"""
:root {
  --ink: #111827; --text: #374151; --muted: #6b7280; --faint: #9ca3af; --line: #e5e7eb;
  --bg: #f4f5f8; --card: #ffffff; --accent: #4f46e5; --accent-soft: #eef2ff;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 14px/1.55 "Inter", "Segoe UI", system-ui, -apple-system, "Helvetica Neue", "Liberation Sans", "DejaVu Sans", Arial, sans-serif;
  font-feature-settings: "tnum" 1; }
.wrap { max-width: 1180px; margin: 0 auto; padding: 0 28px; }
header.top { background: linear-gradient(120deg, #1e1b4b 0%, #3730a3 55%, #4f46e5 100%); color: #e0e7ff;
  padding: 30px 0 70px; }
header.top .brand { font-size: 12px; letter-spacing: .14em; text-transform: uppercase; color: #a5b4fc; font-weight: 600; }
header.top h1 { margin: 6px 0 8px; font-size: 28px; line-height: 1.2; color: #fff; font-weight: 700; letter-spacing: -.01em; }
header.top .meta { margin: 0; font-size: 13px; color: #c7d2fe; }
header.top .meta b { color: #fff; font-weight: 600; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(136px, 1fr)); gap: 14px; margin-top: -46px; }
.kpi { background: var(--card); border-radius: 12px; padding: 14px 16px 13px; border: 1px solid #e8eaf0;
  box-shadow: 0 1px 2px rgba(16,24,40,.05), 0 8px 24px rgba(16,24,40,.06); }
.kpi .label { font-size: 10.5px; letter-spacing: .06em; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; text-transform: uppercase; color: var(--muted); font-weight: 600; }
.kpi .value { font-size: 25px; font-weight: 700; color: var(--ink); margin-top: 2px; letter-spacing: -.01em; }
.kpi .sub { font-size: 12px; color: var(--muted); }
nav.toc { display: flex; gap: 8px; flex-wrap: wrap; margin: 22px 0 0; }
nav.toc a { font-size: 13px; color: var(--accent); text-decoration: none; background: var(--card);
  border: 1px solid #e0e3ff; padding: 4px 12px; border-radius: 999px; }
nav.toc a:hover { background: var(--accent-soft); }
section { margin-top: 34px; }
section > h2 { font-size: 19px; color: var(--ink); margin: 0 0 4px; letter-spacing: -.01em; }
section > p.lead { margin: 0 0 14px; color: var(--muted); font-size: 13px; }
.card { background: var(--card); border: 1px solid #e8eaf0; border-radius: 14px; padding: 20px 22px 16px;
  margin-bottom: 18px; box-shadow: 0 1px 2px rgba(16,24,40,.04); }
.card > header h3 { margin: 0; font-size: 17px; color: var(--ink); }
.card > header h3 code { font: 600 16px ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace;
  color: var(--accent); background: var(--accent-soft); padding: 1px 7px; border-radius: 6px; }
.card > header p { margin: 4px 0 0; color: var(--muted); font-size: 13px; }
.pills { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 10px; }
.pill { display: inline-flex; align-items: center; gap: 6px; font-size: 12px; padding: 2px 10px; border-radius: 999px;
  background: #f3f4f6; color: var(--text); border: 1px solid #eceef2; }
.pill b { color: var(--ink); }
.dot { width: 8px; height: 8px; border-radius: 50%; display: inline-block; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 22px; margin-top: 14px; }
.grid3 { display: grid; grid-template-columns: repeat(3, 1fr); gap: 22px; }
@media (max-width: 980px) { .grid2, .grid3 { grid-template-columns: 1fr; } }
figure { margin: 0; min-width: 0; }
.grid2 > *, .grid3 > * { min-width: 0; }
h4.sub { margin: 18px 0 0; font-size: 13px; color: var(--ink); font-weight: 650; }
p.small { font-size: 12.5px; margin: 8px 0 0; }
figcaption { font-size: 14px; font-weight: 650; color: var(--ink); }
figcaption span { display: block; font-size: 12px; font-weight: 400; color: var(--muted); margin-top: 1px; }
.plot { margin-top: 8px; }
.plot svg { display: block; overflow: visible; }
.plot text { font-size: 11px; fill: var(--muted); }
.plot text.cat { fill: var(--text); font-size: 11.5px; }
.plot text.value { fill: var(--ink); font-weight: 600; }
.plot text.inbar { fill: #fff; font-weight: 600; font-size: 10.5px; }
.plot text.axis-label { fill: #4b5563; font-weight: 600; font-size: 11px; letter-spacing: .02em; }
.plot text.empty { fill: var(--faint); font-size: 13px; }
.plot line.grid { stroke: #eef0f4; }
.plot line.axis { stroke: #cbd5e1; }
.plot rect.bar { transition: opacity .15s; }
.plot rect.bar:hover { opacity: .78; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 14px; margin-top: 6px; font-size: 12px; color: var(--text); }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 3px; margin-right: 5px; vertical-align: -1px; }
.tablewrap { overflow-x: auto; margin-top: 14px; }
table { width: 100%; border-collapse: collapse; font-size: 12.5px; }
th { text-align: right; font-size: 11px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted);
  font-weight: 600; padding: 8px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td { text-align: right; padding: 7px 10px; border-bottom: 1px solid #f1f2f5; white-space: nowrap; color: var(--text); vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
td:first-child { color: var(--ink); font-weight: 500; }
tbody tr:hover td { background: #fafbff; }
tr.total td { font-weight: 650; color: var(--ink); border-top: 1px solid var(--line); border-bottom: 0; background: #fbfbfd; }
td .share { color: var(--faint); font-size: 11px; margin-left: 3px; }
td.bad { color: #dc2626; font-weight: 650; }
.stats { display: flex; flex-wrap: wrap; gap: 10px 26px; margin: 6px 0 16px; }
.stat .label { font-size: 11px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); font-weight: 600; }
.stat .value { font-size: 20px; font-weight: 700; color: var(--ink); }
.stat .sub { font-size: 12px; color: var(--muted); }
.note { background: #fffbeb; border: 1px solid #fde68a; color: #92400e; padding: 8px 12px; border-radius: 8px; margin-top: 14px; font-size: 13px; }
.muted { color: var(--muted); }
dl.defs { display: grid; grid-template-columns: 190px 1fr; gap: 6px 18px; margin: 0; font-size: 13px; }
dl.defs dt { font-weight: 600; color: var(--ink); }
dl.defs dd { margin: 0; color: var(--text); }
footer { margin: 36px 0 40px; font-size: 12px; color: var(--faint); }
"""
