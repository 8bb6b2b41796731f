"""auction_engine/deadlines.py: many keepalive deadlines on one loop timer."""

from __future__ import annotations

import asyncio

from auction_engine.deadlines import RESOLUTION_S, deadlines


class Waiter:
    def __init__(self, name: str, fired: list[tuple[str, float]], fail: bool = False) -> None:
        self.name, self.fired, self.fail = name, fired, fail

    def deadline_passed(self) -> None:
        self.fired.append((self.name, asyncio.get_running_loop().time()))
        if self.fail:
            raise RuntimeError("a waiter that fails")


async def test_each_deadline_fires_once_in_order_within_the_resolution_and_a_removed_one_never() -> None:
    loop = asyncio.get_running_loop()
    fired: list[tuple[str, float]] = []
    started = loop.time()
    late, soon, gone, broken = (Waiter("late", fired), Waiter("soon", fired), Waiter("gone", fired),
                                Waiter("broken", fired, fail=True))
    deadlines().add(late, 0.35)
    deadlines().add(soon, 0.1)
    deadlines().remove(gone, deadlines().add(gone, 0.1))
    deadlines().add(broken, 0.1)  # its failure is logged; the others still fire
    await asyncio.sleep(0.35 + 3 * RESOLUTION_S)
    assert sorted(name for name, _ in fired) == ["broken", "late", "soon"]
    assert [name for name, _ in fired][-1] == "late"
    at = {name: when - started for name, when in fired}
    assert 0.1 <= at["soon"] < 0.1 + 2 * RESOLUTION_S
    assert 0.35 <= at["late"] < 0.35 + 2 * RESOLUTION_S
    assert not deadlines().slots and deadlines().timer is None  # nothing pending: no timer armed


async def test_ten_thousand_waiters_share_one_loop_timer() -> None:
    fired: list[tuple[str, float]] = []
    for i in range(10_000):
        deadlines().add(Waiter(str(i), fired), 0.05 + (i % 7) * 0.03)
    assert len(deadlines().slots) <= 8
    await asyncio.sleep(0.4)
    assert len(fired) == 10_000 and len({name for name, _ in fired}) == 10_000
