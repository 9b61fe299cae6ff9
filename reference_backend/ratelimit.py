"""Per-user, per-route rate limits (seeds Impl_API: create_thread 10/hour, submit_message 60/hour, search
100/hour), answered with 429 and `Retry-After`.

A sliding-window log: a request is admitted when fewer than `count` admitted requests of the same user on the same
route fall in the last `window` seconds, so "10/hour" means at most 10 in any hour, never 20 across a boundary as a
fixed window would allow. `Retry-After` is the exact number of seconds until the oldest request leaves the window.
Time comes from the injected `Clock`, so tests move time instead of sleeping. Every authenticated request counts,
whatever its outcome (refused operations cost the server too; this is what stops spam). The log lives in memory: a
restart forgets it, which can only let a user through early, never lock them out.
"""

from __future__ import annotations

import threading
from collections import deque

from reference_backend.config import RateLimit


class RateLimiter:
    def __init__(self, limits: dict[str, RateLimit]) -> None:
        self.limits = dict(limits)
        self._log: dict[tuple[str, str], deque[int]] = {}
        self._lock = threading.Lock()

    def admit(self, user: str, route: str, now: int) -> int | None:
        """Record the request and return None, or return the seconds to wait (>= 1) and record nothing."""
        limit = self.limits.get(route)
        if limit is None:
            return None
        key = (user, route)
        with self._lock:
            log = self._log.get(key)
            if log is None:
                log = self._log[key] = deque()
            horizon = now - limit.window
            while log and log[0] <= horizon:
                log.popleft()
            if len(log) >= limit.count:
                return max(1, log[0] + limit.window - now)
            # A clock set backwards (tests) must not reorder the log: keep it sorted by admitting at the latest time.
            log.append(max(now, log[-1]) if log else now)
            return None
