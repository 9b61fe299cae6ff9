"""Build the C program into an SBPF v0 shared object: `build` compiles with Debian's clang, `link` is our own
linker (SPEC section 9)."""
