"""One mutant and one verdict: the vocabulary every other module of `properties.mutation` shares.

A program mutant is one textual edit of one C file (`original` at byte offsets `start:end` becomes
`replacement`), so it prints as a source diff. Its `key` hashes the file, the enclosing function, the whole
source line and the edit, not the line number: it stays the same when unrelated code moves, which is what the
committed list of equivalent mutants and the verdict cache rely on. Its `id` adds the position for people:
`accounts.c:57:12:relational-boundary:1f3a9c2e`.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import asdict, dataclass
from typing import Any

KILLED, SURVIVED, TIMED_OUT, NOT_BUILT = "killed", "survived", "timed out", "not built"
STATUSES = (KILLED, SURVIVED, TIMED_OUT, NOT_BUILT)


@dataclass(frozen=True)
class Mutant:
    """A single-edit mutant of the program's C source (see the module docstring)."""

    operator: str
    file: str
    line: int
    column: int
    start: int
    end: int
    original: str
    replacement: str
    function: str
    line_text: str
    account_check: bool = False
    occurrence: int = 0
    """How many mutants before this one in the same function have the same line text and edit (`8 -> 9` twice
    on one line), so that every key is distinct."""

    @property
    def key(self) -> str:
        material = "\0".join(
            (
                self.file,
                self.function,
                self.line_text.strip(),
                self.operator,
                self.original,
                self.replacement,
                str(self.occurrence),
            )
        )
        return hashlib.sha256(material.encode()).hexdigest()[:8]

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}:{self.column}:{self.operator}:{self.key}"

    @property
    def description(self) -> str:
        before = " ".join(self.original.split())
        after = " ".join(self.replacement.split()) or "(removed)"
        return f"{_clip(before)} -> {_clip(after)}"

    def apply(self, text: str) -> str:
        """The file's text with this mutant applied; ValueError if the text is not the one it was made from."""
        if text[self.start : self.end] != self.original:
            raise ValueError(f"{self.id}: {self.file} changed since the mutant was generated")
        return text[: self.start] + self.replacement + text[self.end :]

    def diff(self, text: str) -> str:
        """The mutant as a unified diff of its file (three lines of context)."""
        lines = difflib.unified_diff(
            text.splitlines(keepends=True),
            self.apply(text).splitlines(keepends=True),
            f"a/{self.file}",
            f"b/{self.file}",
        )
        return "".join(lines)


@dataclass(frozen=True)
class Verdict:
    """What the campaign made of one mutant. `killed_by` names the property ("difference", an invariant, or
    "error" when the suite could not even start against it); `detail` is its first line, or the compiler's error
    for a mutant that was not built. `seconds` is wall-clock time, `cpu_seconds` the worker's CPU time (what the
    run costs on an idle machine)."""

    status: str
    killed_by: str = ""
    detail: str = ""
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Verdict:
        return cls(
            str(raw["status"]),
            str(raw.get("killed_by", "")),
            str(raw.get("detail", "")),
            float(raw.get("seconds", 0.0)),
            float(raw.get("cpu_seconds", 0.0)),
        )


def _clip(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
