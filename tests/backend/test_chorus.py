"""The Chorus loop: the state machine's properties for any phase functions, and the route.

Properties, with Hypothesis plugging in adversarial phases (random satisfaction, proposals that include sources the
viewer may not cite and sources whose text does not match their hash): the loop always terminates within its bound,
the phases follow the graph, and every citation is citable by the viewer and carries the hash of its text. Over
HTTP, a real server: an outsider's run cites only public content, a co-author's may cite the thread's private
messages, and every citation's hash is the sha256 of the content the viewer reads."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reference_backend.chorus import (
    MAX_CYCLES,
    TRANSITIONS,
    ChorusLoop,
    ChorusRun,
    DefaultPhases,
    Phase,
    Source,
    run_sequence,
)
from reference_backend.client import ChoirApiError
from reference_backend.content import content_hash
from tests.backend.conftest import World

TEXTS = ("river stones and water", "water rights law", "stone bridges", "private notes on rivers", "law of water")


class ListRecall:
    """Recall over a fixed list of sources (every query returns those sharing a word with it)."""

    def __init__(self, sources: list[Source]) -> None:
        self.sources = sources
        self.calls = 0

    def recall(self, viewer: str, query: str, thread_id: str | None, limit: int) -> list[Source]:
        self.calls += 1
        words = set(query.split())
        found = [
            s for s in self.sources if (thread_id is None or s.thread_id == thread_id) and words & set(s.text.split())
        ]
        return found[:limit]


class SetGate:
    def __init__(self, citable: set[tuple[str, str]]) -> None:
        self.allowed = citable

    def citable(self, viewer: str, thread_id: str, content_hash: str) -> bool:
        return (thread_id, content_hash) in self.allowed

    def detail(self, viewer: str, thread_id: str, content_hash: str) -> str:
        return "full"


source = st.builds(
    lambda thread, text, forged, score: Source(
        thread, content_hash(text) if not forged else "ab" * 32, text, "ann", score
    ),
    st.sampled_from(("t0", "t1")),
    st.sampled_from(TEXTS),
    st.booleans(),
    st.floats(0, 1),
)


@settings(max_examples=150, deadline=None)
@given(
    sources=st.lists(source, max_size=8),
    citable=st.data(),
    prompt=st.sampled_from(("water law", "river stones", "bridges of stone and water", "nothing matches")),
    max_cycles=st.integers(1, MAX_CYCLES),
    adversarial=st.booleans(),
    satisfied=st.lists(st.booleans(), min_size=MAX_CYCLES, max_size=MAX_CYCLES),
)
def test_loop_terminates_follows_the_graph_and_cites_only_citable(
    sources: list[Source], citable: st.DataObject, prompt: str, max_cycles: int, adversarial: bool,
    satisfied: list[bool],
) -> None:  # fmt: skip
    allowed = citable.draw(st.sets(st.sampled_from([(s.thread_id, s.content_hash) for s in sources] or [("", "")])))
    recall = ListRecall(sources)
    functions = DefaultPhases(recall).functions()
    if adversarial:  # propose everything ever seen (and more), and decide satisfaction at random

        def intention(run: ChorusRun) -> None:
            run.proposed = list(sources) + list(run.experience.values())

        def update(run: ChorusRun) -> None:
            run.satisfied = satisfied[run.cycle]

        functions[Phase.INTENTION] = intention
        functions[Phase.UPDATE] = update
    result = ChorusLoop(functions, SetGate(allowed)).run("viewer", "t0", prompt, max_cycles)
    assert run_sequence(result.phases)
    assert all(b in TRANSITIONS[a] for a, b in zip(result.phases, result.phases[1:], strict=False))
    assert 1 <= result.cycles <= max_cycles
    assert result.phases.count(Phase.UPDATE) == result.cycles
    assert recall.calls <= 2 * max_cycles
    for citation in result.citations:
        assert (citation.thread_id, citation.content_hash) in allowed
        assert any(s.content_hash == citation.content_hash and content_hash(s.text) == s.content_hash for s in sources)
    assert len({(c.thread_id, c.content_hash) for c in result.citations}) == len(result.citations)
    if result.terminated_by == "bound":
        assert result.cycles == max_cycles


def test_run_sequence_rejects_what_the_graph_forbids() -> None:
    ok = [Phase.ACTION, Phase.EXPERIENCE, Phase.INTENTION, Phase.OBSERVATION, Phase.UPDATE, Phase.YIELD]
    assert run_sequence(ok)
    assert not run_sequence([Phase.ACTION, Phase.INTENTION, Phase.OBSERVATION, Phase.UPDATE, Phase.YIELD])
    assert not run_sequence(ok[:-1])
    assert not run_sequence([Phase.EXPERIENCE, *ok[1:]])


def test_default_phases_are_deterministic_and_loop_on_gaps() -> None:
    sources = [Source("t0", content_hash(t), t, "ann", 1.0 - i / 10) for i, t in enumerate(TEXTS)]
    gate = SetGate({(s.thread_id, s.content_hash) for s in sources})
    first = ChorusLoop(DefaultPhases(ListRecall(sources)).functions(), gate).run("v", "t0", "water bridges", 4)
    again = ChorusLoop(DefaultPhases(ListRecall(sources)).functions(), gate).run("v", "t0", "water bridges", 4)
    assert first == again
    assert first.terminated_by == "satisfied"
    assert {c.snippet for c in first.citations} == {"river stones and water", "water rights law", "stone bridges",
                                                   "law of water"}  # fmt: skip
    assert [c.score for c in first.citations] == sorted((c.score for c in first.citations), reverse=True)
    lonely = ChorusLoop(DefaultPhases(ListRecall(sources)).functions(), gate).run("v", "t0", "volcano", 4)
    assert lonely.citations == [] and lonely.cycles == 1  # nothing new found: satisfied at once, no citations


def test_route_cites_only_what_the_viewer_may_cite(world: World) -> None:
    for name in ("ann", "bob"):
        world.fund(name)
    ann, bob = world.client("ann"), world.client("bob")
    ann.create_thread("t1", 2 * 10**9)
    public_text = "the river water is clean public note"
    private_text = "the river water secret private note"
    public_hash = ann.submit_message("t1", public_text).content_hash
    ann.request_public("t1", public_hash)
    private_hash = ann.submit_message("t1", private_text, "thread_only").content_hash
    assert world.backend.wait_indexed(world.backend.journal_seq, 10)

    outsider = bob.call("POST", "/v1/thread/t1/chorus", {"prompt": "river water note"})
    cited = {c["content_hash"] for c in outsider["citations"]}
    assert cited == {public_hash}
    assert outsider["phases"][0] == "action" and outsider["phases"][-1] == "yield"
    assert private_text not in str(outsider)

    insider = ann.call("POST", "/v1/thread/t1/chorus", {"prompt": "river water secret note", "max_cycles": 2})
    cited = {c["content_hash"]: c for c in insider["citations"]}
    assert set(cited) == {public_hash, private_hash}
    texts = {public_hash: public_text, private_hash: private_text}
    for digest in cited:
        assert content_hash(texts[digest]) == digest
    assert insider["cycles"] <= 2

    try:
        bob.call("POST", "/v1/thread/nope/chorus", {"prompt": "x"})
        raise AssertionError("an unknown thread must be refused")
    except ChoirApiError as error:
        assert (error.status, error.code) == (404, "UnknownThread")
    try:
        bob.call("POST", "/v1/thread/t1/chorus", {"prompt": "x", "max_cycles": 99})
        raise AssertionError("a bound over MAX_CYCLES must be refused")
    except ChoirApiError as error:
        assert error.status == 400
