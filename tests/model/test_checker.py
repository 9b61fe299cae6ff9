"""The fused per-step checker against the whole-state audit, on random worlds and random corruptions.

`Checker.after` decides most invariants with a cheap inline test and calls the shape helpers it shares with `audit`
only when that test sees the shape broken. These tests make sure the shortcut never hides what the audit sees: on
random operation sequences (valid and invalid steps, every policy) both report nothing, and when a step's own
thread, message or wallet is corrupted in a way the audit can see, the step checker reports the same shape
violation, word for word (the u64 check, worded differently, by name)."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable

import pytest

from choir_model import (
    CHOIR,
    POLICIES,
    Checker,
    ChoirError,
    ChoirState,
    CreateThread,
    Fund,
    Model,
    Step,
    SubmitSpec,
    audit,
)
from choir_model.state import MessageState, Privacy
from properties.generate import OPS, RandomSource, StepGenerator

from .conftest import SIGNERS, T0, h

# Invariants whose audit reads only shapes a step checker sees on the thread, message and wallets the step names.
SHAPES = {"escrow", "co_authors", "thread_balance", "votes", "atomicity"}


def corruptions(state: ChoirState, step: Step) -> list[Callable[[], None]]:
    """Ways a buggy implementation could leave the step's own thread, message or actor's wallet."""
    thread = state.threads.get(getattr(step, "thread", ""))
    message = thread.messages.get(getattr(step, "hash", "")) if thread is not None else None
    out: list[Callable[[], None]] = [lambda: state.wallets.__setitem__(step.actor, 2**64)]
    if thread is not None:
        out += [
            thread.co_authors.clear,
            lambda: thread.co_authors.extend(thread.co_authors[:1]),
            lambda: thread.co_authors.extend(f"extra{i}" for i in range(11)),
            lambda: setattr(thread, "balance", 0),
            lambda: setattr(thread, "balance", 2**64),
            lambda: setattr(thread, "created_at", thread.updated_at + 1),
        ]
    if message is not None:
        out += [
            lambda: setattr(message, "stake", 0),
            lambda: setattr(message, "stake", 1),
            lambda: setattr(message, "stake", -1),
            lambda: setattr(message, "stake", 2**64),
            lambda: setattr(message, "state", MessageState.PRIVATE),
            lambda: setattr(message, "state", MessageState.PENDING),
            lambda: setattr(message, "is_spec", not message.is_spec),
            lambda: message.votes.__setitem__("mallory", True),
            lambda: message.votes.update(dict.fromkeys(message.voters, False)),
            lambda: setattr(message, "voters", (*message.voters, "mallory")),
            lambda: setattr(message, "voters", ("mallory",)),
            lambda: setattr(message, "privacy", Privacy.THREAD_ONLY),
        ]
    return out


def run(policy: str, seed: int, steps: int, corrupt_one_in: int) -> int:
    """Random steps, each checked and audited; about one step in `corrupt_one_in` is also checked and audited on a
    corrupted copy of the state after it (the world itself runs on). Returns how many corruptions the audit saw."""
    rng = random.Random(seed)
    model = Model(policy=policy)
    generator = StepGenerator(model, RandomSource(seed), invalid_one_in=6)
    checker = Checker(model.params, model.policy, model.economics)
    seen = 0
    for _ in range(steps):
        step = generator.step(OPS[rng.randrange(len(OPS))])
        state = model.state
        before = checker.before(state, step)
        error, events = None, []
        try:
            events = model.rules.apply(state, step)
        except ChoirError as caught:
            error = caught
        found, audited = checker.after(state, step, before, error, events), audit(state, model.params)
        assert found == [] and audited == [], (step, found, audited)
        if rng.randrange(corrupt_one_in):
            continue
        bad = copy.deepcopy(state)
        options = corruptions(bad, step)
        for corruption in rng.sample(options, min(len(options), rng.choice((1, 2)))):
            corruption()
        reported = {(v.invariant, v.message) for v in checker.after(bad, step, before, error, events)}
        # The audit names a message by its whole hash, a step check by the first 12 hex digits.
        thread_id, content_hash = getattr(step, "thread", ""), getattr(step, "hash", "")
        for v in audit(bad, model.params):
            if v.invariant == "atomicity":
                assert "atomicity" in {name for name, _ in reported}, f"{step}: the step checker misses {v}"
            elif v.invariant in SHAPES:
                message = v.message.replace(f"{thread_id}/{content_hash}", f"{thread_id}/{content_hash[:12]}")
                assert (v.invariant, message) in reported, f"{step}: the step checker misses {v}"
                seen += 1
    return seen


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_clean_runs_report_nothing_anywhere(policy: str) -> None:
    run(policy, seed=7, steps=1_500, corrupt_one_in=10**9)


@pytest.mark.parametrize("seed", range(4))
def test_step_checker_sees_what_the_audit_sees(seed: int) -> None:
    seen = run(sorted(POLICIES)[seed % len(POLICIES)], seed, steps=1_000, corrupt_one_in=2)
    assert seen > 100  # the corruptions reached the audit often enough for the comparison to mean something


def test_named_subset_reports_in_the_order_given() -> None:
    model = Model()
    step = Fund("alice", T0, CHOIR, SIGNERS)
    full = Checker(model.params, model.policy, model.economics)
    subset = Checker(model.params, model.policy, model.economics, ["atomicity", "conservation"])
    before = full.before(model.state, step)
    model.rules.apply(model.state, step)
    model.state.wallets["alice"] = 2**64  # outside u64 (atomicity) and not in the wallet total (conservation)
    assert [v.invariant for v in full.after(model.state, step, before, None, [])] == ["conservation", "atomicity"]
    assert [v.invariant for v in subset.after(model.state, step, before, None, [])] == ["atomicity", "conservation"]


def test_an_escrowed_stake_outside_u64_is_caught_on_the_step_and_by_the_audit() -> None:
    """A message's stake is a balance too: both the step check and the audit's atomicity see it leave u64."""
    model = Model()
    model.apply(Fund("alice", T0, 10 * CHOIR, SIGNERS))
    model.apply(Fund("bob", T0, 10 * CHOIR, SIGNERS))
    model.apply(CreateThread("alice", T0, "t1", 2 * CHOIR))
    step = SubmitSpec("bob", T0, "t1", h("spec"), CHOIR)
    checker = Checker(model.params, model.policy, model.economics)
    before = checker.before(model.state, step)
    events = model.rules.apply(model.state, step)
    model.state.threads["t1"].messages[h("spec")].stake = 2**64
    found = [str(v) for v in checker.after(model.state, step, before, None, events)]
    assert f"[atomicity] a balance left u64: [{2**64}]" in found
    audited = [str(v) for v in audit(model.state, model.params)]
    assert f"[atomicity] balances outside u64: [('t1/{h('spec')}', {2**64})]" in audited
