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

// A transaction by hash (hex), linked to the explorer when one is configured.
function tx(hash) {
  if (!hash) return "";
  const e = overview?.network?.explorer, short = `<code>${esc(hash)}</code>`;
  return e ? `<a href="${esc(e + "transaction/" + hash)}" rel="noreferrer">${short}</a>` : short;
}

function secs(n) {
  if (n == null) return "";
  return n >= 86400 ? `${+(n / 86400).toFixed(2)} d` : n >= 3600 ? `${+(n / 3600).toFixed(2)} h` : `${n} s`;
}

// A chain-side value that may be {"error": ...}: the error as an alert-free note.
function failed(v) {
  return v && typeof v === "object" && !Array.isArray(v) && v.error ? `<p class="note">Chain: ${esc(v.error)}</p>` : "";
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

// A line chart of recent samples, drawn locally as inline SVG.
function spark(label, values, unit = "") {
  const known = values.filter((v) => v != null && Number.isFinite(v));
  if (known.length < 2) return `<figure><figcaption>${esc(label)}: collecting…</figcaption></figure>`;
  const max = Math.max(1e-9, ...known), w = 300, h = 40, last = known[known.length - 1];
  const pts = values.map((v, i) => v == null ? null : `${((i / (values.length - 1)) * w).toFixed(1)},${(h - 2 - (v / max) * (h - 4)).toFixed(1)}`).filter(Boolean).join(" ");
  const fmt = (v) => `${+v.toFixed(2)}${unit}`;
  return `<figure><figcaption>${esc(label)} (now ${fmt(last)}, max ${fmt(max)})</figcaption>` +
    `<svg class="spark" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" role="img" aria-label="${esc(label)} over the last ${values.length} samples, now ${fmt(last)}"><polyline points="${pts}"/></svg></figure>`;
}

// Bars for a few labelled amounts (nanoTON), as inline SVG.
function bars(label, items) {
  if (!items.length) return "";
  const max = items.reduce((m, [, v]) => (v > m ? v : m), 1n), w = 300, row = 18;
  const body = items.map(([k, v], i) => {
    const len = Number((v * 1000n) / max) / 1000 * (w - 2);
    return `<rect x="0" y="${i * row + 2}" width="${Math.max(1, len).toFixed(1)}" height="${row - 6}"><title>${esc(k)}: ${esc(ton(v))}</title></rect>`;
  }).join("");
  return `<figure><figcaption>${esc(label)}</figcaption><svg class="bars" viewBox="0 0 ${w} ${items.length * row}" height="${items.length * row}" preserveAspectRatio="none" role="img" aria-label="${esc(label)}: ${esc(items.map(([k, v]) => `${k} ${ton(v)}`).join(", "))}">${body}</svg></figure>`;
}

function withdrawal(chain, now) {
  if (!chain || chain.error) return "unknown";
  if (!chain.initialized) return "not initialised";
  if (!chain.withdraw_at) return "none requested";
  return chain.withdraw_at > now ? `requested: withdrawable at ${when(chain.withdraw_at)}` : `withdrawable since ${when(chain.withdraw_at)}`;
}

function unbonding(stake, now) {
  if (!stake || stake.error) return "";
  if (!stake.unbond_at) return "bonded";
  return stake.unbond_at > now ? `unbonding: withdrawable at ${when(stake.unbond_at)}` : `unbonded since ${when(stake.unbond_at)}`;
}

const views = {
  async network() {
    const o = overview, net = await get("/ui/api/network"), n = net.network, h = net.hub, r = net.relayers;
    const hubRows = h && !h.error ? [
      ["address", addr(h.address)], ["paused", h.paused ? "yes: no new jobs or deposits" : "no"],
      ["protocol fee", `${esc(h.fee_bps / 100)} %`], ["minimum stake", ton(h.min_stake)], ["minimum job", ton(h.min_job)],
      ["settlement fee", ton(h.settle_fee)], ["finder's fee", ton(h.finder_fee)], ["slash", `${esc(h.slash_mult_pct)} % of the job amount`],
      ["unbonding period", esc(secs(h.unbond_period))], ["deadline range", `${esc(secs(h.min_deadline))} to ${esc(secs(h.max_deadline))}`],
      ["grace / evidence window", `${esc(secs(h.grace))} / ${esc(secs(h.window))}`], ["account withdrawal grace", esc(secs(h.account_grace))],
      ["parameter delay", esc(secs(h.delay))], ["relayer set", `version ${esc(h.relayer_set.version)}: ${esc(h.relayer_set.k)} of ${esc(h.relayer_set.keys.length)}`],
      ["treasury", addr(h.treasury)], ["USDT jetton master", h.jetton_master ? addr(h.jetton_master) : "none"],
    ] : [];
    const online = (m) => m.online === true ? "online" : m.online === false ? "offline" : "unknown";
    return `<h2>Network</h2>` + cards([
      ["network", esc(n.network)], ["global id", esc(n.global_id)],
      ["relayer set", `${esc(r.k)} of ${esc(r.n)}${r.members.length ? `, ${esc(r.online)} online` : ""}`],
      ["providers", esc(net.providers.length)], ["models served", esc(o.models.length)],
      ["jobs", esc(Object.values(o.jobs).reduce((a, b) => a + b, 0))],
    ]) +
      table("Addresses", ["what", "address"], [["hub", n.hub ? addr(n.hub) : "not configured"], ["this relayer", addr(n.relayer)]]) +
      failed(h) + table("Hub parameters (read from the chain)", ["parameter", "value"], hubRows) +
      table("Relayer set", ["#", "public key", "where", "status"], r.members.map((m) => [
        esc(m.index), `<code>${esc(m.pubkey)}</code>`, m.me ? "this relayer" : esc(m.url ?? ""),
        `<span class="state state-${online(m)}">${online(m)}</span> <small>${esc(m.me ? "" : m.detail)}</small>`,
      ]), [0]) +
      table("Providers", ["owner", "stake", "earned", "unbonding", "operator key since", "slashes", "workers online", "capacity (busy)", "models and prices (nanoTON per 1M prompt / completion tokens)", "success rate"],
        net.providers.map((p) => {
          const s = p.stake ?? {}, bad = s.error;
          return [
            addr(p.owner) + (bad ? `<br><small>chain: ${esc(s.error)}</small>` : ""), bad ? "" : ton(s.stake), bad ? "" : ton(s.earned),
            esc(unbonding(s, o.now)), bad ? "" : s.rotated_at ? `${esc(when(s.rotated_at))} (${esc(secs(Math.max(0, o.now - s.rotated_at)))} ago)` : "stake creation", bad ? "" : esc(s.slashes),
            esc(p.workers_online), `${esc(p.capacity)} (${esc(p.in_flight)})`,
            esc(p.models.map((m) => `${m.id}: ${m.prices.prompt} / ${m.prices.completion}`).join("; ") || "none"),
            p.success_rate == null ? "no finished jobs" : `${esc((p.success_rate * 100).toFixed(1))} % of ${esc((p.jobs.settled ?? 0) + (p.jobs.expired ?? 0) + (p.jobs.refunded ?? 0))}`,
          ];
        }), [1, 2, 5, 6, 7]) +
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
    const t = await get(`/ui/api/jobs/${encodeURIComponent(escrow)}`), j = t.job, txs = t.transactions;
    return `<h2>Job <code>${esc(j.escrow)}</code></h2>` +
      table("Job", ["field", "value"], [
        ["escrow", addr(j.escrow)], ["state", state(j.state)], ["amount", amount(j.amount, j.asset)], ["client", addr(j.client)],
        ["nonce", esc(j.nonce)], ["deadline", esc(when(j.deadline))], ["spec hash", `<code>${esc(j.spec_hash)}</code>`],
        ["leases granted", esc(j.lease_seq)], ["proof signatures from relayers", esc(t.proof_signers.map((i) => "#" + i).join(", ") || "none")],
      ]) +
      table("Timeline", ["when", "what", "detail"], t.events.map((e) => [esc(when(e.at)), esc(e.what), esc(e.detail)])) +
      table("Signatures", ["when", "kind", "signer", "payload hash", "signature"], t.signatures.map((s) => [
        esc(when(s.at)), esc(s.kind.replace("_", " ")), `<code>${esc(s.signer)}</code>`, `<code>${esc(s.payload_hash ?? "")}</code>`, `<code>${esc(s.signature)}</code>`,
      ])) +
      table("On-chain actions (outbox)", ["kind", "state", "attempts", "confirmed in", "last error"],
        t.outbox.map((x) => [esc(x.kind), state(x.state), esc(x.attempts), x.confirmed_hash ? tx(x.confirmed_hash) : esc(x.confirmed_lt ?? ""), esc(x.last_error ?? "")]), [2]) +
      (txs == null ? "" : failed(txs) + table("The escrow's transactions on-chain (newest first)", ["when", "what", "from", "value", "result", "transaction"],
        (Array.isArray(txs) ? txs : []).map((x) => [
          esc(when(x.utime)), esc(x.op_name ?? (x.op == null ? "" : "op 0x" + x.op.toString(16))), x.from ? addr(x.from) : "", ton(x.value),
          x.aborted ? `<span class="state state-failed">aborted</span>` : "ok", tx(x.hash),
        ]), [3]));
  },

  async money() {
    const m = await get("/ui/api/money"), pairs = overview.money, now = overview.now;
    const sum = (list, k) => list.reduce((a, p) => a + BigInt(p[k] ?? 0), 0n);
    const fees = Array.isArray(m.relayer_fees) ? m.relayer_fees : [];
    return `<h2>Money</h2>` + cards([
      ["charged", ton(sum(m.accounts, "charged"))], ["settled on-chain", ton(sum(m.accounts, "settled"))],
      ["pending charges", ton(sum(m.accounts, "pending"))], ["paid to providers", ton(sum(m.providers, "total"))],
      ["protocol fees", m.protocol_fees.fees == null ? "unknown" : ton(m.protocol_fees.fees)],
      [`relayer fees, ${m.days} days`, ton(sum(fees, "fees"))],
    ]) +
      table("Compute accounts", ["account", "balance (chain)", "pending charges", "settled", "last voucher", "withdrawal"],
        m.accounts.map((a) => {
          const v = a.last_voucher, c = a.chain ?? {};
          return [
            addr(a.account) + (c.error ? `<br><small>chain: ${esc(c.error)}</small>` : ""), c.error ? "" : ton(c.balance), ton(a.pending), ton(a.settled),
            v ? `${ton(v.cumulative)} to ${addr(v.provider)}, epoch ${esc(v.epoch)}, signed ${esc(when(v.signed_at))}, ${ton(v.settled)} settled` : "none",
            esc(withdrawal(c, now)),
          ];
        }), [1, 2, 3]) +
      table("Provider earnings", ["provider", "from vouchers", "settled jobs", "from jobs", "total", "stake earnings (chain)"],
        m.providers.map((p) => [addr(p.provider), ton(p.vouchers_settled), esc(p.jobs_settled), ton(p.jobs_paid), ton(p.total), p.stake_earned == null ? "" : ton(p.stake_earned)]), [1, 2, 3, 4, 5]) +
      table("Protocol fees", ["fee", "settled job pay", "fees to the treasury"], [[
        m.protocol_fees.fee_bps == null ? "unknown" : `${esc(m.protocol_fees.fee_bps / 100)} %`, ton(m.protocol_fees.jobs_paid),
        m.protocol_fees.fees == null ? "unknown" : ton(m.protocol_fees.fees),
      ]], [1, 2]) +
      failed(m.relayer_fees) +
      table(`On-chain fees paid by the relayer wallet per day (its newest 50 transactions)${m.relayer_wallet ? "" : " (no wallet)"}`, ["day (UTC)", "transactions", "fees"],
        fees.map((d) => [esc(when(d.day).slice(0, 10)), esc(d.transactions), ton(d.fees)]), [1, 2]) +
      bars("Relayer fees per day", fees.slice().reverse().map((d) => [when(d.day).slice(0, 10), BigInt(d.fees)])) +
      table("Metered usage per compute account and provider", ["account", "provider", "charged", "settled", "unsettled"],
        pairs.map((p) => [addr(p.account), addr(p.provider), ton(p.charged), ton(p.settled), ton(p.unsettled)]), [2, 3, 4]);
  },

  async health() {
    const o = overview, hl = o.health && typeof o.health === "object" ? o.health : {};
    const backlog = (s) => (s.outbox.prepared ?? 0) + (s.outbox.submitted ?? 0) + (s.outbox.failed_retryable ?? 0);
    // The relayer's own samples when it keeps them (the last hour), else what this page polled.
    const srv = await get("/ui/api/history"), k = srv.samples, server = k.length >= 2;
    const delta = (list, f) => list.map((s, i) => i === 0 ? null : Math.max(0, (f(s) ?? 0) - (f(list[i - 1]) ?? 0)));
    const series = server ? {
      lag: k.map((s) => s.chain_lag_seconds ?? null), backlog: k.map((s) => s.outbox_backlog),
      e5: delta(k, (s) => s.http_5xx), e4: delta(k, (s) => s.http_4xx), lat: k.map((s) => s.lease_latency_secs ?? null),
      settled: k.map((s) => s.jobs_settled), cap: k.map((s) => s.capacity),
    } : {
      lag: history.map((s) => s.health?.chain_lag_seconds ?? null), backlog: history.map(backlog),
      e5: delta(history, (s) => s.health?.http_5xx), e4: delta(history, (s) => s.health?.http_4xx),
      lat: history.map((s) => s.lease_latency?.mean_secs ?? null), settled: history.map((s) => s.jobs.settled ?? 0),
      cap: history.map((s) => s.models.reduce((a, m) => a + m.capacity, 0)),
    };
    const span = server ? `the relayer's samples over the last ${secs(k[k.length - 1].at - k[0].at)}, one every ${srv.every_secs} s` : "what this page saw since it opened";
    const lat = o.lease_latency ?? {};
    return `<h2>Health</h2>` + cards([
      ["chain lag", hl.chain_lag_seconds == null ? "unknown" : `${esc(hl.chain_lag_seconds.toFixed(1))} s`],
      ["outbox backlog", esc(backlog(o))], ["API requests", esc(hl.http_requests ?? "")],
      ["API errors (4xx / 5xx)", `${esc(hl.http_4xx ?? 0)} / ${esc(hl.http_5xx ?? 0)}`],
      ["lease latency (mean of last jobs)", lat.mean_secs == null ? "no leases yet" : `${esc(lat.mean_secs.toFixed(1))} s`],
    ]) +
      table("Live figures", ["figure", "value"], Object.entries(hl).map(([k, v]) => [esc(k), esc(typeof v === "object" ? JSON.stringify(v) : v)])) +
      table("Outbox by state", ["state", "items"], Object.entries(o.outbox).map(([s, n]) => [state(s), esc(n)]), [1]) +
      `<h3>Over time</h3><p class="muted">Charts show ${esc(span)}.</p><div class="charts">` +
      spark("Chain lag", series.lag, " s") +
      spark("Outbox backlog", series.backlog) +
      spark("API 5xx per sample", series.e5) +
      spark("API 4xx per sample", series.e4) +
      spark("Lease latency (mean)", series.lat, " s") +
      spark("Jobs settled", series.settled) +
      spark("Free worker capacity", series.cap) +
      `</div>`;
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
