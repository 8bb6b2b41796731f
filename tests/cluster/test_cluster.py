"""cluster.py's own pieces: answers as a forwarded command carries them, both ways, and what a
node that hears of no owner answers. (Nodes, replicas and forwarding end to end are in
test_engine_nodes.py, with real processes.)"""

from __future__ import annotations

import pytest

from auction_engine.answers import Ack, Applied, Refusal, Unwritten
from auction_engine.frames import answer_of, answer_record, pack_answer, unpack_answer
from bidding.reasons import Reason


@pytest.mark.parametrize("answer", [
    Ack("L1", "b1", 7, True, 120_000, 150_000),
    Ack("L1", "b2", 8, False, 121_000, None),
    Refusal("L1", "b3", Reason.TOO_LOW, 122_000),
    Refusal("L1", None, Reason.NOT_ALLOWED),
    Applied(9, "opened"),
    Unwritten("the lot moved"),
])
def test_every_answer_crosses_the_mailbox_and_the_id_index_unchanged(answer: object) -> None:
    assert answer_of(answer_record(answer)) == answer  # type: ignore[arg-type]
    assert unpack_answer(pack_answer(answer)) == answer  # type: ignore[arg-type]


def test_no_answer_and_a_nodes_error_are_unwritten_so_the_client_retries_with_the_same_id() -> None:
    assert isinstance(answer_of(None), Unwritten)
    assert answer_of({"type": "error", "code": "unavailable", "message": "boom"}) == Unwritten("boom")
