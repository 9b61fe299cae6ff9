"""What an answer may tell its requester (spec section 10.1, invariant 10): refusals and stake quotes.

The model's guards run in spec section 3's order, and a guard about a message comes before guards about the
requester, so a refusal can reveal what the requester may not know. An outsider who guesses a thread-only text
would learn that it exists (`submit_spec` with stake 0: `DuplicateContent` rather than `StakeTooLow`), and what
state it is in and when its window closes (`request_public`, `process_approval`, `expire`: `StateConflict`,
`ApprovalTimeout`, `NotCoAuthor` rather than `UnknownMessage`). And the recommended stake is a function of the
balance and the co-authors, both private, so an outsider's quote would invert to the balance.

**Refusals.** When a refused step names a message whose hash its requester may not know
(`choir_model.privacy.knows_hash`: only what they read in full), the answer is the one the model gives had that
message never existed: the model's own guards run on a fork of the thread without its messages (`as_if_absent`),
so the status, code, program code and message text are exactly those of the absent case. Both answers take the
same path (the writer, a refusal, nothing journaled); the fork only costs copying the thread's co-author and
pending-author sets and the requester's wallet, so the two are one timing class.

What cannot be hidden, because the step is accepted or must be refused whatever the answer says:
* had the message been absent, a `submit_spec` would have been *accepted* (the requester is funded, eligible and
  stakes enough): it is refused with `DuplicateContent`, since one hash is one message. An outsider who risks a
  real stake learns that the text exists, which is also what the chain reveals: a message account is a PDA of the
  content hash (spec section 9), so on a public cluster anyone can look a guessed hash up. The fix for both is a
  salted commitment (spec section 10.1, "Salted commitments"), not an answer.
* `expire` is a crank anyone may call (spec section 3.7): an outsider's `expire` of a hidden message whose window
  has closed is accepted, and so reveals that it existed. Before the deadline, or in any other state, the answer is
  `UnknownMessage`, as for a hash that does not exist.

**Stake quotes.** A co-author is quoted the model's recommendation for the thread as it is. Anyone else may see
only the thread's public metadata (`thread_id`, `created_at`, `updated_at`, `message_count`), none of which says
anything of the balance, so they are quoted the recommendation for the public picture of the thread: one
co-author holding `min_thread_balance`, at the thread's public age (`public_stake`). The same for every thread of
one age, it reveals nothing private; `open` says what a spec submission would be answered (the seats and pending
limits, spec section 3.5), which the model tells any funded outsider who submits.
"""

from __future__ import annotations

import dataclasses

from choir_model import ChoirError, Model, Step
from choir_model.privacy import Role, knows_hash, role_of
from choir_model.state import Thread


def hidden_message(model: Model, step: Step, premium: bool) -> Thread | None:
    """The thread of the message `step` names if its requester may not know that message exists, else None."""
    content_hash = getattr(step, "hash", None)
    thread = model.state.threads.get(getattr(step, "thread", None))  # type: ignore[arg-type]
    if content_hash is None or thread is None:
        return None
    message = thread.messages.get(content_hash)
    if message is None:
        return None
    role = role_of(step.actor, thread.co_authors, premium)
    return None if knows_hash(role, message.privacy, message.state, message.author == step.actor) else thread


def as_if_absent(model: Model, step: Step, thread: Thread) -> ChoirError | None:
    """The error the model gives `step` had `thread` held no message, or None if it would then be accepted.

    Runs the model's own rules on a fork (its effects, if any, land on the fork only). The time guard passed when
    the step was applied, and no guard the fork can reach depends on time (a lookup of the message fails first; a
    spec's guards after `DuplicateContent` read funds, seats and pending counts), so the fork has no `last_now`."""
    fork_thread = dataclasses.replace(
        thread,
        co_authors=list(thread.co_authors),
        messages={},
        pending_spec_authors=set(thread.pending_spec_authors),
        last_divest=dict(thread.last_divest),
    )
    state = model.state
    # Only the requester's wallet: with no message to look up, only a `submit_spec` can pass its guards, and its
    # effects touch no other wallet. So the fork costs what the thread's co-authors cost, whatever the world holds.
    wallets = {step.actor: state.wallets[step.actor]} if step.actor in state.wallets else {}
    fork = dataclasses.replace(state, wallets=wallets, threads={thread.thread_id: fork_thread}, last_now=None)
    try:
        model.rules.apply(fork, step)
    except ChoirError as error:
        return error
    return None


def disclosed(model: Model, step: Step, error: ChoirError, premium: bool) -> ChoirError:
    """The refusal to answer for `error`, which the model raised for `step` (state unchanged): `error` itself, or,
    when `step` names a message its requester may not know of, the model's answer had it not existed (see the
    module docstring for the one case where that answer would be an acceptance)."""
    thread = hidden_message(model, step, premium)
    if thread is None or error.name == "InvalidTime":  # the time guard runs before any lookup: it reveals nothing
        return error
    absent = as_if_absent(model, step, thread)
    return error if absent is None else absent


def public_stake(model: Model, thread: Thread, now: int) -> int:
    """The recommended stake as the thread's public metadata describes it: one co-author holding the minimum
    balance, at the thread's age (`created_at` is public)."""
    params = model.params
    return model.economics.recommended_stake(params.min_thread_balance, 1, params.unit, now - thread.created_at)


def quoted_stake(model: Model, viewer: str, thread: Thread, now: int, premium: bool) -> tuple[int, str]:
    """(recommended stake, basis) for `viewer`: "thread" (the thread as it is: co-authors) or "public"."""
    if role_of(viewer, thread.co_authors, premium) is Role.CO_AUTHOR:
        return model.recommended_stake(thread.thread_id, now), "thread"
    return public_stake(model, thread, now), "public"


def expected_refusal(model: Model, step: Step) -> tuple[str, str] | None:
    """Apply `step` to `model` (a driver's own copy of the world): None if accepted, else (the model's error, the
    error the backend must answer). The differential driver's users are never premium."""
    try:
        model.apply(step)
    except ChoirError as error:
        return error.name, disclosed(model, step, error, premium=False).name
    return None


def reconcile(answer: str | None, expected: tuple[str, str] | None) -> str | None:
    """The backend's answer in the model's terms, for the differential comparison: where disclosure changes the
    answer, the answer it requires stands for the model's error, and the model's own error, which the requester
    may not learn, is a difference of its own; every other answer is compared as it is."""
    if answer is None or expected is None or expected[0] == expected[1]:
        return answer
    truth, shown = expected
    if answer == shown:
        return truth
    if answer == truth:
        return f"{answer} (disclosed to a requester who may not know of the message; must read {shown})"
    return answer
