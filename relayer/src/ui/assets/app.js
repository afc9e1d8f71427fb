// Spindle relayer dashboard: polls the relayer's /ui/api views and renders
// them; hash routes (#/, #/jobs, #/job/<escrow>, #/money, #/health). No
// dependencies, no external requests. Every string from the API is escaped.
"use strict";

const POLL_MS = 2000;
const HISTORY = 120; // samples kept for the health charts (4 minutes)
const STATES = ["funded", "leased", "running", "result_stored", "signed", "posted", "settled", "expired", "refunded"];
const history = [];
let overview = null;

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

// nanoTON (decimal string) to TON with all nine decimals kept, trailing zeros trimmed.
function ton(nano) {
  const n = BigInt(nano ?? 0);
  const whole = n / 1000000000n, frac = (n % 1000000000n).toString().padStart(9, "0").replace(/0+$/, "");
  return `${whole}${frac ? "." + frac : ""} TON`;
}

function amount(value, asset) {
  return asset === "TON" ? ton(value) : `${esc(value)} units of ${esc(asset)}`;
}

function when(secs) {
  return secs ? new Date(secs * 1000).toISOString().replace("T", " ").replace(".000Z", " UTC") : "";
}

function addr(a) {
  const e = overview?.network?.explorer;
  return e ? `<a href="${esc(e + a)}" rel="noreferrer"><code>${esc(a)}</code></a>` : `<code>${esc(a)}</code>`;
}

function table(caption, head, rows, numeric = []) {
  const th = head.map((h, i) => `<th scope="col"${numeric.includes(i) ? ' class="num"' : ""}>${esc(h)}</th>`).join("");
  const body = rows.length
    ? rows.map((r) => `<tr>${r.map((c, i) => `<td${numeric.includes(i) ? ' class="num"' : ""}>${c}</td>`).join("")}</tr>`).join("")
    : `<tr><td colspan="${head.length}">none yet</td></tr>`;
  return `<div class="scroll"><table><caption>${esc(caption)}</caption><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table></div>`;
}

function state(s) {
  return `<span class="state state-${esc(s)}">${esc(s)}</span>`;
}

async function get(path) {
  const r = await fetch(path, { headers: { accept: "application/json" } });
  const body = await r.json();
  if (!r.ok) throw new Error(body.detail || body.title || r.statusText);
  return body;
}

function cards(items) {
  return `<div class="cards">${items.map(([k, v]) => `<div class="card">${esc(k)}<b>${v}</b></div>`).join("")}</div>`;
}

function spark(label, values) {
  if (values.length < 2) return `<p>${esc(label)}: collecting…</p>`;
  const max = Math.max(1, ...values), w = 300, h = 40;
  const pts = values.map((v, i) => `${(i / (values.length - 1)) * w},${h - (v / max) * h}`).join(" ");
  return `<figure><figcaption>${esc(label)} (now ${values[values.length - 1]}, max ${max})</figcaption>` +
    `<svg class="spark" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" role="img" aria-label="${esc(label)} over the last ${values.length} samples"><polyline points="${pts}"/></svg></figure>`;
}

const views = {
  async network() {
    const o = overview, n = o.network;
    return `<h2>Network</h2>` + cards([
      ["network", esc(n.network)], ["global id", esc(n.global_id)], ["relayer set", `${esc(n.k)} of ${esc(n.n)}`],
      ["models served", esc(o.models.length)], ["jobs", esc(Object.values(o.jobs).reduce((a, b) => a + b, 0))],
    ]) +
      table("Addresses", ["what", "address"], [["hub", n.hub ? addr(n.hub) : "not configured"], ["this relayer", addr(n.relayer)]]) +
      table("Models served now", ["model", "workers", "free capacity", "prompt / cached / completion, nanoTON per 1M tokens"],
        o.models.map((m) => [esc(m.id), esc(m.workers), esc(m.capacity), `${esc(m.prices.prompt)} / ${esc(m.prices.cached_prompt)} / ${esc(m.prices.completion)}`]), [1, 2]) +
      table("Jobs by state", ["state", "jobs"], STATES.map((s) => [state(s), esc(o.jobs[s] ?? 0)]), [1]);
  },

  async jobs(params) {
    const filter = params.get("state") || "";
    const list = await get(`/ui/api/jobs?limit=200${filter ? "&state=" + encodeURIComponent(filter) : ""}`);
    const options = ["", ...STATES].map((s) => `<option value="${s}"${s === filter ? " selected" : ""}>${s || "all states"}</option>`).join("");
    return `<h2>Jobs</h2><p><label for="state-filter">Show</label><select id="state-filter">${options}</select></p>` +
      table(`Newest jobs${filter ? " (" + filter + ")" : ""}`, ["escrow", "state", "amount", "deadline", "client", "worker"],
        list.jobs.map((j) => [
          `<a href="#/job/${esc(j.escrow)}"><code>${esc(j.escrow)}</code></a>`, state(j.state), amount(j.amount, j.asset),
          esc(when(j.deadline)), addr(j.client), esc(j.lease?.worker ?? ""),
        ]));
  },

  async job(params, escrow) {
    const t = await get(`/ui/api/jobs/${encodeURIComponent(escrow)}`), j = t.job;
    return `<h2>Job <code>${esc(j.escrow)}</code></h2>` +
      table("Job", ["field", "value"], [
        ["escrow", addr(j.escrow)], ["state", state(j.state)], ["amount", amount(j.amount, j.asset)], ["client", addr(j.client)],
        ["nonce", esc(j.nonce)], ["deadline", esc(when(j.deadline))], ["spec hash", `<code>${esc(j.spec_hash)}</code>`],
        ["leases granted", esc(j.lease_seq)], ["proof signatures from relayers", esc(t.proof_signers.map((i) => "#" + i).join(", ") || "none")],
      ]) +
      table("Timeline", ["when", "what", "detail"], t.events.map((e) => [esc(when(e.at)), esc(e.what), esc(e.detail)])) +
      table("On-chain actions (outbox)", ["kind", "state", "attempts", "confirmed lt", "last error"],
        t.outbox.map((x) => [esc(x.kind), state(x.state), esc(x.attempts), esc(x.confirmed_lt ?? ""), esc(x.last_error ?? "")]), [2]);
  },

  async money() {
    const m = overview.money;
    const sum = (k) => m.reduce((a, p) => a + BigInt(p[k]), 0n).toString();
    return `<h2>Money</h2>` + cards([["charged", ton(sum("charged"))], ["settled on-chain", ton(sum("settled"))], ["unsettled", ton(sum("unsettled"))]]) +
      table("Metered usage per compute account and provider", ["account", "provider", "charged", "settled", "unsettled"],
        m.map((p) => [addr(p.account), addr(p.provider), ton(p.charged), ton(p.settled), ton(p.unsettled)]), [2, 3, 4]);
  },

  async health() {
    const o = overview;
    const backlog = (s) => (s.outbox.prepared ?? 0) + (s.outbox.submitted ?? 0) + (s.outbox.failed_retryable ?? 0);
    const health = o.health && typeof o.health === "object" ? Object.entries(o.health) : [];
    return `<h2>Health</h2>` +
      table("Live figures", ["figure", "value"], health.map(([k, v]) => [esc(k), esc(typeof v === "object" ? JSON.stringify(v) : v)])) +
      table("Outbox by state", ["state", "items"], Object.entries(o.outbox).map(([s, n]) => [state(s), esc(n)]), [1]) +
      spark("Outbox backlog", history.map(backlog)) +
      spark("Jobs settled", history.map((s) => s.jobs.settled ?? 0)) +
      spark("Free worker capacity", history.map((s) => s.models.reduce((a, m) => a + m.capacity, 0)));
  },
};

async function render() {
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  const name = parts[0] === "job" ? "job" : parts[0] || "network";
  for (const a of document.querySelectorAll("nav a")) {
    const target = a.getAttribute("href").slice(2) || "network";
    if (target === name || (name === "job" && target === "jobs")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const view = document.getElementById("view");
  try {
    view.innerHTML = await (views[name] ?? views.network)(params, decodeURIComponent(parts[1] ?? ""));
    const select = document.getElementById("state-filter");
    if (select) select.onchange = () => { location.hash = select.value ? `#/jobs?state=${select.value}` : "#/jobs"; };
  } catch (e) {
    view.innerHTML = `<p role="alert">Could not load this view: ${esc(e.message)}</p>`;
  }
}

async function poll() {
  try {
    overview = await get("/ui/api/overview");
    history.push(overview);
    if (history.length > HISTORY) history.shift();
    document.getElementById("status").textContent = `updated ${when(overview.now)}`;
    // Don't redraw under someone choosing a filter.
    if (document.activeElement?.id !== "state-filter") await render();
  } catch (e) {
    document.getElementById("status").textContent = `relayer unreachable: ${e.message}`;
  }
}

window.addEventListener("hashchange", render);
poll();
setInterval(poll, POLL_MS);
