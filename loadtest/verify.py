"""The load test's consistency checks, from the clients' side and the journal (spec section 10).

Why the journal: after a crash, what counts is what the server made durable. A write whose answer was lost (the
server died mid-request) may or may not be there; every other write is known. So the checks are:

* **operations**: every acknowledged operation is in the journal at the `seq` it was acknowledged with, as the
  same step; every journal row is either acknowledged or one of the writes in doubt (never something nobody
  sent, never a refused write). Nothing acknowledged is lost, across any number of SIGKILLs.
* **state**: the model replaying the journal accepts every row, and its snapshot equals the server's
  (`GET /v1/admin/snapshot`).
* **events**: per subscription, the deltas received after each snapshot (a `Segment`) are exactly the events
  the replay says this user may see (`reference_backend.ws.visible`) after that snapshot, in journal order. A
  segment that a reconnection or resync ended may stop early (the next snapshot covers the rest), but it never
  holds an event out of order or one the user may not see; the last segment is complete. Snapshots beyond one
  per connection are unexplained resyncs.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from choir_model import ChoirError, Model, Params, Step
from choir_model.trace import step_from_json
from properties.compare import diff_snapshots
from reference_backend.journal import JOURNAL_FILE
from reference_backend.schemas import OperationResult
from reference_backend.ws import Delta, event_facts, visible
from reference_backend.ws_client import WsClient

EventKey = tuple[int, str]
"""(journal seq, event kind): one delivered or expected event."""


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
    """Compare what `client` received with what it should have (see the module docstring); add to `check`."""
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
            if number == len(mirror.segments):
                check.missing += len(wanted - delivered)
            else:
                check.bridged += max(0, len(want) - len(got))
