// prefspace labeling studio: the page's logic.
// Responses are untrusted model output: they are only ever inserted with textContent, never as
// HTML, and the Content-Security-Policy forbids inline scripts besides.
"use strict";

(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const KEYS = { a: "a", "1": "a", ArrowLeft: "a", b: "b", "2": "b", ArrowRight: "b",
                 t: "tie", "3": "tie", ArrowDown: "tie", s: "skip", "0": "skip" };
  let current = null;      // the pair on screen
  let busy = false;        // a judgment is being sent
  let polling = false;     // a /api/next request is in flight
  let lastVersion = null;

  function annotatorName() {
    let name = (localStorage.getItem("prefspace-annotator") || "").trim();
    if (!/^[\w.@+\- ]{1,64}$/.test(name)) {
      const bytes = new Uint8Array(3);
      crypto.getRandomValues(bytes);
      name = "annotator-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      localStorage.setItem("prefspace-annotator", name);
    }
    return name;
  }

  async function api(method, path, body) {
    const opts = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const resp = await fetch(path, opts);
    let data = null;
    try { data = await resp.json(); } catch (e) { data = { error: "no JSON in the answer" }; }
    return { status: resp.status, data };
  }

  function setStatus(text, kind) {
    const el = $("status");
    el.textContent = text;
    el.className = "status" + (kind ? " " + kind : "");
  }

  function message(text) { $("message").textContent = text || ""; }

  function renderPrompt(el, prompt) {
    el.replaceChildren();
    if (typeof prompt === "string") { el.textContent = prompt; return; }
    for (const m of prompt || []) {
      const div = document.createElement("div");
      div.className = "msg";
      const role = document.createElement("span");
      role.className = "role";
      role.textContent = String(m.role || "") + ": ";
      div.append(role, document.createTextNode(String(m.content || "")));
      el.append(div);
    }
  }

  function showPair(pair) {
    current = pair;
    renderPrompt($("prompt"), pair.prompt);
    const hasB = pair.prompt_b !== null && pair.prompt_b !== undefined;
    $("prompt-b-wrap").hidden = !hasB;
    if (hasB) renderPrompt($("prompt-b"), pair.prompt_b);
    $("response-a").textContent = pair.response_a;
    $("response-b").textContent = pair.response_b;
    $("reason").value = "";
    for (const id of ["card-a", "card-b"]) { $(id).scrollTop = 0; }
    setButtons(true);
    document.body.dataset.pair = pair.pair_id;
    setStatus("pair from batch " + pair.batch, "ok");
  }

  function clearPair(text) {
    current = null;
    document.body.dataset.pair = "";
    for (const id of ["prompt", "prompt-b", "response-a", "response-b"]) $(id).textContent = "";
    $("prompt-b-wrap").hidden = true;
    setButtons(false);
    if (text) $("prompt").textContent = text;
  }

  function setButtons(on) {
    for (const id of ["btn-a", "btn-b", "btn-tie", "btn-skip"]) $(id).disabled = !on;
  }

  async function loadNext() {
    if (polling) return;
    polling = true;
    let delay = 0;
    try {
      for (;;) {
        if (delay) await new Promise((r) => setTimeout(r, delay));
        let res;
        const who = annotatorName();
        try {
          res = await api("POST", "/api/next", { annotator: who, wait_s: 20 });
        } catch (e) {
          setStatus("connection lost; retrying", "busy");
          delay = Math.min((delay || 500) * 2, 10000);
          continue;
        }
        if (res.status !== 200) {
          setStatus("error", "busy");
          message(res.data.error || "the server refused the request");
          delay = Math.min((delay || 1000) * 2, 10000);
          continue;
        }
        delay = 0;
        const st = res.data.status;
        if (st === "ok" && who !== annotatorName()) {  // renamed while waiting: not this name's pair
          await api("POST", "/api/release", { annotator: who, pair_id: res.data.pair.pair_id }).catch(() => null);
          continue;
        }
        if (st === "ok") { showPair(res.data.pair); refreshState(); return; }
        if (st === "finished") {
          clearPair("Nothing left to label: " + ((await refreshState()) || "finished") + ".");
          setStatus("finished", "ok");
          return;
        }
        clearPair(st === "refitting"
          ? "Refitting the model on the new labels and choosing the next batch…"
          : "Every open pair is with another annotator; waiting for the next one…");
        setStatus(st === "refitting" ? "refitting" : "waiting", "busy");
        refreshState();
      }
    } finally {
      polling = false;
    }
  }

  async function submit(label) {
    if (!current || busy) return;
    busy = true;
    setButtons(false);
    const pair = current;
    const reason = $("reason").value.trim();
    const body = { annotator: annotatorName(), pair_id: pair.pair_id, label };
    if (reason) body.reason = reason;
    try {
      const res = await api("POST", "/api/judgments", body);
      if (res.status === 201) {
        message("");
        const btn = $(label === "a" ? "btn-a" : label === "b" ? "btn-b" : label === "tie" ? "btn-tie" : "btn-skip");
        btn.classList.remove("flash"); void btn.offsetWidth; btn.classList.add("flash");
      } else {
        message(res.data.error || ("refused (" + res.status + ")"));
      }
    } catch (e) {
      message("could not reach the server; the label was not saved");
      setButtons(true);
      busy = false;
      return;
    }
    current = null;
    busy = false;
    refreshState();
    loadNext();
  }

  function fmtPct(x) { return (100 * x).toFixed(1) + "%"; }

  async function refreshState() {
    let res;
    try { res = await api("GET", "/api/state?annotator=" + encodeURIComponent(annotatorName())); }
    catch (e) { return null; }
    if (res.status !== 200) return null;
    const s = res.data;
    const p = s.progress;
    $("progress-session").textContent = p.session;
    $("progress-total").textContent = p.labels;
    $("progress-skipped").textContent = p.skipped ? "(" + p.skipped + " skipped)" : "";
    $("progress-left").textContent = p.left_in_batch;
    $("progress-batch").textContent = p.batch ? "(batch " + p.batch + (p.rounds ? " of " + p.rounds : "") + ")" : "";
    const m = s.model;
    if (m) {
      $("model-version").textContent = "v" + m.version + " (" + m.head + ")";
      $("model-labels").textContent = m.n_labels + " labels";
      $("model-accuracy").textContent = m.cv_accuracy === null ? "needs more labels"
        : fmtPct(m.cv_accuracy) + " [" + fmtPct(m.cv_low) + ", " + fmtPct(m.cv_high) + "], " + m.cv_folds + "-fold";
      const lb = $("model-length");
      if (m.length_accuracy === null || m.length_accuracy === undefined) {
        lb.textContent = "–";
        delete lb.dataset.verdict;
      } else {
        const pts = (x) => (x >= 0 ? "+" : "") + (100 * x).toFixed(1);
        const verdict = m.vs_length_low > 0 ? "above" : m.vs_length_high < 0 ? "below" : "not significantly different";
        lb.textContent = fmtPct(m.length_accuracy) + "; model " + pts(m.vs_length) + " points [" +
          pts(m.vs_length_low) + ", " + pts(m.vs_length_high) + "]: " +
          (verdict === "above" ? "beats it" : verdict === "below" ? "BELOW it" : "not significantly different");
        lb.dataset.verdict = verdict;
      }
      if (lastVersion !== null && m.version !== lastVersion) message("The model was refitted: v" + m.version + ".");
      lastVersion = m.version;
    }
    const st = s.settings;
    $("model-strategy").textContent = st.strategy + ", batches of " + st.batch_size +
      (st.explore ? ", " + Math.round(100 * st.explore) + "% explored" : "");
    const ag = s.agreement;
    $("agreement").textContent = ag.pairs ? fmtPct(ag.percent) + " on " + ag.pairs + " pairs" +
      (ag.alpha === null ? "" : ", α = " + ag.alpha.toFixed(2)) : (st.overlap > 1 ? "none yet" : "overlap 1");
    drawCurve(s.curve);
    if (s.error) message(s.error);
    document.body.dataset.modelVersion = m ? String(m.version) : "";
    return s.finished;
  }

  function svg(tag, attrs, parent) {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    if (parent) parent.append(el);
    return el;
  }

  function drawCurve(points) {
    const box = $("curve");
    if (!points || !points.length) return;
    const W = 300, H = 170, L = 34, R = 8, T = 8, B = 26;
    const xs = points.map((q) => q.labels);
    const xmin = Math.min(...xs), xmax = Math.max(...xs, xmin + 1);
    const ymin = Math.max(0, Math.min(0.4, ...points.map((q) => q.low))), ymax = 1;
    const X = (v) => L + (W - L - R) * (v - xmin) / (xmax - xmin);
    const Y = (v) => T + (H - T - B) * (1 - (v - ymin) / (ymax - ymin));
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "cross-validated accuracy by labels" });
    svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }, root);
    svg("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }, root);
    for (const v of [ymin, 0.5, 0.75, 1].filter((v, i, a) => v >= ymin && a.indexOf(v) === i)) {
      const t = svg("text", { x: L - 4, y: Y(v) + 3, "text-anchor": "end" }, root);
      t.textContent = Math.round(100 * v) + "%";
    }
    for (const v of [xmin, xmax]) {
      const t = svg("text", { x: X(v), y: H - B + 14, "text-anchor": "middle" }, root);
      t.textContent = String(v);
    }
    const cap = svg("text", { x: (L + W - R) / 2, y: H - 2, "text-anchor": "middle" }, root);
    cap.textContent = "labels";
    const band = points.map((q) => `${X(q.labels)},${Y(q.high)}`)
      .concat(points.slice().reverse().map((q) => `${X(q.labels)},${Y(q.low)}`)).join(" ");
    svg("polygon", { points: band, class: "band" }, root);
    svg("polyline", { points: points.map((q) => `${X(q.labels)},${Y(q.accuracy)}`).join(" "), class: "line" }, root);
    for (const q of points) svg("circle", { cx: X(q.labels), cy: Y(q.accuracy), r: 3, class: "dot" }, root);
    box.replaceChildren(root);
  }

  function onKey(ev) {
    const tag = (ev.target && ev.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA") {
      if (ev.key === "Escape") ev.target.blur();
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "r") { ev.preventDefault(); $("reason").focus(); return; }
    const label = KEYS[ev.key];
    if (label) { ev.preventDefault(); submit(label); }
  }

  function init() {
    const input = $("annotator");
    input.value = annotatorName();
    input.addEventListener("change", async () => {
      const v = input.value.trim();
      if (/^[\w.@+\- ]{1,64}$/.test(v)) {
        const before = annotatorName();
        if (v === before) return;
        const held = current;
        localStorage.setItem("prefspace-annotator", v);
        message("");
        if (held && !busy) {  // the pair on screen was leased to the old name: give it back, ask again
          clearPair("");
          await api("POST", "/api/release", { annotator: before, pair_id: held.pair_id }).catch(() => null);
          loadNext();
        }
        refreshState();
      } else {
        message("An annotator name has 1 to 64 letters, digits, spaces or . @ + - _");
        input.value = annotatorName();
      }
    });
    for (const id of ["btn-a", "btn-b", "btn-tie", "btn-skip"]) {
      $(id).addEventListener("click", (ev) => submit(ev.currentTarget.dataset.label));
    }
    document.addEventListener("keydown", onKey);
    setButtons(false);
    refreshState();
    loadNext();
    setInterval(refreshState, 5000);
  }

  document.addEventListener("DOMContentLoaded", init);
})();
