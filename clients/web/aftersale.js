// After the sale (docs/settlement.md): approve or reject dealer applications, follow each sold
// lot's payment, guarantee and transport, and resolve its buyer's claim. Staff only; every action
// is one documented HTTP call.
import { ApiError, api, el, formatMoney, readToken, safeHref } from "/static/common.js";

const TOKEN_KEY = "auction.console.token"; // the console's: one sign-in for both pages
const token = readToken(TOKEN_KEY);
const $ = (id) => document.getElementById(id);

function showError(e) {
  const node = $("error");
  node.hidden = !e;
  node.textContent = !e ? "" : e instanceof ApiError ? `${e.code}: ${e.human}` : String(e.message ?? e);
}

async function call(method, path, body) {
  try {
    const data = await api(method, path, { token, body });
    showError(null);
    return data;
  } catch (e) {
    showError(e);
    return null;
  }
}

function decision(a) {
  if (a.status !== "pending") return el("span", { text: a.status === "approved" ? `bidder ${a.bidder}` : a.reason ?? "" });
  const bidder = el("input", { name: "bidder", placeholder: "bidder id", size: 10, dataset: { testid: "approve-bidder" } });
  const paddle = el("input", { name: "paddle", placeholder: "paddle", size: 6, dataset: { testid: "approve-paddle" } });
  const reason = el("input", { name: "reason", placeholder: "reason", size: 14, dataset: { testid: "reject-reason" } });
  const base = `/api/applications/${encodeURIComponent(a.id)}`;
  return el("span", {},
    bidder, paddle,
    el("button", { type: "button", text: "Approve", dataset: { testid: "approve" }, onclick: async () => {
      if (await call("POST", `${base}/approve`, { bidder: bidder.value.trim(), paddle: paddle.value.trim() })) await refresh();
    } }),
    reason,
    el("button", { type: "button", text: "Reject", dataset: { testid: "reject" }, onclick: async () => {
      if (await call("POST", `${base}/reject`, { reason: reason.value.trim() })) await refresh();
    } }));
}

function claimCell(lot, claim) {
  if (!claim) return el("span", { text: "-" });
  const said = `${claim.reason}: ${claim.text}`;
  if (claim.status !== "open") return el("span", { text: `${said} (${claim.status})` });
  const amount = el("input", { name: "refund_amount", placeholder: "refund, fen", size: 10, dataset: { testid: "refund-amount" } });
  const resolve = (outcome) => async () => {
    const body = { outcome, note: "console" };
    if (outcome === "partial_refund") body.refund_amount = Number(amount.value);
    if (await call("POST", `/api/settlements/${encodeURIComponent(lot)}/claim/resolve`, body)) await refresh();
  };
  return el("span", {}, el("span", { text: said }),
    el("button", { type: "button", text: "Reject claim", dataset: { testid: "claim-reject" }, onclick: resolve("reject") }),
    amount,
    el("button", { type: "button", text: "Partial refund", dataset: { testid: "claim-partial" }, onclick: resolve("partial_refund") }),
    el("button", { type: "button", text: "Full refund", dataset: { testid: "claim-full" }, onclick: resolve("full_refund") }));
}

async function refresh() {
  const apps = await call("GET", "/api/applications");
  if (apps) {
    $("applications").replaceChildren(...apps.applications.map((a) => el("tr", { dataset: { testid: "application-row", application: a.id } },
      el("td", { text: a.company }), el("td", { text: a.credit_code }), el("td", { text: a.city }),
      el("td", { text: `${a.contact_name} ${a.contact_phone}` }),
      el("td", {}, ...a.documents.map((d, i) => el("a", { href: safeHref(d), target: "_blank", rel: "noopener", text: `doc ${i + 1} ` }))),
      el("td", { text: a.status, dataset: { testid: "application-status" } }), el("td", {}, decision(a)))));
  }
  const sold = await call("GET", "/api/settlements", undefined);
  if (!sold) return;
  const rows = [];
  for (const s of sold.settlements.filter((x) => x.result === "sold")) {
    const record = await call("GET", `/api/settlements/${encodeURIComponent(s.lot)}`);
    if (!record) continue;
    rows.push(el("tr", { dataset: { testid: "settlement-row", lot: s.lot } },
      el("td", { text: s.lot }), el("td", { text: `${s.winner} (${s.winner_paddle})` }),
      el("td", { class: "num", text: formatMoney(s.total_due, s.currency) }),
      el("td", { text: s.paid_at ? "paid" : "unpaid" }),
      el("td", { text: record.guarantee?.state ?? "-", dataset: { testid: "guarantee-state" } }),
      el("td", { text: record.transport?.status ?? "-" }),
      el("td", {}, claimCell(s.lot, record.claim))));
  }
  $("settlements").replaceChildren(...rows);
}

$("refresh").addEventListener("click", refresh);
if (!token) showError(new Error("Open this page with ?token=<auctioneer token>, or sign in on the console first."));
else refresh();
