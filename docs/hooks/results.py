"""MkDocs hook: the Results page shows ``benchmarks/RESULTS.md``, where measured figures are written.

The figures stay in one file beside the scripts that produce them; the site renders that file instead of a copy
that could drift. Its links into ``docs/`` (``../docs/<page>.md``) are rewritten to be relative to the page; any
other relative link there would point outside the site, and the strict build reports it as not found.
"""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "RESULTS.md"
MARKER = "<!-- benchmarks/RESULTS.md -->"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri != "results.md":
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"docs/results.md lost its marker {MARKER!r}; put it back where the results belong.")
    body = RESULTS.read_text(encoding="utf-8").replace("](../docs/", "](")
    return markdown.replace(MARKER, body)
