"""The chain behind the backend: every operation goes to the Choir program in LiteSVM before the
model; a campaign of generated operations (valid and invalid, from the property suite's generator) never makes
the two diverge (`/v1/consistency` over HTTP and after every batch of steps), a step the program refuses but the
model would accept is answered `ChainRejected` with nothing journaled, and a restart rebuilds the chain from the
journal."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from choir_model import ChoirError, Model, Params
from choir_model.steps import Step, SubmitMessage
from programs.driver import ProgramDriver
from properties.generate import OPS, RandomSource, StepGenerator
from reference_backend.auth import dev_keypair
from reference_backend.chain import Chain, ChainRejected, attach, litesvm_chain
from reference_backend.client import ChoirClient
from reference_backend.clock import ManualClock
from reference_backend.config import BackendConfig
from reference_backend.content import content_hash
from reference_backend.disclosure import expected_refusal, reconcile
from reference_backend.errors import ApiError
from reference_backend.server import ServerThread
from reference_backend.service import Backend, StepCommand
from tests.backend.conftest import T0


def outcome(backend: Backend, clock: ManualClock, step: Step, content: str | None = None) -> str | None:
    clock.set(step.now)
    try:
        backend.execute(StepCommand(step, content))
    except ChoirError as error:
        return error.name
    except ApiError as error:
        return error.code
    return None


def test_a_campaign_never_diverges_and_consistency_says_so(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    config = BackendConfig(data_dir=tmp_path / "data", manual_clock=T0, rate_limits={}, check="off")
    with ServerThread(config, clock=clock) as server:
        backend = server.backend
        chain = attach(backend, litesvm_chain(backend))
        shadow = Model(Params(), policy="seeds")
        generator = StepGenerator(shadow, RandomSource(11))
        pick = random.Random(11)
        errors: dict[str | None, int] = {}
        for number in range(400):
            step = generator.step(pick.choice(OPS))
            refused = expected_refusal(shadow, step)  # the model's error and the one the backend may disclose
            expected = None if refused is None else refused[0]
            got = reconcile(outcome(backend, clock, step), refused)
            assert got == expected, f"step {number} {step}: backend {got}, model {expected}"
            errors[got] = errors.get(got, 0) + 1
            if number % 100 == 99:
                report = chain.check(backend)
                assert report.consistent, report.differences
        assert errors.get(None, 0) > 80 and len(errors) > 4  # many accepted, several kinds of refusal reached
        admin = ChoirClient(server.url, "treasury1", dev_keypair("treasury1"), clock=clock.now)
        report = admin.call("GET", "/v1/consistency")
        admin.close()
        assert report["consistent"] and report["divergences"] == [] and report["rejected"] == 0
        assert report["chain_steps"] == errors[None] and report["journal_seq"] == backend.journal_seq
        assert report["refused_by_both"] == sum(n for name, n in errors.items() if name is not None)


class Refusing(ProgramDriver):
    """The program, except that it refuses one content hash (a chain that disagrees with the model)."""

    refused = "ee" * 32

    def apply(self, step: Step) -> str | None:
        if step.content_hash == self.refused:
            return "Unauthorized"
        return super().apply(step)


def test_what_the_chain_refuses_is_answered_and_not_journaled(tmp_path: Path) -> None:
    from choir_model import CHOIR, CreateThread, Fund, Privacy

    clock = ManualClock(T0)
    config = BackendConfig(data_dir=tmp_path / "data", manual_clock=T0, rate_limits={})
    backend = Backend(config, clock=clock).start()
    try:
        chain = attach(backend, Chain(lambda: Refusing(Params())))
        assert outcome(backend, clock, Fund("ann", T0, 10 * CHOIR, ("treasury1", "treasury2"))) is None
        assert outcome(backend, clock, CreateThread("ann", T0 + 1, "t1", 2 * CHOIR)) is None
        seq, before = backend.journal_seq, backend.snapshot()
        with pytest.raises(ChainRejected) as refused:
            backend.execute(StepCommand(SubmitMessage("ann", T0 + 2, "t1", Refusing.refused, Privacy.PUBLIC)))
        assert (refused.value.status, refused.value.program_error) == (409, "Unauthorized")
        assert backend.journal_seq == seq and backend.snapshot() == before
        # both refuse: the client gets the model's own error, as without a chain
        assert outcome(backend, clock, CreateThread("ann", T0 + 3, "t1", 2 * CHOIR)) == "ThreadExists"
        note = SubmitMessage("ann", T0 + 4, "t1", content_hash("a note"), Privacy.PUBLIC)
        assert outcome(backend, clock, note, "a note") is None  # with its text: a restart verifies it
        report = chain.check(backend)
        assert report.consistent and (report.rejected, report.refused_by_both, report.chain_steps) == (1, 1, 3)
    finally:
        backend.close()
    again = Backend(config, clock=clock).start()  # a restart replays the journal into a fresh chain
    try:
        chain = attach(again, litesvm_chain(again))
        assert chain.accepted == again.journal_seq == 3 and chain.check(again).consistent
    finally:
        again.close()
        chain.close()


@pytest.mark.parametrize("snapshot_every", [10_000, 1])
def test_an_internal_error_rewinds_the_chain_with_the_model(tmp_path: Path, snapshot_every: int) -> None:
    """The writer's recovery path rebuilds the model from the journal; the embedded chain is rebuilt with it, so
    the program does not keep an operation the journal never got (it did before `Chain.rewind`): from the whole
    journal, or (a snapshot after every commit) by adopting the stored checkpoint lazily."""
    from choir_model import CHOIR, CreateThread, Fund, Privacy

    clock = ManualClock(T0)
    config = BackendConfig(data_dir=tmp_path / "data", manual_clock=T0, rate_limits={}, snapshot_every=snapshot_every)
    backend = Backend(config, clock=clock).start()
    chain = attach(backend, litesvm_chain(backend))
    try:
        assert outcome(backend, clock, Fund("ann", T0, 10 * CHOIR, ("treasury1", "treasury2"))) is None
        assert outcome(backend, clock, CreateThread("ann", T0 + 1, "t1", 2 * CHOIR)) is None
        seq, before = backend.journal_seq, backend.snapshot()
        applied = backend.model.apply

        def fails_after_applying(step: Step) -> list:
            applied(step)  # the program and the model accepted it; then a bug
            raise RuntimeError("a bug after the step applied")

        backend.model.apply = fails_after_applying  # type: ignore[method-assign]
        message = SubmitMessage("ann", T0 + 2, "t1", "ab" * 32, Privacy.PUBLIC)
        assert outcome(backend, clock, message) == "InternalError"
        assert backend.journal_seq == seq and backend.snapshot() == before
        assert (chain.adopted is not None) == (snapshot_every == 1)
        report = chain.check(backend)
        assert report.consistent and report.chain_steps == seq, report.differences
        assert outcome(backend, clock, message) is None  # the rebuilt model and program both take it now
        assert chain.check(backend).consistent
    finally:
        backend.close()
        chain.close()


def test_a_restart_restores_the_chain_from_its_checkpoint(tmp_path: Path) -> None:
    """The writer stores the program's accounts with each snapshot (all of them first, then those written since);
    a restart restores them into a fresh LiteSVM and replays only the rows after, and the program still equals
    the model, after more operations and another restart too."""
    from choir_model import CHOIR, CreateThread, Fund, Privacy

    clock = ManualClock(T0)
    config = BackendConfig(data_dir=tmp_path / "data", manual_clock=T0, rate_limits={}, snapshot_every=4)

    def run(first: int, count: int) -> tuple[int | None, int]:
        backend = Backend(config, clock=clock).start()
        chain = attach(backend, litesvm_chain(backend))
        try:
            restored_at = chain.base
            if first == 0:
                assert outcome(backend, clock, Fund("ann", T0, 10 * CHOIR, ("treasury1", "treasury2"))) is None
                assert outcome(backend, clock, CreateThread("ann", T0 + 1, "t1", 2 * CHOIR)) is None
            for n in range(first, first + count):
                text = f"message {n}"
                step = SubmitMessage("ann", T0 + 10 + n, "t1", content_hash(text), Privacy.PUBLIC)
                assert outcome(backend, clock, step, text) is None
            report = chain.check(backend)
            assert report.consistent and report.chain_steps == backend.journal_seq, report.differences
            assert chain.driver is not None and chain.driver.snapshot(full=True) == backend.snapshot()
            return restored_at, backend.journal_seq
        finally:
            backend.close()
            chain.close()

    assert run(0, 7) == (None, 9)  # snapshots at rows 4 (every account) and 8 (those written since)
    assert run(7, 3) == (8, 12)  # restored at row 8, row 9 replayed; a snapshot at row 12
    assert run(10, 1) == (12, 13)


class Texts(StepGenerator):
    """The generator with a real text behind every fresh hash: a restart checks every message's text."""

    def __init__(self, model: Model, source: RandomSource) -> None:
        super().__init__(model, source)
        self.texts: dict[str, str] = {}

    def _fresh_hash(self) -> str:
        text = f"message {super()._fresh_hash()}"
        self.texts[content_hash(text)] = text
        return content_hash(text)


def test_a_campaign_across_restarts_and_lost_snapshots_stays_exact(tmp_path: Path, monkeypatch) -> None:
    """Generated operations over three runs of one data directory: each restart adopts the stored checkpoint
    lazily (accounts put in on first use, `reference_backend.chain_restore`); in the middle run every snapshot
    transaction dies after writing the chain's rows (as a crash between the journal commit and the snapshot's
    commit would leave it: rolled back), so the last start restores the older checkpoint and replays the rows
    after it. The program equals the model after every run, account for account."""
    from reference_backend.journal import CHAIN_SEQ, Journal

    clock = ManualClock(T0)
    config = BackendConfig(data_dir=tmp_path / "data", manual_clock=T0, rate_limits={}, check="off",
                           snapshot_every=16)  # fmt: skip
    shadow = Model(Params(), policy="seeds")
    generator = Texts(shadow, RandomSource(23))
    pick = random.Random(23)
    save_chain = Journal._save_chain

    def dies_midway(db, seq, digest, chain) -> None:  # type: ignore[no-untyped-def]
        save_chain(db, seq, digest, chain)
        raise OSError("killed inside the snapshot transaction")

    checkpoints, ends = [], []
    for run in range(3):
        backend = Backend(config, clock=clock).start()
        checkpoints.append(backend.journal.meta(CHAIN_SEQ))  # the row the stored chain accounts stand for
        chain = attach(backend, litesvm_chain(backend))
        try:
            if run:
                assert chain.adopted is not None and len(chain.adopted.pending) > 5  # not restored eagerly
            if run == 1:
                monkeypatch.setattr(Journal, "_save_chain", staticmethod(dies_midway))
            for number in range(150):
                step = generator.step(pick.choice(OPS))
                refused = expected_refusal(shadow, step)
                expected = None if refused is None else refused[0]
                text = generator.texts.get(getattr(step, "hash", ""))
                got = reconcile(outcome(backend, clock, step, text), refused)
                assert got == expected, f"run {run} step {number} {step}: backend {got}, model {expected}"
            monkeypatch.undo()
            report = chain.check(backend)
            assert report.consistent and report.chain_steps == backend.journal_seq, report.differences
            assert chain.driver is not None and chain.driver.snapshot(full=True) == backend.snapshot()
            ends.append(backend.journal_seq)
        finally:
            backend.close()
            chain.close()
    assert checkpoints[0] is None and checkpoints[1] is not None and checkpoints[2] == checkpoints[1]
    assert int(checkpoints[2]) <= ends[0] and ends[1] - ends[0] > 16  # the whole middle run was replayed
