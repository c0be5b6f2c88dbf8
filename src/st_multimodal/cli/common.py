"""What every subcommand shares: exit codes, the one-line error, model / policy flags, loading the model.

Nothing here imports torch, transformers or sentence-transformers at module level: ``--help``, usage
errors and bad paths are answered before any of them is imported.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import re
import sys
from pathlib import Path
from collections.abc import Iterator
from typing import Any, Literal

__all__ = [
    "EXIT_OK", "EXIT_INPUT_FAILED", "EXIT_USAGE", "EXIT_ENVIRONMENT", "EXIT_SOME_FAILED", "EXIT_INTERRUPTED",
    "CliError", "add_model_flags", "add_fetch_flags", "add_run_flags", "fetch_policy_from", "load_model",
    "check_model_name", "refuse_overwrite", "parse_size", "say", "warn", "plural", "write_jsonl", "failure_record",
]

EXIT_OK = 0
"""Success. Inputs that failed under ``--on-error skip`` are in the failures file, not an error."""
EXIT_INPUT_FAILED = 1
"""An input failed under ``--on-error raise`` (nothing is written), or an unexpected error."""
EXIT_USAGE = 2
"""Bad arguments: unknown flag, missing input list, unknown column, wrong kind of model."""
EXIT_ENVIRONMENT = 3
"""The model could not be loaded, an optional package is missing, or the output could not be written."""
EXIT_SOME_FAILED = 4
"""Finished, but some inputs failed under ``--on-error skip``: the output has the others, the failures file lists them."""
EXIT_INTERRUPTED = 130
"""Interrupted (Ctrl-C). ``encode`` keeps its finished chunks; ``--resume`` continues from them."""


class CliError(Exception):
    """A problem to report in one line, with the exit code to leave with."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


def say(args: argparse.Namespace, message: str) -> None:
    """A note on stderr, unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        warn(message)


def warn(message: str) -> None:
    """A line on stderr that ``--quiet`` does not hide (failed inputs)."""
    print(f"st-multimodal: {message}", file=sys.stderr, flush=True)


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``"1 input"``, ``"2 inputs"``, ``"0 files"``."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``"20000000"``, ``"20MB"``, ``"64MiB"``, ``"1.5G"`` -> bytes (K/M/G/T are powers of 1024)."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 20000000, 20MB or 1.5G)")
    number, unit = float(match.group(1)), match.group(2).lower()
    return int(number * 1024 ** " kmgt".index(unit or " "))


def add_model_flags(parser: argparse.ArgumentParser, *, required: bool = True, batches: bool = True,
                    cache: bool = True) -> None:
    """``--model`` and ``--device``; ``--batch-size`` and ``--cache-dir`` only where the command uses them."""
    group = parser.add_argument_group("model")
    group.add_argument("--model", "-m", required=required, metavar="PATH_OR_ID",
                       help=f"model folder, Hugging Face id, or '{DEMO_MODEL}' for the bundled demo model "
                            "(set HF_HUB_OFFLINE=1 to stay offline)")
    group.add_argument("--device", help="cpu, cuda, cuda:1, mps ... (default: the best available)")
    if batches:
        group.add_argument("--batch-size", type=int, default=32, metavar="N", help="inputs per forward pass (default: 32)")
    if cache:
        group.add_argument("--cache-dir", metavar="DIR", help="persistent embedding cache: unchanged inputs are not re-encoded")


def add_run_flags(parser: argparse.ArgumentParser, *, on_error: bool = True, force: bool = True) -> None:
    """``--quiet``; ``--on-error`` where inputs can fail one by one; ``--force`` where files are written."""
    group = parser.add_argument_group("errors and output")
    if on_error:
        group.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                           help="raise: stop at the first bad input, write nothing, exit 1 (default); "
                                f"skip: go on, list bad inputs in the failures file, exit {EXIT_SOME_FAILED} if any failed")
    if force:
        group.add_argument("--force", "-f", action="store_true", help="overwrite output files that already exist")
    group.add_argument("--quiet", "-q", action="store_true",
                       help="no status lines or progress bars on stderr (errors and failed inputs are still reported)")
    group.add_argument("--traceback", action="store_true", help=argparse.SUPPRESS)


def refuse_overwrite(args: argparse.Namespace, *paths: Path) -> None:
    """A usage error if any of ``paths`` exists and ``--force`` was not given."""
    if getattr(args, "force", False):
        return
    existing = [str(path) for path in paths if path.exists() or path.is_symlink()]
    if existing:
        raise CliError(f"{existing[0]!r} already exists; pass --force to overwrite it")


DEMO_MODEL = "demo"
"""``--model demo``: the demo model bundled with the package (coloured shapes only; see ``st_multimodal.demo``).
The same name as ``st_multimodal.loading.DEMO_MODEL``, repeated here because that module imports torch."""

_PATH_PREFIXES = ("/", "./", "../", "~", ".\\", "..\\")


def check_model_name(name: str) -> None:
    """Before anything heavy is imported: a ``--model`` written as a path must exist, as a folder."""
    if name == DEMO_MODEL:
        return
    path = Path(os.path.expanduser(name))
    looks_like_path = name.startswith(_PATH_PREFIXES) or re.match(r"^[A-Za-z]:[\\/]", name) is not None
    if path.exists() and not path.is_dir():
        raise CliError(f"--model {name!r} is a file; give the model's folder or a hub id")
    if looks_like_path and not path.exists():
        raise CliError(f"--model {name!r}: no such folder (hub ids look like 'org/name'; '{DEMO_MODEL}' is the bundled "
                       "demo model)", EXIT_ENVIRONMENT)


def add_fetch_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("fetch policy (where inputs may come from)")
    group.add_argument("--timeout", type=float, metavar="SECONDS", help="total deadline per fetch (default: 30)")
    group.add_argument("--max-bytes", type=parse_size, metavar="SIZE", help="largest download, e.g. 20MB (default: 64MiB)")
    group.add_argument("--allow-loopback", action="store_true", help="allow URLs on 127.0.0.0/8 and ::1 (blocked by default)")
    group.add_argument("--allow-private", action="store_true", help="allow private networks (10/8, 192.168/16, ...)")
    group.add_argument("--allowed-domain", action="append", metavar="DOMAIN",
                       help="only fetch from this domain and its subdomains (repeatable)")
    group.add_argument("--no-fetch", action="store_true", help="never fetch remote URLs (local files only)")
    group.add_argument("--file-root", action="append", metavar="DIR",
                       help="local files must lie under this folder (repeatable; default: anywhere)")


def fetch_policy_from(args: argparse.Namespace):
    """The FetchPolicy the flags describe (defaults for every flag not given)."""
    from ..policy import FetchPolicy

    changes: dict[str, Any] = {}
    if args.timeout is not None:
        changes["timeout"] = args.timeout
    if args.max_bytes is not None:
        changes["max_bytes"] = args.max_bytes
    if args.allowed_domain:
        changes["allowed_domains"] = tuple(args.allowed_domain)
    if args.file_root:
        changes["file_roots"] = tuple(os.path.abspath(root) for root in args.file_root)
    try:
        return FetchPolicy(enabled=not args.no_fetch, allow_loopback=args.allow_loopback,
                           allow_private=args.allow_private, **changes)
    except ValueError as exc:
        raise CliError(f"invalid fetch policy: {exc}") from exc


def load_model(args: argparse.Namespace, kind: Literal["embedder", "reranker"], name: str | None = None) -> Any:
    """Load ``name`` (default ``--model``) as ``kind``; a wrong kind is a usage error, a failed load exit 3.

    Prints "loading model ..." first (unless ``--quiet``): importing torch and reading the weights takes seconds.
    """
    name = name or args.model
    check_model_name(name)
    say(args, f"loading model {name} ...")
    from ..loading import model_kind, resolve_model_name
    from ..models import CrossEncoder, SentenceTransformer

    path = resolve_model_name(name)
    found = model_kind(path)
    if found != kind:
        need = {"embedder": "an embedding model (SentenceTransformer)", "reranker": "a reranker (CrossEncoder)",
                "multi-vector": "a multi-vector model (MultiVectorEncoder)"}
        raise CliError(f"{name!r} is {need[found]}, but this command needs {need[kind]}")
    cls = SentenceTransformer if kind == "embedder" else CrossEncoder
    try:
        with _quiet_libraries(getattr(args, "quiet", False)):
            return cls(path, device=args.device, fetch_policy=fetch_policy_from(args), cache_dir=getattr(args, "cache_dir", None))
    except CliError:
        raise
    except Exception as exc:  # noqa: BLE001 - any load failure is reported in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CliError(f"cannot load model {name!r}: {first}", EXIT_ENVIRONMENT) from exc


@contextlib.contextmanager
def _quiet_libraries(quiet: bool) -> Iterator[None]:
    """transformers' warnings and weight-loading bars off while loading (restored afterwards)."""
    if not quiet:
        yield
        return
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def write_jsonl(path: str | Path, records: list[dict]) -> None:
    """Write ``records`` to ``path`` atomically (one JSON object per line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, default=str) + "\n")
    os.replace(tmp, path)


def failure_record(item_id: Any, index: int, failure: Any) -> dict:
    """A failures-file line for a ``Failure`` whose ``.index`` is local to a chunk: the message names ``index``."""
    error = failure.error
    if getattr(error, "index", None) is not None:
        error = copy.copy(error)  # picklable errors copy through __reduce__; the original keeps its index
        error.index = index
    return {"id": item_id, "index": index, "source": failure.source, "error": type(failure.error).__name__, "message": str(error)}
