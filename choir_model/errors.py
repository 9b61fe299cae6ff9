"""Typed errors (SPEC section 7): one exception class per error name, each carrying its program code
(Anchor convention, 6000 + index). A failed operation raises one of these and changes nothing."""

from __future__ import annotations

from typing import ClassVar


class ChoirError(Exception):
    """Base of every guard failure. `name` is the SPEC error name, `code` the program's custom error code;
    `detail` says which guard and which values, so a failure can be acted on."""

    name: ClassVar[str] = "ChoirError"
    code: ClassVar[int] = -1

    def __init__(self, detail: str = "") -> None:
        super().__init__(f"{self.name} ({self.code}): {detail}" if detail else f"{self.name} ({self.code})")
        self.detail = detail


class InvalidThreadId(ChoirError):
    name, code = "InvalidThreadId", 6000


class ThreadExists(ChoirError):
    name, code = "ThreadExists", 6001


class UnknownThread(ChoirError):
    name, code = "UnknownThread", 6002


class UnknownMessage(ChoirError):
    name, code = "UnknownMessage", 6003


class NotCoAuthor(ChoirError):
    name, code = "NotCoAuthor", 6004


class AlreadyCoAuthor(ChoirError):
    name, code = "AlreadyCoAuthor", 6005


class DuplicateContent(ChoirError):
    name, code = "DuplicateContent", 6006


class StakeTooLow(ChoirError):
    name, code = "StakeTooLow", 6007


class InsufficientFunds(ChoirError):
    name, code = "InsufficientFunds", 6008


class ThreadFull(ChoirError):
    name, code = "ThreadFull", 6009


class StateConflict(ChoirError):
    name, code = "StateConflict", 6010


class ApprovalTimeout(ChoirError):
    name, code = "ApprovalTimeout", 6011


class NotAVoter(ChoirError):
    name, code = "NotAVoter", 6012


class AlreadyVoted(ChoirError):
    name, code = "AlreadyVoted", 6013


class InvalidAmount(ChoirError):
    name, code = "InvalidAmount", 6014


class BelowMinimumBalance(ChoirError):
    name, code = "BelowMinimumBalance", 6015


class CooldownActive(ChoirError):
    name, code = "CooldownActive", 6016


class Unauthorized(ChoirError):
    name, code = "Unauthorized", 6017


class InvalidTime(ChoirError):
    name, code = "InvalidTime", 6018


class ContentTooLarge(ChoirError):
    """Raised by the backend only (content size is not the model's concern)."""

    name, code = "ContentTooLarge", 6019


class TemperatureError(ChoirError):
    """A thread state from which temperature cannot be computed (no co-authors); unreachable through the
    operations, kept so every implementation shares the error list of spec section 7."""

    name, code = "TemperatureError", 6020


ERRORS_BY_NAME: dict[str, type[ChoirError]] = {cls.name: cls for cls in ChoirError.__subclasses__()}
ERRORS_BY_CODE: dict[int, type[ChoirError]] = {cls.code: cls for cls in ERRORS_BY_NAME.values()}
ERROR_NAMES: tuple[str, ...] = tuple(sorted(ERRORS_BY_NAME, key=lambda n: ERRORS_BY_NAME[n].code))
"""Every error name in program-code order."""
