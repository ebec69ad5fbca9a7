"""The README and docs/: every relative link reaches a file (and heading) that exists, the README stays short and
names every command, and (slow tier) the documented verify examples are what the command prints today."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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


def example_outputs(document: Path, command: str) -> list[tuple[str, list[str]]]:
    """(command line, shown output lines) of each ```text block in `document` that starts with `$ crosscheck COMMAND`."""
    examples = []
    for block in re.findall(r"```text\n(.*?)```", document.read_text(), re.S):
        lines = block.replace("\\\n", " ").splitlines()
        if lines and lines[0].startswith(f"$ crosscheck {command} "):
            examples.append((lines[0].removeprefix("$ crosscheck "), lines[1:]))
    return examples


# A float64 rounding-floor figure (1e-13 and below, not 0): its last digits change with thread scheduling.
ROUNDING_FLOOR = re.compile(r"\b[1-9]\.\d\de-(?:1[3-9]|[2-9]\d)\b")


def comparable(text: str) -> str:
    """`text` with runs of whitespace collapsed and rounding-floor figures masked."""
    return ROUNDING_FLOOR.sub("<1e-12", " ".join(text.split()))


def shown_text(line: str) -> str:
    """A documented output line without its elision (`...`), comparable."""
    return comparable(line.split("...")[0])


VERIFY_EXAMPLES = example_outputs(ROOT / "docs" / "verify.md", "verify")


@pytest.mark.slow
@pytest.mark.parametrize("command, shown", VERIFY_EXAMPLES, ids=[Path(c.split()[1].split(":")[0]).stem for c, _ in VERIFY_EXAMPLES])
def test_verify_examples_print_what_the_docs_show(tmp_path, command, shown):
    """Each line of a documented verify example is in what the command prints today (wrapping aside)."""
    env = {**os.environ, "COLUMNS": "110", "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    args = [arg.replace("tests/", f"{ROOT}/tests/", 1) if arg.startswith("tests/") else arg for arg in shlex.split(command)]
    printed = subprocess.run([sys.executable, "-m", "crosscheck", *args], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=900)
    assert printed.returncode in (0, 1), printed.stderr[-2000:]
    output = comparable(printed.stdout)
    missing = [line for line in shown if shown_text(line) and shown_text(line) not in output]
    assert missing == [], printed.stdout
