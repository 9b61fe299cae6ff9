"""Readable help texts: option types as words (TEXT, INTEGER, PATH), flags without a type, arguments in capitals.

Why: the typer release this project is locked to labels every option with its Python annotation (`<bool>` on a
flag, `<list[str]>` on a repeatable option) and every required argument as `{trace}`, which reads as code, not as
help. `install` rewrites those two labels, and only those, for every `choir` command.
"""

from __future__ import annotations

from typing import Any

from typer import core

_WORDS = {
    "str": "TEXT",
    "int": "INTEGER",
    "float": "NUMBER",
    "bool": "BOOLEAN",
    "file": "FILE",
    "path": "PATH",
    "directory": "DIR",
    "int range": "INTEGER",
    "float range": "NUMBER",
}


def readable_type(label: str) -> str:
    """`<list[str]>` -> `TEXT (repeatable)`, `<int>` -> `INTEGER`; choices (`a|b`) are kept."""
    label = label.strip("<>")
    if label.startswith("list[") and label.endswith("]"):
        return f"{readable_type(label[5:-1])} (repeatable)"
    return _WORDS.get(label, label.upper() if label.isidentifier() else label)


def install() -> None:
    """Patch typer's two label functions (idempotent)."""
    if getattr(core._TyperParameter.display_type, "readable", False):
        return
    original = core._TyperParameter.display_type

    def display_type(self: Any, ctx: Any) -> str | None:
        if isinstance(self, core.TyperOption) and self.is_flag:
            return None  # a flag takes no value: its name says everything
        label = original(self, ctx)
        return None if label is None else readable_type(label)

    def usage_name(self: Any) -> str:
        name = self.display_name_raw.upper() + ("..." if self.nargs != 1 else "")
        return name if self.required else f"[{name}]"

    display_type.readable = True  # type: ignore[attr-defined]
    core._TyperParameter.display_type = display_type  # type: ignore[method-assign]
    core.TyperArgument._usage_display_name = usage_name  # type: ignore[method-assign]
