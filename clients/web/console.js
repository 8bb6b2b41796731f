// The auctioneer console: bidders, lots, the run list, per-lot control, floor bids, the live
// feed and settlements. See docs/clients.md.
import {
  ApiError, AuctionSocket, Clock, RESULT_TEXT, api, countdown, el, fetchLots, formatMoney, formatRemaining,
  messageFor, pageItems, parseYuan, readToken, remainingMs,
} from "/static/common.js";

const TOKEN_KEY = "auction.console.token";
const LIVE_ROWS = 100; // run-list rows kept live over the socket
const $ = (id) => document.getElementById(id);

const con = {
  token: readToken(TOKEN_KEY),
  socket: null,
  lots: new Map(),       // lot -> state (auctioneer view from HTTP, then public events)
  reserves: new Map(),   // lot -> reserve (auctioneer-only; public events leave it out)
  selected: null,
  feedSeq: 0,            // last log seq merged into the feed
  feedTimer: null,
  clock: new Clock(),
};

// -- errors -----------------------------------------------------------------------------------

function showError(e) {
  const node = $("error");
  if (!e) {
    node.hidden = true;
    return;
  }
  node.hidden = false;
  node.textContent = e instanceof ApiError ? `${e.code}: ${e.human}` : String(e.message ?? e);
  document.querySelectorAll(".invalid").forEach((n) => n.classList.remove("invalid"));
  for (const field of e.fields ?? (e.field ? [e.field] : [])) document.querySelector(`[name="${CSS.escape(field)}"]`)?.classList.add("invalid");
}

async function call(method, path, body, params) {
  try {
    const data = await api(method, path, { token: con.token, body, params });
    showError(null);
    return data;
  } catch (e) {
    showError(e);
    throw e;
  }
}

// -- connection -------------------------------------------------------------------------------

function connect() {
  con.socket?.close();
  con.socket = new AuctionSocket(con.token, {
    clock: con.clock,
    onStatus: (status, why) => {
      const node = $("conn");
      node.dataset.state = status;
      node.textContent = { connected: "● Live", reconnecting: "Reconnecting…", connecting: "Connecting…", unauthorized: "Token rejected" }[status] ?? status;
      if (status === "unauthorized") {
        showError(new Error(`Sign-in expired or token rejected (${why?.message ?? why?.code}): paste a new auctioneer token under Token.`));
        $("token-box").open = true;
      }
    },
    onWelcome: (w) => {
      $("who").textContent = `Signed in as ${w.role}`;
      if (w.role !== "auctioneer" && con.token) showError(new Error("This token is not an auctioneer token: actions will be refused."));
      usable(w.role === "auctioneer");
    },
    onLot: (frame, state) => onLot(frame, state),
    onError: (f) => showError(new ApiError(f.code, f.message)),
  });
  if (con.selected) con.socket.subscribe(con.selected);
  con.socket.connect();
}

function onLot(frame, state) {
  if ("reserve" in state) con.reserves.set(frame.lot, state.reserve);
  const prev = con.lots.get(frame.lot);  // public events leave out the auctioneer's counter-offer
  if (!("counter" in state) && prev?.counter && state.result === "pending_approval") state = { ...state, counter: prev.counter };
  if (frame.type === "event" && frame.kind === "countered" && frame.lot === con.selected) refreshSelected(frame.lot);
  con.lots.set(frame.lot, state);
  renderRow(frame.lot);
  if (frame.lot !== con.selected) return;
  renderSelected();
  if (frame.type === "event" && frame.kind === "bid") {
    addFeedRow(frame.seq, { at: frame.at, price: state.price, leader: state.leader });
    scheduleFeedDetails();
  }
  if (frame.type === "event" && FEED_NOTES[frame.kind]) {
    addFeedRow(frame.seq, { at: frame.at, price: state.price, leader: state.leader, detail: FEED_NOTES[frame.kind](state) });
  }
  if (frame.type === "event" && ["closed", "approved", "rejected"].includes(frame.kind)) awaitSettlement(frame.lot);
}

// -- run list ---------------------------------------------------------------------------------

async function loadLots() {
  let lots;
  try {
    lots = await fetchLots(con.token, { sort: "newest" });
    showError(null);
  } catch (e) {
    showError(e);
    return;
  }
  for (const s of lots) {
    if ("reserve" in s) con.reserves.set(s.lot, s.reserve);
    if (!con.socket.state(s.lot)) con.lots.set(s.lot, s);
  }
  $("lots").replaceChildren(...lots.map((s) => el("tr", { tabindex: "0", "aria-selected": String(s.lot === con.selected), dataset: { lot: s.lot, testid: "lot-row" } })));
  for (const s of lots) renderRow(s.lot);
  for (const s of lots.slice(0, LIVE_ROWS)) con.socket.subscribe(s.lot); // every row live, not just the selected one
}

/** Forms and actions only look usable with an auctioneer token. */
function usable(yes) {
  for (const node of document.querySelectorAll("main form, #actions, #corrections")) {
    node.querySelectorAll("input, select, button").forEach((b) => { b.disabled = !yes; });
  }
  document.body.dataset.signedIn = String(yes);
  if (yes && con.selected) renderSelected();
}

function renderRow(lot) {
  const row = document.querySelector(`#lots tr[data-lot="${CSS.escape(lot)}"]`);
  const s = con.lots.get(lot);
  if (!row || !s) return;
  const sealed = s.format.startsWith("sealed") && s.status !== "closed";
  row.classList.toggle("selected", lot === con.selected);
  row.replaceChildren(
    el("td", { text: s.lot }), el("td", { text: s.title }), el("td", { text: `${s.format} · ${s.mode}` }),
    el("td", { text: s.fair_warning && s.status === "open" ? "fair warning" : s.status }),
    el("td", { text: s.result ? RESULT_TEXT[s.result] ?? s.result : "—" }),
    el("td", { class: "num", text: sealed ? "sealed" : formatMoney(s.price, s.currency) }),
    el("td", { text: s.leader ?? "—" }), el("td", { class: "num", text: String(s.bids ?? 0) }),
    el("td", { class: "num", dataset: { left: "" }, text: leftText(s) }));
}

function leftText(s) {
  if (s.status === "closed") return "closed";
  if (s.status === "scheduled") return "not open";
  const left = remainingMs(s, con.clock.now());
  return left === null ? (s.mode === "live" ? "live" : "—") : formatRemaining(left);
}

// -- selected lot -----------------------------------------------------------------------------

async function select(lot) {
  con.selected = lot;
  con.feedSeq = 0;
  $("feed").replaceChildren();
  $("s-message").textContent = "";
  $("selected").hidden = false;
  document.querySelectorAll("#lots tr").forEach((r) => {
    r.classList.toggle("selected", r.dataset.lot === lot);
    r.setAttribute("aria-selected", String(r.dataset.lot === lot));
  });
  try {
    const state = await call("GET", `/api/lots/${encodeURIComponent(lot)}`);
    if ("reserve" in state) con.reserves.set(lot, state.reserve);
    if (!con.socket.state(lot)) con.lots.set(lot, state);
  } catch { /* shown */ }
  con.socket.subscribe(lot);
  renderSelected();
  loadFeedDetails();
}

async function refreshSelected(lot) {
  try {
    const state = await api("GET", `/api/lots/${encodeURIComponent(lot)}`, { token: con.token });
    con.lots.set(lot, { ...con.lots.get(lot), ...state });
  } catch { return; }
  if (lot === con.selected) renderSelected();
}

function renderSelected() {
  const s = con.lots.get(con.selected);
  if (!s) return;
  const cur = s.currency;
  $("s-title").textContent = s.title;
  $("s-lot").textContent = s.lot;
  $("s-status").textContent = `${s.status}${s.fair_warning && s.status === "open" ? " (fair warning)" : ""} · ${s.format} · ${s.mode}`;
  $("s-result").textContent = s.result ? `${RESULT_TEXT[s.result] ?? s.result}${s.price !== null && s.result !== "unsold" && s.result !== "withdrawn" ? ` at ${formatMoney(s.price, cur)}` : ""}` : "—";
  $("s-price").textContent = formatMoney(s.price, cur);
  $("s-leader").textContent = s.leader ? `Paddle ${s.leader}` : "—";
  $("s-bids").textContent = String(s.bids ?? 0);
  $("s-next").textContent = formatMoney(s.next_min, cur);
  const reserve = con.reserves.get(s.lot);
  $("s-reserve").textContent = reserve === null || reserve === undefined ? "none" : `${formatMoney(reserve, cur)}${s.reserve_met ? " (met)" : " (not met)"}`;
  $("s-buy-now").textContent = formatMoney(s.buy_now, cur);
  $("s-ext").textContent = String(s.extensions ?? 0);
  tickSelected();
  const can = {
    open: s.status === "scheduled", pause: s.status === "open", resume: s.status === "paused",
    fair_warning: s.status === "open" && s.mode === "live", close: s.status === "open" || s.status === "paused",
    withdraw: s.status !== "closed", approve: s.result === "pending_approval", reject: s.result === "pending_approval",
  };
  const signedIn = document.body.dataset.signedIn === "true";
  for (const b of $("actions").querySelectorAll("button")) b.disabled = !signedIn || !can[b.dataset.action];
  const running = s.status === "open" || s.status === "paused";
  const reopenable = s.mode === "live" && s.status === "closed" && s.result !== "withdrawn" && s.closed_at && con.clock.now() < s.closed_at + REOPEN_MS;
  const mend = {
    retract_last: running && s.format === "english" && (s.bids ?? 0) > 0, asking: running && s.mode === "live",
    counter: s.result === "pending_approval" && !s.counter, reopen: reopenable, inspection: s.status !== "closed",
  };
  for (const b of $("corrections").querySelectorAll("button")) b.disabled = !signedIn || !mend[b.dataset.do];
  $("s-offer").textContent = s.counter
    ? `Counter-offer ${formatMoney(s.counter.amount, cur)} stands until ${new Date(s.counter.expires_at).toLocaleString()}`
    : s.approve_by ? `Pending approval: the seller decides by ${new Date(s.approve_by).toLocaleString()}, else unsold`
    : s.correction ? `Last correction: ${s.correction.kind}${s.correction.reason ? ` (${s.correction.reason})` : ""}` : `Report v${s.inspection_version ?? 1}`;
  $("floor-form").querySelector("button").disabled = !signedIn || s.status !== "open";
}

function tickSelected() {
  const s = con.lots.get(con.selected);
  if (s) $("s-left").textContent = leftText(s);
}

// Corrections and offers in the feed, beside the bids (the public history shows them too).
const FEED_NOTES = {
  retracted: (s) => `correction: last bid retracted${s.correction?.reason ? ` (${s.correction.reason})` : ""}`,
  reopened: () => "correction: reopened", asking: (s) => `asking ${formatMoney(s.correction?.amount, s.currency)}`,
  countered: () => "counter-offer made", inspection: (s) => `report v${s.inspection_version} published`,
};

// The public event says who leads after a bid; the auctioneer's full log also says who bid
// what (a proxy can outbid the bidder at once), fetched in small debounced batches.
function addFeedRow(seq, { at, price, leader, detail }) {
  let row = $("feed").querySelector(`li[data-seq="${seq}"]`);
  if (!row) {
    row = el("li", { dataset: { seq: String(seq), testid: "feed-row" } });
    const later = [...$("feed").children].find((li) => Number(li.dataset.seq) < seq);
    $("feed").insertBefore(row, later ?? null);
  }
  const s = con.lots.get(con.selected);
  const cur = s?.currency ?? "CNY";
  const time = new Date(at).toLocaleTimeString();
  row.textContent = `#${seq} ${time} · ${detail ?? ""}${detail ? " → " : ""}${formatMoney(price, cur)}, leader paddle ${leader ?? "—"}`;
}

function scheduleFeedDetails() {
  clearTimeout(con.feedTimer);
  con.feedTimer = setTimeout(loadFeedDetails, 250);
}

async function loadFeedDetails() {
  const lot = con.selected;
  if (!lot) return;
  let data;
  try {
    data = await api("GET", `/api/lots/${encodeURIComponent(lot)}/events`, { token: con.token, params: { since: con.feedSeq } });
  } catch {
    return; // the feed keeps the public rows
  }
  if (lot !== con.selected) return;
  const cur = con.lots.get(lot)?.currency ?? "CNY";
  for (const item of pageItems(data, "events").items) {
    con.feedSeq = Math.max(con.feedSeq, item.seq);
    if (FEED_NOTES[item.kind] && item.state) {
      addFeedRow(item.seq, { at: item.at, price: item.state.price, leader: item.state.leader, detail: FEED_NOTES[item.kind](item.state) });
      continue;
    }
    if (item.kind !== "bid" && item.command?.kind !== "bid") continue;
    const c = item.command ?? {};
    const what = c.amount ? formatMoney(c.amount, cur) : c.max ? `max ${formatMoney(c.max, cur)}` : "";
    const detail = c.paddle ? `paddle ${c.paddle}${c.floor ? " (floor)" : ""} bid ${what}` : null;
    addFeedRow(item.seq, { at: item.at ?? c.at, price: item.state?.price, leader: item.state?.leader, detail });
  }
}

// Corrections and offers (docs/rules.md): each is a lot action with a body, answered by the auctioneer's view.
const REOPEN_MS = 60000;
const MEND_BODY = {
  retract_last: (f) => (f.reason.value.trim() ? { reason: f.reason.value.trim() } : { error: ["reason", "say why the bid is taken back"] }),
  asking: (f) => moneyBody(f.correction_amount),
  counter: (f) => moneyBody(f.correction_amount),
  reopen: () => ({}),
  inspection: (f) => {
    const version = Number(f.report_version.value);
    if (!Number.isSafeInteger(version) || version < 1) return { error: ["report_version", "enter the new report's version number"] };
    const url = f.report_url.value.trim();
    return url ? { version, report_url: url } : { version };
  },
};

function moneyBody(input) {
  const amount = parseYuan(input.value);
  return amount === null ? { error: [input.name, "enter an amount in yuan"] } : { amount };
}

async function mend(action) {
  const lot = con.selected;
  const fields = Object.fromEntries([...$("corrections").querySelectorAll("input")].map((i) => [i.name, i]));
  const body = MEND_BODY[action](fields);
  const msg = $("s-message");
  if (body.error) {
    showError(Object.assign(new ApiError("bad_request", `${body.error[0]}: ${body.error[1]}`, body.error[0], 0)));
    return;
  }
  if (action === "retract_last" || action === "reopen") {
    const s = con.lots.get(lot);
    const text = action === "reopen" ? `Reopen lot ${lot} (${s?.title})? It runs again from ${formatMoney(s?.price, s?.currency)}.`
      : `Take back the last bid on lot ${lot} (${formatMoney(s?.price, s?.currency)}, paddle ${s?.leader ?? "—"})?`;
    if (!(await ask(text))) return;
  }
  try {
    const state = await call("POST", `/api/lots/${encodeURIComponent(lot)}/${action}`, body);
    if ("reserve" in state) con.reserves.set(lot, state.reserve);
    con.lots.set(lot, { ...con.lots.get(lot), ...state });
    msg.textContent = `${action.replace("_", " ")}: done`;
    msg.dataset.kind = "ok";
    renderSelected();
  } catch (e) {
    msg.textContent = `${action.replace("_", " ")} refused: ${e.human ?? e.message}`;
    msg.dataset.kind = "error";
  }
}

// Ending a lot cannot be undone: the hammer and withdraw ask first.
const ASK = {
  close: (s) => `Hammer lot ${s.lot} (${s.title}) now${s.leader ? ` at ${formatMoney(s.price, s.currency)} to paddle ${s.leader}` : ", with no bid: unsold"}?`,
  withdraw: (s) => `Withdraw lot ${s.lot} (${s.title})? It closes as withdrawn and no one wins it.`,
};

function ask(text) {
  const dialog = $("confirm-action");
  $("confirm-action-text").textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true }));
}

async function act(action) {
  const lot = con.selected;
  const s = con.lots.get(lot);
  if (ASK[action] && s && !(await ask(ASK[action](s)))) {
    $("s-message").textContent = `${action.replace("_", " ")}: cancelled`;
    $("s-message").dataset.kind = "info";
    return;
  }
  try {
    const state = await call("POST", `/api/lots/${encodeURIComponent(lot)}/${action}`);
    if ("reserve" in state) con.reserves.set(lot, state.reserve);
    $("s-message").textContent = `${action.replace("_", " ")}: done`;
    $("s-message").dataset.kind = "ok";
  } catch (e) {
    $("s-message").textContent = `${action.replace("_", " ")} refused: ${e.human ?? e.message}`;
    $("s-message").dataset.kind = "error";
  }
}

// -- forms ------------------------------------------------------------------------------------

function setPath(obj, path, value) {
  const keys = path.split(".");
  let node = obj;
  for (const k of keys.slice(0, -1)) node = node[k] ??= {};
  node[keys.at(-1)] = value;
}

/** The lot spec from the form: money through parseYuan, counts as integers, empties left out. */
function lotSpec(form) {
  const spec = {};
  const bad = [];
  for (const input of form.querySelectorAll("input[name], select[name]")) {
    const name = input.name;
    if (name === "open_now") continue;
    const raw = input.value.trim();
    if (raw === "") continue;
    let value = raw;
    if ("money" in input.dataset) {
      value = parseYuan(raw);
      if (value === null) bad.push([name, "enter an amount in yuan"]);
    } else if (input.type === "number") {
      if (!/^\d+$/.test(raw)) bad.push([name, "enter a whole number"]);
      value = Number(raw);
    }
    setPath(spec, name, value);
  }
  for (const input of form.querySelectorAll("[required]")) if (!input.value.trim()) bad.push([input.name, "required"]);
  if (bad.length) { // every bad field at once, each marked
    const err = new ApiError("invalid_spec", bad.map(([n, why]) => `${n}: ${why}`).join("; "), null, 0);
    err.fields = bad.map(([n]) => n);
    throw err;
  }
  if (spec.mode === "live") delete spec.duration_s;
  if (spec.format !== "dutch") delete spec.dutch;
  return spec;
}

function wire() {
  $("refresh-lots").addEventListener("click", loadLots);
  $("refresh-settlements").addEventListener("click", loadSettlements);
  $("lots").addEventListener("click", (e) => {
    const row = e.target.closest("tr[data-lot]");
    if (row) select(row.dataset.lot);
  });
  $("lots").addEventListener("keydown", (e) => {
    const row = e.target.closest("tr[data-lot]");
    if (!row) return;
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      select(row.dataset.lot);
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      (e.key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling)?.focus();
    }
  });
  $("actions").addEventListener("click", (e) => {
    const action = e.target.closest("button")?.dataset.action;
    if (action) act(action);
  });
  $("paid-form").addEventListener("submit", (e) => e.preventDefault());
  $("corrections").addEventListener("click", (e) => {
    const action = e.target.closest("button")?.dataset.do;
    if (action) mend(action);
  });
  $("floor-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const amount = parseYuan(form.elements.amount.value);
    const paddle = form.elements.paddle.value.trim();
    const msg = $("s-message");
    if (amount === null || !paddle) {
      msg.textContent = amount === null ? messageFor("bad_amount") : "Enter the floor paddle.";
      msg.dataset.kind = "error";
      return;
    }
    try {
      const lot = con.selected;
      const response = await fetch(`/api/lots/${encodeURIComponent(lot)}/floor-bids`, {
        method: "POST", headers: { Authorization: `Bearer ${con.token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ amount, paddle }),
      });
      const ack = await response.json().catch(() => ({}));
      if (ack.ok) {
        msg.textContent = `Floor bid accepted: paddle ${paddle} at ${formatMoney(ack.price, con.lots.get(lot)?.currency)}`;
        msg.dataset.kind = "ok";
        form.elements.amount.value = "";
      } else {
        const reason = ack.reason ?? ack.error?.code;
        msg.textContent = `Floor bid refused: ${messageFor(reason, ack.error?.message)}${ack.next_min ? ` (next minimum ${formatMoney(ack.next_min)})` : ""}`;
        msg.dataset.kind = "error";
      }
    } catch (err) {
      msg.textContent = messageFor("network");
      msg.dataset.kind = "error";
    }
  });
  $("bidder-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const body = { bidder: form.elements.bidder.value.trim(), paddle: form.elements.paddle.value.trim() };
    const credit = form.elements.credit_limit.value.trim();
    if (credit) {
      body.credit_limit = parseYuan(credit);
      if (body.credit_limit === null) return showError(new ApiError("bad_amount", "Credit limit: enter an amount in yuan", "credit_limit", 0));
    }
    try {
      await call("POST", "/api/bidders", body);
      form.reset();
      loadBidders();
    } catch { /* shown */ }
  });
  $("sale-form").addEventListener("submit", async (e) => {
    // docs/rules.md "Sales": the lots end one after another, `stagger_s` apart.
    e.preventDefault();
    const f = e.currentTarget.elements;
    const body = {
      id: f.id.value.trim(),
      lots: f.lots.value.split(",").map((lot) => lot.trim()).filter(Boolean),
      first_end_at: Math.round(con.clock.now() + Number(f.first_end_min.value) * 60_000),
      stagger_s: Number(f.stagger_s.value),
      group_soft_close: f.group_soft_close.checked,
    };
    try {
      const sale = await call("POST", "/api/sales", body);
      $("sale-lots").replaceChildren(...sale.lots.map((lot) => el("li", { dataset: { testid: "sale-end" } },
        `${lot.lot} ends ${new Date(lot.ends_at).toLocaleTimeString()}`)));
      await loadLots();
    } catch { /* shown */ }
  });
  $("lot-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    let spec;
    try {
      spec = lotSpec(form);
    } catch (err) {
      return showError(err);
    }
    try {
      const state = await call("POST", "/api/lots", spec);
      if (form.elements.open_now.checked && state.status === "scheduled" && !spec.starts_at) {
        await call("POST", `/api/lots/${encodeURIComponent(state.lot)}/open`);
      }
      await loadLots();
      select(state.lot);
    } catch { /* shown */ }
  });
  $("token-input").value = con.token ?? "";
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    con.token = $("token-input").value.trim() || null;
    try { localStorage.setItem(TOKEN_KEY, con.token ?? ""); } catch { /* storage disabled */ }
    connect();
    refreshAll();
  });
}

// The list never carries tokens: "Token" mints one (POST /api/bidders/{id}/tokens) and shows it
// with the room link that signs the bidder in. Suspending refuses every token issued so far.
async function loadBidders() {
  let data;
  try {
    data = await call("GET", "/api/bidders");
  } catch {
    return;
  }
  const rows = pageItems(data, "bidders").items.map((b) => {
    const path = `/api/bidders/${encodeURIComponent(b.bidder)}`;
    const out = el("div", { class: "token-out", dataset: { testid: "token-out" } });
    const access = b.suspended
      ? el("button", { type: "button", dataset: { testid: "reinstate-bidder" }, text: "Reinstate", onclick: () => setAccess(path, "reinstate") })
      : el("button", { type: "button", dataset: { testid: "suspend-bidder" }, text: "Suspend", onclick: () => setAccess(path, "suspend") });
    return el("tr", { dataset: { testid: "bidder-row", bidder: b.bidder, suspended: String(!!b.suspended) } },
      el("td", { text: b.bidder }), el("td", { text: b.paddle }),
      el("td", { class: "num", text: b.credit_limit === null || b.credit_limit === undefined ? "—" : formatMoney(b.credit_limit) }),
      el("td", { dataset: { testid: "bidder-status" }, text: b.suspended ? "suspended" : "active" }),
      el("td", {},
        el("button", { type: "button", dataset: { testid: "mint-token" }, text: "Token", disabled: !!b.suspended, onclick: () => mintToken(path, out) }),
        " ", access, out));
  });
  $("bidders").replaceChildren(...rows);
}

async function mintToken(path, out) {
  let minted;
  try {
    minted = await call("POST", `${path}/tokens`);
  } catch {
    return;
  }
  const link = `${location.origin}/?token=${encodeURIComponent(minted.token)}`;
  const hours = Math.round(minted.ttl_s / 360) / 10;
  out.replaceChildren(
    el("a", { href: link, target: "_blank", rel: "noopener", dataset: { testid: "room-link" }, text: "Open room" }), " ",
    el("button", { type: "button", dataset: { testid: "copy-link" }, text: "Copy link", onclick: (e) => copy(link, e.currentTarget) }), " ",
    el("button", { type: "button", dataset: { testid: "copy-token" }, text: "Copy token", onclick: (e) => copy(minted.token, e.currentTarget) }), " ",
    el("span", { class: "hint", text: `valid ${hours} h` }),
    el("span", { class: "token", dataset: { testid: "bidder-token" }, text: minted.token }));
}

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Select and copy"; // no clipboard (permissions, plain http): the text is shown
  }
}

async function setAccess(path, action) {
  try {
    await call("POST", `${path}/${action}`);
  } catch {
    return;
  }
  loadBidders();
}

async function loadSettlements() {
  let data;
  try {
    data = await call("GET", "/api/settlements");
  } catch {
    return;
  }
  const when = (t) => (t ? new Date(t).toLocaleString() : "—");
  const records = pageItems(data, "settlements").items;
  $("settlements").replaceChildren(...records.map((r) => el("tr", { dataset: { testid: "settlement-row", lot: r.lot } },
    el("td", { text: r.lot }), el("td", { text: RESULT_TEXT[r.result] ?? r.result }),
    el("td", { class: "num", text: formatMoney(r.hammer_price, r.currency) }),
    el("td", { class: "num", text: formatMoney(r.total_due, r.currency) }),
    el("td", { text: r.winner ?? "—" }), el("td", { text: r.winner_paddle ?? "—" }),
    el("td", { text: when(r.decided_at ?? r.closed_at) }),
    el("td", { dataset: { testid: "settlement-paid" } }, r.paid_at ? when(r.paid_at) : r.result === "sold"
      ? el("button", { type: "button", dataset: { testid: "mark-paid" }, text: "Mark paid", onclick: () => markPaid(r.lot) }) : "no"))));
  return records;
}

/** A payment escrow did not report (at the desk, a transfer on the statement): who marks it is recorded. */
async function markPaid(lot) {
  const by = $("paid-form").elements.by.value.trim();
  if (!by) return showError(new ApiError("bad_request", "Marked paid by: enter your name first", "by", 0));
  try {
    await call("POST", `/api/settlements/${encodeURIComponent(lot)}/mark_paid`, { by });
  } catch {
    return;
  }
  loadSettlements();
}

// The ledger is written just after the close event goes out: look again a few times.
async function awaitSettlement(lot, tries = 8) {
  for (let i = 0; i < tries; i++) {
    const rows = await loadSettlements();
    if (rows?.some((r) => r.lot === lot)) return;
    await new Promise((resolve) => setTimeout(resolve, 250 * (i + 1)));
  }
}

function refreshAll() {
  if (!con.token) return; // nothing to list without a token: the banner says how to sign in
  loadLots();
  loadBidders();
  loadSettlements();
}

wire();
if (!con.token) {
  showError(new Error("Open the console with ?token=<auctioneer token> (printed by `auction-engine serve`), or paste it under Token."));
  $("token-box").open = true;
}
usable(false); // until the welcome says auctioneer
connect();
refreshAll();
countdown(con.clock, () => con.lots.get(con.selected), tickSelected);
setInterval(() => {
  document.querySelectorAll("#lots tr[data-lot]").forEach((row) => {
    const s = con.lots.get(row.dataset.lot);
    const cell = row.querySelector("[data-left]");
    if (s && cell) cell.textContent = leftText(s);
  });
}, 1000);
