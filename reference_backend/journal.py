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
  fingerprint (the model's source code, parameters and policy) matches, so a changed model replays from row 1, and
  only when the journal rows it stands for are the rows it was taken after: each snapshot stores the sha256 of
  journal rows 1..seq (`JournalDigest`), which `verify` recomputes at start, so a row edited below a snapshot is
  found (the state is then replayed from row 1, where the edited row fails to replay);
* `chain_accounts`: the accounts of the in-process chain (`reference_backend.chain`: the Choir program in
  LiteSVM) after journal row `chain_seq` (in `meta`, with the digest of rows 1..chain_seq), stored with a
  snapshot, only the accounts written since the previous one, so a restart restores the chain and replays only
  the rows after it instead of the whole journal. Used only while its digest matches the journal's rows;
* `meta`: the configuration fingerprint the journal was written under, the chain checkpoint's position, and on
  test servers the highest time their manual clock was set to.

One connection belongs to the writer thread; readers get their own connection per thread (WAL lets them read
while the writer commits).
"""

from __future__ import annotations

import errno
import gc
import hashlib
import json
import pickle
import sqlite3
import threading
from collections.abc import Collection, Iterator
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
CREATE TABLE IF NOT EXISTS snapshots (
    seq INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    blob BLOB NOT NULL,
    journal_digest TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chain_accounts (
    address BLOB PRIMARY KEY,
    lamports INTEGER NOT NULL,
    data BLOB NOT NULL,
    size INTEGER NOT NULL,
    rent_epoch INTEGER NOT NULL
);
"""
CHAIN_SEQ, CHAIN_DIGEST = "chain_seq", "chain_digest"

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


class JournalDigest:
    """The running sha256 of the journal's rows in order (each line and a newline): what a snapshot is checked
    against, so that a snapshot never stands for rows that were changed after it was taken."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.seq = 0

    def extend(self, last_seq: int, lines: list[str]) -> None:
        """Rows up to `last_seq`, in order (one hash update for all of them)."""
        if lines:
            self._hash.update(("\n".join(lines) + "\n").encode("utf-8"))
        self.seq = last_seq

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


@dataclass
class ChainAccounts:
    """What a snapshot stores of the in-process chain: every account (`full`: the table is replaced) or those
    written since the previous checkpoint; each (address, lamports, data, rent_epoch), `data` None for an
    account that no longer exists."""

    full: bool
    accounts: list[tuple[bytes, int, bytes | None, int]]


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
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise DataDirDamaged(
                f"the journal {self.path} is not a readable SQLite database ({error}): {RESTORE}"
            ) from None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._digest: JournalDigest | None = None  # rows 1..last_seq, once `verify` has read them all
        self._verified: dict[int, str] = {}  # snapshot seq -> digest of rows 1..seq, as this process read them

    def _migrate(self) -> None:
        """Data directories written before snapshots carried a journal digest gain the column (their snapshots,
        without one, are never used: the journal alone rebuilds the state)."""
        columns = {row[1] for row in self._writer.execute("PRAGMA table_info(snapshots)")}
        if "journal_digest" not in columns:
            self._writer.execute("ALTER TABLE snapshots ADD COLUMN journal_digest TEXT")

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
        which case nothing of the batch is stored.

        Why one multi-row INSERT per table rather than `executemany`: SQLite releases the GIL around every
        statement step, and `executemany` steps once per row; under load the request-serving thread holds the GIL
        and the writer waits up to a switch interval to get it back after each step, so a batch of a few
        operations spent most of its commit waiting. Now a commit takes a fixed handful of steps whatever its
        size, and the last seq is the journal insert's own `lastrowid` (no query after the commit)."""
        db = self._writer
        db.execute("BEGIN IMMEDIATE")
        try:
            if batch.contents:
                _insert(db, "INSERT OR IGNORE INTO content (hash, text) VALUES", batch.contents)
            if batch.users:
                _insert(
                    db,
                    "INSERT INTO users (name, public_key, premium, registered_at) VALUES",
                    [(n, k, int(p), at) for n, k, p, at in batch.users],
                    " ON CONFLICT(name) DO UPDATE SET public_key=excluded.public_key, premium=excluded.premium",
                )
            if batch.requests:
                _insert(db, "INSERT OR IGNORE INTO requests (user, nonce, signed_at) VALUES", batch.requests)
            last = (
                _insert(db, "INSERT INTO journal (line, signer, nonce, accepted_at) VALUES", batch.steps)
                if batch.steps
                else None
            )
            db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        if last is None:
            return self.last_seq(db)
        if self._digest is not None:
            self._digest.extend(last, [line for line, _, _, _ in batch.steps])
        return last

    def _rollback(self) -> None:
        """Undo an open transaction. SQLite has already rolled back after some errors (a full disk, SQLITE_FULL):
        a second ROLLBACK would then raise and hide the real cause."""
        if self._writer.in_transaction:
            self._writer.execute("ROLLBACK")

    def save_snapshot(
        self, seq: int, fingerprint: str, payload: Any, chain: ChainAccounts | None = None, keep: int = 2
    ) -> bool:
        """Store the state after journal row `seq` (the last committed row: the writer calls this right after a
        commit) with the digest of rows 1..seq, and the chain's accounts as of the same row when given. Without a
        digest (the journal was never verified in this process) nothing is stored, since such a snapshot could
        not be checked at the next start: returns whether it was stored."""
        digest = self._digest
        if digest is None or digest.seq != seq:
            return False
        blob = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        db = self._writer
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT OR REPLACE INTO snapshots (seq, fingerprint, blob, journal_digest) VALUES (?, ?, ?, ?)",
                (seq, fingerprint, blob, digest.hexdigest()),
            )
            if chain is not None:
                self._save_chain(db, seq, digest.hexdigest(), chain)
            db.execute(
                "DELETE FROM snapshots WHERE seq NOT IN (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT ?)", (keep,)
            )
            db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        self._verified[seq] = digest.hexdigest()
        return True

    @staticmethod
    def _save_chain(db: sqlite3.Connection, seq: int, digest: str, chain: ChainAccounts) -> None:
        if chain.full:
            db.execute("DELETE FROM chain_accounts")
        db.executemany(  # without the trailing zeros: a message account is mostly room for more voters
            "INSERT OR REPLACE INTO chain_accounts (address, lamports, data, size, rent_epoch) VALUES (?, ?, ?, ?, ?)",
            [
                (a, lamports, data.rstrip(b"\0"), len(data), epoch)
                for a, lamports, data, epoch in chain.accounts
                if data is not None
            ],
        )
        db.executemany(
            "DELETE FROM chain_accounts WHERE address = ?", [(row[0],) for row in chain.accounts if row[2] is None]
        )
        db.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [(CHAIN_SEQ, str(seq)), (CHAIN_DIGEST, digest)]
        )

    def chain_checkpoint(self) -> tuple[int, list[bytes]] | None:
        """The journal row the stored chain accounts stand for and their addresses, if the rows 1..that one are
        unchanged (their digest, computed by `verify`, equals the stored one); else None (replay the whole
        journal). The accounts themselves are read on first use (`chain_account`, `reference_backend.chain_restore`)."""
        seq, digest = self.meta(CHAIN_SEQ), self.meta(CHAIN_DIGEST)
        if seq is None or digest is None or self._verified.get(int(seq)) != digest:
            return None
        return int(seq), [row[0] for row in self._reader().execute("SELECT address FROM chain_accounts")]

    def chain_account(self, address: bytes) -> tuple[int, bytes, int] | None:
        """One stored chain account as (lamports, data, rent_epoch), its trailing zeros restored; None if absent."""
        row = (
            self._reader()
            .execute("SELECT lamports, data, size, rent_epoch FROM chain_accounts WHERE address = ?", (address,))
            .fetchone()
        )
        if row is None:
            return None
        lamports, data, size, epoch = row
        return lamports, data.ljust(size, b"\0"), epoch

    def chain_accounts(self) -> Iterator[tuple[bytes, int, bytes, int]]:
        """Every stored chain account as (address, lamports, data, rent_epoch), trailing zeros restored."""
        rows = self._reader().execute("SELECT address, lamports, data, size, rent_epoch FROM chain_accounts")
        return ((a, lamports, data.ljust(size, b"\0"), epoch) for a, lamports, data, size, epoch in rows)

    def clear_world(self) -> None:
        """Forget every operation, text and snapshot (test servers' reset); users and the configuration stay."""
        db = self._writer
        db.execute("BEGIN IMMEDIATE")
        try:
            for table in ("journal", "content", "snapshots", "chain_accounts"):
                db.execute(f"DELETE FROM {table}")
            db.execute("DELETE FROM meta WHERE key IN (?, ?)", (CHAIN_SEQ, CHAIN_DIGEST))
            db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        self._verified = {}
        if self._digest is not None:
            self._digest = JournalDigest()

    def prune_requests(self, before: int) -> None:
        self._writer.execute("DELETE FROM requests WHERE signed_at < ?", (before,))

    def set_meta(self, key: str, value: str) -> None:
        """Autocommit write of one meta value (any thread: it opens no transaction on the writer connection)."""
        self._reader().execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- verification (at start) ---------------------------------------------------------------------------------

    def verify(self) -> None:
        """Refuse a damaged journal (`DataDirDamaged`, naming the part and the fix): SQLite's own page and index
        check (on a connection of its own, in parallel: SQLite releases the GIL) and journal rows numbered 1, 2,
        3, ... with no gap. Reading every row also computes the journal digest, so the snapshots whose rows are
        unchanged can be used (`latest_snapshot`). The texts are checked against the rebuilt state
        (`verify_texts`). What the journal alone can rebuild (snapshots, the search index) is not refused: a
        snapshot that does not load or match is skipped, and the index re-indexes from the journal."""
        problems: list[str] = []
        checker = threading.Thread(target=self._quick_check, args=(problems,), name="choir-quick-check")
        checker.start()
        failure: BaseException | None = None
        try:
            self._verify_rows(self._reader())
        except (DataDirDamaged, sqlite3.DatabaseError) as error:
            failure = error
        checker.join()
        if problems != ["ok"]:  # a damaged page explains any other failure: name it first
            raise DataDirDamaged(f"the journal {self.path} is damaged ({'; '.join(problems)}): {RESTORE}")
        if isinstance(failure, sqlite3.DatabaseError):
            raise DataDirDamaged(f"the journal {self.path} cannot be read ({failure}): {RESTORE}") from None
        if failure is not None:
            raise failure

    @property
    def verified(self) -> dict[int, str]:
        """The digests of journal rows 1..seq this process checked (`verify`) or wrote a snapshot after."""
        return dict(self._verified)

    def trust(self, verified: dict[int, str]) -> None:
        """Use the snapshots another process of this server verified (`verified`): a worker's replica
        (`reference_backend.replica`) starts from them without reading the whole journal again."""
        self._verified = dict(verified)

    def _quick_check(self, problems: list[str]) -> None:
        try:
            db = self._connect()
            try:
                problems.extend(row[0] for row in db.execute("PRAGMA quick_check(5)"))
            finally:
                db.close()
        except sqlite3.DatabaseError as error:
            problems.append(str(error))

    def _verify_rows(self, db: sqlite3.Connection) -> None:
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
        marks = [row[0] for row in db.execute("SELECT seq FROM snapshots")]
        marks += [int(row[0]) for row in db.execute("SELECT value FROM meta WHERE key = ?", (CHAIN_SEQ,))]
        snapshots = sorted({seq for seq in marks if seq <= count})
        digest = JournalDigest()
        verified: dict[int, str] = {}
        for bound in [*snapshots, count or 0]:
            rows = db.execute("SELECT line FROM journal WHERE seq > ? AND seq <= ? ORDER BY seq", (digest.seq, bound))
            digest.extend(bound, [row[0] for row in rows])
            verified[bound] = digest.hexdigest()
        self._digest, self._verified = digest, verified

    def verify_texts(self, hashes: Collection[str]) -> None:
        """Every message of the rebuilt state (`hashes`) has its text, and every stored text hashes to its
        content hash (`DataDirDamaged` otherwise, naming the message and its journal row)."""
        db = self._reader()
        try:
            stored: set[str] = set()
            for content_hash, text in db.execute("SELECT hash, text FROM content"):
                if hashlib.sha256(text.encode("utf-8")).hexdigest() != content_hash:
                    raise DataDirDamaged(
                        f"the stored text of message {content_hash} (journal row {self._row_of(db, content_hash)}) "
                        f"in {self.path} no longer hashes to its content hash: it was altered; {RESTORE}"
                    )
                stored.add(content_hash)
            missing = [h for h in hashes if h.lower() not in stored]
            if missing:
                first = min(missing[:20], key=lambda h: self._row_of(db, h))
                raise DataDirDamaged(
                    f"the text of message {first} (journal row {self._row_of(db, first)}) is missing from the content "
                    f"table of {self.path}; the journal holds only its hash, so it cannot be rebuilt: {RESTORE}"
                )
        except sqlite3.DatabaseError as error:
            raise DataDirDamaged(f"the journal {self.path} cannot be read ({error}): {RESTORE}") from None

    @staticmethod
    def _row_of(db: sqlite3.Connection, content_hash: str) -> int:
        """The journal row that submitted a message (error messages only: a scan)."""
        row = db.execute(
            "SELECT MIN(seq) FROM journal WHERE lower(json_extract(line, '$.hash')) = ? "
            f"AND json_extract(line, '$.op') IN {CONTENT_OPS!r}",
            (content_hash.lower(),),
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

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
        """The newest snapshot written under this fingerprint whose journal rows are unchanged (its digest equals
        the one `verify` computed, or this process wrote it), unpickled; or None (replay from row 1)."""
        rows = self._reader().execute(
            "SELECT seq, blob, journal_digest FROM snapshots WHERE fingerprint = ? ORDER BY seq DESC", (fingerprint,)
        )
        for seq, blob, digest in rows:
            if digest is None or self._verified.get(int(seq)) != digest:
                continue
            try:
                return int(seq), _unpickle(blob)
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


ROWS_PER_STATEMENT = 200
"""Rows of one multi-row INSERT (`_insert`): far below SQLite's limit of 32,766 bound parameters."""


def _insert(db: sqlite3.Connection, head: str, rows: list[tuple[Any, ...]], tail: str = "") -> int:
    """`head` VALUES (...), (...), ... `tail` for every row, in as few statements as the row limit allows; returns
    the rowid of the last row inserted."""
    width = len(rows[0])
    marks = "(" + ",".join("?" * width) + ")"
    last = 0
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        cursor = db.execute(f"{head} {','.join([marks] * len(chunk))}{tail}", [v for row in chunk for v in row])
        last = cursor.lastrowid or last
    return last


def _unpickle(blob: bytes) -> Any:
    """Unpickle a snapshot with the cyclic garbage collector paused: loading creates hundreds of thousands of
    objects, each allocation burst would otherwise start a collection over all of them (half the load time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return pickle.loads(blob)
    finally:
        if enabled:
            gc.enable()
