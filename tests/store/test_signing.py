import pytest

from auction_engine.store import sign_body, verify_signature


def test_known_vector():
    # HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), as published.
    body = b"The quick brown fox jumps over the lazy dog"
    assert sign_body("key", body) == "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"


def test_round_trip():
    body = b'{"lot":"L1"}'
    assert verify_signature("secret", body, sign_body("secret", body))
    assert verify_signature(b"secret", body, sign_body("secret", body))


@pytest.mark.parametrize(
    "secret, body, header",
    [
        ("other", b'{"lot":"L1"}', sign_body("secret", b'{"lot":"L1"}')),
        ("secret", b'{"lot":"L2"}', sign_body("secret", b'{"lot":"L1"}')),
        ("secret", b'{"lot":"L1"}', sign_body("secret", b'{"lot":"L1"}')[len("sha256=") :]),
        ("secret", b'{"lot":"L1"}', ""),
        ("secret", b'{"lot":"L1"}', None),
        ("secret", b'{"lot":"L1"}', "sha256=zz"),
        ("", b'{"lot":"L1"}', sign_body("", b'{"lot":"L1"}')),
    ],
)
def test_refuses(secret, body, header):
    assert not verify_signature(secret, body, header)
