"""The docs site: ``mkdocs.yml`` lists every page of ``docs/``, the site builds strictly
with mkdocs-material, and it draws the Mermaid diagrams the pages show."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "mkdocs.yml"


def test_every_page_is_in_the_site_s_navigation() -> None:
    listed = set(re.findall(r":\s*([\w-]+\.md)\s*$", CONFIG.read_text(), re.MULTILINE))
    pages = {path.name for path in (ROOT / "docs").glob("*.md")}
    assert listed == pages


def test_the_site_builds_and_draws_the_sequence_diagram(tmp_path: Path) -> None:
    site = tmp_path / "site"
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    page = (site / "testing" / "index.html").read_text(encoding="utf-8")
    # superfences hands a ```mermaid block to Mermaid, which mkdocs-material loads
    diagram = re.search(r'<pre class="mermaid"><code>(.*?)</code></pre>', page, re.DOTALL)
    assert diagram is not None
    assert diagram.group(1).startswith("sequenceDiagram")
    assert "a0_customer-&gt;&gt;a1_clerk" in diagram.group(1)
    assert (site / "operating" / "index.html").exists()
