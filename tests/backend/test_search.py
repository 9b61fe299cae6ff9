"""Content and search: deterministic feature hashing (one-character tokens kept), summaries that quote nothing,
the local-mode candidate strategy agreeing with Qdrant's own filtered search, and search over HTTP by role."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from choir_model import CHOIR
from choir_model.privacy import View
from choir_model.state import Privacy
from reference_backend.content import StatisticsSummarizer, content_hash
from reference_backend.embedding import HashingEmbedder, make_embedder, tokens
from reference_backend.search import Audience, IndexDoc, SearchIndex
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


def test_local_candidates_equal_qdrant_filtered_search(tmp_path: Path) -> None:
    """The local strategy (unfiltered neighbours without payloads, the caller's check, widening) returns what
    Qdrant's filtered search returns, for random audiences, queries and limits, including searches inside one
    thread; a fresh index object (after a restart) maps point ids back through the payloads."""
    rng = random.Random(7)
    vocabulary = [f"w{n}" for n in range(60)]
    index = SearchIndex(HashingEmbedder(128), path=tmp_path / "q")
    docs = []
    for n in range(300):
        text = " ".join(rng.choices(vocabulary, k=12))
        docs.append(IndexDoc(f"t{n % 9}", content_hash(f"{n} {text}"), f"u{n % 5}",
                             rng.choice(["public", "premium", "thread_only"]),
                             rng.choice(["Public", "Private", "Pending", "Rejected"]), n, text))  # fmt: skip
    index.upsert(docs)
    payloads = {(d.thread_id, d.content_hash): d.payload() for d in docs}
    by_thread: dict[str, list[str]] = {}
    for doc in docs:
        by_thread.setdefault(doc.thread_id, []).append(doc.content_hash)
    try:
        for _ in range(40):
            threads = frozenset(rng.sample(sorted(by_thread), rng.randint(0, 3)))
            within = rng.choice([None, None, *sorted(by_thread)])
            audience = Audience(rng.random() < 0.5, threads, within)
            query = " ".join(rng.choices(vocabulary, k=rng.randint(1, 4)))
            limit = rng.choice([1, 5, 20])
            hashes = by_thread.get(within) if within else None

            def admit(keys: list[tuple[str, str]], audience: Audience = audience) -> list[bool]:
                return [audience.admits(payloads[key]) for key in keys]

            local = index.candidates(query, audience, limit, admit, hashes)
            reference = index._filtered(index.embedder.embed(query), audience, limit)[:limit]
            assert [c.score for c in local] == pytest.approx([c.score for c in reference], abs=1e-4)
            top = {c.content_hash for c in reference if c.score > reference[-1].score + 1e-4} if reference else set()
            assert top <= {c.content_hash for c in local}
            assert all(audience.admits(payloads[(c.thread_id, c.content_hash)]) for c in local)
        index.close()
        reopened = SearchIndex(HashingEmbedder(128), path=tmp_path / "q")
        audience = Audience(True, frozenset(), None)
        found = reopened.candidates("w1 w2", audience, 5, lambda keys: [audience.admits(payloads[k]) for k in keys])
        assert [c.content_hash for c in found] == [
            c.content_hash for c in reopened._filtered(reopened.embedder.embed("w1 w2"), audience, 5)[:5]
        ]
        index = reopened
    finally:
        index.close()


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
