"""The privacy model (spec section 10.1), as pure functions the backend calls (spec section 6, invariant 10).

The seeds give three things that do not quite agree: the level definitions (Public: searchable, visible to all;
Premium: not searchable, visible to all; ThreadOnly: not searchable, co-authors only), the permission matrix
(`can_access`: co-author -> every right; premium user -> Read, Search, Cite; anyone else -> Read and Cite on public
content, Read otherwise) and the content filter (`filter_content`: non-premium readers of premium content and
non-co-authors of thread-only content get a summary). This module's reading, the most permissive one that breaks
none of them:

* A message that is not `Public` (Private, Pending, Rejected, Expired) exists only for the thread's co-authors
  (every right) and its own author (Read and Cite of their own words); everyone else gets nothing of it: no text,
  no summary, no hash, no place in search results or their counts. The thread's `message_count` stays public
  all the same: the seeds list it in PublicMetadata, and it says how much was written, not what.
* For a `Public` message, rights are the matrix's rights capped by the level: thread-only content gives a
  non-co-author only Read, and what they read is the minimal summary; premium content gives a public user only
  Read of the limited summary; public content is searchable by everyone (the level says `searchable: true`, so the
  matrix's missing Search for the public role is read as an omission, not a ban).
* `Search` always implies reading the full text, so search results and snippets never expose more than Read does.

`Right.WRITE` and `Right.APPROVE` are about the thread (submitting, voting) and belong to co-authors only.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum

from choir_model.state import MessageState, Privacy


class Role(StrEnum):
    CO_AUTHOR = "co_author"
    PREMIUM = "premium"
    PUBLIC = "public"


class Right(StrEnum):
    READ = "read"
    WRITE = "write"
    APPROVE = "approve"
    SEARCH = "search"
    CITE = "cite"


class View(StrEnum):
    """What a viewer is served of a message: the text, a summary of some detail, or nothing at all."""

    FULL = "full"
    DETAILED_SUMMARY = "detailed_summary"
    LIMITED_SUMMARY = "limited_summary"
    MINIMAL_SUMMARY = "minimal_summary"
    NONE = "none"


ALL_RIGHTS = frozenset(Right)
_NOTHING: frozenset[Right] = frozenset()
_READ = frozenset({Right.READ})
_READ_CITE = frozenset({Right.READ, Right.CITE})
_READ_SEARCH_CITE = frozenset({Right.READ, Right.SEARCH, Right.CITE})

# Rights on a Public message by (role, level), after capping the design's matrix by the level definitions.
PUBLIC_MESSAGE_RIGHTS: dict[tuple[Role, Privacy], frozenset[Right]] = {
    (Role.CO_AUTHOR, Privacy.PUBLIC): ALL_RIGHTS,
    (Role.CO_AUTHOR, Privacy.PREMIUM): ALL_RIGHTS,
    (Role.CO_AUTHOR, Privacy.THREAD_ONLY): ALL_RIGHTS,
    (Role.PREMIUM, Privacy.PUBLIC): _READ_SEARCH_CITE,
    (Role.PREMIUM, Privacy.PREMIUM): _READ_SEARCH_CITE,
    (Role.PREMIUM, Privacy.THREAD_ONLY): _READ,
    (Role.PUBLIC, Privacy.PUBLIC): _READ_SEARCH_CITE,
    (Role.PUBLIC, Privacy.PREMIUM): _READ,
    (Role.PUBLIC, Privacy.THREAD_ONLY): _READ,
}

# Spec section 10.1's summaries (the design's generate_summary): how detailed a summary of content at each level is.
SUMMARY_LEVEL: dict[Privacy, View] = {
    Privacy.PUBLIC: View.DETAILED_SUMMARY,
    Privacy.PREMIUM: View.LIMITED_SUMMARY,
    Privacy.THREAD_ONLY: View.MINIMAL_SUMMARY,
}

PUBLIC_METADATA = ("thread_id", "created_at", "updated_at", "message_count")
"""Thread fields anyone may see (spec section 10.1: id, timestamps, message count)."""
PRIVATE_METADATA = ("co_authors", "balance", "content_hashes")
"""Thread fields only co-authors see (spec section 10.1)."""


def role_of(viewer: str | None, co_authors: Collection[str], premium: bool = False) -> Role:
    """A viewer's role towards a thread: co-author, premium user, or anyone else (None is an anonymous viewer)."""
    if viewer is not None and viewer in co_authors:
        return Role.CO_AUTHOR
    return Role.PREMIUM if premium and viewer is not None else Role.PUBLIC


def is_searchable(privacy: Privacy) -> bool:
    """The level's own `searchable` flag (what goes into the general index payload)."""
    return privacy is Privacy.PUBLIC


def access_rights(role: Role, privacy: Privacy, state: MessageState, is_author: bool = False) -> frozenset[Right]:
    """The design's can_access (spec section 10.1), for a message in `state` at level `privacy`."""
    if role is Role.CO_AUTHOR:
        return ALL_RIGHTS
    if state is not MessageState.PUBLIC:
        return _READ_CITE if is_author else _NOTHING
    rights = PUBLIC_MESSAGE_RIGHTS[(role, privacy)]
    return rights | _READ_CITE if is_author else rights


def view_of(role: Role, privacy: Privacy, state: MessageState, is_author: bool = False) -> View:
    """The design's filter_content (spec section 10.1): the full text or which summary a viewer gets, or nothing."""
    rights = access_rights(role, privacy, state, is_author)
    if Right.READ not in rights:
        return View.NONE
    if role is Role.CO_AUTHOR or is_author or privacy is Privacy.PUBLIC:
        return View.FULL
    if privacy is Privacy.PREMIUM and role is Role.PREMIUM:
        return View.FULL
    return SUMMARY_LEVEL[privacy]


def knows_hash(role: Role, privacy: Privacy, state: MessageState, is_author: bool = False) -> bool:
    """May the viewer learn that a message with this content hash exists, and so anything about it (its state,
    its deadline)? Only if they read its full text: a summary is served without its hash, and a message they
    cannot read does not exist for them. Every answer follows this, a refusal included: a request naming a
    message the requester may not know of is answered as if it did not exist (`reference_backend.disclosure`)."""
    return view_of(role, privacy, state, is_author) is View.FULL


def summary_level(privacy: Privacy) -> View:
    """How detailed a summary of content at this level may be (spec section 10.1)."""
    return SUMMARY_LEVEL[privacy]


def can_read(role: Role, privacy: Privacy, state: MessageState, is_author: bool = False) -> bool:
    return view_of(role, privacy, state, is_author) is not View.NONE


def can_search(role: Role, privacy: Privacy, state: MessageState, is_author: bool = False) -> bool:
    """May the message appear (with a snippet) in this viewer's search results or counts?"""
    return Right.SEARCH in access_rights(role, privacy, state, is_author)


def can_cite(role: Role, privacy: Privacy, state: MessageState, is_author: bool = False) -> bool:
    """May the viewer cite the message (spec section 10.1)?"""
    return Right.CITE in access_rights(role, privacy, state, is_author)


def citation_detail(role: Role, privacy: Privacy, state: MessageState, is_author: bool = False) -> str:
    """How a citation is shown (spec section 10.1): "full" when the viewer reads the full text, "limited" when
    they read a summary, "none" when the cited message does not exist for them."""
    view = view_of(role, privacy, state, is_author)
    return "none" if view is View.NONE else "full" if view is View.FULL else "limited"


def visible_metadata(role: Role) -> tuple[str, ...]:
    """Which thread fields a viewer may see."""
    return PUBLIC_METADATA + PRIVATE_METADATA if role is Role.CO_AUTHOR else PUBLIC_METADATA
