#!/usr/bin/env python
"""Startup: how long ``st-multimodal --help``, ``import st_multimodal`` and the first embedding take.

Run from the repository root (offline; nothing is downloaded)::

    HF_HUB_OFFLINE=1 python benchmarks/bench_startup.py                        # this checkout only
    HF_HUB_OFFLINE=1 python benchmarks/bench_startup.py --baseline 5ae1a40     # against a git ref, same run
    HF_HUB_OFFLINE=1 python benchmarks/bench_startup.py --baseline 5ae1a40 --no-cold --repeats 5

Every measurement is a fresh Python process, timed by CPU seconds (user + system, from
``getrusage(RUSAGE_CHILDREN)``; what a busy machine changes least) and by wall seconds. ``--baseline``
extracts the ``src`` folder of a git ref (``git archive``) and runs the same commands on it, alternating
baseline and current; ratios are baseline / current from this one run. The table shows the best of
``--repeats`` rounds (``--cold-repeats`` for cold rows).

- **warm**: bytecode (``.pyc``) of every module is present, as after an install that compiles it.
- **cold**: no bytecode at all: every module, the standard library included, is compiled from source
  (``PYTHONPYCACHEPREFIX`` set to an empty folder, ``PYTHONDONTWRITEBYTECODE=1``), as with
  ``pip install --no-compile`` in a container that sets ``PYTHONDONTWRITEBYTECODE``. The worst case.

Rows: ``python -c pass`` (the interpreter alone), ``st-multimodal --help`` and ``--version`` (run as the
console script runs them), ``import st_multimodal``, and the first embedding: a fresh process that
imports the package, loads the bundled demo model and encodes one text (Python API), and the same
through ``st-multimodal encode`` (CLI).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CLI = "import sys; from st_multimodal.cli import main; sys.exit(main(sys.argv[1:]))"
_DEMO_PATH = "import st_multimodal.demo as d; print(d.demo_model_path())"
_FIRST_EMBEDDING = ("import st_multimodal; model = st_multimodal.demo_model(device='cpu'); "
                    "assert model.encode(['a red circle']).shape[0] == 1")


@dataclass
class Case:
    name: str
    args: list[str]
    cold: bool = False


@dataclass
class Timing:
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)


def _extract(ref: str, into: Path) -> Path:
    """The ``src`` folder of git ``ref`` (or ``ref`` itself when it is a folder holding ``st_multimodal``)."""
    if (Path(ref) / "st_multimodal").is_dir():
        return Path(ref).resolve()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref, "src"], check=True,
                             capture_output=True).stdout
    target = into / "baseline"
    target.mkdir()
    archive_path = into / "baseline.tar"
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(target)  # noqa: S202 - our own repository's archive
    return target / "src"


def _run(src: Path, case: Case, scratch: Path) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    prefix = None
    if case.cold:
        prefix = Path(tempfile.mkdtemp(prefix="pyc-", dir=scratch))
        env.update(PYTHONPYCACHEPREFIX=str(prefix), PYTHONDONTWRITEBYTECODE="1")
    cwd = Path(tempfile.mkdtemp(prefix="cwd-", dir=scratch))
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run([sys.executable, *case.args], env=env, cwd=cwd, capture_output=True, text=True)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{case.name} failed on {src}:\n{done.stderr[-2000:]}")
    for folder in (prefix, cwd):
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def _cases(demo_path: str, cold: bool) -> list[Case]:
    encode = ["-c", _CLI, "encode", "a red circle", "--model", demo_path, "--device", "cpu", "--output", "o.npy", "-q"]
    warm = [
        Case("python -c pass", ["-c", "pass"]),
        Case("st-multimodal --help", ["-c", _CLI, "--help"]),
        Case("st-multimodal --version", ["-c", _CLI, "--version"]),
        Case("import st_multimodal", ["-c", "import st_multimodal"]),
        Case("first embedding (Python)", ["-c", _FIRST_EMBEDDING]),
        Case("first embedding (CLI encode)", encode),
    ]
    if not cold:
        return warm
    return warm + [Case(f"{c.name} [cold]", c.args, cold=True) for c in warm if c.name != "st-multimodal --version"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", metavar="REF_OR_SRC", help="a git ref (e.g. 5ae1a40) or a src folder to compare against")
    parser.add_argument("--repeats", type=int, default=3, help="rounds for warm rows (default: 3)")
    parser.add_argument("--cold-repeats", type=int, default=1, help="rounds for cold rows (default: 1)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold rows (each compiles torch from source)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        scratch = Path(tmp)
        trees = {"current": ROOT / "src"}
        if args.baseline:
            trees = {"baseline": _extract(args.baseline, scratch), **trees}
        demo_path = subprocess.run([sys.executable, "-c", _DEMO_PATH], env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                                   capture_output=True, text=True, check=True).stdout.strip()
        cases = _cases(demo_path, cold=not args.no_cold)
        for tree in trees.values():  # bytecode for the warm rows (and a check that every command runs)
            for case in cases:
                if not case.cold:
                    _run(tree, case, scratch)
        results: dict[tuple[str, str], Timing] = {}
        for case in cases:
            repeats = args.cold_repeats if case.cold else args.repeats
            for round_number in range(repeats):
                order = list(trees.items()) if round_number % 2 == 0 else list(reversed(trees.items()))
                for label, tree in order:
                    cpu, wall = _run(tree, case, scratch)
                    timing = results.setdefault((case.name, label), Timing())
                    timing.cpu.append(cpu)
                    timing.wall.append(wall)
                    print(f"  {case.name:38} {label:8} cpu {cpu:6.2f} s  wall {wall:6.2f} s", file=sys.stderr, flush=True)

    print(f"\nPython {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"best of {args.repeats} (warm) / {args.cold_repeats} (cold) rounds; CPU = user + system seconds of the process\n")
    labels = list(trees)
    header = f"{'':38}" + "".join(f"{label + ' cpu':>14}{label + ' wall':>15}" for label in labels)
    if len(labels) == 2:
        header += f"{'cpu ratio':>11}{'wall ratio':>12}"
    print(header)
    for case in cases:
        row = f"{case.name:38}"
        best = {label: (min(results[case.name, label].cpu), min(results[case.name, label].wall)) for label in labels}
        for label in labels:
            row += f"{best[label][0]:13.2f}s{best[label][1]:14.2f}s"
        if len(labels) == 2:
            (base_cpu, base_wall), (cur_cpu, cur_wall) = best[labels[0]], best[labels[1]]
            row += f"{base_cpu / cur_cpu:10.1f}x{base_wall / cur_wall:11.1f}x"
        print(row)
    if any(len(t.cpu) > 1 for t in results.values()):
        print("\nmedian CPU s: " + "; ".join(f"{name} [{label}] {statistics.median(t.cpu):.2f}"
                                             for (name, label), t in results.items() if len(t.cpu) > 1))


if __name__ == "__main__":
    main()
