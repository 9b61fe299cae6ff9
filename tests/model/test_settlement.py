"""Every settlement outcome under every policy (SPEC section 4), with the money worked out by hand.

The world: alice created t1; bob and carol joined; so the voters of a new spec are alice, bob and carol. dave
stakes S = 10 CHOIR + 1 base unit, which leaves a remainder of 2 when split three ways and of 1 when the
collective policy takes S*2//3 for the treasury. Deltas are relative to the moment before dave's spec.
"""

from __future__ import annotations

import pytest

from choir_model import (
    CHOIR,
    CreateThread,
    Expire,
    Model,
    Params,
    ProcessApproval,
    RequestPublic,
    SubmitMessage,
    SubmitSpec,
)

from .conftest import T0, funded, h

S = 10 * CHOIR + 1
THIRD = 3_333_333_333  # S // 3, remainder 2
WEEK = 7 * 24 * 3600
VOTERS = ("alice", "bob", "carol")


def three_coauthors(policy: str, params: Params | None = None) -> Model:
    model = funded(policy, params, alice=100 * CHOIR, bob=100 * CHOIR, carol=100 * CHOIR, dave=100 * CHOIR)
    model.apply(CreateThread("alice", T0 + 10, "t1", 10 * CHOIR))
    model.apply(SubmitSpec("bob", T0 + 11, "t1", h("bob"), CHOIR))
    model.apply(ProcessApproval("alice", T0 + 12, "t1", h("bob"), True))
    model.apply(SubmitSpec("carol", T0 + 13, "t1", h("carol"), 2 * CHOIR))
    model.apply(ProcessApproval("alice", T0 + 14, "t1", h("carol"), True))
    model.apply(ProcessApproval("bob", T0 + 15, "t1", h("carol"), True))
    assert model.state.threads["t1"].co_authors == list(VOTERS)
    return model


def ledger(model: Model) -> dict[str, int]:
    s = model.state
    return {
        "treasury": s.treasury,
        "t1": s.threads["t1"].balance,
        **{n: s.wallets.get(n, 0) for n in (*VOTERS, "dave")},
    }


# (policy, outcome) -> (votes of alice, bob, carol or None for expiry, expected deltas, final state, dave joins)
CASES = {
    ("seeds", "approved"): (
        (True, True, True),
        {"alice": THIRD, "bob": THIRD, "carol": THIRD, "treasury": 2},
        "Public",
    ),
    ("seeds", "denied"): ((False, False, False), {"t1": S}, "Rejected"),
    ("seeds", "mixed"): ((True, True, False), {"treasury": S}, "Rejected"),
    ("seeds", "expired"): (None, {"treasury": S}, "Expired"),
    ("scales-2024-10", "approved"): ((True, True, True), {"t1": S}, "Public"),
    ("scales-2024-10", "denied"): (
        (False, False, False),
        {"alice": THIRD, "bob": THIRD, "carol": THIRD, "treasury": 2},
        "Rejected",
    ),
    ("scales-2024-10", "mixed"): ((False, True, True), {"treasury": S}, "Rejected"),
    ("scales-2024-10", "expired"): (None, {"treasury": S}, "Expired"),
    ("collective-2024-11", "approved"): (
        (True, True, True),
        {"alice": THIRD, "bob": THIRD, "carol": THIRD, "treasury": 2},
        "Public",
    ),
    ("collective-2024-11", "denied"): ((False, False, False), {"t1": S}, "Rejected"),
    # A=2, D=1: S*2//3 = 6_666_666_667 to the treasury, the other 3_333_333_334 to the thread.
    ("collective-2024-11", "mixed"): (
        (True, False, True),
        {"treasury": 6_666_666_667, "t1": 3_333_333_334},
        "Rejected",
    ),
    ("collective-2024-11", "expired"): (None, {"treasury": S}, "Expired"),
}


@pytest.mark.parametrize(("policy", "outcome"), list(CASES))
def test_spec_settlement(policy: str, outcome: str) -> None:
    votes, deltas, final_state = CASES[(policy, outcome)]
    model = three_coauthors(policy)
    now = T0 + 100
    model.apply(SubmitSpec("dave", now, "t1", h("dave"), S))
    before = ledger(model)
    assert before["dave"] == 100 * CHOIR - S
    if votes is None:
        model.apply(Expire("keeper", now + WEEK, "t1", h("dave")))
    else:
        for voter, approve in zip(VOTERS, votes, strict=True):
            model.apply(ProcessApproval(voter, now + 1, "t1", h("dave"), approve))
    after = ledger(model)
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} == deltas
    message = model.state.threads["t1"].messages[h("dave")]
    assert (message.state.value, message.stake) == (final_state, 0)
    joined = outcome == "approved"
    assert model.state.threads["t1"].co_authors == [*VOTERS, "dave"] if joined else list(VOTERS)
    assert model.state.escrow_total == 0
    record = model.analytics[("t1", h("dave"))]
    assert (record.actual, record.outcome) == (S, outcome)


def test_settlement_waits_for_the_last_vote() -> None:
    model = three_coauthors("seeds")
    model.apply(SubmitSpec("dave", T0 + 100, "t1", h("dave"), S))
    model.apply(ProcessApproval("alice", T0 + 101, "t1", h("dave"), False))
    model.apply(ProcessApproval("bob", T0 + 102, "t1", h("dave"), False))
    message = model.state.threads["t1"].messages[h("dave")]
    assert (message.state.value, message.stake) == ("Pending", S)


def test_a_stake_smaller_than_the_approvers_goes_to_the_treasury() -> None:
    model = three_coauthors("seeds", Params(min_stake=1))
    model.apply(SubmitSpec("dave", T0 + 100, "t1", h("dust"), 2))
    treasury = model.state.treasury
    for voter in VOTERS:
        model.apply(ProcessApproval(voter, T0 + 101, "t1", h("dust"), True))
    assert model.state.treasury == treasury + 2  # 2 // 3 == 0 each, remainder 2


@pytest.mark.parametrize("policy", ["seeds", "scales-2024-10", "collective-2024-11"])
@pytest.mark.parametrize(
    ("votes", "final_state"),
    [((True, True, True), "Public"), ((False, False, False), "Rejected"), ((True, False, True), "Rejected")],
)
def test_public_request_settles_with_no_money(policy: str, votes: tuple[bool, ...], final_state: str) -> None:
    model = three_coauthors(policy)
    model.apply(SubmitMessage("alice", T0 + 100, "t1", h("note")))
    model.apply(RequestPublic("alice", T0 + 101, "t1", h("note")))
    before = ledger(model)
    for voter, approve in zip(("bob", "carol"), votes[1:], strict=True):
        model.apply(ProcessApproval(voter, T0 + 102, "t1", h("note"), approve))
    assert ledger(model) == before
    assert model.state.threads["t1"].messages[h("note")].state.value == final_state
    assert model.state.threads["t1"].co_authors == list(VOTERS)


def test_public_request_expires_with_no_money() -> None:
    model = three_coauthors("seeds")
    model.apply(SubmitMessage("bob", T0 + 100, "t1", h("note")))
    model.apply(RequestPublic("bob", T0 + 101, "t1", h("note")))
    before = ledger(model)
    model.apply(Expire("keeper", T0 + 101 + WEEK, "t1", h("note")))
    assert ledger(model) == before
    assert model.state.threads["t1"].messages[h("note")].state.value == "Expired"
