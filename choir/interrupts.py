"""Long commands that stop cleanly: Ctrl-C or SIGTERM ends them with what they finished reported, exit 130
(`INTERRUPTED`).

Why SIGTERM too: it is what a CI sends a cancelled or timed-out job (GitHub Actions: SIGINT, then SIGTERM), and by
default it kills the process on the spot: no report, its Dask workers' semaphores leaked, and a server that
`choir load` started left running. `ChoirApp` runs every command inside `sigterm_interrupts`, where it raises
KeyboardInterrupt as Ctrl-C does: the campaign (`properties.campaign`) and the attack search (`sim.attack`) catch
it between their units of work and report what finished, `choir load` stops its server, and any other command's
cleanup (`finally`, context managers) runs before typer turns it into exit 130.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

INTERRUPTED = 130
"""A command a signal stopped (the shells' 128 + SIGINT). `properties.report.INTERRUPTED` is the campaign's copy:
the property suite may not import the command line."""


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt while inside; the handler before is put back after."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
