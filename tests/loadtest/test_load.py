"""The load test end to end at a small size, and its checkers on hand-made failures.

Why here: the load generator is only worth its figures if its consistency checks hold on runs the suite repeats,
so a regression in ordering, fan-out filtering, durability or crash recovery fails these tests; and the checkers
are only worth something if they catch what they claim to, which the unit tests at the end show."""

from __future__ import annotations

from pathlib import Path

import pytest

from choir_model import CHOIR, CreateThread, Fund, SubmitMessage
from choir_model import events as ev
from loadtest.run import LoadReport, markdown, run_load, scaled_scenario, write_report, write_section
from loadtest.verify import EventCheck, check_events, check_operations, expected_segments
from reference_backend.auth import dev_keypair
from reference_backend.schemas import OperationResult
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
    assert report.chain is not None and report.chain_consistent, report.chain  # the embedded chain is the default
    assert report.consistent, summary
    assert report.percentile_ms(50) <= report.percentile_ms(95) <= report.percentile_ms(99), summary


def test_sigkill_during_the_load_clients_reconnect_and_nothing_acknowledged_is_lost() -> None:
    report = run_load(users=20, seconds=6, seed=2, timeout=90, faults=1)
    summary = report.summary()
    assert report.faults == 1 and len(report.downtimes) == 1, summary
    assert report.reconnections >= report.users, summary  # every WebSocket came back, with fresh snapshots
    assert report.ws_failures == 0 and report.connected == report.users, summary
    assert report.state_differences == [], report.state_differences[:10]  # acknowledged = journaled, replay equal
    assert report.events.missing == report.events.unexpected == report.events.reordered == 0, summary
    assert report.events.unexplained_resyncs == 0, summary
    assert report.chain_consistent, report.chain  # the chain rebuilt from the journal equals the model
    assert report.consistent, summary


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
