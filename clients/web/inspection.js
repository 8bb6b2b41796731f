// The whole condition report of a vehicle, found by VIN in the catalogue: grade, the accident /
// flood / fire checks, the damage map, tyres, OBD codes, an EV battery's health, date and version.
// In the language chosen in the room (i18n.js followLanguage): the report opens from a lot's page.
import { el, fetchLots, formatMileage, formatMoney, readToken } from "/static/common.js";
import { followLanguage, placeName, t, tf } from "/static/i18n.js";

const vin = new URLSearchParams(location.search).get("vin") ?? "";
const box = document.getElementById("report");
const CHECKS = { accident: "事故 Accident", flood: "泡水 Flood", fire: "火烧 Fire" };
const SVG = "http://www.w3.org/2000/svg";
const SHOWN = { mileage_km: formatMileage, location: placeName };  // a field's value as shown; others as given

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

const damageText = (p) => tf("{part}: {kind}", { part: p.part, kind: p.kind });

/** Damage points on a 0-100 map of the car seen from above (front at the top). */
function damageMap(points) {
  const label = tf("Damage map: {count} points", { count: points.length });
  const map = svg("svg", { viewBox: "0 0 100 100", class: "damage-map", role: "img", "aria-label": label });
  map.dataset.testid = "damage-map";
  map.append(svg("rect", { x: 25, y: 3, width: 50, height: 94, rx: 14, fill: "#e8f0fb", stroke: "#5b7fa8" }));
  for (const p of points) {
    const dot = svg("circle", { cx: p.x, cy: p.y, r: 3, fill: "#c0392b" });
    const title = svg("title", {});
    title.textContent = damageText(p);
    dot.append(title);
    map.append(dot);
  }
  return map;
}

function section(title, ...children) {
  return el("section", {}, el("h2", { text: title }), ...children);
}

/** The report of `lot` (null: none found for this VIN) in the current language. */
function render(lot) {
  if (!lot) {
    box.replaceChildren(el("h1", { text: t("Inspection report") }),
      el("p", { text: tf("No vehicle with VIN {vin} in the catalogue.", { vin: vin || t("(none given)") }) }));
    return;
  }
  const v = lot.vehicle;
  const r = v.inspection ?? {};
  const skip = new Set(["inspection", "make", "model", "photos"]);
  const rows = Object.entries(v).filter(([k, x]) => !skip.has(k) && typeof x !== "object");
  const checks = Object.entries(CHECKS).filter(([k]) => r.checks && k in r.checks);
  const dated = r.version ? " · report {date}, version {version}" : " · report {date}";
  box.replaceChildren(
    el("h1", { text: `${v.year ?? ""} ${v.make ?? ""} ${v.model ?? ""}` }),
    el("p", {}, `${t("Inspection grade")} `, el("span", { class: "grade", dataset: { testid: "report-grade" }, text: r.grade ?? "—" }),
      r.report_date ? tf(dated, { date: r.report_date, version: r.version }) : ""),
    el("dl", { class: "specs" }, ...rows.flatMap(([k, x]) => [el("dt", { text: t(k.replaceAll("_", " ")) }),
      el("dd", { text: String((SHOWN[k] ?? String)(x)) })])),
    checks.length ? section(t("Checks"), el("ul", { dataset: { testid: "report-checks" } },
      ...checks.map(([k, label]) => el("li", { text: tf(r.checks[k] ? "{label}: FOUND" : "{label}: none found", { label: t(label) }) })))) : "",
    r.damage ? section(tf("Body damage ({count})", { count: r.damage.length }), damageMap(r.damage),
      el("ul", {}, ...r.damage.map((p) => el("li", { text: damageText(p) })))) : "",
    r.tyres ? section(t("Tyres"), el("table", { dataset: { testid: "report-tyres" } },
      el("thead", {}, el("tr", {}, el("th", { text: t("Position") }), el("th", { class: "num", text: t("Tread (mm)") }))),
      el("tbody", {}, ...r.tyres.map((y) => el("tr", {}, el("td", { text: y.position }), el("td", { class: "num", text: String(y.tread_mm) })))))) : "",
    r.obd_codes ? section(t("OBD fault codes"), el("p", { dataset: { testid: "report-obd" }, text: r.obd_codes.length ? r.obd_codes.join(t(", ")) : t("none") })) : "",
    r.battery_soh !== undefined && r.battery_soh !== null
      ? section(t("Battery"), el("p", { dataset: { testid: "report-battery" }, text: tf("State of health {soh}%", { soh: r.battery_soh }) })) : "",
    el("p", {}, el("a", { href: `/#lot=${encodeURIComponent(lot.lot)}`, text: tf("Lot {lot}: {title}", { lot: lot.lot, title: lot.title }) }),
      tf(" · starting {price}", { price: formatMoney(lot.start_price, lot.currency) })));
}

let shown = () => {};  // the page as last loaded, drawn again when the language changes
followLanguage(() => {
  document.title = t("Inspection report");
  shown();
});

async function load() {
  const lots = vin ? await fetchLots(readToken("auction.room.token"), { q: vin }) : [];
  const lot = lots.find((s) => s.vehicle?.vin === vin) ?? null;
  shown = () => render(lot);
  shown();
}

load().catch((e) => {
  shown = () => box.replaceChildren(el("p", { text: t(e.human ?? e.message) }));
  shown();
});
