"""The report as one self-contained HTML page beside `report.md`: the same Markdown rendered (tables included)
with every plot inlined as a PNG data URI, so the file can be mailed or opened anywhere without its folder.

The Markdown stays the single source: what the HTML shows (scenarios, the Monte Carlo table, the warnings, the
plots) is exactly what `report.md` says.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from markdown_it import MarkdownIt

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; }
td { text-align: right; } td:first-child { text-align: left; }
img { max-width: 100%; } h2 { border-bottom: 1px solid #ddd; }
"""
_IMAGE = re.compile(r'src="([^"]+\.png)"')


def write_html(markdown_path: str | Path) -> Path:
    """Render `report.md` (or any Markdown page whose images are relative PNG paths) to `report.html` beside it."""
    markdown_path = Path(markdown_path)
    root = markdown_path.parent
    body = MarkdownIt("commonmark").enable("table").render(markdown_path.read_text(encoding="utf-8"))

    def inline(match: re.Match[str]) -> str:
        image = root / html.unescape(match.group(1))
        if not image.is_file():
            return match.group(0)
        return f'src="data:image/png;base64,{base64.b64encode(image.read_bytes()).decode("ascii")}"'

    body = _IMAGE.sub(inline, body)
    title = next(
        (line[2:] for line in markdown_path.read_text(encoding="utf-8").splitlines() if line.startswith("# ")), ""
    )
    page = (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
        f"<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
    out = markdown_path.with_suffix(".html")
    out.write_text(page, encoding="utf-8")
    return out
