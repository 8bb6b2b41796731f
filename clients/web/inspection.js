// The whole condition report of a vehicle, found by VIN in the catalogue: grade, the accident /
// flood / fire checks, the damage map, tyres, OBD codes, an EV battery's health, date and version.
import { el, fetchLots, formatMileage, formatMoney, readToken } from "/static/common.js";

const vin = new URLSearchParams(location.search).get("vin") ?? "";
const box = document.getElementById("report");
const CHECKS = { accident: "事故 Accident", flood: "泡水 Flood", fire: "火烧 Fire" };
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** Damage points on a 0-100 map of the car seen from above (front at the top). */
function damageMap(points) {
  const map = svg("svg", { viewBox: "0 0 100 100", class: "damage-map", role: "img", "aria-label": `Damage map: ${points.length} points` });
  map.dataset.testid = "damage-map";
  map.append(svg("rect", { x: 25, y: 3, width: 50, height: 94, rx: 14, fill: "#e8f0fb", stroke: "#5b7fa8" }));
  for (const p of points) {
    const dot = svg("circle", { cx: p.x, cy: p.y, r: 3, fill: "#c0392b" });
    const title = svg("title", {});
    title.textContent = `${p.part}: ${p.kind}`;
    dot.append(title);
    map.append(dot);
  }
  return map;
}

function section(title, ...children) {
  return el("section", {}, el("h2", { text: title }), ...children);
}

async function show() {
  const lots = vin ? await fetchLots(readToken("auction.room.token"), { q: vin }) : [];
  const lot = lots.find((s) => s.vehicle?.vin === vin);
  if (!lot) {
    box.replaceChildren(el("h1", { text: "Inspection report" }), el("p", { text: `No vehicle with VIN ${vin || "(none given)"} in the catalogue.` }));
    return;
  }
  const v = lot.vehicle;
  const r = v.inspection ?? {};
  const skip = new Set(["inspection", "make", "model", "photos"]);
  const rows = Object.entries(v).filter(([k, x]) => !skip.has(k) && typeof x !== "object");
  const checks = Object.entries(CHECKS).filter(([k]) => r.checks && k in r.checks);
  box.replaceChildren(
    el("h1", { text: `${v.year ?? ""} ${v.make ?? ""} ${v.model ?? ""}` }),
    el("p", {}, "Inspection grade ", el("span", { class: "grade", dataset: { testid: "report-grade" }, text: r.grade ?? "—" }),
      r.report_date ? ` · report ${r.report_date}${r.version ? `, version ${r.version}` : ""}` : ""),
    el("dl", { class: "specs" }, ...rows.flatMap(([k, x]) => [el("dt", { text: k.replaceAll("_", " ") }),
      el("dd", { text: k === "mileage_km" ? formatMileage(x) : String(x) })])),
    checks.length ? section("Checks", el("ul", { dataset: { testid: "report-checks" } },
      ...checks.map(([k, label]) => el("li", { text: `${label}: ${r.checks[k] ? "FOUND" : "none found"}` })))) : "",
    r.damage ? section(`Body damage (${r.damage.length})`, damageMap(r.damage),
      el("ul", {}, ...r.damage.map((p) => el("li", { text: `${p.part}: ${p.kind}` })))) : "",
    r.tyres ? section("Tyres", el("table", { dataset: { testid: "report-tyres" } },
      el("thead", {}, el("tr", {}, el("th", { text: "Position" }), el("th", { class: "num", text: "Tread (mm)" }))),
      el("tbody", {}, ...r.tyres.map((t) => el("tr", {}, el("td", { text: t.position }), el("td", { class: "num", text: String(t.tread_mm) })))))) : "",
    r.obd_codes ? section("OBD fault codes", el("p", { dataset: { testid: "report-obd" }, text: r.obd_codes.length ? r.obd_codes.join(", ") : "none" })) : "",
    r.battery_soh !== undefined && r.battery_soh !== null ? section("Battery", el("p", { dataset: { testid: "report-battery" }, text: `State of health ${r.battery_soh}%` })) : "",
    el("p", {}, el("a", { href: `/#lot=${encodeURIComponent(lot.lot)}`, text: `Lot ${lot.lot}: ${lot.title}` }),
      ` · starting ${formatMoney(lot.start_price, lot.currency)}`));
}

show().catch((e) => box.replaceChildren(el("p", { text: e.human ?? e.message })));
