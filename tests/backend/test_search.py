"""Content and search: deterministic feature hashing (one-character tokens kept), summaries that quote nothing,
both index engines (the embedded one and the qdrant-client path) filtering privacy inside the engine, ranking
alike and keeping their watermark, and search over HTTP by role."""

from __future__ import annotations

import dataclasses
import os
import random
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from choir_model import CHOIR
from choir_model.privacy import Role, View, can_search
from choir_model.state import MessageState, Privacy
from reference_backend.content import StatisticsSummarizer, content_hash
from reference_backend.embedding import HashingEmbedder, make_embedder, tokens
from reference_backend.search import Audience, IndexDoc, MessageIndex, StateChange, TextVectors
from reference_backend.search_edge import EdgeIndex
from reference_backend.search_server import ServerIndex
from tests.backend.conftest import World


def test_hashing_is_deterministic_across_processes() -> None:
    """Python's own `hash` is salted per process; the embedder must not depend on it."""
    here = HashingEmbedder().embed("Choir threads: ω and x, again x")
    code = "from reference_backend.embedding import HashingEmbedder;import sys;" \
           "sys.stdout.write(HashingEmbedder().embed('Choir threads: ω and x, again x').tobytes().hex())"  # fmt: skip
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert np.array_equal(np.frombuffer(bytes.fromhex(out), dtype=np.float32), here)
    assert abs(float(np.linalg.norm(here)) - 1.0) < 1e-6


def test_a_shared_word_always_scores_above_zero() -> None:
    """Unsigned hashing: collisions never cancel a word the query and the message share (search recall)."""
    embedder = HashingEmbedder(16)  # tiny, so collisions are everywhere
    rng = random.Random(5)
    for _ in range(300):
        words = ["".join(rng.choices("abcdefgh", k=rng.randint(1, 4))) for _ in range(rng.randint(1, 12))]
        word = rng.choice(words)
        assert float(embedder.embed(word) @ embedder.embed(" ".join(words))) > 0


def test_one_character_tokens_are_kept() -> None:
    assert tokens("x y Ω 7 ab") == ["x", "y", "ω", "7", "ab"]
    embedder = HashingEmbedder()
    assert embedder.embed("x").any()
    assert not embedder.embed("!!! ...").any()
    query = embedder.embed("x")
    for text in ("x marks the spot", "a b x", "x"):
        assert float(query @ embedder.embed(text)) > float(query @ embedder.embed(text.replace("x", "y"))) + 0.2


def test_optional_sentence_embedder_fails_clearly_offline() -> None:
    with pytest.raises(RuntimeError, match="sentence-transformers"):
        make_embedder("sentence-transformers:all-MiniLM-L6-v2")
    with pytest.raises(ValueError):
        make_embedder("word2vec")


def test_summaries_quote_nothing_and_lose_detail_by_level() -> None:
    rng = random.Random(3)
    words = ["".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(7)) for _ in range(40)]
    text = " ".join(words) + ". " + " ".join(words[:5]) + "!"
    summarizer = StatisticsSummarizer()
    levels = [View.DETAILED_SUMMARY, View.LIMITED_SUMMARY, View.MINIMAL_SUMMARY]
    summaries = [summarizer.summarize(text, Privacy.PREMIUM, level) for level in levels]
    for summary in summaries:
        assert not any(word in summary for word in words)
    assert "45 words in 2 sentences" in summaries[0]
    assert "about 40 words" in summaries[1]
    assert summaries[2] == "A premium message."
    with pytest.raises(ValueError):
        summarizer.summarize(text, Privacy.PUBLIC, View.FULL)


ENGINES = ("edge", "server")


@contextmanager
def engine(kind: str, root: Path, embedder: HashingEmbedder | None = None) -> Iterator[MessageIndex]:
    """An index on the embedded engine, or through qdrant-client on its local mode: no Qdrant server binary is
    available to the tests, so local mode stands in for the server and checks the qdrant-client path."""
    vectors = TextVectors(embedder)
    with warnings.catch_warnings():  # local mode says its payload indexes do nothing (a server's do)
        warnings.filterwarnings("ignore", "Payload indexes have no effect")
        index: MessageIndex = (
            EdgeIndex(vectors, root) if kind == "edge" else ServerIndex(vectors, client=QdrantClient(path=str(root)))
        )
    try:
        yield index
    finally:
        index.close()


def random_docs(rng: random.Random, count: int) -> list[IndexDoc]:
    vocabulary = [f"w{n}" for n in range(60)]
    docs = []
    for n in range(count):
        text = " ".join(rng.choices(vocabulary, k=rng.randint(1, 12)))
        docs.append(IndexDoc(f"t{n % 9}", content_hash(f"{n} {text}"), f"u{n % 5}", rng.choice(list(Privacy)).value,
                             rng.choice(list(MessageState)).value, n, text))  # fmt: skip
    return docs


def may_search(doc: IndexDoc, audience: Audience) -> bool:
    """The reference: `choir_model.privacy.can_search` for a viewer with this audience (not the author)."""
    if audience.within not in (None, doc.thread_id):
        return False
    role = Role.CO_AUTHOR if doc.thread_id in audience.threads else audience.role
    return can_search(role, Privacy(doc.privacy), MessageState(doc.state))


def test_authorship_never_adds_search() -> None:
    """The index payload does not name the author, which is right only while `can_search` ignores authorship."""
    for role in Role:
        for privacy in Privacy:
            for state in MessageState:
                assert can_search(role, privacy, state, True) == can_search(role, privacy, state, False)


@pytest.mark.parametrize("kind", ENGINES)
def test_engine_filters_privacy_inside_and_finds_every_match(kind: str, tmp_path: Path) -> None:
    """With a limit above the number of matches, a search returns exactly the messages the audience may search
    (`choir_model.privacy`) that share a word with the query, ranked by BM25; state changes move messages in and
    out; a change for a message not indexed is skipped."""
    rng = random.Random(7)
    docs = random_docs(rng, 300)
    with engine(kind, tmp_path) as index:
        index.write(docs[:200], [], 1)
        index.write(docs[200:], [StateChange(d.thread_id, d.content_hash, d.privacy, "Public") for d in docs[:50]], 2)
        index.write([], [StateChange("t0", "ab" * 32, "public", "Public")], 3)
        live = {(d.thread_id, d.content_hash): d for d in docs}
        for d in docs[:50]:
            live[(d.thread_id, d.content_hash)] = dataclasses.replace(d, state="Public")
        threads = sorted({d.thread_id for d in docs})
        for _ in range(40):
            role = rng.choice([Role.PUBLIC, Role.PREMIUM])
            audience = Audience(role, frozenset(rng.sample(threads, rng.randint(0, 3))), rng.choice([None, *threads]))
            words = set(rng.choices([f"w{n}" for n in range(60)], k=rng.randint(1, 3)))
            found = index.search(" ".join(sorted(words)), audience, 400)
            expected = {key for key, d in live.items() if may_search(d, audience) and words & set(d.text.split())}
            assert {(c.thread_id, c.content_hash) for c in found} == expected
            assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)
            assert all(c.score > 0 for c in found)
        assert index.search("!!! ...", Audience(Role.PREMIUM, frozenset(threads)), 10) == []


def test_both_engines_rank_alike(tmp_path: Path) -> None:
    """The embedded engine and the qdrant-client path give the same BM25 scores (and the same hybrid hits)."""
    rng = random.Random(11)
    docs = random_docs(rng, 200)
    for embedder in (None, HashingEmbedder(64)):
        with engine("edge", tmp_path / f"e{embedder is None}", embedder) as edge, \
                engine("server", tmp_path / f"s{embedder is None}", embedder) as server:  # fmt: skip
            edge.write(docs, [], 1)
            server.write(docs, [], 1)
            for _ in range(20):
                query = " ".join(rng.choices([f"w{n}" for n in range(60)], k=rng.randint(1, 3)))
                audience = Audience(rng.choice([Role.PUBLIC, Role.PREMIUM]), frozenset({"t1", "t2"}))
                a, b = edge.search(query, audience, 500), server.search(query, audience, 500)
                assert {(c.thread_id, c.content_hash) for c in a} == {(c.thread_id, c.content_hash) for c in b}
                if embedder is None:
                    assert sorted(c.score for c in a) == pytest.approx(sorted(c.score for c in b), rel=1e-4)


@pytest.mark.parametrize("kind", ENGINES)
def test_the_watermark_lives_in_the_index(kind: str, tmp_path: Path) -> None:
    """A new index has no watermark; a write records it, a reopened index keeps it, an emptied one starts at 0."""
    docs = random_docs(random.Random(3), 20)
    with engine(kind, tmp_path) as index:
        assert index.watermark() == 0
        index.write(docs, [], 17)
        assert index.watermark() == 17
    with engine(kind, tmp_path) as index:
        assert index.watermark() == 17
        audience = Audience(Role.PREMIUM, frozenset(d.thread_id for d in docs))
        assert len(index.search(" ".join(d.text for d in docs), audience, 100)) == sum(
            may_search(d, audience) for d in docs
        )
        index.clear()
        assert index.watermark() == 0
        assert index.search(docs[0].text, audience, 10) == []


def test_search_by_role_over_http(world: World) -> None:
    world.fund("ann")
    world.fund("ben")
    ann, ben, cat = world.client("ann"), world.client("ben"), world.client("cat")
    ann.create_thread("t1", 2 * CHOIR)
    ben.create_thread("t2", 2 * CHOIR)
    texts = {
        "pub": ("t1", "public", "alpha shared x"),
        "prem": ("t1", "premium", "beta shared x"),
        "only": ("t1", "thread_only", "gamma shared x"),
        "private": ("t2", "public", "delta shared x"),
    }
    hashes = {}
    for key, (thread_id, privacy, text) in texts.items():
        author = ann if thread_id == "t1" else ben
        hashes[key] = author.submit_message(thread_id, text, privacy).content_hash
        if key != "private":
            author.request_public(thread_id, hashes[key])  # sole co-author: Public at once
    world.client("treasury1", register=False).set_premium("cat", True)
    assert world.backend.wait_indexed(world.backend.journal_seq, 30)  # others' writes: indexed a moment later

    def found(client, **kwargs) -> set[str]:
        return {hit.content_hash for hit in client.search("shared x", limit=50, **kwargs).results}

    assert found(cat) == {hashes["pub"], hashes["prem"]}  # premium: public and premium levels, Public state
    world.client("treasury1", register=False).set_premium("cat", False)
    assert found(cat) == {hashes["pub"]}
    assert found(ann) == {hashes["pub"], hashes["prem"], hashes["only"]}  # co-author of t1
    assert found(ben) == {hashes["pub"], hashes["private"]}  # co-author of t2, public user in t1
    assert found(ben, thread_id="t2") == {hashes["private"]}
    assert found(cat, thread_id="t2") == set()
    hit = cat.search("alpha").results[0]
    assert (hit.content_hash, hit.snippet, hit.author) == (hashes["pub"], "alpha shared x", "ann")
    assert cat.search("zzz unrelated").count == 0


def test_search_says_how_far_the_index_has_got(world: World) -> None:
    """Search is eventually consistent: every answer carries `indexed_seq`, and once it has reached a write's `seq`
    the written message is found."""
    world.fund("ann")
    ann = world.client("ann")
    ann.create_thread("t1", 2 * CHOIR)
    for n in range(10):
        written = ann.submit_message("t1", f"fresh note number{n} written just now")
        for _ in range(200):
            hits = ann.search(f"number{n}", limit=5, thread_id="t1" if n % 2 else None)
            if hits.indexed_seq >= written.seq:
                break
            time.sleep(0.01)
        assert hits.indexed_seq >= written.seq
        assert written.content_hash in {hit.content_hash for hit in hits.results}
