"""Mutants of the Choir program's C source (`programs/choir/`), generated from clang's own parse of it.

Why libclang: the program is C11 with clang builtins (`__builtin_offsetof`, `__builtin_add_overflow`) and guard
macros (`TRY`, `ADD`, `SUB`); pycparser cannot read the headers and, working on preprocessed text, would lose
where a macro argument sits in the file. libclang (the PyPI `libclang` wheel, which ships its own library) parses
every file with the build's flags and gives each node its *spelling* position, so an edit lands exactly on the
source text, inside macro arguments too. A node that has no text of its own (the body of a macro) is skipped:
every edit is checked against the text between the node's children before it becomes a mutant.

Operators (`OPERATORS`), each a small, named change an implementer could plausibly make:

* `relational-boundary`: `<` and `<=`, `>` and `>=` swapped;
* `negated-condition`: a comparison negated (`==`/`!=`, `<`/`>=`, ...), a `!` dropped, or an `if` or `?:`
  condition wrapped in `!( )`;
* `removed-guard`: an `if (...) return ...;` guard or early return removed, a `TRY(...)` of a non-account check
  removed, a `cond ? OK : ERR_X` check reduced to `OK`, or one operand of `&&`/`||` dropped;
* `removed-statement`: an expression statement (assignment, call, increment) or a `break` removed;
* `constant-offset`: an integer literal (or a `#define` constant of a `.c` file) plus or minus one;
* `arithmetic-swap`: `+`/`-`, `*`/`/`, `%`/`/`, `<<`/`>>`, `&`/`|`, `^`/`&`, their compound assignments,
  `++`/`--`, and the checked `ADD`/`SUB` macros swapped;
* `swapped-arguments`: two adjacent call arguments of the same type swapped (not for `key_eq`, whose arguments
  commute, nor for clang builtins);
* `changed-error-code`: a SPEC section 7 error replaced by the next one in SPEC order (Anchor framework codes
  are left alone: the SPEC, and so the oracle, does not say which one a malformed account gets);
* `removed-account-check`: a guard, `TRY(...)` or `?:` check whose failure is an account error (a constraint,
  owner, signer, discriminator or key check) removed.

A mutant is an *account check* mutant (`Mutant.account_check`) when it removes or changes code that decides
whether an account, a signer, an owner, a PDA or the multisig is accepted: anything inside the account-check
functions (`ACCOUNT_CHECK_FUNCTIONS`), inside a call to one of them, in a guard or `?:` that returns an account
error, or in a condition that reads the multisig's fields (`MULTISIG_FIELDS`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from ctypes import POINTER, byref, c_uint
from dataclasses import dataclass, field, replace
from pathlib import Path

from properties.mutation.mutant import Mutant

OPERATORS: dict[str, str] = {
    "relational-boundary": "`<` and `<=` (or `>` and `>=`) swapped",
    "negated-condition": "a comparison negated, a `!` dropped, or a condition wrapped in `!( )`",
    "removed-guard": "a guard, early return, non-account TRY or `&&`/`||` operand removed",
    "removed-statement": "an assignment, call, increment or `break` removed",
    "constant-offset": "an integer constant plus or minus one",
    "arithmetic-swap": "an arithmetic or bitwise operator (or ADD/SUB) swapped for its counterpart",
    "swapped-arguments": "two adjacent call arguments of the same type swapped",
    "changed-error-code": "a SPEC error code replaced by the next SPEC error",
    "removed-account-check": "an account, signer, owner, PDA or key check removed",
}

ACCOUNT_CHECK_FUNCTIONS = frozenset(
    {
        "deserialize",
        "need_accounts",
        "check_signer",
        "check_writable",
        "check_system_program",
        "is_owned",
        "is_absent",
        "load",
        "load_optional",
        "verify_pda",
        "create_pda",
        "load_config",
        "load_treasury",
        "load_thread",
        "load_message",
        "load_thread_message",
        "load_member",
        "check_new_message",
        "check_upgrade_authority",
    }
)
"""Functions whose whole job is accepting or refusing accounts (accounts.c, ledger.c, initialize.c)."""
MULTISIG_FIELDS = frozenset({"is_signer", "threshold", "authorities", "authority_count"})
ACCOUNT_ERROR = re.compile(r"\bERR_(CONSTRAINT|ACCOUNT|REQUIRE_KEYS_EQ)_[A-Z_]+")
SPEC_ERROR_DEFINE = re.compile(r"#define\s+(ERR_[A-Z_]+)\s+(60\d\d)ULL")
SYMMETRIC_FUNCTIONS = frozenset({"key_eq"})
LITERAL = re.compile(r"(0[xX][0-9a-fA-F]+|\d+)([uUlL]*)")

RELATIONAL_BOUNDARY = {"<": "<=", "<=": "<", ">": ">=", ">=": ">"}
NEGATION = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
ARITHMETIC = {"+": "-", "-": "+", "*": "/", "/": "*", "%": "/", "<<": ">>", ">>": "<<", "&": "|", "|": "&"}
ARITHMETIC["^"] = "&"
COMPOUND = {f"{op}=": f"{swap}=" for op, swap in ARITHMETIC.items()}
LOGICAL = ("&&", "||")
EXPRESSION_STATEMENTS = ("BINARY_OPERATOR", "COMPOUND_ASSIGNMENT_OPERATOR", "CALL_EXPR", "UNARY_OPERATOR")


class GeneratorError(Exception):
    """The C source could not be parsed (or libclang is missing); the message says what to do."""


@dataclass
class _Edit:
    operator: str
    start: int
    end: int
    replacement: str
    account_check: bool


@dataclass
class _File:
    """One source file's text and the edits found in it, keyed by the function they are in."""

    rel: str
    text: str
    edits: dict[tuple[int, int, str], tuple[_Edit, str]] = field(default_factory=dict)

    def add(self, edit: _Edit, function: str) -> None:
        key = (edit.start, edit.end, edit.replacement)
        if self.text[edit.start : edit.end] != edit.replacement and key not in self.edits:
            self.edits[key] = (edit, function)


def generate(
    source_dir: Path | str,
    files: Sequence[str] = (),
    operators: Sequence[str] = (),
) -> list[Mutant]:
    """Every mutant of the program under `source_dir`, sorted by file and position (the same list every run).
    `files` keeps only files whose path relative to `source_dir` matches one of these glob patterns;
    `operators` keeps only these operators."""
    unknown = sorted(set(operators) - set(OPERATORS))
    if unknown:
        raise ValueError(f"unknown operator(s) {', '.join(unknown)}; known: {', '.join(OPERATORS)}")
    root = Path(source_dir).resolve()
    cindex = _cindex()
    parsed: dict[str, _File] = {}
    seen_functions: set[tuple[str, str]] = set()
    index = cindex.Index.create()
    spec_errors = _spec_errors(root)
    paths = sorted(root.rglob("*.c"), key=lambda p: p.relative_to(root).as_posix())
    if files and all(pattern.endswith(".c") for pattern in files):  # only these files' mutants: parse only them
        paths = [p for p in paths if any(p.relative_to(root).match(pattern) for pattern in files)]
    for path in paths:
        tu = index.parse(
            str(path),
            args=_clang_args(root),
            options=cindex.TranslationUnit.PARSE_DETAILED_PROCESSING_RECORD,
        )
        errors = [d for d in tu.diagnostics if d.severity >= cindex.Diagnostic.Error]
        if errors:
            raise GeneratorError(f"{path}: clang cannot parse it: {errors[0]}")
        walker = _Walker(cindex, root, parsed, spec_errors)
        walker.run(tu, seen_functions)
    mutants = []
    for rel in sorted(parsed):
        source = parsed[rel]
        for edit, function in source.edits.values():
            mutants.append(_mutant(source, edit, function))
    mutants.sort(key=lambda m: (m.file, m.start, m.end, m.operator, m.replacement))
    mutants = _number_occurrences(mutants)
    return [
        m
        for m in mutants
        if (not operators or m.operator in operators) and (not files or any(Path(m.file).match(g) for g in files))
    ]


def _number_occurrences(mutants: list[Mutant]) -> list[Mutant]:
    seen: dict[tuple[str, ...], int] = {}
    numbered = []
    for mutant in mutants:
        same = (
            mutant.file,
            mutant.function,
            mutant.line_text.strip(),
            mutant.operator,
            mutant.original,
            mutant.replacement,
        )
        numbered.append(replace(mutant, occurrence=seen.get(same, 0)))
        seen[same] = seen.get(same, 0) + 1
    return numbered


def _mutant(source: _File, edit: _Edit, function: str) -> Mutant:
    text = source.text
    line_start = text.rfind("\n", 0, edit.start) + 1
    line_end = text.find("\n", edit.start)
    return Mutant(
        operator=edit.operator,
        file=source.rel,
        line=text.count("\n", 0, edit.start) + 1,
        column=edit.start - line_start + 1,
        start=edit.start,
        end=edit.end,
        original=text[edit.start : edit.end],
        replacement=edit.replacement,
        function=function,
        line_text=text[line_start : line_end if line_end >= 0 else len(text)],
        account_check=edit.account_check,
    )


def _cindex():
    try:
        from clang import cindex
    except ImportError as error:
        raise GeneratorError(
            f"libclang's Python bindings are missing ({error}); install the `mutation` extra "
            "(`uv sync --extra mutation`, or `pip install libclang`)"
        ) from None
    return cindex


def _clang_args(root: Path) -> list[str]:
    from programs.toolchain.build import CFLAGS

    return [flag for flag in CFLAGS if flag not in ("-Werror",)] + ["-I", str(root)]


def _spec_errors(root: Path) -> list[str]:
    """The SPEC section 7 error macros in code order (errors.h)."""
    header = root / "errors.h"
    found = SPEC_ERROR_DEFINE.findall(header.read_text(encoding="utf-8")) if header.exists() else []
    return [name for name, _ in sorted(found, key=lambda item: int(item[1]))]


class _Walker:
    """Walks one translation unit's function bodies and records the edits of every operator."""

    def __init__(self, cindex, root: Path, parsed: dict[str, _File], spec_errors: list[str]) -> None:
        self.cindex = cindex
        self.kinds = cindex.CursorKind
        self.root = root
        self.parsed = parsed
        self.spec_errors = spec_errors
        lib = cindex.conf.lib
        self._spelling = lib.clang_getSpellingLocation
        self._spelling.argtypes = [
            cindex.SourceLocation,
            POINTER(cindex.c_object_p),
            POINTER(c_uint),
            POINTER(c_uint),
            POINTER(c_uint),
        ]
        self._spelling.restype = None

    # -- positions -------------------------------------------------------------------------------------------

    def location(self, loc) -> tuple[str | None, int]:
        handle, line, column, offset = self.cindex.c_object_p(), c_uint(), c_uint(), c_uint()
        self._spelling(loc, byref(handle), byref(line), byref(column), byref(offset))
        if not handle:
            return None, -1
        path = Path(self.cindex.File(handle).name).resolve()
        try:
            return path.relative_to(self.root).as_posix(), offset.value
        except ValueError:
            return None, -1

    def span(self, cursor, rel: str, macro: bool = False) -> tuple[int, int] | None:
        """The node's own text in `rel` as (start, end) offsets, or None if it has none there. A node that spans
        exactly a macro invocation comes from the macro's body (the `if` inside `TRY`), unless `macro` says the
        invocation itself is wanted (`OK`, `ERR_X`, `TRY(...)`)."""
        start_file, start = self.location(cursor.extent.start)
        end_file, end = self.location(cursor.extent.end)
        if start_file != rel or end_file != rel or start >= end:
            return None
        if not macro and (rel, start, end) in self.macro_spans:
            return None
        return start, end

    def source(self, rel: str) -> _File:
        if rel not in self.parsed:
            self.parsed[rel] = _File(rel, (self.root / rel).read_text(encoding="utf-8"))
        return self.parsed[rel]

    # -- traversal -------------------------------------------------------------------------------------------

    def run(self, tu, seen_functions: set[tuple[str, str]]) -> None:
        self.macro_spans = set()
        for cursor in tu.cursor.get_children():
            if cursor.kind == self.kinds.MACRO_INSTANTIATION:
                rel, _ = self.location(cursor.extent.start)
                span = self.span(cursor, rel, macro=True) if rel else None
                if span is not None:
                    self.macro_spans.add((rel, *span))
        functions: list[tuple[str, str, int, int]] = []
        for cursor in tu.cursor.get_children():
            if cursor.kind != self.kinds.FUNCTION_DECL or not cursor.is_definition():
                continue
            rel, _ = self.location(cursor.extent.start)
            if rel is None or (rel, cursor.spelling) in seen_functions:
                continue
            body = self.span(cursor, rel)
            if body is None:
                continue
            seen_functions.add((rel, cursor.spelling))
            functions.append((rel, cursor.spelling, *body))
            self.visit(cursor, rel, cursor.spelling, [])
        self.macros(tu, functions)
        self.defines(tu)

    def visit(self, cursor, rel: str, function: str, ancestors: list) -> None:
        handler = getattr(self, f"on_{cursor.kind.name.lower()}", None)
        if handler is not None:
            handler(cursor, rel, function, ancestors)
        ancestors.append(cursor)
        for child in cursor.get_children():
            self.visit(child, rel, function, ancestors)
        ancestors.pop()

    def emit(self, rel: str, function: str, ancestors: list, operator: str, start: int, end: int, new: str) -> None:
        source = self.source(rel)
        account = operator == "removed-account-check" or self.is_account_check(rel, function, ancestors)
        source.add(_Edit(operator, start, end, new, account), function)

    def is_account_check(self, rel: str, function: str, ancestors: list) -> bool:
        if function in ACCOUNT_CHECK_FUNCTIONS:
            return True
        text = self.source(rel).text
        for node in ancestors:
            kind = node.kind
            if kind == self.kinds.CALL_EXPR and node.spelling in ACCOUNT_CHECK_FUNCTIONS:
                return True
            if kind in (self.kinds.IF_STMT, self.kinds.CONDITIONAL_OPERATOR, self.kinds.FOR_STMT):
                span = self.span(node, rel)
                if span is not None and self._reads_account_rule(node, text[span[0] : span[1]]):
                    return True
        return False

    def _reads_account_rule(self, node, text: str) -> bool:
        if ACCOUNT_ERROR.search(text) and node.kind != self.kinds.FOR_STMT:
            return True
        return any(
            ref.kind == self.kinds.MEMBER_REF_EXPR and ref.spelling in MULTISIG_FIELDS for ref in node.walk_preorder()
        )

    # -- operators on AST nodes ------------------------------------------------------------------------------

    def operator_between(self, node, rel: str) -> tuple[str, int] | None:
        """The binary operator token between a node's two children, with its offset, if it is in the text."""
        children = list(node.get_children())
        if len(children) != 2:
            return None
        left, right = (self.span(child, rel) for child in children)
        if left is None or right is None or left[1] >= right[0]:
            return None
        gap = self.source(rel).text[left[1] : right[0]]
        token = gap.strip()
        if not token or any(c.isalnum() or c in "()[]{};,\"'" for c in token):
            return None
        return token, left[1] + gap.index(token)

    def on_binary_operator(self, node, rel: str, function: str, ancestors: list) -> None:
        found = self.operator_between(node, rel)
        if found is None:
            return
        op, at = found
        end = at + len(op)
        if op in RELATIONAL_BOUNDARY:
            self.emit(rel, function, [*ancestors, node], "relational-boundary", at, end, RELATIONAL_BOUNDARY[op])
        if op in NEGATION:
            self.emit(rel, function, [*ancestors, node], "negated-condition", at, end, NEGATION[op])
        if op in ARITHMETIC:
            self.emit(rel, function, [*ancestors, node], "arithmetic-swap", at, end, ARITHMETIC[op])
        if op in LOGICAL:
            span = self.span(node, rel)
            left, right = (self.span(child, rel) for child in node.get_children())
            if span is not None and left is not None and right is not None:
                text = self.source(rel).text
                for kept in (left, right):
                    self.emit(rel, function, [*ancestors, node], "removed-guard", *span, text[kept[0] : kept[1]])

    def on_compound_assignment_operator(self, node, rel: str, function: str, ancestors: list) -> None:
        found = self.operator_between(node, rel)
        if found is not None and found[0] in COMPOUND:
            op, at = found
            self.emit(rel, function, [*ancestors, node], "arithmetic-swap", at, at + len(op), COMPOUND[op])

    def on_unary_operator(self, node, rel: str, function: str, ancestors: list) -> None:
        span = self.span(node, rel)
        children = list(node.get_children())
        if span is None or len(children) != 1:
            return
        text = self.source(rel).text
        start, end = span
        if text.startswith("!", start) and not text.startswith("!=", start):
            self.emit(rel, function, [*ancestors, node], "negated-condition", start, start + 1, "")
        for op, swap in (("++", "--"), ("--", "++")):
            if text.startswith(op, start):
                self.emit(rel, function, [*ancestors, node], "arithmetic-swap", start, start + 2, swap)
            elif text.startswith(op, end - 2):
                self.emit(rel, function, [*ancestors, node], "arithmetic-swap", end - 2, end, swap)

    def on_if_stmt(self, node, rel: str, function: str, ancestors: list) -> None:
        children = list(node.get_children())
        self.negate(children[0], rel, function, [*ancestors, node])
        span = self.span(node, rel)
        if len(children) == 2 and span is not None and self.returns(children[1]):
            text = self.source(rel).text
            body = text[span[0] : span[1]]
            operator = "removed-account-check" if ACCOUNT_ERROR.search(body) else "removed-guard"
            self.remove(rel, function, [*ancestors, node], operator, span, "")

    def on_conditional_operator(self, node, rel: str, function: str, ancestors: list) -> None:
        children = list(node.get_children())
        if len(children) != 3:
            return
        self.negate(children[0], rel, function, [*ancestors, node])
        span = self.span(node, rel)
        branches = [self.span(child, rel, macro=True) for child in children[1:]]
        if span is None or None in branches:
            return
        text = self.source(rel).text
        values = [text[b[0] : b[1]] for b in branches]  # type: ignore[index]
        if "OK" in values and any(v.startswith("ERR_") for v in values):
            error = next(v for v in values if v.startswith("ERR_"))
            operator = "removed-account-check" if ACCOUNT_ERROR.search(error) else "removed-guard"
            self.emit(rel, function, [*ancestors, node], operator, *span, "OK")

    def on_compound_stmt(self, node, rel: str, function: str, ancestors: list) -> None:
        for child in node.get_children():
            if child.kind.name in EXPRESSION_STATEMENTS or child.kind == self.kinds.BREAK_STMT:
                span = self.span(child, rel)
                if span is not None and self._is_statement(child, span, rel):
                    self.remove(rel, function, [*ancestors, node, child], "removed-statement", span, "")

    def on_integer_literal(self, node, rel: str, function: str, ancestors: list) -> None:
        span = self.span(node, rel)
        if span is None:
            return
        text = self.source(rel).text
        literal = text[span[0] : span[1]]
        if LITERAL.fullmatch(literal) is None or text[: span[0]].rstrip().endswith("["):
            return  # not a literal of its own, or an array's length
        for new in _offsets(literal):
            self.emit(rel, function, [*ancestors, node], "constant-offset", *span, new)

    def on_call_expr(self, node, rel: str, function: str, ancestors: list) -> None:
        if node.spelling in SYMMETRIC_FUNCTIONS or node.spelling.startswith("__builtin"):
            return
        arguments = list(node.get_arguments())
        text = self.source(rel).text
        for first, second in itertools.pairwise(arguments):
            a, b = self.span(first, rel), self.span(second, rel)
            if a is None or b is None or a[1] >= b[0] or not self._same_type(first, second):
                continue
            between = text[a[1] : b[0]]
            if between.strip() != ",":
                continue
            swapped = text[b[0] : b[1]] + between + text[a[0] : a[1]]
            self.emit(rel, function, [*ancestors, node], "swapped-arguments", a[0], b[1], swapped)

    # -- operators on macros ---------------------------------------------------------------------------------

    def macros(self, tu, functions: list[tuple[str, str, int, int]]) -> None:
        """TRY removals, ADD/SUB swaps and error codes: macro invocations inside function bodies."""
        for cursor in tu.cursor.get_children():
            if cursor.kind != self.kinds.MACRO_INSTANTIATION:
                continue
            rel, start = self.location(cursor.extent.start)
            owner = next((f for f in functions if f[0] == rel and f[2] <= start < f[3]), None)
            span = self.span(cursor, rel, macro=True) if rel else None
            if owner is None or span is None:
                continue
            function, name = owner[1], cursor.spelling
            text = self.source(rel).text
            if name == "TRY":
                callee = re.match(r"TRY\s*\(\s*(\w+)", text[span[0] : span[1]])
                account = callee is not None and callee.group(1) in ACCOUNT_CHECK_FUNCTIONS
                operator = "removed-account-check" if account else "removed-guard"
                self.remove(rel, function, [], operator, span, "", account or function in ACCOUNT_CHECK_FUNCTIONS)
            elif name in ("ADD", "SUB"):
                swap = "SUB" if name == "ADD" else "ADD"
                self.emit(rel, function, [], "arithmetic-swap", span[0], span[0] + 3, swap)
            elif name in self.spec_errors:
                following = self.spec_errors[(self.spec_errors.index(name) + 1) % len(self.spec_errors)]
                self.emit(rel, function, [], "changed-error-code", *span, following)

    def defines(self, tu) -> None:
        """`#define NAME <integer>` in the program's .c files: constant-offset."""
        for cursor in tu.cursor.get_children():
            if cursor.kind != self.kinds.MACRO_DEFINITION:
                continue
            rel, _ = self.location(cursor.extent.start)
            span = self.span(cursor, rel, macro=True) if rel and rel.endswith(".c") else None
            if span is None:
                continue
            tokens = list(cursor.get_tokens())
            if cursor.spelling.startswith("ERR_") or len(tokens) != 2 or LITERAL.fullmatch(tokens[1].spelling) is None:
                continue
            _, at = self.location(tokens[1].extent.start)
            literal = tokens[1].spelling
            for new in _offsets(literal):
                self.emit(rel, f"#define {cursor.spelling}", [], "constant-offset", at, at + len(literal), new)

    # -- helpers ---------------------------------------------------------------------------------------------

    def negate(self, condition, rel: str, function: str, ancestors: list) -> None:
        """Wrap a condition in `!( )`, unless another operator already negates it (a comparison, a `!`)."""
        inner = condition
        while inner.kind in (self.kinds.UNEXPOSED_EXPR, self.kinds.PAREN_EXPR):
            children = list(inner.get_children())
            if len(children) != 1:
                break
            inner = children[0]
        if inner.kind == self.kinds.BINARY_OPERATOR:
            found = self.operator_between(inner, rel)
            if found is not None and found[0] in NEGATION:
                return
        span = self.span(condition, rel)
        if span is None:
            return
        text = self.source(rel).text
        if text.startswith("!", span[0]):
            return
        self.emit(rel, function, ancestors, "negated-condition", *span, f"!({text[span[0] : span[1]]})")

    def returns(self, statement) -> bool:
        """Whether a statement is a return, or a block that ends in one (a guard's body)."""
        if statement.kind == self.kinds.RETURN_STMT:
            return True
        if statement.kind == self.kinds.COMPOUND_STMT:
            children = list(statement.get_children())
            return bool(children) and children[-1].kind == self.kinds.RETURN_STMT
        return False

    def _is_statement(self, node, span: tuple[int, int], rel: str) -> bool:
        """A child of a block is a statement of its own only if a `;` follows it."""
        return self.source(rel).text[span[1] :].lstrip().startswith(";")

    def _same_type(self, first, second) -> bool:
        def base(cursor):
            while cursor.kind == self.kinds.UNEXPOSED_EXPR and len(list(cursor.get_children())) == 1:
                cursor = next(cursor.get_children())
            return cursor.type.get_canonical().spelling

        return first.type.get_canonical().spelling == second.type.get_canonical().spelling and base(first) == base(
            second
        )

    def remove(
        self,
        rel: str,
        function: str,
        ancestors: list,
        operator: str,
        span: tuple[int, int],
        replacement: str,
        account: bool | None = None,
    ) -> None:
        """Remove a statement: its text and its `;`, and the whole line when nothing else is on it."""
        text = self.source(rel).text
        start, end = span
        rest = text[end:]
        if rest.lstrip().startswith(";") and not text[start:end].rstrip().endswith("}"):
            end += len(rest) - len(rest.lstrip()) + 1
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        if not text[line_start:start].strip() and line_end >= 0 and not text[end:line_end].strip():
            start, end = line_start, line_end + 1
        if account is None:
            self.emit(rel, function, ancestors, operator, start, end, replacement)
        else:
            self.source(rel).add(_Edit(operator, start, end, replacement, account), function)


def _offsets(literal: str) -> Iterator[str]:
    """`literal` plus and minus one, in its own base and with its own suffix (no minus one below zero)."""
    match = LITERAL.fullmatch(literal)
    assert match is not None
    digits, suffix = match.groups()
    hexadecimal = digits.lower().startswith("0x")
    value = int(digits, 16 if hexadecimal else 10)
    for new in (value + 1, value - 1):
        if new >= 0:
            upper = any(c in "ABCDEF" for c in digits[2:])
            body = digits[:2] + format(new, "X" if upper else "x") if hexadecimal else str(new)
            yield body + suffix
