"""clients/web/common.js keeps its own copy of what the browser must know of the wire: the close
code of a refused token and a message for every refusal. The copy is checked against the one
definition (auction_engine/frames.py for close codes, bidding/reasons.py for refusals), so a code
changed on the server fails here rather than in a bidder's browser."""

from __future__ import annotations

import re
from pathlib import Path

from auction_engine import frames
from bidding.reasons import Reason

COMMON_JS = Path(__file__).resolve().parent.parent / "clients" / "web" / "common.js"


def js_constants(source: str) -> dict[str, int]:
    """`const NAME = 1234;` lines of common.js."""
    return {name: int(value) for name, value in re.findall(r"^(?:export\s+)?const\s+([A-Z_]+)\s*=\s*(\d+)\s*;", source, re.M)}


def js_message_keys(source: str) -> set[str]:
    block = re.search(r"export const MESSAGES = \{(.*?)\n\};", source, re.S)
    assert block is not None, "common.js has no MESSAGES table"
    return set(re.findall(r"^\s*([a-z_]+):", block.group(1), re.M))


def test_every_close_code_the_browser_names_is_the_servers() -> None:
    copied = {name: code for name, code in js_constants(COMMON_JS.read_text()).items() if name.endswith("_CLOSE")}
    assert copied, "common.js names no close code"
    assert copied == {name: getattr(frames, name) for name in copied}
    assert copied["UNAUTHORIZED_CLOSE"] == frames.UNAUTHORIZED_CLOSE == 4401


def test_every_refusal_reason_has_a_message_in_the_browser() -> None:
    assert {reason.value for reason in Reason} <= js_message_keys(COMMON_JS.read_text())


def test_the_reader_sees_a_changed_copy() -> None:
    assert js_constants("const UNAUTHORIZED_CLOSE = 4400;\nexport const X_CLOSE = 7;\nlet Y = 1;") == {
        "UNAUTHORIZED_CLOSE": 4400, "X_CLOSE": 7}
