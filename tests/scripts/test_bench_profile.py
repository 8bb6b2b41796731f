"""The bench's py-spy parser reads real collapsed stacks, and a stack split over two lines no longer
crashes `--profile-sale` (it did, with `int('(')`). Lines are copied from a sale-day profile of the
engine (`bench.py --quick --only sale --profile-sale --keep`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from _bench_profile import frame_label, hot_spots, stacks  # noqa: E402

WORKER = ("Thread._bootstrap (threading.py:1002);Thread._bootstrap_inner (threading.py:1045);Thread.run (threading.py:982);"
          "_connection_worker_thread (aiosqlite/core.py:59) 62")
RUNPY = ("_run_module_as_main (<frozen runpy>:198);_run_code (<frozen runpy>:88);<module> (auction_engine/cli.py:400);"
         "Runner.run (asyncio/runners.py:118) 36")
TRUNCATED = ("Connection.execute (sqlalchemy/engine/base.py:1494);"
             "ClauseElement._execute_on_connection (sqlalchemy/sql/elements.py:534);"
             "DefaultExecutionContext._init_compiled.<locals>.<listcomp> (sqlalchemy/engine/default.py:1669) 2")
# A code object whose filename holds a newline (exec/compile, or a torn read under --nonblocking):
# py-spy writes it as is, so the stack ends one line with " (" and goes on the next.
SPLIT = ("Runner.run (asyncio/runners.py:118);LotActor._process (auction_engine/actor.py:210);__init__ (\n"
         "generated:3) 2")


def test_real_lines_give_frames_and_counts() -> None:
    parsed = list(stacks("\n".join([WORKER, RUNPY, TRUNCATED])))
    assert [n for _, n in parsed] == [62, 36, 2]
    assert parsed[0][0][-1] == "_connection_worker_thread (aiosqlite/core.py:59)"
    assert parsed[1][0][0] == "_run_module_as_main (<frozen runpy>:198)"


@pytest.mark.parametrize(("frame", "label"), [
    ("_connection_worker_thread (aiosqlite/core.py:59)", "_connection_worker_thread (core.py)"),
    ("_run_module_as_main (<frozen runpy>:198)", "_run_module_as_main (<frozen runpy>)"),
    ("websocket_session.<locals>.app (starlette/routing.py:84)", "websocket_session.<locals>.app (routing.py)"),
    ("<module> (auction_engine/cli.py)", "<module> (cli.py)"),
    ("no parentheses at all", "no parentheses at all"),
])
def test_a_frame_is_labelled_by_function_and_file(frame: str, label: str) -> None:
    assert frame_label(frame) == label


def test_a_stack_split_over_two_lines_is_joined_not_raised() -> None:
    parsed = list(stacks("\n".join([WORKER, SPLIT, RUNPY])))
    assert [n for _, n in parsed] == [62, 2, 36]
    assert frame_label(parsed[1][0][-1]) == "__init__ ( generated)"


def test_a_trailing_fragment_without_count_is_skipped() -> None:
    assert [n for _, n in stacks(WORKER + "\nRunner.run (asyncio/runners.py:118);oops (")] == [62]


def test_hot_spots_give_self_and_inclusive_shares() -> None:
    spots = {s.function: s for s in hot_spots("\n".join([WORKER, RUNPY, TRUNCATED, SPLIT]))}
    assert spots["_connection_worker_thread (core.py)"].self_pct == pytest.approx(100 * 62 / 102)
    assert spots["Runner.run (runners.py)"].self_pct == pytest.approx(100 * 36 / 102)
    assert spots["Runner.run (runners.py)"].inclusive_pct == pytest.approx(100 * 38 / 102)
    assert hot_spots("") == []
