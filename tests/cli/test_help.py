"""Help texts for people (spec section 12): `choir --version`, readable option types, one meaning per option name."""

from __future__ import annotations

from collections.abc import Iterator

import typer

from choir.cli import app, version
from tests.cli.conftest import Invoke


def _commands(command: typer.core.TyperGroup | typer.core.TyperCommand, path: tuple[str, ...] = ()) -> Iterator:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_version(invoke: Invoke) -> None:
    result = invoke("--version")
    assert result.code == 0 and result.out == f"choir-toolkit {version()}\n"
    assert version()[0].isdigit()


def test_every_help_text_reads_as_words(invoke: Invoke) -> None:
    assert len(COMMANDS) > 12
    for path, _ in COMMANDS:
        result = invoke(*path, "--help", columns=100)
        assert result.code == 0, path
        for code_like in ("<bool>", "<str>", "<int>", "<float>", "<path>", "<list["):
            assert code_like not in result.out, (path, code_like)
        usage = next(line for line in result.out.splitlines() if "Usage:" in line)
        assert "{" not in usage, usage  # arguments in capitals, not as {name}


def test_one_meaning_per_option_name() -> None:
    """An option name is a flag everywhere or takes a value of one type everywhere (repeatable or not)."""
    meanings: dict[str, dict[tuple[bool, str], list[str]]] = {}
    for path, command in COMMANDS:
        for param in getattr(command, "params", []):
            if not isinstance(param, typer.core.TyperOption):
                continue
            value = "" if param.is_flag else (param.display_type(None) or "").removesuffix(" (repeatable)")
            kind = (param.is_flag, value)  # a repeatable option means the same as a single one
            for name in [*param.opts, *param.secondary_opts]:
                meanings.setdefault(name, {}).setdefault(kind, []).append(" ".join(path) or "choir")
    clashes = {name: kinds for name, kinds in meanings.items() if len(kinds) > 1}
    assert not clashes, clashes
