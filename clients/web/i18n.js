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
};

let current = "en";
const originals = new WeakMap(); // text node -> its English text

export function t(text) {
  return current === "zh-CN" ? ZH[text] ?? text : text;
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
