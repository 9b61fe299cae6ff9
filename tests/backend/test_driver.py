"""`BackendDriver`: the differential check model vs backend over HTTP, driven by the property suite's own step
generator (seeded), under default and non-default parameters and policies; and the driver's protocol edges."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from choir_model import CHOIR, ERRORS_BY_NAME, CreateThread, Fund, Params, SubmitMessage
from properties.generate import GENESIS, OPS, USERS, RandomSource, StepGenerator
from properties.lockstep import Lockstep, PropertyFailure
from reference_backend import driver as driver_module
from reference_backend import writer as writer_module
from reference_backend.clock import ManualClock
from reference_backend.config import BackendConfig, RateLimit
from reference_backend.disclosure import reconcile
from reference_backend.driver import BackendDriver, BackendDriverError, trace_content
from reference_backend.server import ServerThread


def soak(driver: BackendDriver, params: Params, policy: str, seed: int, steps: int) -> Lockstep:
    """Run seeded generated steps on the model and the backend in lockstep (outcome and snapshot after each)."""
    lockstep = Lockstep(params, policy, driver)
    source = RandomSource(seed)
    generator = StepGenerator(lockstep.model, source)
    for user in USERS[:5]:
        lockstep.step(Fund(user, GENESIS, 1000 * CHOIR, ("treasury1", "treasury2")))
    for _ in range(steps):
        lockstep.step(generator.step(OPS[source.index(len(OPS))]))
    return lockstep


def serve(tmp_path, params: Params, policy: str) -> ServerThread:
    config = BackendConfig(data_dir=tmp_path, params=params, policy=policy, manual_clock=GENESIS, rate_limits={})
    return ServerThread(config, clock=ManualClock(GENESIS)).start()


@pytest.fixture
def server(tmp_path) -> Iterator[ServerThread]:
    running = serve(tmp_path / "data", Params(), "seeds")
    yield running
    running.stop()


def test_differential_soak_agrees_with_the_model(server: ServerThread) -> None:
    errors: set[str] = set()
    for seed in range(2):
        driver = BackendDriver(url=server.url)  # resets the world
        lockstep = soak(driver, Params(), "seeds", seed, 300)
        errors |= set(lockstep.coverage.errors)
        lockstep.close()
    # The generated steps reach the guards: the two implementations agreed on many refusals, not just successes.
    assert len(errors) >= 10, errors


def test_differential_under_other_parameters_and_policy(tmp_path) -> None:
    params = Params(max_pending=2, max_coauthors=3, approval_window=3600, divest_cooldown=60)
    running = serve(tmp_path / "small", params, "collective-2024-11")
    try:
        driver = BackendDriver(params=params, policy="collective-2024-11", url=running.url)
        lockstep = soak(driver, params, "collective-2024-11", 8, 300)
        # The small limits were reached and the policy's settlements ran on both sides.
        assert lockstep.coverage.errors["ThreadFull"] > 0
        assert lockstep.coverage.outcomes["spec expired"] > 0
        lockstep.close()
    finally:
        running.stop()


def test_the_driver_speaks_the_interface(server: ServerThread) -> None:
    driver = BackendDriver(url=server.url)
    assert driver.apply(Fund("alice", GENESIS + 10, 5 * CHOIR, ("treasury1", "treasury2"))) is None
    assert driver.apply(Fund("alice", GENESIS, CHOIR, ("treasury1", "treasury2"))) == "InvalidTime"  # not sent
    assert driver.apply(Fund("alice", GENESIS + 10, CHOIR, ())) == "Unauthorized"
    snapshot = driver.snapshot()
    assert snapshot["wallets"] == {"alice": 5 * CHOIR}
    # A message is named by the trace's hash on both sides, whatever hash its text has on the backend.
    assert driver.apply(CreateThread("alice", GENESIS + 20, "t1", CHOIR)) is None
    trace_hash = "ab" * 32
    assert driver.apply(SubmitMessage("alice", GENESIS + 30, "t1", trace_hash)) is None
    assert list(driver.snapshot()["messages"]) == [f"t1/{trace_hash}"]
    assert f"t1/{trace_hash}" not in server.backend.snapshot()["messages"]
    assert trace_hash in trace_content(trace_hash)
    driver.close()
    # A new driver on the same server starts from an empty world.
    fresh = BackendDriver(url=server.url)
    assert fresh.snapshot()["threads"] == {}
    fresh.close()


def test_protocol_failures_raise_instead_of_passing_as_outcomes(tmp_path) -> None:
    config = BackendConfig(
        data_dir=tmp_path / "limited",
        manual_clock=GENESIS,
        rate_limits={"fund": RateLimit(1)},
    )
    running = ServerThread(config, clock=ManualClock(GENESIS)).start()
    try:
        driver = BackendDriver(url=running.url)
        assert driver.apply(Fund("alice", GENESIS, CHOIR, ("treasury1", "treasury2"))) is None
        with pytest.raises(BackendDriverError, match="429"):
            driver.apply(Fund("alice", GENESIS, CHOIR, ("treasury1", "treasury2")))
        driver.close()
    finally:
        running.stop()


def test_the_shared_server_is_started_once_and_reset_per_driver() -> None:
    """What `choir check --target backend` does: `BackendDriver(params=..., policy=...)` with no url."""
    first = BackendDriver(params=Params(), policy="seeds")
    lockstep = soak(first, Params(), "seeds", 11, 60)
    lockstep.close()
    second = BackendDriver(params=Params(), policy="seeds")
    assert second.url == first.url
    assert second.snapshot()["wallets"] == {}
    second.close()


def test_the_driver_maps_disclosure_exactly_and_reports_a_leak() -> None:
    """Where the backend must answer as if a message did not exist, that answer stands for the model's error; the
    model's own error there is a leak, reported as a difference; anything else is compared as it is."""
    masked = ("StateConflict", "UnknownMessage")
    assert reconcile("UnknownMessage", masked) == "StateConflict"
    assert reconcile("StateConflict", masked) not in ERRORS_BY_NAME  # a leak: differs from every model answer
    assert reconcile("NotAVoter", masked) == "NotAVoter"
    assert reconcile(None, masked) is None
    assert reconcile("UnknownMessage", ("UnknownMessage", "UnknownMessage")) == "UnknownMessage"
    assert reconcile("StakeTooLow", None) == "StakeTooLow"


def test_the_soak_reaches_disclosed_refusals_and_a_leaking_backend_is_a_difference(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    rewritten: list[tuple[str | None, tuple[str, str]]] = []

    def counting(answer: str | None, expected: tuple[str, str] | None) -> str | None:
        if expected is not None and expected[0] != expected[1]:
            rewritten.append((answer, expected))
        return reconcile(answer, expected)

    monkeypatch.setattr(driver_module, "reconcile", counting)
    soak(BackendDriver(url=server.url), Params(), "seeds", 3, 300).close()
    assert len(rewritten) >= 5 and all(answer == shown for answer, (_, shown) in rewritten), rewritten
    # The same soak against a backend that answers every refusal as the model raised it: the driver says so.
    monkeypatch.setattr(writer_module, "disclosed", lambda model, step, error, premium: error)
    with pytest.raises(PropertyFailure) as failure:
        soak(BackendDriver(url=server.url), Params(), "seeds", 3, 300)
    assert "disclosed" in str(failure.value.details), failure.value
