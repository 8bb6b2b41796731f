"""The structured condition report of a vehicle (`vehicle.inspection` in a lot spec), checked
before a lot exists, so the lot page and the report page can show it without guarding each field.

Dealers read a car's report before they bid: the grade, the three checks a Chinese report always
answers (事故 accident, 泡水 flood, 火烧 fire), where the body is damaged (points on a 0-100 map of
the car seen from above), the tyres, the OBD fault codes, an EV battery's state of health, and when
and in which version the report was written. Every field is optional; a present one must be right.
"""

from __future__ import annotations

import re
from typing import Any

Problem = tuple[str, str]

CHECKS = ("accident", "flood", "fire")  # 事故 / 泡水 / 火烧: true = found
MAX_DAMAGE = 60
MAX_TYRES = 6
MAX_OBD = 50
MAX_TREAD_MM = 30
_OBD = re.compile(r"[PCBU][0-9A-F]{4}")  # SAE J2012, e.g. P0301
_DATE = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")
_SHORT_TEXT = 32


def _int(path: str, value: Any, lo: int, hi: int) -> Problem | None:
    if type(value) is not int or not lo <= value <= hi:
        return (path, f"must be an integer from {lo} to {hi}")
    return None


def _short(path: str, value: Any) -> Problem | None:
    if not isinstance(value, str) or not 0 < len(value) <= _SHORT_TEXT or any(ord(c) < 32 for c in value):
        return (path, f"must be 1 to {_SHORT_TEXT} printable characters")
    return None


def _checks(value: Any) -> Problem | None:
    path = "vehicle.inspection.checks"
    if not isinstance(value, dict) or set(value) - set(CHECKS):
        return (path, f"must be an object of booleans among {', '.join(CHECKS)}")
    for name, found in value.items():
        if type(found) is not bool:
            return (f"{path}.{name}", "must be true (found) or false (checked, not found)")
    return None


def _damage(value: Any) -> Problem | None:
    path = "vehicle.inspection.damage"
    if not isinstance(value, list) or len(value) > MAX_DAMAGE:
        return (path, f"must be a list of at most {MAX_DAMAGE} points {{part, kind, x, y}}")
    for i, point in enumerate(value):
        if not isinstance(point, dict):
            return (f"{path}.{i}", "must be an object {part, kind, x, y}")
        for key in ("part", "kind"):
            if problem := _short(f"{path}.{i}.{key}", point.get(key)):
                return problem
        for key in ("x", "y"):
            if problem := _int(f"{path}.{i}.{key}", point.get(key), 0, 100):
                return problem
    return None


def _tyres(value: Any) -> Problem | None:
    path = "vehicle.inspection.tyres"
    if not isinstance(value, list) or len(value) > MAX_TYRES:
        return (path, f"must be a list of at most {MAX_TYRES} tyres {{position, tread_mm}}")
    for i, tyre in enumerate(value):
        if not isinstance(tyre, dict):
            return (f"{path}.{i}", "must be an object {position, tread_mm}")
        if problem := _short(f"{path}.{i}.position", tyre.get("position")):
            return problem
        if problem := _int(f"{path}.{i}.tread_mm", tyre.get("tread_mm"), 0, MAX_TREAD_MM):
            return problem
    return None


def _obd(value: Any) -> Problem | None:
    path = "vehicle.inspection.obd_codes"
    if not isinstance(value, list) or len(value) > MAX_OBD:
        return (path, f"must be a list of at most {MAX_OBD} codes like P0301")
    for i, code in enumerate(value):
        if not isinstance(code, str) or not _OBD.fullmatch(code):
            return (f"{path}.{i}", "must be an OBD-II code like P0301")
    return None


def check_report(report: dict[str, Any]) -> Problem | None:
    """(field, message) for the first bad field of the structured report, or None."""
    if report.get("checks") is not None and (problem := _checks(report["checks"])):
        return problem
    if report.get("damage") is not None and (problem := _damage(report["damage"])):
        return problem
    if report.get("tyres") is not None and (problem := _tyres(report["tyres"])):
        return problem
    if report.get("obd_codes") is not None and (problem := _obd(report["obd_codes"])):
        return problem
    soh = report.get("battery_soh")  # an EV battery's state of health, percent
    if soh is not None and (problem := _int("vehicle.inspection.battery_soh", soh, 0, 100)):
        return problem
    date = report.get("report_date")
    if date is not None and (not isinstance(date, str) or not _DATE.fullmatch(date)):
        return ("vehicle.inspection.report_date", "must be a date YYYY-MM-DD")
    if report.get("version") is not None:
        return _int("vehicle.inspection.version", report["version"], 1, 1000)
    return None
