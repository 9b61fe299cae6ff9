"""The Chorus loop (seeds Impl_ChorusLoop) as an explicit state machine, run by `POST /v1/thread/{id}/chorus`.

Why a state machine: the seeds name the loop's open problems themselves ("loop termination conditions, citation
handling"). Making the phases states of a fixed graph, with the engine (not the phase functions) choosing every
transition, turns both into properties the tests check for any phase functions plugged in:

* the graph: ACTION -> EXPERIENCE -> INTENTION -> OBSERVATION -> UPDATE -> (ACTION again, or YIELD); a run
  starts with ACTION and ends with YIELD, and nothing else is ever visited;
* termination: at most `max_cycles` cycles; after the last UPDATE the engine yields whatever the phases say;
* citations: whatever the phases propose, the engine keeps only sources whose text hashes to their content hash
  and that the viewer may cite (`choir_model.privacy.can_cite`, evaluated by the `CitationGate` on the live
  model when the run yields). Privacy is therefore never the phase functions' job, so a plugged-in (say, AI)
  phase cannot leak what the viewer may not cite.

The default phases are deterministic and offline, no model weights: ACTION drafts a first answer from the prompt
alone ("action first"); EXPERIENCE recalls sources by privacy-filtered vector search, inside the thread and over
prior content elsewhere (`Recall`, the backend's own search, which admits by `choir_model.privacy.can_search`);
INTENTION keeps the sources that share terms with the prompt (alignment with the user's intent); OBSERVATION notes
the gaps (prompt terms no kept source covers); UPDATE rewrites the draft from the kept sources and is satisfied when
there is no gap or the last cycle found nothing new; otherwise the next cycle searches for the gaps.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict, Field

from choir_model.privacy import can_cite, citation_detail, role_of
from reference_backend.content import content_hash, snippet
from reference_backend.schemas import Text

if TYPE_CHECKING:
    from reference_backend.service import Backend


class Phase(StrEnum):
    ACTION = "action"
    EXPERIENCE = "experience"
    INTENTION = "intention"
    OBSERVATION = "observation"
    UPDATE = "update"
    YIELD = "yield"


TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.ACTION: frozenset({Phase.EXPERIENCE}),
    Phase.EXPERIENCE: frozenset({Phase.INTENTION}),
    Phase.INTENTION: frozenset({Phase.OBSERVATION}),
    Phase.OBSERVATION: frozenset({Phase.UPDATE}),
    Phase.UPDATE: frozenset({Phase.ACTION, Phase.YIELD}),
    Phase.YIELD: frozenset(),
}
"""The loop's graph: the only transitions the engine takes."""

MAX_CYCLES = 8


@dataclass(frozen=True, slots=True)
class Source:
    """A piece of content the loop may cite: where it is, its hash, its text and how well it matched."""

    thread_id: str
    content_hash: str
    text: str
    author: str
    score: float


@dataclass(slots=True)
class ChorusRun:
    """The loop's working state, read and written by the phase functions."""

    viewer: str
    thread_id: str
    prompt: str
    max_cycles: int
    cycle: int = 0
    draft: str = ""
    experience: dict[tuple[str, str], Source] = field(default_factory=dict)
    new_sources: int = 0
    proposed: list[Source] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    satisfied: bool = False
    phases: list[Phase] = field(default_factory=list)


PhaseFn = Callable[[ChorusRun], None]


class Recall(Protocol):
    """Privacy-filtered retrieval: sources `viewer` may search, best first (inside `thread_id` when given)."""

    def recall(self, viewer: str, query: str, thread_id: str | None, limit: int) -> list[Source]: ...


class CitationGate(Protocol):
    """`choir_model.privacy.can_cite` for one (viewer, thread, hash), on the live state; and the seeds'
    `format_citation` detail ("full", "limited" or "none")."""

    def citable(self, viewer: str, thread_id: str, content_hash: str) -> bool: ...

    def detail(self, viewer: str, thread_id: str, content_hash: str) -> str: ...


# -- the default, deterministic phases ---------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "how", "i", "in", "is",
    "it", "its", "of", "on", "or", "so", "that", "the", "this", "to", "was", "we", "what", "when", "where", "which",
    "who", "why", "will", "with", "you",
))  # fmt: skip


def terms(text: str) -> list[str]:
    """Content words of a text, lower-case, in first-seen order (deterministic)."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        if word not in _STOP and len(word) > 1:
            seen.setdefault(word, None)
    return list(seen)


@dataclass
class DefaultPhases:
    """Offline phases over a `Recall`. `per_search` sources per search, `keep` citations at most."""

    recall: Recall
    per_search: int = 5
    keep: int = 5

    def action(self, run: ChorusRun) -> None:
        if run.cycle == 0:
            words = terms(run.prompt)
            run.draft = f"First response on {', '.join(words[:8]) or 'the prompt'}."

    def experience(self, run: ChorusRun) -> None:
        query = run.prompt if run.cycle == 0 or not run.gaps else " ".join(run.gaps)
        before = len(run.experience)
        for within in (run.thread_id, None):  # the thread itself, then prior content elsewhere
            for source in self.recall.recall(run.viewer, query, within, self.per_search):
                run.experience.setdefault((source.thread_id, source.content_hash), source)
        run.new_sources = len(run.experience) - before

    def intention(self, run: ChorusRun) -> None:
        wanted = set(terms(run.prompt))
        aligned = [s for s in run.experience.values() if wanted & set(terms(s.text))]
        aligned.sort(key=lambda s: (-s.score, s.thread_id != run.thread_id, s.thread_id, s.content_hash))
        run.proposed = aligned[: self.keep]

    def observation(self, run: ChorusRun) -> None:
        covered: set[str] = set()
        for source in run.proposed:
            covered.update(terms(source.text))
        run.gaps = [word for word in terms(run.prompt) if word not in covered]

    def update(self, run: ChorusRun) -> None:
        if run.proposed:
            points = "; ".join(f"[{i + 1}] {snippet(s.text, 80)}" for i, s in enumerate(run.proposed))
            run.draft = f"On {', '.join(terms(run.prompt)[:8])}: {points}"
        if run.gaps:
            run.draft += f" (Open: {', '.join(run.gaps)}.)"
        run.satisfied = not run.gaps or run.new_sources == 0

    def functions(self) -> dict[Phase, PhaseFn]:
        return {
            Phase.ACTION: self.action,
            Phase.EXPERIENCE: self.experience,
            Phase.INTENTION: self.intention,
            Phase.OBSERVATION: self.observation,
            Phase.UPDATE: self.update,
        }


# -- the engine ---------------------------------------------------------------------------------------------------


class Citation(BaseModel):
    thread_id: str
    content_hash: str = Field(description="sha256 of the cited text, verified when the loop yields.")
    author: str
    snippet: str
    score: float
    detail: str = Field(description="The seeds' format_citation for the viewer: full or limited.")


class ChorusResult(BaseModel):
    thread_id: str
    viewer: str
    response: str
    citations: list[Citation]
    phases: list[Phase]
    cycles: int
    terminated_by: str = Field(description="satisfied (the UPDATE phase was done) or bound (max_cycles reached).")


class ChorusRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    prompt: Text = Field(min_length=1, max_length=4000)
    max_cycles: int = Field(3, ge=1, le=MAX_CYCLES)


class ChorusLoop:
    """Runs phase functions through `TRANSITIONS`, bounded by `max_cycles`, and gates the citations."""

    def __init__(self, phases: dict[Phase, PhaseFn], gate: CitationGate) -> None:
        missing = [p for p in Phase if p is not Phase.YIELD and p not in phases]
        if missing:
            raise ValueError(f"no phase function for {', '.join(missing)}")
        self.phases = phases
        self.gate = gate

    def run(self, viewer: str, thread_id: str, prompt: str, max_cycles: int = 3) -> ChorusResult:
        if not 1 <= max_cycles <= MAX_CYCLES:
            raise ValueError(f"max_cycles must be 1..{MAX_CYCLES}")
        run = ChorusRun(viewer, thread_id, prompt, max_cycles)
        phase = Phase.ACTION
        while phase is not Phase.YIELD:
            run.phases.append(phase)
            self.phases[phase](run)
            phase = self._next(run, phase)
        run.phases.append(Phase.YIELD)
        bound = not run.satisfied
        return ChorusResult(
            thread_id=thread_id,
            viewer=viewer,
            response=run.draft,
            citations=self._cite(run),
            phases=run.phases,
            cycles=run.cycle,
            terminated_by="bound" if bound else "satisfied",
        )

    @staticmethod
    def _next(run: ChorusRun, phase: Phase) -> Phase:
        if phase is not Phase.UPDATE:
            (following,) = TRANSITIONS[phase]
            return following
        run.cycle += 1
        return Phase.YIELD if run.satisfied or run.cycle >= run.max_cycles else Phase.ACTION

    def _cite(self, run: ChorusRun) -> list[Citation]:
        out: list[Citation] = []
        seen: set[tuple[str, str]] = set()
        for source in run.proposed:
            key = (source.thread_id, source.content_hash)
            if key in seen or content_hash(source.text) != source.content_hash:
                continue
            if not self.gate.citable(run.viewer, source.thread_id, source.content_hash):
                continue
            seen.add(key)
            out.append(
                Citation(
                    thread_id=source.thread_id,
                    content_hash=source.content_hash,
                    author=source.author,
                    snippet=snippet(source.text, 120),
                    score=source.score,
                    detail=self.gate.detail(run.viewer, source.thread_id, source.content_hash),
                )
            )
        return out


# -- the backend's recall and gate ---------------------------------------------------------------------------------


class BackendRecall:
    """`Recall` over the backend's search (admitted by `can_search` on the live model) and its content store."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def recall(self, viewer: str, query: str, thread_id: str | None, limit: int) -> list[Source]:
        if not terms(query):
            return []
        hits = self.backend.search(viewer, query, limit, thread_id).results
        texts = self.backend.texts([h.content_hash for h in hits])
        return [
            Source(h.thread_id, h.content_hash, texts.get(h.content_hash, ""), h.author, h.score)
            for h in hits
            if h.content_hash in texts
        ]


class BackendGate:
    """`can_cite` and `citation_detail` on the backend's live model."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def _facts(self, viewer: str, thread_id: str, content_hash: str) -> tuple[object, ...] | None:
        premium = self.backend.is_premium(viewer)
        with self.backend.state_lock:
            thread = self.backend.model.state.threads.get(thread_id)
            message = thread.messages.get(content_hash) if thread is not None else None
            if thread is None or message is None:
                return None
            role = role_of(viewer, thread.co_authors, premium)
            return role, message.privacy, message.state, message.author == viewer

    def citable(self, viewer: str, thread_id: str, content_hash: str) -> bool:
        facts = self._facts(viewer, thread_id, content_hash)
        return facts is not None and can_cite(*facts)  # type: ignore[arg-type]

    def detail(self, viewer: str, thread_id: str, content_hash: str) -> str:
        facts = self._facts(viewer, thread_id, content_hash)
        return "none" if facts is None else citation_detail(*facts)  # type: ignore[arg-type]


def backend_loop(backend: Backend, phases: dict[Phase, PhaseFn] | None = None) -> ChorusLoop:
    """The loop the HTTP route runs: the default phases unless others are plugged in."""
    return ChorusLoop(phases or DefaultPhases(BackendRecall(backend)).functions(), BackendGate(backend))


def thread_exists(backend: Backend, thread_id: str) -> bool:
    with backend.state_lock:
        return thread_id in backend.model.state.threads


def run_sequence(phases: Sequence[Phase]) -> bool:
    """Does a recorded phase sequence follow the graph from ACTION to YIELD?"""
    if not phases or phases[0] is not Phase.ACTION or phases[-1] is not Phase.YIELD:
        return False
    return all(b in TRANSITIONS[a] for a, b in itertools.pairwise(phases))
