"""The indexer: keeps the search index (`reference_backend.search`) behind the journal, on a thread of its own
(seeds Impl_Messages: "Backend creates embedding", Impl_API "Qdrant Operations").

The writer hands it, after each commit, what the commit changed for search (new messages, messages that moved to
another state) with the commit's last journal seq. It writes them in runs (later updates of a message win) and
each run records its seq as the index's own watermark, in the same update. At start it catches up: every message
touched by a journal row after the index's watermark is written again from the live model and the content table,
so a new, emptied or half-rebuilt index (no watermark) is filled from the journal's first row, and a restart
re-indexes exactly what the index missed. A run that fails is kept and retried; the watermark never passes it.

`indexed_seq` is how far searches may see; search answers and `/v1/health` report it, so a client that must see
its own write compares it with the write's `seq`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import queue
import threading
import time
from collections.abc import Callable

from choir_model import Step
from choir_model.state import ChoirState
from choir_model.steps import SubmitMessage, SubmitSpec
from reference_backend.journal import Journal
from reference_backend.search import IndexDoc, MessageIndex, StateChange

log = logging.getLogger("reference_backend")

Facts = tuple[str, str, str, str, str, int]
"""(thread_id, content_hash, author, privacy, state, created_at) of a message, as the live model has it."""
Lookup = Callable[[list[tuple[str, str]]], list[Facts]]
"""The facts of the (thread, hash) pairs that exist in the live model (read under the state lock)."""
Texts = Callable[[list[str]], dict[str, str]]
"""Message texts by content hash."""
Update = IndexDoc | StateChange

CATCH_UP_CHUNK = 512
RETRY_AFTER = 1.0
_STOP = object()


def index_update(state: ChoirState, step: Step, content: str | None) -> Update | None:
    """What the index must learn from a step that just applied (read from the state it left): a new message, a
    message's new state, or nothing."""
    content_hash = step.content_hash
    if content_hash is None or step.thread_id is None:
        return None
    message = state.threads[step.thread_id].messages[content_hash]
    if isinstance(step, (SubmitMessage, SubmitSpec)):
        return IndexDoc(step.thread_id, content_hash, message.author, message.privacy.value, message.state.value,
                        message.created_at, content or "")  # fmt: skip
    return StateChange(step.thread_id, content_hash, message.privacy.value, message.state.value)


class Indexer:
    """Owns the index and its watermark; see the module docstring."""

    def __init__(self, index: MessageIndex, journal: Journal, lookup: Lookup, texts: Texts) -> None:
        self.index = index
        self.journal = journal
        self.lookup = lookup
        self.texts = texts
        self.indexed_seq = 0
        self.generation = 0
        self._queue: queue.Queue[object] = queue.Queue()
        self._indexed = threading.Condition()
        self._lock = threading.Lock()  # one writer of the index: the thread, or a reset
        self._thread: threading.Thread | None = None

    def start(self, head: Callable[[], int]) -> None:
        """Catch up to the journal's seq `head()` (read when the thread starts), then follow the writer."""
        self._thread = threading.Thread(target=self._run, args=(head,), name="choir-indexer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is queued, then stop the thread (the caller closes the index)."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def follow(self, generation: int, seq: int, updates: list[Update]) -> None:
        """Queue one commit's updates (`seq` is its last journal row); the writer calls this after each commit."""
        self._queue.put((generation, seq, updates))

    def reset(self, generation: int) -> None:
        """Empty the index for a new world (`generation`); queued updates of older worlds are dropped."""
        with self._lock:
            self.generation = generation
            self.index.clear()
            with self._indexed:
                self.indexed_seq = 0

    def wait(self, seq: int, timeout: float) -> bool:
        """Wait until searches see journal row `seq` (False after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        with self._indexed:
            while self.indexed_seq < seq:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._indexed.wait(left)
        return True

    # -- the thread ------------------------------------------------------------------------------------------------

    def _run(self, head: Callable[[], int]) -> None:
        caught_up = False
        pending: list[tuple[int, list[Update]]] = []
        stop = False
        while not stop:
            if not caught_up:
                caught_up = self._catch_up(head)
            try:
                items = [self._queue.get(timeout=None if caught_up and not pending else RETRY_AFTER)]
            except queue.Empty:
                items = []
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in items)
            with self._lock:
                for item in items:
                    if item is not _STOP:
                        generation, seq, updates = item  # type: ignore[misc]
                        if generation == self.generation:
                            pending.append((seq, updates))
                # Follow only once caught up: a later watermark would otherwise cover what catch-up missed.
                if caught_up and pending and self._write(pending):
                    pending = []
        if pending or not caught_up:
            log.error("the index is behind at close; the next start re-indexes from the index's watermark")

    def _catch_up(self, head: Callable[[], int]) -> bool:
        try:
            with self._lock:
                self.catch_up(head())
            return True
        except Exception:
            log.exception("index catch-up failed; retrying, the index keeps its watermark")
            return False

    def _write(self, work: list[tuple[int, list[Update]]]) -> bool:
        """Write a run of updates (the caller holds the lock). Later updates of a message win."""
        docs: dict[tuple[str, str], IndexDoc] = {}
        changes: dict[tuple[str, str], StateChange] = {}
        for _, updates in work:
            for update in updates:
                key = (update.thread_id, update.content_hash)
                if isinstance(update, IndexDoc):
                    docs[key] = update
                    changes.pop(key, None)
                elif key in docs:
                    docs[key] = dataclasses.replace(docs[key], state=update.state)
                else:
                    changes[key] = update
        seq = max(seq for seq, _ in work)
        try:
            self.index.write(list(docs.values()), list(changes.values()), seq)
        except Exception:
            log.exception("indexing failed; retrying, the watermark stays behind")
            return False
        self._indexed_up_to(seq)
        return True

    def _indexed_up_to(self, seq: int) -> None:
        with self._indexed:
            self.indexed_seq = max(self.indexed_seq, seq)
            self._indexed.notify_all()

    def catch_up(self, end: int) -> None:
        """Index every message touched by a journal row after the index's watermark up to `end`, from the live
        model and the content table; the watermark moves to `end` with the last chunk only (the caller holds the
        lock, or owns the index alone)."""
        start = self.index.watermark()
        touched: dict[tuple[str, str], None] = {}
        for seq, line in self.journal.lines(after=start):
            if seq > end:
                break
            obj = json.loads(line)
            if "hash" in obj:
                touched[(obj["thread"], obj["hash"].lower())] = None
        keys = list(touched)
        chunks = [keys[n : n + CATCH_UP_CHUNK] for n in range(0, len(keys), CATCH_UP_CHUNK)] or [[]]
        for number, chunk in enumerate(chunks, 1):
            facts = self.lookup(chunk)
            texts = self.texts([f[1] for f in facts])
            docs = [IndexDoc(*f, texts.get(f[1], "")) for f in facts]
            self.index.write(docs, [], end if number == len(chunks) else start)
        self._indexed_up_to(end)
        if keys:
            log.info("indexed %d messages from journal rows %d..%d", len(keys), start + 1, end)
