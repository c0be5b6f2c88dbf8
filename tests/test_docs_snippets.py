"""Every shell and Python block of the documentation runs, offline, in a fresh temporary folder.

A page's Python blocks run in order in one namespace (as a reader pastes them into one session), in
this process; its shell blocks run with ``bash -e`` in the same folder, with ``python`` and
``st-multimodal`` taken from this interpreter's environment. A block preceded by an HTML comment
``<!-- skip: reason -->`` is not run (it needs a model hub, installs packages, ...); a page with a
skipped block must also hold a block that runs, its offline twin.

Pages are listed by name: :data:`PAGES` are run, :data:`NOT_RUN` are not (each with its reason), and
every page of ``docs/`` must be in one of them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
from docs_blocks import Block, blocks_of

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

PAGES = (
    "index.md",
    "calibration.md",
    "datasets.md",
    "fine-tuning.md",
    "multi-vector.md",
    "ray.md",
    "resolvers.md",
    "retrieval.md",
    "self-check.md",
    "troubleshooting.md",
    "visual-documents.md",
)
"""Pages whose blocks run. Extend this tuple to cover another page."""

NOT_RUN = {
    "api.md": "holds no code blocks, only docstrings rendered by mkdocstrings",
    "cli.md": "the command-line page is checked by tests/cli (its examples run there)",
    "benchmarks.md": "benchmark commands run for minutes; their scripts have their own tests",
    "security.md": "not yet converted to offline blocks",
    "input-forms.md": "not yet converted to offline blocks",
    "differences.md": "holds no code blocks",
    "architecture.md": "a description of the pipeline; its only block is a diagram",
    "contributing.md": "the mutation check runs for many minutes; it is not part of the test suite",
}
"""Pages whose blocks are not run here, and why."""

_PYTHON, _SHELL = {"python", "py"}, {"bash", "sh", "shell"}


def test_every_page_is_listed():
    pages = {p.name for p in DOCS.glob("*.md")}
    assert pages == set(PAGES) | set(NOT_RUN), "list every docs page in PAGES or NOT_RUN"
    assert not set(PAGES) & set(NOT_RUN)


@pytest.mark.parametrize("page", PAGES)
def test_skipped_blocks_have_an_offline_twin(page):
    runnable = [b for b in blocks_of(page) if b.language in _PYTHON | _SHELL]
    if any(b.skip for b in runnable):
        assert any(not b.skip for b in runnable), f"{page}: every runnable block is skipped; add an offline one"


def _run_python(block: Block, namespace: dict) -> None:
    code = compile(block.code, f"docs/{block.page}:{block.line}", "exec")
    try:
        exec(code, namespace)  # noqa: S102 - the documentation's own code
    except BaseException as error:  # noqa: BLE001 - name the block, keep the cause
        raise AssertionError(f"docs/{block.page}, block at line {block.line} failed: {error!r}") from error


def _run_shell(block: Block, folder: Path) -> None:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "HF_HUB_OFFLINE": "1"}
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    script = f"python() {{ {sys.executable!r} \"$@\"; }}\nset -e\n{block.code}"
    done = subprocess.run(["bash", "-c", script], cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (
        f"docs/{block.page}, shell block at line {block.line} exited {done.returncode}:\n"
        f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_offline(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    module = types.ModuleType("docs_snippet_" + re.sub(r"\W", "_", page))
    monkeypatch.setitem(sys.modules, module.__name__, module)  # dataclasses and pickling look classes up here
    ran = 0
    for block in blocks_of(page):
        if block.skip or block.language not in _PYTHON | _SHELL:
            continue
        if block.language in _PYTHON:
            _run_python(block, module.__dict__)
        else:
            _run_shell(block, tmp_path)
        ran += 1
    assert ran, f"{page}: no block ran"


_PUBLISHED_INSTALL = re.compile(r"pip install\s+['\"]?sentence-transformers-multimodal")


@pytest.mark.parametrize("page", PAGES)
def test_install_lines_do_not_assume_a_published_package(page):
    text = (DOCS / page).read_text(encoding="utf-8")
    assert not _PUBLISHED_INSTALL.search(text), f"{page}: the package is installed from a clone or a built wheel"


def test_install_page_states_python_version_and_both_install_routes():
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    assert "Python 3.10" in text
    assert "pip install -c constraints.txt -e ." in text and "python3 -m build --wheel" in text


def test_missing_dependency_hint_names_the_package_not_a_published_name():
    from st_multimodal import MissingDependencyError

    message = str(MissingDependencyError("needs ray", package="ray", extra="ray"))
    assert "pip install ray" in message and not _PUBLISHED_INSTALL.search(message)
