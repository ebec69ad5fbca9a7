"""The README and docs/: every relative link reaches a file (and heading) that exists; the README stays short."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 250
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def anchors(markdown: str) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} +(.+?) *$", FENCE.sub("", markdown), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        if count:
            seen[f"{slug}-{count}"] = 1
    return set(seen)


def broken_links(document: Path) -> list[str]:
    """Each relative link of `document` whose file, or whose #anchor in a Markdown file, does not exist."""
    text = INLINE_CODE.sub("", FENCE.sub("", document.read_text()))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # https:, mailto: ... : not a local file
            continue
        path_part, _, anchor = target.partition("#")
        path = (document.parent / path_part).resolve() if path_part else document
        if not path.exists():
            broken.append(f"{document.name}: {target} (no such file)")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path.read_text()):
            broken.append(f"{document.name}: {target} (no such heading)")
    return broken


def test_every_relative_link_resolves():
    assert len(documents()) > 5
    assert [problem for document in documents() for problem in broken_links(document)] == []


def test_a_broken_link_or_anchor_is_found(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## The `run` — gates\n\n```text\n## not a heading\n```\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md) [ok](other.md#the-run--gates) ![gone](gone.png) [bad](other.md#not-a-heading)\n"
                    "[web](https://example.org/x) `[code](nowhere.md)` [self](#page) [bad self](#nothing)\n\n# Page\n")
    assert broken_links(page) == ["page.md: gone.png (no such file)", "page.md: other.md#not-a-heading (no such heading)",
                                  "page.md: #nothing (no such heading)"]


def test_readme_stays_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= README_MAX_LINES


def test_readme_has_a_line_and_an_example_per_command():
    """Every `crosscheck` subcommand has a row in the README's command table and an example command line."""
    import argparse

    from crosscheck import cli

    subparsers = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    readme = (ROOT / "README.md").read_text()
    for command in subparsers.choices:
        assert f"\n| `{command}` | " in readme, f"no row for `{command}` in the README's command table"
        assert f"\ncrosscheck {command}" in readme, f"no example of `crosscheck {command}` in the README"
