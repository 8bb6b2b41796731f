"""A lot's specification: what the seller and the auctioneer fixed before the lot opens.

A LotSpec is valid by construction: __post_init__ checks every field, so a spec that exists can be
decided against without further checks. from_dict is the one door for untrusted input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .ids import ID_RULE, MAX_ID, is_id
from .ladder import DEFAULT_LADDER, Ladder
from .money import MAX_AMOUNT, is_money
from .vehicle import check_vehicle

FORMATS = ("english", "sealed_first", "sealed_second", "dutch")
MODES = ("timed", "live")

MAX_TITLE = 200
MAX_LOT_ID = MAX_ID
MAX_TIERS = 32
MAX_DURATION_S = 90 * 24 * 3600
MAX_SECONDS = 24 * 3600
MAX_EXTENSIONS = 10_000
MAX_VEHICLE_CHARS = 16_384
MAX_VEHICLE_DEPTH = 6
MAX_TIME_MS = 2**53
COUNTER_WINDOW_S = 86_400  # a counter-offer stands 24 hours unless the lot says otherwise
MAX_COUNTER_WINDOW_S = 30 * 86_400

_CURRENCY = re.compile(r"[A-Z]{3}")


class SpecError(ValueError):
    """A bad lot spec: `field` is the dotted path of the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _int_in(path: str, value: object, lo: int, hi: int) -> None:
    if type(value) is not int:
        raise SpecError(path, "must be an integer")
    if not lo <= value <= hi:
        raise SpecError(path, f"must be between {lo} and {hi}")


def _money(path: str, value: object, minimum: int = 0) -> None:
    if not is_money(value, minimum):
        raise SpecError(path, f"must be an integer amount in minor units, {minimum} to {MAX_AMOUNT}")


@dataclass(frozen=True, slots=True, kw_only=True)
class AntiSnipe:
    """A bid accepted less than window_s before the end pushes the end to extend_s after it."""

    window_s: int
    extend_s: int
    max_extensions: int | None = None

    def __post_init__(self) -> None:
        _int_in("anti_snipe.window_s", self.window_s, 1, MAX_SECONDS)
        _int_in("anti_snipe.extend_s", self.extend_s, 1, MAX_SECONDS)
        if self.max_extensions is not None:
            _int_in("anti_snipe.max_extensions", self.max_extensions, 0, MAX_EXTENSIONS)


@dataclass(frozen=True, slots=True, kw_only=True)
class DutchSpec:
    """Descending clock: the price drops by `step` every `tick_s`, never below `floor`."""

    step: int
    tick_s: int
    floor: int

    def __post_init__(self) -> None:
        _money("dutch.step", self.step, 1)
        _int_in("dutch.tick_s", self.tick_s, 1, MAX_SECONDS)
        _money("dutch.floor", self.floor)


def _ladder(value: object) -> Ladder:
    if not isinstance(value, (list, tuple)) or not value:
        raise SpecError("increments", "must be a non-empty list of [from_price, step]")
    if len(value) > MAX_TIERS:
        raise SpecError("increments", f"at most {MAX_TIERS} tiers")
    tiers: list[tuple[int, int]] = []
    for tier in value:
        if not isinstance(tier, (list, tuple)) or len(tier) != 2:
            raise SpecError("increments", "each tier must be [from_price, step]")
        start, inc = tier
        if not is_money(start) or not is_money(inc, 1):
            raise SpecError("increments", "from_price must be an integer >= 0 and step an integer > 0")
        if tiers and start <= tiers[-1][0]:
            raise SpecError("increments", "from_price must be strictly ascending")
        tiers.append((start, inc))
    if tiers[0][0] != 0:
        raise SpecError("increments", "the first tier must start at 0")
    return tuple(tiers)


def _json_value(path: str, value: object, depth: int) -> Any:
    """A canonical copy of a JSON-like value: dict keys sorted, lists for sequences."""
    if depth > MAX_VEHICLE_DEPTH:
        raise SpecError(path, "nested too deeply")
    if value is None or type(value) in (bool, int, str):
        if type(value) is int and abs(value) > MAX_TIME_MS:
            raise SpecError(path, "integer out of range")
        return value
    if type(value) is float:
        if not math.isfinite(value):
            raise SpecError(path, "must be a finite number")
        return value
    if isinstance(value, Mapping):
        out = {}
        for key in sorted(value, key=lambda k: (not isinstance(k, str), str(k))):
            if not isinstance(key, str):
                raise SpecError(path, "keys must be strings")
            out[key] = _json_value(f"{path}.{key}", value[key], depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_json_value(path, item, depth + 1) for item in value]
    raise SpecError(path, f"unsupported value of type {type(value).__name__}")


def _json_size(value: Any) -> int:
    if isinstance(value, dict):
        return sum(len(k) + _json_size(v) for k, v in value.items()) + 2
    if isinstance(value, list):
        return sum(_json_size(v) for v in value) + 2
    return len(str(value)) + 2


@dataclass(frozen=True, slots=True, kw_only=True)
class LotSpec:
    lot: str
    title: str
    currency: str = "CNY"
    format: str = "english"
    mode: str = "timed"
    start_price: int
    reserve: int | None = None
    buy_now: int | None = None
    increments: Ladder = DEFAULT_LADDER
    duration_s: int | None = None
    starts_at: int | None = None
    anti_snipe: AntiSnipe | None = None
    fair_warning_s: int = 10
    auto_fair_warning_s: int | None = None
    dutch: DutchSpec | None = None
    vehicle: dict[str, Any] | None = field(default=None, hash=False, compare=True)
    counter_window_s: int | None = None  # how long a counter-offer stands; None: COUNTER_WINDOW_S
    approval_window_s: int | None = None  # how long the seller has to decide a close below the reserve; None: no limit

    def __post_init__(self) -> None:
        if not is_id(self.lot):
            raise SpecError("lot", f"must be an id: {ID_RULE}")
        if not isinstance(self.title, str) or not self.title.strip():
            raise SpecError("title", "must be a non-empty string")
        if len(self.title) > MAX_TITLE:
            raise SpecError("title", f"at most {MAX_TITLE} characters")
        if not isinstance(self.currency, str) or not _CURRENCY.fullmatch(self.currency):
            raise SpecError("currency", "must be a three-letter ISO 4217 code such as CNY")
        if self.format not in FORMATS:
            raise SpecError("format", f"must be one of {', '.join(FORMATS)}")
        if self.mode not in MODES:
            raise SpecError("mode", f"must be one of {', '.join(MODES)}")
        _money("start_price", self.start_price)
        if self.reserve is not None:
            _money("reserve", self.reserve, 1)
        if self.buy_now is not None:
            _money("buy_now", self.buy_now, 1)
            if self.reserve is not None and self.buy_now < self.reserve:
                raise SpecError("buy_now", "must be >= reserve")
            if self.buy_now < self.start_price:
                raise SpecError("buy_now", "must be >= start_price")
        object.__setattr__(self, "increments", _ladder(self.increments))
        if self.duration_s is not None:
            _int_in("duration_s", self.duration_s, 1, MAX_DURATION_S)
        if self.starts_at is not None:
            _int_in("starts_at", self.starts_at, 0, MAX_TIME_MS)
        if self.anti_snipe is not None and not isinstance(self.anti_snipe, AntiSnipe):
            raise SpecError("anti_snipe", "must be {window_s, extend_s, max_extensions}")
        _int_in("fair_warning_s", self.fair_warning_s, 1, 3600)
        if self.auto_fair_warning_s is not None:
            _int_in("auto_fair_warning_s", self.auto_fair_warning_s, 1, MAX_SECONDS)
        if self.dutch is not None and not isinstance(self.dutch, DutchSpec):
            raise SpecError("dutch", "must be {step, tick_s, floor}")
        if self.vehicle is not None:
            if not isinstance(self.vehicle, Mapping):
                raise SpecError("vehicle", "must be an object")
            vehicle = _json_value("vehicle", self.vehicle, 1)
            if _json_size(vehicle) > MAX_VEHICLE_CHARS:
                raise SpecError("vehicle", f"at most about {MAX_VEHICLE_CHARS} characters")
            problem = check_vehicle(vehicle)
            if problem is not None:
                raise SpecError(*problem)
            object.__setattr__(self, "vehicle", vehicle)
        if self.counter_window_s is not None:
            _int_in("counter_window_s", self.counter_window_s, 1, MAX_COUNTER_WINDOW_S)
        if self.approval_window_s is not None:
            _int_in("approval_window_s", self.approval_window_s, 1, MAX_COUNTER_WINDOW_S)
        self._check_combination()

    @property
    def report_version(self) -> int:
        """The condition report's version at creation: `vehicle.inspection.version`, else 1."""
        inspection = (self.vehicle or {}).get("inspection")
        version = inspection.get("version") if isinstance(inspection, dict) else None
        return version if type(version) is int else 1

    @property
    def counter_window_ms(self) -> int:
        """How long a counter-offer stands (docs/rules.md "Counter-offers")."""
        window = self.counter_window_s
        return (COUNTER_WINDOW_S if window is None else window) * 1000

    def _check_combination(self) -> None:
        timed = self.mode == "timed"
        if timed and self.duration_s is None:
            raise SpecError("duration_s", "required for a timed lot")
        if not timed:
            if self.format != "english":
                raise SpecError("mode", "live lots are english; sealed and dutch lots run on a clock")
            if self.duration_s is not None:
                raise SpecError("duration_s", "a live lot ends on the hammer, not on a duration")
        elif self.auto_fair_warning_s is not None:
            raise SpecError("auto_fair_warning_s", "only live lots have fair warning")
        if self.anti_snipe is not None and (self.format != "english" or not timed):
            raise SpecError("anti_snipe", "only timed english lots extend on late bids")
        if self.format == "dutch":
            if self.dutch is None:
                raise SpecError("dutch", "required for a dutch lot")
            if self.dutch.floor > self.start_price:
                raise SpecError("dutch.floor", "must be <= start_price")
            if self.reserve is not None:
                raise SpecError("reserve", "a dutch lot's minimum is dutch.floor")
            if self.buy_now is not None:
                raise SpecError("buy_now", "a dutch lot is itself a falling buy-now price")
        elif self.dutch is not None:
            raise SpecError("dutch", "only for format dutch")

    def vehicle_dict(self) -> dict[str, Any] | None:
        """A fresh canonical copy of the vehicle (keys sorted), safe to hand out."""
        return None if self.vehicle is None else _json_value("vehicle", self.vehicle, 1)

    @property
    def sealed(self) -> bool:
        return self.format == "sealed_first" or self.format == "sealed_second"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LotSpec:
        """Build from untrusted JSON-like input; raises SpecError naming the bad field."""
        if not isinstance(d, Mapping):
            raise SpecError("spec", "must be an object")
        for key in d:
            if key not in _FIELDS:
                raise SpecError(str(key)[:64], "unknown field")
        for key in ("lot", "title", "start_price"):
            if d.get(key) is None:
                raise SpecError(key, "required")
        kwargs = {k: v for k, v in d.items() if v is not None}
        if "anti_snipe" in kwargs:
            kwargs["anti_snipe"] = _sub(AntiSnipe, "anti_snipe", kwargs["anti_snipe"], ("window_s", "extend_s"))
        if "dutch" in kwargs:
            kwargs["dutch"] = _sub(DutchSpec, "dutch", kwargs["dutch"], ("step", "tick_s", "floor"))
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain data in a fixed key order; LotSpec.from_dict(spec.to_dict()) == spec."""
        a, du = self.anti_snipe, self.dutch
        return {
            "lot": self.lot,
            "title": self.title,
            "currency": self.currency,
            "format": self.format,
            "mode": self.mode,
            "start_price": self.start_price,
            "reserve": self.reserve,
            "buy_now": self.buy_now,
            "increments": [[start, inc] for start, inc in self.increments],
            "duration_s": self.duration_s,
            "starts_at": self.starts_at,
            "anti_snipe": None
            if a is None
            else {"window_s": a.window_s, "extend_s": a.extend_s, "max_extensions": a.max_extensions},
            "fair_warning_s": self.fair_warning_s,
            "auto_fair_warning_s": self.auto_fair_warning_s,
            "dutch": None if du is None else {"step": du.step, "tick_s": du.tick_s, "floor": du.floor},
            "vehicle": self.vehicle_dict(),
        } | ({} if self.counter_window_s is None else {"counter_window_s": self.counter_window_s}) | (
            {} if self.approval_window_s is None else {"approval_window_s": self.approval_window_s})


_FIELDS = frozenset(LotSpec.__dataclass_fields__)


def _sub(cls: type[Any], path: str, value: object, required: tuple[str, ...]) -> Any:
    if not isinstance(value, Mapping):
        raise SpecError(path, "must be an object")
    known = cls.__dataclass_fields__
    for key in value:
        if key not in known:
            raise SpecError(f"{path}.{str(key)[:64]}", "unknown field")
    for key in required:
        if value.get(key) is None:
            raise SpecError(f"{path}.{key}", "required")
    return cls(**{k: v for k, v in value.items() if v is not None})
