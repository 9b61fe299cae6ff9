"""What a viewer may see (SPEC section 10, invariant 10): the thread view, the search answer and the stake quote,
as pure functions of the model's state.

Why pure: privacy is the one thing the backend must never get wrong, so its decisions are made here, from the
state and `choir_model.privacy` alone, with no lock, no I/O and no clock of their own; the property tests and the
facade (`reference_backend.service.Backend`) call the same functions. The facade takes the state lock around the
parts that read the live model (`thread_draft`, `searchable`, `stake_quote`, `message_facts`) and fetches message
texts after releasing it; the parts that only format (`thread_view`, `search_results`) need no lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from choir_model import Model
from choir_model.privacy import Role, View, can_cite, can_search, role_of, view_of, visible_metadata
from choir_model.state import ChoirState, Privacy
from reference_backend.content import Summarizer, snippet
from reference_backend.disclosure import quoted_stake
from reference_backend.errors import unknown_thread
from reference_backend.indexer import Facts
from reference_backend.schemas import MessageView, SearchHit, SearchResults, StakeQuote, ThreadView
from reference_backend.search import Candidate

# -- the thread view --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThreadDraft:
    """A thread as `viewer` may see it, before the message texts are read: the metadata fields its role shows, and
    each message it may see with its level and how much of it (`View`)."""

    fields: dict[str, Any]
    rows: list[tuple[dict[str, Any], Privacy, View]]

    @property
    def hashes(self) -> list[str]:
        """The content hashes whose texts the view needs (in full, or to summarise)."""
        return [row["content_hash"] for row, _, _ in self.rows]


def thread_draft(model: Model, viewer: str, premium: bool, thread_id: str) -> ThreadDraft:
    """Read what `viewer` may see of a thread (`choir_model.privacy`); UnknownThread if it does not exist."""
    thread = model.state.threads.get(thread_id)
    if thread is None:
        raise unknown_thread(thread_id)
    role = role_of(viewer, thread.co_authors, premium)
    shown = visible_metadata(role)
    fields: dict[str, Any] = {
        "thread_id": thread.thread_id,
        "role": role.value,
        "created_at": thread.created_at,
        "updated_at": thread.updated_at,
        "message_count": thread.message_count,
    }
    if "co_authors" in shown:
        fields["co_authors"] = list(thread.co_authors)
    if "balance" in shown:
        n = len(thread.co_authors)
        fields["balance"] = thread.balance
        fields["temperature"] = model.economics.temperature(thread.balance, n, model.params.unit)
        fields["frequency"] = model.economics.frequency(n)
    if "content_hashes" in shown:
        fields["content_hashes"] = sorted(thread.messages)
    rows = []
    for message in sorted(thread.messages.values(), key=lambda m: (m.created_at, m.content_hash)):
        is_author = message.author == viewer
        view = view_of(role, message.privacy, message.state, is_author)
        if view is View.NONE:
            continue
        row: dict[str, Any] = {
            "view": view.value,
            "state": message.state.value,
            "privacy": message.privacy.value,
            "created_at": message.created_at,
            "can_cite": can_cite(role, message.privacy, message.state, is_author),
            "content_hash": message.content_hash,
        }
        if view is View.FULL:
            row["author"] = message.author
            row["is_spec"] = message.is_spec
            if role is Role.CO_AUTHOR or is_author:
                row["stake"] = message.stake
                row["deadline"] = message.deadline
            if role is Role.CO_AUTHOR:
                row["votes"] = {v: message.votes[v] for v in message.voters if v in message.votes}
        rows.append((row, message.privacy, view))
    return ThreadDraft(fields, rows)


def thread_view(draft: ThreadDraft, texts: Mapping[str, str], summarizer: Summarizer) -> ThreadView:
    """The view with each message's text: in full where the viewer reads it in full, else only its summary (and
    then no content hash: a summary reader must not be able to look the text up)."""
    messages = []
    for shown, privacy, view in draft.rows:
        row = dict(shown)
        text = texts.get(row["content_hash"], "")
        if view is View.FULL:
            row["content"] = text
        else:
            del row["content_hash"]
            row["summary"] = summarizer.summarize(text, privacy, view)
        messages.append(MessageView(**row))
    return ThreadView(**draft.fields, messages=messages)


# -- the search answer ------------------------------------------------------------------------------------------

Admitted = tuple[Candidate, str, str, Privacy]
"""A search candidate the viewer may see, with its message's author, state and level."""


def searchable(state: ChoirState, viewer: str, premium: bool, candidates: Iterable[Candidate]) -> list[Admitted]:
    """The candidates `viewer` may search (`choir_model.privacy.can_search`) on the live state: the engine already
    filtered on the indexed payload, so this drops only hits the index has not caught up with yet."""
    admitted = []
    for candidate in candidates:
        thread = state.threads.get(candidate.thread_id)
        message = thread.messages.get(candidate.content_hash) if thread is not None else None
        if message is not None and can_search(
            role_of(viewer, thread.co_authors, premium),  # type: ignore[union-attr]
            message.privacy,
            message.state,
            message.author == viewer,
        ):
            admitted.append((candidate, message.author, message.state.value, message.privacy))
    return admitted


def search_results(query: str, indexed_seq: int, admitted: list[Admitted], texts: Mapping[str, str]) -> SearchResults:
    """The answer: each admitted hit with a snippet of its text, and how far the index had got."""
    hits = [
        SearchHit(
            thread_id=c.thread_id,
            content_hash=c.content_hash,
            author=author,
            state=state,
            privacy=Privacy(privacy).value,
            score=round(c.score, 6),
            snippet=snippet(texts.get(c.content_hash, "")),
        )
        for c, author, state, privacy in admitted
    ]
    return SearchResults(query=query, count=len(hits), indexed_seq=indexed_seq, results=hits)


def message_facts(state: ChoirState, keys: Iterable[tuple[str, str]]) -> list[Facts]:
    """The indexer's catch-up reads messages from the live state (`reference_backend.indexer.Lookup`)."""
    facts: list[Facts] = []
    for thread_id, content_hash in keys:
        thread = state.threads.get(thread_id)
        message = thread.messages.get(content_hash) if thread else None
        if message is not None:
            facts.append((thread_id, message.content_hash, message.author, message.privacy.value,
                          message.state.value, message.created_at))  # fmt: skip
    return facts


# -- the stake quote --------------------------------------------------------------------------------------------


def stake_quote(model: Model, viewer: str, thread_id: str, now: int, premium: bool = False) -> StakeQuote:
    """The recommended stake for a spec on the thread at `now` as `viewer` may be quoted it
    (`reference_backend.disclosure`), the minimum, and whether `viewer` could submit one (seeds: the stake shown
    before a spec is created)."""
    params = model.params
    thread = model.state.threads.get(thread_id)
    if thread is None:
        raise unknown_thread(thread_id)
    is_open = (
        viewer not in thread.co_authors
        and viewer not in thread.pending_spec_authors
        and len(thread.co_authors) + len(thread.pending_spec_authors) < params.max_coauthors
        and thread.pending < params.max_pending
    )
    recommended, basis = quoted_stake(model, viewer, thread, now, premium)
    return StakeQuote(
        thread_id=thread_id, recommended_stake=recommended, basis=basis, min_stake=params.min_stake, open=is_open
    )
