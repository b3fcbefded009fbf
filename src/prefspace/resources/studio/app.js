// prefspace labeling studio: the page's logic.
// Responses are untrusted model output. Their Markdown is rendered by building DOM nodes and
// setting textContent, never by parsing HTML: markup in a response (<script>, <img onerror>)
// stays text, and the Content-Security-Policy forbids inline scripts besides.
"use strict";

(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const NAME_RULE = /^[\w.@+\- ]{1,64}$/;
  const NAME_KEY = "prefspace-annotator";
  const KEYS = { a: "a", "1": "a", ArrowLeft: "a", b: "b", "2": "b", ArrowRight: "b",
                 t: "tie", "3": "tie", ArrowDown: "tie", s: "skip", "0": "skip" };
  const LABEL_TEXT = { a: "A is better", b: "B is better", tie: "tie", skip: "skip" };
  let current = null;      // the pair on screen
  let busy = false;        // a judgment or an undo is being sent
  let polling = false;     // a /api/next request is in flight
  let lastVersion;         // the model version last shown (0: none yet); undefined before the first state

  // ------------------------------------------------------------------ identity
  // The name is the annotator's identity: kept in localStorage (every tab of this browser, and
  // the page reopened), taken from ?annotator=NAME when a link carries it, and otherwise asked
  // for, never invented, so that the same person gets their reserved pairs back anywhere.
  function annotatorName() {
    const name = (localStorage.getItem(NAME_KEY) || "").trim();
    return NAME_RULE.test(name) ? name : "";
  }

  function nameFromLink() {
    const given = new URLSearchParams(window.location.search).get("annotator");
    if (given && NAME_RULE.test(given.trim())) localStorage.setItem(NAME_KEY, given.trim());
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

  function message(text) { $("message").textContent = text || ""; }   // errors
  function notice(text) { $("notice").textContent = text || ""; }     // news, not errors

  // ------------------------------------------------------------------ Markdown, safely
  // A small subset: paragraphs, headings, lists, block quotes, fenced code, inline code,
  // bold, italics, http(s) links. Anything else, raw HTML included, is shown as typed.
  const INLINE = /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)|\*\*(?=\S)([\s\S]*?\S)\*\*|__(?=\S)([\s\S]*?\S)__|\*(?=[^\s*])([^*]*?[^\s*])\*|\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)/g;

  function inline(parent, text) {
    let last = 0;
    for (const m of text.matchAll(INLINE)) {
      if (m.index > last) parent.append(document.createTextNode(text.slice(last, m.index)));
      let el;
      if (m[1]) { el = document.createElement("code"); el.textContent = m[2]; }
      else if (m[3] !== undefined || m[4] !== undefined) {
        el = document.createElement("strong"); inline(el, m[3] !== undefined ? m[3] : m[4]);
      } else if (m[5] !== undefined) { el = document.createElement("em"); inline(el, m[5]); }
      else {
        el = document.createElement("a");
        el.href = m[7];
        el.rel = "noopener noreferrer nofollow";
        el.target = "_blank";
        el.textContent = m[6];
      }
      parent.append(el);
      last = m.index + m[0].length;
    }
    if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
  }

  const FENCE = /^\s{0,3}(```|~~~)/;
  const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
  const ITEM = /^\s{0,3}([-*+]|\d{1,9}[.)])\s+(.*)$/;
  const QUOTE = /^\s{0,3}>\s?(.*)$/;

  function markdown(el, text) {
    el.replaceChildren();
    const lines = String(text === null || text === undefined ? "" : text).split(/\r?\n/);
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      const fence = line.match(FENCE);
      if (fence) {
        const body = [];
        for (i++; i < lines.length && !lines[i].trim().startsWith(fence[1]); i++) body.push(lines[i]);
        i++;
        const pre = document.createElement("pre");
        const code = document.createElement("code");
        code.textContent = body.join("\n");
        pre.append(code);
        el.append(pre);
        continue;
      }
      if (!line.trim()) { i++; continue; }
      const h = line.match(HEADING);
      if (h) {
        const div = document.createElement("div");
        div.className = "md-h md-h" + h[1].length;
        inline(div, h[2]);
        el.append(div);
        i++;
        continue;
      }
      if (ITEM.test(line)) {
        const ordered = /\d/.test(line.match(ITEM)[1]);
        const list = document.createElement(ordered ? "ol" : "ul");
        while (i < lines.length && ITEM.test(lines[i])) {
          const li = document.createElement("li");
          inline(li, lines[i].match(ITEM)[2]);
          list.append(li);
          i++;
        }
        el.append(list);
        continue;
      }
      if (QUOTE.test(line)) {
        const quote = document.createElement("blockquote");
        const body = [];
        while (i < lines.length && QUOTE.test(lines[i])) { body.push(lines[i].match(QUOTE)[1]); i++; }
        inline(quote, body.join("\n"));
        el.append(quote);
        continue;
      }
      const para = [];
      while (i < lines.length && lines[i].trim() && !FENCE.test(lines[i]) && !HEADING.test(lines[i])
             && !ITEM.test(lines[i]) && !QUOTE.test(lines[i])) { para.push(lines[i]); i++; }
      const p = document.createElement("p");
      inline(p, para.join("\n"));
      el.append(p);
    }
  }

  function renderPrompt(el, prompt) {
    el.replaceChildren();
    if (typeof prompt === "string") { markdown(el, prompt); return; }
    for (const m of prompt || []) {
      const div = document.createElement("div");
      div.className = "msg";
      const role = document.createElement("div");
      role.className = "role";
      role.textContent = String(m.role || "");
      const content = document.createElement("div");
      markdown(content, String(m.content || ""));
      div.append(role, content);
      el.append(div);
    }
  }

  // ------------------------------------------------------------------ the pair on screen
  function showPair(pair) {
    current = pair;
    renderPrompt($("prompt"), pair.prompt);
    const hasB = pair.prompt_b !== null && pair.prompt_b !== undefined;
    $("prompt-b-wrap").hidden = !hasB;
    if (hasB) renderPrompt($("prompt-b"), pair.prompt_b);
    markdown($("response-a"), pair.response_a);
    markdown($("response-b"), pair.response_b);
    $("reason").value = "";
    for (const id of ["card-a", "card-b"]) { $(id).scrollTop = 0; }
    setButtons(true);
    document.body.dataset.pair = pair.pair_id;
    setStatus("pair from batch " + pair.batch, "ok");
  }

  function clearPair(text) {
    current = null;
    document.body.dataset.pair = "";
    for (const id of ["prompt", "prompt-b", "response-a", "response-b"]) $(id).replaceChildren();
    $("prompt-b-wrap").hidden = true;
    setButtons(false);
    if (text) $("prompt").textContent = text;
  }

  function setButtons(on) {
    for (const id of ["btn-a", "btn-b", "btn-tie", "btn-skip"]) $(id).disabled = !on;
  }

  function askForName() {
    clearPair("Type your name above to start. The same name, in this browser or any other, "
              + "keeps your place and the pairs reserved for you.");
    setStatus("your name?", "busy");
    document.body.dataset.needsName = "1";
    $("annotator").focus();
  }

  async function loadNext() {
    if (polling) return;
    if (!annotatorName()) { askForName(); return; }
    polling = true;
    let delay = 0;
    let wait = 0;  // ask at once first: a free pair (or the reason there is none) shows without delay
    try {
      for (;;) {
        if (delay) await new Promise((r) => setTimeout(r, delay));
        let res;
        const who = annotatorName();
        try {
          res = await api("POST", "/api/next", { annotator: who, wait_s: wait });
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
        wait = 20;
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

  function stale(text) {
    // the pair on screen is no longer this annotator's: say so now, then fetch the next one
    clearPair("");
    message(text);
    document.body.dataset.stale = "1";
    loadNext();
  }

  async function submit(label) {
    if (!current || busy) return;
    busy = true;
    setButtons(false);
    const pair = current;
    const reason = $("reason").value.trim();
    const body = { annotator: annotatorName(), pair_id: pair.pair_id, label };
    if (reason) body.reason = reason;
    let res;
    try {
      res = await api("POST", "/api/judgments", body);
    } catch (e) {
      message("could not reach the server; the label was not saved");
      setButtons(true);
      busy = false;
      return;
    }
    busy = false;
    if (res.status === 201) {
      message("");
      notice("");
      document.body.dataset.stale = "";
      const btn = $(label === "a" ? "btn-a" : label === "b" ? "btn-b" : label === "tie" ? "btn-tie" : "btn-skip");
      btn.classList.remove("flash"); void btn.offsetWidth; btn.classList.add("flash");
      current = null;
      refreshState();
      loadNext();
    } else if (res.status === 409 || res.status === 404) {
      stale("This pair is no longer yours (" + (res.data.error || "it was closed") + "). "
            + "It was judged in another tab or by someone else, or your reservation lapsed; "
            + "your label was not saved. Here is the next pair.");
    } else {
      message(res.data.error || ("refused (" + res.status + ")"));
      setButtons(true);
    }
  }

  async function undo() {
    if (busy || !annotatorName()) return;
    busy = true;
    let res;
    try {
      res = await api("POST", "/api/undo", { annotator: annotatorName() });
    } catch (e) {
      message("could not reach the server; nothing was undone");
      busy = false;
      return;
    }
    busy = false;
    if (res.status === 200) {
      const undone = res.data.undone;
      message("");
      notice("Undone: your last judgment (" + (LABEL_TEXT[undone.label] || undone.label) + "). Judge this pair again.");
      document.body.dataset.undone = undone.pair_id;
      showPair(res.data.pair);
      refreshState();
    } else {
      message(res.data.error || ("nothing to undo (" + res.status + ")"));
    }
  }

  // ------------------------------------------------------------------ state and the curve
  function fmtPct(x) { return (100 * x).toFixed(1) + "%"; }

  async function refreshState() {
    const who = annotatorName();
    const shown = current;  // only a pair shown before the request can be judged stale by its answer
    let res;
    try { res = await api("GET", "/api/state" + (who ? "?annotator=" + encodeURIComponent(who) : "")); }
    catch (e) { return null; }
    if (res.status !== 200) return null;
    const s = res.data;
    const p = s.progress;
    $("progress-session").textContent = p.session === null ? "0" : p.session;
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
      if (lastVersion !== undefined && m.version !== lastVersion) {
        notice("The model was refitted on " + m.n_labels + " labels: v" + m.version + ".");
      }
    }
    lastVersion = m ? m.version : 0;
    const st = s.settings;
    $("model-strategy").textContent = st.strategy + ", batches of " + st.batch_size +
      (st.explore ? ", " + Math.round(100 * st.explore) + "% explored" : "");
    const ag = s.agreement;
    $("agreement").textContent = ag.pairs ? fmtPct(ag.percent) + " on " + ag.pairs + " pairs" +
      (ag.alpha === null ? "" : ", α = " + ag.alpha.toFixed(2)) : (st.overlap > 1 ? "none yet" : "overlap 1");
    drawCurve(s.curve);
    if (s.error) message(s.error);
    document.body.dataset.modelVersion = m ? String(m.version) : "";
    if (current && current === shown && !busy && Array.isArray(s.held) && !s.held.includes(current.pair_id)) {
      stale("This pair is no longer yours: it was judged in another tab or window, or your reservation "
            + "lapsed and it went to someone else. Here is the next pair.");
    }
    return s.finished;
  }

  function svg(tag, attrs, parent) {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    if (parent) parent.append(el);
    return el;
  }

  function niceStep(span, target) {
    const raw = span / Math.max(target, 1);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const f of [1, 2, 5, 10]) if (f * mag >= raw) return f * mag;
    return 10 * mag;
  }

  function drawCurve(points) {
    const box = $("curve");
    if (!points || !points.length) return;
    if (points.length === 1) {  // one point is not a curve: say it in words
      const q = points[0];
      const p = document.createElement("p");
      p.className = "empty";
      p.textContent = fmtPct(q.accuracy) + " [" + fmtPct(q.low) + ", " + fmtPct(q.high) + "] on " + q.labels
        + " labels; the curve starts after the next refit.";
      box.replaceChildren(p);
      return;
    }
    const W = 320, H = 200, L = 42, R = 10, T = 10, B = 34;
    const xs = points.map((q) => q.labels);
    const xstep = niceStep(Math.max(...xs), 4);
    const xmax = Math.ceil(Math.max(...xs) / xstep) * xstep;
    const xmin = 0;
    const lowest = Math.min(...points.map((q) => q.low));
    const ymin = Math.max(0, Math.min(0.5, Math.floor(lowest * 10) / 10)), ymax = 1;
    const X = (v) => L + (W - L - R) * (v - xmin) / (xmax - xmin);
    const Y = (v) => T + (H - T - B) * (1 - (v - ymin) / (ymax - ymin));
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img",
                              "aria-label": "cross-validated accuracy by number of labels" });
    const ystep = ymax - ymin > 0.5 ? 0.2 : 0.1;
    for (let v = ymin; v <= ymax + 1e-9; v += ystep) {
      svg("line", { x1: L, y1: Y(v), x2: W - R, y2: Y(v), class: "grid" }, root);
      const t = svg("text", { x: L - 5, y: Y(v) + 4, "text-anchor": "end", class: "tick" }, root);
      t.textContent = Math.round(100 * v) + "%";
    }
    if (ymin < 0.5) svg("line", { x1: L, y1: Y(0.5), x2: W - R, y2: Y(0.5), class: "chance" }, root);
    for (let v = xmin; v <= xmax + 1e-9; v += xstep) {
      svg("line", { x1: X(v), y1: H - B, x2: X(v), y2: H - B + 4, class: "axis" }, root);
      const t = svg("text", { x: X(v), y: H - B + 16, "text-anchor": "middle", class: "tick" }, root);
      t.textContent = String(Math.round(v));
    }
    svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }, root);
    svg("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }, root);
    const cap = svg("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle", class: "caption" }, root);
    cap.textContent = "labels";
    const band = points.map((q) => `${X(q.labels)},${Y(q.high)}`)
      .concat(points.slice().reverse().map((q) => `${X(q.labels)},${Y(q.low)}`)).join(" ");
    svg("polygon", { points: band, class: "band" }, root);
    svg("polyline", { points: points.map((q) => `${X(q.labels)},${Y(q.accuracy)}`).join(" "), class: "line" }, root);
    for (const q of points) {
      const dot = svg("circle", { cx: X(q.labels), cy: Y(q.accuracy), r: 3.5, class: "dot" }, root);
      const title = svg("title", {}, dot);
      title.textContent = q.labels + " labels: " + fmtPct(q.accuracy) + " [" + fmtPct(q.low) + ", " + fmtPct(q.high) + "]";
    }
    box.replaceChildren(root);
  }

  // ------------------------------------------------------------------ keys and start-up
  function onKey(ev) {
    const tag = (ev.target && ev.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA") {
      if (ev.key === "Escape") ev.target.blur();
      return;
    }
    if ((ev.ctrlKey || ev.metaKey) && !ev.altKey && ev.key === "z") { ev.preventDefault(); undo(); return; }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "r") { ev.preventDefault(); $("reason").focus(); return; }
    if (ev.key === "u") { ev.preventDefault(); undo(); return; }
    const label = KEYS[ev.key];
    if (label) { ev.preventDefault(); submit(label); }
  }

  async function rename(input) {
    const v = input.value.trim();
    if (!NAME_RULE.test(v)) {
      message("An annotator name has 1 to 64 letters, digits, spaces or . @ + - _");
      input.value = annotatorName();
      return;
    }
    const before = annotatorName();
    if (v === before) return;
    const held = current;
    localStorage.setItem(NAME_KEY, v);
    message("");
    document.body.dataset.needsName = "";
    if (held && !busy && before) {  // the pair on screen was leased to the old name: give it back
      clearPair("");
      await api("POST", "/api/release", { annotator: before, pair_id: held.pair_id }).catch(() => null);
    }
    loadNext();
    refreshState();
  }

  function init() {
    nameFromLink();
    const input = $("annotator");
    input.value = annotatorName();
    input.addEventListener("change", () => rename(input));
    for (const id of ["btn-a", "btn-b", "btn-tie", "btn-skip"]) {
      $(id).addEventListener("click", (ev) => submit(ev.currentTarget.dataset.label));
    }
    $("btn-undo").addEventListener("click", undo);
    document.addEventListener("keydown", onKey);
    // another tab of this browser renamed the annotator: follow it
    window.addEventListener("storage", (ev) => {
      if (ev.key === NAME_KEY && annotatorName() && input.value !== annotatorName()) {
        input.value = annotatorName();
        clearPair("");
        loadNext();
      }
    });
    // coming back to this tab: check at once that the pair shown is still this annotator's
    document.addEventListener("visibilitychange", () => { if (!document.hidden) refreshState(); });
    window.addEventListener("focus", () => refreshState());
    setButtons(false);
    refreshState();
    loadNext();
    setInterval(refreshState, 5000);
  }

  document.addEventListener("DOMContentLoaded", init);
})();
