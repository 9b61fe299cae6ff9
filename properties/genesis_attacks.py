"""Genesis one byte from the line (SPEC section 2, `initialize`; the loader v3 accounts the program reads to find
its upgrade authority: Program {tag 2, programdata address}, ProgramData {tag 3, slot, upgrade authority}).

The `initialize` attack refuses genesis that is wrong in one whole thing (another payer, another program's data
account, a repeated authority). A comparison that skips a byte, or a duplicate check that compares too few pairs,
passes those. So, on a fresh deployment of the same program (`AttackEnv.fresh_deployment`, upgrade authority
`DEPLOYER`):

* refusals, more choices of the `initialize` attack (`REFUSALS`, each with the error of the check that guards it):
  an upgrade authority that is the payer's key but for its first or last byte (`authority_byte_0`,
  `authority_byte_31`); a program data account at the real one's address but for its first or last byte, owned by
  the loader and naming the payer as authority (`program_data_byte_0`, `program_data_byte_31`); one authority twice
  where the second copy is the later one (`repeated_later_authority`: a check comparing each authority only with
  the first passes it);
* acceptances, the neutral kind `genesis` (`ACCEPTED`): valid genesis the program must carry out and store exactly
  (every field of the config and the treasury, bumps included, each holding the rent-exempt minimum of lamports and
  no more, which is all the payer is charged): under the loader v2 (no upgrade authority: anyone
  may initialize, once), with treasury authorities one byte apart (first or last: distinct keys, however close),
  and with a first authority equal to the 32 bytes that follow the list in the instruction data (threshold, both
  bumps, then the program id: a duplicate check reading one authority past the list finds it there); and with a
  lamport already at the config's address (`prefunded_config`: the config is then made by Transfer, Allocate and
  Assign, and the treasury by CreateAccount after them, in the same invocation, so the instruction data that
  CreateAccount sends must not keep anything of the ones before). Each valid genesis's system calls are the fewest
  too (`properties.creation`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from properties.creation import outcome_problems

if TYPE_CHECKING:
    from solders.pubkey import Pubkey

    from properties.attacks import Tx

LOADER_V2 = "BPFLoader2111111111111111111111111111111111"
REFUSALS = {
    "authority_byte_0": "RequireKeysEqViolated",
    "authority_byte_31": "RequireKeysEqViolated",
    "program_data_byte_0": "ConstraintAddress",
    "program_data_byte_31": "ConstraintAddress",
    "repeated_later_authority": "RequireViolated",
}
ACCEPTED = ("immutable_loader", "authorities_byte_0", "authorities_byte_31", "authority_past_the_list",
            "prefunded_config")  # fmt: skip


def one_byte_off(key: Pubkey, at: int) -> Pubkey:
    """`key` with its byte `at` changed (every bit flipped)."""
    from solders.pubkey import Pubkey

    raw = bytearray(bytes(key))
    raw[at] ^= 0xFF
    return Pubkey.from_bytes(bytes(raw))


def _byte(arg: str) -> int:
    return int(arg.rpartition("_")[2])


def refuse(tx: Tx, arg: str, payer: Pubkey) -> None:
    """Corrupt `tx`, a valid genesis of a fresh deployment paid and signed by `payer` (its upgrade authority), by
    the refusal `arg` (see the module docstring)."""
    from solders.account import Account

    from programs.loader import LOADER_V3, programdata_address

    env = tx.env
    if arg == "repeated_later_authority":
        args = tx.env.driver.coder.decode_instruction(tx.data)[1]
        keys = args["authorities"]
        args["authorities"] = keys[:-1] + keys[-2:-1] if len(keys) > 1 else keys * 2
        tx.data = env.driver.coder.encode_instruction(tx.name, args)
        return
    data_key = programdata_address(tx.key("program"))
    if arg.startswith("authority_"):
        image = bytes(env.svm.get_account(data_key).data)
        header = env.program_data(one_byte_off(payer, _byte(arg)))
        env.svm.set_account(data_key, Account(10**10, header + image[len(header) :], LOADER_V3))
        return
    near = one_byte_off(data_key, _byte(arg))
    env.svm.set_account(near, Account(10**10, env.program_data(payer) + env.image(), LOADER_V3))
    tx.put("program_data", near)


def accept(tx: Tx, arg: str) -> Any:
    """Neutral kind `genesis`: the valid genesis `arg` on a fresh deployment, sent at once (before the step `tx` is
    built from, which then runs as usual); returns the check of what it did (problems, none when the program took
    it and stored exactly what it was given)."""
    from solders.account import Account
    from solders.pubkey import Pubkey

    from programs import instructions as ix
    from properties.attacks import DEPLOYER

    env, driver = tx.env, tx.env.driver
    program = env.fresh_deployment()
    if arg == "immutable_loader":
        env.svm.add_program_with_loader(program.program_id, env.image(), Pubkey.from_string(LOADER_V2))
    authorities = [driver.pubkey(n) for n in driver.params.treasury_authorities]
    if arg.startswith("authorities_"):
        authorities = [authorities[0], one_byte_off(authorities[0], _byte(arg)), *authorities[2:]]
    instruction = ix.initialize(program, env.funded(DEPLOYER), driver.params, authorities)
    if arg == "authority_past_the_list":
        args = driver.coder.decode_instruction(bytes(instruction.data))[1]
        after = bytes([args["threshold"], args["config_bump"], args["treasury_bump"]]) + bytes(program.program_id)
        authorities = [Pubkey.from_bytes(after[:32]), *authorities[1:]]
        instruction = ix.initialize(program, env.funded(DEPLOYER), driver.params, authorities)
    if arg == "prefunded_config":
        env.svm.set_account(program.pdas.config()[0], Account(1, b"", Pubkey.default()))
    outcome = driver.send([instruction], [env.keypair(DEPLOYER)], now=tx.base.now)
    problems = [] if outcome.ok else [f"genesis ({arg}) was refused with {driver.error_name(outcome)}"]
    if outcome.ok:
        problems = _stored_problems(env, program, driver.coder.decode_instruction(bytes(instruction.data))[1], arg)
        problems += [f"genesis ({arg}): {p}" for p in outcome_problems(env.svm, outcome, program.program_id)]

    def check() -> list[str]:
        return problems

    return check


def _stored_problems(env: Any, program: Any, args: dict[str, Any], arg: str) -> list[str]:
    """Where the fresh config and treasury differ from what genesis asked for (SPEC section 2): every parameter,
    the authorities and threshold, the treasury's balance (the whole supply), both bumps, and each account's
    lamports (the rent-exempt minimum for its size)."""
    config_key, config_bump = program.pdas.config()
    treasury_key, treasury_bump = program.pdas.treasury()
    coder = env.driver.coder
    config_account, treasury_account = env.svm.get_account(config_key), env.svm.get_account(treasury_key)
    try:
        config = coder.decode_account(bytes(config_account.data))[1]
        treasury = coder.decode_account(bytes(treasury_account.data))[1]
    except (AttributeError, ValueError) as error:  # no account there, or bytes of no Choir account
        return [f"genesis ({arg}) succeeded without a readable config and treasury: {error}"]
    rent = env.svm.minimum_balance_for_rent_exemption
    n = len(args["authorities"])
    wanted = {
        **{f"config.{name}": value for name, value in args["params"].items()},
        "config.authorities": args["authorities"],
        "config.authority_count": n,
        "config.threshold": args["threshold"],
        "config.bump": config_bump,
        "treasury.balance": args["params"]["total_supply"],
        "treasury.bump": treasury_bump,
        "config lamports": rent(len(config_account.data)),
        "treasury lamports": rent(len(treasury_account.data)),
    }
    stored = {
        **{f"config.{name}": value for name, value in config.items()},
        "config.authorities": config["authorities"][:n],
        **{f"treasury.{name}": value for name, value in treasury.items()},
        "config lamports": config_account.lamports,
        "treasury lamports": treasury_account.lamports,
    }
    return [f"genesis ({arg}) stored {name} = {stored.get(name)!r}, not {value!r}"
            for name, value in wanted.items() if stored.get(name) != value]  # fmt: skip
