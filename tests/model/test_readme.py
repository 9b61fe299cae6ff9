"""The README's model example runs as written (so the README cannot drift from the API)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_model_example_runs() -> None:
    section = README.read_text().split("## The reference model", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    namespace: dict[str, object] = {}
    exec(compile(code, str(README), "exec"), namespace)
    model = namespace["model"]
    assert model.snapshot()["threads"]["t1"]["co_authors"] == ["alice"]  # type: ignore[attr-defined]
    assert model.try_apply(namespace["SubmitSpec"]("bob", 1_700_000_020, "t1", "ab" * 32, 1)) == "StakeTooLow"  # type: ignore[attr-defined,operator]
