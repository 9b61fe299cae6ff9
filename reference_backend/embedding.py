"""Dense text embeddings for search (seeds Impl_Messages: "Backend creates embedding"), optional: lexical relevance
comes from BM25 (`reference_backend.search`), and a dense embedding, when configured, is fused with it.

`hashing` is deterministic feature hashing: no model download, no network, the same vector for the same text on
every machine and in every process (blake2b, never Python's salted `hash`). Tokens are the casefolded `\\w+` runs of
the text, one-character tokens included (a query for "x" or a CJK character must still match), plus adjacent-word
bigrams at half weight so word order counts a little. Term frequency is sublinear (1 + ln tf) and vectors are
L2-normalised (Qdrant DOT = cosine). Features are unsigned: the usual random sign makes colliding features cancel,
and a message containing the query's word could then score zero and be missed; without signs a collision can only
add a little similarity, so every message that shares a word with the query scores above zero.

A real sentence-embedding model is optional (`sentence-transformers:NAME`): it is loaded from an installed package
with `local_files_only=True`, so it never downloads; it fails clearly when the package or the model is missing.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # numpy is imported by the embedders that use it: a server on BM25 alone starts without it
    import numpy as np

_TOKEN = re.compile(r"\w+")


class Embedder(Protocol):
    """Turns text into a fixed-size float32 vector; `id` names the embedding space (a change forces a reindex)."""

    id: str
    dim: int

    def embed(self, text: str) -> np.ndarray: ...


def tokens(text: str) -> list[str]:
    """Casefolded word tokens, one-character tokens kept."""
    return _TOKEN.findall(text.casefold())


class HashingEmbedder:
    """Unsigned feature hashing of unigrams and bigrams into `dim` dimensions."""

    def __init__(self, dim: int = 256) -> None:
        if not 16 <= dim <= 4096:
            raise ValueError(f"hashing dimension must be in 16..4096, got {dim}")
        self.dim = dim
        self.id = f"hashing-{dim}-v2"

    def _feature(self, feature: str) -> int:
        digest = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
        return digest % self.dim

    def embed(self, text: str) -> np.ndarray:
        import numpy as np

        words = tokens(text)
        counts: Counter[str] = Counter(words)
        weights: dict[str, float] = {w: 1.0 + math.log(n) for w, n in counts.items()}
        bigrams = Counter(f"{a} {b}" for a, b in itertools.pairwise(words))
        for gram, n in bigrams.items():
            weights[gram] = 0.5 * (1.0 + math.log(n))
        vector = np.zeros(self.dim, dtype=np.float32)
        for feature, weight in weights.items():
            vector[self._feature(feature)] += weight
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector


class SentenceTransformerEmbedder:
    """An installed sentence-transformers model, loaded offline."""

    def __init__(self, name: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]
        except ImportError as error:
            raise RuntimeError(
                "the sentence-transformers embedder needs the `sentence-transformers` package and the model "
                f"{name!r} installed locally; the default `hashing` embedder needs neither"
            ) from error
        self._model: Any = SentenceTransformer(name, local_files_only=True)
        self.dim = int(self._model.get_sentence_embedding_dimension())
        self.id = f"st-{name.replace('/', '_')}-{self.dim}"

    def embed(self, text: str) -> np.ndarray:
        import numpy as np

        vector = np.asarray(self._model.encode(text, normalize_embeddings=True), dtype=np.float32)
        return vector


def parse_embedder(spec: str) -> tuple[str, str | int]:
    """`spec` checked, as (kind, argument): `none`, `hashing` or `hashing:DIM` (DIM in 1..65536), or
    `sentence-transformers:NAME`; ValueError naming what is wrong. Apart from `make_embedder` so that a bad spec is
    refused when the configuration is made, before the service creates anything."""
    kind, _, arg = spec.partition(":")
    if spec == "none":
        return "none", ""
    if kind == "hashing":
        if not arg:
            return "hashing", 256
        if not arg.isdecimal() or not 1 <= int(arg) <= 65536:
            raise ValueError(f"embedder {spec!r}: the dimension must be a whole number in 1..65536")
        return "hashing", int(arg)
    if kind == "sentence-transformers" and arg:
        return kind, arg
    raise ValueError(f"unknown embedder {spec!r}: use none, hashing[:DIM] or sentence-transformers:NAME")


def make_embedder(spec: str) -> Embedder | None:
    """`none` (search on BM25 alone), `hashing`, `hashing:DIM` or `sentence-transformers:NAME`."""
    kind, arg = parse_embedder(spec)
    if kind == "none":
        return None
    if kind == "hashing":
        return HashingEmbedder(int(arg))
    return SentenceTransformerEmbedder(str(arg))
