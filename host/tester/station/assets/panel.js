// The station panel: one tile per fixture, kept up to date by the station's event stream
// (/api/events: a "snapshot", then "tiles" with what changed). No library, nothing fetched
// from elsewhere: the line may have no internet.
"use strict";

// glyphs the fonts of a plain Debian desktop (DejaVu) have: a missing one shows as an empty box
const ICONS = {PASS: "\u2714", FAIL: "\u2716", ERROR: "!", INVALID: "?", ABORTED: "\u25A0", RUNNING: "\u25B6",
  MONITORING: "\u25C9", VIBRATION: "\u223F", WAITING: "\u2016", IDLE: "", CONNECTING: "\u2026", GONE: "\u23CF", REFUSED: "\u2298", "NO ANSWER": "\u25CC"};
const state = {station: {}, tiles: new Map(), skew: 0};
const tilesEl = document.getElementById("tiles");

function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function svg(tag, attrs, ...kids) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids.flat()) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function hms(s) {
  s = Math.max(0, Math.round(s || 0));
  const p = n => String(n).padStart(2, "0");
  return p(Math.floor(s / 3600)) + ":" + p(Math.floor(s / 60) % 60) + ":" + p(s % 60);
}

function ns(v) {
  if (!v) return "0";
  return v >= 1000 ? (v / 1000).toFixed(v >= 10000 ? 0 : 1) + " \u00B5s" : v + " ns";
}

function clock(t) {
  return t ? new Date(t * 1000).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"}) : "";
}

function ago(t) {
  const s = Math.max(0, Date.now() / 1000 - state.skew - t);
  if (s < 60) return Math.round(s) + " s";
  if (s < 3600) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}

function pinsText(failed) {
  return (failed || []).map(String).join(", ");
}

// -- a tile ------------------------------------------------------------------------------------

function render(t) {
  const disp = t.display;
  const cls = "tile d-" + disp.replace(/ /g, "_");
  const sim = t.simulated ? h("span", {class: "badge sim", title: "a simulated fixture: not real hardware"}, "SIMULATED") : null;
  const head = h("div", {class: "head"},
    h("span", {class: "fid"}, t.fixture_id || "port"), sim, h("span", {class: "port"}, t.port || ""));
  const icon = ICONS[disp] || "";
  const big = h("div", {class: "big" + (disp.length > 6 ? " small-word" : ""), "data-display": disp},
    icon ? h("span", {class: "icon", "aria-hidden": "true"}, icon) : null, h("span", {class: "word"}, disp));
  const body = [head, big];
  const last = (t.results || [])[0];
  const job = t.job;

  if (t.state === "busy" && job && job.kind === "vibration") {
    body.push(...vibrationView(t, job));
  } else if (t.state === "busy" && job && job.kind === "run" && t.progress) {
    body.push(h("div", {class: "sub"}, (job.source === "button" ? (job.params.collected ? "START button, kept on the fixture, collected" : "START button")
      : "started from the " + job.source) + " \u00B7 " + t.progress.positions + " positions, stage " + t.progress.stage +
      (t.progress.serial ? " \u00B7 serial " + t.progress.serial : "")));
    body.push(...runProgress(t.progress));
  } else if (t.monitor && (t.state === "busy" || (last && (last.kind === "monitor" || last.kind === "vibration")))) {
    body.push(monitorView(t));
  }
  if (t.state !== "busy" && last) {
    if (last.verdict === "FAIL" && last.failed && last.failed.length) {
      body.push(h("div", {class: "why"}, last.kind === "monitor" ? "events on pins " : "failing pins ",
        h("span", {class: "pins failing-pins"}, pinsText(last.failed))));
    }
    const reasons = (last.failures || []).slice(0, 4);
    if (reasons.length) body.push(h("ul", {class: "sub reasons"}, reasons.map(r => h("li", {}, r))));
    if (last.error && last.verdict !== "PASS") body.push(h("div", {class: "sub error"}, last.error));
  }
  if (t.state === "refused" || t.state === "gone" || t.state === "silent") {
    body.push(h("div", {class: "why reason"}, t.reason || ""));
    if (t.fix) body.push(h("div", {class: "fix"}, "fix: " + t.fix));
  }
  body.push(h("div", {class: "sub"}, status(t)));
  body.push(actions(t));
  if (t.results && t.results.length) body.push(h("ol", {class: "results"}, t.results.map(r => resultRow(r, t))));
  if (t.log && t.log.length) body.push(h("ul", {class: "log"}, t.log.slice(-4).map(l => h("li", {}, clock(l.t) + " " + l.msg))));
  return h("section", {class: cls, "data-key": t.key, "data-state": t.state, "data-display": disp,
    "data-simulated": t.simulated ? "1" : "0"}, body);
}

function runProgress(p) {
  const frac = p.total ? Math.min(1, p.done / p.total) : 0;
  const out = [h("div", {class: "progress"}, h("div", {class: "fill", style: "width:" + (100 * frac).toFixed(1) + "%"}),
    h("span", {class: "label"}, p.done + " / " + p.total + " measured \u00B7 " + (p.step || "")))];
  if (p.failed && p.failed.length)
    out.push(h("div", {class: "why"}, "failing so far: ", h("span", {class: "pins failing-pins"}, pinsText(p.failed))));
  return out;
}

function vibrationView(t, job) {
  // The procedure's step (contact resistance, axis n of 3), the operator's prompt with its
  // Continue, then the stage's progress or the axis's monitoring (with the sweep frequency).
  const pr = t.procedure || {};
  const where = pr.axis ? "axis " + pr.axis + " (" + pr.axis_n + " of " + pr.axes + ")" : (pr.step || "starting");
  const out = [h("div", {class: "procedure", "data-step": pr.step || ""}, "vibration \u00B7 " + where +
    (pr.of ? " \u00B7 step " + pr.n + " of " + pr.of : "")),
    h("div", {class: "sub"}, job.params.axis_seconds + " s per axis, sweep " + job.params.sweep +
      (job.params.serial ? " \u00B7 serial " + job.params.serial : ""))];
  if (job.prompt) {
    out.push(h("div", {class: "prompt", role: "alert"}, job.prompt,
      h("button", {class: "continue", onclick: () => post("/api/jobs/" + encodeURIComponent(job.id) + "/continue")}, "Continue")));
  } else if (t.progress) {
    out.push(...runProgress(t.progress));
  } else if (t.monitor && pr.axis) {
    out.push(monitorView(t));
  }
  return out;
}

function status(t) {
  const bits = [];
  if (t.state === "idle") bits.push("ready" + (t.can_press || !t.simulated ? " for START" : "") + " \u00B7 idle " + ago(t.since));
  if (t.state === "gone") bits.push("gone " + ago(t.since) + " ago");
  if (t.firmware) bits.push("firmware " + t.firmware);
  if (t.lid_closed === false) bits.push("LID OPEN");
  if (t.calibration && t.calibration.state && t.calibration.state !== "valid") bits.push("calibration " + t.calibration.state);
  if (t.cycles) bits.push("test boards " + t.cycles.count + "/" + t.cycles.limit + " matings" +
    (t.cycles.state === "worn" ? ": REPLACE THEM" : t.cycles.state === "warn" ? ": replace soon" : ""));
  return bits.join(" \u00B7 ");
}

function monitorView(t) {
  const m = t.monitor;
  const link = m.link || {};
  const lost = Object.keys(m.lost || {});
  const bad = link.lost || link.garbled || lost.length;
  const health = h("span", {class: "health" + (bad ? " bad" : "")}, "link: " + (link.frames || 0) + " frames, " +
    (link.lost || 0) + " lost, " + (link.garbled || 0) + " garbled, " + (m.reconnects || 0) + " reconnect(s)" +
    (lost.length ? "; fixture lost " + lost.join(", ") : ""));
  const figures = h("div", {class: "figures"},
    h("span", {class: "elapsed"}, "elapsed ", h("b", {}, hms(m.elapsed_s)), " / " + hms(m.seconds)),
    h("span", {}, "events ", h("b", {"data-events": m.events}, m.events)),
    h("span", {}, "glitches ", h("b", {}, m.glitches)),
    h("span", {}, "longest ", h("b", {"data-longest": m.longest_ns}, ns(m.longest_ns))),
    m.axis ? h("span", {}, "axis ", h("b", {}, m.axis)) : null,
    m.sweep ? h("span", {title: "sweep frequency now (" + m.sweep + " reading)"}, "sweep ",
      h("b", {"data-sweep-hz": m.sweep_hz}, (m.sweep_hz || 0).toFixed(1) + " Hz")) : null);
  const chans = Object.entries(m.channels || {}).sort((a, b) => (b[1].events - a[1].events) || (a[0] - b[0])).slice(0, 8);
  const table = chans.length ? h("table", {class: "channels"},
    h("tr", {}, h("th", {}, "ch"), h("th", {}, "pins"), h("th", {}, "events"), h("th", {}, "glitches"), h("th", {}, "longest")),
    chans.map(([ch, c]) => h("tr", {class: c.events ? "failing" : "", "data-channel": ch},
      h("td", {}, ch), h("td", {}, (c.pins || []).join("-")), h("td", {}, c.events), h("td", {}, c.glitches), h("td", {}, ns(c.longest_ns)))))
    : null;
  return h("div", {class: "mon"}, figures, health, table, timeline(m));
}

function timeline(m) {
  // The whole window along x (seconds), one row per channel that had events (the busiest six):
  // a bar per time bin, darker with more events; a line at "now". The last events are also
  // drawn one by one (their details as tooltips).
  const W = 600, H = 84, L = 44, R = 6, T = 6, B = 16;
  const bins = m.bins || {};
  const rows = Object.keys(bins).map(Number).sort((a, b) => sum(bins[b]) - sum(bins[a]) || a - b).slice(0, 6).sort((a, b) => a - b);
  const span = Math.max(m.seconds || 1, 1);
  const x = s => L + (W - L - R) * Math.min(1, Math.max(0, s / span));
  const rh = (H - T - B) / Math.max(rows.length, 1);
  const parts = [svg("line", {class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: "#999"})];
  parts.push(svg("text", {x: L, y: H - 3}, "0 s"), svg("text", {x: W - R - 40, y: H - 3}, span + " s"));
  rows.forEach((ch, i) => {
    parts.push(svg("text", {x: 2, y: T + rh * i + rh / 2 + 4}, "ch " + ch));
    const b = bins[ch], top = Math.max(...b, 1);
    b.forEach((n, k) => {
      if (!n) return;
      const x0 = x(k * m.bin_s), x1 = x((k + 1) * m.bin_s);
      parts.push(svg("rect", {class: "ev", x: x0, y: T + rh * i + 2, width: Math.max(x1 - x0, 2), height: Math.max(rh - 4, 3),
        "fill-opacity": (0.35 + 0.65 * n / top).toFixed(2)}, svg("title", {}, n + " event(s) on ch " + ch + " at " +
        Math.round(k * m.bin_s) + "-" + Math.round((k + 1) * m.bin_s) + " s")));
    });
  });
  for (const e of m.timeline || []) {
    const i = rows.indexOf(e.ch);
    if (i < 0) continue;
    parts.push(svg("rect", {class: "last", x: x(e.t_s) - 1, y: T + rh * i + 2, width: 2, height: Math.max(rh - 4, 3),
      "data-n": e.n}, svg("title", {}, "event #" + e.n + " ch " + e.ch + " pins " + (e.pins || []).join("-") + " at " +
      e.t_s + " s, " + ns(e.len_ns))));
  }
  parts.push(svg("line", {class: "now", x1: x(m.elapsed_s), x2: x(m.elapsed_s), y1: T, y2: H - B}));
  return svg("svg", {class: "timeline", viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", role: "img",
    "aria-label": "events timeline"}, parts);
}

function sum(a) {
  return a.reduce((s, v) => s + v, 0);
}

function resultRow(r, t) {
  const v = r.verdict || "none";
  const what = r.kind === "monitor" ? "monitor " + (r.params.seconds || "") + " s"
    : r.kind === "vibration" ? "vibration 3 \u00D7 " + (r.params.axis_seconds || "") + " s"
    : "run" + (r.source === "button" ? (r.params.collected ? " (START, collected)" : " (START)") : "");
  return h("li", {"data-verdict": v, "data-job": r.id},
    h("span", {class: "v v-" + v}, r.verdict || "NO RESULT"),
    h("span", {}, clock(r.ended || r.created)),
    h("span", {}, what),
    r.params && r.params.serial ? h("span", {}, r.params.serial) : null,
    r.failed && r.failed.length ? h("span", {class: "pins"}, "pins " + pinsText(r.failed)) : null,
    r.simulated ? h("span", {class: "sim"}, "SIMULATED") : null,
    r.report_url ? h("a", {href: r.report_url, target: "_blank", rel: "noopener"}, "report") : null,
    // an interrupted vibration procedure goes on from its next axis, in the same record
    r.kind === "vibration" && r.result && (v === "ABORTED" || v === "ERROR") && t.state === "idle"
      ? h("button", {class: "resume", onclick: () => {
          if (confirm("Resume the vibration procedure " + r.result + " on " + t.key + " from its next axis?"))
            post("/api/fixtures/" + encodeURIComponent(t.key) + "/vibration", {pins: r.params.pins, resume: r.result});
        }}, "Resume") : null);
}

function actions(t) {
  const b = [];
  const idle = t.state === "idle";
  if (idle) {
    b.push(h("button", {class: "run", onclick: () => openDialog(t, "run")}, "Run\u2026"));
    b.push(h("button", {class: "monitor", onclick: () => openDialog(t, "monitor")}, "Monitor\u2026"));
    b.push(h("button", {class: "vibration", onclick: () => openDialog(t, "vibration")}, "Vibration\u2026"));
    if (t.cycles && t.cycles.state !== "ok") b.push(h("button", {class: "replaced", title: "after replacing the fixture's test-board connectors",
      onclick: () => {
        if (confirm("Were the test-board connectors of " + t.key + " replaced? Their mating count starts again from 0."))
          post("/api/fixtures/" + encodeURIComponent(t.key) + "/cycles", {reset: true});
      }}, "Test boards replaced"));
    if (t.can_press) b.push(h("button", {class: "press", title: "press START on this simulated fixture's panel",
      onclick: () => post("/api/fixtures/" + encodeURIComponent(t.key) + "/press")}, "Press START (simulated)"));
  }
  if (t.state === "busy") b.push(h("button", {class: "stop", onclick: () => {
    if (confirm("Stop the " + (t.job ? t.job.kind : "job") + " on " + t.key + "? Its record is kept, verdict ABORTED."))
      post("/api/fixtures/" + encodeURIComponent(t.key) + "/stop");
  }}, "Stop"));
  if (t.state === "refused") b.push(h("button", {class: "retry", onclick: () => post("/api/ports/retry", {port: t.port})}, "Retry"));
  return h("div", {class: "actions"}, b);
}

// -- requests ----------------------------------------------------------------------------------

async function post(url, data) {
  try {
    const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json", "X-Tester-Source": "panel"},
      body: JSON.stringify(data || {})});
    if (!r.ok) {
      const j = await r.json().catch(() => ({error: r.statusText}));
      toast(j.error || ("HTTP " + r.status));
    }
  } catch (e) {
    toast("the station does not answer: " + e);
  }
}

let toastTimer = null;
function toast(msg) {
  const el = document.getElementById("toast");
  el.textContent = msg;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 8000);
}

const dialog = document.getElementById("job-dialog");
const form = document.getElementById("job-form");
let dialogFor = null;

function openDialog(t, kind) {
  dialogFor = {key: t.key, kind: kind};
  dialog.className = "kind-" + kind;
  document.getElementById("job-title").textContent = {run: "Run on ", monitor: "Monitor on ", vibration: "Vibration (spec 8.6) on "}[kind] + t.key;
  document.getElementById("job-sim").hidden = !t.simulated;
  const last = (t.results || []).find(r => r.params && r.params.pins);
  form.pins.value = state.station.pins || (last && last.params.pins) || 40;
  form.stage.value = state.station.stage || "initial";
  form.serial.value = "";
  dialog.showModal();
}

dialog.addEventListener("close", () => {
  if (dialog.returnValue !== "go" || !dialogFor) return;
  const data = {pins: parseInt(form.pins.value, 10)};
  if (form.serial.value.trim()) data.serial = form.serial.value.trim();
  if (dialogFor.kind === "run") data.stage = form.stage.value;
  else if (dialogFor.kind === "vibration") {
    data.axis_seconds = parseInt(form.axis_seconds.value, 10);
    data.sweep = form.sweep.value;
  } else data.seconds = parseInt(form.seconds.value, 10);
  post("/api/fixtures/" + encodeURIComponent(dialogFor.key) + "/" + dialogFor.kind, data);
});

// -- the event stream --------------------------------------------------------------------------

function draw(keys) {
  const ordered = [...state.tiles.values()].sort((a, b) =>
    ((a.fixture_id === null) - (b.fixture_id === null)) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const want = new Set(ordered.map(t => t.key));
  for (const el of [...tilesEl.children]) if (!want.has(el.dataset.key)) el.remove();
  let prev = null;
  for (const t of ordered) {
    let el = tilesEl.querySelector('section[data-key="' + CSS.escape(t.key) + '"]');
    if (!el || !keys || keys.has(t.key)) {
      const fresh = render(t);
      if (el) el.replaceWith(fresh); else tilesEl.append(fresh);
      el = fresh;
    }
    if (prev ? prev.nextSibling !== el : tilesEl.firstChild !== el) {
      if (prev) prev.after(el); else tilesEl.prepend(el);
    }
    prev = el;
  }
  document.getElementById("empty").hidden = state.tiles.size > 0;
  document.getElementById("sim-banner").hidden = ![...state.tiles.values()].some(t => t.simulated);
  window.stationUpdated = Date.now();
}

function header() {
  const s = state.station;
  const bits = [];
  if (s.operator) bits.push("operator " + s.operator);
  if (s.lot) bits.push("lot " + s.lot);
  if (s.pins) bits.push("START runs " + s.pins + " positions, " + (s.stage || "initial"));
  bits.push("results in " + s.out);
  document.getElementById("settings").textContent = bits.join(" \u00B7 ");
}

function live(on) {
  const el = document.getElementById("live");
  el.textContent = on ? "live" : "reconnecting\u2026";
  el.className = "live " + (on ? "on" : "off");
}

function connect() {
  const es = new EventSource("/api/events");
  es.addEventListener("open", () => live(true));
  es.addEventListener("error", () => live(false));
  es.addEventListener("snapshot", ev => {
    const d = JSON.parse(ev.data);
    state.station = d.station || {};
    state.skew = Date.now() / 1000 - d.t;
    state.tiles = new Map(d.tiles.map(t => [t.key, t]));
    header();
    live(true);
    draw(null);
  });
  es.addEventListener("tiles", ev => {
    const d = JSON.parse(ev.data);
    const keys = new Set();
    for (const t of d.tiles) { state.tiles.set(t.key, t); keys.add(t.key); }
    for (const k of d.removed) state.tiles.delete(k);
    draw(keys);
  });
}

// durations ("idle 3 min") move on between updates
setInterval(() => { if (!dialog.open) draw(null); }, 5000);
connect();
