"""The chain behind the backend (spec section 9): every accepted operation also goes to the Choir program, and
`GET /v1/consistency` compares the backend's state with the program's accounts.

Why this shape: the seeds record content hashes and token state on Solana, and the backend must never acknowledge what
the chain refused. So the chain comes *before* the model in the writer: for each operation the writer first sends the
transaction (`programs.driver.ProgramDriver`); if the program refuses, the model is asked what it would say, without
changing it (`Model.refusal`): if it refuses too (the usual case: the program agrees with the oracle), the client gets
the model's own error, exactly as without a chain; if it would accept, the backend answers `ChainRejected` (409, with
the program's error name). Either way neither the model nor the journal changes. If the program accepts, the model
applies the step as before and the journal commits it. The one case that cannot be undone is the program accepting what
the model then refuses (the chain has no rollback): that is a disagreement between the program and the oracle, which the
property suite exists to rule out; it is recorded as a divergence, the client gets the model's error, and
`/v1/consistency` reports it. Both sides are read under the backend's state lock, so `/v1/consistency` compares one
consistent cut: the model's SPEC section 8 snapshot against the program's accounts rendered by the same renderer
(`ProgramDriver.snapshot`).

Two chains (`choir serve --chain`):

* `litesvm` (the default with the seeds policy): the program in an in-process LiteSVM, loaded from the `.so` that
  `choir program build` writes (`program_image`; serving never compiles). It holds nothing across restarts, so it
  is rebuilt from the journal when the server starts, and from genesis when a test server resets its world. To
  keep a restart short, the writer stores the program's accounts with each model snapshot (`checkpoint`: only the
  accounts written since the previous one; `reference_backend.journal`, `chain_accounts`), and a start adopts
  them in a fresh LiteSVM, which puts each in before its first use (`reference_backend.chain_restore`), and
  replays only the journal rows after them; without a checkpoint whose journal rows
  are unchanged (their digest), every journaled operation is replayed. The backend sets its clock to each
  operation's `now`, so the program's times equal the model's exactly.
* `rpc` (`--rpc URL --program-id ID --keypair FILE`): the program deployed at a validator, through
  `programs.transport.RpcTransport`. A validator keeps its state, so replaying the journal into it at every start
  would apply every operation twice. At start the server reads the program's accounts: if they hold no operation
  (a fresh deployment: nothing, or only the config and treasury at genesis; the fee payer must then be the
  program's upgrade authority, the only key that may initialize it) the journal is replayed into the program
  once; otherwise the program's snapshot must equal the model's after the journal replay, or the server refuses
  to start (`ChainMismatch`, exit 2) and changes nothing on either side. The deployment's config must also hold
  the backend's `--params`. The program stamps the *cluster's* clock, which the backend cannot set: before each
  operation the transport waits until the cluster's clock has reached the operation's `now`, so every time the
  program records (thread `created_at`, `updated_at`, message `deadline`) is at or after the model's, and that is
  what `/v1/consistency` checks for those fields (everything else must be equal). For the same reason a manual
  clock is refused with this chain, and so is a world reset (answered `ChainPersistent`, 409). A validator that
  does not answer fails that operation alone with `ChainUnavailable` (502, which clients do not retry on their
  own: its transaction may have landed, and `/v1/consistency` would then show it).

The writer's two recovery paths (a journal commit that fails; an internal error, after which it rebuilds the model
from the journal and redoes the rest of the batch) rewind the chain with the model (`Chain.rewind`): the embedded
chain is rebuilt from the journal, so the redone operations reach a program level with the model again.

Known limits: a deployed program cannot be rewound. After a recovery path the `rpc` chain may hold operations the
journal does not; that is recorded as a divergence (`/v1/consistency` shows it), and a restart refuses to start on the
mismatch, which must be settled by hand (a fresh deployment, or a journal that matches). With `rpc`, cluster times run
at or after the model's, so a time-bound operation the model accepts right at its boundary (an `Expire` at the deadline,
a `Divest` at the end of its cooldown) may be refused by the program for a second or so and is answered `ChainRejected`
(nothing changes; retrying later succeeds); and a replay into a fresh deployment runs the whole journal at today's
cluster time, so a journal holding such operations cannot be replayed (the server says which row and exits 2). The
server is the program's only writer: what another client sends to the same deployment shows up in `/v1/consistency` (it
reads every program account) but is not applied to the model.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field
from solders.pubkey import Pubkey

from choir_model import Model, Step
from choir_model.state import ChoirState
from choir_model.trace import step_from_json
from programs.cluster import cluster_times
from reference_backend.chain_restore import CheckpointTransport
from reference_backend.errors import ApiError
from reference_backend.journal import ChainAccounts

if TYPE_CHECKING:
    from programs.client.coder import IdlCoder
    from programs.driver import ProgramDriver
    from programs.transport import Transport
    from reference_backend.config import BackendConfig
    from reference_backend.journal import Journal
    from reference_backend.service import Backend

log = logging.getLogger("reference_backend")


class Ledger(Protocol):
    """What the chain reads of the backend: the writer (`before`, `rewind` on its thread) and the facade
    (`attach`, `check`) both provide it."""

    config: BackendConfig
    journal: Journal
    model: Model
    generation: int
    journal_seq: int
    state_lock: Any


class ChainStartError(RuntimeError):
    """The chain cannot be put in front of the model; the message says why and what to do (`choir serve` prints it
    and exits 2)."""


class ChainMismatch(ChainStartError):
    """A persistent chain holds a state other than the journal's: serving would acknowledge operations on top of
    two different worlds."""


class ChainRejected(ApiError):
    def __init__(self, name: str) -> None:
        super().__init__("ChainRejected", f"the Choir program refused the operation: {name}; nothing changed")
        self.program_error = name


@dataclass
class Divergence:
    seq_before: int
    step: dict[str, Any]
    model_error: str


class Consistency(BaseModel):
    consistent: bool = Field(description="The model's snapshot equals the program's, and no step ever diverged.")
    journal_seq: int
    chain_steps: int = Field(
        description="Operations the program accepted since this server put it in front of the model (including "
        "the journal replayed into it at start)."
    )
    rejected: int = Field(
        description="Operations the program refused although the model accepts them (answered "
        "ChainRejected, not journaled)."
    )
    refused_by_both: int = Field(description="Operations both refused (answered with the model's error).")
    times: str = Field(
        "exact",
        description="How thread created_at/updated_at and message deadline are compared: `exact` (LiteSVM, whose "
        "clock the backend sets) or `at-or-after` (a validator: the program stamps the cluster's clock, which "
        "must be at or after the model's).",
    )
    differences: list[str] = Field(description="Snapshot paths where the two states differ (first 20).")
    divergences: list[dict[str, Any]]


def differences(left: Any, right: Any, path: str = "") -> list[str]:
    """Paths where two JSON values differ."""
    if isinstance(left, dict) and isinstance(right, dict):
        out: list[str] = []
        for key in sorted(set(left) | set(right)):
            if key not in left or key not in right:
                out.append(f"{path}/{key}")
            else:
                out.extend(differences(left[key], right[key], f"{path}/{key}"))
        return out
    return [] if left == right else [path or "/"]


def actor_names(state: ChoirState) -> list[str]:
    """Every actor name a state mentions (wallets, co-authors, authors, voters): what a restored chain must know
    to render its accounts by name."""
    names = set(state.wallets)
    for thread in state.threads.values():
        names.update(thread.co_authors)
        for message in thread.messages.values():
            names.add(message.author)
            names.update(message.voters)
    return sorted(names)


def snapshot_names(snapshot: dict[str, Any]) -> list[str]:
    """Every actor name a snapshot mentions (wallets, co-authors, authors, voters): a driver adopting a deployed
    program must know them to render its accounts by name rather than by public key."""
    names = set(snapshot.get("wallets", {}))
    for thread in snapshot.get("threads", {}).values():
        names.update(thread.get("co_authors", ()))
    for message in snapshot.get("messages", {}).values():
        names.add(message.get("author", ""))
        names.update(message.get("votes", {}))
    names.discard("")
    return sorted(names)


@dataclass
class Chain:
    """The program driver the writer consults before the model. `factory` builds a driver: a fresh one at genesis
    (`persistent=False`, LiteSVM) or one connected to a deployment that keeps its state (`persistent=True`, a
    validator: see the module docstring for what `start` does then)."""

    factory: Callable[[], ProgramDriver]
    persistent: bool = False
    driver: ProgramDriver | None = None
    generation: int = -1
    accepted: int = 0
    rejected: int = 0
    agreed: int = 0
    divergences: list[Divergence] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base: int | None = None  # the stored checkpoint the driver's accounts extend (None: the next one stores all)
    unsaved: set[Pubkey] = field(default_factory=set)  # accounts written since that checkpoint
    adopted: CheckpointTransport | None = None  # after a restore: the checkpoint's accounts not used yet

    def _fresh(self, generation: int) -> ProgramDriver:
        if self.driver is not None:
            self.driver.close()
            self.driver = None
        self.driver = self.factory()
        self.generation = generation
        self.accepted = self.rejected = self.agreed = 0
        self.divergences = []
        self.base, self.unsaved, self.adopted = None, set(), None
        return self.driver

    def start(self, backend: Ledger) -> int:
        """Bring the chain level with the journal (under the state lock, before serving); returns the operations
        replayed into it. Embedded: replay everything into a fresh LiteSVM. Persistent: replay only into a
        deployment that holds no operation; otherwise check it already holds the journal's state."""
        if not self.persistent:
            return self.restore(backend)
        driver = self._fresh(backend.generation)
        chain = driver.snapshot(full=True)
        genesis = Model(backend.config.params, policy=backend.config.policy).snapshot()
        if not differences(genesis, chain):
            return self.replay(backend, driver)
        model = backend.model.snapshot()
        diff = differences(model, cluster_times(model, chain))
        if diff:
            shown = ", ".join(diff[:10]) + (f" and {len(diff) - 10} more" if len(diff) > 10 else "")
            raise ChainMismatch(
                f"the program's accounts hold another state than the journal (journal at row {backend.journal_seq}; "
                f"they differ at {shown}). Nothing was sent to the program. Serve this --data against the "
                "deployment it was journaled on, or start from a fresh deployment or a fresh --data."
            )
        return 0

    def restore(self, backend: Ledger) -> int:
        """Embedded: a fresh LiteSVM holding the stored checkpoint's accounts (each put in on first use:
        `reference_backend.chain_restore`), then the journal rows after it (all of them without a usable
        checkpoint); returns the operations replayed."""
        stored = backend.journal.chain_checkpoint()
        if stored is None:
            return self.replay(backend)
        seq, addresses = stored
        driver = self._fresh(backend.generation)
        keys = [Pubkey.from_bytes(a) for a in addresses]
        self.adopted = CheckpointTransport(driver.transport, keys, backend.journal)  # type: ignore[arg-type]
        driver.transport = self.adopted
        restored = driver.restore(keys, actor_names(backend.model.state))
        replayed = self.replay(backend, driver, after=seq)
        self.base, self.accepted = seq, seq + replayed
        log.info("chain: %d accounts adopted at journal row %d, %d rows replayed", restored, seq, replayed)
        return replayed

    def replay(self, backend: Ledger, driver: ProgramDriver | None = None, after: int = 0) -> int:
        """Send every journaled operation after row `after`, in order, to `driver` (default: a fresh one)."""
        driver = driver or self._fresh(backend.generation)
        count = 0
        for seq, line in backend.journal.lines(after=after):
            error = driver.apply(step_from_json(json.loads(line), seq))
            if error is not None:
                raise ChainMismatch(
                    f"journal row {seq} is refused by the program ({error}) after {count} rows were replayed into "
                    "it: the journal cannot be replayed onto this chain"
                )
            count += 1
        self.accepted = count
        driver.last_now = backend.model.state.last_now  # level with the model, whose journal it replayed
        return count

    def checkpoint(self) -> ChainAccounts | None:
        """What the writer stores of the embedded chain with a snapshot (under the state lock, right after a commit:
        the program is level with the journal); None for a deployed program, which keeps its own state. Call
        `saved` once it is stored."""
        with self.lock:
            if self.persistent or self.driver is None:
                return None
            self.unsaved |= self.driver.take_written()
            if self.adopted is not None:  # genesis wrote the config and treasury; the checkpoint's replace them
                self.adopted.load(self.unsaved)
            svm = self.driver.transport.svm  # type: ignore[attr-defined]
            program_id = self.driver.program.program_id
            every = None if self.base is not None else dict(svm.get_program_accounts(program_id))
            accounts: list[tuple[bytes, int, bytes | None, int]] = []
            for key in self.unsaved if every is None else every:
                account = svm.get_account(key) if every is None else every[key]
                if account is None or account.owner != program_id:  # closed, or never the program's (the payer)
                    accounts.append((bytes(key), 0, None, 0))
                else:
                    accounts.append((bytes(key), account.lamports, bytes(account.data), account.rent_epoch))
            return ChainAccounts(self.base is None, accounts)

    def saved(self, seq: int) -> None:
        """The checkpoint from `checkpoint` is stored at journal row `seq`: the next one stores what changes next."""
        with self.lock:
            self.base, self.unsaved = seq, set()

    def rewind(self, backend: Ledger) -> None:
        """The writer rebuilt the model from the journal (a recovery path): bring the chain back to the journal too.
        Embedded: rebuild it from the journal. Persistent: it cannot forget what it accepted since the last commit,
        so say so (a divergence)."""
        with self.lock:
            if not self.persistent:
                self.restore(backend)
                return
            note = "the writer rebuilt the model from the journal; the deployed program may hold more"
            self.divergences.append(Divergence(backend.journal_seq, {}, note))

    def before(self, backend: Ledger, step: Step) -> None:
        """Send `step` to the program (the writer thread, under the state lock); ChainRejected if refused."""
        with self.lock:
            driver = self.driver
            if driver is None or self.generation != backend.generation:
                if self.persistent:  # a deployed program cannot forget: the model now starts from another world
                    raise ApiError(
                        "ChainPersistent",
                        "the world was reset but the deployed program keeps its state: restart the server against "
                        "a fresh deployment; nothing changed",
                    )
                driver = self._fresh(backend.generation)  # a reset world starts from genesis
            try:
                error = driver.apply(step)
            except Exception as failure:
                if not self.persistent:
                    raise  # in process, a failing driver is a bug: the writer's internal-error path
                # A validator that does not answer: refuse this operation alone. (The internal-error path would
                # redo the batch's earlier operations, sending them to the deployed program a second time.)
                log.error("the chain did not answer for %s: %r", step, failure)
                raise ApiError(
                    "ChainUnavailable",
                    f"the Choir program could not be reached ({type(failure).__name__}: {failure}); the operation "
                    "was not applied here (if its transaction landed anyway, /v1/consistency shows it)",
                ) from None
            if error is None:
                self.accepted += 1
                return
            # Refused: if the model refuses too, answer exactly as the model alone would (it changes nothing).
            refused = backend.model.refusal(step)
            if refused is not None:
                self.agreed += 1
                raise refused
            self.rejected += 1
            raise ChainRejected(error)

    def model_refused(self, backend: Ledger, step: Step, error: str) -> None:
        """The program accepted what the model refused: record the divergence (it cannot be rolled back)."""
        log.error("chain divergence: the program accepted %s, the model refused it (%s)", step, error)
        self.divergences.append(Divergence(backend.journal_seq, step.to_json(), error))

    def check(self, backend: Ledger) -> Consistency:
        """Compare the model with the program's accounts, under the state lock (one consistent cut). A persistent
        chain is read afresh (every program account, not the driver's cache): it is the deployment's truth."""
        with backend.state_lock, self.lock:
            if not self.persistent and self.generation != backend.generation:
                self._fresh(backend.generation)  # the world was reset: the next operation would start here too
            if self.adopted is not None:
                self.adopted.load_all()  # one pass over the stored accounts, not one read each
            model = backend.model.snapshot()
            chain = self.driver.snapshot(full=self.persistent) if self.driver is not None else {}
            seq = backend.journal_seq
        diff = differences(model, cluster_times(model, chain) if self.persistent else chain)
        return Consistency(
            consistent=not diff and not self.divergences,
            journal_seq=seq,
            chain_steps=self.accepted,
            rejected=self.rejected,
            refused_by_both=self.agreed,
            times="at-or-after" if self.persistent else "exact",
            differences=diff[:20],
            divergences=[d.__dict__ for d in self.divergences],
        )

    def close(self) -> None:
        if self.driver is not None:
            self.driver.close()
            self.driver = None


def program_locations() -> list[Path]:
    """Where `choir program build` puts the program: `build/choir.so` under the working directory (its default
    `--out`), then under the source checkout (where `make program` builds it)."""
    from programs.toolchain.build import DEFAULT_OUT, PROGRAM_NAME

    return list(dict.fromkeys([Path("build") / f"{PROGRAM_NAME}.so", DEFAULT_OUT / f"{PROGRAM_NAME}.so"]))


def program_image(path: Path | None = None) -> bytes:
    """The built program for the embedded chain: `path`, or the first of `program_locations()`. Why serving never
    builds it: compiling needs clang and writes into the checkout; a server should start from a known artifact or
    say clearly that there is none."""
    candidates = [path] if path is not None else program_locations()
    for candidate in candidates:
        if candidate.is_file():
            try:
                return candidate.read_bytes()
            except OSError as error:
                raise ChainStartError(f"cannot read the Choir program at {candidate}: {error}") from None
    where = ", ".join(str(c) for c in candidates)
    raise ChainStartError(
        f"the Choir program is not built (no {where}): run `choir program build` first, or serve without the "
        "chain with --chain none"
    )


def _seeds_only(backend: Backend) -> None:
    if backend.config.policy != "seeds":
        raise ValueError("the Choir program implements the seeds policy only: serve with --policy seeds")


def litesvm_chain(backend: Backend, image: bytes | None = None, coder: IdlCoder | None = None) -> Chain:
    """The embedded chain: the Choir program in an in-process LiteSVM with the backend's parameters. `image` is the
    program's `.so` (default: built from source, `programs.driver.default_program_image`, as the tests do);
    `coder` drives it by another build's IDL (default: the IDL of programs/choir)."""
    from programs.driver import ProgramDriver

    _seeds_only(backend)
    params = backend.config.params
    return Chain(lambda: ProgramDriver(params, image=image, coder=coder))


def rpc_chain(backend: Backend, transport: Transport, coder: IdlCoder | None = None) -> Chain:
    """The program deployed at a validator, reached through `transport` (an `RpcTransport`). The driver is built by
    `Chain.start`, which checks the deployment against the journal; it knows every name of the model's state so
    that it renders the deployment's accounts by name."""
    from programs.driver import DriverError, ProgramDriver

    _seeds_only(backend)
    params = backend.config.params
    built: list[bool] = []

    def connect() -> ProgramDriver:
        if built:
            raise RuntimeError("a deployed program has one driver per server (its transport is not rebuilt)")
        built.append(True)
        where = getattr(transport, "url", transport)
        try:
            return ProgramDriver(params, transport=transport, coder=coder,
                                 names=snapshot_names(backend.model.snapshot()))  # fmt: skip
        except DriverError as error:  # a config with other parameters, or an initialize the payer may not send
            raise ChainMismatch(f"the program at {where}: {error}") from None
        except Exception as error:  # whatever the client raises when the validator does not answer
            raise ChainStartError(f"cannot reach the program at {where}: {type(error).__name__}: {error}") from None

    return Chain(connect, persistent=True)


def attach(backend: Backend, chain: Chain) -> Chain:
    """Put `chain` in front of the model (call after `backend.start()`, before serving requests): `Chain.start`
    brings it level with the journal, or raises `ChainStartError` and leaves the backend without a chain."""
    with backend.state_lock:
        replayed = chain.start(backend)
        backend.chain = chain
        if replayed >= backend.config.snapshot_every:
            backend.store_snapshot()  # with the chain's accounts: the next start replays less than this one
    return chain
