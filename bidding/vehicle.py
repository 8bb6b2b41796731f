"""The vehicle fields of a lot spec that the catalogue reads, checked before a lot exists.

The catalogue (`auction_engine/store/catalogue.py`) copies these fields into typed, bounded
columns; a lot whose `year` was "abc" was once created and then broke every catalogue write.
Each field here is optional (absent or null); other keys are kept as free-form description.
"""

from __future__ import annotations

import re
from typing import Any

from .inspection import check_report

MIN_YEAR, MAX_YEAR = 1886, 2100
MAX_MILEAGE_KM = 10_000_000
MAX_PHOTOS = 50
MAX_URL = 1000

_TEXT = {"vin": 32, "make": 64, "model": 128, "colour": 32, "color": 32, "location": 128}
_INTS = {"year": (MIN_YEAR, MAX_YEAR), "mileage_km": (0, MAX_MILEAGE_KM)}
# An absolute http(s) URL or a path on this server; never `javascript:` or `//host`.
_URL = re.compile(r"(?:https?://[^\s/?#]+|/(?!/))[^\s\x00-\x1f\x7f]*", re.IGNORECASE)

Problem = tuple[str, str]


def _text(path: str, value: Any, limit: int) -> Problem | None:
    if not isinstance(value, str):
        return (path, "must be a string")
    if len(value) > limit:
        return (path, f"at most {limit} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return (path, "must not contain control characters")
    return None


def _url(path: str, value: Any) -> Problem | None:
    if not isinstance(value, str) or len(value) > MAX_URL or not _URL.fullmatch(value):
        return (path, f"must be an http(s) URL or a path starting with /, at most {MAX_URL} characters")
    return None


def _inspection(value: Any) -> Problem | None:
    if not isinstance(value, dict):
        return ("vehicle.inspection", "must be an object {grade, report_url}")
    if value.get("grade") is not None and (problem := _text("vehicle.inspection.grade", value["grade"], 16)):
        return problem
    if value.get("report_url") is not None and (problem := _url("vehicle.inspection.report_url", value["report_url"])):
        return problem
    return check_report(value)


def _photos(value: Any) -> Problem | None:
    if not isinstance(value, list):
        return ("vehicle.photos", "must be a list of URLs")
    if len(value) > MAX_PHOTOS:
        return ("vehicle.photos", f"at most {MAX_PHOTOS} photos")
    for i, item in enumerate(value):
        if problem := _url(f"vehicle.photos.{i}", item):
            return problem
    return None


def check_vehicle(vehicle: dict[str, Any]) -> Problem | None:
    """(field, message) for the first bad field the catalogue reads, or None when all are good."""
    for name, limit in _TEXT.items():
        if vehicle.get(name) is not None and (problem := _text(f"vehicle.{name}", vehicle[name], limit)):
            return problem
    for name, (lo, hi) in _INTS.items():
        value = vehicle.get(name)
        if value is None:
            continue
        if type(value) is not int:
            return (f"vehicle.{name}", "must be an integer")
        if not lo <= value <= hi:
            return (f"vehicle.{name}", f"must be between {lo} and {hi}")
    if vehicle.get("inspection") is not None and (problem := _inspection(vehicle["inspection"])):
        return problem
    if vehicle.get("photos") is not None:
        return _photos(vehicle["photos"])
    return None
