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
from collections import Counter
from collections.abc import Sequence
from itertools import islice
from typing import Protocol, TypeVar

from choir_model import CHOIR, Model, Privacy, Step, steps
from choir_model.ops import divest_bound
from choir_model.params import U64_MAX
from choir_model.state import Message, MessageState, Thread
from properties.attacks import mix_attack
from properties.records import maker

T = TypeVar("T")
# The records the builders make, built by `properties.records.maker` (the same records in half the time).
Fund, CreateThread, SubmitMessage = maker(steps.Fund), maker(steps.CreateThread), maker(steps.SubmitMessage)
RequestPublic, SubmitSpec = maker(steps.RequestPublic), maker(steps.SubmitSpec)
ProcessApproval, Expire, Divest = maker(steps.ProcessApproval), maker(steps.Expire), maker(steps.Divest)
GENESIS = 1_700_000_000
# Enough users to fill a thread's MAX_COAUTHORS (10) seats and still have outsiders whose spec is ThreadFull.
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mike", "nia")
# Every boundary of RFC 3629 that a valid id can hold (SPEC section 3, InvalidThreadId: an id is UTF-8): the first
# and last of each length above one byte, both sides of the surrogates, odd lead bytes of three and four bytes
# (U+1000, U+40000), the last code point and the last one-byte character: 32 bytes, the longest id SPEC section 1
# allows. It starts with a two-byte character, so a validator that skips or misreads an id's first byte refuses it.
EVERY_UTF8_BOUND = "\u0080\u07ff\u0800\u1000\ud7ff\ue000\uffff\U00010000\U00040000\U0010ffff\x7f"
# Thread ids at both bounds of SPEC section 1 (1 and 32 bytes of UTF-8), and just outside them (0 and 33 bytes).
THREAD_IDS = ("t1", "t2", "t3", "x", EVERY_UTF8_BOUND)
BAD_THREAD_IDS = ("", "x" * 33, EVERY_UTF8_BOUND + "x")
# Every set of treasury authorities that meets the threshold (SPEC section 8: 2 of treasury1..3), in both orders.
VALID_SIGNERS = (("treasury1", "treasury2"), ("treasury1", "treasury3"), ("treasury2", "treasury3"),
                 ("treasury3", "treasury1"), ("treasury1", "treasury2", "treasury3"))  # fmt: skip
INVALID_SIGNERS = (("treasury1",), (), ("treasury1", "mallory"), ("treasury3", "treasury3"), ("treasury3",))
OPS = ("fund", "create_thread", "submit_message", "request_public", "submit_spec", "process_approval", "expire",
       "divest")  # fmt: skip
# The option lists the builders draw from, built once (the order of each is part of what a seed builds).
ANY_THREAD_IDS = (*THREAD_IDS, *BAD_THREAD_IDS)
NO_THREAD_IDS = ("t-none", *THREAD_IDS)  # the thread of a step whose thread choice was the invalid one
FUND_AMOUNTS = (100 * CHOIR, 10 * CHOIR, 1000 * CHOIR, 1, 3 * CHOIR + 1)
PRIVACIES = tuple(Privacy)
FORWARDS = (0, 1, 60, 3600)  # seconds after the last step
BACKWARDS = (1, 3600)  # seconds before it (InvalidTime)
NEAR = (0, -1, 1)  # at a bound, or one base unit either side
# The operations that address an existing message, so may change its state (a submission only adds a new one).
ADDRESSING = frozenset(("request_public", "process_approval", "expire"))


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
    """Builds steps of a requested kind from the current state of `model` (the reference).

    Speed (the soak's goal is 80% of the rate of replaying its steps through the checked model): every builder
    makes exactly the draws, in exactly the order, of the plain version it replaced (the same seed builds the same
    steps), but draws through a local `index` rather than `pick`/`invalid` method calls, and reads what does not
    change from step to step from caches checked by a cheap key: the thread ids not yet created (threads are never
    deleted), a thread's outsiders (co-authors are only ever added, SPEC section 3), the recommended stake (a pure
    function of balance and co-author count)."""

    def __init__(
        self,
        model: Model,
        source: Source,
        invalid_one_in: int = 8,
        attacks: bool = False,
        genesis: int = GENESIS,
        share: int | None = None,
    ) -> None:
        self.model = model
        self.genesis = genesis  # the time the world's first step is drawn from (`properties.variation.run_start`)
        self.attacks = attacks
        self.attacked: Counter[tuple[str, ...]] = Counter()  # this world's attacks (`mix_attack` balances them)
        self.share = share  # which of a kind's choices this world tries first (`properties.attacks.SHARES`)
        self.source = source
        self.invalid_one_in = invalid_one_in
        self.hashes_used = 0
        self._thread_ids: tuple[str, ...] = ()
        self._free_ids: tuple[int, list[str]] = (-1, [])  # (thread count, ids in THREAD_IDS not yet created)
        self._outsiders: dict[str, tuple[list[str], int, list[str]]] = {}  # id -> (co_authors, count, outsiders)
        self._stakes: dict[tuple[int, int], int] = {}  # (balance, co-authors) -> recommended stake
        self._indexes: dict[str, MessageIndex] = {}
        self._addressed: tuple[str, str] | None = None  # (thread, hash) of the last step built
        self._builders = {op: getattr(self, op) for op in OPS}

    @property
    def source(self) -> Source:
        return self._source

    @source.setter
    def source(self, source: Source) -> None:
        """Hypothesis machines set a new source per step; the bound `index` saves an attribute lookup per draw."""
        self._source = source
        self._index = source.index

    @property
    def invalid_one_in(self) -> int:
        return self._invalid_one_in

    @invalid_one_in.setter
    def invalid_one_in(self, one_in: int) -> None:
        self._invalid_one_in = one_in
        self._invalid_at = one_in - 1  # `invalid()` is true when the draw is the last of `one_in`

    # -- choice helpers ------------------------------------------------------------------------------------------

    def pick(self, options: Sequence[T]) -> T:
        return options[self._index(len(options))]

    def invalid(self) -> bool:
        """True about once in `invalid_one_in` draws: take a deliberately wrong option."""
        return self._index(self._invalid_one_in) == self._invalid_at

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
        index, invalid_one_in, invalid_at = self._index, self._invalid_one_in, self._invalid_at
        last_now = self.model.state.last_now
        if last_now is None:
            last = self.genesis
        else:
            last = last_now
            if index(invalid_one_in) == invalid_at and index(invalid_one_in) == invalid_at:
                return last - BACKWARDS[index(2)]
        if extra:
            targets = [t for t in extra if t >= last]
            if targets and index(2) == 0:
                return targets[index(len(targets))]
        if index(16) != 15:
            return last + FORWARDS[index(4)]
        cooldown = self.model.params.divest_cooldown
        return last + (cooldown - 1, cooldown)[index(2)]

    def _fresh_hash(self) -> str:
        self.hashes_used += 1
        return f"{self.hashes_used:064x}"

    def _thread(self, busy: bool = False) -> Thread | None:
        """A thread, or None (an invalid choice). With `busy`, one time in three the thread with the most pending
        messages: pending windows pile up there until `max_pending` is reached (ThreadFull), which uniform picks
        across threads reached in only one 2,000-step run in five."""
        threads = self.model.state.threads
        index = self._index
        if not threads or index(self._invalid_one_in) == self._invalid_at:
            return None
        thread_ids = self._thread_ids
        if len(thread_ids) != len(threads):  # threads are never deleted: the id list only grows
            thread_ids = self._thread_ids = tuple(threads)
        if busy and index(3) == 0:
            return max(threads.values(), key=_pending)
        return threads[thread_ids[index(len(thread_ids))]]

    def _thread_id(self, thread: Thread | None) -> str:
        return thread.thread_id if thread is not None else NO_THREAD_IDS[self._index(len(NO_THREAD_IDS))]

    def _outsider(self, thread: Thread) -> str:
        """Someone who may submit a spec: funded non-co-authors first."""
        co_authors = thread.co_authors
        if self._index(self._invalid_one_in) == self._invalid_at:
            return co_authors[self._index(len(co_authors))]
        cached = self._outsiders.get(thread.thread_id)
        if cached is None or cached[0] is not co_authors or cached[1] != len(co_authors):
            outsiders = [u for u in USERS if u not in co_authors]
            self._outsiders[thread.thread_id] = (co_authors, len(co_authors), outsiders)
        else:
            outsiders = cached[2]
        options = self._funded(outsiders, self.model.params.min_stake) or outsiders or co_authors
        return options[self._index(len(options))]

    def _funded(self, users: Sequence[str], minimum: int) -> list[str]:
        """The users among `users` whose wallet holds at least `minimum`, in order."""
        balance = self.model.state.wallets.get
        return [u for u in users if balance(u, 0) >= minimum]

    def _funded_user(self, minimum: int) -> str:
        index = self._index
        funded = self._funded(USERS, minimum)
        if funded and index(self._invalid_one_in) != self._invalid_at:
            return funded[index(len(funded))]
        return USERS[index(len(USERS))]

    def _amount_near(self, *bounds: int) -> int:
        """An amount at or next to one of the bounds (never negative, never above u64: amounts are u64, SPEC
        section 8, and a bound may be U64_MAX itself)."""
        index = self._index
        bound = bounds[index(len(bounds))] + NEAR[index(3)]
        return U64_MAX if bound > U64_MAX else bound if bound > 0 else 0

    def _recommended_stake(self, thread: Thread) -> int:
        """`Model.recommended_stake` at age 0, kept per (balance, co-authors): the formula is a pure function of
        them and costs more than the rest of building a spec."""
        key = (thread.balance, len(thread.co_authors))
        stake = self._stakes.get(key)
        if stake is None:
            stake = self._stakes[key] = self.model.recommended_stake(thread.thread_id)
        return stake

    # -- one builder per operation -------------------------------------------------------------------------------

    def step(self, op: str) -> Step:
        """A step of kind `op`; with `attacks`, sometimes an attack on it instead (`properties.attacks`)."""
        if self._addressed is not None:
            self._restate_addressed()
        step = self._builders[op]()
        if op in ADDRESSING:
            self._addressed = (step.thread, step.hash)  # type: ignore[attr-defined]
        return mix_attack(self.model, self.source, step, self.attacked, self.share) if self.attacks else step

    def fund(self) -> Step:
        index, invalid_one_in, invalid_at = self._index, self._invalid_one_in, self._invalid_at
        signers: tuple[str, ...]
        if index(invalid_one_in) != invalid_at:
            signers = VALID_SIGNERS[index(len(VALID_SIGNERS))]
        else:
            signers = INVALID_SIGNERS[index(len(INVALID_SIGNERS))]
        amount = FUND_AMOUNTS[index(len(FUND_AMOUNTS))]
        if index(invalid_one_in) == invalid_at:  # at the bounds: nothing, more than the treasury, rarely all of it
            treasury = self.model.state.treasury
            whole = treasury if index(invalid_one_in) == invalid_at else 0
            amount = (0, min(U64_MAX, treasury + 1), whole)[index(3)]
        actor = USERS[index(len(USERS))]
        return Fund(actor, self._now(), amount, signers)

    def create_thread(self) -> Step:
        state, params, index = self.model.state, self.model.params, self._index
        actor = self._funded_user(params.min_thread_balance)
        threads = state.threads
        count, free = self._free_ids
        if count != len(threads):
            free = [t for t in THREAD_IDS if t not in threads]
            self._free_ids = (len(threads), free)
        if free and index(self._invalid_one_in) != self._invalid_at:
            thread_id = free[index(len(free))]
        else:
            thread_id = ANY_THREAD_IDS[index(len(ANY_THREAD_IDS))]
        wallet = state.wallets.get(actor, 0)
        deposit = self._amount_near(params.min_thread_balance, 5 * CHOIR, wallet)
        return CreateThread(actor, self._now(), thread_id, deposit)

    def submit_message(self) -> Step:
        index, invalid_one_in, invalid_at = self._index, self._invalid_one_in, self._invalid_at
        thread = self._thread(busy=True)
        if thread is not None and index(invalid_one_in) != invalid_at:
            actor = thread.co_authors[index(len(thread.co_authors))]
        else:
            actor = USERS[index(len(USERS))]
        content = self._fresh_hash()
        if thread is not None and thread.messages and index(invalid_one_in) == invalid_at:
            hashes = self.messages(thread).hashes
            content = hashes[index(len(hashes))]
        privacy = PRIVACIES[index(len(PRIVACIES))]
        return SubmitMessage(actor, self._now(), self._thread_id(thread), content, privacy)

    def request_public(self) -> Step:
        index, invalid_one_in, invalid_at = self._index, self._invalid_one_in, self._invalid_at
        thread = self._thread(busy=True)
        if thread is None:
            actor = USERS[index(len(USERS))]
            return RequestPublic(actor, self._now(), self._thread_id(None), self._fresh_hash())
        messages = self.messages(thread)
        if messages.private and index(invalid_one_in) != invalid_at:
            content = messages.private[index(len(messages.private))]
            actor = thread.messages[content].author
        else:
            hashes = messages.hashes
            valid = hashes and index(invalid_one_in) != invalid_at
            content = hashes[index(len(hashes))] if valid else self._fresh_hash()
            actor = thread.co_authors[index(len(thread.co_authors))]
        if index(invalid_one_in) == invalid_at:
            actor = USERS[index(len(USERS))]
        return RequestPublic(actor, self._now(), thread.thread_id, content)

    def submit_spec(self) -> Step:
        state, params, index = self.model.state, self.model.params, self._index
        thread = self._thread(busy=True)
        if thread is None:
            actor = USERS[index(len(USERS))]
            return SubmitSpec(actor, self._now(), self._thread_id(None), self._fresh_hash(), CHOIR)
        actor = self._outsider(thread)
        content = self._fresh_hash()
        if thread.messages and index(self._invalid_one_in) == self._invalid_at:
            hashes = self.messages(thread).hashes
            content = hashes[index(len(hashes))]
        wallet = state.wallets.get(actor, 0)
        recommended = self._recommended_stake(thread)
        minimum = params.min_stake
        usual = max(minimum, min(recommended, wallet))
        voters = len(thread.co_authors)
        if voters >= minimum:
            # Also a stake at the voters' count, two draws in five, where a share S // A turns 0 or 1 (SPEC section 4):
            # the few worlds that allow such stakes settle only a dozen specs, and one in four was too few to
            # settle one paying a single unit per approver at every seed.
            stake = self._amount_near(minimum, usual, wallet, voters, voters)
        else:
            stake = self._amount_near(minimum, usual, wallet)
        privacy = PRIVACIES[index(len(PRIVACIES))]
        return SubmitSpec(actor, self._now(), thread.thread_id, content, stake, privacy)

    def process_approval(self) -> Step:
        index, invalid_one_in, invalid_at = self._index, self._invalid_one_in, self._invalid_at
        thread = self._thread()
        approve = index(3) != 2  # approvals twice as likely as denials
        if thread is None:
            actor = USERS[index(len(USERS))]
            return ProcessApproval(actor, self._now(), self._thread_id(None), self._fresh_hash(), approve)
        last = self.model.state.last_now or self.genesis
        messages, by_hash = self.messages(thread), thread.messages
        pending = [h for h in messages.pending if (by_hash[h].deadline or 0) > last]
        specs = [h for h in pending if by_hash[h].is_spec]
        if specs and index(3) != 2:  # specs carry the economics: vote on them more often
            pending = specs
        if not pending or index(invalid_one_in) == invalid_at:
            hashes = messages.hashes
            content = hashes[index(len(hashes))] if hashes else self._fresh_hash()
            actor = USERS[index(len(USERS))]
            return ProcessApproval(actor, self._now(), thread.thread_id, content, approve)
        content = pending[index(len(pending))]
        message = by_hash[content]
        votes = message.votes
        waiting = [v for v in message.voters if v not in votes]
        if waiting and index(invalid_one_in) != invalid_at:
            actor = waiting[index(len(waiting))]
        else:  # someone who already voted, or anyone at all
            anyone = (*(v for v in message.voters if v in votes), *USERS)
            actor = anyone[index(len(anyone))]
        deadline = message.deadline or 0
        now = self._now((deadline - 1, deadline) if index(invalid_one_in) == invalid_at else ())
        return ProcessApproval(actor, now, thread.thread_id, content, approve)

    def expire(self) -> Step:
        """Mostly a crank on messages already past their deadline; sometimes a jump to a deadline (which also
        times out whatever else is pending), sometimes too early."""
        index = self._index
        thread = self._thread()
        if thread is None:
            actor = USERS[index(len(USERS))]
            return Expire(actor, self._now(), self._thread_id(None), self._fresh_hash())
        last = self.model.state.last_now or self.genesis
        messages, by_hash = self.messages(thread), thread.messages
        pending = messages.pending
        due = [h for h in pending if (by_hash[h].deadline or 0) <= last]
        if due and index(self._invalid_one_in) != self._invalid_at:
            return Expire("keeper", self._now(), thread.thread_id, due[index(len(due))])
        if pending and index(16) == 0:
            content = pending[index(len(pending))]
            deadline = by_hash[content].deadline or 0
            return Expire("keeper", self._now((deadline, deadline + 1, deadline - 1)), thread.thread_id, content)
        hashes = messages.hashes
        content = hashes[index(len(hashes))] if hashes else self._fresh_hash()
        return Expire("keeper", self._now(), thread.thread_id, content)

    def divest(self) -> Step:
        params, index = self.model.params, self._index
        thread = self._thread()
        if thread is None:
            actor = USERS[index(len(USERS))]
            return Divest(actor, self._now(), self._thread_id(None), CHOIR)
        co_authors = thread.co_authors
        if index(self._invalid_one_in) != self._invalid_at:
            actor = co_authors[index(len(co_authors))]
        else:
            actor = USERS[index(len(USERS))]
        bound = divest_bound(thread.balance, len(co_authors), params)
        amount = self._amount_near(bound, bound // 2, 1, 0) if bound > 0 else (1, 0)[index(2)]
        last = thread.last_divest.get(actor)
        if last is None:
            return Divest(actor, self._now(), thread.thread_id, amount)
        cooldown = params.divest_cooldown
        return Divest(actor, self._now((last + cooldown, last + cooldown - 1)), thread.thread_id, amount)


def _pending(thread: Thread) -> int:
    return thread.pending
