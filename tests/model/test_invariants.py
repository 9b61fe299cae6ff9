"""Each invariant of SPEC section 6 catches a state corrupted on purpose, per step and in the full audit.

`step_violations` applies a real step and then corrupts the state, as a buggy implementation would; the per-step
checker must name the broken invariant. The same step without corruption must report nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from choir_model import (
    CHOIR,
    INVARIANTS,
    Checker,
    ChoirError,
    ChoirState,
    CreateThread,
    Divest,
    Expire,
    Fund,
    Model,
    Params,
    ProcessApproval,
    Step,
    SubmitMessage,
    SubmitSpec,
    audit,
)
from choir_model.state import MessageState

from .conftest import SIGNERS, T0, funded, h

WEEK = 7 * 24 * 3600


def step_violations(
    model: Model, step: Step, corrupt: Callable[[ChoirState], None] | None = None, checker: Checker | None = None
) -> set[str]:
    checker = checker or Checker(model.params, model.policy, model.economics)
    before = checker.before(model.state, step)
    error, events = None, []
    try:
        events = model.rules.apply(model.state, step)
    except ChoirError as caught:
        error = caught
    if corrupt is not None:
        corrupt(model.state)
    return {v.invariant for v in checker.after(model.state, step, before, error, events)}


def audited(model: Model) -> set[str]:
    return {v.invariant for v in audit(model.state, model.params)}


@pytest.fixture
def world() -> Model:
    """t1 by alice (10 CHOIR) with bob as co-author; carol has a pending 2 CHOIR spec; alice has a Public
    message b1 (bob's joining spec)."""
    model = funded(alice=50 * CHOIR, bob=20 * CHOIR, carol=20 * CHOIR)
    model.apply(CreateThread("alice", T0 + 10, "t1", 10 * CHOIR))
    model.apply(SubmitSpec("bob", T0 + 11, "t1", h("b1"), CHOIR))
    model.apply(ProcessApproval("alice", T0 + 12, "t1", h("b1"), True))
    model.apply(SubmitSpec("carol", T0 + 13, "t1", h("c1"), 2 * CHOIR))
    model.check = "off"
    assert audited(model) == set()
    return model


def t1(state: ChoirState):
    return state.threads["t1"]


def test_every_invariant_is_named_and_numbered() -> None:
    assert [inv.number for inv in INVARIANTS.values()] == list(range(1, 10))


def test_clean_steps_report_nothing(world: Model) -> None:
    now = T0 + 20
    steps: list[Step] = [
        Fund("dave", now, CHOIR, SIGNERS),
        SubmitMessage("bob", now, "t1", h("m")),
        ProcessApproval("alice", now, "t1", h("c1"), False),
        ProcessApproval("bob", now, "t1", h("c1"), False),
        Divest("alice", now, "t1", CHOIR),
        Divest("alice", now, "t1", CHOIR),  # fails: cooldown
        Expire("x", now, "t1", h("c1")),  # fails: not pending
    ]
    for step in steps:
        assert step_violations(world, step) == set(), step
    assert audited(world) == set()


def test_conservation(world: Model) -> None:
    def leak(state: ChoirState) -> None:
        state.wallets["dave"] += 1

    assert "conservation" in step_violations(world, Fund("dave", T0 + 20, CHOIR, SIGNERS), leak)
    assert "conservation" in audited(world)
    world.state.wallets["dave"] -= 1
    world.state.treasury -= 5
    assert "conservation" in audited(world)


def test_escrow(world: Model) -> None:
    def keep_stake(state: ChoirState) -> None:
        t1(state).messages[h("c1")].stake = 2 * CHOIR
        state.escrow_total += 2 * CHOIR
        state.treasury -= 2 * CHOIR

    assert step_violations(world, Expire("keeper", T0 + 13 + WEEK, "t1", h("c1")), keep_stake) == {"escrow"}
    assert "escrow" in audited(world)


def test_co_authors(world: Model) -> None:
    def sneak_in(state: ChoirState) -> None:
        t1(state).co_authors.append("carol")

    world.rules.apply(world.state, ProcessApproval("alice", T0 + 20, "t1", h("c1"), True))
    assert "co_authors" in step_violations(world, ProcessApproval("bob", T0 + 20, "t1", h("c1"), False), sneak_in)
    t1(world.state).co_authors.append("alice")
    assert "co_authors" in audited(world)


def test_thread_balance(world: Model) -> None:
    def drain(state: ChoirState) -> None:
        thread = t1(state)
        state.wallets["alice"] += thread.balance - 1
        state.wallet_total += thread.balance - 1
        state.thread_total -= thread.balance - 1
        thread.balance = 1

    assert "thread_balance" in step_violations(world, Divest("alice", T0 + 20, "t1", CHOIR), drain)
    assert "thread_balance" in audited(world)


def test_message_states(world: Model) -> None:
    def reopen(state: ChoirState) -> None:
        t1(state).messages[h("b1")].state = MessageState.PENDING

    reopened = step_violations(world, ProcessApproval("alice", T0 + 20, "t1", h("b1"), True), reopen)
    assert {"message_states", "atomicity"} <= reopened
    t1(world.state).messages[h("b1")].state = MessageState.DRAFT
    assert "message_states" in audited(world)


def test_votes(world: Model) -> None:
    def stuff_ballot(state: ChoirState) -> None:
        t1(state).messages[h("c1")].votes["mallory"] = True

    assert "votes" in step_violations(world, ProcessApproval("alice", T0 + 20, "t1", h("c1"), True), stuff_ballot)
    assert "votes" in audited(world)


def test_vote_at_the_deadline_is_caught(world: Model) -> None:
    late = ProcessApproval("alice", T0 + 13 + WEEK, "t1", h("c1"), True)

    def accept_late(state: ChoirState) -> None:
        t1(state).messages[h("c1")].votes["alice"] = True

    assert "votes" in step_violations(world, late, accept_late)


def test_temperature_frequency(world: Model) -> None:
    def misroute(state: ChoirState) -> None:  # a denied spec's stake sent to the treasury instead of the thread
        t1(state).balance -= 2 * CHOIR
        state.thread_total -= 2 * CHOIR
        state.treasury += 2 * CHOIR

    world.rules.apply(world.state, ProcessApproval("alice", T0 + 20, "t1", h("c1"), False))
    found = step_violations(world, ProcessApproval("bob", T0 + 20, "t1", h("c1"), False), misroute)
    assert "temperature_frequency" in found
    t1(world.state).co_authors.clear()
    assert "temperature_frequency" in audited(world)


def test_divestment_cooldown(world: Model) -> None:
    world.rules.apply(world.state, Divest("alice", T0 + 20, "t1", CHOIR))
    lax = Model(Params(divest_cooldown=0))
    lax.state = world.state
    strict = Checker(world.params, world.policy, world.economics)
    assert "divestment" in step_violations(lax, Divest("alice", T0 + 21, "t1", CHOIR), checker=strict)
    t1(world.state).last_divest["zed"] = T0
    assert "divestment" in audited(world)


def test_atomicity(world: Model) -> None:
    def half_apply(state: ChoirState) -> None:
        state.treasury -= 1
        state.wallets["bob"] += 1
        state.wallet_total += 1

    assert "atomicity" in step_violations(world, Fund("bob", T0 + 20, 0, SIGNERS), half_apply)
    world.state.wallets["bob"] = 2**64
    assert "atomicity" in audited(world)
