"""programs: the Choir Solana program (C, in `programs/choir`), the toolchain that builds it without Solana's
platform tools (`toolchain`), its Anchor-format IDL and IDL-driven client (`client`), and `ProgramDriver`, which
runs it in the real SVM runtime behind the property suite's driver interface (SPEC section 9; see README.md)."""
