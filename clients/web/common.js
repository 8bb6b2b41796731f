// Shared by the bidder room and the auctioneer console: money, the HTTP API, the WebSocket
// with resume, the server clock and human messages. Wire protocol: PROTOCOL.md (v1).
//
// Money is an integer number of minor units (fen) from the wire to the screen. Formatting and
// parsing go through strings and BigInt, never through a fractional number.

const SYMBOLS = { CNY: "¥", USD: "$", EUR: "€", HKD: "HK$" };

// "wan": yuan amounts from 10,000 written in 万 as Chinese dealers read them (18.30万), where
// exact to the hundred yuan; "plain": ¥183,000. The room switches it with the language (i18n.js).
let moneyStyle = "plain";
export function setMoneyStyle(style) { moneyStyle = style; }

/** 1234500 -> "¥12,345"; 1234550 -> "¥12,345.50"; null -> "—". In "wan" style, 18300000 -> "¥18.30万".
 * `style` overrides the room's for a view that must read in one style throughout. */
export function formatMoney(minor, currency = "CNY", style = moneyStyle) {
  if (minor === null || minor === undefined || minor === "") return "—";
  let v = BigInt(minor);
  const sign = v < 0n ? "-" : "";
  if (v < 0n) v = -v;
  if (style === "wan" && currency === "CNY" && v >= 1000000n && v % 10000n === 0n) {
    return `${sign}¥${v / 1000000n}.${((v % 1000000n) / 10000n).toString().padStart(2, "0")}万`;
  }
  const whole = (v / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const fen = v % 100n;
  const symbol = SYMBOLS[currency] ?? `${currency} `;
  return `${sign}${symbol}${whole}${fen === 0n ? "" : "." + fen.toString().padStart(2, "0")}`;
}

/** "12,345.5" / "¥12345" / "12 345.50" -> 1234550 fen; null if not an exact positive amount. */
export function parseYuan(text) {
  const s = String(text ?? "").trim().replace(/^[¥￥]/, "").replace(/[,\s，]/g, "");
  const m = /^(\d+)(?:\.(\d{0,2}))?$/.exec(s);
  if (!m) return null;
  const fen = BigInt(m[1]) * 100n + BigInt((m[2] ?? "").padEnd(2, "0"));
  if (fen <= 0n || fen > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return Number(fen);
}

/** 1234550 -> "12345.50" (for an input field; the inverse of parseYuan). */
export function yuanInput(minor) {
  if (minor === null || minor === undefined) return "";
  const v = BigInt(minor);
  const fen = v % 100n;
  return `${v / 100n}${fen === 0n ? "" : "." + fen.toString().padStart(2, "0")}`;
}

// RULES.md default ladder, in fen: used when a lot does not publish its own `increments`.
export const DEFAULT_LADDER = [[0, 10000], [1000000, 20000], [5000000, 50000], [10000000, 100000], [50000000, 200000]];

export function stepAt(ladder, price) {
  let step = ladder[0][1];
  for (const [from, s] of ladder) if (from <= price) step = s;
  return step;
}

/** The amounts of the quick-bid buttons: next_min, then `n` ladder steps above it. */
export function stepsAbove(state, n) {
  const ladder = Array.isArray(state.increments) && state.increments.length ? state.increments : null;
  let amount = state.next_min;
  if (amount === null || amount === undefined) return null;
  for (let i = 0; i < n; i++) {
    let step;
    if (ladder) step = stepAt(ladder, amount);
    else if (state.price !== null && state.price !== undefined && state.next_min > state.price && i === 0) step = state.next_min - state.price;
    else step = stepAt(DEFAULT_LADDER, amount);
    amount += step;
  }
  return Number.isSafeInteger(amount) ? amount : null;
}

// -- human messages ---------------------------------------------------------------------------

export const MESSAGES = {
  too_low: "Your bid is below the next minimum.",
  already_leading: "You are already leading; raise your maximum instead.",
  lot_not_open: "This lot is not open for bidding yet.",
  lot_paused: "Bidding on this lot is paused.",
  lot_closed: "This lot has closed.",
  credit_limit: "This bid would exceed your credit limit (deposit).",
  budget: "This bid would break the budget you set for this sale.",
  rate_limited: "Too many bids at once; wait a moment and try again.",
  not_allowed: "You are not allowed to do that.",
  bad_amount: "Enter a whole amount in yuan (up to 2 decimals) above zero, and only one of bid or maximum.",
  unknown_lot: "No such lot.",
  bad_frame: "The server could not read that message.",
  too_large: "That message was too large.",
  unknown_type: "The server does not know that message type.",
  slow_consumer: "Your connection fell behind; reconnecting.",
  unauthorized: "Your token is missing, invalid or expired.",
  unknown_bidder: "This engine does not know your bidder: ask the auctioneer for a new token.",
  suspended: "Your bidder account is suspended: ask the auctioneer.",
  forbidden: "Your token does not allow that.",
  invalid_spec: "The lot form has an invalid field.",
  bad_request: "The request was invalid.",
  conflict: "That conflicts with the lot's current state.",
  unavailable: "The server is temporarily unavailable.",
  timeout: "No answer from the server in time; your bid may still count. Check the price before bidding again.",
  network: "Network error: the server could not be reached.",
  offline: "Not sent: you are offline.",
};

export function messageFor(code, fallback) {
  return MESSAGES[code] ?? fallback ?? `Error: ${code}`;
}

// -- time -------------------------------------------------------------------------------------

/** 125000 -> "2:05"; 3723000 -> "1:02:03"; negatives -> "0:00". Rounds up to whole seconds. */
export function formatRemaining(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** Server clock from ping/pong: offset = server_time - midpoint, lowest round trip of the
 * last 8 samples wins (queueing only ever adds delay). */
export class Clock {
  constructor() { this.samples = []; this.coarse = 0; }
  add(sent, serverTime, received) {
    const sample = { offset: serverTime - Math.floor((sent + received) / 2), rtt: Math.max(0, received - sent) };
    this.samples.push(sample);
    if (this.samples.length > 8) this.samples.shift();
    return sample;
  }
  setCoarse(serverTime) { this.coarse = serverTime - Date.now(); }
  get best() { return this.samples.reduce((a, b) => (a && a.rtt <= b.rtt ? a : b), null); }
  get offset() { return this.best ? this.best.offset : this.coarse; }
  now() { return Date.now() + this.offset; }
}

/** Time left on a lot at server time `now`: null when no clock runs (live lot, not opened). */
export function remainingMs(state, now) {
  if (!state || state.status === "closed") return 0;
  if (state.status === "paused") return state.remaining_ms ?? null;
  if (state.ends_at === null || state.ends_at === undefined) return null;
  return state.ends_at - now;
}

/** Calls render(remainingMs) four times a second until stop(). */
export function countdown(clock, getState, render) {
  const tick = () => render(remainingMs(getState(), clock.now()));
  tick();
  const timer = setInterval(tick, 250);
  return { stop: () => clearInterval(timer) };
}

// -- HTTP -------------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(code, message, field, status) {
    super(message || code);
    Object.assign(this, { code, field, status });
  }
  get human() {
    const base = this.message && this.message !== this.code ? this.message : messageFor(this.code);
    return this.field ? `${base} (field: ${this.field})` : base;
  }
}

export async function api(method, path, { token, body, params } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params ?? {})) {
    if (v !== null && v !== undefined && v !== "") url.searchParams.set(k, v);
  }
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError("network", messageFor("network"), null, 0);
  }
  let data = null;
  try { data = await response.json(); } catch { /* an empty or non-JSON answer */ }
  if (!response.ok) {
    const err = data && data.error;
    if (err) throw new ApiError(err.code, err.message, err.field, response.status);
    throw new ApiError(`http_${response.status}`, `HTTP ${response.status}`, null, response.status);
  }
  return data;
}

/** A list answer, or a page `{lots|items|...: [...], next_cursor}`. */
export function pageItems(data, ...keys) {
  if (Array.isArray(data)) return { items: data, cursor: null };
  for (const k of keys) if (data && Array.isArray(data[k])) return { items: data[k], cursor: data.next_cursor ?? data.cursor ?? null };
  return { items: [], cursor: null };
}

/** Every lot matching `params`, following the cursor (at most `maxPages` pages). */
export async function fetchLots(token, params = {}, maxPages = 20) {
  const all = [];
  let cursor = null;
  for (let i = 0; i < maxPages; i++) {
    const { items, cursor: next } = pageItems(await api("GET", "/api/lots", { token, params: { ...params, cursor } }), "lots", "items");
    all.push(...items);
    if (!next || next === cursor || !items.length) break;
    cursor = next;
  }
  return all;
}

// -- token ------------------------------------------------------------------------------------

/** `?token=` wins and is remembered under `key` (and taken out of the address bar and history);
 * else the remembered one; else null. */
export function readToken(key) {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get("token");
  if (fromUrl) {
    try { localStorage.setItem(key, fromUrl); } catch { /* storage disabled */ }
    params.delete("token");
    const query = params.toString();
    try { history.replaceState(history.state, "", `${location.pathname}${query ? "?" + query : ""}${location.hash}`); } catch { /* sandboxed */ }
    return fromUrl;
  }
  try { return localStorage.getItem(key) || null; } catch { return null; }
}

export function forgetToken(key) {
  try { localStorage.removeItem(key); } catch { /* storage disabled */ }
}

export function newId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// -- WebSocket --------------------------------------------------------------------------------

const SUBPROTOCOL = "auction.v1.json";
// The token travels as a second offered subprotocol, never in the URL (access logs, history).
export const TOKEN_SUBPROTOCOL = "auction.token.";

/** The subprotocols to offer: JSON, and the token when there is one. */
export function subprotocols(token) {
  return token ? [SUBPROTOCOL, `${TOKEN_SUBPROTOCOL}${token}`] : [SUBPROTOCOL];
}

// Keys that never change after creation; the engine may leave them out of event states to keep
// each frame small, so they carry over from the snapshot.
export const STATIC_KEYS = ["vehicle", "increments"];

export function withStatic(state, previous) {
  const missing = STATIC_KEYS.filter((k) => !(k in state) && previous && k in previous);
  return missing.length ? { ...state, ...Object.fromEntries(missing.map((k) => [k, previous[k]])) } : state;
}
const UNAUTHORIZED_CLOSE = 4401;
const AUTH_CODES = new Set(["unauthorized", "unknown_bidder", "suspended"]);

/**
 * One WebSocket for many lots. Per lot it hands `onLot(frame, state)` a gapless stream without
 * duplicates across reconnects: re-subscribes with `since` = last seq held, drops seq <= held, and
 * on a gap re-subscribes without `since` for a fresh snapshot. A bid whose ack has not come is sent
 * again after a reconnect with the SAME id (the server answers a repeat with the first ack).
 * `subscribe(lot, {conflateMs})` asks for a conflated feed (docs/protocol.md): at most one event per
 * that many ms, the newest, whose skipped seqs are not gaps; subscribing again without it (or with
 * another period) switches the lot's feed, resuming from the seq held.
 *
 * Handlers: onStatus("connecting"|"connected"|"reconnecting"|"unauthorized", why), onWelcome(frame),
 * onLot(frame, state), onPrivate(frame) for outbid/won/lost, onError(frame); `clock` (optional).
 * "unauthorized" is final (bad, expired, unknown or suspended token, close 4401): `why` is the
 * server's error frame `{code, message}` (code `unauthorized`, `unknown_bidder` or `suspended`).
 */
export class AuctionSocket {
  constructor(token, handlers = {}) {
    this.token = token;
    this.h = handlers;
    this.clock = handlers.clock ?? new Clock(); // a page may keep one clock across sockets
    this.lots = new Map(); // lot -> { seq, state, resyncing, conflateMs }
    this.pending = new Map(); // id -> { frame, resolve, reject, timer }
    this.pings = new Map(); // t -> sent
    this.welcome = null;
    this.status = "connecting";
    this.attempt = 0;
    this.closed = false;
    this.reconnects = 0;
  }

  connect() {
    this.setStatus(this.reconnects || this.attempt ? "reconnecting" : "connecting");
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let ws;
    try {
      ws = new WebSocket(`${proto}//${location.host}/ws`, subprotocols(this.token));
    } catch (e) { // a pasted token with characters a subprotocol cannot carry: no server would take it
      this.closed = true;
      this.setStatus("unauthorized", { code: "unauthorized", message: messageFor("unauthorized") });
      return;
    }
    this.refusal = null;
    this.ws = ws;
    ws.onmessage = (e) => this.receive(e.data);
    ws.onclose = (e) => this.dropped(ws, e);
    ws.onerror = () => {}; // onclose follows and handles it
  }

  setStatus(status, why) {
    this.status = status;
    this.h.onStatus?.(status, why);
  }

  dropped(ws, event) {
    if (ws !== this.ws) return;
    clearInterval(this.pingTimer);
    this.pings.clear();
    if (this.closed) return;
    if (event.code === UNAUTHORIZED_CLOSE) {
      this.closed = true;
      this.setStatus("unauthorized", this.refusal ?? { code: "unauthorized", message: messageFor("unauthorized") });
      return;
    }
    this.setStatus("reconnecting");
    const delay = Math.min(5000, 100 * 2 ** Math.min(this.attempt, 6)) * (0.5 + Math.random() / 2);
    this.attempt += 1;
    setTimeout(() => this.connect(), delay);
  }

  close() {
    this.closed = true;
    clearInterval(this.pingTimer);
    this.ws?.close();
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.welcome) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  // The welcome frame means the connection is usable: resume every lot and every unacked bid.
  onWelcome(frame) {
    if (this.welcome) this.reconnects += 1;
    this.welcome = frame;
    this.clock.setCoarse(frame.server_time);
    this.attempt = 0;
    this.setStatus("connected");
    for (const [lot, w] of this.lots) {
      w.resyncing = w.seq === null;
      this.send(this.subscribeFrame(lot, w));
    }
    for (const p of this.pending.values()) this.send(p.frame);
    this.ping();
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => this.ping(), 10000);
    this.h.onWelcome?.(frame);
  }

  ping() {
    let t = Date.now();
    while (this.pings.has(t)) t += 1;
    this.pings.set(t, Date.now());
    if (!this.send({ type: "ping", t })) this.pings.delete(t);
  }

  /** `conflateMs`: at most one event per that many ms, the latest; `delta`: every event, each after
   * the first as the fields that changed, laid over the state held (docs/protocol.md). */
  subscribe(lot, { conflateMs = null, delta = false } = {}) {
    const w = this.lots.get(lot);
    if (w && w.conflateMs === conflateMs && w.delta === delta) return;
    if (w) { // the same lot, another feed: resume from what is held
      Object.assign(w, { conflateMs, delta });
      this.send(this.subscribeFrame(lot, w));
      return;
    }
    this.lots.set(lot, { seq: null, state: null, resyncing: false, conflateMs, delta });
    this.send(this.subscribeFrame(lot, this.lots.get(lot)));
  }

  subscribeFrame(lot, w) {
    const frame = { type: "subscribe", lot };
    if (w.seq !== null && !w.resyncing) frame.since = w.seq;
    if (w.conflateMs) frame.conflate_ms = w.conflateMs;
    if (w.delta) frame.delta = true;
    return frame;
  }

  unsubscribe(lot) {
    if (!this.lots.delete(lot)) return;
    this.send({ type: "unsubscribe", lot });
  }

  state(lot) { return this.lots.get(lot)?.state ?? null; }

  /** Resolves with the ack (ok or refused); rejects {code: "timeout"} after `timeoutMs`. */
  bid(lot, { amount, max, id } = {}, timeoutMs = 10000) {
    const frame = { type: "bid", lot, id: id ?? newId() };
    if (amount !== undefined && amount !== null) frame.amount = amount;
    if (max !== undefined && max !== null) frame.max = max;
    return this.request(frame, timeoutMs);
  }

  buyNow(lot, timeoutMs = 10000) {
    return this.request({ type: "buy_now", lot, id: newId() }, timeoutMs);
  }

  /** A frame that cannot go out now is refused at once ({code: "offline"}), never queued: a bid sent
   * later would be placed at prices its bidder never saw. A bid that went out and lost its ack is
   * sent again on reconnect with the same id (the server answers a repeat with the first ack). */
  request(frame, timeoutMs) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !this.welcome || this.status !== "connected") {
      return Promise.reject(Object.assign(new Error(messageFor("offline")), { code: "offline", id: frame.id }));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(frame.id);
        reject(Object.assign(new Error(messageFor("timeout")), { code: "timeout", id: frame.id }));
      }, timeoutMs);
      this.pending.set(frame.id, { frame, resolve, reject, timer });
      this.send(frame);
    });
  }

  receive(data) {
    let f;
    try { f = JSON.parse(data); } catch { return; }
    if (!f || typeof f !== "object") return;
    switch (f.type) {
      case "welcome": return this.onWelcome(f);
      case "snapshot": return this.onSnapshot(f);
      case "event": return this.onEvent(f);
      case "ack": return this.onAck(f);
      case "pong": return this.onPong(f);
      case "outbid": case "won": case "lost": return this.h.onPrivate?.(f);
      case "error": return this.onError(f);
      default: return this.h.onFrame?.(f);
    }
  }

  onSnapshot(f) {
    if (!this.clock.samples.length) this.clock.setCoarse(f.server_time);
    const w = this.lots.get(f.lot);
    if (!w) return; // a snapshot only answers our subscribe: always the new base
    Object.assign(w, { seq: f.seq, state: f.state, resyncing: false });
    this.h.onLot?.(f, w.state);
  }

  onEvent(f) {
    const w = this.lots.get(f.lot);
    if (!w || w.resyncing || w.seq === null || f.seq <= w.seq) return;
    const delta = f.changed && typeof f.changed === "object";
    if (delta ? f.prev !== w.seq || !w.state : f.seq !== w.seq + 1 && !w.conflateMs) {
      w.resyncing = true; // a gap, or a delta on a state not held: start again from a snapshot
      this.send({ type: "unsubscribe", lot: f.lot });
      this.send(this.subscribeFrame(f.lot, w));
      return;
    }
    Object.assign(w, { seq: f.seq, state: delta ? { ...w.state, ...f.changed } : withStatic(f.state, w.state) });
    this.h.onLot?.(f, w.state);
  }

  onAck(f) {
    const p = this.pending.get(f.id);
    if (!p) return;
    this.pending.delete(f.id);
    clearTimeout(p.timer);
    p.resolve(f);
  }

  onPong(f) {
    const sent = this.pings.get(f.t);
    if (sent === undefined) return;
    this.pings.delete(f.t);
    this.clock.add(sent, f.server_time, Date.now());
  }

  onError(f) {
    if (AUTH_CODES.has(f.code)) {
      this.refusal = { code: f.code, message: f.message }; // the 4401 close follows
      return;
    }
    if (f.lot && this.lots.has(f.lot) && f.code === "unknown_lot") this.lots.delete(f.lot);
    this.h.onError?.(f);
  }
}

// -- small DOM helpers ------------------------------------------------------------------------

/** el("div", {class: "x", dataset: {testid: "y"}}, child, "text") */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

/** A link only for http(s) or same-site URLs: lot data must never inject `javascript:`. */
export function safeHref(url) {
  try {
    const u = new URL(url, location.origin);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch { return null; }
}

export function formatMileage(km) {
  if (km === null || km === undefined) return "—";
  if (moneyStyle === "wan" && km >= 10000) return `${(Math.round(km / 100) / 100).toFixed(2)}万公里`; // 41020 -> 4.10万公里
  return `${String(km).replace(/\B(?=(\d{3})+(?!\d))/g, ",")} km`;
}

export const RESULT_TEXT = { sold: "Sold", unsold: "Unsold", withdrawn: "Withdrawn", pending_approval: "Pending approval" };
