"""`properties.records.maker` builds the very records the classes' own constructors build."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pytest

from choir_model import Privacy, Step
from choir_model.steps import STEP_TYPES, SubmitMessage
from properties.records import maker

VALUES = {"actor": "alice", "now": 7, "amount": 3, "signers": ("treasury1",), "thread": "t1", "deposit": 5,
          "hash": "ab" * 32, "privacy": Privacy.PREMIUM, "stake": 9, "approve": False}  # fmt: skip


@pytest.mark.parametrize("cls", list(STEP_TYPES.values()), ids=lambda cls: cls.op)
def test_a_made_record_is_the_record(cls: type[Step]) -> None:
    args = [VALUES[f.name] for f in fields(cls)]
    made, built = maker(cls)(*args), cls(*args)
    assert type(made) is cls and made == built and hash(made) == hash(built) and repr(made) == repr(built)
    with pytest.raises(AttributeError):
        made.actor = "bob"  # type: ignore[misc]  # still frozen


def test_defaults_are_the_classes() -> None:
    assert maker(SubmitMessage)("bob", 1, "t1", "cd" * 32) == SubmitMessage("bob", 1, "t1", "cd" * 32)


def test_a_record_that_checks_its_fields_is_refused() -> None:
    @dataclass(frozen=True, slots=True)
    class Checked(Step):
        def __post_init__(self) -> None:
            if self.now < 0:
                raise ValueError("negative time")

    with pytest.raises(TypeError, match="__post_init__"):
        maker(Checked)
