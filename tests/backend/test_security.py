"""Attacks on the reference backend, each against a real server on 127.0.0.1 (a uvicorn thread of the test process,
or `choir serve` as a child process where a crash is part of the attack). Every attack states what the attacker
tries and checks that it is refused and that nothing changed.

Signatures (`reference_backend.auth`): a signature binds its sender; a co-signature binds the sender, the
operation, the body and the nonce, so the treasury's approval of one `fund` cannot be spent twice; every signed
request, read or write, REST or WebSocket, refused or accepted, is refused a second time, across restarts too.
"""

from __future__ import annotations

import errno
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner
from websockets.sync.client import connect

from choir.cli import app
from choir_model import CHOIR, Params
from reference_backend.auth import COSIGN, NONCE, USER, dev_keypair, sign_headers
from reference_backend.client import ChoirApiError, ChoirClient, encode_body
from reference_backend.config import RateLimit
from reference_backend.content import content_hash
from reference_backend.journal import JOURNAL_FILE
from reference_backend.server import ServerProcess
from reference_backend.ws import ws_auth_message
from tests.backend.conftest import AUTHORITIES, T0, World, WorldFactory

FUND = "/v1/token/fund"
CREATE = "/v1/thread/create"
WALLET = "/v1/wallet"
EXPIRE = "/v1/message/expire"


def code(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert body["data"] is None and set(body) == {"data", "error", "metadata"}, response.text
    return response.status_code, body["error"]["code"]


def ws_auth(url: str, frame: dict[str, Any]) -> dict[str, Any]:
    """Open /v1/ws, send one auth frame, return the server's first answer."""
    with connect(url.replace("http", "ws", 1) + "/v1/ws", open_timeout=10) as socket:
        socket.send(json.dumps(frame))
        return json.loads(socket.recv(timeout=10))


def cosigned_fund(world: World, sender: str, recipient: str, amount: int) -> tuple[bytes, dict[str, str]]:
    content = encode_body({"recipient": recipient, "amount": amount})
    headers = sign_headers("POST", FUND, content, sender, dev_keypair(sender), world.clock.now(), AUTHORITIES)
    headers["content-type"] = "application/json"
    return content, headers


# -- the treasury drain --------------------------------------------------------------------------------------------


def test_a_cosigned_fund_cannot_be_spent_by_another_sender(world: World) -> None:
    """The authorities co-sign one fund of 100 CHOIR to alice; alice re-sends the same bytes under fresh names."""
    world.client("alice")
    content, headers = cosigned_fund(world, "alice", "alice", 100 * CHOIR)
    assert world.send("POST", FUND, content, headers).status_code == 200
    before = world.backend.snapshot()
    for i in range(5):
        sybil = f"alice{i}"
        world.client(sybil)
        resigned = sign_headers(
            "POST", FUND, content, sybil, dev_keypair(sybil), world.clock.now(), nonce=headers[NONCE]
        )
        resigned[COSIGN] = headers[COSIGN]  # the authorities' approval, copied
        resigned["content-type"] = "application/json"
        answer = world.send("POST", FUND, content, resigned)
        assert code(answer) == (401, "AuthError") and "co-signature" in answer.json()["error"]["message"]
    assert world.backend.snapshot() == before
    assert world.client("alice").wallet().balance == 100 * CHOIR


@pytest.mark.parametrize("change", ["nonce", "recipient", "amount", "operation"])
def test_a_cosignature_binds_nonce_recipient_amount_and_operation(world: World, change: str) -> None:
    world.client("alice")
    world.client("bob")
    _, headers = cosigned_fund(world, "alice", "alice", 100 * CHOIR)
    body: dict[str, Any] = {"recipient": "alice", "amount": 100 * CHOIR}
    path = FUND
    if change == "recipient":
        body["recipient"] = "bob"
    elif change == "amount":
        body["amount"] = 1000 * CHOIR
    elif change == "operation":
        path, body = CREATE, {"thread_id": "t1", "deposit": 2 * CHOIR}
    forged_content = encode_body(body)
    forged = sign_headers("POST", path, forged_content, "alice", dev_keypair("alice"), world.clock.now())
    forged[COSIGN] = headers[COSIGN]
    forged["content-type"] = "application/json"
    answer = world.send("POST", path, forged_content, forged)
    assert code(answer) == (401, "AuthError")
    assert world.backend.journal_seq == 0


def test_a_cosignature_is_not_a_signature_of_the_cosigner(world: World) -> None:
    """treasury1's co-signature of alice's fund must not pass as treasury1 sending that request itself."""
    world.client("alice")
    content, headers = cosigned_fund(world, "alice", "alice", 100 * CHOIR)
    treasury1_cosignature = headers[COSIGN].split(",")[0].partition("=")[2]
    own = dict(headers, **{USER: "treasury1", "x-choir-signature": treasury1_cosignature})
    del own[COSIGN]
    assert code(world.send("POST", FUND, content, own)) == (401, "AuthError")


# -- replay --------------------------------------------------------------------------------------------------------


def test_reads_refusals_and_websocket_frames_are_refused_a_second_time(make_world: WorldFactory) -> None:
    world = make_world(rate_limits={"create_thread": RateLimit(1, window=10)})
    world.fund("alice")
    world.client("alice").create_thread("t0", 2 * CHOIR)
    read = world.signed("alice", "GET", WALLET)
    assert world.send("GET", WALLET, *read).status_code == 200
    limited = world.signed("alice", "POST", CREATE, {"thread_id": "t1", "deposit": 2 * CHOIR})
    assert code(world.send("POST", CREATE, *limited)) == (429, "RateLimited")
    frame = ws_auth_message("alice", dev_keypair("alice"), world.clock.now())
    assert ws_auth(world.url, frame)["type"] == "authenticated"
    world.clock.set(T0 + 11)  # the rate limit has passed: the captured request would now succeed
    before = world.backend.snapshot()
    for method, path, (content, headers) in (("GET", WALLET, read), ("POST", CREATE, limited)):
        answer = world.send(method, path, content, headers)
        assert code(answer) == (401, "AuthError") and "replayed" in answer.json()["error"]["message"]
    assert ws_auth(world.url, frame)["payload"]["code"] == "AuthenticationFailed"
    assert world.backend.snapshot() == before


def test_no_captured_request_is_accepted_again_after_a_restart(make_world: WorldFactory, tmp_path: Path) -> None:
    """Signed GETs, a write answered 429, WebSocket frames, some signed ahead of the server clock: a restarted server
    refuses every one of them (503 NotReady below its replay floor, 401 replayed above it)."""
    data = tmp_path / "kept"
    first = make_world(data_dir=data, rate_limits={"create_thread": RateLimit(1)})
    first.fund("alice")
    first.client("alice").create_thread("t0", 2 * CHOIR)
    ahead = T0 + 100  # signed ahead of the server clock (still within --max-skew)
    captured = []
    for ts in (T0, ahead):
        captured.append(("GET", WALLET, first.signed("alice", "GET", WALLET, timestamp=ts)))
        limited = first.signed("alice", "POST", CREATE, {"thread_id": f"t{ts}", "deposit": 2 * CHOIR}, timestamp=ts)
        captured.append(("POST", CREATE, limited))
    for method, path, (content, headers) in captured:
        assert first.send(method, path, content, headers).status_code in (200, 429)
    frames = [ws_auth_message("alice", dev_keypair("alice"), ts) for ts in (T0, ahead)]
    for frame in frames:
        assert ws_auth(first.url, frame)["type"] == "authenticated"
    first.close()

    second = make_world(data_dir=data, start=T0 + 1, rate_limits={})
    before = second.backend.snapshot()
    for method, path, (content, headers) in captured:
        answer = second.send(method, path, content, headers)
        ts = int(headers["x-choir-timestamp"])
        assert code(answer) == ((401, "AuthError") if ts > T0 else (503, "NotReady")), answer.text
    for frame in frames:
        assert ws_auth(second.url, frame)["type"] == "ErrorNotification"
    assert second.backend.snapshot() == before
    assert second.client("alice").wallet().balance == before["wallets"]["alice"]  # fresh requests still work


def test_requests_captured_before_a_sigkill_are_refused_after_the_restart(tmp_path: Path) -> None:
    """The real thing: `choir serve` on the system clock, killed with SIGKILL and started again. A signed GET and a
    create_thread answered 429 are replayed after the restart, when the rate limit no longer stands in the way."""
    args = ["--chain", "none", "--rate-limit", "create_thread=1"]
    server = ServerProcess(tmp_path / "data", args).start()
    try:
        alice = ChoirClient(server.url, "alice", dev_keypair("alice"))
        alice.register()
        alice.fund("alice", 10 * CHOIR, AUTHORITIES)
        alice.create_thread("t0", 2 * CHOIR)
        now = int(httpx.get(server.url + "/v1/health").json()["metadata"]["server_time"])
        content = encode_body({"thread_id": "t1", "deposit": 2 * CHOIR})
        create = sign_headers("POST", CREATE, content, "alice", dev_keypair("alice"), now)
        create["content-type"] = "application/json"
        read = sign_headers("GET", WALLET, b"", "alice", dev_keypair("alice"), now)
        assert code(httpx.post(server.url + CREATE, content=content, headers=create)) == (429, "RateLimited")
        assert httpx.get(server.url + WALLET, headers=read).status_code == 200
        server.crash_and_restart()
        replays = (httpx.post(server.url + CREATE, content=content, headers=create),
                   httpx.get(server.url + WALLET, headers=read))  # fmt: skip
        for replay in replays:
            assert code(replay) in ((401, "AuthError"), (503, "NotReady")), replay.text
        assert alice.wallet().balance == 8 * CHOIR
        alice.close()
    finally:
        server.stop()


def test_a_nonce_is_only_burnt_by_its_own_signer(world: World) -> None:
    """Mallory copies alice's nonce under his own name: alice's request still goes through."""
    world.fund("alice")
    world.client("mallory")
    content, headers = world.signed("alice", "POST", CREATE, {"thread_id": "t1", "deposit": 2 * CHOIR})
    copy = world.signed("mallory", "GET", WALLET, nonce=headers[NONCE])
    assert world.send("GET", WALLET, *copy).status_code == 200
    assert world.send("POST", CREATE, content, headers).status_code == 200


# -- invalid Unicode and rebuilds ----------------------------------------------------------------------------------

SURROGATE_BODIES = {
    "/v1/thread/create": '{"thread_id":"t\\ud800","deposit":2000000000}',
    "/v1/message/submit": '{"thread_id":"t1","content":"a \\udfff b"}',
    "/v1/message/request-public": '{"thread_id":"\\ud800","content_hash":"' + "ab" * 32 + '"}',
    "/v1/spec/approve": '{"thread_id":"\\ud800","content_hash":"' + "ab" * 32 + '","approve":true}',
    "/v1/token/divest": '{"thread_id":"\\udbff","amount":1}',
    "/v1/user/register": '{"name":"\\ud800","public_key":"' + str(dev_keypair("x").pubkey()) + '"}',
    "/v1/thread/t1/chorus": '{"prompt":"\\ud800"}',
}


@pytest.mark.parametrize("path", sorted(SURROGATE_BODIES))
def test_a_lone_surrogate_is_a_validation_error_that_reaches_no_writer(world: World, path: str) -> None:
    world.fund("alice")
    world.client("alice").create_thread("t1", 2 * CHOIR)
    model, seq = world.backend.model, world.backend.journal_seq
    signer = "x" if path == "/v1/user/register" else "alice"  # a registration is signed by the key it registers
    content, headers = world.signed(signer, "POST", path, raw=SURROGATE_BODIES[path].encode())
    answer = world.send("POST", path, content, headers)
    assert code(answer) == (400, "ValidationError"), answer.text
    assert world.backend.model is model and world.backend.journal_seq == seq  # no rebuild, nothing written


def test_a_lone_surrogate_in_a_websocket_frame_is_refused_and_the_session_lives(world: World) -> None:
    world.client("alice")
    with connect(world.url.replace("http", "ws", 1) + "/v1/ws", open_timeout=10) as socket:
        socket.send(json.dumps(ws_auth_message("alice", dev_keypair("alice"), world.clock.now())))
        assert json.loads(socket.recv(timeout=10))["type"] == "authenticated"
        for kind in ("subscribe", "unsubscribe"):
            socket.send('{"type":"' + kind + '","thread_id":"\\ud800"}')
            answer = json.loads(socket.recv(timeout=10))
            assert answer["payload"]["code"] == "ValidationError", answer
        socket.send('{"type":"subscribe","thread_id":"nope"}')
        assert json.loads(socket.recv(timeout=10))["type"] == "ErrorNotification"  # still served


def test_a_rebuild_never_makes_a_registered_user_unknown(world: World) -> None:
    """Signature checks read the user table without the state lock while the writer rebuilds it."""
    backend = world.backend
    names = [f"user{i:03d}" for i in range(300)]
    for name in names:
        world.client(name)
    missing: list[str] = []
    stop = threading.Event()

    def look() -> None:
        while not stop.is_set():
            missing.extend(name for name in (names[0], names[-1]) if backend.key_of(name) is None)

    reader = threading.Thread(target=look)
    reader.start()
    try:
        for _ in range(20):
            with backend.state_lock:
                backend._rebuild()
    finally:
        stop.set()
        reader.join()
    assert not missing


# -- side channels: what a refused request tells an outsider -------------------------------------------------------

SUBMIT = "/v1/message/submit"
PROBES = {"request-public": {}, "approve": {"approve": True}, "expire": {}}
PROBE_PATHS = {"request-public": "/v1/message/request-public", "approve": "/v1/spec/approve", "expire": EXPIRE}


def answer(world: World, user: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Status and error object of a signed request (everything its sender learns but the metadata)."""
    response = world.send("POST", path, *world.signed(user, "POST", path, body))
    return response.status_code, response.json()["error"]


def spec_probe(world: World, user: str, text: str, stake: int) -> tuple[int, dict[str, Any]]:
    return answer(world, user, SUBMIT, {"thread_id": "t1", "content": text, "stake": stake})


def message_probes(
    world: World, user: str, content_hash: str, names: tuple[str, ...] = tuple(PROBES)
) -> dict[str, tuple[int, dict[str, Any]]]:
    ref = {"thread_id": "t1", "content_hash": content_hash}
    return {name: answer(world, user, PROBE_PATHS[name], {**ref, **PROBES[name]}) for name in names}


@pytest.mark.parametrize(
    ("funds", "stake", "expected"),
    [(0, 0, "StakeTooLow"), (10 * CHOIR, 20 * CHOIR, "InsufficientFunds"), (10 * CHOIR, 0, "StakeTooLow")],
)
def test_a_zero_stake_spec_does_not_tell_an_outsider_whether_a_hidden_text_exists(
    world: World, funds: int, stake: int, expected: str
) -> None:
    """Mallory guesses the text of alice's thread-only note: the answer is the one a text never written gets."""
    world.fund("alice")
    alice = world.client("alice")
    alice.create_thread("t1", 2 * CHOIR)
    alice.submit_message("t1", "the secret plan", privacy="thread_only")
    world.client("mallory")
    if funds:
        world.fund("mallory", funds)
    seq = world.backend.journal_seq
    guessed = spec_probe(world, "mallory", "the secret plan", stake)
    never_written = spec_probe(world, "mallory", "a text nobody wrote", stake)
    assert guessed == never_written and guessed[1]["code"] == expected, (guessed, never_written)
    assert world.backend.journal_seq == seq


def test_a_premium_outsider_cannot_probe_a_public_thread_only_text_but_may_find_a_public_one(world: World) -> None:
    """A Public thread-only message is read as a summary without its hash; a public-level one in full, hash included."""
    world.fund("alice")
    alice = world.client("alice")
    alice.create_thread("t1", 2 * CHOIR)
    for text, privacy in (("summary only", "thread_only"), ("read by all", "public")):
        alice.request_public("t1", alice.submit_message("t1", text, privacy=privacy).content_hash)  # Public at once
    world.client("mallory")
    world.client("treasury1").set_premium("mallory")
    absent = spec_probe(world, "mallory", "never written", 0)
    assert spec_probe(world, "mallory", "summary only", 0) == absent
    assert spec_probe(world, "mallory", "read by all", 0)[1]["code"] == "DuplicateContent"  # known to every reader
    assert spec_probe(world, "alice", "summary only", 0)[1]["code"] == "AlreadyCoAuthor"


def test_an_accepted_if_absent_spec_on_a_hidden_text_is_the_documented_limit(world: World) -> None:
    """Funded and eligible, mallory would have been accepted: one hash is one message, so the refusal says the text
    exists (as the message PDA does on a public cluster; the fix is a salted commitment, spec section 10.1)."""
    world.fund("alice")
    world.client("alice").create_thread("t1", 2 * CHOIR)
    world.client("alice").submit_message("t1", "the secret plan", privacy="thread_only")
    world.fund("mallory", 10 * CHOIR)
    assert spec_probe(world, "mallory", "the secret plan", CHOIR)[1]["code"] == "DuplicateContent"


def test_request_public_approve_and_expire_tell_an_outsider_nothing_of_a_hidden_message(world: World) -> None:
    """Mallory probes the hash of carol's pending spec and of alice's private note, before they exist and in every
    state they pass through: every answer is the one an unknown hash gets. Carol, the spec's author, and alice are
    answered in full."""
    world.fund("alice")
    alice = world.client("alice")
    alice.create_thread("t1", 2 * CHOIR)
    world.fund("carol")
    world.client("mallory")
    proposal, note = content_hash("carol's proposal"), content_hash("alice's note")
    before = {h: message_probes(world, "mallory", h) for h in (proposal, note)}
    assert all(a[1]["code"] == "UnknownMessage" for probes in before.values() for a in probes.values())

    world.client("carol").submit_spec("t1", "carol's proposal", 2 * CHOIR, privacy="thread_only")  # Pending
    alice.submit_message("t1", "alice's note")  # Private, public level
    assert {h: message_probes(world, "mallory", h) for h in (proposal, note)} == before
    assert message_probes(world, "carol", proposal)["request-public"][1]["code"] == "StateConflict"
    assert message_probes(world, "alice", note)["expire"][1]["code"] == "StateConflict"

    world.clock.set(T0 + Params().approval_window)  # the deadline: too late to vote, not yet expired by mallory
    votes = ("request-public", "approve")
    assert message_probes(world, "mallory", proposal, votes) == {name: before[proposal][name] for name in votes}
    assert answer(world, "mallory", EXPIRE, {"thread_id": "t1", "content_hash": proposal}) == (200, None)  # a crank
    assert message_probes(world, "mallory", proposal) == before[proposal]  # Expired, still unknown to mallory


def test_an_outsiders_stake_quote_does_not_invert_to_the_balance(world: World) -> None:
    """Two threads of one age, 2 and 200 CHOIR: a co-author is quoted each as it is, an outsider the same for both,
    from the public metadata only; a divestment changes the co-author's quote, not the outsider's."""
    world.fund("alice")
    alice = world.client("alice")
    alice.create_thread("small", 2 * CHOIR)
    alice.create_thread("large", 200 * CHOIR)
    mallory = world.client("mallory")
    outsider = {t: mallory.stake_quote(t) for t in ("small", "large")}
    insider = {t: alice.stake_quote(t) for t in ("small", "large")}
    assert outsider["small"].recommended_stake == outsider["large"].recommended_stake
    assert {q.basis for q in outsider.values()} == {"public"} and {q.basis for q in insider.values()} == {"thread"}
    model = world.backend.model
    assert [insider[t].recommended_stake for t in ("small", "large")] == [
        model.recommended_stake(t, T0) for t in ("small", "large")
    ]
    assert insider["small"].recommended_stake != insider["large"].recommended_stake
    alice.divest("large", 100 * CHOIR)
    assert mallory.stake_quote("large").recommended_stake == outsider["large"].recommended_stake
    assert alice.stake_quote("large").recommended_stake != insider["large"].recommended_stake


# -- a damaged data directory, a full disk ------------------------------------------------------------------------


def populated(make_world: WorldFactory, data: Path) -> None:
    world = make_world(data_dir=data)
    world.fund("alice")
    alice = world.client("alice")
    alice.create_thread("t1", 2 * CHOIR)
    for i in range(40):
        alice.submit_message("t1", f"note {i} " + "words " * 200)
    world.close()


def damage(data: Path, kind: str) -> None:
    path = data / JOURNAL_FILE
    if kind == "truncated":
        size = path.stat().st_size
        with open(path, "r+b") as handle:
            handle.truncate(size // 2)
        return
    db = sqlite3.connect(path)
    if kind == "zeroed content page":
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'content'").fetchone()[0]
        db.close()
        with open(path, "r+b") as handle:
            handle.seek((root - 1) * page_size)
            handle.write(b"\0" * page_size)
        return
    statements = {
        "edited row": "UPDATE journal SET line = replace(line, '\"deposit\":2000000000', '\"deposit\":9000000000000')",
        "seq gap": "DELETE FROM journal WHERE seq = 3",
        "deleted content": "DELETE FROM content WHERE rowid = (SELECT MIN(rowid) FROM content)",
        "altered content": "UPDATE content SET text = text || '!' WHERE rowid = (SELECT MAX(rowid) FROM content)",
    }
    db.execute(statements[kind])
    db.commit()
    db.close()


DAMAGE = {
    "truncated": "journal",
    "zeroed content page": "damaged",
    "edited row": "does not replay",
    "seq gap": "row 3 is missing",
    "deleted content": "is missing from the content table",
    "altered content": "no longer hashes",
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_a_damaged_data_directory_is_refused_at_start_naming_the_part_and_the_fix(
    make_world: WorldFactory, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    populated(make_world, data)
    damage(data, kind)

    def serve_anyway(self: object) -> None:
        raise AssertionError("choir serve started on a damaged data directory")

    monkeypatch.setattr(uvicorn.Server, "run", serve_anyway)
    result = CliRunner().invoke(app, ["serve", "--data", str(data), "--chain", "none"])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert DAMAGE[kind] in message and "restore the data directory from a backup" in message, message
    assert "Traceback" not in result.output


class FullDisk:
    """The writer's SQLite connection, on a disk that fills up at COMMIT: SQLite rolls the transaction back itself
    (SQLITE_FULL) and reports "database or disk is full"."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT":
            self.connection.execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")
        return self.connection.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connection, name)


def test_a_full_disk_is_a_503_naming_it_and_health_degrades_until_writes_succeed(world: World) -> None:
    world.fund("alice")
    alice = world.client("alice")
    journal = world.backend.journal
    real = journal._writer
    journal._writer = FullDisk(real)  # type: ignore[assignment]
    try:
        content, headers = world.signed("alice", "POST", CREATE, {"thread_id": "t1", "deposit": 2 * CHOIR})
        answer = world.send("POST", CREATE, content, headers)
        assert code(answer) == (503, "StorageUnavailable")
        assert "the disk is full" in answer.json()["error"]["message"]
        health = httpx.get(world.url + "/v1/health").json()["data"]
        assert health["status"] == "degraded" and "disk is full" in health["reason"]
        assert alice.wallet().balance == 1000 * CHOIR  # reads still work, nothing changed
    finally:
        journal._writer = real
    alice.create_thread("t1", 2 * CHOIR)
    assert httpx.get(world.url + "/v1/health").json()["data"]["status"] == "ok"


def test_an_enospc_while_writing_names_the_full_disk(world: World) -> None:
    world.fund("alice")
    journal = world.backend.journal

    class Enospc(FullDisk):
        def executemany(self, sql: str, rows: Any) -> Any:
            raise OSError(errno.ENOSPC, "No space left on device")

    real = journal._writer
    journal._writer = Enospc(real)  # type: ignore[assignment]
    try:
        with pytest.raises(ChoirApiError) as refused:
            world.client("alice").create_thread("t1", 2 * CHOIR)
    finally:
        journal._writer = real
    assert refused.value.status == 503 and "the disk is full" in refused.value.message
    assert not real.in_transaction


# -- every error in the envelope -----------------------------------------------------------------------------------


def test_a_trailing_slash_and_a_deeply_nested_body_answer_in_the_envelope(world: World) -> None:
    world.client("alice")
    answer = world.send("GET", WALLET + "/", *world.signed("alice", "GET", WALLET + "/"))
    assert code(answer) == (404, "NotFound")
    long_path = "/v1/" + "a" * 5000
    answer = world.send("GET", long_path, *world.signed("alice", "GET", long_path))
    assert code(answer) == (404, "NotFound") and len(answer.json()["error"]["message"]) < 300  # not echoed whole
    nested = ("[" * 100_000 + "]" * 100_000).encode()
    content, headers = world.signed("alice", "POST", CREATE, raw=nested)
    assert code(world.send("POST", CREATE, content, headers)) == (400, "ValidationError")


# -- choir serve's input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    ['{"treasury_authorities":"abc"}', '{"min_stake":1.5}', '{"decimals":30}', '{"max_pending":true}',
     '{"treasury_authorities":[]}', '{"treasury_threshold":4}', '{"approval_window":-1}'],
)  # fmt: skip
def test_serve_refuses_params_the_model_cannot_hold(params: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--data", str(tmp_path / "d"), "--chain", "none", "--params", params])
    assert result.exit_code == 2 and "params" in result.output and "Traceback" not in result.output, result.output


def test_export_trace_refuses_a_data_directory_without_a_journal(tmp_path: Path) -> None:
    out = tmp_path / "trace.jsonl"
    result = CliRunner().invoke(app, ["serve", "--data", str(tmp_path / "typo"), "--export-trace", str(out)])
    assert result.exit_code == 2 and "holds no journal" in " ".join(result.output.split())
    assert not out.exists() and not (tmp_path / "typo").exists()
