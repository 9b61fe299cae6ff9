"""The embedded search engine: a Qdrant Edge shard (`qdrant-edge-py`, Qdrant's Rust engine in process) under the
data directory, one per text-vector space (`DATA/qdrant/<space>/`). See `reference_backend.search` for what a
point holds and how privacy filters.

The shard keeps its own write-ahead log, so an update survives the process once `update` returns (a SIGKILL
included; after a power cut the log's tail may be lost, but the watermark travels in the same update as the
messages it covers, so the index then simply re-indexes from an earlier watermark). `flush` writes the segments
so that the next open need not replay the log: at close, and every `FLUSH_EVERY` points written, so that a server
that is killed rather than stopped replays at most that much log when it starts again. Keyword payload indexes on
`thread_id` and `search_roles` make the privacy filter an index lookup, not a scan. The payload is kept in memory
(`Memory.Pinned`; the engine's default leaves it on disk, read page by page): every hit's `thread_id` and
`content_hash` are read from it, and on disk the searches of a freshly started server paid for those first reads
(p95 of the first 300 searches on 100,000 messages 2.4 to 4.0 ms, 1.4 to 1.9 ms pinned; the same once warm).

The shard's search pool has one thread (`SEARCH_THREADS`): the engine's default sizes it from the CPUs it sees (8
threads on the 2-core bench machine), hands every query to the pool and has the caller wait. Our shard is one
segment here (100,000 messages included), so the pool bought no parallelism, only hand-offs: a search cost 180 us of
process CPU in process against 125 to 147 us with one thread (Backend.search, 3,000 queries on 600 messages), 1.1
against 0.9 ms at 100,000 messages, with the same latency; under the mixed load the pool's threads also competed
with the event loop.
"""

from __future__ import annotations

import functools
import shutil
import threading
from pathlib import Path

import qdrant_edge as qe

from reference_backend.search import (
    DENSE,
    KEYWORD_FIELDS,
    RRF_K,
    SPARSE,
    WATERMARK_ID,
    Audience,
    Candidate,
    IndexDoc,
    StateChange,
    TextVectors,
    change_groups,
    fusion_depth,
    point_id,
)

FLUSH_EVERY = 20_000
"""Points (messages and state changes) written between two flushes of the segments."""
SEARCH_THREADS = 1
"""Threads of the shard's search pool (see the module docstring)."""


@functools.lru_cache(maxsize=4096)
def edge_filter(audience: Audience) -> qe.Filter:
    """`reference_backend.search`'s privacy filter in the embedded engine's terms. Kept per audience (a viewer's
    filter is the same until their threads change): building one with thread ids costs about 20 us."""
    should: list[qe.FieldCondition | qe.Filter] = [
        qe.FieldCondition("search_roles", match=qe.MatchValue(audience.role.value))
    ]
    if audience.threads:
        should.append(
            qe.Filter(
                must=[
                    qe.FieldCondition("thread_id", match=qe.MatchAny(sorted(audience.threads))),
                    qe.FieldCondition("search_roles", match=qe.MatchValue("co_author")),
                ]
            )
        )
    must = [] if audience.within is None else [qe.FieldCondition("thread_id", match=qe.MatchValue(audience.within))]
    return qe.Filter(must=must or None, should=should)


class EdgeIndex:
    """A `MessageIndex` on a Qdrant Edge shard."""

    in_process = True

    def __init__(self, vectors: TextVectors, root: Path) -> None:
        self.vectors = vectors
        self.path = Path(root) / "".join(c if c.isalnum() or c in "-+." else "_" for c in vectors.space)
        self._lock = threading.Lock()  # open/close/clear against searches; the shard itself is thread-safe
        self.shard = self._open()
        self._unflushed = 0

    def _config(self) -> qe.EdgeConfig:
        embedder = self.vectors.embedder
        dense = None if embedder is None else {DENSE: qe.EdgeVectorParams(size=embedder.dim, distance=qe.Distance.Dot)}
        return qe.EdgeConfig(
            vectors=dense,
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            payload_memory=qe.Memory.Pinned,  # see the module docstring
            max_search_threads=SEARCH_THREADS,
        )

    def _open(self) -> qe.EdgeShard:
        if self.path.exists() and any(self.path.iterdir()):
            return qe.EdgeShard.load(str(self.path), self._config())  # a shard made before takes today's placement
        self.path.mkdir(parents=True, exist_ok=True)
        shard = qe.EdgeShard.create(str(self.path), self._config())
        for name in KEYWORD_FIELDS:
            shard.update(qe.UpdateOperation.create_field_index(name, qe.PayloadSchemaType.Keyword))
        return shard

    def watermark(self) -> int:
        records = self.shard.retrieve([WATERMARK_ID], True, False)
        return int(records[0].payload["watermark"]) if records and records[0].payload else 0

    def write(self, docs: list[IndexDoc], changes: list[StateChange], watermark: int) -> None:
        for payload, ids in change_groups(changes):
            only = qe.Filter(must=[qe.HasIdCondition(set(ids))])  # a message not indexed yet is skipped, not an error
            self.shard.update(qe.UpdateOperation.set_payload_by_filter(only, payload))
        points = [
            qe.Point(point_id(d.thread_id, d.content_hash), self.vectors.document(d.text), d.payload()) for d in docs
        ]
        points.append(qe.Point(WATERMARK_ID, {}, {"watermark": watermark}))
        self.shard.update(qe.UpdateOperation.upsert_points(points))  # one update: messages and watermark together
        self._unflushed += len(points) + len(changes)
        if self._unflushed >= FLUSH_EVERY:
            self.shard.flush()
            self._unflushed = 0

    def search(self, query: str, audience: Audience, limit: int) -> list[Candidate]:
        stages = self.vectors.stages(query)
        if not stages:
            return []
        privacy = edge_filter(audience)
        if len(stages) == 1:
            only = stages[0]
            request = qe.QueryRequest(
                limit=limit,
                query=qe.Query.Nearest(only.vector, using=only.using),
                filter=privacy,
                score_threshold=only.threshold,
                with_payload=["thread_id", "content_hash"],
            )
        else:
            prefetches = [
                qe.Prefetch(
                    fusion_depth(limit),
                    qe.Query.Nearest(s.vector, using=s.using),
                    filter=privacy,
                    score_threshold=s.threshold,
                )
                for s in stages
            ]
            request = qe.QueryRequest(
                limit=limit,
                prefetches=prefetches,
                query=qe.Fusion.Rrf(k=RRF_K),
                with_payload=["thread_id", "content_hash"],
            )
        with self._lock:
            points = self.shard.query(request)
        return [
            Candidate(str(p.payload["thread_id"]), str(p.payload["content_hash"]), float(p.score))
            for p in points
            if p.payload is not None
        ]

    def clear(self) -> None:
        with self._lock:
            self.shard.close()
            shutil.rmtree(self.path)
            self.shard = self._open()

    def close(self) -> None:
        with self._lock:
            self.shard.flush()
            self.shard.close()
