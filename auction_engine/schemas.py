"""JSON Schemas (2020-12) of every wire shape: HTTP bodies and WebSocket frames.

One table for both documents the engine serves: `/openapi.json` (HTTP, `openapi.py`) and
`/asyncapi.json` (the WebSocket frames). They describe what `frames.py`, `http.py` and
`bidding/views.py` build; the engine tests validate the real answers and every frame they
receive against them (`tests/engine/wsclient.py`, `tests/engine/test_openapi.py`), so a shape
that changes without its schema fails there. References are `#/components/schemas/<Name>`,
which both documents resolve.
"""

from __future__ import annotations

from typing import Any

from .frames import MAX_CONFLATE_MS, MIN_CONFLATE_MS

Schema = dict[str, Any]

REF = "#/components/schemas/"


def ref(name: str) -> Schema:
    return {"$ref": REF + name}


def _obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None, closed: bool = True) -> Schema:
    """An object with these keys; `closed` refuses any other key (what a frame must not grow silently)."""
    schema: Schema = {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": sorted(required),
    }
    if closed:
        schema["additionalProperties"] = False
    return schema


def _const(value: str) -> Schema:
    return {"const": value}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


MONEY: Schema = {"type": "integer", "minimum": 0, "description": "minor units of the lot's currency"}
TIME_MS: Schema = {"type": "integer", "description": "epoch milliseconds, server clock"}
SEQ: Schema = {"type": "integer", "minimum": 0}
ID: Schema = {"type": "string", "minLength": 1, "maxLength": 64}
STR: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
ROLE: Schema = {"enum": ["bidder", "auctioneer", "auditor", "watcher"]}
STATUS: Schema = {"enum": ["scheduled", "open", "paused", "closed"]}
RESULT: Schema = _nullable({"enum": ["sold", "unsold", "withdrawn", "pending_approval"]})
REASON: Schema = {"type": "string", "description": "a RULES.md refusal reason (bidding/reasons.py)"}

# The public state (bidding/views.py public_view): every key is always there; event frames leave
# out `vehicle` and `increments`, views for a bidder or the auctioneer add their keys.
_PUBLIC_CORE: dict[str, Schema] = {
    "lot": ID, "title": STR, "format": {"enum": ["english", "sealed_first", "sealed_second", "dutch"]},
    "mode": {"enum": ["timed", "live"]}, "status": STATUS, "result": RESULT, "currency": STR,
    "start_price": MONEY, "price": _nullable(MONEY), "next_min": _nullable(MONEY), "leader": _nullable(STR),
    "bids": SEQ, "buy_now": _nullable(MONEY), "starts_at": _nullable(TIME_MS), "opened_at": _nullable(TIME_MS),
    "ends_at": _nullable(TIME_MS), "remaining_ms": _nullable({"type": "integer"}), "closed_at": _nullable(TIME_MS),
    "extensions": SEQ, "fair_warning": BOOL, "outage_ms": {"type": "integer", "minimum": 0},
    "dutch": _nullable(_obj({"step": MONEY, "tick_s": {"type": "number"}, "floor": MONEY})), "seq": SEQ,
}
# Keys another change is adding to public_view (clerk corrections): allowed, not yet required.
_LANDING: dict[str, Schema] = {"correction": _nullable({"type": "object"}), "pre_bids": SEQ, "inspection_version": SEQ,
                               "approve_by": _nullable(TIME_MS),
                               "sale": _nullable(ID)}
_STATIC: dict[str, Schema] = {
    "vehicle": _nullable({"type": "object"}),
    "increments": {"type": "array", "items": {"type": "array", "items": MONEY, "minItems": 2, "maxItems": 2}},
}
_VIEW_EXTRAS: dict[str, Schema] = {
    "reserve_met": _nullable(BOOL),
    "your_max": _nullable(MONEY), "leading": _nullable(BOOL),  # a bidder's own view
    "reserve": _nullable(MONEY), "leader_bidder": _nullable(STR),  # the auctioneer's
    "maxima": {"type": "object", "additionalProperties": MONEY},
    "counter": _nullable(_obj({"amount": MONEY, "expires_at": TIME_MS})),  # the high bidder's and the auctioneer's
    "suspended": BOOL, "seen": {"type": "object", "additionalProperties": SEQ},  # inspection versions (docs/rules.md)
}

SCHEMAS: dict[str, Schema] = {
    "Error": _obj({"error": _obj({"code": STR, "message": STR}, {"field": STR, "next_min": MONEY})}),
    "ServerTime": _obj({"server_time": TIME_MS}),
    "EventState": _obj(_PUBLIC_CORE, {"reserve_met": _nullable(BOOL), **_LANDING}),
    # A delta feed's event: only the fields that changed, any of the event state's (docs/protocol.md).
    "ChangedState": _obj({}, {**_PUBLIC_CORE, "reserve_met": _nullable(BOOL), **_LANDING}),
    "LotState": _obj(_PUBLIC_CORE, {**_STATIC, **_VIEW_EXTRAS, **_LANDING}),
    # A lot without an actor in memory is listed from the SQL catalogue: the state it last stored.
    "LotRow": {"anyOf": [ref("LotState"), _obj({"lot": ID, "status": STATUS}, closed=False)]},
    "LotSpec": {"type": "object", "required": ["title", "start_price"], "description": "PROTOCOL.md lot spec",
                "properties": {"lot": ID, "title": STR, "start_price": MONEY, "reserve": MONEY, "buy_now": MONEY}},
    "LotList": _obj({"lots": {"type": "array", "items": ref("LotRow")}, "cursor": _nullable(STR), "server_time": TIME_MS}),
    "BidderNew": _obj({"bidder": ID, "paddle": ID}, {"credit_limit": _nullable(MONEY)}),
    "BidderCreated": _obj({"bidder": ID, "paddle": ID, "credit_limit": _nullable(MONEY), "token": STR}),
    "BidderList": _obj({"bidders": {"type": "array", "items": _obj(
        {"bidder": ID, "paddle": ID, "credit_limit": _nullable(MONEY), "exposure": MONEY, "suspended": BOOL})}}),
    "TokenAsk": _obj({}, {"ttl_s": {"type": "integer", "minimum": 60, "maximum": 2592000}}),
    "TokenMinted": _obj({"bidder": ID, "paddle": ID, "token": STR, "ttl_s": {"type": "integer"}}),
    "Suspension": _obj({"bidder": ID, "paddle": ID, "suspended": BOOL}),
    "BidAsk": _obj({"id": ID}, {"amount": MONEY, "max": MONEY}),
    "FloorBidAsk": _obj({"paddle": ID, "amount": MONEY}, {"id": ID}),
    "Ack": {"oneOf": [
        # `leading` is null in a sealed lot until the close, like the view's (bidding/views.py).
        _obj({"type": _const("ack"), "id": ID, "lot": ID, "ok": {"const": True}, "seq": SEQ, "leading": _nullable(BOOL),
              "price": _nullable(MONEY)}, {"your_max": MONEY}),
        _obj({"type": _const("ack"), "id": ID, "lot": ID, "ok": {"const": False}, "reason": REASON}, {"next_min": MONEY}),
    ]},
    "HistoryItem": _obj(
        {"seq": SEQ, "kind": STR, "at": TIME_MS, "state": ref("EventState")},
        {"command": _nullable({"type": "object"}), "events": _nullable({"type": "array", "items": {"type": "object"}}),
         "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "entry": {"type": "string", "contentEncoding": "base64"},
         "problem": STR},
    ),
    "EventPage": _obj({"lot": ID, "events": {"type": "array", "items": ref("HistoryItem")}, "next": SEQ, "head": SEQ}),
    "Settlement": _obj({
        "lot": ID, "result": STR, "winner": _nullable(STR), "winner_paddle": _nullable(STR), "hammer_price": _nullable(MONEY),
        "premium": _nullable(MONEY), "total_due": _nullable(MONEY), "currency": STR, "closed_at": TIME_MS,
        "decided_at": TIME_MS, "final_seq": SEQ, "head_hash": STR, "payment_due_at": _nullable(TIME_MS),
        "paid_at": _nullable(TIME_MS),
    }, {"report_version": _nullable({"type": "integer", "minimum": 1})}),
    "SettlementList": _obj({"settlements": {"type": "array", "items": ref("Settlement")}}),
    "MakeList": _obj({"makes": {"type": "array", "items": _obj({"make": STR, "en": STR, "zh": STR, "lots": SEQ})}}),
    "MarkPaid": _obj({"by": {"type": "string", "minLength": 1, "maxLength": 64}}),
    "Payment": _obj({"lot": ID, "settlement_id": STR, "amount_paid": MONEY, "paid_at": TIME_MS}),
    "Health": _obj({"ok": BOOL, "redis": BOOL, "database": BOOL, "quarantined": {"type": "object", "additionalProperties": STR}},
                   closed=False),
    # Scale-out (the lead's auction_engine/cluster.py): single mode answers nulls.
    "ClusterInfo": _obj({"mode": {"enum": ["single", "cluster"]}}, {"node": _nullable(STR), "nodes": {"type": "array"}},
                        closed=False),
    "LotOwner": _obj({"lot": ID}, {"node": _nullable(STR), "epoch": _nullable({"type": "integer"})}, closed=False),
    # A bidder's own pages (auction_engine/me.py, landing with the bidder-account change).
    "MyLots": _obj({"lots": {"type": "array"}}, {"server_time": TIME_MS}),
    "Watchlist": _obj({"lots": {"type": "array", "items": STR}}),
    "PremiumQuote": _obj({"price": MONEY, "premium": MONEY, "total_due": MONEY}),
    # After the hammer and before the first bid (auction_engine/aftersale_http.py, docs/settlement.md).
    "ApplicationNew": _obj({"company": STR, "credit_code": STR, "contact_name": STR, "contact_phone": STR, "city": STR},
                           {"documents": {"type": "array", "items": STR}}),
    "ApplicationCreated": _obj({"application": STR, "status": STR}),
    "Application": _obj({
        "id": STR, "company": STR, "credit_code": STR, "contact_name": STR, "contact_phone": STR, "city": STR,
        "documents": {"type": "array", "items": STR}, "status": {"enum": ["pending", "approved", "rejected"]},
        "reason": _nullable(STR), "bidder": _nullable(ID), "created_at": TIME_MS, "decided_at": _nullable(TIME_MS),
    }, {"paddle": ID, "credit_limit": MONEY, "token": STR}),
    "ApplicationList": _obj({"applications": {"type": "array", "items": ref("Application")}}),
    "ApplicationApproval": _obj({"bidder": ID, "paddle": ID}),
    "ApplicationRejection": _obj({"reason": STR}),
    "DepositAsk": _obj({"amount": MONEY}),
    "Deposit": _obj({"id": STR, "bidder": ID, "amount": MONEY, "status": {"enum": ["pending", "held", "refunded"]},
                     "created_at": TIME_MS, "paid_at": _nullable(TIME_MS), "refunded_at": _nullable(TIME_MS)},
                    {"credit_limit": MONEY}),
    "DepositList": _obj({"bidder": ID, "credit_limit": _nullable(MONEY), "deposits": {"type": "array", "items": ref("Deposit")}}),
    "DepositPayment": _obj({"deposit_id": STR, "bidder": ID, "amount": MONEY, "paid_at": TIME_MS}),
    "Guarantee": _obj({"lot": ID, "state": {"enum": ["holding", "claimed", "released", "refunded"]}, "window_ms": SEQ,
                       "window_ends_at": _nullable(TIME_MS), "received_at": _nullable(TIME_MS)}),
    "ClaimAsk": _obj({"reason": STR, "text": STR}, {"photos": {"type": "array", "items": STR}}),
    "Claim": _obj({"lot": ID, "bidder": ID, "reason": STR, "text": STR, "photos": {"type": "array", "items": STR},
                   "status": {"enum": ["open", "rejected", "partial_refund", "full_refund"]}, "refund_amount": _nullable(MONEY),
                   "note": _nullable(STR), "opened_at": TIME_MS, "resolved_at": _nullable(TIME_MS)}),
    "ClaimResolution": _obj({"outcome": {"enum": ["reject", "partial_refund", "full_refund"]}},
                            {"refund_amount": MONEY, "note": STR}),
    "TransportStatus": _obj({"lot": ID, "status": {"enum": ["picked_up", "in_transit", "delivered"]}, "at": TIME_MS}),
    "Transport": _obj({"lot": ID, "status": {"enum": ["ordered", "picked_up", "in_transit", "delivered"]},
                       "order": {"type": "object"}, "created_at": TIME_MS, "updated_at": TIME_MS}),
    "SettlementRecord": _obj({
        "settlement": ref("Settlement"), "contract_sha256": _nullable(STR), "guarantee": _nullable(ref("Guarantee")),
        "claim": _nullable(ref("Claim")), "instructions": {"type": "array", "items": {"type": "object"}},
        "transport": _nullable(ref("Transport")), "deliveries": {"type": "array", "items": {"type": "object"}},
        "history": {"type": "array", "items": {"type": "object"}},
    }),
    "SaleNew": _obj({"id": ID, "lots": {"type": "array", "items": ID, "minItems": 1}, "first_end_at": TIME_MS},
                    {"stagger_s": {"type": "integer", "minimum": 0, "maximum": 86400}, "group_soft_close": BOOL}),
    "Sale": _obj({"sale": ID, "first_end_at": TIME_MS, "stagger_s": {"type": "integer", "minimum": 0},
                  "group_soft_close": BOOL, "server_time": TIME_MS,
                  "lots": {"type": "array", "items": _obj({"lot": ID, "ends_at": _nullable(TIME_MS), "status": STATUS,
                                                           "result": RESULT, "extensions": SEQ})}}),
    "BudgetAsk": _obj({}, {"max_total": MONEY, "max_lots": {"type": "integer", "minimum": 1}}),
    "Budget": _obj({"sale": ID, "bidder": ID, "max_total": _nullable(MONEY),
                    "max_lots": _nullable({"type": "integer", "minimum": 1}), "committed": MONEY, "won": SEQ}),
    "Purchases": _obj({"purchases": {"type": "array", "items": {"type": "object"}}}),
    # -- WebSocket frames, server -> client (PROTOCOL.md, frames.py) --
    "WelcomeFrame": _obj({"type": _const("welcome"), "role": ROLE, "server_time": TIME_MS},
                         {"bidder": ID, "paddle": _nullable(ID)}),
    "SnapshotFrame": _obj({"type": _const("snapshot"), "lot": ID, "seq": SEQ, "state": ref("LotState"), "server_time": TIME_MS}),
    "EventFrame": _obj({"type": _const("event"), "lot": ID, "seq": SEQ, "kind": STR, "at": TIME_MS, "state": ref("EventState")}),
    "DeltaFrame": _obj({"type": _const("event"), "lot": ID, "seq": SEQ, "prev": SEQ, "kind": STR, "at": TIME_MS,
                        "changed": ref("ChangedState")}),
    "OutbidFrame": _obj({"type": _const("outbid"), "lot": ID, "seq": SEQ, "price": MONEY, "next_min": _nullable(MONEY)}),
    "WonFrame": _obj({"type": _const("won"), "lot": ID, "price": MONEY}),
    "LostFrame": _obj({"type": _const("lost"), "lot": ID}),
    "CounterFrame": _obj({"type": _const("counter"), "lot": ID, "seq": SEQ, "amount": MONEY, "expires_at": TIME_MS}),
    "MeFrame": _obj({"type": _const("me"), "lots": {"type": "array", "items": {"type": "object"}},
                     "watchlist": {"type": "array", "items": STR}, "server_time": TIME_MS}),
    "NoticeFrame": _obj({"type": _const("notice"), "kind": {"enum": ["ending_soon"]}, "lot": ID, "title": STR,
                         "ends_at": TIME_MS, "server_time": TIME_MS}),
    "PongFrame": _obj({"type": _const("pong"), "t": {"type": "integer"}, "server_time": TIME_MS}),
    "ErrorFrame": _obj({"type": _const("error"), "code": STR, "message": STR}, {"field": STR}, closed=False),
    "ServerFrame": {"oneOf": [ref(n) for n in (
        "WelcomeFrame", "SnapshotFrame", "EventFrame", "Ack", "OutbidFrame", "WonFrame", "LostFrame", "PongFrame", "ErrorFrame",
        "CounterFrame", "MeFrame", "NoticeFrame", "DeltaFrame",
    )]},
    # -- client -> server --
    "SubscribeFrame": _obj({"type": _const("subscribe"), "lot": ID},
                           {"since": SEQ, "conflate_ms": {"type": "integer", "minimum": MIN_CONFLATE_MS,
                                                          "maximum": MAX_CONFLATE_MS}, "delta": BOOL}),
    "UnsubscribeFrame": _obj({"type": _const("unsubscribe"), "lot": ID}),
    "BidFrame": {**_obj({"type": _const("bid"), "lot": ID, "id": ID}, {"amount": MONEY, "max": MONEY}),
                 "oneOf": [{"required": ["amount"]}, {"required": ["max"]}]},
    "BuyNowFrame": _obj({"type": _const("buy_now"), "lot": ID, "id": ID}),
    "PingFrame": _obj({"type": _const("ping"), "t": {"type": "integer", "minimum": -(2**53), "maximum": 2**53}}),
    "ClientFrame": {"oneOf": [ref(n) for n in ("SubscribeFrame", "UnsubscribeFrame", "BidFrame", "BuyNowFrame", "PingFrame")]},
}

SERVER_FRAMES = ("WelcomeFrame", "SnapshotFrame", "EventFrame", "Ack", "OutbidFrame", "WonFrame", "LostFrame", "PongFrame",
                 "ErrorFrame", "CounterFrame", "MeFrame", "NoticeFrame", "DeltaFrame")
CLIENT_FRAMES = ("SubscribeFrame", "UnsubscribeFrame", "BidFrame", "BuyNowFrame", "PingFrame")
