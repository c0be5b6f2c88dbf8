"""Startup cost: ``import st_multimodal`` and the command line's quick answers import no torch and take little CPU.

Each check runs a fresh interpreter (the cost of a start cannot be seen from inside a process that has
already imported everything) and measures its CPU time with ``getrusage(RUSAGE_CHILDREN)``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

import st_multimodal

SRC = str(Path(st_multimodal.__file__).resolve().parents[1])
HEAVY = ("torch", "transformers", "sentence_transformers")
CPU_LIMIT_S = 1.5

# Runs like the console script (``from st_multimodal.cli import main``), then reports the heavy modules imported.
_CLI_PROBE = """
import json, sys
from st_multimodal.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "heavy": [m for m in %r if m in sys.modules]}))
""" % (HEAVY,)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]), "HF_HUB_OFFLINE": "1"}


def _run_measured(args: list[str], cwd: Path | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``python args`` in a child process; return it and the CPU seconds (user + system) it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=_env(), cwd=cwd, timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return done, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _cli(*argv: str, cwd: Path | None = None) -> tuple[dict, str, float]:
    done, cpu = _run_measured(["-c", _CLI_PROBE, *argv], cwd=cwd)
    assert done.stdout.strip(), done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report, done.stderr, cpu


class TestImport:
    def test_import_does_not_load_torch(self):
        done, cpu = _run_measured(["-c", f"import sys, st_multimodal; print([m for m in {HEAVY!r} if m in sys.modules])"])
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[]"
        assert cpu < CPU_LIMIT_S, f"import st_multimodal took {cpu:.2f} s CPU"

    def test_every_public_name_resolves_and_is_listed(self):
        missing = [name for name in st_multimodal.__all__ if getattr(st_multimodal, name, None) is None]
        assert missing == []
        assert set(st_multimodal.__all__) <= set(dir(st_multimodal))

    def test_star_import_and_unknown_names(self):
        namespace: dict = {}
        exec("from st_multimodal import *", namespace)
        assert {"SentenceTransformer", "FetchPolicy", "as_image", "demo_model_path"} <= set(namespace)
        with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
            st_multimodal.NoSuchThing  # noqa: B018

    def test_registries_are_filled_when_first_touched(self):
        done, _ = _run_measured(["-c", "import st_multimodal as s; print(sorted(s.SOURCES.names()), sorted(s.DECODERS.names()),"
                                       " 'path' in s.RESOLVERS.names())"])
        assert done.returncode == 0, done.stderr
        assert "'file'" in done.stdout and "'http'" in done.stdout and "'image'" in done.stdout and done.stdout.strip().endswith("True")


class TestQuickAnswers:
    """--help, --version, usage errors and bad paths: answered before torch is imported, in < 1.5 s CPU."""

    @pytest.mark.parametrize("argv, code", [
        (["--help"], 0),
        (["--version"], 0),
        (["search", "--help"], 0),
        (["encode", "--bogus"], 2),
        (["encode"], 2),
    ], ids=["help", "version", "command-help", "unknown-flag", "missing-args"])
    def test_answers_without_torch(self, argv, code):
        report, _, cpu = _cli(*argv)
        assert (report["code"], report["heavy"]) == (code, [])
        assert cpu < CPU_LIMIT_S, f"{' '.join(argv)} took {cpu:.2f} s CPU"

    def test_missing_input_path(self, tmp_path):
        report, stderr, cpu = _cli("encode", "missing.jpg", "--model", "demo", "--output", "out.npy", cwd=tmp_path)
        assert (report["code"], report["heavy"]) == (1, [])
        assert "missing.jpg" in stderr and "no such file" in stderr and "input 0" in stderr
        assert not (tmp_path / "out.npy").exists()
        assert cpu < CPU_LIMIT_S, f"a missing input took {cpu:.2f} s CPU"

    def test_missing_model_folder(self, tmp_path):
        report, stderr, cpu = _cli("encode", "a text", "--model", "./clip", "--output", "out.npy", cwd=tmp_path)
        assert (report["code"], report["heavy"]) == (3, [])
        assert "'./clip': no such folder" in stderr
        assert cpu < CPU_LIMIT_S

    def test_existing_output_is_refused(self, tmp_path):
        (tmp_path / "out.npy").write_bytes(b"keep me")
        report, stderr, cpu = _cli("encode", "a text", "--model", "demo", "--output", "out.npy", cwd=tmp_path)
        assert (report["code"], report["heavy"]) == (2, [])
        assert "--force" in stderr and (tmp_path / "out.npy").read_bytes() == b"keep me"
        assert cpu < CPU_LIMIT_S


class TestInstallCommand:
    """The README's install lines leave bytecode behind (a second start is quick), and CI runs the README's test line."""

    ROOT = Path(__file__).resolve().parents[2]

    def _readme_commands(self) -> list[str]:
        text = (self.ROOT / "README.md").read_text(encoding="utf-8")
        return [line for line in text.splitlines() if line.startswith("python3 -m venv .venv && ")]

    def test_install_lines_compile_bytecode(self):
        commands = self._readme_commands()
        assert len(commands) >= 2  # the demo line and the test line (and the development one)
        assert [c for c in commands if "--no-compile" in c] == []

    def test_ci_runs_exactly_the_readme_test_command(self):
        test_command = next(c for c in self._readme_commands() if "pytest" in c)
        ci = [line for line in (self.ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines() if line.startswith("python3 ")]
        assert ci == [test_command]
