"""Recorded lot heads (`store/heads.py`): the SQL side's witness of how far each lot's log got."""

from auction_engine.store.heads import Head


async def test_a_lot_head_only_moves_forward(store):
    await store.record_head("L1", 5, "aa")
    await store.record_head("L1", 3, "bb")  # a late write of an older head changes nothing
    assert (await store.lot_heads())["L1"] == Head(5, "aa")
    await store.record_head("L1", 7, "cc")
    await store.record_head("L2", 1, "dd")
    assert await store.lot_heads() == {"L1": Head(7, "cc"), "L2": Head(1, "dd")}
