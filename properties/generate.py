"""Step generation shared by the Hypothesis machines and the soak runner.

A `StepGenerator` reads the reference model's state and builds one operation of a requested kind, biased towards
valid and interesting steps: actors drawn from co-authors and snapshot voters, existing hashes, amounts at and
around every bound (minimum stake, wallet, divest bound, treasury), times at and around deadlines and cooldowns;
with a steady share (about one choice in eight) of deliberately invalid ones.

Every decision goes through a `Source`, so the same code runs under Hypothesis (each choice is a draw that
shrinks towards index 0, which is always the simplest valid option) or from a seeded `random.Random` for soak
runs. Choices are listed simplest first for that reason.

Why indexes: a long run's threads hold hundreds of messages, and listing the Private, the Pending or all of a
thread's hashes by scanning them on every step was most of the generator's cost. `MessageIndex` keeps those three
lists per thread, sorted as the scans were (so the same draws build the same steps): new messages are found by
count (messages are never removed), and the only existing message whose state a step can change is the one it
addresses (SPEC section 3), which the generator built and looks at again before the next step. Steps applied to
the model by anyone else are caught by the thread's count of Pending messages (every state change but a
Private message published at once moves it) and rebuild that thread's index from a scan.
"""

from __future__ import annotations

import random
from bisect import bisect_left, insort
from collections.abc import Sequence
from itertools import islice
from typing import Protocol, TypeVar

from choir_model import (
    CHOIR,
    CreateThread,
    Divest,
    Expire,
    Fund,
    Model,
    Privacy,
    ProcessApproval,
    RequestPublic,
    Step,
    SubmitMessage,
    SubmitSpec,
)
from choir_model.ops import divest_bound
from choir_model.params import U64_MAX
from choir_model.state import Message, MessageState, Thread
from properties.attacks import mix_attack

T = TypeVar("T")
GENESIS = 1_700_000_000
# Enough users to fill a thread's MAX_COAUTHORS (10) seats and still have outsiders whose spec is ThreadFull.
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mike", "nia")
# Thread ids at both bounds of SPEC section 1 (1 and 32 bytes of UTF-8, the latter in two-byte characters), and
# just outside them (0 and 33 bytes).
THREAD_IDS = ("t1", "t2", "t3", "x", "\u00e9" * 16)
BAD_THREAD_IDS = ("", "x" * 33, "\u00e9" * 16 + "x")
# Every set of treasury authorities that meets the threshold (SPEC section 8: 2 of treasury1..3), in both orders.
VALID_SIGNERS = (("treasury1", "treasury2"), ("treasury1", "treasury3"), ("treasury2", "treasury3"),
                 ("treasury3", "treasury1"), ("treasury1", "treasury2", "treasury3"))  # fmt: skip
INVALID_SIGNERS = (("treasury1",), (), ("treasury1", "mallory"), ("treasury3", "treasury3"), ("treasury3",))
OPS = ("fund", "create_thread", "submit_message", "request_public", "submit_spec", "process_approval", "expire",
       "divest")  # fmt: skip


class Source(Protocol):
    """Where choices come from: `index(n)` returns an int in [0, n)."""

    def index(self, n: int) -> int: ...


class RandomSource:
    """Choices from a seeded `random.Random` (soak runs). `int(random() * n)` rather than `randrange(n)`: three
    times cheaper, and the bias (below 2**-40 for these n) is irrelevant to testing."""

    __slots__ = ("_random",)

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed).random

    def index(self, n: int) -> int:
        return int(self._random() * n) if n > 1 else 0


def content_hash(number: int) -> str:
    return f"{number:064x}"


PRIVATE, PENDING = MessageState.PRIVATE, MessageState.PENDING


def _discard(ordered: list[str], item: str) -> None:
    at = bisect_left(ordered, item)
    if at < len(ordered) and ordered[at] == item:
        del ordered[at]


class MessageIndex:
    """One thread's message hashes, sorted: all of them, the Private ones, the Pending ones (see the module
    docstring for how it stays current)."""

    __slots__ = ("hashes", "pending", "private")

    def __init__(self, messages: dict[str, Message]) -> None:
        self.hashes = sorted(messages)
        self.private = [h for h in self.hashes if messages[h].state is PRIVATE]
        self.pending = [h for h in self.hashes if messages[h].state is PENDING]

    def add(self, content_hash: str, state: MessageState) -> None:
        insort(self.hashes, content_hash)
        if state is PRIVATE:
            insort(self.private, content_hash)
        elif state is PENDING:
            insort(self.pending, content_hash)

    def restate(self, content_hash: str, state: MessageState) -> None:
        """The message may have changed state: file it again (a message not indexed yet is left to `add`)."""
        at = bisect_left(self.hashes, content_hash)
        if at == len(self.hashes) or self.hashes[at] != content_hash:
            return
        _discard(self.private, content_hash)
        _discard(self.pending, content_hash)
        if state is PRIVATE:
            insort(self.private, content_hash)
        elif state is PENDING:
            insort(self.pending, content_hash)


class StepGenerator:
    """Builds steps of a requested kind from the current state of `model` (the reference)."""

    def __init__(self, model: Model, source: Source, invalid_one_in: int = 8, attacks: bool = False) -> None:
        self.model = model
        self.attacks = attacks
        self.source = source
        self.invalid_one_in = invalid_one_in
        self.hashes_used = 0
        self._thread_ids: tuple[str, ...] = ()
        self._indexes: dict[str, MessageIndex] = {}
        self._addressed: tuple[str, str] | None = None  # (thread, hash) of the last step built

    @property
    def source(self) -> Source:
        return self._source

    @source.setter
    def source(self, source: Source) -> None:
        """Hypothesis machines set a new source per step; the bound `index` saves an attribute lookup per draw."""
        self._source = source
        self._index = source.index

    # -- choice helpers ------------------------------------------------------------------------------------------

    def pick(self, options: Sequence[T]) -> T:
        return options[self._index(len(options))]

    def invalid(self) -> bool:
        """True about once in `invalid_one_in` draws: take a deliberately wrong option."""
        return self._index(self.invalid_one_in) == self.invalid_one_in - 1

    def messages(self, thread: Thread) -> MessageIndex:
        """The thread's `MessageIndex`, brought up to date."""
        messages = thread.messages
        index = self._indexes.get(thread.thread_id)
        if index is None:
            index = self._indexes[thread.thread_id] = MessageIndex(messages)
            return index
        new = len(messages) - len(index.hashes)
        if new > 0:
            for content_hash in islice(reversed(messages), new):
                index.add(content_hash, messages[content_hash].state)
        if new < 0 or len(index.pending) != thread.pending:  # changed by steps this generator did not build
            index = self._indexes[thread.thread_id] = MessageIndex(messages)
        return index

    def _restate_addressed(self) -> None:
        """File again the message the last step addressed: the only existing one a step can change."""
        thread_id, content_hash = self._addressed  # type: ignore[misc]
        self._addressed = None
        index = self._indexes.get(thread_id)
        if index is not None:
            message = self.model.state.threads[thread_id].messages.get(content_hash)
            if message is not None:
                index.restate(content_hash, message.state)

    def _now(self, extra: Sequence[int] = ()) -> int:
        """A time at or after the last step; candidates around cooldowns and windows, plus `extra` targets."""
        state, params = self.model.state, self.model.params
        last = state.last_now if state.last_now is not None else GENESIS
        if state.last_now is not None and self.invalid() and self.invalid():
            return last - self.pick((1, 3600))
        targets = [t for t in extra if t >= last]
        if targets and self._index(2) == 0:
            return self.pick(targets)
        if self._index(16) != 15:
            return last + self.pick((0, 1, 60, 3600))
        return last + self.pick((params.divest_cooldown - 1, params.divest_cooldown))

    def _fresh_hash(self) -> str:
        self.hashes_used += 1
        return content_hash(self.hashes_used)

    def _thread(self, busy: bool = False) -> Thread | None:
        """A thread, or None (an invalid choice). With `busy`, one time in three the thread with the most pending
        messages: pending windows pile up there until `max_pending` is reached (ThreadFull), which uniform picks
        across threads reached in only one 2,000-step run in five."""
        threads = self.model.state.threads
        if not threads or self.invalid():
            return None
        if len(self._thread_ids) != len(threads):  # threads are never deleted: the id list only grows
            self._thread_ids = tuple(threads)
        if busy and self._index(3) == 0:
            return max(threads.values(), key=lambda thread: thread.pending)
        return threads[self.pick(self._thread_ids)]

    def _thread_id(self, thread: Thread | None) -> str:
        return thread.thread_id if thread is not None else self.pick(("t-none", *THREAD_IDS))

    def _outsider(self, thread: Thread) -> str:
        """Someone who may submit a spec: funded non-co-authors first."""
        if self.invalid():
            return self.pick(thread.co_authors)
        wallets, minimum = self.model.state.wallets, self.model.params.min_stake
        outsiders = [u for u in USERS if u not in thread.co_authors]
        funded = [u for u in outsiders if wallets.get(u, 0) >= minimum]
        return self.pick(funded or outsiders or thread.co_authors)

    def _funded_user(self, minimum: int) -> str:
        wallets = self.model.state.wallets
        funded = [u for u in USERS if wallets.get(u, 0) >= minimum]
        return self.pick(funded) if funded and not self.invalid() else self.pick(USERS)

    def _amount_near(self, *bounds: int) -> int:
        """An amount at or next to one of the bounds (never negative, never above u64: amounts are u64, SPEC
        section 8, and a bound may be U64_MAX itself)."""
        bound = self.pick(bounds)
        return min(U64_MAX, max(0, bound + self.pick((0, -1, 1))))

    # -- one builder per operation -------------------------------------------------------------------------------

    def step(self, op: str) -> Step:
        """A step of kind `op`; with `attacks`, sometimes an attack on it instead (`properties.attacks`)."""
        if self._addressed is not None:
            self._restate_addressed()
        step = getattr(self, op)()
        content_hash = getattr(step, "hash", None)
        if content_hash is not None:
            self._addressed = (step.thread, content_hash)  # type: ignore[attr-defined]
        return mix_attack(self.model, self.source, step) if self.attacks else step

    def fund(self) -> Step:
        state = self.model.state
        signers = self.pick(VALID_SIGNERS) if not self.invalid() else self.pick(INVALID_SIGNERS)
        amount = self.pick((100 * CHOIR, 10 * CHOIR, 1000 * CHOIR, 1, 3 * CHOIR + 1))
        if self.invalid():  # at the bounds: nothing, more than the treasury, and rarely the whole treasury
            amount = self.pick((0, min(U64_MAX, state.treasury + 1), state.treasury if self.invalid() else 0))
        return Fund(self.pick(USERS), self._now(), amount, signers)

    def create_thread(self) -> Step:
        state, params = self.model.state, self.model.params
        actor = self._funded_user(params.min_thread_balance)
        free = [t for t in THREAD_IDS if t not in state.threads]
        valid = free and not self.invalid()
        thread_id = self.pick(free) if valid else self.pick((*THREAD_IDS, *BAD_THREAD_IDS))
        wallet = state.wallets.get(actor, 0)
        deposit = self._amount_near(params.min_thread_balance, 5 * CHOIR, wallet)
        return CreateThread(actor, self._now(), thread_id, deposit)

    def submit_message(self) -> Step:
        thread = self._thread(busy=True)
        actor = self.pick(thread.co_authors) if thread and not self.invalid() else self.pick(USERS)
        content = self._fresh_hash()
        if thread and thread.messages and self.invalid():
            content = self.pick(self.messages(thread).hashes)
        privacy = self.pick(tuple(Privacy))
        return SubmitMessage(actor, self._now(), self._thread_id(thread), content, privacy)

    def request_public(self) -> Step:
        thread = self._thread(busy=True)
        if thread is None:
            return RequestPublic(self.pick(USERS), self._now(), self._thread_id(None), self._fresh_hash())
        index = self.messages(thread)
        if index.private and not self.invalid():
            content = self.pick(index.private)
            actor = thread.messages[content].author
        else:
            content = self.pick(index.hashes) if index.hashes and not self.invalid() else self._fresh_hash()
            actor = self.pick(thread.co_authors)
        if self.invalid():
            actor = self.pick(USERS)
        return RequestPublic(actor, self._now(), thread.thread_id, content)

    def submit_spec(self) -> Step:
        state, params = self.model.state, self.model.params
        thread = self._thread(busy=True)
        if thread is None:
            return SubmitSpec(self.pick(USERS), self._now(), self._thread_id(None), self._fresh_hash(), CHOIR)
        actor = self._outsider(thread)
        content = self._fresh_hash()
        if thread.messages and self.invalid():
            content = self.pick(self.messages(thread).hashes)
        wallet = state.wallets.get(actor, 0)
        recommended = self.model.recommended_stake(thread.thread_id)
        stake = self._amount_near(params.min_stake, max(params.min_stake, min(recommended, wallet)), wallet)
        privacy = self.pick(tuple(Privacy))
        return SubmitSpec(actor, self._now(), thread.thread_id, content, stake, privacy)

    def process_approval(self) -> Step:
        thread = self._thread()
        approve = self._index(3) != 2  # approvals twice as likely as denials
        if thread is None:
            return ProcessApproval(self.pick(USERS), self._now(), self._thread_id(None), self._fresh_hash(), approve)
        last = self.model.state.last_now or GENESIS
        index = self.messages(thread)
        pending = [h for h in index.pending if (thread.messages[h].deadline or 0) > last]
        specs = [h for h in pending if thread.messages[h].is_spec]
        if specs and self._index(3) != 2:  # specs carry the economics: vote on them more often
            pending = specs
        if not pending or self.invalid():
            content = self.pick(index.hashes) if index.hashes else self._fresh_hash()
            return ProcessApproval(self.pick(USERS), self._now(), thread.thread_id, content, approve)
        content = self.pick(pending)
        message = thread.messages[content]
        waiting = [v for v in message.voters if v not in message.votes]
        if waiting and not self.invalid():
            actor = self.pick(waiting)
        else:  # someone who already voted, or anyone at all
            actor = self.pick((*(v for v in message.voters if v in message.votes), *USERS))
        deadline = message.deadline or 0
        now = self._now((deadline - 1, deadline) if self.invalid() else ())
        return ProcessApproval(actor, now, thread.thread_id, content, approve)

    def expire(self) -> Step:
        """Mostly a crank on messages already past their deadline; sometimes a jump to a deadline (which also
        times out whatever else is pending), sometimes too early."""
        thread = self._thread()
        if thread is None:
            return Expire(self.pick(USERS), self._now(), self._thread_id(None), self._fresh_hash())
        last = self.model.state.last_now or GENESIS
        index = self.messages(thread)
        pending = index.pending
        due = [h for h in pending if (thread.messages[h].deadline or 0) <= last]
        if due and not self.invalid():
            return Expire("keeper", self._now(), thread.thread_id, self.pick(due))
        if pending and self._index(16) == 0:
            content = self.pick(pending)
            deadline = thread.messages[content].deadline or 0
            return Expire("keeper", self._now((deadline, deadline + 1, deadline - 1)), thread.thread_id, content)
        content = self.pick(index.hashes) if index.hashes else self._fresh_hash()
        return Expire("keeper", self._now(), thread.thread_id, content)

    def divest(self) -> Step:
        params = self.model.params
        thread = self._thread()
        if thread is None:
            return Divest(self.pick(USERS), self._now(), self._thread_id(None), CHOIR)
        actor = self.pick(thread.co_authors) if not self.invalid() else self.pick(USERS)
        bound = divest_bound(thread.balance, len(thread.co_authors), params)
        amount = self._amount_near(bound, bound // 2, 1, 0) if bound > 0 else self.pick((1, 0))
        last = thread.last_divest.get(actor)
        targets = () if last is None else (last + params.divest_cooldown, last + params.divest_cooldown - 1)
        return Divest(actor, self._now(targets), thread.thread_id, amount)
