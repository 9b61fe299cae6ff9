"""The README's client example runs as written against a live server on the system clock (docs stay true)."""

from __future__ import annotations

import re
from pathlib import Path

from reference_backend.config import BackendConfig
from reference_backend.server import ServerThread

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_client_example_runs(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## The reference backend") :]
    section = section[: section.index("\n## ", 1)]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    with ServerThread(BackendConfig(data_dir=tmp_path / "data")) as server:
        names: dict[str, object] = {}
        exec(compile(code.replace("http://127.0.0.1:8000", server.url), "README.md", "exec"), names)
        alice, bob = names["alice"], names["bob"]
        view = alice.thread("t1")  # type: ignore[attr-defined]
        assert sorted(m.state for m in view.messages) == ["Private", "Public"]
        public = next(m for m in view.messages if m.state == "Public")
        seen = bob.thread("t1")  # type: ignore[attr-defined]
        assert seen.role == "public" and [m.content_hash for m in seen.messages] == [public.content_hash]
        assert server.backend.wait_indexed(server.backend.journal_seq, 30)
        hits = bob.search("draft")  # type: ignore[attr-defined]
        assert [h.content_hash for h in hits.results] == [public.content_hash]
