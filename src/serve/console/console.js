// paystat's console: sign in with a token, check payments (the results stream in), open one
// (its attempts, its explanation and, for Compliance, who looked at it), export for Compliance.
// Every gateway text is set as text (textContent), never as HTML. The token lives in this tab's
// session storage only and goes out as a Bearer header; the service decides what it may do.
"use strict";
(() => {
  const TOKEN = "paystat.token";
  const ROLES = { ops: 1, compliance: 2, admin: 3 };
  const WAITING = ["pending", "authorized", "requires_action"];
  const $ = (id) => document.getElementById(id);
  const state = { token: null, role: null, actor: null, rows: [], sort: null, expected: 0, staleAfterS: 86400, view: [] };

  // ---- small helpers (text only) ----
  function node(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined && text !== null) el.textContent = String(text);
    return el;
  }
  function show(el, visible) { el.hidden = !visible; }
  function notice(text) {
    const el = $("notice");
    el.textContent = text || "";
    show(el, Boolean(text));
  }
  // ISO 4217's exponents other than 2 (paystat's money is ISO minor units; a browser's own
  // currency digits differ for some). A unit test holds this table to the iso_currency crate.
  const EXPONENTS = {BHD: 3, BIF: 0, CLF: 4, CLP: 0, DJF: 0, GNF: 0, IQD: 3, ISK: 0, JOD: 3, JPY: 0, KMF: 0, KRW: 0, KWD: 3, LYD: 3, OMR: 3, PYG: 0, RWF: 0, TND: 3, UGX: 0, UYI: 0, UYW: 4, VND: 0, VUV: 0, XAF: 0, XOF: 0, XPF: 0};
  function exponent(currency) { return currency in EXPONENTS ? EXPONENTS[currency] : 2; }
  function money(minor, currency) {
    if (minor === null || minor === undefined || !currency) return "";
    const digits = exponent(currency);
    const negative = minor < 0;
    let text = String(Math.abs(minor)).padStart(digits + 1, "0");
    if (digits > 0) text = text.slice(0, -digits) + "." + text.slice(-digits);
    return (negative ? "-" : "") + text + " " + currency;
  }
  function human(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 120) return seconds + " s";
    if (seconds < 7200) return Math.round(seconds / 60) + " min";
    if (seconds < 172800) return Math.round(seconds / 3600) + " h";
    return Math.round(seconds / 86400) + " days";
  }
  // The same safe CSV as the command line: a cell that a spreadsheet would run gets a quote
  // mark in front, control characters are written as \u{…}.
  function safeCell(value) {
    let text = value === null || value === undefined ? "" : String(value);
    let out = /^[=+\-@\t\r]/.test(text) ? "'" : "";
    for (const c of text) {
      const code = c.codePointAt(0);
      out += (code < 32 && c !== "\t") || code === 127 ? "\\u{" + code.toString(16) + "}" : c;
    }
    return /[",\n\r]/.test(out) ? '"' + out.replace(/"/g, '""') + '"' : out;
  }

  // ---- the API, with the person's token ----
  async function problemOf(response) {
    try {
      const body = await response.json();
      return body.detail || body.title || "HTTP " + response.status;
    } catch (_) { return "HTTP " + response.status; }
  }
  async function api(path, options = {}) {
    const headers = Object.assign({}, options.headers || {}, { Authorization: "Bearer " + state.token });
    const response = await fetch(path, Object.assign({}, options, { headers, credentials: "omit", cache: "no-store" }));
    if (response.status === 401) {
      const why = await problemOf(response);
      signOut("You are signed out: " + why);
      throw new Error("unauthorized");
    }
    return response;
  }

  // ---- signing in and out ----
  async function signIn(token) {
    state.token = token;
    const response = await fetch("/v1/whoami", { headers: { Authorization: "Bearer " + token }, credentials: "omit", cache: "no-store" });
    if (!response.ok) {
      state.token = null;
      sessionStorage.removeItem(TOKEN);
      notice("That token was not accepted: " + (await problemOf(response)));
      $("token").focus();
      return;
    }
    const me = await response.json();
    sessionStorage.setItem(TOKEN, token);
    state.actor = me.actor;
    state.role = me.role;
    notice("");
    $("who").textContent = "Signed in as " + me.actor + " (" + me.role + ")";
    show($("who"), true);
    show($("sign-out"), true);
    show($("sign-in"), false);
    show($("check"), true);
    show($("export"), ROLES[me.role] >= ROLES.compliance);
    $("ids").focus();
  }
  function signOut(why) {
    sessionStorage.removeItem(TOKEN);
    state.token = state.role = state.actor = null;
    state.rows = [];
    $("rows").replaceChildren();
    show($("who"), false);
    show($("sign-out"), false);
    show($("check"), false);
    show($("payment"), false);
    show($("export"), false);
    show($("results"), false);
    show($("sign-in"), true);
    $("token").value = "";
    notice(why || "");
    $("token").focus();
  }

  // ---- reading ids ----
  function splitCsv(line) {
    const cells = [];
    let cell = "", quoted = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quoted) {
        if (c === '"' && line[i + 1] === '"') { cell += '"'; i++; }
        else if (c === '"') quoted = false;
        else cell += c;
      } else if (c === '"') quoted = true;
      else if (c === ",") { cells.push(cell.trim()); cell = ""; }
      else cell += c;
    }
    cells.push(cell.trim());
    return cells;
  }
  function parseIds(text) {
    const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
    if (lines.length === 0) return [];
    const header = splitCsv(lines[0]).map((h) => h.toLowerCase());
    let column = header.indexOf("payment_id");
    if (column < 0) column = header.indexOf("id");
    if (column >= 0) return lines.slice(1).map((l) => splitCsv(l)[column] || "").filter((id) => id !== "");
    return lines.map((l) => l.trim());
  }

  // ---- the results table ----
  function rowOf(result) {
    let age = null;
    if (result.created_at) {
      const created = Date.parse(result.created_at);
      if (!Number.isNaN(created)) age = Math.max(0, Math.floor((Date.now() - created) / 1000));
    }
    const stale = age !== null && WAITING.includes(result.status) && age > state.staleAfterS;
    return { result, age, stale };
  }
  function word(result) { return result.status || result.outcome; }
  function passes(row) {
    const status = $("filter-status").value, outcome = $("filter-outcome").value, stale = $("filter-stale").value;
    if (status && word(row.result) !== status) return false;
    if (outcome && row.result.outcome !== outcome) return false;
    if (stale === "stale" && !row.stale) return false;
    if (stale === "fresh" && row.stale) return false;
    return true;
  }
  function cells(row) {
    const r = row.result;
    const tr = node("tr");
    const first = node("td");
    const open = node("button", "open", r.payment_id);
    open.type = "button";
    open.addEventListener("click", () => openPayment(row));
    first.append(open);
    tr.append(first, node("td", null, r.gateway || ""));
    const status = node("td");
    status.append(node("span", "badge " + (r.status || "none"), word(r)));
    tr.append(status, node("td", null, money(r.amount_minor, r.currency)), node("td", null, r.gateway_status || ""));
    const age = node("td", null, human(row.age));
    if (row.stale) { age.append(" "); age.append(node("span", "stale", "stale")); }
    tr.append(age, node("td", null, r.detail || ""));
    return tr;
  }
  const sortKeys = {
    payment_id: (r) => r.result.payment_id,
    gateway: (r) => r.result.gateway || "",
    status: (r) => word(r.result),
    amount: (r) => (r.result.amount_minor === null || r.result.amount_minor === undefined ? -Infinity : r.result.amount_minor),
    gateway_status: (r) => r.result.gateway_status || "",
    age: (r) => (r.age === null ? -1 : r.age),
    detail: (r) => r.result.detail || "",
  };
  function view() {
    let rows = state.rows.filter(passes);
    if (state.sort) {
      const key = sortKeys[state.sort.key], dir = state.sort.dir;
      rows = rows.slice().sort((a, b) => (key(a) < key(b) ? -dir : key(a) > key(b) ? dir : 0));
    }
    return rows;
  }
  function render() {
    state.view = view();
    const fragment = document.createDocumentFragment();
    for (const row of state.view) fragment.append(cells(row));
    $("rows").replaceChildren(fragment);
    $("shown").textContent = "Showing " + state.view.length + " of " + state.rows.length + " results.";
  }
  function refreshFilters() {
    for (const [id, of] of [["filter-status", (r) => word(r.result)], ["filter-outcome", (r) => r.result.outcome]]) {
      const select = $(id);
      const have = new Set(Array.from(select.options).map((o) => o.value));
      for (const value of new Set(state.rows.map(of))) {
        if (!have.has(value)) select.append(Object.assign(node("option", null, value), { value }));
      }
    }
  }
  // Rows that arrive are appended in batches, once a frame; the rest of the page stays usable.
  let pending = [];
  let scheduled = false;
  let lastAnnounced = 0;
  function announce(done) {
    const now = Date.now();
    if (!done && now - lastAnnounced < 750) return;
    lastAnnounced = now;
    $("progress").textContent = done
      ? "Done: " + state.rows.length + " of " + state.expected + " checked."
      : state.rows.length + " of " + state.expected + " checked…";
  }
  function flush() {
    scheduled = false;
    const arrived = pending;
    pending = [];
    if (state.sort) { render(); return; }
    const fragment = document.createDocumentFragment();
    for (const row of arrived) if (passes(row)) { fragment.append(cells(row)); state.view.push(row); }
    $("rows").append(fragment);
    $("shown").textContent = "Showing " + state.view.length + " of " + state.rows.length + " results.";
    refreshFilters();
  }
  function arrive(result) {
    const row = rowOf(result);
    state.rows.push(row);
    pending.push(row);
    announce(false);
    if (!scheduled) { scheduled = true; requestAnimationFrame(flush); }
  }
  async function check(event) {
    event.preventDefault();
    const ids = parseIds($("ids").value);
    if (ids.length === 0) { notice("Paste at least one payment id."); return; }
    notice("");
    state.rows = []; state.view = []; state.expected = ids.length; pending = [];
    state.staleAfterS = Math.max(1, Number($("stale-after").value) || 24) * 3600;
    $("rows").replaceChildren();
    show($("results"), true);
    $("progress").textContent = "0 of " + ids.length + " checked…";
    $("check-button").disabled = true;
    try {
      const response = await api("/v1/checks?ordered=false", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ ids, gateway: $("gateway").value }),
      });
      if (!response.ok) { notice("The check was refused: " + (await problemOf(response))); return; }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let at;
        while ((at = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, at);
          buffer = buffer.slice(at + 1);
          if (line.trim()) arrive(JSON.parse(line));
        }
      }
      if (buffer.trim()) arrive(JSON.parse(buffer));
      flush();
      announce(true);
    } catch (e) {
      if (e.message !== "unauthorized") notice("The check stopped: " + e.message);
    } finally {
      $("check-button").disabled = false;
    }
  }
  function csv() {
    const columns = ["payment_id", "gateway", "outcome", "status", "amount_minor", "currency", "gateway_status", "age_s", "stale", "detail"];
    const lines = [columns.join(",")];
    for (const row of state.view) {
      const r = row.result;
      lines.push([r.payment_id, r.gateway, r.outcome, r.status, r.amount_minor, r.currency, r.gateway_status, row.age, row.stale, r.detail].map(safeCell).join(","));
    }
    return lines.join("\n") + "\n";
  }
  function download(name, blob) {
    const link = node("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
  }

  // ---- one payment ----
  function fact(list, name, value) {
    if (value === null || value === undefined || value === "") return;
    list.append(node("dt", null, name), node("dd", null, value));
  }
  async function openPayment(row) {
    const r = row.result;
    state.opened = row;
    show($("check"), false);
    show($("export"), false);
    show($("payment"), true);
    $("payment-title").textContent = "Payment " + r.payment_id;
    const facts = $("payment-facts");
    facts.replaceChildren();
    fact(facts, "Gateway", r.gateway);
    fact(facts, "Outcome", r.outcome);
    fact(facts, "Status", r.status);
    fact(facts, "Amount", money(r.amount_minor, r.currency));
    fact(facts, "Refunded", money(r.amount_refunded_minor, r.currency));
    fact(facts, "Dispute", r.dispute_status);
    fact(facts, "Gateway status", r.gateway_status);
    fact(facts, "Created", r.created_at);
    fact(facts, "Can change until", r.final_after);
    fact(facts, "Answered from", r.source === "cache" ? "the status cache (" + human(r.cache_age_s) + " old)" : "the gateway");
    fact(facts, "Gateway's request id", r.gateway_request_id);
    fact(facts, "Detail", r.detail);
    const attempts = $("attempts");
    attempts.replaceChildren();
    for (const a of r.attempt_log || []) {
      let text = "Attempt " + a.attempt + ": " + a.outcome + (a.http_status ? " (HTTP " + a.http_status + ")" : "") + " in " + a.duration_ms + " ms";
      if (a.wait_ms !== null && a.wait_ms !== undefined) text += ", then waited " + a.wait_ms + " ms (" + a.wait_reason + ")";
      if (a.error) text += " — " + a.error;
      attempts.append(node("li", null, text));
    }
    if (!attempts.children.length) attempts.append(node("li", null, r.source === "cache" ? "No request: answered from the status cache." : "No request was sent."));
    $("payment").focus();
    await Promise.all([explain(r), history(r)]);
  }
  async function explain(r) {
    const status = $("explain-status");
    show($("diagnosis"), false);
    $("timeline").replaceChildren();
    status.textContent = "Asking the gateway why…";
    try {
      const gateway = r.gateway || "auto";
      const response = await api("/v1/payments/" + encodeURIComponent(r.payment_id) + "/explanation?gateway=" + encodeURIComponent(gateway));
      if (!response.ok) { status.textContent = "No explanation: " + (await problemOf(response)); return; }
      const e = await response.json();
      const d = e.diagnosis;
      $("diagnosis-meaning").textContent = d.meaning;
      $("diagnosis-action").textContent = d.action;
      $("diagnosis-escalate").textContent = d.escalate_to;
      $("diagnosis-rule").textContent = d.rule || "no rule matched: attach the timeline to an escalation";
      show($("diagnosis"), true);
      status.textContent = "Explained at " + e.explained_at + ".";
      for (const m of e.timeline) {
        let text = m.at + " — " + m.from + ": " + m.what;
        if (m.detail) text += " (" + m.detail + ")";
        if (m.actor) text += " — " + m.actor;
        $("timeline").append(node("li", null, text));
      }
    } catch (err) {
      if (err.message !== "unauthorized") status.textContent = "No explanation: " + err.message;
    }
  }
  async function history(r) {
    const part = $("history-part");
    const list = $("history");
    list.replaceChildren();
    show(part, ROLES[state.role] >= ROLES.compliance);
    if (part.hidden) return;
    $("history-status").textContent = "Reading the audit trail…";
    try {
      const response = await api("/v1/payments/" + encodeURIComponent(r.payment_id) + "/history");
      if (!response.ok) { $("history-status").textContent = "No history: " + (await problemOf(response)); return; }
      const lines = (await response.text()).split("\n").filter((l) => l.trim());
      for (const line of lines) {
        const h = JSON.parse(line);
        list.append(node("li", null, h.timestamp + " — " + h.actor + " — " + h.event + (h.status ? ": " + h.status : h.outcome ? ": " + h.outcome : "")));
      }
      $("history-status").textContent = lines.length + " lines of the audit trail name this payment.";
    } catch (err) {
      if (err.message !== "unauthorized") $("history-status").textContent = "No history: " + err.message;
    }
  }
  function back() {
    show($("payment"), false);
    show($("check"), true);
    show($("export"), ROLES[state.role] >= ROLES.compliance);
    const again = Array.from(document.querySelectorAll("#rows button.open")).find((b) => state.opened && b.textContent === state.opened.result.payment_id);
    (again || $("ids")).focus();
  }

  // ---- the export ----
  async function exportTrail(event) {
    event.preventDefault();
    const status = $("export-status");
    const query = new URLSearchParams();
    query.set("since", $("export-from").value + "T00:00:00Z");
    query.set("until", $("export-until").value + "T00:00:00Z");
    query.set("format", $("export-format").value);
    for (const [name, id] of [["actor", "export-actor"], ["gateway", "export-gateway"], ["outcome", "export-outcome"]]) {
      const value = $(id).value.trim();
      if (value) query.set(name, value);
    }
    status.textContent = "Verifying the chain over the range and exporting…";
    try {
      const response = await api("/v1/audit/export?" + query.toString());
      if (!response.ok) { status.textContent = "No export: " + (await problemOf(response)); return; }
      const chain = response.headers.get("paystat-chain") || "not verified";
      const detail = response.headers.get("paystat-chain-detail");
      const blob = await response.blob();
      download("paystat-audit-" + $("export-from").value + "-" + $("export-until").value + "." + $("export-format").value, blob);
      status.textContent = (chain === "verified"
        ? "The chain verified over the range. "
        : chain === "broken" ? "The chain did NOT verify over the range" + (detail ? ": " + detail : "") + ". " : "The chain was not verified. ")
        + "Downloaded " + blob.size + " bytes.";
      status.dataset.chain = chain;
    } catch (err) {
      if (err.message !== "unauthorized") status.textContent = "No export: " + err.message;
    }
  }

  // ---- wiring ----
  function sortBy(button) {
    const key = button.dataset.key;
    const dir = state.sort && state.sort.key === key ? -state.sort.dir : 1;
    state.sort = { key, dir };
    for (const b of document.querySelectorAll("th button.sort")) {
      b.closest("th").removeAttribute("aria-sort");
      b.removeAttribute("aria-sort");
    }
    const order = dir > 0 ? "ascending" : "descending";
    button.closest("th").setAttribute("aria-sort", order);
    button.setAttribute("aria-sort", order);
    render();
  }
  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const token = $("token").value.trim();
      if (token) signIn(token);
    });
    $("sign-out").addEventListener("click", () => signOut("You signed out; the token is forgotten."));
    $("check-form").addEventListener("submit", check);
    $("export-form").addEventListener("submit", exportTrail);
    $("back").addEventListener("click", back);
    $("download").addEventListener("click", () => download("paystat-check.csv", new Blob([csv()], { type: "text/csv" })));
    for (const id of ["filter-status", "filter-outcome", "filter-stale"]) $(id).addEventListener("change", render);
    for (const b of document.querySelectorAll("th button.sort")) b.addEventListener("click", () => sortBy(b));
    const today = new Date();
    const first = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 1, 1));
    const next = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 1));
    $("export-from").value = first.toISOString().slice(0, 10);
    $("export-until").value = next.toISOString().slice(0, 10);
    const kept = sessionStorage.getItem(TOKEN);
    if (kept) signIn(kept); else $("token").focus();
  });
  // For the browser tests and for people who want the CSV text itself.
  window.paystatConsole = { csv, parseIds, money, safeCell };
})();
