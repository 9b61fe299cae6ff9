"""`programs.transport.runtime()` is `LiteSVM()` without the SPL programs Choir never calls: the same campaign,
attacks included, gets the same outcomes, compute units and account bytes on both."""

from __future__ import annotations

from typing import Any

import pytest
from solders.litesvm import LiteSVM

from choir_model import CHOIR, CreateThread, Fund, Model
from programs import transport
from programs.driver import ProgramDriver
from properties.attacks import Attack, is_attack, model_step, run_attack
from properties.generate import RandomSource, StepGenerator
from properties.soak import swarm

T0 = 1_700_000_000


def campaign(image: bytes, seed: int, steps: int = 1000) -> list[Any]:
    driver = ProgramDriver(image=image)
    source = RandomSource(seed)
    ops = swarm(source)
    model = Model()
    generator = StepGenerator(model, source, attacks=True)
    seen: list[Any] = []
    for _ in range(steps):
        step = generator.step(ops[source.index(len(ops))])
        if is_attack(step):
            result = run_attack(driver, step)
            if (valid := model_step(step)) is not None:  # a neutral attack's step ran on the program: so does the model
                model.try_apply(valid)
            seen.append((step.kind, None if result is None else (result.error, result.problems)))  # type: ignore[attr-defined]
        else:
            model.try_apply(step)
            seen.append(driver.apply(step))
        seen.append(driver.last_compute_units)
    seen.append(sorted((bytes(key), data) for key, data in driver.raw_accounts().items()))
    return seen


def test_the_lean_runtime_behaves_as_litesvm(choir_so: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    lean = campaign(choir_so, 5)
    monkeypatch.setattr(transport, "runtime", LiteSVM)
    assert campaign(choir_so, 5) == lean
    assert sum(1 for item in lean if isinstance(item, tuple)) > 20  # attacks ran


def test_the_lean_runtime_has_litesvms_features(
    access_bug_images: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mutant that calls whatever program is passed as the system program reaches the runtime's own account
    checks: under `LiteSVM()`'s feature set its write to the uncreated account lands (with every feature enabled
    the runtime refuses it), and the lean runtime must say the same."""
    image = access_bug_images["unchecked_system_program"]

    def attack() -> Any:
        driver = ProgramDriver(image=image)
        assert driver.apply(Fund("alice", T0, 100 * CHOIR, ("treasury1", "treasury2"))) is None
        result = run_attack(driver, Attack.of("wrong_cpi_program", "noop", CreateThread("alice", T0 + 1, "t1", CHOIR)))
        return result, driver.last_compute_units

    lean = attack()
    monkeypatch.setattr(transport, "runtime", LiteSVM)
    assert attack() == lean
    assert lean[0] is not None and lean[0].error is None  # the mutant's write landed on both
