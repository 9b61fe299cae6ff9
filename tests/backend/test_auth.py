"""Signed requests: stale, replayed, forged and unsigned requests get 401 and change nothing (Impl_Security)."""

from __future__ import annotations

import pytest

from choir_model import CHOIR
from reference_backend.auth import COSIGN, NONCE, SIGNATURE, TIMESTAMP, dev_keypair, sign_headers
from reference_backend.client import ChoirApiError, ChoirClient, encode_body
from tests.backend.conftest import T0, World

CREATE = "/v1/thread/create"


def assert_refused(world: World, response, reason: str) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["data"] is None and body["error"]["code"] == "AuthError"
    assert reason in body["error"]["message"]
    assert "WWW-Authenticate" in response.headers


@pytest.fixture
def funded(world: World) -> World:
    world.fund("alice")
    world.client("mallory")
    return world


def state(world: World) -> tuple[int, dict]:
    return world.backend.journal_seq, world.backend.snapshot()


def test_a_valid_signature_is_accepted_once(funded: World) -> None:
    body = {"thread_id": "t1", "deposit": 2 * CHOIR}
    content, headers = funded.signed("alice", "POST", CREATE, body)
    assert funded.send("POST", CREATE, content, headers).status_code == 200
    before = state(funded)
    replay = funded.send("POST", CREATE, content, headers)
    assert_refused(funded, replay, "replayed")
    assert state(funded) == before


@pytest.mark.parametrize(
    "tamper",
    ["unsigned", "no_nonce", "stale_past", "stale_future", "body", "path", "method", "other_key", "unknown_user",
     "garbage_signature", "bad_nonce", "bad_timestamp"],
)  # fmt: skip
def test_tampered_requests_are_refused_and_change_nothing(funded: World, tamper: str) -> None:
    body = {"thread_id": "t1", "deposit": 2 * CHOIR}
    content, headers = funded.signed("alice", "POST", CREATE, body)
    method, path = "POST", CREATE
    reason = "forged"
    if tamper == "unsigned":
        headers = {"content-type": "application/json"}
        reason = "unsigned"
    elif tamper == "no_nonce":
        del headers[NONCE]
        reason = "unsigned"
    elif tamper in ("stale_past", "stale_future"):
        skew = funded.backend.config.max_skew + 1
        when = funded.clock.now() + (skew if tamper == "stale_future" else -skew)
        content, headers = funded.signed("alice", "POST", CREATE, body, timestamp=when)
        reason = "stale"
    elif tamper == "body":
        content = encode_body({"thread_id": "t1", "deposit": 3 * CHOIR})
    elif tamper == "path":
        path = "/v1/thread/create?x=1"
    elif tamper == "method":
        content, headers = funded.signed("alice", "PUT", CREATE, body)
    elif tamper == "other_key":
        headers[SIGNATURE] = sign_headers("POST", CREATE, content, "alice", dev_keypair("mallory"), funded.clock.now())[
            SIGNATURE
        ]
    elif tamper == "unknown_user":
        content, headers = funded.signed("zed", "POST", CREATE, body)
        reason = "unknown user"
    elif tamper == "garbage_signature":
        headers[SIGNATURE] = "not-base58!"
    elif tamper == "bad_nonce":
        headers[NONCE] = "short"
        reason = "malformed"
    elif tamper == "bad_timestamp":
        headers[TIMESTAMP] = "soon"
        reason = "malformed"
    before = state(funded)
    assert_refused(funded, funded.send(method, path, content, headers), reason)
    assert state(funded) == before


def test_a_user_cannot_sign_as_another(funded: World) -> None:
    body = {"thread_id": "t1", "deposit": 2 * CHOIR}
    content = encode_body(body)
    headers = sign_headers("POST", CREATE, content, "alice", dev_keypair("mallory"), funded.clock.now())
    headers["content-type"] = "application/json"
    before = state(funded)
    assert_refused(funded, funded.send("POST", CREATE, content, headers), "forged")
    assert state(funded) == before


def test_a_nonce_is_burnt_only_by_a_valid_signature(funded: World) -> None:
    """An attacker who copies alice's nonce with a bad signature must not make alice's real request a replay."""
    body = {"thread_id": "t1", "deposit": 2 * CHOIR}
    content, headers = funded.signed("alice", "POST", CREATE, body, nonce="shared-nonce-1234")
    forged = dict(headers, **{SIGNATURE: str(dev_keypair("mallory").sign_message(b"x"))})
    assert funded.send("POST", CREATE, content, forged).status_code == 401
    assert funded.send("POST", CREATE, content, headers).status_code == 200


def test_multisig_fund_counts_only_verified_authorities(funded: World) -> None:
    """The treasury moves only with enough authority co-signatures; a forged co-signature is a 401."""
    mallory = funded.client("mallory")
    with pytest.raises(ChoirApiError) as info:
        mallory.fund("mallory", CHOIR, [("treasury1", dev_keypair("treasury1"))])
    assert (info.value.status, info.value.code) == (403, "Unauthorized")
    with pytest.raises(ChoirApiError) as info:  # mallory signs in treasury2's name with her own key
        mallory.fund("mallory", CHOIR, [("treasury1", dev_keypair("treasury1")), ("treasury2", dev_keypair("mallory"))])
    assert (info.value.status, info.value.code) == (401, "AuthError")
    with pytest.raises(ChoirApiError) as info:  # the same authority twice is one signature
        mallory.fund("mallory", CHOIR, [("treasury1", dev_keypair("treasury1"))] * 2)
    assert info.value.code == "Unauthorized"
    assert mallory.wallet().balance == 0
    mallory.fund("mallory", CHOIR, [("treasury1", dev_keypair("treasury1")), ("treasury3", dev_keypair("treasury3"))])
    assert mallory.wallet().balance == CHOIR


def test_cosign_header_garbage_is_refused(funded: World) -> None:
    body = {"recipient": "alice", "amount": CHOIR}
    content, headers = funded.signed("alice", "POST", "/v1/token/fund", body)
    for garbage in ("treasury1", "=abc", "nobody=abc", "treasury1=abc"):
        response = funded.send("POST", "/v1/token/fund", content, dict(headers, **{COSIGN: garbage}))
        assert response.status_code == 401, garbage


def test_registration_binds_a_name_to_one_key(world: World) -> None:
    first = ChoirClient(world.url, "dana", dev_keypair("dana"), clock=world.clock.now)
    assert first.register().public_key == str(dev_keypair("dana").pubkey())
    assert first.register().name == "dana"  # idempotent with the same key
    thief = ChoirClient(world.url, "dana", dev_keypair("not dana"), clock=world.clock.now)
    with pytest.raises(ChoirApiError) as info:
        thief.register()
    assert (info.value.status, info.value.code) == (409, "NameTaken")
    authority = ChoirClient(world.url, "treasury1", dev_keypair("x"), clock=world.clock.now)
    with pytest.raises(ChoirApiError) as info:
        authority.register()
    assert info.value.code == "NameReserved"
    # Registration proves possession: a body naming one key signed by another is refused.
    body = {"name": "erin", "public_key": str(dev_keypair("erin").pubkey())}
    content = encode_body(body)
    headers = sign_headers("POST", "/v1/user/register", content, "erin", dev_keypair("mallory"), world.clock.now())
    headers["content-type"] = "application/json"
    assert world.send("POST", "/v1/user/register", content, headers).status_code == 401
    first.close()
    thief.close()
    authority.close()


def test_admin_routes_need_an_administrator(funded: World) -> None:
    with pytest.raises(ChoirApiError) as info:
        funded.client("alice").snapshot()
    assert (info.value.status, info.value.code) == (403, "AccessDenied")
    with pytest.raises(ChoirApiError):
        funded.client("alice").set_clock(0)
    assert funded.clock.now() != 0


def test_replay_protection_survives_a_restart(make_world, tmp_path) -> None:
    data = tmp_path / "kept"
    first = make_world(data_dir=data)
    first.fund("alice")
    content, headers = first.signed("alice", "POST", CREATE, {"thread_id": "t9", "deposit": 2 * CHOIR})
    assert first.send("POST", CREATE, content, headers).status_code == 200
    refused, refused_headers = first.signed("alice", "POST", CREATE, {"thread_id": "t8", "deposit": 5000 * CHOIR})
    assert first.send("POST", CREATE, refused, refused_headers).status_code == 409  # InsufficientFunds
    first.close()
    second = make_world(data_dir=data, start=T0 + 1)
    second.fund("alice", 10_000 * CHOIR)
    before = state(second)
    # Signed before the restart (at or below the replay floor): sign again. A request refused before the restart
    # stays refused too, even though it would succeed now.
    for body, signed in ((content, headers), (refused, refused_headers)):
        replayed = second.send("POST", CREATE, body, signed)
        assert (replayed.status_code, replayed.json()["error"]["code"]) == (503, "NotReady")
    assert state(second) == before
