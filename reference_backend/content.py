"""Message content: content addressing and summaries (seeds Impl_Privacy: Data Storage, AI Summary Generation).

The model only knows a message's 32-byte `content_hash`; the backend keeps the text and proves the link: the hash
of a message is the sha256 of its UTF-8 text, computed here, never taken from the client.

Summaries stand in for the seeds' `generate_summary` (an AI model in Choir). Which summary a viewer gets is
`choir_model.privacy.view_of`'s decision; this module only says what a summary of each level contains. The
reference summariser quotes nothing from the text, because any quoted word would be a byte of content the viewer
may not read (the privacy property checks exactly that). Detail falls with the level, as the seeds require
(`summary_detail < original_detail`): a detailed summary gives exact word and sentence counts, a limited one the
word count rounded to tens, a minimal one only that the message exists.
"""

from __future__ import annotations

import hashlib
import re
from typing import ClassVar, Protocol

from choir_model.privacy import View
from choir_model.state import Privacy

_SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")


def content_hash(text: str) -> str:
    """The model's content hash of a message: sha256 of its UTF-8 bytes, lower-case hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def snippet(text: str, length: int = 200) -> str:
    """The start of a text, for search results (only ever shown to viewers who may read the full text)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= length else flat[: length - 1] + "\u2026"


class Summarizer(Protocol):
    def summarize(self, text: str, privacy: Privacy, level: View) -> str: ...


class StatisticsSummarizer:
    """Summaries made of statistics only: no word of the text ever appears in them."""

    _LEVEL_NAME: ClassVar[dict[Privacy, str]] = {
        Privacy.PUBLIC: "public",
        Privacy.PREMIUM: "premium",
        Privacy.THREAD_ONLY: "thread-only",
    }

    def summarize(self, text: str, privacy: Privacy, level: View) -> str:
        kind = self._LEVEL_NAME[privacy]
        if level is View.DETAILED_SUMMARY:
            words = len(text.split())
            sentences = max(1, len(_SENTENCE_END.findall(text))) if words else 0
            return f"A {kind} message of {words} words in {sentences} sentences."
        if level is View.LIMITED_SUMMARY:
            words = len(text.split())
            return f"A {kind} message of about {max(10, round(words, -1))} words."
        if level is View.MINIMAL_SUMMARY:
            return f"A {kind} message."
        raise ValueError(f"{level} is not a summary level")
