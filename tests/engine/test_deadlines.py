"""auction_engine/deadlines.py: many keepalive deadlines on one loop timer."""

from __future__ import annotations

import asyncio

from auction_engine.deadlines import deadlines


class Waiter:
    def __init__(self, name: str, fired: list[tuple[str, float]], fail: bool = False) -> None:
        self.name, self.fired, self.fail = name, fired, fail

    def deadline_passed(self) -> None:
        self.fired.append((self.name, asyncio.get_running_loop().time()))
        if self.fail:
            raise RuntimeError("a waiter that fails")


async def until_fired(fired: list[tuple[str, float]], count: int, seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while len(fired) < count and loop.time() < deadline:
        await asyncio.sleep(0.02)


async def test_each_deadline_fires_once_never_early_in_order_and_a_removed_one_never() -> None:
    loop = asyncio.get_running_loop()
    fired: list[tuple[str, float]] = []
    started = loop.time()
    late, soon, gone, broken = (Waiter("late", fired), Waiter("soon", fired), Waiter("gone", fired),
                                Waiter("broken", fired, fail=True))
    deadlines().add(late, 0.35)
    deadlines().add(soon, 0.1)
    deadlines().remove(gone, deadlines().add(gone, 0.1))
    deadlines().add(broken, 0.1)  # its failure is logged; the others still fire
    await until_fired(fired, 3)
    await asyncio.sleep(0.2)  # anything more (a removed waiter, a second firing) would show by now
    assert sorted(name for name, _ in fired) == ["broken", "late", "soon"]
    assert [name for name, _ in fired][-1] == "late"
    at = {name: when - started for name, when in fired}
    assert at["soon"] >= 0.1 and at["late"] >= 0.35
    assert not deadlines().slots and deadlines().timer is None  # nothing pending: no timer armed


async def test_ten_thousand_waiters_share_a_few_slots_and_each_fires_once_never_early() -> None:
    loop = asyncio.get_running_loop()
    fired: list[tuple[str, float]] = []
    due: dict[str, float] = {}
    for i in range(10_000):
        delay = 0.05 + (i % 7) * 0.03
        due[str(i)] = loop.time() + delay
        deadlines().add(Waiter(str(i), fired), delay)
    assert len(deadlines().slots) < 50  # a few slots, not a timer each
    await until_fired(fired, 10_000)
    assert len(fired) == 10_000 and {name for name, _ in fired} == set(due)
    assert all(when >= due[name] for name, when in fired)
    assert not deadlines().slots
