"""Deterministic randomness for the simulator: every random draw comes from a `random.Random` whose seed is
derived from the scenario seed and a label (the agent's name, "world", ...).

Deriving one generator per agent, rather than sharing one, keeps runs comparable across scenarios: adding a
spammer does not change the draws an honest author makes. Seeds are derived with SHA-256, never with `hash()`,
which Python randomises per process (a sweep's workers must draw exactly what a single process draws).
"""

from __future__ import annotations

import hashlib
import random


def derive_seed(seed: int, *labels: object) -> int:
    """A 64-bit seed from a base seed and labels; the same inputs give the same seed in every process."""
    text = "/".join([str(seed), *(str(label) for label in labels)])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def make_rng(seed: int, *labels: object) -> random.Random:
    """A `random.Random` seeded with `derive_seed(seed, *labels)`."""
    return random.Random(derive_seed(seed, *labels))


def content_hash(*parts: object) -> str:
    """A 64-hex content hash (SPEC section 8) for a simulated message, unique per (author, counter)."""
    return hashlib.sha256("/".join(str(part) for part in parts).encode("utf-8")).hexdigest()
