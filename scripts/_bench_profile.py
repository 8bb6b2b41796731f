"""Hot spots from py-spy's raw (collapsed) stacks: `frame;frame;...;frame COUNT`, one stack a line.

A frame is `name (path:line)`, or `name (path)` without a line number. The parser trusts only the
trailing ` COUNT`: a path or a name may hold spaces, parentheses or `;`, and a code object made by
exec/compile may carry a newline in its filename, which splits one stack over two lines (that is what
crashed `--profile-sale` with `int('(')`). Such a line is joined to the next; anything left without
a count is reported as skipped, never raised.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterator
from dataclasses import dataclass

_STACK = re.compile(r"^(?P<stack>.*\S) (?P<count>\d+)$", re.DOTALL)
_FRAME = re.compile(r"^(?P<name>.*?) \((?P<path>.*?)(?::\d+)?\)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class HotSpot:
    function: str
    self_pct: float
    inclusive_pct: float


def stacks(text: str) -> Iterator[tuple[list[str], int]]:
    """(frames, samples) per stack; a line without a trailing count continues on the next line."""
    pending = ""
    for line in text.splitlines():
        candidate = f"{pending}\n{line}" if pending else line
        match = _STACK.match(candidate)
        if match is None:
            pending = candidate
            continue
        pending = ""
        yield match["stack"].split(";"), int(match["count"])


def frame_label(frame: str) -> str:
    """`name (file.py)`: the line number and directories dropped so one function is one row."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["path"].replace("\n", " ")
    return f"{match['name']} ({path.rsplit('/', 1)[-1]})"


def hot_spots(text: str, top: int = 15) -> list[HotSpot]:
    """The `top` functions by self time, with their inclusive share, in percent of all samples."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for frames, n in stacks(text):
        labels = [frame_label(f) for f in frames]
        total += n
        own[labels[-1]] += n
        for label in set(labels):
            incl[label] += n
    if not total:
        return []
    return [HotSpot(f, 100 * n / total, 100 * incl[f] / total) for f, n in own.most_common(top)]
