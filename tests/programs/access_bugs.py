"""Six account-check bugs an auditor found surviving every test, each as a one-edit mutant of the program's C
source, and a helper that builds a mutant into a directory of its own. `test_attacks.py` proves the default
campaign (`choir check --target program`) now catches every one of them.

Each entry: (file under programs/choir/, text to replace, replacement). The text must occur exactly once, so a
change to the program that moves it breaks the test loudly instead of testing nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from programs.toolchain.build import SOURCE_DIR, build

ACCESS_BUGS: dict[str, tuple[str, str, str]] = {
    # Any bump whose address is off the curve is accepted: a second account for the same thread id.
    "noncanonical_bump": (
        "accounts.c",
        "for (uint64_t b = (uint64_t)given + 1; b <= 255; b++) {",
        "for (uint64_t b = 256; b <= 255; b++) {",
    ),
    # A message is not checked against the thread passed with it: a vote through a message of another thread.
    "message_of_other_thread": (
        "ledger.c",
        "return key_eq(&(*out)->thread, &thread_account->key) ? OK : ERR_CONSTRAINT_HAS_ONE;",
        "return OK;",
    ),
    # Account creation calls whatever program is passed as the system program.
    "unchecked_system_program": ("accounts.c", "    TRY(check_system_program(c->system_program));\n", ""),
    # Signatures are counted per account, not per authority: one authority passed twice meets the threshold.
    "repeated_authority": (
        "processor/fund_member.c",
        """    for (uint64_t j = 0; j < config->authority_count && j < MAX_AUTHORITIES; j++) {
        for (uint64_t i = 3; i < ctx->count; i++) {
            Account *a = ctx->accounts[i];
            if (a->is_signer && key_eq(&a->key, &config->authorities[j])) {
                signed_count++;
                break;
            }
        }
    }""",
        """    for (uint64_t i = 3; i < ctx->count; i++) {
        Account *a = ctx->accounts[i];
        for (uint64_t j = 0; j < config->authority_count && j < MAX_AUTHORITIES; j++) {
            if (a->is_signer && key_eq(&a->key, &config->authorities[j])) signed_count++;
        }
    }""",
    ),
    # The last authority's signature never counts.
    "treasury3_ignored": (
        "processor/fund_member.c",
        "j < config->authority_count && j < MAX_AUTHORITIES; j++) {",
        "j + 1 < config->authority_count && j < MAX_AUTHORITIES; j++) {",
    ),
    # The message's privacy is never stored (it stays Public).
    "privacy_not_stored": ("ledger.c", "    message->privacy = m->args->privacy;\n", ""),
}


def build_mutant(name: str, directory: Path, clang: str) -> bytes:
    """Copy the program's sources into `directory`, apply the named mutation, build, and return the `.so`."""
    path, old, new = ACCESS_BUGS[name]
    source = directory / "src"
    shutil.copytree(SOURCE_DIR, source)
    target = source / path
    text = target.read_text()
    if text.count(old) != 1:
        raise AssertionError(f"mutant {name}: the text to replace occurs {text.count(old)} times in {path}")
    target.write_text(text.replace(old, new))
    return build(directory / "out", source_dir=source, clang=clang).path.read_bytes()
