"""Search on a Qdrant server (`--qdrant-url`) through qdrant-client: the same points, vectors, privacy filter and
watermark as the embedded engine (`reference_backend.search_edge`), one collection per text-vector space. The BM25
vectors are computed in process as for the embedded engine, and the server applies the IDF (`Modifier.IDF`).
"""

from __future__ import annotations

import re

import qdrant_edge as qe
from qdrant_client import QdrantClient
from qdrant_client import models as qm
from qdrant_client.http.exceptions import ResponseHandlingException

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


def server_filter(audience: Audience) -> qm.Filter:
    """`reference_backend.search`'s privacy filter in qdrant-client's terms."""
    should: list[qm.Condition] = [qm.FieldCondition(key="search_roles", match=qm.MatchValue(value=audience.role.value))]
    if audience.threads:
        should.append(
            qm.Filter(
                must=[
                    qm.FieldCondition(key="thread_id", match=qm.MatchAny(any=sorted(audience.threads))),
                    qm.FieldCondition(key="search_roles", match=qm.MatchValue(value="co_author")),
                ]
            )
        )
    must: list[qm.Condition] = []
    if audience.within is not None:
        must.append(qm.FieldCondition(key="thread_id", match=qm.MatchValue(value=audience.within)))
    return qm.Filter(must=must or None, should=should)


def _vector(vector: qe.SparseVector | list[float]) -> qm.SparseVector | list[float]:
    """The embedded engine's sparse vector as qdrant-client's (a dense one is a list either way)."""
    if isinstance(vector, qe.SparseVector):
        return qm.SparseVector(indices=list(vector.indices), values=list(vector.values))
    return vector


def _vectors(named: dict[str, qe.SparseVector | list[float]]) -> dict[str, qm.SparseVector | list[float]]:
    return {name: _vector(vector) for name, vector in named.items()}


class SearchServerUnavailable(RuntimeError):
    """The Qdrant server of `--qdrant-url` does not answer: the toolkit cannot run (`choir serve` exits 3), with the
    address to check."""


class ServerIndex:
    """A `MessageIndex` on one collection of a Qdrant server (`client` is any qdrant-client `QdrantClient`)."""

    in_process = False

    def __init__(self, vectors: TextVectors, url: str | None = None, client: QdrantClient | None = None) -> None:
        self.vectors = vectors
        # No version check on connecting: against a server that does not answer it prints a warning of its own
        # before the one line below says so.
        self.client = client if client is not None else QdrantClient(url=url, timeout=10, check_compatibility=False)
        self.collection = "choir_messages_" + re.sub(r"\W", "_", vectors.space)
        try:
            exists = self.client.collection_exists(self.collection)
        except ResponseHandlingException as error:  # nothing answers there (refused, unknown host, timed out)
            raise SearchServerUnavailable(f"cannot reach the Qdrant server at {url}: {error}") from None
        if not exists:
            self._create()

    def _create(self) -> None:
        embedder = self.vectors.embedder
        self.client.create_collection(
            self.collection,
            vectors_config={}
            if embedder is None
            else {DENSE: qm.VectorParams(size=embedder.dim, distance=qm.Distance.DOT)},
            sparse_vectors_config={SPARSE: qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
        )
        for name in KEYWORD_FIELDS:
            self.client.create_payload_index(self.collection, name, qm.PayloadSchemaType.KEYWORD)

    def watermark(self) -> int:
        records = self.client.retrieve(self.collection, [WATERMARK_ID], with_payload=True)
        return int(records[0].payload["watermark"]) if records and records[0].payload else 0

    def write(self, docs: list[IndexDoc], changes: list[StateChange], watermark: int) -> None:
        for payload, ids in change_groups(changes):
            only = qm.Filter(must=[qm.HasIdCondition(has_id=ids)])  # a message not indexed yet is skipped
            self.client.set_payload(self.collection, payload=payload, points=only, wait=True)
        points = [
            qm.PointStruct(id=point_id(d.thread_id, d.content_hash), vector=_vectors(self.vectors.document(d.text)),
                           payload=d.payload())
            for d in docs
        ]  # fmt: skip
        points.append(qm.PointStruct(id=WATERMARK_ID, vector={}, payload={"watermark": watermark}))
        self.client.upsert(self.collection, points=points, wait=True)  # the watermark last, in the same request

    def search(self, query: str, audience: Audience, limit: int) -> list[Candidate]:
        stages = self.vectors.stages(query)
        if not stages:
            return []
        privacy = server_filter(audience)
        if len(stages) == 1:
            only = stages[0]
            points = self.client.query_points(
                self.collection,
                query=_vector(only.vector),
                using=only.using,
                query_filter=privacy,
                limit=limit,
                score_threshold=only.threshold,
                with_payload=["thread_id", "content_hash"],
            ).points
        else:
            prefetch = [
                qm.Prefetch(
                    query=_vector(s.vector),
                    using=s.using,
                    filter=privacy,
                    limit=fusion_depth(limit),
                    score_threshold=s.threshold,
                )
                for s in stages
            ]
            points = self.client.query_points(
                self.collection,
                prefetch=prefetch,
                query=qm.RrfQuery(rrf=qm.Rrf(k=RRF_K)),
                limit=limit,
                with_payload=["thread_id", "content_hash"],
            ).points
        return [
            Candidate(str(p.payload["thread_id"]), str(p.payload["content_hash"]), float(p.score))
            for p in points
            if p.payload is not None
        ]

    def clear(self) -> None:
        self.client.delete_collection(self.collection)
        self._create()

    def close(self) -> None:
        self.client.close()
