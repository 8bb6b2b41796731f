// The bidder room: catalogue with live prices, lot detail with bidding. See docs/clients.md.
import {
  AuctionSocket, Clock, RESULT_TEXT, api, countdown, el, fetchLots, formatMileage, formatMoney, formatRemaining,
  forgetToken, messageFor, pageItems, parseYuan, readToken, remainingMs, safeHref, stepsAbove, yuanInput,
} from "/static/common.js";
import { initLanguage, language, placeName, t, tf } from "/static/i18n.js";

const TOKEN_KEY = "auction.room.token";
const CONFIRM_KEY = "auction.room.confirm"; // "off" when the bidder turned confirmation off for quick bids
const ALERTS_KEY = "auction.room.alerts"; // "on": browser notification (when allowed) and a sound with each alert
const MAX_WATCHED = 100;
// Lots only watched in the catalogue get a conflated feed: the newest state at most every 100 ms
// (docs/protocol.md "Conflated feeds"); the open lot's page gets every event, each after the first as
// the fields that changed ("Delta feeds": a third of the bytes, on a phone's data plan).
const CATALOGUE_CONFLATE_MS = 100;
const feedOf = (lot) => (lot === room.detail ? { delta: true } : { conflateMs: CATALOGUE_CONFLATE_MS });
const $ = (id) => document.getElementById(id);

const room = {
  token: readToken(TOKEN_KEY),
  socket: null,
  paddle: null,
  welcome: null,            // the socket's welcome (role, bidder, paddle): the top bar says who this page is
  list: [],                 // lots shown in the catalogue, sorted
  states: new Map(),        // lot -> latest state (HTTP first, then WebSocket)
  cards: new Map(),         // lot -> card element
  mine: new Map(),          // lot -> "bid" | "outbid" | {won: price} | "lost" (server: /api/me/lots, your_max; then frames, acks)
  myLots: new Map(),        // lot -> item of GET /api/me/lots (standing, settlement)
  watchlist: new Set(),     // lots the bidder watches (server-side, /api/me/watchlist)
  message: null,            // {lot, seq}: the bid message describes the lot at seq; a later seq clears it
  unsent: null,             // {lot, params}: a bid clicked while offline, never sent
  lastEnds: new Map(),      // lot -> {ends_at, extensions} to spot extensions
  maxima: new Map(),        // lot -> this bidder's standing maximum (bidder snapshots, acks)
  own: new Map(),           // lot -> {counter, suspended}: what only this bidder's view holds (snapshots, GET, me, frames)
  detail: null,             // lot shown in detail
  makes: [],                // GET /api/makes: each make once, {make, en, zh, lots}
  clock: new Clock(),       // kept across sockets (a token change opens a new one)
  signinLost: null,         // why the token was refused, while the room watches instead (English; shown through t())
  budget: null,             // () => the budget form's last answer, in the current language
};

// What the room says after falling back to watching, by the server's error code.
const SIGNIN_LOST = {
  unauthorized: "Sign-in expired or token rejected: watching only. Paste a new token to bid.",
  unknown_bidder: "Sign-in no longer valid (bidder unknown here): watching only. Ask for a new token.",
  suspended: "Your bidder account is suspended: watching only.",
};

// -- connection -------------------------------------------------------------------------------

function connect() {
  room.socket?.close();
  const socket = new AuctionSocket(room.token, {
    clock: room.clock,
    onStatus: showStatus,
    onWelcome: (w) => {
      room.paddle = w.paddle ?? null;
      room.welcome = w;
      if (w.role === "bidder") {
        room.signinLost = null;
        room.socket.send({ type: "subscribe", lot: "me" });
      }
      $("nav-mine").hidden = $("alerts").hidden = w.role !== "bidder";
      $("alerts").setAttribute("aria-pressed", String(alertsOn()));
      offerUnsent();
      showWho();
      renderDetail();
    },
    onLot: (frame, state) => onLotState(frame.lot, state, frame),
    onPrivate: onPrivate,
    onFrame: (f) => {
      if (f.type === "me") onMe(f);
      else if (f.type === "notice") onNotice(f);
      else if (f.type === "counter") onCounter(f);
    },
    onError: (f) => {
      if (f.code === "slow_consumer") return;
      showBidMessage(() => t(messageFor(f.code, f.message)), "error");
    },
  });
  room.socket = socket;
  for (const lot of watchedLots()) socket.subscribe(lot, feedOf(lot));
  socket.connect();
}

/** Who this page is, in the current language: on each welcome and again on a language switch. */
function showWho() {
  const w = room.welcome;
  if (w) $("who").textContent = w.role === "bidder" ? `${t("Bidder")} ${w.bidder} · ${t("paddle")} ${w.paddle}` : t(room.signinLost ?? `Watching as ${w.role}`);
}

const connLabel = (status) => t({
  connecting: "Connecting…", connected: "● Live", reconnecting: "Reconnecting…", unauthorized: "Token rejected",
}[status] ?? status);

function showStatus(status, why) {
  const node = $("conn");
  node.dataset.state = status;
  node.textContent = connLabel(status);
  if (room.lastConn && room.lastConn !== status) $("announce").textContent = tf("Connection: {status}", { status: node.textContent.replace("● ", "") });
  room.lastConn = status;
  if (status === "unauthorized") signInLost(why);
}

/** A bad, expired, unknown or suspended token: forget it and keep the room live as a watcher. */
function signInLost(why) {
  room.signinLost = SIGNIN_LOST[why?.code] ?? SIGNIN_LOST.unauthorized;
  $("who").textContent = t(room.signinLost);
  if (!room.token) return;
  forgetToken(TOKEN_KEY);
  room.token = null;
  room.paddle = null;
  room.welcome = null;
  room.mine.clear();
  room.maxima.clear();
  room.myLots.clear();
  room.watchlist.clear();
  $("token-input").value = "";
  $("token-box").open = true;
  renderDetail();
  connect();
  loadCatalogue();
}

function watchedLots() {
  const lots = room.list.slice(0, MAX_WATCHED).map((s) => s.lot);
  if (room.detail && !lots.includes(room.detail)) lots.push(room.detail);
  for (const lot of [...room.watchlist, ...room.myLots.keys()]) {  // live in My auctions and on the lot page
    const s = room.states.get(lot);
    if (!lots.includes(lot) && s?.status !== "closed") lots.push(lot);
  }
  return lots;
}

function syncSubscriptions() {
  const want = new Set(watchedLots());
  for (const lot of [...room.socket.lots.keys()]) if (!want.has(lot)) room.socket.unsubscribe(lot);
  for (const lot of want) room.socket.subscribe(lot, feedOf(lot));
}

// -- state ------------------------------------------------------------------------------------

function onLotState(lot, state, frame) {
  const before = room.lastEnds.get(lot);
  room.states.set(lot, state);
  if (frame?.type === "snapshot" && state.your_max !== undefined) room.maxima.set(lot, state.your_max);
  noteOwn(lot, state);
  if (frame?.type === "event" && ["inspection", "reconfirmed", "countered", "reopened"].includes(frame.kind) && room.paddle) loadOwnView(lot);
  adopt(lot, state);
  if (room.message?.lot === lot && state.seq > room.message.seq) showBidMessage("");
  const extended = before && state.extensions > before.extensions && state.ends_at > before.ends_at;
  const fairWarningMoved = before && frame?.type === "event" && state.mode === "live" && before.ends_at && state.ends_at > before.ends_at;
  room.lastEnds.set(lot, { ends_at: state.ends_at, extensions: state.extensions ?? 0, status: state.status });
  if ((extended || fairWarningMoved) && lot === room.detail) flashExtension(state.ends_at - before.ends_at, state.extensions);
  if (frame?.type === "event" && frame.kind === "bid" && lot === room.detail && room.paddle && state.leader === room.paddle && room.mine.get(lot) === "outbid") {
    room.mine.set(lot, "bid");
  }
  if (frame?.type === "event" && (frame.kind === "bid" || CORRECTION_TEXT[frame.kind]) && lot === room.detail) historySoon();
  if (lot === room.detail) announceLot(state, before);
  if (before && (state.ends_at !== before.ends_at || (state.status === "closed") !== (before.status === "closed"))) resortSoon();
  updateCard(lot);
  if (lot === room.detail) renderDetail();
  if (room.unsent?.lot === lot) offerUnsent();
}

/** Status, fair warning, extension and result changes of the open lot, for screen readers. */
function announceLot(state, before) {
  const key = [state.status, state.fair_warning, state.result, state.extensions].join("|");
  if (room.announced === key) return;
  const first = room.announced === undefined;
  room.announced = key;
  if (first || !before) return;
  const parts = [tf("{title}: {status}", { title: state.title, status: t(state.status === "open" && state.fair_warning ? "fair warning" : state.status) })];
  if (state.extensions > (before.extensions ?? 0)) parts.push(tf("extended to {left} left", { left: formatRemaining(state.ends_at - room.clock.now()) }));
  if (state.result) {
    const result = t(RESULT_TEXT[state.result] ?? state.result);
    parts.push(state.price !== null && state.result !== "unsold" ? tf("{result} at {price}", { result, price: formatMoney(state.price, state.currency) }) : result);
  }
  $("announce").textContent = parts.join(t(", "));
}

/** What the server says of this bidder on a lot (a bidder snapshot's `your_max`, `leading`):
 * "mine" survives a reload and holds on any device. */
function adopt(lot, state) {
  if (!room.paddle || room.mine.has(lot)) return;
  if (state.your_max !== null && state.your_max !== undefined) room.mine.set(lot, state.leading === false ? "outbid" : "bid");
}

function onMe(frame) {
  room.watchlist = new Set(frame.watchlist ?? []);
  for (const item of frame.lots ?? []) noteMine(item);
  renderMine();
  for (const s of room.list) updateCard(s.lot);
  syncSubscriptions();
  renderDetail();
}

const STANDING_TO_MINE = { leading: "bid", outbid: "outbid", bidding: "bid", lost: "lost", pending: "bid" };
function noteMine(item) {
  room.myLots.set(item.lot, item);
  if (!room.states.has(item.lot)) room.states.set(item.lot, item);
  if (item.your_max !== null && item.your_max !== undefined) room.maxima.set(item.lot, item.your_max);
  noteOwn(item.lot, item);
  room.mine.set(item.lot, item.standing === "won" ? { won: item.price } : STANDING_TO_MINE[item.standing] ?? "bid");
}

async function loadMine() {
  if (!room.token || !room.paddle) return;
  try {
    const data = await api("GET", "/api/me/lots", { token: room.token });
    for (const item of pageItems(data, "lots").items) noteMine(item);
    $("mine-message").hidden = room.myLots.size > 0;
    $("mine-message").textContent = room.myLots.size ? "" : t("You have not bid on any lot yet.");
  } catch (e) {
    $("mine-message").hidden = false;
    $("mine-message").textContent = t(e.human ?? e.message);
  }
  renderMine();
}

/** What only this bidder's own view of a lot holds (a counter-offer made to them, a maximum
 * suspended by a newer report): public events leave these keys out, so they are kept apart. */
function noteOwn(lot, state) {
  const own = room.own.get(lot) ?? {};
  if ("counter" in state) own.counter = state.counter;
  if ("suspended" in state) own.suspended = state.suspended;
  if (state.result !== undefined && state.result !== "pending_approval") own.counter = null;
  room.own.set(lot, own);
}

/** The bidder's own view again (GET /api/lots/{lot}): after an entry that changes what only it holds. */
async function loadOwnView(lot) {
  try {
    noteOwn(lot, await api("GET", `/api/lots/${encodeURIComponent(lot)}`, { token: room.token }));
  } catch { return; }
  if (lot === room.detail) renderDetail();
}

function onCounter(f) {
  noteOwn(f.lot, { counter: { amount: f.amount, expires_at: f.expires_at } });
  if (f.lot !== room.detail) {
    const title = room.states.get(f.lot)?.title ?? f.lot;
    alertBidder(f.lot, tf("Counter-offer on {title}: {amount}, answer by {when}", { title, amount: formatMoney(f.amount, currencyOf(f.lot)), when: whenText(f.expires_at) }));
  }
  renderDetail();
}

// Dates and times in the room's language ([]: the browser's own locale, as in English).
const locale = () => (language() === "zh-CN" ? "zh-CN" : []);
const whenText = (ms) => new Date(ms).toLocaleString(locale(), { dateStyle: "medium", timeStyle: "short" });

/** The watchlist as the server keeps it: another device may have changed it since the `me` snapshot. */
async function loadWatchlist() {
  if (!room.token || !room.paddle) return;
  try {
    room.watchlist = new Set((await api("GET", "/api/me/watchlist", { token: room.token })).lots);
  } catch { return; /* the last known list stays */ }
  renderDetail();
}

// Why a pending lot waits (the lot page, above the seller's deadline or counter-offer).
const PENDING_EXPLAINED = "The hammer fell below the seller's reserve, so the seller decides whether to accept your bid. " +
  "It stays binding until the auctioneer approves (you win at this price), rejects it (you owe nothing) or makes " +
  "you a counter-offer, which you may accept or decline before its deadline (no answer by then is a decline).";

const STANDING_TEXT = { leading: "Leading", outbid: "Outbid", bidding: "Sealed bid in", won: "Won", lost: "Lost", pending: "Pending approval" };
/** My auctions reads every amount in plain yuan, in Chinese too: a sum owed (hammer + premium =
 * total) is exact to the yuan, which 万 does not show, and one table reads in one unit. */
function renderMine() {
  const rows = [...room.myLots.values()].map((item) => {
    const state = room.states.get(item.lot) ?? item;
    const money = (minor) => formatMoney(minor, state.currency, "plain");
    const owed = item.settlement;
    const decides = item.standing === "pending" && state.approve_by ? tf("the seller decides by {when}", { when: whenText(state.approve_by) }) : null;
    const owedText = owed && `{hammer} + premium {premium} = {total}${owed.payment_due_at ? ", due by {date}" : ""}${owed.paid_at ? " (paid)" : ""}`;
    const due = decides ? decides : owed ? tf(owedText, {
      hammer: money(owed.hammer_price), premium: money(owed.premium), total: money(owed.total_due),
      date: owed.payment_due_at ? new Date(owed.payment_due_at).toLocaleDateString(locale()) : "" }) : "—";
    return el("tr", { dataset: { testid: "my-lot", lot: item.lot, standing: item.standing } },
      el("td", {}, el("a", { href: `#lot=${encodeURIComponent(item.lot)}`, text: state.title })),
      // data-label: a phone shows each row as a card, each value after its column's name (style.css)
      el("td", { dataset: { testid: "my-standing", label: t("Where you stand") }, text: t(STANDING_TEXT[item.standing] ?? item.standing) }),
      el("td", { class: "num", dataset: { label: t("Price") }, text: money(state.price) }),
      el("td", { class: "num", dataset: { label: t("Your maximum") }, text: money(item.your_max) }),
      el("td", { dataset: { testid: "my-owed", label: t("Owed") }, text: due }));
  });
  $("mine-rows").replaceChildren(...rows);
}

function onPrivate(f) {
  if (f.lot !== room.detail && f.type === "outbid") {
    const title = room.states.get(f.lot)?.title ?? f.lot;
    alertBidder(f.lot, tf("Outbid on {title}: now {price}", { title, price: formatMoney(f.price, currencyOf(f.lot)) }));
  }
  if (f.type === "outbid") room.mine.set(f.lot, "outbid");
  else if (f.type === "won") room.mine.set(f.lot, { won: f.price });
  else if (f.type === "lost") room.mine.set(f.lot, "lost");
  if (f.lot === room.detail) {
    if (f.type === "outbid") {
      showBidMessage(() => tf("Outbid: the price is now {price}; next minimum {next}.", {
        price: formatMoney(f.price, currencyOf(f.lot)), next: formatMoney(f.next_min, currencyOf(f.lot)) }), "warn", f.seq);
    }
    renderDetail();
  }
  updateCard(f.lot);
  if (room.paddle) loadMine();
}

/** Off the lot page: a banner, the tab title, and (when allowed) a browser notification. */
function alertBidder(lot, text) {
  $("alert").hidden = false;
  $("alert-text").textContent = text;
  $("alert-link").href = `#lot=${encodeURIComponent(lot)}`;
  document.title = `(!) ${text}`;
  if (!alertsOn()) return;
  try {
    if (window.Notification?.permission === "granted" && document.hidden) new Notification(text);
  } catch { /* notifications unavailable */ }
  beep();
}

function alertsOn() {
  try { return localStorage.getItem(ALERTS_KEY) === "on"; } catch { return false; }
}

/** 0.2 s at 880 Hz: heard from another tab, without a sound file to fetch. */
function beep() {
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    gain.gain.value = 0.05;
    tone.frequency.value = 880;
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.2);
    tone.onended = () => audio.close();
  } catch { /* no audio */ }
}

/** The server's ending-soon alert, on the bidder's own channel: sent once per lot and end to its
 * bidders and watchers, whatever this page watches (a page on that lot already shows its clock). */
function onNotice(f) {
  if (f.kind !== "ending_soon" || f.lot === room.detail) return;
  const title = f.title || room.states.get(f.lot)?.title || f.lot;
  const left = Math.max(0, f.ends_at - room.clock.now());
  alertBidder(f.lot, tf("Ending soon: {title} closes in {left}", { title, left: formatRemaining(left) }));
}

const currencyOf = (lot) => room.states.get(lot)?.currency ?? "CNY";

// Dutch lots fall on a schedule the state describes: the price on screen follows the clock.
function livePrice(state, now) {
  if (state.format === "dutch" && state.status === "open" && state.dutch && state.opened_at) {
    const { step, tick_s: tick, floor } = state.dutch;
    const ticks = Math.floor((now - state.opened_at) / (tick * 1000));
    return Math.max(floor, state.start_price - step * Math.max(0, ticks));
  }
  return state.price;
}

function myStatus(lot, state) {
  const mine = room.mine.get(lot);
  const leads = !!room.paddle && state.leader === room.paddle;
  if (state.status === "closed" && leads && state.result === "sold") return ["won", tf("You won at {price}", { price: formatMoney(state.price, state.currency) })];
  if (state.status === "closed" && leads && state.result === "pending_approval") return ["pending", tf("Pending approval: your {price} is the high bid", { price: formatMoney(state.price, state.currency) })];
  const closed = state.status === "closed";  // a reopened lot's earlier won/lost no longer holds
  if (closed && mine && typeof mine === "object") return ["won", tf("You won at {price}", { price: formatMoney(mine.won ?? state.price, state.currency) })];
  if (closed && mine === "lost") return ["lost", t("You did not win this lot")];
  if (state.status === "closed") return mine ? ["lost", t("You did not win this lot")] : ["none", t(room.token ? "You did not bid on this lot" : "Closed")];
  const sealed = state.format.startsWith("sealed");
  if (sealed && mine) return ["sealed", t("Your sealed bid is in")];
  if (state.status === "scheduled" && mine) return ["sealed", t("Your pre-bid is in")];
  if ((room.paddle && state.leader === room.paddle) || state.leading === true) return ["leading", t("You are leading")];
  if (mine === "outbid" || mine === "bid") return ["outbid", t("Outbid")];
  return ["none", t(room.token ? "No bids from you yet" : "Watching")];
}

// -- catalogue --------------------------------------------------------------------------------

function filterParams() {
  const form = new FormData($("filters"));
  const params = {};
  for (const key of ["make", "year_min", "year_max", "status", "q", "sort"]) {
    const v = String(form.get(key) ?? "").trim();
    if (v) params[key] = v;
  }
  const price = String(form.get("price_max") ?? "").trim();
  if (price) {
    const fen = parseYuan(price);
    if (fen === null) throw new Error(t("Max price: enter an amount in yuan, e.g. 150000"));
    params.price_max = fen;
  }
  return params;
}

// The server sorts each page (`sort`); these keep the order as live prices and clocks move.
const asking = (s) => s.price ?? s.start_price;
const SORTS = {
  ending: (a, b) => (a.status === "closed") - (b.status === "closed") || (a.ends_at ?? Infinity) - (b.ends_at ?? Infinity),
  price: (a, b) => asking(a) - asking(b),
  "-price": (a, b) => asking(b) - asking(a),
  year: (a, b) => (a.vehicle?.year ?? 0) - (b.vehicle?.year ?? 0),
  "-year": (a, b) => (b.vehicle?.year ?? 0) - (a.vehicle?.year ?? 0),
};

// Cards follow the clocks: a lot that closes or is extended moves at once (batched per frame).
let resortPending = false;
function resortSoon() {
  if (resortPending) return;
  resortPending = true;
  requestAnimationFrame(() => {
    resortPending = false;
    const before = room.list.map((s) => s.lot).join();
    sortList();
    if (room.list.map((s) => s.lot).join() !== before) renderCards();
  });
}

function sortList() {
  const key = new FormData($("filters")).get("sort") || "ending";
  room.list = room.list.map((s) => room.states.get(s.lot) ?? s).sort(SORTS[key] ?? SORTS.ending);
}

async function loadCatalogue() {
  const message = $("catalogue-message");
  let params;
  try {
    params = filterParams();
  } catch (e) {
    message.hidden = false;
    message.textContent = e.message;
    return;
  }
  try {
    const lots = await fetchLots(room.token, params);
    for (const s of lots) {
      if (!room.socket.state(s.lot)) room.states.set(s.lot, s);
    }
    room.list = lots;
    sortList();
    message.hidden = lots.length > 0;
    const filtered = Object.keys(params).some((k) => k !== "sort");
    message.textContent = lots.length ? "" : t(filtered ? "No lots match these filters." : "No lots yet: create one in the console.");
  } catch (e) {
    if (e.status === 401 && room.token) { // a bad or expired saved token: watch instead, never an empty room
      signInLost({ code: e.code });
      return;
    }
    message.hidden = false;
    message.textContent = t(e.human ?? e.message);
    return;
  }
  loadMakes();
  renderCards();
  syncSubscriptions();
}

/** The make filter from the server's list: Toyota, TOYOTA and 丰田 are one entry (bidding/makes.py). */
async function loadMakes() {
  try {
    room.makes = (await api("GET", "/api/makes", { token: room.token })).makes ?? [];
  } catch { return; /* the filter keeps what it had */ }
  fillMakes();
  renderDetail();  // a lot opened by its link was drawn before the makes came: its make in the room's language
}

/** The make as the current language names it (特斯拉 for Tesla in a Chinese room, from GET /api/makes); a make
 * the server's table does not know is shown as the seller typed it. */
function makeName(make) {
  if (language() !== "zh-CN" || typeof make !== "string") return make;
  const typed = make.trim();
  const known = room.makes.find((m) => m.en.toLowerCase() === typed.toLowerCase() || m.zh === typed);
  return known ? known.zh : make;
}

/** Each make once, named in the current language; the chosen one stays chosen. */
function fillMakes() {
  const select = $("filters").elements.make;
  const chosen = select.value;
  const zh = language() === "zh-CN";
  const names = room.makes.map((m) => [m.make, zh ? m.zh : m.en]).sort((a, b) => a[1].localeCompare(b[1], zh ? "zh-CN" : "en"));
  select.replaceChildren(select.options[0], ...names.map(([value, text]) => el("option", { value, text })));
  select.value = names.some(([value]) => value === chosen) ? chosen : "";
}

function carSvg(seed) {
  const hue = [...seed].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 360, 7);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 200 100");
  svg.setAttribute("aria-hidden", "true");
  svg.innerHTML = `<rect width="200" height="100" fill="hsl(${hue} 25% 92%)"/>
    <path d="M22 68 L30 50 Q36 40 52 38 L80 36 Q92 24 112 24 L138 26 Q152 28 162 42 L176 46 Q184 50 182 60 L180 68 Z" fill="hsl(${hue} 45% 45%)"/>
    <path d="M86 37 Q95 29 110 29 L134 30 Q145 32 152 42 Z" fill="hsl(${hue} 30% 85%)"/>
    <circle cx="58" cy="70" r="12" fill="#222"/><circle cx="58" cy="70" r="5" fill="#aaa"/>
    <circle cx="150" cy="70" r="12" fill="#222"/><circle cx="150" cy="70" r="5" fill="#aaa"/>`;
  return svg;
}

function firstPhoto(state) {
  const url = state.vehicle?.photos?.length ? safeHref(state.vehicle.photos[0]) : null;
  return url ? el("img", { src: url, alt: "", loading: "lazy" }) : null;
}

function cardFor(state) {
  const v = state.vehicle ?? {};
  const card = el("a", { class: "card", href: `#lot=${encodeURIComponent(state.lot)}`, dataset: { testid: "lot-card", lot: state.lot } },
    el("div", { class: "photo" }, firstPhoto(state) ?? carSvg(state.lot)),
    el("div", { class: "card-body" },
      el("h3", { text: state.title }),
      el("p", { class: "sub", text: [v.year, formatMileage(v.mileage_km), placeName(v.location)].filter(Boolean).join(" · ") }),
      el("p", { class: "sub" }, `${t("Grade")} `, el("span", { class: "grade", text: v.inspection?.grade ?? "—" }), ` · ${t(state.format)}${state.mode === "live" ? ` · ${t("live")}` : ""}`),
      el("div", { class: "card-price" },
        el("span", { class: "price", dataset: { testid: "card-price" } }),
        el("span", { class: "left", dataset: { testid: "card-time-left" } })),
      el("div", { class: "card-status", dataset: { testid: "card-status" } })));
  return card;
}

function renderCards() {
  const box = $("cards");
  const nodes = room.list.map((s) => {
    let card = room.cards.get(s.lot);
    if (!card) {
      card = cardFor(s);
      room.cards.set(s.lot, card);
    }
    return card;
  });
  box.replaceChildren(...nodes);
  for (const s of room.list) updateCard(s.lot);
}

function updateCard(lot) {
  const card = room.cards.get(lot);
  const state = room.states.get(lot);
  if (!card || !state) return;
  const now = room.clock.now();
  const sealed = state.format.startsWith("sealed") && state.status !== "closed";
  const price = livePrice(state, now);
  card.querySelector(".price").textContent = sealed ? `${t("Sealed")} · ${state.bids} ${t("bids")}` : price === null ? `${t("from")} ${formatMoney(state.start_price, state.currency)}` : formatMoney(price, state.currency);
  card.querySelector(".left").textContent = timeLeftText(state, now);
  const [mineCls, mineText] = myStatus(lot, state);
  const [cls, text] = state.status === "closed" && !["won", "lost", "pending"].includes(mineCls) ? ["closed", t(RESULT_TEXT[state.result] ?? "Closed")] : [mineCls, mineText];
  const status = card.querySelector(".card-status");
  status.dataset.state = cls;
  status.textContent = cls === "none" ? "" : text;
}

function timeLeftText(state, now) {
  if (state.status === "closed") return t("closed");
  if (state.status === "scheduled") return state.starts_at ? tf("opens in {left}", { left: formatRemaining(state.starts_at - now) }) : t("not open yet");
  if (state.status === "paused") return t("paused");
  const left = remainingMs(state, now);
  if (left === null) return state.mode === "live" ? t("live") : "";
  return tf("{left}", { left: formatRemaining(left) });  // "2:05"; in Chinese 剩余 2:05
}

// -- detail -----------------------------------------------------------------------------------

function route() {
  const m = /^#lot=(.+)$/.exec(location.hash);
  room.detail = m ? decodeURIComponent(m[1]) : null;
  const mineView = location.hash === "#mine";
  $("catalogue").hidden = !!room.detail || mineView;
  $("mine").hidden = !mineView;
  $("detail").hidden = !room.detail;
  showBidMessage("");
  $("d-flash").hidden = true;
  $("history").replaceChildren();
  if (mineView) loadMine();
  if (room.detail) {
    loadHistory();
    loadWatchlist();
    requestAnimationFrame(() => $("d-title").focus());
    room.socket.subscribe(room.detail, feedOf(room.detail));
    const known = room.lastEnds.has(room.detail);
    if (!known && room.states.get(room.detail)) {
      const s = room.states.get(room.detail);
      room.lastEnds.set(room.detail, { ends_at: s.ends_at, extensions: s.extensions ?? 0 });
    }
    renderDetail();
    window.scrollTo(0, 0);
  } else {
    syncSubscriptions();
  }
}

function renderDetail() {
  const lot = room.detail;
  if (!lot) return;
  const state = room.states.get(lot);
  if (!state) {
    $("d-title").textContent = `${t("Lot")} ${lot}`;
    $("d-price").textContent = "…";
    return;
  }
  const v = state.vehicle ?? {};
  const cur = state.currency;
  const now = room.clock.now();
  const sealed = state.format.startsWith("sealed") && state.status !== "closed";
  const open = state.status === "open";

  if ($("d-photo").dataset.lot !== lot) {
    $("d-photo").dataset.lot = lot;
    room.photo = 0;
    renderGallery(state);
  }
  renderReportFacts(v.inspection);
  $("watch").hidden = !room.paddle;
  const watching = room.watchlist.has(lot);
  $("watch").setAttribute("aria-pressed", String(watching));
  $("watch").textContent = t(watching ? "★ Watching" : "☆ Watch");
  $("d-title").textContent = state.title;
  $("d-lot").textContent = `${t("Lot")} ${state.lot}`;
  $("d-format").textContent = `${t(state.format.replace("_", " "))} · ${t(state.mode)}`;
  const specs = [
    ["Make", makeName(v.make)], ["Model", v.model], ["Year", v.year], ["Mileage", v.mileage_km === undefined ? null : formatMileage(v.mileage_km)],
    ["Location", placeName(v.location)], ["Fuel", t(v.fuel)], ["Transmission", v.transmission], ["Colour", v.color], ["VIN", v.vin],
  ].filter(([, value]) => value !== null && value !== undefined && value !== "");
  $("d-vehicle").replaceChildren(...specs.flatMap(([k, value]) => [el("dt", { text: t(k) }), el("dd", { text: String(value) })]));
  $("d-grade").textContent = v.inspection?.grade ?? "—";
  const href = v.inspection?.report_url ? safeHref(v.inspection.report_url) : null;
  $("d-report").hidden = !href;
  if (href) $("d-report").href = href;

  const price = livePrice(state, now);
  $("d-price-label").textContent = t(sealed ? "Sealed bids" : state.format === "dutch" && open ? "Price now (falling)" : price === null ? "Starting price" : "Current price");
  $("d-price").textContent = sealed ? tf(state.bids === 1 ? "{count} bid" : "{count} bids", { count: state.bids }) : formatMoney(price ?? state.start_price, cur);
  $("d-leader").textContent = state.leader ? tf(state.leader === room.paddle ? "Paddle {paddle} (you)" : "Paddle {paddle}", { paddle: state.leader }) : "—";
  $("d-bids").textContent = String(state.bids ?? 0);
  $("d-next").textContent = formatMoney(state.next_min, cur);
  const yourMax = room.maxima.get(lot) ?? null;  // a maximum only while it stands above the price
  $("d-your-max").textContent = yourMax !== null && (sealed || price === null || yourMax > price) ? formatMoney(yourMax, cur) : "—";
  const reserve = $("d-reserve");
  reserve.hidden = !("reserve_met" in state) || state.reserve_met === null;
  reserve.textContent = t(state.reserve_met ? "Reserve met" : "Reserve not met");
  reserve.dataset.met = String(!!state.reserve_met);
  const status = $("d-status");
  status.textContent = t(state.status === "open" && state.fair_warning ? "Fair warning!" : state.status);
  status.dataset.state = state.fair_warning && state.status === "open" ? "fair_warning" : state.status;
  $("d-extensions").textContent = String(state.extensions ?? 0);
  $("budget-form").hidden = !(state.sale && room.paddle);  // docs/rules.md "Budgets": a bidder's own, per sale
  $("budget-sale").textContent = state.sale ?? "";

  const [cls, text] = myStatus(lot, state);
  $("d-bid-status").dataset.state = cls;
  $("d-bid-status").textContent = text;
  const own = room.own.get(lot) ?? {};
  const counter = cls === "pending" ? own.counter : null;
  const explain = $("d-explain");
  explain.hidden = cls !== "pending";
  if (cls === "pending") {
    const decision = counter ? "" : state.approve_by
      ? tf("The seller has until {when} ({left} left) to decide; no decision by then means the lot is not sold and you owe nothing.",
        { when: whenText(state.approve_by), left: formatRemaining(Math.max(0, state.approve_by - now)) })
      : t("This lot sets the seller no deadline for that decision: it can come at any time, and is shown here and in My auctions as soon as it is made.");
    explain.textContent = [t(PENDING_EXPLAINED), decision].join(language() === "zh-CN" ? "" : " ");
  }
  $("d-counter").hidden = !counter;
  if (counter) {
    $("d-counter-text").textContent = tf("The seller offers to sell at {amount} (your bid: {bid}). Answer by {when} ({left} left).", {
      amount: formatMoney(counter.amount, cur), bid: formatMoney(state.price, cur), when: whenText(counter.expires_at),
      left: formatRemaining(Math.max(0, counter.expires_at - now)) });
  }
  const suspended = !!own.suspended && state.status !== "closed";
  $("d-reconfirm").hidden = !suspended;
  if (suspended) {
    const max = room.maxima.get(lot);
    $("d-reconfirm-text").textContent = tf(max
      ? "The inspection report is now version {version}. Your maximum of {max} was placed on an earlier report and bids nothing until you confirm it."
      : "The inspection report is now version {version}. Your maximum was placed on an earlier report and bids nothing until you confirm it.",
    { version: state.inspection_version, max: formatMoney(max, cur) });
  }
  const correction = state.correction;
  $("d-correction").hidden = !correction || state.status === "scheduled";
  if (correction) $("d-correction").textContent = correctionText(correction, cur);

  const result = $("d-result");
  result.hidden = state.status !== "closed";
  if (state.status === "closed") {
    const label = t(RESULT_TEXT[state.result] ?? "Closed");
    result.dataset.result = state.result ?? "";
    result.textContent = state.result === "sold" || state.result === "pending_approval"
      ? tf("{result}: {price} to paddle {paddle}", { result: label, price: formatMoney(state.price, cur), paddle: state.leader ?? "—" })
      : label;
  }

  const canBid = !!room.token && room.paddle !== null;
  const q = [stepsAbove(state, 0), stepsAbove(state, 1), stepsAbove(state, 5)];
  const dutch = state.format === "dutch";
  const buttons = [$("q-next"), $("q-1"), $("q-5")];
  if (dutch) {
    buttons[0].textContent = tf("Take at {price}", { price: formatMoney(price, cur) });
    buttons[0].dataset.amount = price ?? "";
    buttons[1].hidden = buttons[2].hidden = true;
  } else {
    buttons[1].hidden = buttons[2].hidden = sealed;
    ["Bid {amount}", "+1 step: {amount}", "+5 steps: {amount}"].forEach((label, i) => {
      buttons[i].textContent = q[i] === null ? (sealed ? tf("Bid from {price}", { price: formatMoney(state.start_price, cur) }) : "—") : tf(label, { amount: formatMoney(q[i], cur) });
      buttons[i].dataset.amount = q[i] ?? (sealed ? state.start_price : "");
    });
  }
  for (const b of buttons) b.disabled = !canBid || !open || !b.dataset.amount;
  const preBid = state.status === "scheduled" && state.format === "english";  // a maximum before the open
  $("bid-button").disabled = !canBid || !open;
  $("proxy-button").disabled = !canBid || !(open || preBid);
  $("proxy-label").textContent = t(preBid ? "Pre-bid maximum (proxy, ¥)" : "Maximum (proxy, ¥)");
  $("proxy-form").hidden = sealed || dutch;
  const buyNow = $("buy-now");
  buyNow.hidden = state.buy_now === null || state.buy_now === undefined || !open;
  buyNow.disabled = !canBid;
  buyNow.textContent = `${t("Buy now")}${t("Buy now") === "Buy now" ? " for " : " "}${formatMoney(state.buy_now, cur)}`;
  $("bid-hint").hidden = !!room.token;
  if (!$("bid-amount").value && !$("bid-amount").matches(":focus") && state.next_min) $("bid-amount").placeholder = yuanInput(state.next_min);
  $("bid-controls").hidden = state.status === "closed";
  tickDetail();
}

function tickDetail() {
  const state = room.detail && room.states.get(room.detail);
  if (!state) return;
  const now = room.clock.now();
  const left = remainingMs(state, now);
  const node = $("d-countdown");
  if (state.status === "closed") node.textContent = t("Closed");
  else if (state.status === "scheduled") node.textContent = timeLeftText(state, now);
  else if (state.status === "paused") node.textContent = left === null ? t("Paused · ") : tf("Paused · {left} left", { left: formatRemaining(left) });
  else node.textContent = left === null ? t("Live: the auctioneer closes") : tf("{left}", { left: formatRemaining(left) });  // 剩余 2:05, as on the cards
  node.dataset.urgent = String(left !== null && left < 30000 && state.status === "open");
  if (state.format === "dutch" && state.status === "open") {
    const price = livePrice(state, now);
    if ($("d-price").textContent !== formatMoney(price, state.currency)) renderDetail();
  }
}

let flashTimer;
function flashExtension(byMs, count) {
  const flash = $("d-flash");
  flash.textContent = tf("+{by} extended ({count})", { by: formatRemaining(byMs), count });
  flash.hidden = false;
  flash.classList.remove("pulse");
  void flash.offsetWidth; // restart the animation
  flash.classList.add("pulse");
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { flash.hidden = true; }, 4000);
}

// The auctioneer's corrections, in the public history and above the price (docs/rules.md "Clerk corrections").
const CORRECTION_TEXT = {
  retracted: (c) => (c.reason ? tf("Correction: the last bid was taken back ({reason})", { reason: c.reason }) : t("Correction: the last bid was taken back")),
  reopened: () => t("Correction: the auctioneer reopened the lot"),
  asking: (c, cur) => tf("The auctioneer asks {amount}", { amount: formatMoney(c.amount, cur) }),
};

function correctionText(correction, cur) {
  const text = CORRECTION_TEXT[correction.kind];
  return text ? `${text(correction, cur)} · ${new Date(correction.at).toLocaleTimeString(locale())}` : "";
}

/** A message about the lot as it stood at `seq`: it expires when a later entry changes the lot.
 * `text` may be a function giving it, called again on a language switch. */
function showBidMessage(text, kind = "info", seq = null) {
  const node = $("d-bid-message");
  const render = typeof text === "function" ? text : () => text;
  node.textContent = render();
  node.dataset.kind = kind;
  const lot = room.detail;
  room.message = node.textContent && lot ? { lot, seq: seq ?? room.states.get(lot)?.seq ?? 0, render } : null;
}

// Each bid on the open lot re-reads its history: on a busy lot that was a read per bid per viewer (and
// the engine answers `429` to a bidder past 40 reads at once, then 20 a second). At most one read a second;
// the last change is always read.
let historyAt = 0;
let historyTimer = null;
function historySoon() {
  if (historyTimer) return;
  const wait = Math.max(0, historyAt + 1000 - Date.now());
  historyTimer = setTimeout(() => {
    historyTimer = null;
    historyAt = Date.now();
    loadHistory();
  }, wait);
}

// The lot's bids, from its public log: amount, time and an anonymised bidder ("Bidder 3", in the
// order they first led), never a maximum (the public log holds none).
async function loadHistory() {
  const lot = room.detail;
  if (!lot) return;
  let data;
  try {
    data = await api("GET", `/api/lots/${encodeURIComponent(lot)}/events`, { token: room.token, params: { since: 0 } });
  } catch {
    return;
  }
  if (lot !== room.detail) return;
  const names = new Map();
  const rows = [];
  for (const item of pageItems(data, "events").items) {
    if (CORRECTION_TEXT[item.kind] && item.state?.correction) {
      rows.push(el("li", { class: "correction", dataset: { testid: "history-row", kind: "correction" },
        text: correctionText(item.state.correction, item.state.currency) }));
      continue;
    }
    if (item.kind !== "bid" || !item.state) continue;
    const s = item.state;
    const paddle = s.leader;
    if (paddle && !names.has(paddle)) names.set(paddle, names.size + 1);
    const who = paddle === room.paddle ? t("You") : paddle ? `${t("Bidder")} ${names.get(paddle)}` : t("Sealed bid");
    const amount = s.price === null || s.price === undefined ? "" : `${formatMoney(s.price, s.currency)} · `;
    rows.push(el("li", { dataset: { testid: "history-row" }, text: `${amount}${who} · ${new Date(item.at).toLocaleTimeString(locale())}` }));
  }
  $("history").replaceChildren(...rows.reverse());
}

// -- confirmation ---------------------------------------------------------------------------------

const confirmOn = () => $("confirm-toggle").checked;

/** Lot, amount, buyer's premium and total (the ledger's schedule, GET /api/premium): true to place.
 * In plain yuan, in Chinese too: amount + premium = total is exact to the yuan, which 万 does not show,
 * and the dialog read ¥13.50万 beside ¥5,550 and ¥140,550. */
async function confirmBid(lot, label, amount) {
  if (!confirmOn()) return true;
  const state = room.states.get(lot);
  const money = (minor) => formatMoney(minor, state?.currency ?? "CNY", "plain");
  let quote = null;
  try { quote = await api("GET", "/api/premium", { token: room.token, params: { price: amount } }); } catch { /* shown as unknown */ }
  const rows = [
    ["Lot", tf("{title} ({lot})", { title: state?.title ?? lot, lot })], [label, money(amount)],
    ["Buyer's premium", quote ? money(quote.premium) : t("unknown")],
    ["Total if you win", quote ? money(quote.total_due) : t("unknown")],
  ];
  $("confirm-facts").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: t(k) }), el("dd", { text: v })]));
  $("confirm-yes").textContent = tf(`Place ${label.toLowerCase()} of {amount}`, { amount: money(amount) });
  const dialog = $("confirm");
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true }));
}

// -- offline ----------------------------------------------------------------------------------

/** A bid clicked while offline was never sent: on reconnect, ask again at the price then, or drop it. */
function offerUnsent() {
  const box = $("unsent");
  const u = room.unsent;
  box.hidden = !u;
  if (!u) return;
  const state = room.states.get(u.lot);
  const cur = state?.currency ?? "CNY";
  const wanted = u.params.amount ?? u.params.max;
  const online = room.socket?.status === "connected";
  const next = state?.next_min ?? wanted;
  const amount = u.params.max !== undefined ? wanted : Math.max(wanted, next ?? 0);
  $("unsent-text").textContent = tf(online
    ? "Your bid of {amount} on {title} was not sent while you were offline. The price is now {price} (next minimum {next})."
    : "Not sent: you are offline. Your bid of {amount} was not placed; nothing is sent without asking you again.",
  { amount: formatMoney(wanted, cur), title: state?.title ?? u.lot, price: formatMoney(state?.price ?? null, cur), next: formatMoney(next, cur) });
  const send = $("unsent-send");
  send.hidden = !online;
  send.textContent = tf("Bid {amount} now", { amount: formatMoney(amount, cur) });
  send.dataset.amount = String(amount);
}

// -- photos and the condition report ---------------------------------------------------------

/** The lot's photos (vehicle.photos): buttons, arrow keys and a swipe move through them; the
 * drawn car stands in when there are none. The header's thumbnail is the first photo. */
function renderGallery(state) {
  const photos = (state.vehicle?.photos ?? []).map((u) => safeHref(u)).filter(Boolean);
  const box = $("d-photo");
  if (!photos.length) {
    box.replaceChildren(carSvg(state.lot));
    $("d-thumb").replaceChildren(carSvg(state.lot));
    box.dataset.count = "0";
    return;
  }
  const i = ((room.photo ?? 0) % photos.length + photos.length) % photos.length;
  room.photo = i;
  box.dataset.count = String(photos.length);
  const alt = tf("Photo {n} of {count}: {title}", { n: i + 1, count: photos.length, title: state.title });
  box.replaceChildren(
    el("img", { src: photos[i], alt, draggable: "false", dataset: { testid: "gallery-photo" } }),
    el("div", { class: "gallery-nav" },
      el("button", { type: "button", "aria-label": t("Previous photo"), dataset: { testid: "gallery-prev" }, text: "‹", onclick: () => movePhoto(-1) }),
      el("span", { dataset: { testid: "gallery-count" }, text: `${i + 1} / ${photos.length}` }),
      el("button", { type: "button", "aria-label": t("Next photo"), dataset: { testid: "gallery-next" }, text: "›", onclick: () => movePhoto(1) })));
  $("d-thumb").replaceChildren(el("img", { src: photos[0], alt: "" }));
}

function movePhoto(by) {
  const state = room.states.get(room.detail);
  if (!state) return;
  room.photo = (room.photo ?? 0) + by;
  renderGallery(state);
}

const CHECK_TEXT = { accident: "事故 Accident", flood: "泡水 Flood", fire: "火烧 Fire" };
/** The report's key facts on the lot page; the report page shows all of it. */
function renderReportFacts(report) {
  const facts = [];
  const checks = report?.checks ?? {};
  for (const [name, label] of Object.entries(CHECK_TEXT)) {
    if (name in checks) facts.push([name, tf(checks[name] ? "{label}: FOUND" : "{label}: none found", { label: t(label) }), checks[name]]);
  }
  const damage = report?.damage?.length;
  if (damage) facts.push(["damage", tf(damage === 1 ? "Body damage: {count} point" : "Body damage: {count} points", { count: damage }), false]);
  if (report?.battery_soh !== undefined && report?.battery_soh !== null) facts.push(["battery", tf("Battery health {soh}%", { soh: report.battery_soh }), false]);
  if (report?.obd_codes) {
    facts.push(["obd", report.obd_codes.length ? tf("OBD codes: {codes}", { codes: report.obd_codes.join(t(", ")) }) : t("No OBD fault codes"), report.obd_codes.length > 0]);
  }
  if (report?.report_date) facts.push(["date", tf(report.version ? "Report {date} (v{version})" : "Report {date}", { date: report.report_date, version: report.version }), false]);
  const list = $("d-report-facts");
  list.hidden = !facts.length;
  list.replaceChildren(...facts.map(([key, text, bad]) => el("li", { dataset: { fact: key, bad: String(!!bad) }, text })));
}

/** The budget form's answer; `render` gives it again on a language switch. */
function showBudget(render) {
  room.budget = render;
  $("budget-state").textContent = render();
}

// -- bidding ----------------------------------------------------------------------------------

async function place(params, asked = false) {
  const lot = room.detail;
  const state = room.states.get(lot);
  if (!lot || !state) return;
  if (!asked && !(await confirmBid(lot, params.max !== undefined ? "Maximum" : "Bid", params.max ?? params.amount))) {
    showBidMessage(() => t("Not placed: cancelled."), "info");
    return;
  }
  if (room.socket.status !== "connected") {
    room.unsent = { lot, params };
    showBidMessage("", "info");
    offerUnsent();
    return;
  }
  showBidMessage(() => t("Sending…"), "info");
  try {
    const ack = await room.socket.bid(lot, params);
    const cur = state.currency;
    if (ack.ok && state.status === "scheduled") {  // a pre-bid: placed as a proxy bid at the open
      room.mine.set(lot, "bid");
      if (ack.your_max) room.maxima.set(lot, ack.your_max);
      showBidMessage(() => tf("Pre-bid recorded: your maximum {max} bids for you from the open.", { max: formatMoney(ack.your_max ?? params.max, cur) }), "ok", ack.seq);
    } else if (ack.ok) {
      room.mine.set(lot, ack.leading === false ? "outbid" : "bid");
      const withMax = params.max !== undefined && ack.your_max ? " (your maximum {max})" : "";
      const accepted = ack.leading === false ? "Accepted, but a proxy bid outbid you at once: price {price}."
        : `${ack.price === null || ack.price === undefined ? "Accepted: sealed bid recorded" : "Accepted: you lead at {price}"}${withMax}.`;
      showBidMessage(() => tf(accepted, { price: formatMoney(ack.price, cur), max: formatMoney(ack.your_max, cur) }), ack.leading === false ? "warn" : "ok", ack.seq);
      if (ack.your_max) room.maxima.set(lot, ack.your_max);
    } else {
      showBidMessage(() => tf(ack.next_min ? "Refused: {reason} Next minimum: {next}." : "Refused: {reason}",
        { reason: t(messageFor(ack.reason)), next: formatMoney(ack.next_min, cur) }), "error");
    }
  } catch (e) {
    if (e.code === "offline") {
      room.unsent = { lot, params };
      showBidMessage("", "info");
      offerUnsent();
    } else {
      showBidMessage(() => t(e.message), "error");
    }
  }
  renderDetail();
}

/** The bidder's own answers (docs/protocol.md): accept or decline a counter-offer, reconfirm a maximum. */
async function ownAction(action, done) {
  const lot = room.detail;
  try {
    const view = await api("POST", `/api/lots/${encodeURIComponent(lot)}/${action}`, { token: room.token });
    noteOwn(lot, view);
    // As of the view's seq, which holds the action's own entry: the entry's event may reach the socket after
    // this answer, and a message dated before it was cleared as stale (a CI run saw the reconfirm's vanish).
    showBidMessage(() => t(done), "ok", view.seq ?? null);
  } catch (e) {
    showBidMessage(() => tf("Refused: {reason}", { reason: t(e.human ?? e.message) }), "error");
  }
  renderDetail();
}

function readAmount(input) {
  const fen = parseYuan(input.value);
  if (fen === null) {
    showBidMessage(() => t(messageFor("bad_amount")), "error");
    input.focus();
  }
  return fen;
}

function wire() {
  $("filters").addEventListener("change", loadCatalogue);
  let typing;
  $("filters").addEventListener("input", (e) => {
    if (e.target.name === "q" || e.target.name === "price_max") {
      clearTimeout(typing);
      typing = setTimeout(loadCatalogue, 350);
    }
  });
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); loadCatalogue(); });
  window.addEventListener("hashchange", route);
  for (const id of ["q-next", "q-1", "q-5"]) {
    $(id).addEventListener("click", (e) => {
      const amount = Number(e.currentTarget.dataset.amount);
      if (Number.isSafeInteger(amount) && amount > 0) place({ amount });
    });
  }
  $("bid-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const amount = readAmount($("bid-amount"));
    if (amount !== null) place({ amount }).then(() => { $("bid-amount").value = ""; });
  });
  $("proxy-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const max = readAmount($("proxy-max"));
    if (max !== null) place({ max }).then(() => { $("proxy-max").value = ""; });
  });
  $("budget-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const sale = room.states.get(room.detail)?.sale;
    const body = {};
    if ($("budget-total").value.trim()) {
      body.max_total = readAmount($("budget-total"));
      if (body.max_total === null) return;
    }
    if ($("budget-lots").value) body.max_lots = Number($("budget-lots").value);
    try {
      const b = await api("PUT", `/api/sales/${encodeURIComponent(sale)}/budget`, { token: room.token, body });
      const cur = room.states.get(room.detail)?.currency;
      const money = (minor) => formatMoney(minor, cur, "plain");  // the budget beside what bids hold: one unit
      const held = b.max_lots === null ? "Budget {total}: your bids hold {held}, won {won}"
        : b.max_lots === 1 ? "Budget {total}, {lots} lot: your bids hold {held}, won {won}" : "Budget {total}, {lots} lots: your bids hold {held}, won {won}";
      showBudget(() => tf(held, { total: b.max_total === null ? t("any amount") : money(b.max_total), lots: b.max_lots,
        held: money(b.committed), won: b.won }));
    } catch (err) {
      showBudget(() => tf("Refused: {reason}", { reason: t(err.human ?? err.message) }));
    }
  });
  $("buy-now").addEventListener("click", async () => {
    const lot = room.detail;
    const price = room.states.get(lot)?.buy_now;
    if (!(await confirmBid(lot, "Buy now", price))) return;
    try {
      const ack = await room.socket.buyNow(lot);
      showBidMessage(() => (ack.ok ? tf("Bought for {price}.", { price: formatMoney(ack.price, currencyOf(lot)) })
        : tf("Refused: {reason}", { reason: t(messageFor(ack.reason)) })), ack.ok ? "ok" : "error");
      if (ack.ok) room.mine.set(lot, "bid");
    } catch (e) {
      showBidMessage(() => t(e.message), "error");
    }
  });
  try { $("confirm-toggle").checked = localStorage.getItem(CONFIRM_KEY) !== "off"; } catch { /* storage disabled */ }
  $("confirm-toggle").addEventListener("change", (e) => {
    try { localStorage.setItem(CONFIRM_KEY, e.currentTarget.checked ? "on" : "off"); } catch { /* storage disabled */ }
  });
  $("unsent-send").addEventListener("click", () => {
    const u = room.unsent;
    room.unsent = null;
    offerUnsent();
    if (!u || u.lot !== room.detail) return;
    const amount = Number($("unsent-send").dataset.amount);
    place(u.params.max !== undefined ? { max: amount } : { amount });
  });
  $("unsent-drop").addEventListener("click", () => {
    room.unsent = null;
    offerUnsent();
    showBidMessage(() => t("Dropped: that bid was never sent."), "info");
  });
  $("d-photo").addEventListener("keydown", (e) => {
    if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
      e.preventDefault();
      movePhoto(e.key === "ArrowRight" ? 1 : -1);
    }
  });
  let swipeX = null;
  $("d-photo").addEventListener("pointerdown", (e) => { swipeX = e.clientX; });
  $("d-photo").addEventListener("pointerup", (e) => {
    if (swipeX !== null && Math.abs(e.clientX - swipeX) > 40) movePhoto(e.clientX < swipeX ? 1 : -1);
    swipeX = null;
  });
  $("alerts").addEventListener("click", async () => {
    const on = !alertsOn();
    try { localStorage.setItem(ALERTS_KEY, on ? "on" : "off"); } catch { /* storage disabled */ }
    $("alerts").setAttribute("aria-pressed", String(on));
    if (on && window.Notification?.permission === "default") {
      try { await Notification.requestPermission(); } catch { /* refused or unavailable */ }
    }
  });
  for (const [id, action, done] of [["counter-accept", "accept_counter", "Counter-offer accepted."],
    ["counter-decline", "decline_counter", "Counter-offer declined."], ["reconfirm", "reconfirm", "Maximum confirmed on the new report."]]) {
    $(id).addEventListener("click", () => ownAction(action, done));
  }
  $("alert-close").addEventListener("click", () => {
    $("alert").hidden = true;
    document.title = t("Used-car auction room");
  });
  $("watch").addEventListener("click", async () => {
    const lot = room.detail;
    const watching = room.watchlist.has(lot);
    try {
      const data = await api(watching ? "DELETE" : "PUT", `/api/me/watchlist/${encodeURIComponent(lot)}`, { token: room.token });
      room.watchlist = new Set(data.lots);
    } catch (e) {
      showBidMessage(() => t(e.human ?? e.message), "error");
    }
    renderDetail();
  });
  $("token-input").value = room.token ?? "";
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    room.token = $("token-input").value.trim() || null;
    room.signinLost = null;
    try { room.token ? localStorage.setItem(TOKEN_KEY, room.token) : localStorage.removeItem(TOKEN_KEY); } catch { /* storage disabled */ }
    $("token-box").open = false;
    room.paddle = null;
    room.welcome = null;
    room.mine.clear();
    room.maxima.clear();
    room.myLots.clear();
    connect();
    loadCatalogue();
  });
  $("token-clear").addEventListener("click", () => {
    try { localStorage.removeItem(TOKEN_KEY); } catch { /* storage disabled */ }
    $("token-input").value = "";
    room.token = null;
    room.paddle = null;
    room.welcome = null;
    room.signinLost = null;
    $("who").textContent = t("Watching (no token)");
    connect();
  });
}

initLanguage($("lang"), () => {
  fillMakes();
  room.cards.clear();  // each card's mileage, location, grade and format, in the new language
  renderCards();
  if (room.socket) $("conn").textContent = connLabel(room.socket.status);
  showWho();
  renderMine();
  renderDetail();
  if (room.message?.lot === room.detail) $("d-bid-message").textContent = room.message.render();
  if ($("alert").hidden) document.title = t("Used-car auction room");
  $("alert-link").textContent = t("Open ").trim();  // "Open" alone is the status filter's (竞拍中)
  const state = room.detail && room.states.get(room.detail);
  if (state) renderGallery(state);
  if (room.budget) $("budget-state").textContent = room.budget();
  offerUnsent();
  if (!$("mine").hidden) loadMine();
  loadHistory();
});
wire();
connect();
loadCatalogue().then(route);
countdown(room.clock, () => room.detail && room.states.get(room.detail), tickDetail);
setInterval(() => {
  if (!room.detail) for (const s of room.list) updateCard(s.lot);
}, 500);
