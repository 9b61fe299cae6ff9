"""The load test end to end at a small size, and its checkers on hand-made failures.

Why here: the load generator is only worth its figures if its consistency checks hold on runs the suite repeats,
so a regression in ordering, fan-out filtering, durability or crash recovery fails these tests; and the checkers
are only worth something if they catch what they claim to, which the unit tests at the end show."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path

import pytest

from choir_model import CHOIR, CreateThread, Fund, Model, Params, SubmitMessage
from choir_model import events as ev
from choir_model.state import Privacy
from loadtest import run as load_run
from loadtest.run import LoadReport, markdown, run_load, scaled_scenario, write_report, write_section
from loadtest.verify import EventCheck, check_events, check_operations, check_snapshots, expected_segments
from reference_backend.auth import dev_keypair
from reference_backend.content import StatisticsSummarizer, content_hash
from reference_backend.schemas import OperationResult
from reference_backend.server import free_port
from reference_backend.views import thread_draft, thread_view
from reference_backend.ws import Delta
from reference_backend.ws_client import Segment, ThreadMirror, WsClient
from sim.engine import World
from sim.scenario import load_scenario

SIGNERS = ("treasury1", "treasury2")


def test_small_load_of_simulator_agents_loses_nothing_and_ends_consistent() -> None:
    report = run_load(users=20, seconds=5, seed=1, timeout=60)
    summary = report.summary()
    assert report.users == report.connected == 20, summary
    assert report.requests > 0 and report.errors == 0, summary  # refusals by the rules are allowed, not errors
    assert report.acknowledged > 20, summary  # the scenario's bootstrap alone funds every user
    assert {"fund", "create_thread", "submit_spec", "process_approval"} <= set(report.acknowledged_by_op), summary
    assert report.state_differences == [], report.state_differences[:10]  # no acknowledged operation lost
    assert report.in_doubt == report.in_doubt_journaled == report.faults == 0, summary
    assert report.events.expected > 0 and report.events.delivered == report.events.expected, summary
    assert report.events.missing == report.events.unexpected == report.events.reordered == 0, summary
    assert report.events.bridged == report.events.unexplained_resyncs == report.reconnections == 0, summary
    assert report.snapshots_checked >= 20 and report.snapshot_differences == [], report.snapshot_differences[:5]
    assert report.chain is not None and report.chain_consistent, report.chain  # the embedded chain is the default
    assert report.consistent, summary
    assert report.percentile_ms(50) <= report.percentile_ms(95) <= report.percentile_ms(99), summary


def test_sigkill_during_the_load_clients_reconnect_and_nothing_acknowledged_is_lost() -> None:
    report = run_load(users=20, seconds=6, seed=2, timeout=90, faults=1)
    summary = report.summary()
    assert report.faults == 1 and len(report.downtimes) == 1, summary
    assert report.reconnections >= report.users, summary  # every WebSocket came back, with fresh snapshots
    assert report.gave_up == report.never_connected == 0 and report.connected == report.users, summary
    assert report.snapshots_checked > report.users and report.snapshot_differences == [], report.snapshot_differences
    assert report.state_differences == [], report.state_differences[:10]  # acknowledged = journaled, replay equal
    assert report.events.missing == report.events.unexpected == report.events.reordered == 0, summary
    assert report.events.unexplained_resyncs == 0, summary
    assert report.chain_consistent, report.chain  # the chain rebuilt from the journal equals the model
    assert report.consistent, summary


def test_websockets_that_fail_to_connect_retry_and_one_that_never_connects_is_not_a_lost_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three users' connection attempts go to a closed 127.0.0.1 port: one for its first 2 attempts (it connects in
    setup), one for its first 4 (0.25 + 0.5 + 1 + 2 s of backoff: past the 1 s `connect_timeout`, so it connects
    during the load and its first snapshot covers what came before), one for every attempt."""
    identities = [i for a in World(scaled_scenario(load_scenario("baseline"), 20, 4), check="off").agents
                  for i in a.identities]  # fmt: skip
    early, late, never = identities[3], identities[8], identities[13]
    refusals = {early: 2, late: 4, never: 10**6}
    closed = f"ws://127.0.0.1:{free_port()}/v1/ws"

    class FlakyWsClient(WsClient):
        """Reads its URL once per connection attempt (`WsClient._run`): the closed port while refused."""

        attempts = 0

        @property  # type: ignore[override]
        def url(self) -> str:
            self.attempts += 1
            return closed if self.attempts <= refusals.get(self.user, 0) else self.real_url

        @url.setter
        def url(self, value: str) -> None:
            self.real_url = value

    monkeypatch.setattr(load_run, "WsClient", FlakyWsClient)
    report = run_load(users=20, seconds=6, seed=4, timeout=60, connect_timeout=1.0)
    summary = report.summary()
    assert report.never_connected == 1 and report.connected == 19 and report.gave_up == 0, summary
    assert report.connect_retries >= 2 + 4 + 1 and report.connected_late >= 1, summary
    assert report.events.missing == report.events.unexpected == report.events.reordered == 0, summary
    assert report.events.delivered == report.events.expected > 0, summary
    assert report.snapshot_differences == [] and report.snapshots_checked >= 19, report.snapshot_differences[:5]
    assert report.consistent and not report.all_connected and not report.passed, summary
    assert "1 WebSockets not connected" in markdown(report, "choir load")


def test_scenarios_scale_to_exactly_the_users_asked_for() -> None:
    for name in ("baseline", "sybil", "mixed"):
        for users in (50, 1000):
            scenario = scaled_scenario(load_scenario(name), users, seed=3)
            world = World(scenario, check="off")
            assert sum(len(agent.identities) for agent in world.agents) == users, (name, users)
            assert {g.name for g in scenario.groups if g.config.count} == {
                g.name for g in load_scenario(name).groups if g.config.count
            }
    assert sum(g.config.count for g in scaled_scenario(load_scenario("baseline"), 7, seed=3).groups) == 7
    with pytest.raises(ValueError, match="too few for scenario 'sybil'"):
        scaled_scenario(load_scenario("sybil"), 7, seed=3)  # a Sybil ring alone has more identities


def test_the_report_section_is_replaced_not_repeated(tmp_path: Path) -> None:
    page = tmp_path / "report.md"
    page.write_text("# Choir simulation report\n\ntext\n")
    report = LoadReport("baseline", 2, 1.0, 86_400.0, connected=2)
    write_section(page, markdown(report, "choir load --users 2"))
    write_section(page, markdown(report, "choir load --users 2 --faults 1"))
    text = page.read_text()
    assert text.startswith("# Choir simulation report") and text.count("## Backend load") == 1
    assert "--faults 1" in text and "consistent" in text


def test_the_html_report_shows_the_load_section(tmp_path: Path) -> None:
    """`choir load --out` runs after `choir sim report` wrote both pages: the HTML is rendered again from the
    Markdown, so it holds the load's table too."""
    (tmp_path / "report.md").write_text("# Choir simulation report\n\ntext\n")
    (tmp_path / "report.html").write_text("<html>the simulation only</html>")
    report = LoadReport("baseline", 2, 1.0, 86_400.0, connected=2, requests=1_234)
    page = write_report(tmp_path, report, "choir load --users 2")
    html = page.read_text()
    assert page == tmp_path / "report.html" and "<h2>Backend load: consistent</h2>" in html
    assert "<td>1,234 (" in html and "<title>Choir simulation report</title>" in html


# -- the checkers catch what they claim to --------------------------------------------------------------------------


def result(seq: int, now: int = 100) -> OperationResult:
    return OperationResult(op="x", seq=seq, now=now)


def test_operation_check_catches_a_lost_acknowledgement_and_an_unsent_row() -> None:
    fund = Fund("ann", 100, 10 * CHOIR, SIGNERS)
    create = CreateThread("ann", 101, "t", CHOIR)
    post = SubmitMessage("ann", 102, "t", "ab" * 32)
    rows = [(1, fund), (2, create), (3, post)]
    clean = check_operations(
        rows, [(result(1), fund), (result(2, 101), create)], [SubmitMessage("ann", 0, "t", "ab" * 32)]
    )
    assert clean.differences == [] and clean.in_doubt_journaled == 1
    lost = check_operations(rows[:1], [(result(1), fund), (result(2, 101), create)], [])
    assert any("lost" in d for d in lost.differences)
    unsent = check_operations(rows, [(result(1), fund), (result(2, 101), create)], [])
    assert any("neither acknowledged nor in doubt" in d for d in unsent.differences)
    moved = check_operations(rows, [(result(1), fund), (result(3, 101), create)], [])
    assert any("journal seq 3 holds" in d for d in moved.differences)


def frame(seq: int, journal_seq: int, kind: str) -> dict:
    return {"type": "ThreadUpdate", "seq": seq, "journal_seq": journal_seq, "payload": {"event": kind}}


def test_event_check_catches_missing_unexpected_and_reordered_events_and_allows_a_bridged_gap() -> None:
    co_authors = frozenset({"ann"})
    deltas = {
        "t": [
            Delta(seq, "t", ev.ThreadCreated("t", "ann", CHOIR) if seq == 1 else ev.CoAuthorAdded("t", f"u{seq}"),
                  co_authors, None)
            for seq in range(1, 7)
        ]
    }  # fmt: skip

    def client(*segments: Segment, connections: int = 1) -> WsClient:
        c = WsClient("http://127.0.0.1:1", "ann", dev_keypair("ann"))
        c.connections = connections
        c.threads["t"] = ThreadMirror("t", segments=list(segments), snapshots=len(segments))
        return c

    def check(c: WsClient) -> EventCheck:
        out = EventCheck()
        check_events(c, expected_segments(c, deltas), out)
        return out

    whole = [frame(i, j, "CoAuthorAdded") for i, j in enumerate(range(3, 7), 1)]
    good = check(client(Segment(2, whole)))
    assert (good.delivered, good.expected, good.missing, good.unexpected, good.reordered) == (4, 4, 0, 0, 0)
    missing = check(client(Segment(2, whole[1:])))
    assert (missing.missing, missing.reordered) == (1, 0)  # one lost event shifts the rest, but none is reordered
    swapped = check(client(Segment(2, [whole[1], whole[0], *whole[2:]])))
    assert swapped.reordered == 2
    extra = check(client(Segment(2, [*whole, frame(5, 9, "CoAuthorAdded")])))
    assert extra.unexpected == 1
    bridged = check(client(Segment(2, whole[:1]), Segment(5, [frame(1, 6, "CoAuthorAdded")]), connections=2))
    assert (bridged.bridged, bridged.missing, bridged.unexplained_resyncs) == (2, 0, 0)
    resynced = check(client(Segment(2, whole[:1]), Segment(5, [frame(1, 6, "CoAuthorAdded")]), connections=1))
    assert resynced.unexplained_resyncs == 1
    # A segment a reconnection cut short holds a prefix: a hole in it is a loss, not something the snapshot bridged.
    holed = check(client(Segment(2, [whole[0], whole[2]]), Segment(5, [frame(1, 6, "CoAuthorAdded")]), connections=2))
    assert (holed.missing, holed.bridged) == (1, 0)
    gave_up = client(Segment(2, whole[:2]), connections=1)
    gave_up.failed = ConnectionError("gave up")
    assert (check(gave_up).abandoned, check(gave_up).missing) == (2, 0)
    never = client(connections=0)
    assert check(never) == EventCheck()  # reported as never connected by the load, not as lost events


def test_snapshot_check_catches_a_snapshot_unlike_the_model_at_its_journal_position() -> None:
    """A late subscriber's first snapshot stands for every event before it: a wrong one must not pass."""
    steps = [Fund("ann", 100, 10 * CHOIR, SIGNERS), CreateThread("ann", 101, "t", CHOIR),
             SubmitMessage("ann", 102, "t", content_hash("hello"), Privacy.PUBLIC)]  # fmt: skip
    rows = list(enumerate(steps, 1))
    model = Model(Params())
    for step in steps[:2]:
        model.apply(step)
    at_2 = thread_view(thread_draft(model, "ann", False, "t"), {}, StatisticsSummarizer()).model_dump(mode="json")
    model.apply(steps[2])
    at_3 = thread_view(thread_draft(model, "ann", False, "t"), {}, StatisticsSummarizer()).model_dump(mode="json")
    assert check_snapshots(rows, Params(), "seeds", {2: [("ann", "t", at_2)], 3: [("ann", "t", at_3)]}) == (2, [])
    stale = check_snapshots(rows, Params(), "seeds", {3: [("ann", "t", at_2)]})  # a message missing from it
    assert stale[0] == 1 and len(stale[1]) == 1 and "t at journal seq 3: content_hashes is" in stale[1][0], stale
    poorer = copy.deepcopy(at_3)
    poorer["balance"] -= 1
    assert "balance is" in check_snapshots(rows, Params(), "seeds", {3: [("ann", "t", poorer)]})[1][0]
    assert "past the journal" in check_snapshots(rows, Params(), "seeds", {4: [("ann", "t", at_3)]})[1][0]


def test_sigterm_stops_the_load_and_the_server_it_started(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGTERM (a CI's cancel) once the server is up: `choir load` stops it and exits 130, instead of dying alone
    and leaving `choir serve` running."""
    import os
    import signal

    from choir.cli import app

    started: list[int] = []

    async def cancelled(self: load_run._Run) -> None:
        started.append(self.server.process.pid)  # type: ignore[union-attr]
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(30)

    monkeypatch.setattr(load_run._Run, "run", cancelled)
    with pytest.raises(SystemExit) as exit_info:  # through `ChoirApp`, which holds the SIGTERM handler
        app(["load", "--users", "20", "--seconds", "1"])
    assert exit_info.value.code == 130
    assert "interrupted: the load and the server it started are stopped" in " ".join(capsys.readouterr().err.split())
    with pytest.raises(ProcessLookupError):
        os.kill(started[0], 0)  # the server is gone (and reaped: not a zombie either)
