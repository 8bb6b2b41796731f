"""The JSON Schemas of every wire shape (`schemas.py`): each is a valid 2020-12 schema, money is an
integer of minor units wherever it appears, times are integer epoch milliseconds, and a frame does
not grow a key silently. That real answers fit them is checked in test_openapi.py and by every
WebSocket test (tests/schema_check.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator

from auction_engine.schemas import SCHEMAS

from ..schema_check import validator

MONEY = {"amount", "amount_paid", "credit_limit", "hammer_price", "max", "next_min", "premium", "price",
         "refund_amount", "start_price", "total_due", "your_max", "buy_now"}


def properties(schema: Any, where: str) -> Iterator[tuple[str, str, Any]]:
    """Every (where, property name, its schema) under `schema`, however deeply nested."""
    if isinstance(schema, dict):
        for name, sub in schema.get("properties", {}).items():
            yield where, name, sub
        for key, sub in schema.items():
            yield from properties(sub, f"{where}/{key}")
    elif isinstance(schema, list):
        for sub in schema:
            yield from properties(sub, where)


def integer_or_null(schema: dict[str, Any]) -> bool:
    kinds = [schema] if "type" in schema else schema.get("anyOf", [])
    return bool(kinds) and all(k.get("type") in ("integer", "null") for k in kinds) and any(
        k.get("type") == "integer" for k in kinds)


def test_every_component_is_a_valid_2020_12_schema() -> None:
    for schema in SCHEMAS.values():
        Draft202012Validator.check_schema(schema)


def test_money_and_times_are_integers_wherever_they_appear() -> None:
    found = [(where, name, sub) for component, schema in SCHEMAS.items() for where, name, sub in properties(schema, component)
             if name in MONEY or name.endswith("_at")]
    assert {name for _w, name, _s in found} >= {"price", "next_min", "amount", "start_price", "created_at"}
    assert [f"{where}.{name}" for where, name, sub in found if "$ref" not in sub and not integer_or_null(sub)] == []


def test_an_ack_with_a_key_it_does_not_declare_or_a_fractional_price_is_refused() -> None:
    ack = {"type": "ack", "id": "b-1", "lot": "L1", "ok": True, "seq": 7, "leading": True, "price": 5100}
    assert validator("Ack").is_valid(ack)
    assert not validator("Ack").is_valid({**ack, "reserve": 9000})
    assert not validator("Ack").is_valid({**ack, "price": 51.5})
