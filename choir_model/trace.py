"""Traces and snapshots (SPEC section 8): the contract other tools read.

A trace is UTF-8 JSONL, one operation per line (spec section 8). `read_trace` validates the whole file before
anything runs, so a bad line stops the run with its line number and field and nothing is half-applied. Every way a
file can be bad is a `TraceError`, never another exception: bytes that are not UTF-8, JSON nested too deeply for
the parser, integers too long to convert, strings no implementation can encode (a lone UTF-16 surrogate).

`snapshot` renders a state in the spec section 8 schema; `step_result` and `results_lines` are the lines of
`choir model run --json`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from choir_model.economics import Economics
from choir_model.params import U64_MAX, Params
from choir_model.state import ChoirState, Message, Privacy, Thread
from choir_model.steps import STEP_TYPES, Step

I64_MIN, I64_MAX = -(2**63), 2**63 - 1
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")

# Field -> kind, for every field that may appear in a trace line.
_KINDS: dict[str, str] = {
    "actor": "name",
    "now": "time",
    "amount": "u64",
    "deposit": "u64",
    "stake": "u64",
    "signers": "names",
    "thread": "str",
    "hash": "hash",
    "privacy": "privacy",
    "approve": "bool",
}
_OPTIONAL = {"privacy"}


class TraceError(ValueError):
    """A trace line that is not a valid operation. `line` is 1-based; None when the file itself cannot be read."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.line = line


def _text(line: int, where: str, value: str) -> str:
    """`value` if it can be encoded as UTF-8 (the program hashes names and PDA seeds are bytes)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise TraceError(
            line, f"{where} is not valid Unicode: lone surrogate U+{ord(value[error.start]):04X} at index {error.start}"
        ) from None
    return value


def _field(line: int, op: str, key: str, value: Any) -> Any:
    kind = _KINDS[key]
    where = f"{op}.{key}"
    if kind in ("u64", "time"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TraceError(line, f"{where} must be an integer, got {type(value).__name__} {value!r}")
        if kind == "u64" and value < 0:
            raise TraceError(line, f"{where} must not be negative, got {value}")
        if kind == "u64" and value > U64_MAX:
            raise TraceError(line, f"{where}={value} does not fit in u64 (max {U64_MAX})")
        if kind == "time" and not I64_MIN <= value <= I64_MAX:
            raise TraceError(line, f"{where}={value} does not fit in i64")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise TraceError(line, f"{where} must be true or false, got {value!r}")
        return value
    if kind in ("str", "name"):
        if not isinstance(value, str) or (kind == "name" and not value):
            raise TraceError(line, f"{where} must be a {'non-empty ' if kind == 'name' else ''}string, got {value!r}")
        return _text(line, where, value)
    if kind == "names":
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise TraceError(line, f"{where} must be a list of names, got {value!r}")
        return tuple(_text(line, where, v) for v in value)
    if kind == "hash":
        if not isinstance(value, str) or not _HEX64.fullmatch(value):
            raise TraceError(line, f"{where} must be 64 hex digits (32 bytes), got {value!r}")
        return value.lower()
    # privacy
    try:
        return Privacy(value)
    except ValueError:
        choices = ", ".join(p.value for p in Privacy)
        raise TraceError(line, f"{where} must be one of {choices}, got {value!r}") from None


def step_from_json(obj: Any, line: int = 1) -> Step:
    """One trace object -> a typed step, or TraceError naming the line and the field."""
    if not isinstance(obj, dict):
        raise TraceError(line, f"expected a JSON object, got {type(obj).__name__}")
    op = obj.get("op")
    cls = STEP_TYPES.get(op) if isinstance(op, str) else None
    if cls is None:
        raise TraceError(line, f"unknown op {op!r} (known: {', '.join(STEP_TYPES)})")
    names = [name for name in cls.__dataclass_fields__ if name != "op"]
    missing = [name for name in names if name not in obj and name not in _OPTIONAL]
    if missing:
        raise TraceError(line, f"{op} is missing {', '.join(missing)}")
    unknown = sorted(set(obj) - set(names) - {"op"})
    if unknown:
        raise TraceError(line, f"{op} has unknown field(s) {', '.join(unknown)}")
    return cls(**{name: _field(line, op, name, obj[name]) for name in names if name in obj})


def _json(number: int, text: str) -> Any:
    """One line's JSON value, or TraceError for every way `json.loads` can fail."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise TraceError(number, f"not valid JSON ({error.msg} at column {error.colno})") from None
    except RecursionError:
        raise TraceError(number, "JSON nested too deeply") from None
    except ValueError:  # the only other failure: an integer over the interpreter's digit limit
        limit = sys.get_int_max_str_digits()
        raise TraceError(number, f"an integer has more than {limit:,} digits (a u64 has at most 20)") from None


def parse_trace(lines: Iterable[str], convert: Callable[[Any, int], Step] | None = None) -> list[Step]:
    """Validate every line first (blank lines are skipped); raise TraceError at the first bad one. `convert`
    turns one JSON value into a step (default `step_from_json`; the attack suite adds its own records)."""
    convert = convert or step_from_json
    steps = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        steps.append(convert(_json(number, text), number))
    return steps


def _decoded(data: bytes) -> Iterator[str]:
    """The lines of a UTF-8 file; TraceError naming the line and column of the first byte that is not UTF-8."""
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise TraceError(
                number, f"not UTF-8 text (byte 0x{raw[error.start]:02x} at column {error.start + 1})"
            ) from None


def read_trace(path: str | Path, convert: Callable[[Any, int], Step] | None = None) -> list[Step]:
    """Read and validate a whole trace file; TraceError (and nothing else) if it is not one."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise TraceError(None, f"cannot read the trace: {error.strerror or error}") from None
    return parse_trace(_decoded(data), convert)


def dump_trace(steps: Iterable[Step], out: TextIO) -> None:
    for step in steps:
        out.write(json.dumps(step.to_json(), separators=(", ", ": ")) + "\n")


def write_trace(steps: Iterable[Step], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        dump_trace(steps, handle)


SnapshotKey = tuple[str, str]
"""One entry of a snapshot: ("treasury", ""), ("wallets", name), ("threads", thread_id) or
("messages", "thread_id/content_hash")."""


def render_thread(thread: Thread, params: Params, economics: Economics) -> dict[str, Any]:
    """A thread as the snapshot shows it."""
    n = len(thread.co_authors)
    return {
        "balance": thread.balance,
        "co_authors": list(thread.co_authors),
        "created_at": thread.created_at,
        "updated_at": thread.updated_at,
        "message_count": thread.message_count,
        "temperature": economics.temperature(thread.balance, n, params.unit),
        "frequency": economics.frequency(n),
    }


def render_message(message: Message) -> dict[str, Any]:
    """A message as the snapshot shows it (votes in voter-snapshot order)."""
    return {
        "state": message.state.value,
        "author": message.author,
        "stake": message.stake,
        "deadline": message.deadline,
        "votes": {name: message.votes[name] for name in message.voters if name in message.votes},
    }


def snapshot(state: ChoirState, params: Params, economics: Economics | None = None) -> dict[str, Any]:
    """The state in the SPEC section 8 schema. Keys are sorted and votes follow the voter snapshot, so the same
    state always renders to the same JSON whichever implementation produced it."""
    economics = economics or Economics()
    threads: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for thread_id in sorted(state.threads):
        thread = state.threads[thread_id]
        threads[thread_id] = render_thread(thread, params, economics)
        for content_hash in sorted(thread.messages):
            messages[f"{thread_id}/{content_hash}"] = render_message(thread.messages[content_hash])
    return {
        "treasury": state.treasury,
        "wallets": {name: state.wallets[name] for name in sorted(state.wallets)},
        "threads": threads,
        "messages": messages,
    }


def step_result(index: int, error: str | None) -> dict[str, Any]:
    """The per-step line of `choir model run --json`."""
    return {"step": index, "ok": True} if error is None else {"step": index, "ok": False, "error": error}


def results_lines(results: Iterable[dict[str, Any]], final: dict[str, Any]) -> Iterator[str]:
    """The `--json` output: one compact JSON object per line, the final snapshot last."""
    for result in results:
        yield json.dumps(result)
    yield json.dumps(final)
