"""The load test end to end at a small size (issue 7, item 5): a real backend process on 127.0.0.1, 20 users over
HTTP and WebSocket for 5 s. Why here: the load generator is only worth its figures if its consistency checks hold
on a run the suite repeats, so a regression in ordering, fan-out filtering or durability fails this test."""

from __future__ import annotations

from reference_backend.load import run_load


def test_small_load_loses_nothing_and_ends_consistent() -> None:
    report = run_load(users=20, seconds=5, seed=1, timeout=60)
    summary = report.summary()
    assert report.requests > 0 and report.errors == 0, summary
    assert report.acknowledged >= 2 * 20, summary  # each user's funding and thread, then the load's writes
    assert report.connected == 20, summary
    assert report.state_differences == [], report.state_differences[:10]  # no acknowledged operation lost
    assert report.expected_events > 0 and report.delivered_events == report.expected_events, summary
    assert report.missing_events == report.unexpected_events == report.reordered_events == 0, summary
    assert report.gaps == report.resyncs == 0, summary
    assert report.consistent, summary
    assert report.percentile_ms(50) <= report.percentile_ms(95) <= report.percentile_ms(99), summary
