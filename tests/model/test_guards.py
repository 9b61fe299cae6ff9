"""Every guard of SPEC section 3, one test each, in guard order; every rejection must change nothing."""

from __future__ import annotations

import pytest

from choir_model import (
    CHOIR,
    CreateThread,
    Divest,
    Expire,
    Fund,
    Model,
    Params,
    ProcessApproval,
    RequestPublic,
    SubmitMessage,
    SubmitSpec,
)
from choir_model.errors import ERROR_NAMES, ERRORS_BY_NAME

from .conftest import SIGNERS, T0, funded, h, rejected

WEEK = 7 * 24 * 3600
DAY = 24 * 3600


def test_error_codes_follow_the_spec_order() -> None:
    assert ERROR_NAMES[0] == "InvalidThreadId" and ERROR_NAMES[-1] == "TemperatureError"
    assert [ERRORS_BY_NAME[name].code for name in ERROR_NAMES] == list(range(6000, 6021))


@pytest.fixture
def world() -> Model:
    """alice created t1 (10 CHOIR) and wrote a private message; bob and carol are funded outsiders."""
    model = funded(alice=50 * CHOIR, bob=20 * CHOIR, carol=5 * CHOIR)
    model.apply(CreateThread("alice", T0 + 10, "t1", 10 * CHOIR))
    model.apply(SubmitMessage("alice", T0 + 11, "t1", h("a1")))
    return model


# -- time ------------------------------------------------------------------------------------------------------


def test_invalid_time_is_checked_before_everything(world: Model) -> None:
    assert rejected(world, Fund("bob", T0, 0, ())) == "InvalidTime"
    assert rejected(world, Divest("zed", T0 + 10, "nope", 0)) == "InvalidTime"
    world.apply(SubmitMessage("alice", T0 + 11, "t1", h("same-second")))  # equal time is fine


def test_a_failed_step_does_not_advance_the_clock(world: Model) -> None:
    assert rejected(world, Fund("bob", T0 + 500, 0, SIGNERS)) == "InvalidAmount"
    world.apply(SubmitMessage("alice", T0 + 12, "t1", h("a2")))


# -- fund ------------------------------------------------------------------------------------------------------


def test_fund_needs_the_threshold_of_distinct_authorities(world: Model) -> None:
    now = T0 + 20
    assert rejected(world, Fund("bob", now, CHOIR, ("treasury1",))) == "Unauthorized"
    assert rejected(world, Fund("bob", now, CHOIR, ("treasury1", "treasury1"))) == "Unauthorized"
    assert rejected(world, Fund("bob", now, CHOIR, ("treasury1", "mallory", "bob"))) == "Unauthorized"
    assert rejected(world, Fund("bob", now, 0, ("mallory",))) == "Unauthorized"  # signers before amount
    world.apply(Fund("bob", now, CHOIR, ("treasury3", "treasury2")))
    assert world.state.wallets["bob"] == 21 * CHOIR


def test_fund_amount_and_treasury(world: Model) -> None:
    assert rejected(world, Fund("bob", T0 + 20, 0, SIGNERS)) == "InvalidAmount"
    too_much = world.state.treasury + 1
    assert rejected(world, Fund("bob", T0 + 20, too_much, SIGNERS)) == "InsufficientFunds"
    world.apply(Fund("bob", T0 + 20, world.state.treasury, SIGNERS))
    assert world.state.treasury == 0


# -- create_thread ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("thread_id", ["", "x" * 33, "é" * 17, "\ud800", "t\udfff"])  # lone surrogates: no UTF-8
def test_create_thread_rejects_bad_ids(world: Model, thread_id: str) -> None:
    assert rejected(world, CreateThread("bob", T0 + 20, thread_id, CHOIR)) == "InvalidThreadId"


def test_create_thread_accepts_32_bytes(world: Model) -> None:
    world.apply(CreateThread("bob", T0 + 20, "é" * 16, CHOIR))
    world.apply(CreateThread("bob", T0 + 20, "x" * 32, CHOIR))


def test_create_thread_guards_in_order(world: Model) -> None:
    now = T0 + 20
    assert rejected(world, CreateThread("bob", now, "t1", 0)) == "ThreadExists"
    assert rejected(world, CreateThread("bob", now, "t2", CHOIR - 1)) == "BelowMinimumBalance"
    assert rejected(world, CreateThread("bob", now, "t2", 20 * CHOIR + 1)) == "InsufficientFunds"
    assert rejected(world, CreateThread("nobody", now, "t2", CHOIR)) == "InsufficientFunds"
    world.apply(CreateThread("bob", now, "t2", 20 * CHOIR))
    t2 = world.state.threads["t2"]
    assert (t2.co_authors, t2.balance, t2.created_at, t2.updated_at) == (["bob"], 20 * CHOIR, now, now)
    assert world.state.wallets["bob"] == 0


# -- submit_message --------------------------------------------------------------------------------------------


def test_submit_message_guards(world: Model) -> None:
    now = T0 + 20
    assert rejected(world, SubmitMessage("alice", now, "t9", h("x"))) == "UnknownThread"
    assert rejected(world, SubmitMessage("bob", now, "t1", h("a1"))) == "NotCoAuthor"
    assert rejected(world, SubmitMessage("alice", now, "t1", h("a1"))) == "DuplicateContent"
    world.apply(SubmitMessage("alice", now, "t1", h("a2")))
    thread = world.state.threads["t1"]
    assert thread.messages[h("a2")].state.value == "Private" and thread.message_count == 2
    assert thread.updated_at == now


# -- request_public --------------------------------------------------------------------------------------------


def _with_bob(world: Model, now: int = T0 + 20) -> None:
    world.apply(SubmitSpec("bob", now, "t1", h("b1"), CHOIR))
    world.apply(ProcessApproval("alice", now, "t1", h("b1"), True))


def test_request_public_guards(world: Model) -> None:
    _with_bob(world)
    now = T0 + 30
    assert rejected(world, RequestPublic("alice", now, "t9", h("a1"))) == "UnknownThread"
    assert rejected(world, RequestPublic("alice", now, "t1", h("zz"))) == "UnknownMessage"
    assert rejected(world, RequestPublic("alice", now, "t1", h("b1"))) == "StateConflict"  # Public already
    assert rejected(world, RequestPublic("bob", now, "t1", h("a1"))) == "NotCoAuthor"  # not its author
    assert rejected(world, RequestPublic("carol", now, "t1", h("a1"))) == "NotCoAuthor"
    world.apply(RequestPublic("alice", now, "t1", h("a1")))
    message = world.state.threads["t1"].messages[h("a1")]
    assert (message.state.value, message.voters, message.deadline, message.stake) == (
        "Pending",
        ("bob",),
        now + WEEK,
        0,
    )
    assert rejected(world, RequestPublic("alice", now, "t1", h("a1"))) == "StateConflict"


def test_request_public_alone_is_public_at_once(world: Model) -> None:
    world.apply(RequestPublic("alice", T0 + 30, "t1", h("a1")))
    message = world.state.threads["t1"].messages[h("a1")]
    assert message.state.value == "Public" and message.deadline == T0 + 30 + WEEK
    assert world.state.threads["t1"].pending == 0


def test_request_public_thread_full() -> None:
    model = Model(Params(max_pending=2), check="audit")
    model.apply(Fund("alice", T0, 50 * CHOIR, SIGNERS))
    model.apply(Fund("bob", T0, 20 * CHOIR, SIGNERS))
    model.apply(CreateThread("alice", T0, "t1", 10 * CHOIR))
    model.apply(SubmitSpec("bob", T0, "t1", h("b1"), CHOIR))
    model.apply(ProcessApproval("alice", T0, "t1", h("b1"), True))
    for tag in ("m1", "m2", "m3"):
        model.apply(SubmitMessage("alice", T0, "t1", h(tag)))
    model.apply(RequestPublic("alice", T0, "t1", h("m1")))
    model.apply(RequestPublic("alice", T0, "t1", h("m2")))
    assert rejected(model, RequestPublic("alice", T0, "t1", h("m3"))) == "ThreadFull"


# -- submit_spec -----------------------------------------------------------------------------------------------


def test_submit_spec_guards_in_order(world: Model) -> None:
    now = T0 + 20
    assert rejected(world, SubmitSpec("bob", now, "t9", h("b1"), CHOIR)) == "UnknownThread"
    assert rejected(world, SubmitSpec("alice", now, "t1", h("a1"), 0)) == "AlreadyCoAuthor"
    assert rejected(world, SubmitSpec("bob", now, "t1", h("a1"), 0)) == "DuplicateContent"
    assert rejected(world, SubmitSpec("bob", now, "t1", h("b1"), CHOIR - 1)) == "StakeTooLow"
    assert rejected(world, SubmitSpec("bob", now, "t1", h("b1"), 20 * CHOIR + 1)) == "InsufficientFunds"
    world.apply(SubmitSpec("bob", now, "t1", h("b1"), 20 * CHOIR))
    assert world.state.wallets["bob"] == 0 and world.state.escrow_total == 20 * CHOIR
    world.apply(Fund("bob", now, 5 * CHOIR, SIGNERS))
    assert rejected(world, SubmitSpec("bob", now, "t1", h("b2"), CHOIR)) == "StateConflict"
    message = world.state.threads["t1"].messages[h("b1")]
    assert (message.voters, message.deadline, message.is_spec) == (("alice",), now + WEEK, True)


def test_submit_spec_reserves_seats() -> None:
    model = Model(Params(max_coauthors=3), check="audit")
    for name in ("alice", "bob", "carol", "dave"):
        model.apply(Fund(name, T0, 10 * CHOIR, SIGNERS))
    model.apply(CreateThread("alice", T0, "t1", 2 * CHOIR))
    model.apply(SubmitSpec("bob", T0, "t1", h("b"), CHOIR))
    model.apply(SubmitSpec("carol", T0, "t1", h("c"), CHOIR))
    assert rejected(model, SubmitSpec("dave", T0, "t1", h("d"), CHOIR)) == "ThreadFull"  # 1 + 2 reserved
    model.apply(ProcessApproval("alice", T0, "t1", h("c"), False))  # carol rejected: her seat frees
    model.apply(SubmitSpec("dave", T0, "t1", h("d"), CHOIR))


def test_submit_spec_thread_full_on_pending() -> None:
    model = Model(Params(max_pending=1), check="audit")
    for name in ("alice", "bob", "carol"):
        model.apply(Fund(name, T0, 10 * CHOIR, SIGNERS))
    model.apply(CreateThread("alice", T0, "t1", 2 * CHOIR))
    model.apply(SubmitSpec("bob", T0, "t1", h("b"), CHOIR))
    assert rejected(model, SubmitSpec("carol", T0, "t1", h("c"), CHOIR)) == "ThreadFull"


# -- process_approval ------------------------------------------------------------------------------------------


def test_process_approval_guards(world: Model) -> None:
    _with_bob(world)
    now = T0 + 30
    world.apply(SubmitSpec("carol", now, "t1", h("c1"), CHOIR))
    assert rejected(world, ProcessApproval("alice", now, "t9", h("c1"), True)) == "UnknownThread"
    assert rejected(world, ProcessApproval("alice", now, "t1", h("zz"), True)) == "UnknownMessage"
    assert rejected(world, ProcessApproval("alice", now, "t1", h("a1"), True)) == "StateConflict"  # Private
    assert rejected(world, ProcessApproval("alice", now + WEEK, "t1", h("c1"), True)) == "ApprovalTimeout"
    assert rejected(world, ProcessApproval("carol", now, "t1", h("c1"), True)) == "NotAVoter"
    world.apply(ProcessApproval("alice", now + WEEK - 1, "t1", h("c1"), True))  # last second of the window
    assert rejected(world, ProcessApproval("alice", now + WEEK - 1, "t1", h("c1"), False)) == "AlreadyVoted"


def test_voters_are_the_snapshot_at_submission(world: Model) -> None:
    now = T0 + 20
    world.apply(SubmitSpec("carol", now, "t1", h("c1"), CHOIR))  # voters: alice only
    _with_bob(world, now)  # bob joins after carol's snapshot
    assert rejected(world, ProcessApproval("bob", now, "t1", h("c1"), True)) == "NotAVoter"
    world.apply(ProcessApproval("alice", now, "t1", h("c1"), True))
    assert world.state.threads["t1"].co_authors == ["alice", "bob", "carol"]


# -- expire ----------------------------------------------------------------------------------------------------


def test_expire_guards(world: Model) -> None:
    now = T0 + 20
    world.apply(SubmitSpec("bob", now, "t1", h("b1"), 3 * CHOIR))
    assert rejected(world, Expire("anyone", now + WEEK, "t9", h("b1"))) == "UnknownThread"
    assert rejected(world, Expire("anyone", now + WEEK, "t1", h("zz"))) == "UnknownMessage"
    assert rejected(world, Expire("anyone", now + WEEK, "t1", h("a1"))) == "StateConflict"  # Private
    assert rejected(world, Expire("anyone", now + WEEK - 1, "t1", h("b1"))) == "StateConflict"  # too early
    treasury = world.state.treasury
    world.apply(Expire("anyone", now + WEEK, "t1", h("b1")))
    message = world.state.threads["t1"].messages[h("b1")]
    assert (message.state.value, message.stake) == ("Expired", 0)
    assert world.state.treasury == treasury + 3 * CHOIR and world.state.escrow_total == 0
    assert rejected(world, Expire("anyone", now + WEEK, "t1", h("b1"))) == "StateConflict"


# -- divest ----------------------------------------------------------------------------------------------------


def test_divest_guards(world: Model) -> None:
    now = T0 + 20
    assert rejected(world, Divest("alice", now, "t9", CHOIR)) == "UnknownThread"
    assert rejected(world, Divest("bob", now, "t1", 0)) == "NotCoAuthor"
    assert rejected(world, Divest("alice", now, "t1", 0)) == "InvalidAmount"
    bound = (10 * CHOIR - CHOIR) // 1
    assert rejected(world, Divest("alice", now, "t1", bound + 1)) == "BelowMinimumBalance"
    world.apply(Divest("alice", now, "t1", 4 * CHOIR))
    assert rejected(world, Divest("alice", now + DAY - 1, "t1", CHOIR)) == "CooldownActive"
    world.apply(Divest("alice", now + DAY, "t1", 5 * CHOIR))
    assert world.state.threads["t1"].balance == CHOIR
    assert rejected(world, Divest("alice", now + 2 * DAY, "t1", 1)) == "BelowMinimumBalance"
    assert world.state.wallets["alice"] == 40 * CHOIR + 9 * CHOIR


def test_invalid_time_when_no_deadline_fits_in_i64(world: Model) -> None:
    latest = 2**63 - 1 - WEEK
    assert rejected(world, SubmitMessage("alice", latest + 1, "t1", h("late"))) == "InvalidTime"
    world.apply(SubmitSpec("bob", latest, "t1", h("b-late"), CHOIR))
    assert world.state.threads["t1"].messages[h("b-late")].deadline == 2**63 - 1
