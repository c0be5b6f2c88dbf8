"""``st-multimodal index`` (build and save a MultimodalIndex) and ``st-multimodal search`` (query a saved one)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from .common import (EXIT_ENVIRONMENT, EXIT_OK, CliError, add_fetch_flags, add_model_flags, add_run_flags,
                     check_model_name, failure_record, load_model, plural, refuse_overwrite, say, write_jsonl)
from .encode import add_input_flags, report_cache, report_failures
from .inputs import Collected, collect_inputs, raise_for_missing_files

__all__ = ["register", "run_index", "run_search", "CLI_FILE"]

CLI_FILE = "cli.json"
"""Written into the index folder by ``index``: the model it was built with, so ``search`` needs no ``--model``."""

INDEX_EPILOG = """\
examples:
  st-multimodal index photos/ --model demo --output photos.index --on-error skip
  st-multimodal index catalogue.jsonl --field image --ids-from column:sku --model demo --output cat.index

Each document's metadata is {"source": ...} plus, for .csv/.jsonl inputs, the whole row.
Failed inputs go to <output>.failures.jsonl (or --failures). An existing index is kept unless --force.
"""

SEARCH_EPILOG = """\
examples:
  st-multimodal search photos.index --query "a red car" --top-k 5
  st-multimodal search photos.index --query-file probe.jpg --modality image --json
  st-multimodal search photos.index --query "a red car" --rerank-with ./my-reranker --rerank-top-k 20

Prints one hit per line: rank, score, modality, id (tab-separated), or JSON lines with --json.
The model defaults to the one the index was built with (recorded in <index>/cli.json).
"""


def _add_query_flags(parser: argparse.ArgumentParser, top_k: int | None = 10) -> None:
    query = parser.add_mutually_exclusive_group(required=True)
    query.add_argument("--query", metavar="TEXT", help="a text query (always text, even if it looks like a path)")
    query.add_argument("--query-file", metavar="PATH_OR_URL", help="a query that is media: an image, audio or video file or URL")
    parser.add_argument("--top-k", type=int, default=top_k, metavar="K", help=f"how many results (default: {top_k or 'all'})")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")


def register(subparsers: Any) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    index = subparsers.add_parser("index", help="build a searchable index from inputs and save it as a folder", epilog=INDEX_EPILOG,
                                  description="Embed inputs into a MultimodalIndex and save it as a folder.", formatter_class=fmt)
    add_input_flags(index)
    index.add_argument("--output", "-o", required=True, metavar="DIR", help="folder to save the index in")
    index.add_argument("--failures", metavar="PATH", help="failures file (default: <DIR>.failures.jsonl)")
    index.add_argument("--backend", choices=("exact", "faiss", "auto"), default="exact",
                       help="search backend: exact (numpy), faiss (HNSW, approximate) or auto (default: exact)")
    add_model_flags(index)
    add_run_flags(index)
    add_fetch_flags(index)
    index.set_defaults(run=run_index)

    search = subparsers.add_parser("search", help="query a saved index with a text or a media file", epilog=SEARCH_EPILOG,
                                   description="Search a saved MultimodalIndex with a text or media query.", formatter_class=fmt)
    search.add_argument("index", metavar="INDEX_DIR", help="a folder written by 'st-multimodal index'")
    _add_query_flags(search)
    search.add_argument("--modality", action="append", choices=("text", "image", "audio", "video"),
                        help="only documents of this modality (repeatable)")
    search.add_argument("--rerank-with", metavar="RERANKER", help="rescore the best candidates with this reranker")
    search.add_argument("--rerank-top-k", type=int, default=50, metavar="K", help="candidates to rerank (default: 50)")
    add_model_flags(search, required=False, batches=False, cache=False)
    add_run_flags(search, on_error=False, force=False)
    add_fetch_flags(search)
    search.set_defaults(run=run_search)


def _index_class():
    try:
        from ..retrieval import MultimodalIndex
    except ImportError as exc:
        raise CliError(f"the retrieval package is not available: {exc}", EXIT_ENVIRONMENT) from exc
    return MultimodalIndex


def run_index(args: argparse.Namespace) -> int:
    out = Path(args.output)
    failures_path = Path(args.failures) if args.failures else out.with_name(out.name + ".failures.jsonl")
    refuse_overwrite(args, out, failures_path)
    _replaceable(out)
    check_model_name(args.model)
    collected = collect_inputs(args.inputs, column=args.column, ids_from=args.ids_from, input_type=args.input_type)
    duplicates = sorted(str(i) for i, n in Counter(item.id for item in collected.items).items() if n > 1)
    if duplicates:
        raise CliError(f"ids must be unique in an index; repeated: {', '.join(duplicates[:5])} (try --ids-from index)")
    if args.on_error == "raise":
        raise_for_missing_files(collected)
    model = load_model(args, "embedder")
    index = _index_class()(model, backend=args.backend, batch_size=args.batch_size)
    logger = logging.getLogger("st_multimodal.retrieval.index")
    level = logger.level
    logger.setLevel(logging.ERROR)  # its per-add warning would repeat the summary below
    try:
        failures = _add_all(index, collected, args)
    finally:
        logger.setLevel(level)
    _clear_old_index(out)
    try:
        index.save(out)
        (out / CLI_FILE).write_text(json.dumps({"model": _model_reference(args.model)}), encoding="utf-8")
        write_jsonl(failures_path, failures + collected.notes)
    except OSError as exc:
        raise CliError(f"cannot write the index to {out}: {exc.strerror or exc}", EXIT_ENVIRONMENT) from exc
    say(args, f"indexed {plural(len(index), 'document')} into {out}")
    report_cache(args, model, len(collected.items))
    return report_failures(args, len(failures), len(collected.notes), failures_path)


def _replaceable(out: Path) -> None:
    """``--force`` replaces a saved index (or an empty folder), never another folder or a file."""
    if out.exists() and (not out.is_dir() or not ((out / "manifest.json").is_file() or not any(out.iterdir()))):
        raise CliError(f"{str(out)!r} exists and is not a saved index; choose another --output")


def _clear_old_index(out: Path) -> None:
    """With ``--force``: remove the index saved at ``out`` before, so none of its files mix with the new one."""
    if out.exists():
        _replaceable(out)
        shutil.rmtree(out)


def _add_all(index: Any, collected: Collected, args: argparse.Namespace) -> list[dict]:
    """Add the items in steps (for the progress bar); return the failures-file records."""
    from tqdm.auto import tqdm

    failures: list[dict] = []
    step = max(args.batch_size * 8, 256)
    with tqdm(total=len(collected.items), desc="Indexing", unit="input", disable=args.quiet) as bar:
        for start in range(0, len(collected.items), step):
            chunk = collected.items[start:start + step]
            result = index.add([_kept(item.value) for item in chunk], ids=[item.id for item in chunk],
                               metadata=[{"source": item.source, **(item.row or {})} for item in chunk], on_error=args.on_error)
            failures += [failure_record(chunk[f.index].id, start + f.index, f) for f in result.failures]
            bar.update(len(chunk))
    return failures


def _kept(value: Any) -> Any:
    """Paths as absolute strings, so the saved index can re-read documents for reranking after ``load``."""
    return str(value.absolute()) if isinstance(value, Path) else value


def _model_reference(model: str) -> str:
    return os.path.abspath(model) if os.path.isdir(model) else model  # "demo" stays "demo": it moves with the package


def _query(args: argparse.Namespace) -> Any:
    from .. import as_text

    if args.query is not None:
        return as_text(args.query)
    path = Path(args.query_file)
    if "://" not in args.query_file and not args.query_file.startswith("data:") and not path.is_file():
        raise CliError(f"--query-file {args.query_file!r} does not exist")
    return path if path.is_file() else args.query_file


def run_search(args: argparse.Namespace) -> int:
    folder = Path(args.index)
    if not (folder / "manifest.json").is_file():
        raise CliError(f"{str(folder)!r} is not a saved index (no manifest.json)")
    if args.model is None:
        recorded = folder / CLI_FILE
        if not recorded.is_file():
            raise CliError(f"no --model given and {folder} does not record one; pass --model")
        args.model = json.loads(recorded.read_text(encoding="utf-8"))["model"]
    query = _query(args)
    if args.rerank_with:
        check_model_name(args.rerank_with)
    model = load_model(args, "embedder")
    reranker = load_model(args, "reranker", args.rerank_with) if args.rerank_with else None
    try:
        index = _index_class().load(folder, model=model)
    except ValueError as exc:
        raise CliError(f"cannot load the index: {exc}") from exc
    hits = index.search(query, top_k=args.top_k, modality=args.modality, rerank_with=reranker, rerank_top_k=args.rerank_top_k)
    for rank, hit in enumerate(hits, start=1):
        if args.json:
            record = {"rank": rank, "id": hit.id, "score": hit.score, "modality": hit.modality, "similarity": hit.similarity,
                      "rerank_score": hit.rerank_score, "probability": hit.probability, "metadata": hit.metadata}
            print(json.dumps(record, default=str))
        else:
            print(f"{rank}\t{hit.score:.4f}\t{hit.modality}\t{hit.id}")
    sys.stdout.flush()
    return EXIT_OK
