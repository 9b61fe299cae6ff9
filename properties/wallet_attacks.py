"""Attack kind `later_wallet`: the vote that settles a spec with two or more voters, with the wallet of a voter
after the first replaced (SPEC section 4: an approval pays each approver S // A, so every approver's wallet must be
that voter's, in snapshot order, and is checked before any balance moves).

Why apart from `settlement_wallets` (wallets swapped, the last missing or foreign, one inserted first): that kind is
drawn whenever a spec settles, and the first spec a world settles is usually one with a single voter, its creator,
after which a world rarely draws the kind again. A program that checks only the first wallet (a loop that stops
early, a count read wrong) passes every such attack and pays a stranger. This kind applies only where a later
wallet exists, so the generator's "a kind not yet tried" rule reaches it in every world that settles a spec with
two voters.

Each choice is `position:user`: the voter at `position` (the second and the last) replaced by `user`'s wallet,
either a user with a wallet who is not a voter (refused `ConstraintHasOne`: a wallet, not that voter's) or one
with none (refused `AccountNotInitialized`). No replacement is a voter's own wallet: a program account passed twice
is refused as such (`ConstraintRaw`) before any wallet is read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from choir_model import Model, Step
from choir_model.steps import ProcessApproval

if TYPE_CHECKING:
    from properties.attacks import Tx


def later_wallet_choices(model: Model, base: Step, outsider: str) -> tuple[str, ...]:
    """The choices for a settling vote `base` (the caller checks that it settles): the second and the last voter's
    wallet, each replaced by the first user with a wallet who is not a voter and by `outsider` (who has none)."""
    assert isinstance(base, ProcessApproval)
    voters = model.state.threads[base.thread].messages[base.hash].voters
    if len(voters) < 2:
        return ()
    strangers = [u for u in sorted(model.state.wallets) if u not in voters and u != outsider][:1]
    return tuple(f"{p}:{u}" for p in sorted({1, len(voters) - 1}) for u in (*strangers, outsider))


def later_wallet(tx: Tx, arg: str) -> None:
    """A settling vote's wallet list with the voter at `position` replaced by `user`'s wallet (`position:user`)."""
    from solders.instruction import AccountMeta

    position, _, user = arg.partition(":")
    tx.metas[len(tx.roles) + int(position)] = AccountMeta(tx.env.member(user), False, True)


def later_wallet_refused_by(arg: str, outsider: str) -> str:
    """The check that refuses it: the outsider has no wallet; anyone else's is not the voter's."""
    return "AccountNotInitialized" if arg.endswith(f":{outsider}") else "ConstraintHasOne"
