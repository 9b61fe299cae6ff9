"""The privacy property (SPEC invariant 10, seeds Impl_Privacy): random users build random worlds over HTTP, then
random viewers call every read route with random queries, and no byte of a message they may not read in full (its
unique marker word, its hash) ever comes back: not in thread views, not in search results, snippets or counts.
Search is also complete: a message a viewer may search is found by its marker. Rights come from
`choir_model.privacy` applied to the model's state, independently of the server's code paths."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from choir_model import CHOIR
from choir_model.privacy import View, can_search, role_of, view_of
from reference_backend.auth import dev_keypair
from reference_backend.client import ChoirApiError, ChoirClient
from reference_backend.clock import ManualClock
from reference_backend.config import BackendConfig
from reference_backend.server import ServerThread
from tests.backend.conftest import AUTHORITIES, T0

USERS = ("ann", "ben", "cat", "dov", "eve")
THREADS = ("t0", "t1", "t2")
PRIVACY = ("public", "premium", "thread_only")


class Server:
    def __init__(self, root: Path, workers: int) -> None:
        self.clock = ManualClock(T0)
        config = BackendConfig(data_dir=root / "data", manual_clock=T0, rate_limits={})
        self.thread = ServerThread(config, clock=self.clock, workers=workers).start()
        self.clients = {
            name: ChoirClient(self.thread.url, name, dev_keypair(name), clock=self.clock.now, sleep=lambda s: None)
            for name in USERS
        }
        for client in self.clients.values():
            client.register()
        self.admin = ChoirClient(self.thread.url, "treasury1", dev_keypair("treasury1"), clock=self.clock.now)

    def reset(self) -> None:
        self.admin.call("POST", "/v1/admin/reset")

    def close(self) -> None:
        for client in [*self.clients.values(), self.admin]:
            client.close()
        self.thread.stop()


@pytest.fixture(scope="module", params=[1, 2], ids=["one process", "two workers"])
def server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Server]:
    """The backend in one process, and with two HTTP worker processes (`choir serve --workers 2`)."""
    running = Server(tmp_path_factory.mktemp("privacy"), request.param)
    yield running
    running.close()


marker = st.text(string.ascii_lowercase, min_size=10, max_size=10).map(lambda s: "qz" + s)
action = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(USERS), st.sampled_from(THREADS), st.sampled_from(PRIVACY)),
    st.tuples(st.just("spec"), st.sampled_from(USERS), st.sampled_from(THREADS), st.sampled_from(PRIVACY)),
    st.tuples(st.just("public"), st.sampled_from(USERS), st.integers(0, 30)),
    st.tuples(st.just("vote"), st.sampled_from(USERS), st.integers(0, 30), st.booleans()),
)
world_plan = st.fixed_dictionaries(
    {
        "premium": st.sets(st.sampled_from(USERS)),
        "creators": st.lists(st.sampled_from(USERS), min_size=1, max_size=len(THREADS)),
        "actions": st.lists(action, min_size=4, max_size=24),
        "markers": st.lists(marker, min_size=24, max_size=24, unique=True),
        "queries": st.lists(st.sampled_from(["shared words", "zz", "a", "qz"]), max_size=2),
    }
)


def build(server: Server, plan: dict) -> dict[str, str]:
    """Run the plan; return marker -> content hash of every message that exists."""
    server.reset()
    for name in USERS:
        server.admin.set_premium(name, name in plan["premium"])
        server.clients[name].fund(name, 100 * CHOIR, AUTHORITIES)
    for thread_id, creator in zip(THREADS, plan["creators"], strict=False):
        server.clients[creator].create_thread(thread_id, 2 * CHOIR)
    written: list[tuple[str, str, str]] = []  # (marker, thread, hash)
    markers = iter(plan["markers"])
    for act in plan["actions"]:
        kind, user = act[0], server.clients[act[1]]
        server.clock.advance(1)
        try:
            if kind in ("write", "spec"):
                _, _, thread_id, privacy = act
                word = next(markers)
                text = f"shared words about {word} and more"
                if kind == "write":
                    result = user.submit_message(thread_id, text, privacy)
                else:
                    result = user.submit_spec(thread_id, text, CHOIR, privacy)
                written.append((word, thread_id, result.content_hash or ""))
            elif written and kind == "public":
                _, thread_id, content_hash = written[act[2] % len(written)]
                user.request_public(thread_id, content_hash)
            elif written and kind == "vote":
                _, thread_id, content_hash = written[act[2] % len(written)]
                user.approve(thread_id, content_hash, act[3])
        except ChoirApiError as error:
            assert error.status in (400, 403, 404, 409), error
    return {word: content_hash for word, _, content_hash in written}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=world_plan)
def test_no_unauthorised_byte_from_any_route(server: Server, plan: dict) -> None:
    hashes = build(server, plan)
    backend = server.thread.backend
    assert backend.wait_indexed(backend.journal_seq, 30)  # search is read-your-writes; others' writes come soon
    state = backend.model.state
    by_hash = {
        content_hash: (thread, thread.messages[content_hash])
        for thread in state.threads.values()
        for content_hash in thread.messages
    }
    assert set(hashes.values()) <= set(by_hash)
    for viewer, client in server.clients.items():
        premium = viewer in plan["premium"]
        full: set[str] = set()
        searchable: set[str] = set()
        for word, content_hash in hashes.items():
            thread, message = by_hash[content_hash]
            role = role_of(viewer, thread.co_authors, premium)
            is_author = message.author == viewer
            if view_of(role, message.privacy, message.state, is_author) is View.FULL:
                full.add(word)
            if can_search(role, message.privacy, message.state, is_author):
                searchable.add(word)
        assert searchable <= full
        forbidden = {w: hashes[w] for w in hashes if w not in full}
        bodies: list[bytes] = []
        for thread_id in THREADS:
            response = client.send("GET", f"/v1/thread/{quote(thread_id)}")
            assert response.status_code in (200, 404)
            bodies.append(response.content)
            if response.status_code == 200:
                view = response.json()["data"]
                shown = {m["content_hash"] for m in view["messages"] if m["view"] == "full"}
                assert shown == {h for w, h in hashes.items() if w in full and by_hash[h][0].thread_id == thread_id}
        queries = [*plan["markers"][:4], *plan["queries"], "shared words about"]
        for query in queries:
            for within in (None, THREADS[0]):
                params = {"q": query, "limit": 50, **({"thread_id": within} if within else {})}
                response = client.send("GET", "/v1/search", params=params)
                assert response.status_code == 200, response.text
                data = response.json()["data"]
                # The answer echoes the viewer's own query: those bytes came from the viewer, not from a message.
                bodies.append(json.dumps({**data, "query": None}).encode())
                assert data["count"] == len(data["results"])
                found = {hit["content_hash"] for hit in data["results"]}
                assert found <= {hashes[w] for w in searchable}, "a search returned a message the viewer may not search"
                if query in searchable and within in (None, by_hash[hashes[query]][0].thread_id):
                    assert hashes[query] in found, "search missed a message the viewer may search"
        bodies.append(client.send("GET", "/v1/wallet").content)
        everything = b"\n".join(bodies)
        for word, content_hash in forbidden.items():
            assert word.encode() not in everything, f"{viewer} received the text of a message they may not read"
            assert content_hash.encode() not in everything, f"{viewer} received the hash of a hidden message"
