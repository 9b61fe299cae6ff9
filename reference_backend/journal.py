"""The durable store (SPEC section 10): a SQLite database in WAL mode under the data directory.

The journal is the truth. Every accepted operation is one row holding its SPEC section 8 trace line, committed
before the response leaves the server; the in-memory `choir_model.Model` is rebuilt from it on start, so the
journal exported as JSONL (`choir serve --export-trace`) replays in `choir model run` to the very same snapshot.
Refused operations are not journaled: they changed nothing.

Beside the journal, in the same transaction as the operations they belong to:
* `content`: message text by content hash (the model keeps only the hash);
* `users`: registered public keys and the premium flag (authentication state, not Choir state);
* `requests`: (user, nonce, timestamp) of every write and of every request signed ahead of the server clock: what
  a restarted server must still refuse (`reference_backend.auth`, replay across restarts);
* `snapshots`: pickled model state every N rows, to shorten the replay. A snapshot is used only when its
  fingerprint (the model's source code, parameters and policy) matches, so a changed model replays from row 1;
* `meta`: the configuration fingerprint the journal was written under, the search index watermark, and on test
  servers the highest time their manual clock was set to.

One connection belongs to the writer thread; readers get their own connection per thread (WAL lets them read
while the writer commits).
"""

from __future__ import annotations

import errno
import hashlib
import json
import pickle
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY,
    line TEXT NOT NULL,
    signer TEXT,
    nonce TEXT,
    accepted_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS content (hash TEXT PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    premium INTEGER NOT NULL DEFAULT 0,
    registered_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
    user TEXT NOT NULL,
    nonce TEXT NOT NULL,
    signed_at INTEGER NOT NULL,
    PRIMARY KEY (user, nonce)
);
CREATE INDEX IF NOT EXISTS requests_by_time ON requests (signed_at);
CREATE TABLE IF NOT EXISTS snapshots (seq INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL, blob BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

JOURNAL_FILE = "journal.sqlite3"
RESTORE = "restore the data directory from a backup (or start on a new --data directory)"
CONTENT_OPS = ("submit_message", "submit_spec")


class DataDirDamaged(RuntimeError):
    """The data directory cannot be trusted: the message names the damaged part and the fix. `choir serve` prints
    it and exits 2 (its input, the data directory, is bad)."""


def storage_cause(error: BaseException) -> str:
    """What went wrong with the storage, in words an operator acts on (a full disk said as such)."""
    text = str(error)
    full = isinstance(error, OSError) and error.errno == errno.ENOSPC
    if full or "disk is full" in text or "SQLITE_FULL" in text:
        return f"the disk is full ({text}): free space on the disk that holds the data directory"
    return text or type(error).__name__


def trace_line(step_json: dict[str, Any]) -> str:
    """A step as one SPEC section 8 trace line (compact JSON, `op` first)."""
    return json.dumps(step_json, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Batch:
    """Everything one group commit writes."""

    steps: list[tuple[str, str | None, str | None, int]] = field(default_factory=list)  # line, signer, nonce, at
    contents: list[tuple[str, str]] = field(default_factory=list)
    users: list[tuple[str, str, bool, int]] = field(default_factory=list)
    requests: list[tuple[str, str, int]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.steps or self.contents or self.users or self.requests)


class Journal:
    def __init__(self, data_dir: Path, sync: Literal["full", "normal"] = "full") -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / JOURNAL_FILE
        self.sync = sync
        try:
            self._writer = self._connect()
            self._writer.executescript(SCHEMA)
        except sqlite3.DatabaseError as error:
            raise DataDirDamaged(
                f"the journal {self.path} is not a readable SQLite database ({error}): {RESTORE}"
            ) from None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={self.sync.upper()}")
        connection.execute("PRAGMA busy_timeout=10000")
        return connection

    def _reader(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._connect()
            with self._readers_lock:
                self._readers.append(connection)
        return connection

    def close(self) -> None:
        with self._readers_lock:
            for connection in self._readers:
                connection.close()
            self._readers.clear()
        self._writer.close()

    # -- writing (the writer thread only) ----------------------------------------------------------------------

    def commit(self, batch: Batch) -> int:
        """Write a batch in one transaction and return the last journal seq. Raises on any storage error, in
        which case nothing of the batch is stored."""
        db = self._writer
        db.execute("BEGIN IMMEDIATE")
        try:
            if batch.contents:
                db.executemany("INSERT OR IGNORE INTO content (hash, text) VALUES (?, ?)", batch.contents)
            if batch.users:
                db.executemany(
                    "INSERT INTO users (name, public_key, premium, registered_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET public_key=excluded.public_key, premium=excluded.premium",
                    [(n, k, int(p), at) for n, k, p, at in batch.users],
                )
            if batch.requests:
                db.executemany(
                    "INSERT OR IGNORE INTO requests (user, nonce, signed_at) VALUES (?, ?, ?)", batch.requests
                )
            if batch.steps:
                db.executemany(
                    "INSERT INTO journal (line, signer, nonce, accepted_at) VALUES (?, ?, ?, ?)", batch.steps
                )
            db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return self.last_seq(db)

    def _rollback(self) -> None:
        """Undo an open transaction. SQLite has already rolled back after some errors (a full disk, SQLITE_FULL):
        a second ROLLBACK would then raise and hide the real cause."""
        if self._writer.in_transaction:
            self._writer.execute("ROLLBACK")

    def save_snapshot(self, seq: int, fingerprint: str, payload: Any, keep: int = 2) -> None:
        blob = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        db = self._writer
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT OR REPLACE INTO snapshots (seq, fingerprint, blob) VALUES (?, ?, ?)", (seq, fingerprint, blob)
            )
            db.execute(
                "DELETE FROM snapshots WHERE seq NOT IN (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT ?)", (keep,)
            )
            db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def clear_world(self) -> None:
        """Forget every operation, text and snapshot (test servers' reset); users and the configuration stay."""
        db = self._writer
        db.execute("BEGIN IMMEDIATE")
        try:
            for table in ("journal", "content", "snapshots"):
                db.execute(f"DELETE FROM {table}")
            db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def prune_requests(self, before: int) -> None:
        self._writer.execute("DELETE FROM requests WHERE signed_at < ?", (before,))

    def set_meta(self, key: str, value: str) -> None:
        """Autocommit write of one meta value (any thread: it opens no transaction on the writer connection)."""
        self._reader().execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- verification (at start) ---------------------------------------------------------------------------------

    def verify(self) -> None:
        """Refuse a damaged journal (`DataDirDamaged`, naming the part and the fix): SQLite's own page and index
        check, journal rows numbered 1, 2, 3, ... with no gap, and for every submitted message a content row whose
        sha256 is its hash. What the journal alone can rebuild (snapshots, the search index) is not checked here:
        a snapshot that does not load is skipped, and the index re-indexes from the journal."""
        db = self._reader()
        try:
            problems = [row[0] for row in db.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise DataDirDamaged(f"the journal {self.path} is damaged ({'; '.join(problems)}): {RESTORE}")
            low, high, count = db.execute("SELECT MIN(seq), MAX(seq), COUNT(*) FROM journal").fetchone()
            if count and (low, high) != (1, count):
                gap = db.execute(
                    "SELECT MIN(seq) + 1 FROM journal WHERE seq + 1 NOT IN (SELECT seq FROM journal) AND seq < ?",
                    (high,),
                ).fetchone()[0]
                first = 1 if low != 1 else gap
                raise DataDirDamaged(
                    f"the journal {self.path} has lost operations: rows run from {low} to {high} with {count} present, "
                    f"row {first} is missing; the state cannot be rebuilt without it: {RESTORE}"
                )
            self._verify_content(db)
        except sqlite3.DatabaseError as error:
            raise DataDirDamaged(f"the journal {self.path} cannot be read ({error}): {RESTORE}") from None

    def _verify_content(self, db: sqlite3.Connection) -> None:
        rows = db.execute(
            "SELECT j.seq, lower(json_extract(j.line, '$.hash')) AS h, c.text FROM journal AS j "
            "LEFT JOIN content AS c ON c.hash = lower(json_extract(j.line, '$.hash')) "
            f"WHERE json_extract(j.line, '$.op') IN {CONTENT_OPS!r} ORDER BY j.seq"
        )
        for seq, content_hash, text in rows:
            if text is None:
                raise DataDirDamaged(
                    f"the text of message {content_hash} (journal row {seq}) is missing from the content table of "
                    f"{self.path}; the journal holds only its hash, so it cannot be rebuilt: {RESTORE}"
                )
            if hashlib.sha256(text.encode("utf-8")).hexdigest() != content_hash:
                raise DataDirDamaged(
                    f"the stored text of message {content_hash} (journal row {seq}) in {self.path} no longer hashes "
                    f"to its content hash: it was altered; {RESTORE}"
                )

    # -- reading (any thread) ------------------------------------------------------------------------------------

    def last_seq(self, db: sqlite3.Connection | None = None) -> int:
        row = (db or self._reader()).execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()
        return int(row[0])

    def meta(self, key: str) -> str | None:
        row = self._reader().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def lines(self, after: int = 0) -> Iterator[tuple[int, str]]:
        """Journal rows with seq > after, in order."""
        cursor = self._reader().execute("SELECT seq, line FROM journal WHERE seq > ? ORDER BY seq", (after,))
        yield from cursor

    def content(self, content_hash: str) -> str | None:
        row = self._reader().execute("SELECT text FROM content WHERE hash = ?", (content_hash,)).fetchone()
        return None if row is None else str(row[0])

    def contents(self, hashes: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        db = self._reader()
        for start in range(0, len(hashes), 500):
            chunk = hashes[start : start + 500]
            marks = ",".join("?" * len(chunk))
            out.update(db.execute(f"SELECT hash, text FROM content WHERE hash IN ({marks})", chunk).fetchall())
        return out

    def users(self) -> list[tuple[str, str, bool]]:
        rows = self._reader().execute("SELECT name, public_key, premium FROM users ORDER BY name").fetchall()
        return [(name, key, bool(premium)) for name, key, premium in rows]

    def recent_requests(self, since: int) -> list[tuple[str, str, int]]:
        rows = self._reader().execute("SELECT user, nonce, signed_at FROM requests WHERE signed_at >= ?", (since,))
        return [(u, n, int(t)) for u, n, t in rows]

    def latest_snapshot(self, fingerprint: str) -> tuple[int, Any] | None:
        """The newest snapshot written under this fingerprint, unpickled, or None."""
        rows = self._reader().execute(
            "SELECT seq, blob FROM snapshots WHERE fingerprint = ? ORDER BY seq DESC", (fingerprint,)
        )
        for seq, blob in rows:
            try:
                return int(seq), pickle.loads(blob)
            except Exception:  # a snapshot that no longer loads is skipped: the journal alone is enough
                continue
        return None

    def export(self, out_path: Path) -> int:
        """Write the journal as a SPEC section 8 trace (JSONL); return the number of operations."""
        count = 0
        with open(out_path, "w", encoding="utf-8") as handle:
            for _, line in self.lines():
                handle.write(line + "\n")
                count += 1
        return count
