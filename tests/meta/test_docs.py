"""Every ```python block in README.md and docs/*.md runs, and prints what the page shows.

How code blocks in the docs are run (follow this when you write one):

1. The ```python blocks of one file run in order, in one namespace, like one script
   run as ``__main__``: a block may use names that earlier blocks of the same file
   defined. Each file runs in a fresh interpreter with ``-W error``, so its message
   classes cannot clash with another file's.
2. A block that defines ``async def main`` and does not run it itself (the block
   contains no ``triomas.run(`` or ``trio.run(``) is run by the harness as
   ``triomas.run(main)``: real time, exactly what a reader would add. A block that
   wants virtual time runs itself: ``triomas.run(main, clock=triomas.VirtualClock())``.
3. A ```text block that follows a ```python block with only blank lines between is
   the expected output: what the python block prints (the run of rule 2 included)
   must equal it, line for line. A ```mermaid block there is one too, and the docs
   site (mkdocs.yml) draws it: a diagram the page shows is the one the code makes.
4. No block is exempt. Code that only illustrates still has to run, so it stays
   true. Blocks never sleep in real time: use a ``VirtualClock``. Other fences
   (```sh, ```text not after python) are not run.

A failure names the file and line: tracebacks point into the Markdown file itself.
Run one file by hand with ``python tests/meta/test_docs.py docs/quickstart.md``.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.util
import io
import re
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^```([\w-]*)\s*$")
RUNS_ITSELF = re.compile(r"\b(?:triomas|trio)\.run\(")
LINK = re.compile(r"\[[^\]]*\]\(([^)#\s]+)(?:#[^)]*)?\)")


@attrs.frozen
class Block:
    """A fenced code block: its language, first code line (1-based) and text."""

    lang: str
    line: int
    source: str
    expected: str | None = None


def code_blocks(text: str) -> list[Block]:
    """The python blocks of a Markdown text, each with the text block that shows its output."""
    fenced: list[tuple[Block, int]] = []  # each block with the line of its closing fence
    lang: str | None = None
    body: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if lang is None:
            match = FENCE.match(line)
            if match:
                lang, body, start = match.group(1), [], number + 1
        elif line.rstrip() == "```":
            fenced.append((Block(lang, start, "".join(f"{row}\n" for row in body)), number))
            lang = None
        else:
            body.append(line)
    if lang is not None:
        raise ValueError(f"the code block opened on line {start - 1} is never closed")

    lines = text.splitlines()
    blocks = []
    for index, (block, end) in enumerate(fenced):
        if block.lang != "python":
            continue
        expected = None
        if index + 1 < len(fenced):
            after, _ = fenced[index + 1]
            between = lines[end : after.line - 2]
            if after.lang in ("text", "mermaid") and not any(row.strip() for row in between):
                expected = after.source
        blocks.append(Block(block.lang, block.line, block.source, expected))
    return blocks


def run_markdown(path: Path) -> None:
    """Run the python blocks of ``path`` by the rules above; raise on the first failure."""
    import triomas

    namespace: dict[str, object] = {"__name__": "__main__", "__file__": str(path)}
    for block in code_blocks(path.read_text(encoding="utf-8")):
        # Padding keeps line numbers: tracebacks show the Markdown file's own lines.
        code = compile("\n" * (block.line - 1) + block.source, str(path), "exec", dont_inherit=True)
        before = namespace.get("main")
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(code, namespace)
            main = namespace.get("main")
            if main is not before and not RUNS_ITSELF.search(block.source):
                triomas.run(main)  # type: ignore[arg-type]
        sys.stdout.write(printed.getvalue())
        if block.expected is not None and printed.getvalue() != block.expected:
            diff = difflib.unified_diff(
                block.expected.splitlines(),
                printed.getvalue().splitlines(),
                "shown in the docs",
                "printed",
                lineterm="",
            )
            raise AssertionError(
                f"{path}:{block.line}: the block printed something else than the text block "
                f"after it shows:\n" + "\n".join(diff)
            )


def run_in_subprocess(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", __file__, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,  # a guard against a hang, not a wait
        check=False,
    )


# Pages whose blocks need a package the test extras may lack: skipped without it.
NEEDS: dict[str, str] = {"mosaik.md": "mosaik"}


@pytest.mark.parametrize("path", DOCS, ids=[path.name for path in DOCS])
def test_code_blocks_run(path: Path) -> None:
    if not code_blocks(path.read_text(encoding="utf-8")):
        return  # nothing to run on this page
    needed = NEEDS.get(path.name)
    if needed is not None and importlib.util.find_spec(needed) is None:
        pytest.skip(f"{path.name} needs {needed} (the mosaik extra)")
    proc = run_in_subprocess(path)
    assert proc.returncode == 0, f"{path.name}: a code block failed\n{proc.stderr}"


TEST_COMMAND = "pip install nox && nox -s tests"


def test_readme_opens_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.startswith(
        "# triomas\n\n```sh\npip install -e . && python examples/pingpong.py\n"
        f"{TEST_COMMAND}\n```\n"
    )


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [
        line
        for line in ci.splitlines()
        if line.strip() and not line.startswith(("#", "set ", "cd "))
    ]
    assert commands == [TEST_COMMAND]


def test_readme_tour_is_a_runnable_block_with_its_output() -> None:
    blocks = code_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert blocks, "the README has no python block"
    assert blocks[0].expected, "the README's tour shows no output"


@pytest.mark.parametrize("path", DOCS, ids=[path.name for path in DOCS])
def test_relative_links_resolve(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    targets = [target for target in LINK.findall(text) if "://" not in target]
    missing = [target for target in targets if not (path.parent / target).exists()]
    assert not missing, f"{path.name} links to missing files: {missing}"


# ---- the harness itself --------------------------------------------------------------------

SAMPLE = """\
# Sample

```python
async def main():
    print("ran by the harness")
```

```text
ran by the harness
```

```sh
echo not run
```

```python
x = 1  # no output shown, nothing checked
```

Prose between blocks.

```text
not an output: prose comes before it
```
"""


def test_code_blocks_pairs_outputs() -> None:
    blocks = code_blocks(SAMPLE)
    assert [(block.line, block.expected) for block in blocks] == [
        (4, "ran by the harness\n"),
        (17, None),
    ]
    assert blocks[1].source == "x = 1  # no output shown, nothing checked\n"


def test_unclosed_fence_is_an_error() -> None:
    with pytest.raises(ValueError, match="never closed"):
        code_blocks("```python\nx = 1\n")


def test_harness_runs_main_and_checks_output(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(SAMPLE, encoding="utf-8")
    proc = run_in_subprocess(page)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ran by the harness\n"


def test_harness_catches_wrong_output(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\nprint('yes')\n```\n\n```text\nno\n```\n", encoding="utf-8")
    proc = run_in_subprocess(page)
    assert proc.returncode != 0
    assert f"{page}:2: the block printed something else" in proc.stderr


def test_harness_points_at_the_failing_line(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("Intro.\n\n```python\nx = 1\nraise KeyError(x)\n```\n", encoding="utf-8")
    proc = run_in_subprocess(page)
    assert proc.returncode != 0
    assert f'File "{page}", line 5' in proc.stderr
    assert "raise KeyError(x)" in proc.stderr


if __name__ == "__main__":
    run_markdown(Path(sys.argv[1]))
