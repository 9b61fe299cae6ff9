"""The step generator's stream is pinned: seeded soak runs, recorded traces and the shrinker's reproductions rely
on a seed building the same steps. The digests below were recorded from the generator before it was sped up
(the scanning version, `bd9be56`), then again when the 32-byte thread id became `EVERY_UTF8_BOUND` (the same
draws: the old digests come back with the old id put back in every step); a change that moves them changes what
every seeded campaign runs, and must say so (docs/BENCHMARKS.md, property suite)."""

from __future__ import annotations

import hashlib

import pytest

from choir_model import Model, Params
from properties import variation
from properties.generate import RandomSource, StepGenerator
from properties.soak import swarm

STREAMS = {  # (campaign seed, run) -> sha256 of the run's 2,000 steps, one repr a line (run 1 varies parameters)
    (0, 0): "84bd622bdf835abeb8a6e056340d03912e95ec00832c8a42eb6c274af768dba9",
    (0, 1): "e48c771e17d17870c81cf7ba3dc3e992da2267b9d12b9ff801f78f54eb7ad318",
    (7, 0): "dba2ceb4e88900c6ba84ceb22c38be826e1a96e2158a4580acac6b30cf8f5b72",
    (7, 1): "94b38e9913fc96874622cd1c646888204bc3a1da3b50760b1882ed3cefad5509",
}


def run_digest(seed: int, run: int, steps: int = 2000) -> str:
    """A soak run's steps as `properties.soak.soak` builds them (swarm, varied parameters, the same source)."""
    source = RandomSource(seed * 1_000_003 + run)
    ops = swarm(source)
    model = Model(variation.run_params(Params(), seed, run))
    generator = StepGenerator(model, source)
    lines = []
    for _ in range(steps):
        step = generator.step(ops[source.index(len(ops))])
        model.try_apply(step)
        lines.append(repr(step))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


@pytest.mark.parametrize(("seed", "run"), sorted(STREAMS))
def test_a_seed_builds_the_steps_it_always_built(seed: int, run: int) -> None:
    assert run_digest(seed, run) == STREAMS[(seed, run)]
