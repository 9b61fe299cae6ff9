"""Content search (seeds Impl_API "Qdrant Operations", Impl_Privacy "Search Privacy"): one small index interface
(`MessageIndex`) with two engines behind it, Qdrant's embedded engine (`reference_backend.search_edge`, the
default: a shard under `--data`) and a Qdrant server (`reference_backend.search_server`, `--qdrant-url`).

Each message is one point: id = uuid5(thread/hash); vectors = a BM25 sparse vector of its text (lexical relevance:
the engine applies the IDF of the whole index at query time, so nothing is trained or downloaded) and, when an
embedder is configured (`--embedder`), a dense vector, fused with the BM25 ranking by reciprocal rank; payload =
the facts privacy filters on. The text itself stays in the journal's content table, so the index holds nothing
readable.

Who may search what is decided by `choir_model.privacy.can_search`, never here: each point carries
`search_roles`, the roles for which `can_search` holds at the message's level and state (an author's own
authorship never adds Search, which `tests/backend/test_search.py` checks over every case, so the payload need not
name the author). A search runs inside the engine with a filter on those indexed fields: the viewer's role
(public or premium) in `search_roles`, or the thread is one the viewer co-authors and `co_author` is in
`search_roles`; a search inside one thread also matches `thread_id`. The caller still re-checks each hit against
the live model, since the index lags the journal by a moment; that check drops a hit only while the index is
behind, so a lagging index can miss a message but never show one it should not.

The index also stores how far it has got (`watermark`, the last journal seq it holds), in a point of its own
written with the same update as the messages: a new, emptied or partly rebuilt index has no watermark, so
indexing starts again from the journal's first row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import qdrant_edge as qe

from choir_model.privacy import Role, can_search
from choir_model.state import MessageState, Privacy
from reference_backend.embedding import Embedder

NAMESPACE = uuid.UUID("6c7a3f1e-9b1d-4c3e-8f1a-0c401c0de5ed")
WATERMARK_ID = str(uuid.uuid5(NAMESPACE, "watermark"))
SPARSE = "bm25"
DENSE = "dense"
KEYWORD_FIELDS = ("thread_id", "search_roles")
RRF_K = 60
"""Reciprocal rank fusion's usual constant: each ranking adds 1 / (RRF_K + rank)."""
BM25_VERSION = "bm25-word-en-v1"
"""Names the tokenizer and weighting below: a change gets a new index, filled from the journal."""


def point_id(thread_id: str, content_hash: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{thread_id}/{content_hash}"))


def search_roles(privacy: Privacy, state: MessageState) -> list[str]:
    """The roles that may find a message at this level and state (`choir_model.privacy.can_search`)."""
    return [role.value for role in Role if can_search(role, privacy, state)]


@dataclass(frozen=True, slots=True)
class StateChange:
    """A message moved to a new state (its level never changes): the payload fields that follow from it."""

    thread_id: str
    content_hash: str
    privacy: str
    state: str

    def payload(self) -> dict[str, Any]:
        return {"state": self.state, "search_roles": search_roles(Privacy(self.privacy), MessageState(self.state))}


@dataclass(frozen=True, slots=True)
class IndexDoc:
    thread_id: str
    content_hash: str
    author: str
    privacy: str
    state: str
    created_at: int
    text: str

    def payload(self) -> dict[str, Any]:
        return {
            "thread_id": self.thread_id,
            "content_hash": self.content_hash,
            "author": self.author,
            "privacy": self.privacy,
            "created_at": self.created_at,
            **StateChange(self.thread_id, self.content_hash, self.privacy, self.state).payload(),
        }


@dataclass(frozen=True, slots=True)
class Audience:
    """Who is searching: their role outside their own threads (public or premium), the threads they co-author, and
    the one thread searched in (None: everywhere). Each engine turns this into its own filter."""

    role: Role
    threads: frozenset[str]
    within: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    thread_id: str
    content_hash: str
    score: float


class TextVectors:
    """The vectors of a text: BM25 always (Qdrant's own BM25, computed in process: word tokens, lowercased,
    English stemming, no stop words so a query of common words still matches; IDF is applied by the engine), a
    dense embedding when an embedder is configured. `space` names them all (a change needs a new index)."""

    def __init__(self, embedder: Embedder | None) -> None:
        self.embedder = embedder
        self.bm25 = qe.Bm25(qe.Bm25Config(stopwords=qe.StopwordsSet(custom=set())))
        self.space = BM25_VERSION + ("" if embedder is None else f"+{embedder.id}")

    def document(self, text: str) -> dict[str, qe.SparseVector | list[float]]:
        """A message's vectors by name (the embedded engine's types; the server converts the sparse one)."""
        vectors: dict[str, qe.SparseVector | list[float]] = {SPARSE: self.bm25.embed_document(text)}
        if self.embedder is not None:
            vectors[DENSE] = self.embedder.embed(text).tolist()
        return vectors

    def stages(self, text: str) -> list[Stage]:
        """What a query searches with: BM25, and the dense embedding if any; a part with nothing to match (no word,
        a zero embedding) is left out, and an empty list means nothing can match."""
        stages = []
        sparse = self.bm25.embed_query(text)
        if sparse.indices:
            stages.append(Stage(SPARSE, sparse, None))
        if self.embedder is not None:
            vector = self.embedder.embed(text)
            if vector.any():
                stages.append(Stage(DENSE, vector.tolist(), 0.0))
        return stages


@dataclass(frozen=True, slots=True)
class Stage:
    """One ranking of a query: by the vector named `using`, keeping scores above `threshold` (None: any hit; a
    sparse hit always shares a word). Two stages are fused by reciprocal rank (`RRF_K`) over `fusion_depth`."""

    using: str
    vector: qe.SparseVector | list[float]
    threshold: float | None


def fusion_depth(limit: int) -> int:
    """How many hits each ranking contributes before two are fused."""
    return 2 * limit + 8


def change_groups(changes: list[StateChange]) -> list[tuple[dict[str, Any], list[str]]]:
    """State changes as (payload, point ids) groups: one payload update per distinct (level, state)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for change in changes:
        groups.setdefault((change.privacy, change.state), []).append(point_id(change.thread_id, change.content_hash))
    return [(StateChange("", "", privacy, state).payload(), ids) for (privacy, state), ids in groups.items()]


class MessageIndex(Protocol):
    """What the indexer and the service need of a search engine. Writes come from one thread (the indexer)."""

    vectors: TextVectors
    in_process: bool
    """True for an engine that runs in this process (a query is CPU work holding the GIL: a worker thread would add
    a hop and buy no parallelism); False for one reached over the network."""

    def watermark(self) -> int:
        """The last journal seq this index holds (0 for a new or emptied index)."""
        ...

    def write(self, docs: list[IndexDoc], changes: list[StateChange], watermark: int) -> None:
        """Upsert `docs`, apply `changes` to the messages present, then record `watermark`."""
        ...

    def search(self, query: str, audience: Audience, limit: int) -> list[Candidate]:
        """At most `limit` messages the audience may search that match `query`, best first."""
        ...

    def clear(self) -> None:
        """Drop every message and the watermark."""
        ...

    def close(self) -> None: ...


def open_index(vectors: TextVectors, path: Any = None, url: str | None = None) -> MessageIndex:
    """The embedded engine under `path`, or the Qdrant server at `url` (exactly one of them)."""
    if (path is None) == (url is None):
        raise ValueError("give exactly one of path (embedded engine) or url (Qdrant server)")
    if url is not None:
        from reference_backend.search_server import ServerIndex

        return ServerIndex(vectors, url)
    from reference_backend.search_edge import EdgeIndex

    return EdgeIndex(vectors, path)
