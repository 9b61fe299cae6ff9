"""Content search on Qdrant (seeds Impl_API "Qdrant Operations", Impl_Privacy "Search Privacy").

Each message is one Qdrant point: id = uuid5(thread/hash), vector = the embedding of its text, payload = the
privacy facts search filters on (`thread_id`, `content_hash`, `author`, `privacy`, `state`, `searchable`,
`created_at`). The text itself stays in the journal's content table, so the index holds nothing readable.

Who may find what is decided by `choir_model.privacy`, never here. This module only narrows candidates with a
pre-filter that is a superset of what the viewer may search (`Audience`): Public messages at level public for
everyone, Public premium messages for premium users, and everything in the viewer's own threads; the service then
re-checks every candidate against the live model before a byte leaves (payloads can lag the model by a moment,
since indexing runs behind the journal).

With a Qdrant server (`--qdrant-url`) the pre-filter is a Qdrant filter, as in the seeds' `search_content`, with
keyword payload indexes. qdrant-client's local mode evaluates filters point by point in Python (about a second at
20,000 points) and copies every returned payload, so locally the index asks for unfiltered nearest neighbours
without payloads, maps their ids to (thread, hash) from memory, lets the caller's exact check (`admit`) decide, and
widens the request (x4) until it has enough or has seen everything; only past `LOCAL_SCAN_CAP` candidates does it
fall back to the filtered query. How many neighbours to ask for first is learnt from the share admitted in recent
searches of the same kind of audience, so a typical search is one round. A search inside one thread scores that
thread's points directly (the model knows their ids). Either way the hits are the best-scoring admitted points (up
to ties); only the cost differs. Only points with a positive score (sharing at least one feature with the query)
are hits.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from qdrant_client import QdrantClient
from qdrant_client import models as qm

from reference_backend.embedding import Embedder

log = logging.getLogger("reference_backend")
NAMESPACE = uuid.UUID("6c7a3f1e-9b1d-4c3e-8f1a-0c401c0de5ed")
PUBLIC_STATE = "Public"
LOCAL_SCAN_CAP = 2048
KEYWORD_FIELDS = ("thread_id", "privacy", "state")


Admit = Callable[[list[tuple[str, str]]], list[bool]]
"""The caller's exact visibility check of (thread_id, content_hash) pairs, in order."""


def point_id(thread_id: str, content_hash: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{thread_id}/{content_hash}"))


@dataclass(frozen=True, slots=True)
class IndexDoc:
    thread_id: str
    content_hash: str
    author: str
    privacy: str
    state: str
    created_at: int
    text: str

    def payload(self) -> dict[str, object]:
        return {
            "thread_id": self.thread_id,
            "content_hash": self.content_hash,
            "author": self.author,
            "privacy": self.privacy,
            "state": self.state,
            "searchable": self.privacy == "public",
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class Audience:
    """A superset of what one viewer may search: see the module docstring."""

    premium: bool
    threads: frozenset[str]
    within: str | None = None

    def admits(self, payload: dict[str, object]) -> bool:
        thread_id = payload.get("thread_id")
        if self.within is not None and thread_id != self.within:
            return False
        if thread_id in self.threads:
            return True
        if payload.get("state") != PUBLIC_STATE:
            return False
        privacy = payload.get("privacy")
        return privacy == "public" or (self.premium and privacy == "premium")

    def qdrant_filter(self) -> qm.Filter:
        is_public = qm.FieldCondition(key="state", match=qm.MatchValue(value=PUBLIC_STATE))
        should: list[qm.Condition] = [
            qm.Filter(must=[is_public, qm.FieldCondition(key="privacy", match=qm.MatchValue(value="public"))])
        ]
        if self.premium:
            should.append(
                qm.Filter(must=[is_public, qm.FieldCondition(key="privacy", match=qm.MatchValue(value="premium"))])
            )
        if self.threads:
            should.append(qm.FieldCondition(key="thread_id", match=qm.MatchAny(any=sorted(self.threads))))
        must: list[qm.Condition] = []
        if self.within is not None:
            must.append(qm.FieldCondition(key="thread_id", match=qm.MatchValue(value=self.within)))
        return qm.Filter(must=must or None, should=should)


@dataclass(frozen=True, slots=True)
class Candidate:
    thread_id: str
    content_hash: str
    score: float


class SearchIndex:
    """One Qdrant collection of messages, named after the embedding space (a new embedder gets a new collection,
    which the service then fills from the journal)."""

    def __init__(self, embedder: Embedder, path: Path | None = None, url: str | None = None) -> None:
        if (path is None) == (url is None):
            raise ValueError("give exactly one of path (local mode) or url (server)")
        self.embedder = embedder
        self.local = url is None
        self.client = QdrantClient(path=str(path)) if path is not None else QdrantClient(url=url, timeout=10)
        self.collection = "choir_messages_" + "".join(c if c.isalnum() else "_" for c in embedder.id)
        self._lock: contextlib.AbstractContextManager[object] = (
            threading.Lock() if self.local else contextlib.nullcontext()
        )
        self._keys: dict[str, tuple[str, str]] = {}
        self._admitted_share: dict[tuple[bool, bool], float] = {}
        with self._lock:
            self.created = not self.client.collection_exists(self.collection)
            if self.created:
                self._create()
            self._tune_local_storage()

    def _create(self) -> None:
        self.client.create_collection(
            self.collection, vectors_config=qm.VectorParams(size=self.embedder.dim, distance=qm.Distance.DOT)
        )
        if not self.local:
            for name in KEYWORD_FIELDS:
                self.client.create_payload_index(self.collection, name, qm.PayloadSchemaType.KEYWORD)

    def _tune_local_storage(self) -> None:
        """Local mode persists each point in its own SQLite transaction with a full fsync (about 3 ms a point
        here), which makes the indexer fall behind any real write load. The index is derived data, rebuilt from
        the journal past its watermark, so its SQLite file gets WAL with synchronous=NORMAL (crash-safe, ~0.4 ms a
        point). This reaches into qdrant-client's private objects; if they change, the defaults stay (slower)."""
        if not self.local:
            return
        try:
            connection = self.client._client.collections[self.collection].storage.storage  # type: ignore[attr-defined]
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
        except Exception as error:
            log.warning("could not tune the local Qdrant storage (%r); indexing stays slower", error)

    def close(self) -> None:
        with self._lock:
            self.client.close()

    def clear(self) -> None:
        """Drop every point (test servers' reset)."""
        self._keys.clear()
        with self._lock:
            self.client.delete_collection(self.collection)
            self._create()
            self._tune_local_storage()

    def count(self) -> int:
        with self._lock:
            return self.client.count(self.collection, exact=True).count

    # -- writing -------------------------------------------------------------------------------------------------

    def upsert(self, docs: Iterable[IndexDoc]) -> None:
        docs = list(docs)
        points = [
            qm.PointStruct(
                id=point_id(d.thread_id, d.content_hash),
                vector=self.embedder.embed(d.text).tolist(),
                payload=d.payload(),
            )
            for d in docs
        ]
        if points:
            with self._lock:
                self.client.upsert(self.collection, points=points, wait=True)
            for point, doc in zip(points, docs, strict=True):
                self._keys[str(point.id)] = (doc.thread_id, doc.content_hash)

    def set_states(self, updates: Iterable[tuple[str, str, str]]) -> None:
        """Move messages to new states: (thread_id, content_hash, state)."""
        by_state: dict[str, list[str]] = {}
        for thread_id, content_hash, state in updates:
            by_state.setdefault(state, []).append(point_id(thread_id, content_hash))
        with self._lock:
            for state, ids in by_state.items():
                self.client.set_payload(self.collection, payload={"state": state}, points=ids, wait=True)

    # -- searching -----------------------------------------------------------------------------------------------

    def candidates(
        self,
        query: str,
        audience: Audience,
        limit: int,
        admit: Admit,
        thread_hashes: list[str] | None = None,
    ) -> list[Candidate]:
        """At most `limit` best-scoring messages for `query` that `admit` lets through, best first.

        `admit` is the caller's exact check (the service asks `choir_model.privacy` about the live model); the
        audience's Qdrant filter only narrows what is fetched. For a search inside one thread, `thread_hashes` (the
        thread's message hashes, from the model) lets local mode score that thread's points directly."""
        vector = self.embedder.embed(query)
        if not vector.any():
            return []
        if not self.local:
            return self._admitted(self._filtered(vector, audience, limit), admit, limit)
        if audience.within is not None and thread_hashes is not None and len(thread_hashes) <= LOCAL_SCAN_CAP:
            return self._score_thread(vector, audience.within, thread_hashes, admit, limit)
        # Ask for enough neighbours to expect `limit` admitted ones, from the share admitted last time for this
        # kind of audience (premium or not, with or without own threads); widen x4 while short.
        kind = (audience.premium, bool(audience.threads))
        share = self._admitted_share.get(kind, 0.25)
        wanted = int(min(LOCAL_SCAN_CAP, max(32, 2.5 * limit / max(share, 0.02))))
        seen = admitted = 0
        while True:
            with self._lock:
                points = self.client.query_points(
                    self.collection, query=vector, limit=wanted, with_payload=False, score_threshold=0.0
                ).points
            found = self._keys_of([str(p.id) for p in points])
            ranked = [
                Candidate(*found[str(p.id)], float(p.score))
                for p in points
                if str(p.id) in found and audience.within in (None, found[str(p.id)][0])
            ]
            hits = self._admitted(ranked, admit, len(ranked))
            seen, admitted = len(points), len(hits)
            if admitted >= limit or len(points) < wanted or wanted >= LOCAL_SCAN_CAP:
                break
            wanted = min(LOCAL_SCAN_CAP, wanted * 4)
        if seen:
            self._admitted_share[kind] = 0.5 * share + 0.5 * max(admitted / seen, 0.02)
        if admitted >= limit or len(points) < wanted:
            return hits[:limit]
        return self._admitted(self._filtered(vector, audience, limit), admit, limit)

    @staticmethod
    def _admitted(ranked: list[Candidate], admit: Admit, limit: int) -> list[Candidate]:
        flags = admit([(c.thread_id, c.content_hash) for c in ranked])
        return [c for c, ok in zip(ranked, flags, strict=True) if ok][:limit]

    def _keys_of(self, ids: list[str]) -> dict[str, tuple[str, str]]:
        """(thread, hash) of point ids: remembered from upserts, fetched from the payloads otherwise (after a
        restart), then remembered."""
        missing = [i for i in ids if i not in self._keys]
        if missing:
            with self._lock:
                records = self.client.retrieve(self.collection, ids=missing, with_payload=["thread_id", "content_hash"])
            for record in records:
                payload = record.payload or {}
                self._keys[str(record.id)] = (str(payload["thread_id"]), str(payload["content_hash"]))
        return {i: self._keys[i] for i in ids if i in self._keys}

    def _filtered(self, vector: np.ndarray, audience: Audience, limit: int) -> list[Candidate]:
        """Qdrant's own filtered search with the audience pre-filter (a server's indexed filter; slow locally)."""
        with self._lock:
            points = self.client.query_points(
                self.collection,
                query=vector,
                query_filter=audience.qdrant_filter(),
                limit=limit + 8,
                with_payload=True,
                score_threshold=0.0,
            ).points
        return [
            Candidate(str(p.payload["thread_id"]), str(p.payload["content_hash"]), float(p.score))
            for p in points
            if p.payload is not None and audience.admits(p.payload)
        ]

    def _score_thread(
        self, vector: np.ndarray, thread_id: str, thread_hashes: list[str], admit: Admit, limit: int
    ) -> list[Candidate]:
        ids = {point_id(thread_id, h): h for h in thread_hashes}
        with self._lock:
            records = self.client.retrieve(self.collection, ids=list(ids), with_payload=False, with_vectors=True)
        scored: list[Candidate] = []
        for record in records:
            if record.vector is None:
                continue
            score = float(np.dot(np.asarray(record.vector, dtype=np.float32), vector))
            if score > 0.0:
                scored.append(Candidate(thread_id, ids[str(record.id)], score))
        scored.sort(key=lambda c: (-c.score, c.content_hash))
        return self._admitted(scored, admit, limit)
