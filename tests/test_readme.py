"""The README stays a short front page: the two commands first, under 10,000 characters, no dead links.

Everything longer lives on the documentation site (docs/, mkdocs.yml); CI builds it with ``--strict``.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

SETUP = "python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt"
MAIN_JOB = f"{SETUP} && .venv/bin/icrl train"
TESTS = f"{SETUP} && .venv/bin/pytest -n 2"

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")


def _text() -> str:
    return README.read_text(encoding="utf-8")


def test_readme_is_under_10000_characters() -> None:
    size = len(README.read_bytes())
    assert size < 10_000, f"README.md has {size} bytes; move detail into a docs/ page and link it."


def test_readme_starts_with_the_main_job_and_the_test_command() -> None:
    text = _text()
    first_section = text.find("\n## ")
    blocks = [(m.start(), m.group(1).strip()) for m in FENCE.finditer(text)]
    assert [code for _, code in blocks[:2]] == [MAIN_JOB, TESTS], "the README must open with these two commands"
    assert all(0 <= start < first_section for start, _ in blocks[:2]), "the two commands come before any section"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ".venv/bin/pytest -n 2" in ci


def _relative_targets(text: str) -> list[str]:
    targets = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue  # a URL (https:, mailto:) or an anchor on the same page
        targets.append(target.split("#", 1)[0])
    return targets


def test_link_finder_sees_relative_links_only() -> None:
    sample = '[a](docs/x.md#top) ![b](img/p.png "title") [c](https://e.org/y.md) [d](#here)'
    assert _relative_targets(sample) == ["docs/x.md", "img/p.png"]


def test_every_relative_link_in_the_readme_exists() -> None:
    targets = _relative_targets(_text())
    assert targets, "the README links into docs/"
    missing = [t for t in targets if not (README.parent / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"
