"""The load test's consistency checks, from the clients' side and the journal (spec section 10).

Why the journal: after a crash, what counts is what the server made durable. A write whose answer was lost (the
server died mid-request) may or may not be there; every other write is known. So the checks are:

* **operations**: every acknowledged operation is in the journal at the `seq` it was acknowledged with, as the
  same step; every journal row is either acknowledged or one of the writes in doubt (never something nobody
  sent, never a refused write). Nothing acknowledged is lost, across any number of SIGKILLs.
* **state**: the model replaying the journal accepts every row, and its snapshot equals the server's
  (`GET /v1/admin/snapshot`).
* **snapshots**: every `StateSync` a subscriber received is the thread view the model gives that user
  (`reference_backend.views.thread_draft`, texts aside) at the journal position the snapshot names. Events from
  before a subscriber's first snapshot (it connected late, after retries) and events a reconnection skipped are
  covered by a snapshot, so checking the snapshot is what keeps them from hiding a loss.
* **events**: per subscription, the deltas received after each snapshot (a `Segment`) are exactly the events
  the replay says this user may see (`reference_backend.ws.visible`) after that snapshot, in journal order. A
  segment that a reconnection or resync ended may stop early (the next snapshot covers the rest: `bridged`), but
  what it holds is a prefix of what it should: no hole, no event out of order or one the user may not see; the
  last segment is complete, unless the socket gave up reconnecting (its tail is then `abandoned`, reported with
  the socket). Snapshots beyond one per connection are unexplained resyncs. A socket that never connected is
  reported as such by the caller, not checked here.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from choir_model import ChoirError, Model, Params, Step
from choir_model.privacy import View
from choir_model.trace import step_from_json
from properties.compare import diff_snapshots
from reference_backend.errors import ApiError
from reference_backend.journal import JOURNAL_FILE
from reference_backend.schemas import OperationResult
from reference_backend.views import thread_draft
from reference_backend.ws import Delta, event_facts, visible
from reference_backend.ws_client import WsClient

EventKey = tuple[int, str]
"""(journal seq, event kind): one delivered or expected event."""
Snapshot = tuple[str, str, dict[str, Any]]
"""(user, thread id, the `StateSync` payload): what one snapshot showed its subscriber."""


@dataclass
class OperationCheck:
    differences: list[str] = field(default_factory=list)
    in_doubt_journaled: int = 0


@dataclass
class EventCheck:
    delivered: int = 0
    expected: int = 0
    missing: int = 0
    unexpected: int = 0
    reordered: int = 0
    bridged: int = 0  # events a reconnection or resync skipped, covered by the next snapshot
    abandoned: int = 0  # events after a socket gave up reconnecting
    unexplained_resyncs: int = 0


def read_journal(data_dir: Path) -> list[tuple[int, Step]]:
    """The journal's rows (read-only: the server may still be running)."""
    db = sqlite3.connect(f"file:{data_dir / JOURNAL_FILE}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT seq, line FROM journal ORDER BY seq").fetchall()
    finally:
        db.close()
    return [(int(seq), step_from_json(json.loads(line), int(seq))) for seq, line in rows]


def _identity(step: Step) -> str:
    """A write as its sender knew it: everything but `now`, which the server chose."""
    fields = step.to_json()
    fields.pop("now", None)
    return json.dumps(fields, sort_keys=True)


def check_operations(
    rows: list[tuple[int, Step]], acked: Iterable[tuple[OperationResult, Step]], in_doubt: Iterable[Step]
) -> OperationCheck:
    """Acknowledged writes are journaled as acknowledged; the journal holds nothing else but writes in doubt."""
    check = OperationCheck()
    journal = dict(rows)
    acked_seqs: set[int] = set()
    for result, step in acked:
        if result.seq in acked_seqs:
            check.differences.append(f"two acknowledged operations share journal seq {result.seq}")
        acked_seqs.add(result.seq)
        row = journal.get(result.seq)
        if row is None:
            check.differences.append(f"acknowledged {step.op} (seq {result.seq}) is not in the journal: lost")
        elif row.to_json() != step.to_json():
            check.differences.append(f"journal seq {result.seq} holds {row.to_json()}, acknowledged {step.to_json()}")
    doubt = Counter(_identity(step) for step in in_doubt)
    for seq, step in rows:
        if seq in acked_seqs:
            continue
        key = _identity(step)
        if doubt[key] > 0:
            doubt[key] -= 1
            check.in_doubt_journaled += 1
        else:
            check.differences.append(f"journal seq {seq} ({step.op}) was neither acknowledged nor in doubt")
    return check


def replay(
    rows: list[tuple[int, Step]], params: Params, policy: str, actual: dict[str, Any]
) -> tuple[dict[str, list[Delta]], list[str]]:
    """Replay the journal on the model: each thread's deltas (visibility read after each operation, as the server
    does) and the differences between the model's final snapshot and the server's (`actual`)."""
    model = Model(params, policy=policy)
    deltas: dict[str, list[Delta]] = {}
    differences: list[str] = []
    for seq, step in rows:
        try:
            events = model.apply(step)
        except ChoirError as error:
            differences.append(f"journal seq {seq} ({step.op}) is refused by the model: {error}")
            continue
        for facts in event_facts(model.state, events):
            deltas.setdefault(facts[0], []).append(Delta(seq, *facts))
    differences.extend(diff_snapshots(model.snapshot(), actual))
    return deltas, differences


def snapshots_of(clients: Iterable[WsClient]) -> dict[int, list[Snapshot]]:
    """Every snapshot the clients received, by the journal position it was taken at."""
    out: dict[int, list[Snapshot]] = defaultdict(list)
    for client in clients:
        for frame in client.frames:
            if frame.get("type") == "StateSync":
                out[frame["journal_seq"]].append((client.user, frame["thread_id"], frame["payload"]))
    return out


def _shown(fields: dict[str, Any], *leave_out: str) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None and key not in leave_out}


def snapshot_difference(model: Model, as_of: int, snapshot: Snapshot) -> str | None:
    """How `snapshot` differs from the view the model gives its user now (at `as_of`); None if it does not.
    Texts and summaries are the backend's, not the model's, so they are left out (not premium: the load's users
    are not)."""
    user, thread_id, payload = snapshot
    where = f"{user}'s snapshot of {thread_id} at journal seq {as_of}"
    try:
        draft = thread_draft(model, user, False, thread_id)
    except ApiError as error:
        return f"{where} shows a thread the model does not show: {error.message}"
    fields, wanted = _shown(payload, "messages"), _shown(draft.fields)
    for key in sorted(fields.keys() | wanted.keys()):
        if fields.get(key) != wanted.get(key):
            return f"{where}: {key} is {fields.get(key)!r}, the model's {wanted.get(key)!r}"
    got = [_shown(message, "content", "summary") for message in payload["messages"]]
    want = [_shown(row, *(() if view is View.FULL else ("content_hash",))) for row, _, view in draft.rows]
    if len(got) != len(want):
        return f"{where} shows {len(got)} messages, the model {len(want)}"
    pairs = enumerate(zip(got, want, strict=True))
    return next((f"{where}: message {n} is {a}, the model's {b}" for n, (a, b) in pairs if a != b), None)


def check_snapshots(
    rows: list[tuple[int, Step]], params: Params, policy: str, snapshots: dict[int, list[Snapshot]]
) -> tuple[int, list[str]]:
    """Replay the journal on the model and compare each snapshot with the model's view at the journal position it
    names: how many were checked, and the differences."""
    model = Model(params, policy=policy)
    due = sorted(snapshots.items(), reverse=True)  # the next journal position due is last
    checked, differences = 0, []

    def check_before(seq: int) -> None:
        """Check the snapshots taken before journal position `seq` on the model as it is now."""
        nonlocal checked
        while due and due[-1][0] < seq:
            as_of, taken = due.pop()
            checked += len(taken)
            found = (snapshot_difference(model, as_of, snapshot) for snapshot in taken)
            differences.extend(difference for difference in found if difference is not None)

    for seq, step in rows:
        check_before(seq)
        with contextlib.suppress(ChoirError):  # `replay` reports a row the model refuses
            model.apply(step)
    last = rows[-1][0] if rows else 0
    check_before(last + 1)
    for as_of, taken in due:
        checked += len(taken)
        differences += [f"{user}'s snapshot of {thread} names journal seq {as_of}, past the journal's end ({last})"
                        for user, thread, _ in taken]  # fmt: skip
    return checked, differences


def expected_segments(client: WsClient, deltas: dict[str, list[Delta]]) -> dict[str, list[list[EventKey]]]:
    """For each subscription of `client`, the events each of its segments should hold."""
    out: dict[str, list[list[EventKey]]] = {}
    for thread_id, mirror in client.threads.items():
        bounds = [segment.as_of for segment in mirror.segments] + [None]
        out[thread_id] = [
            [
                (d.journal_seq, d.event.kind)
                for d in deltas.get(thread_id, ())
                if low < d.journal_seq and (high is None or d.journal_seq <= high)
                and visible(d, client.user, False) is not None
            ]
            for low, high in itertools.pairwise(bounds)
        ]  # fmt: skip
    return out


def caught_up(client: WsClient, expected: dict[str, list[list[EventKey]]]) -> bool:
    """Every subscription's last segment holds at least what it should (the client has drained its socket)."""
    return all(
        bool(mirror.segments) and len(mirror.segments[-1].events) >= len(expected[thread_id][-1])
        for thread_id, mirror in client.threads.items()
    )


def check_events(client: WsClient, expected: dict[str, list[list[EventKey]]], check: EventCheck) -> None:
    """Compare what `client` received with what it should have (see the module docstring); add to `check`. A
    client that never connected has nothing to compare (its caller reports it)."""
    if client.connections == 0:
        return
    for thread_id, mirror in client.threads.items():
        check.unexplained_resyncs += max(0, mirror.snapshots - client.connections)
        if not mirror.segments:
            check.missing += 1  # no snapshot ever arrived
            continue
        for number, (segment, want) in enumerate(zip(mirror.segments, expected[thread_id], strict=True), 1):
            got = [(f["journal_seq"], f["payload"].get("event")) for f in segment.events]
            delivered, wanted = set(got), set(want)
            check.delivered += len(got)
            check.expected += len(want)
            check.unexpected += len(delivered - wanted)
            # Reordered: events both lists hold, in another relative order (a missing event is not a reordering).
            common = delivered & wanted
            in_got, in_want = [e for e in got if e in common], [e for e in want if e in common]
            check.reordered += sum(1 for a, b in zip(in_got, in_want, strict=True) if a != b)
            if number == len(mirror.segments) and client.failed is None:
                check.missing += len(wanted - delivered)
                continue
            # A segment cut short: what it holds must be a prefix of what it should (a hole is a loss).
            position = {event: index for index, event in enumerate(want, 1)}
            end = max((position[event] for event in common), default=0)
            check.missing += len(set(want[:end]) - delivered)
            skipped = len(want) - end
            if number == len(mirror.segments):
                check.abandoned += skipped
            else:
                check.bridged += skipped
