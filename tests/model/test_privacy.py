"""The whole privacy matrix (seeds Impl_Privacy), table-driven: every role, level, message state and authorship,
with the rights, the view, search and citation each one gets."""

from __future__ import annotations

import itertools

import pytest

from choir_model.privacy import (
    PRIVATE_METADATA,
    PUBLIC_METADATA,
    Right,
    Role,
    View,
    access_rights,
    can_cite,
    can_read,
    can_search,
    citation_detail,
    is_searchable,
    role_of,
    summary_level,
    view_of,
    visible_metadata,
)
from choir_model.state import MessageState, Privacy

R, W, A, S, C = Right.READ, Right.WRITE, Right.APPROVE, Right.SEARCH, Right.CITE
ALL = {R, W, A, S, C}
CO, PREM, PUB = Role.CO_AUTHOR, Role.PREMIUM, Role.PUBLIC
LEVELS = {"public": Privacy.PUBLIC, "premium": Privacy.PREMIUM, "thread_only": Privacy.THREAD_ONLY}

# (role, level) -> (rights, view) for a Public message read by someone who is not its author.
PUBLIC_MESSAGE = {
    (CO, "public"): (ALL, View.FULL),
    (CO, "premium"): (ALL, View.FULL),
    (CO, "thread_only"): (ALL, View.FULL),
    (PREM, "public"): ({R, S, C}, View.FULL),
    (PREM, "premium"): ({R, S, C}, View.FULL),
    (PREM, "thread_only"): ({R}, View.MINIMAL_SUMMARY),
    (PUB, "public"): ({R, S, C}, View.FULL),
    (PUB, "premium"): ({R}, View.LIMITED_SUMMARY),
    (PUB, "thread_only"): ({R}, View.MINIMAL_SUMMARY),
}
NOT_PUBLIC = [MessageState.PRIVATE, MessageState.PENDING, MessageState.REJECTED, MessageState.EXPIRED]


@pytest.mark.parametrize(("role", "level"), list(PUBLIC_MESSAGE))
def test_public_messages(role: Role, level: str) -> None:
    rights, view = PUBLIC_MESSAGE[(role, level)]
    privacy = LEVELS[level]
    assert access_rights(role, privacy, MessageState.PUBLIC) == rights
    assert view_of(role, privacy, MessageState.PUBLIC) is view
    assert can_search(role, privacy, MessageState.PUBLIC) == (S in rights)
    assert can_cite(role, privacy, MessageState.PUBLIC) == (C in rights)
    assert citation_detail(role, privacy, MessageState.PUBLIC) == ("full" if view is View.FULL else "limited")


@pytest.mark.parametrize(("role", "level", "state"), list(itertools.product((PREM, PUB), LEVELS, NOT_PUBLIC)))
def test_unpublished_messages_do_not_exist_for_outsiders(role: Role, level: str, state: MessageState) -> None:
    privacy = LEVELS[level]
    assert access_rights(role, privacy, state) == frozenset()
    assert view_of(role, privacy, state) is View.NONE
    assert not (can_read(role, privacy, state) or can_search(role, privacy, state) or can_cite(role, privacy, state))
    assert citation_detail(role, privacy, state) == "none"
    # ... except for the message's own author, who reads and cites their own words in full.
    assert access_rights(role, privacy, state, is_author=True) == {R, C}
    assert view_of(role, privacy, state, is_author=True) is View.FULL


@pytest.mark.parametrize(("level", "state"), list(itertools.product(LEVELS, [*NOT_PUBLIC, MessageState.PUBLIC])))
def test_co_authors_have_every_right(level: str, state: MessageState) -> None:
    assert access_rights(CO, LEVELS[level], state) == ALL
    assert view_of(CO, LEVELS[level], state) is View.FULL


def test_search_never_shows_more_than_read() -> None:
    for role, privacy, state, author in itertools.product(Role, Privacy, MessageState, (False, True)):
        if can_search(role, privacy, state, author):
            assert view_of(role, privacy, state, author) is View.FULL


def test_level_flags_and_summaries() -> None:
    assert [is_searchable(p) for p in Privacy] == [True, False, False]
    assert [summary_level(p) for p in Privacy] == [View.DETAILED_SUMMARY, View.LIMITED_SUMMARY, View.MINIMAL_SUMMARY]


def test_roles_and_metadata() -> None:
    assert role_of("alice", ["alice", "bob"]) is CO
    assert role_of("alice", ["alice"], premium=True) is CO
    assert role_of("carol", ["alice"], premium=True) is PREM
    assert role_of("carol", ["alice"]) is PUB
    assert role_of(None, ["alice"], premium=True) is PUB
    assert visible_metadata(CO) == PUBLIC_METADATA + PRIVATE_METADATA
    assert visible_metadata(PREM) == visible_metadata(PUB) == PUBLIC_METADATA
