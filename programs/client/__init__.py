"""The program's client side, driven by its Anchor-format IDL: `coder` (Borsh instructions, accounts, PDAs,
errors), `keys` (actor names to keypairs, the Choir PDAs), `errors` (transaction errors to names)."""

from programs.client.coder import CoderError, IdlCoder
from programs.client.keys import Pdas, keypair_for, program_keypair

__all__ = ["CoderError", "IdlCoder", "Pdas", "keypair_for", "program_keypair"]
