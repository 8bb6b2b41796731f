// The room's languages (issue 13 item 14): English and zh-CN, chosen by a switch, by default from
// the browser. Static text is translated in place (English is the key), dynamic text through t();
// in zh-CN prices read in 万 (18.30万) and mileage in 万公里 (common.js setMoneyStyle).
import { setMoneyStyle } from "/static/common.js";

const KEY = "auction.room.lang";
export const LANGS = { en: "English", "zh-CN": "中文" };

const ZH = {
  "Bidder": "竞买人", "You": "您", "Sealed bid": "暗标", "paddle": "号牌", "Grade": "车况等级", "Sealed": "密封", "bids": "次出价", "from": "起拍",
  "english": "英式", "sealed first": "密封（最高价）", "sealed second": "密封（次高价）", "dutch": "荷兰式",
  "sealed_first": "密封（最高价）", "sealed_second": "密封（次高价）", "live": "现场", "timed": "限时",
  "Watching as watcher": "围观中", "Watching as auctioneer": "拍卖师观看中", "Watching as auditor": "审计观看中",
  "Used-car auction room": "二手车拍卖厅", "Watching (no token)": "围观（未登录）", "Token": "令牌",
  "Bidder token": "竞拍令牌", "Use token": "使用令牌", "Forget": "清除", "All lots": "全部车辆", "My auctions": "我的竞拍",
  "Make": "品牌", "Any": "不限", "Year from": "年份从", "to": "至", "Max price (¥)": "最高价（¥）", "Status": "状态",
  "Open": "竞拍中", "Scheduled": "未开始", "Closed": "已结束", "Search": "搜索", "Sort": "排序", "Ending soonest": "即将结束",
  "Price: low to high": "价格从低到高", "Price: high to low": "价格从高到低", "Year: newest first": "年份从新到旧",
  "Year: oldest first": "年份从旧到新", "Lots": "车辆", "← All lots": "← 全部车辆", "☆ Watch": "☆ 关注", "★ Watching": "★ 已关注",
  "Inspection grade": "检测评级", "Inspection report": "检测报告", "Current price": "当前价", "Starting price": "起拍价",
  "Leader": "领先", "Bids": "出价次数", "Next minimum": "最低加价至", "Your maximum": "我的最高价", "Your bid (¥)": "出价（¥）",
  "Bid": "出价", "Maximum (proxy, ¥)": "代理最高价（¥）", "Set maximum": "设置最高价", "Buy now": "一口价",
  "Paste your bidder token (top right) to bid.": "请在右上角粘贴竞拍令牌后出价。", "Ask me to confirm each bid": "每次出价前确认",
  "Bid history": "出价记录", "Where you stand": "状态", "Price": "价格", "Owed": "应付", "Lot": "拍品",
  "Confirm your bid": "确认出价", "A bid is binding: if it wins, you pay the total.": "出价即有效：成交后须支付总额。",
  "Place bid": "确认出价", "Cancel": "取消", "Drop it": "放弃", "Open ": "查看", "Model": "车型", "Year": "年份",
  "Mileage": "里程", "Location": "所在地", "Fuel": "燃料", "Transmission": "变速箱", "Colour": "颜色", "VIN": "车架号",
  "You are leading": "您目前领先", "Outbid": "已被超越", "No bids from you yet": "您尚未出价", "Watching": "围观中",
  "You did not bid on this lot": "您未参与此车竞拍", "You did not win this lot": "您未拍得此车", "Your sealed bid is in": "您的暗标已提交",
  "Connecting…": "连接中…", "● Live": "● 实时", "Reconnecting…": "重新连接中…", "Token rejected": "令牌无效",
  "No lots yet: create one in the console.": "暂无车辆：请在拍卖控制台创建。", "No lots match these filters.": "没有符合条件的车辆。",
  "Sold": "已成交", "Unsold": "流拍", "Withdrawn": "已撤拍", "Pending approval": "待卖家确认",
  "open": "竞拍中", "scheduled": "未开始", "paused": "已暂停", "closed": "已结束", "Fair warning!": "最后警告！",
  "Live: the auctioneer closes": "现场拍：由拍卖师落槌", "Leading": "领先", "Won": "已拍得", "Lost": "未拍得",
  "Sealed bid in": "暗标已提交", "Reserve met": "已达保留价", "Reserve not met": "未达保留价",
  "Your pre-bid is in": "您的预出价已登记", "Pre-bid maximum (proxy, ¥)": "预出价最高价（¥）",
  "Accept the counter-offer": "接受卖家还价", "Decline": "拒绝", "Keep my maximum on the new report": "按新检测报告保留我的最高价",
  "🔔 Alerts": "🔔 提醒", "extensions:": "延时次数：", "fair warning": "最后警告", ", ": "，",
  // texts with values (tf): {name} is filled in after translating
  "Paddle {paddle}": "号牌 {paddle}", "Paddle {paddle} (you)": "号牌 {paddle}（您）",
  "{result}: {price} to paddle {paddle}": "{result}：{price}，号牌 {paddle}",
  "Bid {amount}": "出价 {amount}", "+1 step: {amount}": "+1 档：{amount}", "+5 steps: {amount}": "+5 档：{amount}",
  "Bid from {price}": "从 {price} 起出价", "Take at {price}": "以 {price} 应价",
  "Outbid: the price is now {price}; next minimum {next}.": "已被超越：当前价 {price}，最低加价至 {next}。",
  "Outbid on {title}: now {price}": "{title} 已被超越：当前价 {price}",
  "Counter-offer on {title}: {amount}, answer by {when}": "{title} 卖家还价：{amount}，请在 {when} 前答复",
  "Ending soon: {title} closes in {left}": "即将结束：{title} 将在 {left} 后结束",
  "Connection: {status}": "连接：{status}", "{title}: {status}": "{title}：{status}", "extended to {left} left": "延时至剩余 {left}",
  "{result} at {price}": "{result}，价格 {price}", "+{by} extended ({count})": "+{by} 已延时（第 {count} 次）",
  "Sending…": "发送中…", "Not placed: cancelled.": "未出价：已取消。", "Dropped: that bid was never sent.": "已放弃：该出价未曾发出。",
  "Pre-bid recorded: your maximum {max} bids for you from the open.": "预出价已登记：开拍后将按您的最高价 {max} 自动代您出价。",
  "Accepted, but a proxy bid outbid you at once: price {price}.": "出价已受理，但随即被代理出价超越：当前价 {price}。",
  "Accepted: sealed bid recorded.": "出价已受理：暗标已登记。",
  "Accepted: sealed bid recorded (your maximum {max}).": "出价已受理：暗标已登记（您的最高价 {max}）。",
  "Accepted: you lead at {price}.": "出价已受理：您以 {price} 领先。",
  "Accepted: you lead at {price} (your maximum {max}).": "出价已受理：您以 {price} 领先（您的最高价 {max}）。",
  "Refused: {reason}": "未受理：{reason}", "Refused: {reason} Next minimum: {next}.": "未受理：{reason}最低加价至 {next}。",
  "Bought for {price}.": "已以一口价 {price} 购得。", "Counter-offer accepted.": "已接受卖家还价。",
  "Counter-offer declined.": "已拒绝卖家还价。", "Maximum confirmed on the new report.": "已按新检测报告确认最高价。",
  // the lot page's price, status and clock
  "Sealed bids": "暗标出价", "Price now (falling)": "当前价（递减中）", "{count} bid": "{count} 次出价", "{count} bids": "{count} 次出价",
  "You won at {price}": "您已以 {price} 拍得", "Pending approval: your {price} is the high bid": "待卖家确认：您的出价 {price} 为最高价",
  "Paused · ": "已暂停", "Paused · {left} left": "已暂停 · 剩余 {left}",
  // the catalogue cards' time left ("{left}": an open lot's clock, 2:05, as it is in English)
  "{left}": "剩余 {left}", "opens in {left}": "{left} 后开拍", "not open yet": "尚未开拍",
  // pending approval, counter-offer, reconfirm, corrections
  "The hammer fell below the seller's reserve, so the seller decides whether to accept your bid. It stays binding until the auctioneer approves (you win at this price), rejects it (you owe nothing) or makes you a counter-offer, which you may accept or decline before its deadline (no answer by then is a decline).":
    "落槌价未达卖家保留价，由卖家决定是否接受您的出价。在拍卖师确认（您以此价拍得）、拒绝（您无需付款）或向您还价之前，您的出价持续有效；收到还价后，您可在截止时间前接受或拒绝（逾期未答复视为拒绝）。",
  "The seller has until {when} ({left} left) to decide; no decision by then means the lot is not sold and you owe nothing.":
    "卖家须在 {when} 前（剩余 {left}）作出决定；逾期未决定即为流拍，您无需付款。",
  "This lot sets the seller no deadline for that decision: it can come at any time, and is shown here and in My auctions as soon as it is made.":
    "本车未设卖家决定期限：卖家可随时决定，结果一经作出即显示在此处及“我的竞拍”中。",
  "The seller offers to sell at {amount} (your bid: {bid}). Answer by {when} ({left} left).":
    "卖家还价 {amount}（您的出价：{bid}）。请在 {when} 前答复（剩余 {left}）。",
  "The inspection report is now version {version}. Your maximum of {max} was placed on an earlier report and bids nothing until you confirm it.":
    "检测报告已更新至第 {version} 版。您的最高价 {max} 是按旧版报告设置的，确认前不会代您出价。",
  "The inspection report is now version {version}. Your maximum was placed on an earlier report and bids nothing until you confirm it.":
    "检测报告已更新至第 {version} 版。您的最高价是按旧版报告设置的，确认前不会代您出价。",
  "Correction: the last bid was taken back": "更正：上一口出价已撤回", "Correction: the last bid was taken back ({reason})": "更正：上一口出价已撤回（{reason}）",
  "Correction: the auctioneer reopened the lot": "更正：拍卖师已重新开放本车竞拍", "The auctioneer asks {amount}": "拍卖师叫价 {amount}",
  // the inspection facts (事故 Accident: the report's own bilingual labels, in Chinese alone)
  "事故 Accident": "事故", "泡水 Flood": "泡水", "火烧 Fire": "火烧", "{label}: FOUND": "{label}：有", "{label}: none found": "{label}：无",
  "Body damage: {count} point": "车身损伤：{count} 处", "Body damage: {count} points": "车身损伤：{count} 处",
  "Battery health {soh}%": "电池健康度 {soh}%", "OBD codes: {codes}": "OBD 故障码：{codes}", "No OBD fault codes": "无 OBD 故障码",
  "Report {date}": "报告日期 {date}", "Report {date} (v{version})": "报告日期 {date}（第 {version} 版）",
  "Photo {n} of {count}: {title}": "第 {n}/{count} 张照片：{title}", "Previous photo": "上一张", "Next photo": "下一张",
  // the unsent bid and the confirm dialog
  "Your bid of {amount} on {title} was not sent while you were offline. The price is now {price} (next minimum {next}).":
    "您对 {title} 的 {amount} 出价因离线未发出。当前价 {price}（最低加价至 {next}）。",
  "Not sent: you are offline. Your bid of {amount} was not placed; nothing is sent without asking you again.":
    "未发送：您已离线。您的 {amount} 出价未提交；未经您再次确认，不会发出任何出价。",
  "Bid {amount} now": "立即出价 {amount}", "{title} ({lot})": "{title}（{lot}）", "Maximum": "最高价",
  "Buyer's premium": "买方佣金", "Total if you win": "成交应付总额", "unknown": "未知",
  "Place bid of {amount}": "确认出价 {amount}", "Place maximum of {amount}": "确认最高价 {amount}", "Place buy now of {amount}": "确认一口价 {amount}",
  // the budget form (static: 专场 SALE-B1 预算上限（¥）) and its answer
  "My budget for sale": "专场", ": at most (¥)": " 预算上限（¥）", "lots": "最多台数", "Set budget": "设置预算", "any amount": "不限金额",
  "Budget {total}: your bids hold {held}, won {won}": "预算 {total}：出价占用 {held}，已拍得 {won} 台",
  "Budget {total}, {lots} lot: your bids hold {held}, won {won}": "预算 {total}，最多 {lots} 台：出价占用 {held}，已拍得 {won} 台",
  "Budget {total}, {lots} lots: your bids hold {held}, won {won}": "预算 {total}，最多 {lots} 台：出价占用 {held}，已拍得 {won} 台",
  // My auctions
  "You have not bid on any lot yet.": "您尚未参与任何车辆竞拍。", "the seller decides by {when}": "卖家将于 {when} 前决定",
  "{hammer} + premium {premium} = {total}": "{hammer} + 佣金 {premium} = {total}",
  "{hammer} + premium {premium} = {total} (paid)": "{hammer} + 佣金 {premium} = {total}（已付款）",
  "{hammer} + premium {premium} = {total}, due by {date}": "{hammer} + 佣金 {premium} = {total}，请于 {date} 前付款",
  "{hammer} + premium {premium} = {total}, due by {date} (paid)": "{hammer} + 佣金 {premium} = {total}（已付款）",
  // signed out, the filters' error, the page title
  "Sign-in expired or token rejected: watching only. Paste a new token to bid.": "登录已过期或令牌无效：仅可围观。请粘贴新令牌后出价。",
  "Sign-in no longer valid (bidder unknown here): watching only. Ask for a new token.": "登录已失效（系统中无此竞买人）：仅可围观。请索取新令牌。",
  "Your bidder account is suspended: watching only.": "您的竞买账户已被暂停：仅可围观。",
  "Max price: enter an amount in yuan, e.g. 150000": "最高价：请输入以元为单位的金额，例如 150000",
  // common.js MESSAGES (messageFor), the reasons a bid is refused: the console keeps them in English
  "Your bid is below the next minimum.": "您的出价低于最低可出价。",
  "You are already leading; raise your maximum instead.": "您已领先；如需加价，请提高您的最高价。",
  "This lot is not open for bidding yet.": "此车尚未开始竞拍。", "Bidding on this lot is paused.": "此车竞拍已暂停。",
  "This lot has closed.": "此车竞拍已结束。", "This bid would exceed your credit limit (deposit).": "此出价将超出您的信用额度（保证金）。",
  "This bid would break the budget you set for this sale.": "此出价将超出您为本场设定的预算。",
  "Too many bids at once; wait a moment and try again.": "出价过于频繁，请稍后再试。",
  "You are not allowed to do that.": "您无权进行此操作。",
  "Enter a whole amount in yuan (up to 2 decimals) above zero, and only one of bid or maximum.": "请输入大于零的金额（元，最多两位小数），出价与最高价只填一项。",
  "No such lot.": "没有此车辆。", "The server could not read that message.": "服务器无法读取该消息。",
  "That message was too large.": "消息过大。", "The server does not know that message type.": "服务器不识别该消息类型。",
  "Your connection fell behind; reconnecting.": "连接滞后，正在重新连接。",
  "Your token is missing, invalid or expired.": "令牌缺失、无效或已过期。",
  "This engine does not know your bidder: ask the auctioneer for a new token.": "系统中没有您的竞买人信息：请向拍卖师索取新令牌。",
  "Your bidder account is suspended: ask the auctioneer.": "您的竞买账户已被暂停：请联系拍卖师。",
  "Your token does not allow that.": "您的令牌无权进行此操作。", "The lot form has an invalid field.": "车辆表单中有无效字段。",
  "The request was invalid.": "请求无效。", "That conflicts with the lot's current state.": "与此车当前状态冲突。",
  "The server is temporarily unavailable.": "服务器暂时不可用。",
  "No answer from the server in time; your bid may still count. Check the price before bidding again.": "服务器未及时答复，您的出价可能已生效。再次出价前请先查看价格。",
  "Network error: the server could not be reached.": "网络错误：无法连接服务器。", "Not sent: you are offline.": "未发送：您已离线。",
  // labels a screen reader says, and the search field's placeholder
  "Views": "视图", "Dismiss": "关闭", "Photos": "照片", "model, VIN, city…": "车型、车架号、城市…",
  // the inspection report page (inspection.js): its headings, the vehicle's fields by key (mileage_km: "mileage km")
  "Loading…": "加载中…", "No vehicle with VIN {vin} in the catalogue.": "目录中没有车架号为 {vin} 的车辆。", "(none given)": "（未提供）",
  " · report {date}": " · 报告日期 {date}", " · report {date}, version {version}": " · 报告日期 {date}，第 {version} 版",
  "year": "年份", "mileage km": "里程", "vin": "车架号", "location": "所在地", "fuel": "燃料", "color": "颜色", "colour": "颜色",
  "transmission": "变速箱", "battery soh pct": "电池健康度（%）", "Checks": "排查项目", "Body damage ({count})": "车身损伤（{count} 处）",
  "Damage map: {count} points": "损伤示意图：{count} 处", "{part}: {kind}": "{part}：{kind}", "Tyres": "轮胎", "Position": "位置",
  "Tread (mm)": "胎纹深度（mm）", "OBD fault codes": "OBD 故障码", "none": "无", "Battery": "电池",
  // vehicle.fuel as sellers write it (clients/demo.py); a fuel not listed is shown as given
  "petrol": "汽油", "gasoline": "汽油", "diesel": "柴油", "electric": "纯电动", "hybrid": "油电混合",
  "plug-in hybrid": "插电式混合动力", "extended-range electric": "增程式电动", "petrol mild hybrid": "汽油轻混",
  "State of health {soh}%": "健康度 {soh}%", "Lot {lot}: {title}": "拍品 {lot}：{title}", " · starting {price}": " · 起拍价 {price}",
};

// Where the cars stand (vehicle.location, free text): the places of the sample sale (clients/demo.py)
// and the catalogue benchmark, each city and province once; a location of other places is shown as given.
const PLACES = {
  Beijing: "北京", Shanghai: "上海", Tianjin: "天津", Chongqing: "重庆", Guangdong: "广东", Guangzhou: "广州",
  Shenzhen: "深圳", Sichuan: "四川", Chengdu: "成都", Zhejiang: "浙江", Hangzhou: "杭州", Ningbo: "宁波",
  Hebei: "河北", Baoding: "保定", Hubei: "湖北", Wuhan: "武汉", Jiangsu: "江苏", Nanjing: "南京", Changzhou: "常州",
  Suzhou: "苏州", Shaanxi: "陕西", "Xi'an": "西安", Hunan: "湖南", Changsha: "长沙", Henan: "河南", Zhengzhou: "郑州",
};

let current = "en";
const originals = new WeakMap(); // text or attribute node -> its English text
const LABELS = ["aria-label", "title", "alt", "placeholder"];  // what a screen reader or an empty field says

export function t(text) {
  return current === "zh-CN" ? ZH[text] ?? text : text;
}

// A whole sentence per template, since Chinese orders the values differently (no translated fragments glued together).
export function tf(template, values) {
  return t(template).replace(/\{(\w+)\}/g, (m, name) => (name in values ? String(values[name]) : m));
}

/** "Hangzhou, Zhejiang" or "杭州 Hangzhou, Zhejiang" -> 浙江杭州 in Chinese (province first); as given
 * in English, or when a part is not a known place. */
export function placeName(location) {
  if (current !== "zh-CN" || typeof location !== "string") return location;
  const parts = location.replace(/^\p{Script=Han}+\s+(?=\w)/u, "").split(",").map((p) => PLACES[p.trim()]);
  return parts.every(Boolean) ? parts.reverse().join("") : location;
}

export function language() { return current; }

function preferred() {
  try {
    const saved = localStorage.getItem(KEY);
    if (saved && saved in LANGS) return saved;
  } catch { /* storage disabled */ }
  return (navigator.languages ?? [navigator.language]).some((l) => /^zh\b/i.test(l ?? "")) ? "zh-CN" : "en";
}

/** A text or attribute node in the current language, its English kept to switch back. */
function translateNode(node) {
  const english = originals.get(node) ?? node.nodeValue;
  const key = english.trim();
  if (!key || !(key in ZH)) return;
  originals.set(node, english);
  node.nodeValue = current === "zh-CN" ? english.replace(key, ZH[key]) : english;
}

/** Every static text and label under `root` in the current language. */
export function translateTree(root = document.body) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement?.closest("[data-dynamic], script, style")) translateNode(node);
  }
  for (const element of root.querySelectorAll(LABELS.map((name) => `[${name}]`).join())) {
    if (element.closest("[data-dynamic]")) continue;
    for (const name of LABELS) {
      const attribute = element.getAttributeNode(name);
      if (attribute) translateNode(attribute);
    }
  }
}

/** Set the language: `lang` on <html>, money style, static text; `onChange` re-renders dynamic text. */
export function setLanguage(lang, onChange) {
  current = lang in LANGS ? lang : "en";
  try { localStorage.setItem(KEY, current); } catch { /* storage disabled */ }
  document.documentElement.lang = current;
  setMoneyStyle(current === "zh-CN" ? "wan" : "plain");
  translateTree();
  onChange?.();
}

/** Fill the switch and follow it; starts in the saved or the browser's language. */
export function initLanguage(select, onChange) {
  select.replaceChildren(...Object.entries(LANGS).map(([value, label]) => new Option(label, value)));
  const lang = preferred();
  select.value = lang;
  select.addEventListener("change", () => setLanguage(select.value, onChange));
  setLanguage(lang, onChange);
}

/** A page without a switch (the inspection report, opened from a lot page): the language chosen in
 * the room, and again whenever the room's switch changes it in another tab. */
export function followLanguage(onChange) {
  window.addEventListener("storage", (e) => { if (e.key === KEY) setLanguage(preferred(), onChange); });
  setLanguage(preferred(), onChange);
}
