"""Clocks for the reference backend: where `now` comes from (SPEC section 3: every operation takes `now`).

The model never reads a clock; the backend does, in three places: the `now` of each operation, the freshness of
signed requests and the rate-limit windows. They all read one `Clock`, so a test (or the differential campaign,
which replays trace times) can drive time explicitly with a `ManualClock` instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Integer Unix seconds."""

    def now(self) -> int: ...


class SystemClock:
    """Wall-clock time. The service never lets operation times go backwards (see `Backend._now`)."""

    def now(self) -> int:
        return int(time.time())


class ManualClock:
    """A clock that only moves when told to. Thread-safe: tests move it while the server thread reads it.

    It may be set backwards on purpose: the differential campaign replays a trace in which a failed step can carry
    a later time than the next one (SPEC: `InvalidTime` is measured against the last *successful* step)."""

    def __init__(self, start: int) -> None:
        self._now = int(start)
        self._lock = threading.Lock()

    def now(self) -> int:
        with self._lock:
            return self._now

    def set(self, now: int) -> None:
        with self._lock:
            self._now = int(now)

    def advance(self, seconds: int) -> int:
        with self._lock:
            self._now += int(seconds)
            return self._now
