"""Message texts by content hash, for views, search snippets and the indexer: a bounded LRU cache in front of the
journal's content table. Texts never change under their hash, so the cache needs no invalidation; the writer adds
each committed message's text, so a fresh message is read from memory."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from reference_backend.journal import Journal

TEXT_CACHE_BYTES = 64 * 1024 * 1024


class TextCache:
    def __init__(self, journal: Journal, limit: int = TEXT_CACHE_BYTES) -> None:
        self.journal = journal
        self.limit = limit
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, hashes: list[str]) -> dict[str, str]:
        """The texts of `hashes` that exist: from the cache, else from the content table."""
        out: dict[str, str] = {}
        missing: list[str] = []
        with self._lock:
            for content_hash in hashes:
                text = self._texts.get(content_hash)
                if text is None:
                    missing.append(content_hash)
                else:
                    self._texts.move_to_end(content_hash)
                    out[content_hash] = text
        if missing:
            found = self.journal.contents(missing)
            self.add(found.items())
            out.update(found)
        return out

    def add(self, items: Iterable[tuple[str, str]]) -> None:
        """Keep texts (committed ones only: the cache is read as the truth), dropping the least recently used
        beyond the byte limit."""
        with self._lock:
            for content_hash, text in items:
                if content_hash not in self._texts:
                    self._texts[content_hash] = text
                    self._bytes += len(text)
            while self._bytes > self.limit and self._texts:
                _, dropped = self._texts.popitem(last=False)
                self._bytes -= len(dropped)
