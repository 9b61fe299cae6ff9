"""Account-check bugs that once survived every test (six an auditor found, then the classes `choir mutate` left
alive), each as a one-edit mutant of the program's C source, and a helper that builds a mutant into a directory of
its own. `test_attacks.py` proves the default campaign (`choir check --target program`) now catches every one.

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
    # Too few accounts are not refused: the program reads past its account table (a crash, not a refusal).
    "need_accounts_removed": ("processor/request_public.c", "    TRY(need_accounts(ctx, 4));\n", ""),
    # A program account passed twice is let through (every other check still has to hold).
    "duplicates_allowed": ("accounts.c", "if ((dup_mask & 1) && key_eq(", "if ((dup_mask & 0) && key_eq("),
    # Every account passed twice is refused, not only the program's own (a valid transaction may repeat others).
    "duplicates_always_refused": (
        "accounts.c",
        "if ((dup_mask & 1) && key_eq(&ctx->accounts[i]->owner, ctx->program_id))",
        "if (!((dup_mask & 1) && key_eq(&ctx->accounts[i]->owner, ctx->program_id)))",
    ),
    # Surrogate code points pass as UTF-8: a thread id no string can hold.
    "surrogates_accepted": ("instruction.c", " || (cp >= 0xd800 && cp <= 0xdfff)) return false;", ") return false;"),
    # A pre-funded address is allocated without the rent top-up (the new account is not rent-exempt).
    "prefunded_not_topped_up": ("accounts.c", "        TRY(system_call(c, true, data, 12));\n", ""),
    # A voter who has voted may vote again: the same vote instruction twice in one transaction counts twice.
    "vote_counted_twice": (
        "processor/process_approval.c",
        "    if (message->votes[i] != VOTE_NONE) return ERR_ALREADY_VOTED;\n",
        "",
    ),
    # Every account is made by Transfer, Allocate and Assign, even at an address holding no lamports: the same
    # accounts in the end, three system calls where CreateAccount alone does (docs/spec.md section 9).
    "creation_always_by_transfer": ("accounts.c", "    if (target->lamports == 0) {", "    if (false) {"),
    # A pre-funded address that holds the rent minimum already is sent a top-up of 0 lamports.
    "zero_top_up": ("accounts.c", "if (target->lamports < rent) {", "if (target->lamports <= rent) {"),
    # The top-up is written one byte off: the payer is charged 256 times the rent.
    "prefunded_overcharged": (
        "accounts.c",
        "put_u64(data + 4, rent - target->lamports);",
        "put_u64(data + 5, rent - target->lamports);",
    ),
    # Genesis accepts more co-author seats than a thread account holds (SPEC section 1 bounds them).
    "seats_above_layout": ("processor/initialize.c", " || a->max_coauthors > MAX_COAUTHORS_LAYOUT", ""),
    # Anyone may initialize an upgradeable deployment, not only its upgrade authority (a front-run treasury).
    "upgrade_authority_unchecked": (
        "processor/initialize.c",
        "same &= program_data->data[13 + i] == payer->key.x[i];",
        "same &= true;",
    ),
    # The treasury's address is not checked at genesis: a non-canonical bump's address is taken.
    "treasury_pda_unchecked": (
        "processor/initialize.c",
        "    TRY(verify_pda(ctx, &treasury_acc->key, treasury_seeds, ARRAY_LEN(treasury_seeds), &treasury_bump));\n",
        "",
    ),
    # Genesis counts one account too few: without the program data account it reads past the table.
    "initialize_one_account_short": (
        "processor/initialize.c",
        "TRY(need_accounts(ctx, 6));",
        "TRY(need_accounts(ctx, 5));",
    ),
    # An approver's share is paid only when it is two or more base units (SPEC section 4: S // A each, whenever that
    # is not 0); only parameters with stakes below twice the voters tell it apart.
    # A settled spec's author leaves the pending spec authors, but their key stays in the slot that was freed.
    "spec_author_slot_not_cleared": (
        "settle.c",
        "for (int b = 0; b < 4; b++) ((uint64_t *)&thread->spec_authors[last])[b] = 0;",
        "(void)last;",
    ),
    # A co-author's divest with an address that holds no account as their wallet: read as an empty wallet and then
    # credited through a null pointer.
    "absent_wallet_divest": (
        "processor/divest_tokens.c",
        "    if (member == NULL) return ERR_ACCOUNT_NOT_INITIALIZED;\n",
        "",
    ),
    "settle_small_stakes": (
        "settle.c",
        "TRY(credit(&m->balance, share));",
        "TRY(credit(&m->balance, share > 1 ? share : 0));",
    ),
    # Genesis refuses the largest number of seats a thread account holds (SPEC section 1 allows it).
    "full_layout_refused": (
        "processor/initialize.c",
        "a->max_coauthors > MAX_COAUTHORS_LAYOUT",
        "a->max_coauthors >= MAX_COAUTHORS_LAYOUT",
    ),
    # The total supply is stored wrongly in the config account (no instruction reads it back).
    "config_supply_wrong": (
        "processor/initialize.c",
        "config->total_supply = args.total_supply;",
        "config->total_supply = args.total_supply - 1;",
    ),
    # Any message already at a new message's address is taken for this hash's: a forged address is refused
    # DuplicateContent (a SPEC guard) instead of by the seeds check that guards the address.
    "forged_message_address_as_duplicate": (
        "ledger.c",
        "    TRY(verify_pda(ctx, &m->account->key, m->seeds, ARRAY_LEN(m->seeds), &m->bump));\n    Message *existing;\n"
        "    TRY(load_optional(ctx, m->account, DISC_MESSAGE, sizeof(Message), (void **)&existing));\n"
        "    return existing != NULL ? ERR_DUPLICATE_CONTENT : OK;",
        "    Message *existing;\n"
        "    TRY(load_optional(ctx, m->account, DISC_MESSAGE, sizeof(Message), (void **)&existing));\n"
        "    if (existing != NULL) return ERR_DUPLICATE_CONTENT;\n"
        "    return verify_pda(ctx, &m->account->key, m->seeds, ARRAY_LEN(m->seeds), &m->bump);",
    ),
    # Genesis compares each authority with the earlier ones read backwards: a repeated authority is accepted.
    "repeated_authority_at_genesis": (
        "processor/initialize.c",
        "a->authorities[32 * i + k] == a->authorities[32 * j + k]",
        "a->authorities[32 * i - k] == a->authorities[32 * j + k]",
    ),
    # The thread id is copied one byte too far: the deposit's low byte lands in the stored id's unused bytes.
    "thread_id_overrun": (
        "processor/create_thread.c",
        "for (uint32_t i = 0; i < args.thread_id_len; i++) thread->thread_id[i]",
        "for (uint32_t i = 0; i <= args.thread_id_len; i++) thread->thread_id[i]",
    ),
    # Account creation does not check that the payer signed: the system program's CreateAccount then asks the
    # runtime for a signature the transaction never gave (a refusal by the runtime, not by the program).
    "payer_signature_unchecked": ("accounts.c", "    TRY(check_signer(c->payer));\n", ""),
    # Account creation does not check that the payer is writable (the runtime refuses the debit instead).
    "payer_read_only_accepted": ("accounts.c", "    TRY(check_writable(c->payer));\n", ""),
    # A thread's bump is not stored: no instruction reads it back, but a client deriving the address from it does.
    "thread_bump_not_stored": ("processor/create_thread.c", "    thread->bump = bump;\n", ""),
    # Anyone may open a wallet for anyone, so its address must be the user's PDA: else any address becomes a wallet
    # (a non-canonical bump's one, a second wallet of the same user).
    "wallet_address_unchecked": (
        "processor/open_member.c",
        "    TRY(verify_pda(ctx, &member_acc->key, seeds, ARRAY_LEN(seeds), &bump));\n",
        "",
    ),
    # A bool of 2 is read as false: a vote whose byte no client sends counts as a denial.
    "bool_two_is_false": (
        "instruction.c",
        "if (v > 1) return ERR_INSTRUCTION_DID_NOT_DESERIALIZE;",
        "if (v > 2) return ERR_INSTRUCTION_DID_NOT_DESERIALIZE;",
    ),
    # A four-byte character's lead byte loses its lowest bit: U+40000 (lead 0xf1) reads as an overlong form.
    "utf8_odd_four_byte_lead": (
        "instruction.c",
        "extra = 3, min = 0x10000, cp = c & 0x07;",
        "extra = 3, min = 0x10000, cp = c & 0x06;",
    ),
    # The UTF-8 validator starts at an id's second byte: an id whose first character is longer than a byte is
    # refused (its continuation byte read as a lead), one whose first byte is no UTF-8 passes.
    "utf8_first_byte_skipped": (
        "instruction.c",
        "    uint64_t i = 0;\n    while (i < n) {",
        "    uint64_t i = 1;\n    while (i < n) {",
    ),
    # The UTF-8 validator stops at the first ASCII byte: every valid id still passes and every id with a bad
    # sequence before its first ASCII byte is still refused, but one that starts with ASCII is accepted whatever
    # follows (only the `ascii_first` id of the `invalid_utf8` attack tells).
    "utf8_stops_at_ascii": (
        "instruction.c",
        "        if (c < 0x80) {\n            i++;\n            continue;",
        "        if (c < 0x80) {\n            return true;",
    ),
    # A settling approval checks only the first approver's wallet: the rest are paid unchecked (to a stranger's
    # wallet, or to an account that is none).
    "settle_checks_first_wallet": (
        "settle.c",
        "for (uint64_t i = 0; i < n; i++) {\n                Member *m;",
        "for (uint64_t i = 0; i < 1; i++) {\n                Member *m;",
    ),
    # The cooldown is compared without its overflow guard: a cooldown whose end is past i64 wraps, and a co-author
    # divests again at once (SPEC section 3, CooldownActive).
    "cooldown_end_overflows": (
        "processor/divest_tokens.c",
        "(last > INT64_MAX - config->divest_cooldown || now < last + config->divest_cooldown)",
        "(now < last + config->divest_cooldown)",
    ),
    # A thread's id length is not stored: the id's bytes are there, but a client reads an empty id.
    "thread_id_len_not_stored": (
        "processor/create_thread.c",
        "    thread->thread_id_len = (uint8_t)args.thread_id_len;\n",
        "",
    ),
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
