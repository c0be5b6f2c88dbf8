"""The documentation site builds with ``mkdocs build --strict``: every nav page exists, no broken links or anchors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

for _module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "yaml"):
    pytest.importorskip(_module, reason="the docs tools are not installed (pip install 'sentence-transformers-multimodal[docs]')")


def _nav_pages(nav) -> list[str]:
    pages: list[str] = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_every_nav_page_exists():
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    missing = [page for page in _nav_pages(config["nav"]) if not (ROOT / config.get("docs_dir", "docs") / page).is_file()]
    assert not missing, f"pages in the mkdocs.yml nav that do not exist yet: {', '.join(missing)}"


def test_strict_build(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=300,
    )
    warnings = [line for line in done.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert done.returncode == 0, "mkdocs build --strict failed:\n" + "\n".join(warnings or done.stderr.splitlines()[-20:])
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    raw_roles = re.findall(r":(?:class|func|meth|data|mod|attr|exc|obj):", api)
    assert not raw_roles, f"{len(raw_roles)} raw Sphinx roles in the rendered API reference"
    assert 'href="#st_multimodal.SentenceTransformer"><code>' in api  # roles became cross-references
    assert 'id="st_multimodal.demo_model_path"' in api
