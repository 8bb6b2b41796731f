"""Escrow signatures: purpose, time and nonce are signed; stale, foreign and replayed ones refused."""

import pytest
from redis.asyncio import Redis

from auction_engine.store import (
    PURPOSE_PAID,
    PURPOSE_SETTLEMENT,
    Reason,
    SignatureError,
    Signed,
    claim_nonce,
    sign,
    verify,
)
from auction_engine.store.signing import NONCE_TTL_MS, TOLERANCE_MS, nonce_key

NOW = 1_700_000_000_000
NONCE = "abcdefghijklmnop"
BODY = b'{"lot":"L1"}'


def refusal(secret, purpose, body, header, now_ms=NOW) -> Reason:
    with pytest.raises(SignatureError) as caught:
        verify(secret, purpose, body, header, now_ms=now_ms)
    return caught.value.reason


def test_the_signed_string_is_purpose_time_nonce_and_body_as_documented():
    # printf 'escrow.paid\n1700000000000\nabcdefghijklmnop\n{"lot":"L1"}' | openssl dgst -sha256 -hmac key
    digest = "d5e585ed5cf2c9c171b39ddc4f1ddd587f6e7e24b81465755efd907d61388cf9"
    assert sign("key", PURPOSE_PAID, BODY, now_ms=NOW, nonce=NONCE) == f"t={NOW},n={NONCE},v1={digest}"


def test_a_fresh_signature_verifies_and_names_its_time_and_nonce():
    header = sign("secret", PURPOSE_PAID, BODY, now_ms=NOW, nonce=NONCE)
    assert verify("secret", PURPOSE_PAID, BODY, header, now_ms=NOW) == Signed(NOW, NONCE)
    assert verify(b"secret", PURPOSE_PAID, BODY, header, now_ms=NOW + TOLERANCE_MS) == Signed(NOW, NONCE)
    assert verify("secret", PURPOSE_PAID, BODY, header, now_ms=NOW - TOLERANCE_MS) == Signed(NOW, NONCE)


def test_each_signature_gets_its_own_nonce():
    assert sign("secret", PURPOSE_PAID, BODY, now_ms=NOW) != sign("secret", PURPOSE_PAID, BODY, now_ms=NOW)


def test_the_engines_hand_off_signature_never_stands_for_a_paid_callback():
    handoff = sign("secret", PURPOSE_SETTLEMENT, BODY, now_ms=NOW)
    assert refusal("secret", PURPOSE_PAID, BODY, handoff) is Reason.BAD


@pytest.mark.parametrize("skew", [TOLERANCE_MS + 1, -TOLERANCE_MS - 1, 86_400_000])
def test_a_signature_more_than_five_minutes_off_either_way_is_stale(skew):
    header = sign("secret", PURPOSE_PAID, BODY, now_ms=NOW + skew)
    assert refusal("secret", PURPOSE_PAID, BODY, header) is Reason.STALE


@pytest.mark.parametrize(
    "secret, body",
    [("other", BODY), ("secret", b'{"lot":"L2"}'), ("", BODY)],
    ids=["another secret", "another body", "no secret"],
)
def test_another_secret_or_body_is_bad(secret, body):
    header = sign("secret", PURPOSE_PAID, BODY, now_ms=NOW)
    assert refusal(secret, PURPOSE_PAID, body, header) is Reason.BAD


@pytest.mark.parametrize("header", [None, "", "   "])
def test_no_header_is_missing(header):
    assert refusal("secret", PURPOSE_PAID, BODY, header) is Reason.MISSING


GOOD = sign("secret", PURPOSE_PAID, BODY, now_ms=NOW, nonce=NONCE)


@pytest.mark.parametrize(
    "header",
    [
        "sha256=" + "ab" * 32,  # the old scheme
        f"t={NOW},n={NONCE}",
        f"t={NOW},v1={'ab' * 32}",
        f"t={NOW},t={NOW},n={NONCE},v1={'ab' * 32}",
        f"t=-1,n={NONCE},v1={'ab' * 32}",
        f"t=1e12,n={NONCE},v1={'ab' * 32}",
        f"t={NOW},n=short,v1={'ab' * 32}",
        f"t={NOW},n={NONCE},v1={'AB' * 32}",
        f"t={NOW},n={NONCE},v1=zz",
        GOOD + ",extra=1",
        GOOD + "," + "x" * 600,
    ],
)
def test_anything_but_t_n_v1_is_malformed(header):
    assert refusal("secret", PURPOSE_PAID, BODY, header) is Reason.MALFORMED


def test_a_bidders_jwt_is_not_a_signature():
    from auction_engine.auth import TokenSigner

    token = TokenSigner("s" * 32).issue("bidder", "A", "101")
    header_payload, _, mac = token.rpartition(".")
    assert refusal("s" * 32, PURPOSE_PAID, header_payload.encode(), mac) is Reason.MALFORMED


async def test_a_nonce_is_accepted_once_across_the_whole_window(redis_url):
    redis = Redis.from_url(redis_url)
    try:
        signed = Signed(NOW, NONCE)
        await claim_nonce(redis, PURPOSE_PAID, signed)
        with pytest.raises(SignatureError) as caught:
            await claim_nonce(redis, PURPOSE_PAID, signed)
        assert caught.value.reason is Reason.REPLAYED
        ttl = await redis.pttl(nonce_key(PURPOSE_PAID, NONCE))
        assert 2 * TOLERANCE_MS < ttl <= NONCE_TTL_MS
        await claim_nonce(redis, PURPOSE_SETTLEMENT, signed)  # purposes keep separate books
    finally:
        await redis.aclose()
