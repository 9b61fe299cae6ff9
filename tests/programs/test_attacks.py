"""The attack steps and the `access_control` property (properties/attacks.py) against the real program: every
attack kind is refused and changes nothing, and each of the six account-check bugs an audit found surviving every
test, reintroduced as a mutant of the C source, is caught by the default campaign."""

from __future__ import annotations

from pathlib import Path

import pytest

from choir_model import CHOIR, CreateThread, Fund, Params, ProcessApproval, SubmitMessage, SubmitSpec
from choir_model.steps import Divest, Expire, RequestPublic
from choir_model.trace import write_trace
from programs.driver import ProgramDriver
from properties.attacks import KINDS, Attack, attack_choices, read_steps, step_attack
from properties.campaign import Campaign, profile_settings, run_campaign
from properties.lockstep import Lockstep
from properties.replay import replay
from properties.soak import soak

T0 = 1_700_000_000
SIGNERS = ("treasury1", "treasury2")


def h(n: int) -> str:
    return f"{n:064x}"


WORLD = [
    *(Fund(u, T0, 100 * CHOIR, SIGNERS) for u in ("alice", "bob", "carol", "dave", "decoy")),
    CreateThread("alice", T0 + 1, "t1", 10 * CHOIR),
    CreateThread("decoy", T0 + 1, "decoy", 10 * CHOIR),
    SubmitSpec("bob", T0 + 2, "t1", h(1), 3 * CHOIR),
    ProcessApproval("alice", T0 + 3, "t1", h(1), True),
    SubmitMessage("alice", T0 + 4, "t1", h(2)),
    SubmitSpec("carol", T0 + 5, "t1", h(4), 2 * CHOIR + 1),
    ProcessApproval("alice", T0 + 6, "t1", h(4), True),
    SubmitMessage("decoy", T0 + 7, "decoy", h(9)),
    SubmitSpec("alice", T0 + 8, "decoy", h(10), CHOIR),
]
NOW = T0 + 100
BASES = [
    Fund("dave", NOW, CHOIR, ("treasury1", "treasury2", "treasury3")),
    Fund("erin", NOW, CHOIR, ("treasury3", "treasury1")),
    CreateThread("alice", NOW, "t2", 2 * CHOIR),
    CreateThread("dave", NOW, "\u00e9" * 16, 2 * CHOIR),
    SubmitMessage("alice", NOW, "t1", h(5)),
    RequestPublic("alice", NOW, "t1", h(2)),
    SubmitSpec("dave", NOW, "t1", h(6), CHOIR),
    ProcessApproval("bob", NOW, "t1", h(4), True),  # the settling vote: it pays both approvers
    Expire("keeper", T0 + 10**7, "t1", h(4)),
    Divest("alice", NOW, "t1", CHOIR),
]


def test_every_attack_kind_is_refused_and_changes_nothing(choir_so: bytes) -> None:
    lockstep = Lockstep(Params(), driver=ProgramDriver(image=choir_so))
    for step in WORLD:
        assert lockstep.step(step) is None, step
    attempted: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for base in BASES:
        assert lockstep.model.refusal(base) is None, base
        for kind, args in attack_choices(lockstep.model, base):
            for arg in args:
                error = step_attack(lockstep, Attack.of(kind, arg, base))  # raises PropertyFailure if not refused
                assert error is not None
                attempted[kind].add(error)
    assert all(attempted.values()), {kind: names for kind, names in attempted.items() if not names}
    assert sum(lockstep.coverage.attacks.values()) > 150
    assert lockstep.coverage.violations["access_control"] == 0
    lockstep.close()


EXPECTED = {
    "noncanonical_bump": "access_control",
    "message_of_other_thread": "access_control",
    "unchecked_system_program": "access_control",
    "repeated_authority": "access_control",
    "treasury3_ignored": "difference",
    "privacy_not_stored": "difference",
}


@pytest.mark.parametrize("bug", sorted(EXPECTED))
def test_default_campaign_catches_access_bug(bug: str, access_bug_images: dict[str, bytes]) -> None:
    """The default campaign's first phase (its seeded soak, which runs before Hypothesis) catches the bug."""
    image = access_bug_images[bug]
    steps = profile_settings("program", "ci")["soak"]
    result = soak(steps, 0, Params(), "seeds", lambda: ProgramDriver(image=image))
    assert result.failure is not None, f"{bug} survived {steps} steps"
    assert result.failure.kind == EXPECTED[bug], result.failure


def test_a_succeeding_attack_is_shrunk_into_a_replayable_trace(
    access_bug_images: dict[str, bytes], choir_so: bytes, tmp_path: Path
) -> None:
    image = access_bug_images["unchecked_system_program"]
    campaign = Campaign("program", failure_dir=tmp_path, database=False, driver_options={"image": image})
    result = run_campaign(campaign)
    assert result.failure is not None and result.failure.kind == "access_control"
    assert result.trace is not None and result.shrunk is not None and len(result.shrunk) < 10
    steps = read_steps(result.trace)
    assert isinstance(steps[-1], Attack) and steps[-1].kind == "wrong_cpi_program"
    # On the mutant the attack succeeds again; on the real program it is refused; the model skips it.
    on_mutant = replay(steps, "program", Params(), "seeds", compare=True, image=image)
    assert on_mutant.failure is not None and on_mutant.failure.kind == "access_control"
    assert on_mutant.results[-1] == {"step": len(steps) - 1, "ok": True, "attack": "wrong_cpi_program"}
    on_program = replay(steps, "program", Params(), "seeds", compare=True, image=choir_so)
    assert on_program.failure is None and on_program.results[-1]["error"] == "ConstraintAddress"
    assert replay(steps, "model", Params(), "seeds", compare=True).results[-1]["skipped"] is True
    copy = tmp_path / "copy.jsonl"
    write_trace(steps, copy)
    assert read_steps(copy) == steps
