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
  "Place bid": "确认出价", "Cancel": "取消", "Drop it": "放弃", "Open ": "打开", "Model": "车型", "Year": "年份",
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
};

let current = "en";
const originals = new WeakMap(); // text node -> its English text

export function t(text) {
  return current === "zh-CN" ? ZH[text] ?? text : text;
}

// A whole sentence per template, since Chinese orders the values differently (no translated fragments glued together).
export function tf(template, values) {
  return t(template).replace(/\{(\w+)\}/g, (m, name) => (name in values ? String(values[name]) : m));
}

export function language() { return current; }

function preferred() {
  try {
    const saved = localStorage.getItem(KEY);
    if (saved && saved in LANGS) return saved;
  } catch { /* storage disabled */ }
  return (navigator.languages ?? [navigator.language]).some((l) => /^zh\b/i.test(l ?? "")) ? "zh-CN" : "en";
}

/** Every static text node under `root` in the current language (English kept to switch back). */
export function translateTree(root = document.body) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement?.closest("[data-dynamic], script, style")) continue;
    const english = originals.get(node) ?? node.nodeValue;
    const key = english.trim();
    if (!key || !(key in ZH)) continue;
    originals.set(node, english);
    node.nodeValue = current === "zh-CN" ? english.replace(key, ZH[key]) : english;
  }
  for (const input of root.querySelectorAll("input[placeholder]")) {
    input.dataset.placeholderEn ??= input.placeholder;
    if (input.dataset.placeholderEn === "model, VIN, city…") input.placeholder = current === "zh-CN" ? "车型、车架号、城市…" : input.dataset.placeholderEn;
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
