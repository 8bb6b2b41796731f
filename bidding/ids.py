"""Identifiers: one pattern for every id that enters from outside (bidder, paddle, lot, bid id).

Ids end up in Redis keys inside a {hash tag}, in idempotency keys, in URLs, in file names and in
CSV cells, so they are plain: letters and digits (ASCII or CJK), then also `-`, `_`, `.`, `:`,
at most 64 characters. A control character, a space or a NUL can never be part of one, so no two
different (bidder, id) pairs can print or encode alike.
"""

from __future__ import annotations

import re

MAX_ID = 64

_FIRST = r"A-Za-z0-9\u3400-\u4dbf\u4e00-\u9fff"
ID_PATTERN = f"[{_FIRST}][{_FIRST}._:-]{{0,{MAX_ID - 1}}}"
_ID = re.compile(ID_PATTERN)

ID_RULE = f"1 to {MAX_ID} letters, digits or CJK characters, then also . _ : - (not first)"


def is_id(value: object) -> bool:
    """True for a string that is a valid id (see ID_RULE)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None
