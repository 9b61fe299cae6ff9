"""The routes end to end over HTTP: a whole Choir story, each SPEC error class and its status, the envelope on
every kind of answer, and strict request models."""

from __future__ import annotations

import json

import httpx
import pytest

from choir_model import CHOIR, Model
from choir_model.trace import parse_trace
from reference_backend.client import ChoirApiError
from reference_backend.content import content_hash
from reference_backend.errors import STATUS_OF
from tests.backend.conftest import World


def envelope_ok(body: dict) -> None:
    assert set(body) == {"data", "error", "metadata"}
    assert body["metadata"]["api_version"] == "v1"
    assert isinstance(body["metadata"]["request_id"], str)


def error_of(world: World, call) -> ChoirApiError:
    with pytest.raises(ChoirApiError) as info:
        call()
    return info.value


def test_a_whole_story_matches_the_model_replaying_the_journal(world: World) -> None:
    alice, bob, carol = world.client("alice"), world.client("bob"), world.client("carol")
    for name in ("alice", "bob", "carol"):
        world.fund(name, 100 * CHOIR)
    alice.create_thread("t1", 10 * CHOIR)
    note = alice.submit_message("t1", "alice writes freely", "thread_only")
    assert note.content_hash == content_hash("alice writes freely")
    world.clock.advance(60)
    spec = bob.submit_spec("t1", "bob proposes a change", 3 * CHOIR)
    alice.approve("t1", spec.content_hash, True)  # the only voter: settles, bob becomes a co-author
    view = bob.thread("t1")
    assert view.role == "co_author" and view.co_authors == ["alice", "bob"]
    world.clock.advance(60)
    public = alice.request_public("t1", note.content_hash)
    assert public.op == "request_public"
    bob.approve("t1", note.content_hash, False)  # bob denies: rejected
    denied = carol.submit_spec("t1", "carol's idea", CHOIR)
    world.clock.advance(7 * 24 * 3600)
    carol.expire("t1", denied.content_hash)
    world.clock.advance(24 * 3600)
    alice.divest("t1", CHOIR)
    assert carol.wallet().balance == 99 * CHOIR

    snapshot = world.client("treasury1", register=False).snapshot().model_dump()
    exported = world.backend.journal.path.parent / "trace.jsonl"
    assert world.backend.journal.export(exported) == world.backend.journal_seq
    model = Model()
    for step in parse_trace(exported.read_text().splitlines()):
        assert model.try_apply(step) is None
    assert model.snapshot() == snapshot
    messages = snapshot["messages"]
    assert messages[f"t1/{spec.content_hash}"]["state"] == "Public"
    assert messages[f"t1/{note.content_hash}"]["state"] == "Rejected"
    assert messages[f"t1/{denied.content_hash}"]["state"] == "Expired"


@pytest.mark.parametrize(
    ("name", "status"),
    [("StakeTooLow", 400), ("NotCoAuthor", 403), ("UnknownThread", 404), ("ThreadExists", 409),
     ("InsufficientFunds", 409), ("InvalidThreadId", 400), ("ContentTooLarge", 413)],
)  # fmt: skip
def test_spec_errors_come_back_with_their_name_code_and_status(world: World, name: str, status: int) -> None:
    alice, bob = world.client("alice"), world.client("bob")
    world.fund("alice")
    world.fund("bob")
    alice.create_thread("t1", 2 * CHOIR)
    calls = {
        "StakeTooLow": lambda: bob.submit_spec("t1", "cheap", CHOIR - 1),
        "NotCoAuthor": lambda: bob.submit_message("t1", "not mine to write"),
        "UnknownThread": lambda: bob.submit_spec("nope", "x", CHOIR),
        "ThreadExists": lambda: bob.create_thread("t1", 2 * CHOIR),
        "InsufficientFunds": lambda: bob.create_thread("t2", 10_000 * CHOIR),
        "InvalidThreadId": lambda: bob.create_thread("x" * 33, 2 * CHOIR),
        "ContentTooLarge": lambda: alice.submit_message("t1", "a" * (32 * 1024 + 1)),
    }
    seq = world.backend.journal_seq
    error = error_of(world, calls[name])
    assert (error.code, error.status) == (name, status)
    assert error.status == STATUS_OF[name]
    assert error.program_code is not None and error.program_code >= 6000
    assert world.backend.journal_seq == seq, "a refused operation must not be journaled"


def test_content_at_the_limit_is_accepted(world: World) -> None:
    world.fund("alice")
    alice = world.client("alice")
    alice.create_thread("t1", 2 * CHOIR)
    text = "é" * (32 * 1024 // 2)  # exactly the limit in UTF-8 bytes
    assert alice.submit_message("t1", text).content_hash == content_hash(text)


def test_every_answer_is_an_envelope(world: World) -> None:
    world.fund("alice")
    cases = []
    cases.append(world.send("GET", "/v1/health"))
    cases.append(world.send("GET", "/v1/no-such-route"))
    cases.append(world.send("GET", "/nowhere/at/all"))
    cases.append(world.send("DELETE", "/v1/search"))
    content, headers = world.signed("alice", "POST", "/v1/thread/create", raw=b'{"thread_id": "t1", "deposit": ')
    cases.append(world.send("POST", "/v1/thread/create", content, headers))
    statuses = [r.status_code for r in cases]
    assert statuses == [200, 404, 404, 405, 400]
    for response in cases:
        assert response.headers["content-type"].startswith("application/json")
        envelope_ok(response.json())
    assert cases[3].headers["allow"] == "GET"
    assert cases[4].json()["error"]["code"] == "ValidationError"


@pytest.mark.parametrize(
    "body",
    [
        {"thread_id": "t1", "deposit": False},  # no silent coercion of false into an integer
        {"thread_id": "t1", "deposit": "2000000000"},
        {"thread_id": "t1", "deposit": 2.0},
        {"thread_id": "t1", "deposit": -1},
        {"thread_id": "t1", "deposit": 2**64},
        {"thread_id": 7, "deposit": 2 * CHOIR},
        {"thread_id": "t1"},
        {"thread_id": "t1", "deposit": 2 * CHOIR, "extra": 1},
        [1, 2],
        "t1",
    ],
)
def test_strict_request_models_refuse_with_400(world: World, body: object) -> None:
    world.fund("alice")
    seq = world.backend.journal_seq
    content, headers = world.signed("alice", "POST", "/v1/thread/create", body)
    response = world.send("POST", "/v1/thread/create", content, headers)
    assert response.status_code == 400, response.text
    envelope_ok(response.json())
    assert response.json()["error"]["code"] == "ValidationError"
    assert world.backend.journal_seq == seq


def test_wrong_media_type_and_booleans_where_integers_go(world: World) -> None:
    world.fund("alice")
    content, headers = world.signed("alice", "POST", "/v1/thread/create", {"thread_id": "t1", "deposit": CHOIR})
    headers["content-type"] = "text/plain"
    assert world.send("POST", "/v1/thread/create", content, headers).status_code == 400
    vote = {"thread_id": "t1", "content_hash": "ab" * 32, "approve": 1}
    content, headers = world.signed("alice", "POST", "/v1/spec/approve", vote)
    answer = world.send("POST", "/v1/spec/approve", content, headers)
    assert answer.status_code == 400 and answer.json()["error"]["field"] == "approve"


def test_oversized_bodies_are_refused_before_they_are_read(world: World) -> None:
    limit = world.backend.config.max_body_bytes
    content, headers = world.signed("alice", "POST", "/v1/message/submit", raw=b"x" * (limit + 1))
    response = world.send("POST", "/v1/message/submit", content, headers)
    assert response.status_code == 413
    envelope_ok(response.json())
    assert response.json()["error"]["code"] == "ContentTooLarge"

    def chunks():
        yield b"x" * limit
        yield b"y"

    # A body without Content-Length (chunked) is counted as it arrives.
    response = httpx.post(world.url + "/v1/message/submit", content=chunks(), headers=headers, timeout=10)
    assert response.status_code == 413


def test_thread_ids_with_slashes_and_unicode_round_trip(world: World) -> None:
    world.fund("alice")
    alice = world.client("alice")
    for thread_id in ("a/b", "élan", "x y?z"):
        alice.create_thread(thread_id, CHOIR)
        assert alice.thread(thread_id).thread_id == thread_id
    error = error_of(world, lambda: alice.thread("missing"))
    assert (error.status, error.code) == (404, "UnknownThread")


def test_stake_quote_is_the_models_recommendation_for_co_authors_and_says_when_a_spec_fits(world: World) -> None:
    world.fund("alice")
    world.fund("bob")
    alice, bob = world.client("alice"), world.client("bob")
    alice.create_thread("q/1", 50 * CHOIR)
    quote, own = bob.stake_quote("q/1"), alice.stake_quote("q/1")
    model = Model(world.backend.config.params)
    params = model.params
    expected = model.economics.recommended_stake(50 * CHOIR, 1, params.unit, 0)
    public = model.economics.recommended_stake(params.min_thread_balance, 1, params.unit, 0)  # nothing private
    assert (own.thread_id, own.recommended_stake, own.basis, own.min_stake) == ("q/1", expected, "thread", CHOIR)
    assert (quote.thread_id, quote.recommended_stake, quote.basis) == ("q/1", public, "public")
    assert quote.open and not own.open  # a co-author cannot submit a spec
    bob.submit_spec("q/1", "bob's spec", quote.recommended_stake)
    assert not bob.stake_quote("q/1").open  # one pending spec per author and thread
    assert world.client("carol").stake_quote("q/1").open
    error = error_of(world, lambda: bob.stake_quote("missing"))
    assert (error.status, error.code) == (404, "UnknownThread")


def test_openapi_documents_every_route_and_status(world: World) -> None:
    document = world.send("GET", "/openapi.json").json()
    paths = document["paths"]
    for path in ("/v1/thread/create", "/v1/message/submit", "/v1/spec/approve", "/v1/thread/{thread_id}",
                 "/v1/search", "/v1/token/divest", "/v1/message/request-public", "/v1/message/expire",
                 "/v1/token/fund"):  # fmt: skip
        assert path in paths, path
    for path, methods in paths.items():
        for method, operation in methods.items():
            answers = operation["responses"]
            assert "422" not in answers, (path, method)
            assert "200" in answers
            if path != "/v1/health":
                assert {"400", "401", "403", "404", "409", "413", "429"} <= set(answers), (path, method)
                assert "Retry-After" in answers["429"]["headers"]
    assert json.dumps(document).count("HTTPValidationError") == 0
