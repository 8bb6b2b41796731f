// A printable summary of a vehicle's inspection, found by VIN in the catalogue.
import { el, fetchLots, formatMileage, formatMoney, readToken } from "/static/common.js";

const vin = new URLSearchParams(location.search).get("vin") ?? "";
const box = document.getElementById("report");

async function show() {
  const lots = vin ? await fetchLots(readToken("auction.room.token"), { q: vin }) : [];
  const lot = lots.find((s) => s.vehicle?.vin === vin);
  if (!lot) {
    box.replaceChildren(el("p", { text: `No vehicle with VIN ${vin || "(none given)"} in the catalogue.` }));
    return;
  }
  const v = lot.vehicle;
  const skip = new Set(["inspection", "make", "model"]);
  const rows = Object.entries(v).filter(([k, x]) => !skip.has(k) && typeof x !== "object");
  box.replaceChildren(
    el("h2", { text: `${v.year ?? ""} ${v.make ?? ""} ${v.model ?? ""}` }),
    el("p", {}, "Inspection grade ", el("span", { class: "grade", text: v.inspection?.grade ?? "—" })),
    el("dl", { class: "specs" }, ...rows.flatMap(([k, x]) => [el("dt", { text: k.replaceAll("_", " ") }),
      el("dd", { text: k === "mileage_km" ? formatMileage(x) : String(x) })])),
    el("p", {}, el("a", { href: `/#lot=${encodeURIComponent(lot.lot)}`, text: `Lot ${lot.lot}: ${lot.title}` }),
      ` · starting ${formatMoney(lot.start_price, lot.currency)}`));
}

show().catch((e) => box.replaceChildren(el("p", { text: e.human ?? e.message })));
