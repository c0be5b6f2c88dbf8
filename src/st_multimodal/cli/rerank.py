"""``st-multimodal rerank``: score documents of any modality against one query with a reranker."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .common import (EXIT_OK, add_fetch_flags, add_model_flags, add_run_flags, check_model_name, failure_record,
                     load_model, plural, refuse_overwrite, say, write_jsonl)
from .encode import add_input_flags, report_failures
from .index import _add_query_flags, _query
from .inputs import collect_inputs, raise_for_missing_files

__all__ = ["register", "run", "DEFAULT_FAILURES"]

DEFAULT_FAILURES = "rerank.failures.jsonl"
"""Where ``--on-error skip`` lists failed documents when ``--failures`` is not given (current directory)."""

EPILOG = """\
examples:
  st-multimodal rerank --model ./my-reranker --query "a red car" car.jpg bee.jpg "a red sports car"
  st-multimodal rerank --model ./my-reranker --query-file probe.jpg candidates/ --top-k 5 --json
  st-multimodal rerank --model ./my-reranker --query "cats" urls.txt --on-error skip --failures bad.jsonl

Prints one document per line, best first: rank, score, id (tab-separated), or JSON lines with --json.
With --on-error skip, documents that fail are left out and listed in the failures file
(--failures, default rerank.failures.jsonl), and the exit code is 4 if any failed.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rerank", help="order documents by a reranker's score for one query", epilog=EPILOG,
        description="Score each document against the query with a reranker and print them best first.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_input_flags(parser, what="DOCS")
    _add_query_flags(parser, top_k=None)
    parser.add_argument("--failures", metavar="PATH",
                        help=f"list failed documents here (JSON lines; default with --on-error skip: {DEFAULT_FAILURES})")
    add_model_flags(parser, cache=False)
    add_run_flags(parser)
    add_fetch_flags(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    failures_path = Path(args.failures or DEFAULT_FAILURES) if args.failures or args.on_error == "skip" else None
    if failures_path is not None:
        refuse_overwrite(args, failures_path)
    check_model_name(args.model)
    collected = collect_inputs(args.inputs, column=args.column, ids_from=args.ids_from, input_type=args.input_type)
    query = _query(args)
    if args.on_error == "raise":
        raise_for_missing_files(collected)
    model = load_model(args, "reranker")
    documents = [item.value for item in collected.items]
    ranked, failures = model.rank(query, documents, top_k=args.top_k, on_error=args.on_error, return_failures=True,
                                  batch_size=args.batch_size, show_progress_bar=not args.quiet)
    for rank, result in enumerate(ranked, start=1):
        item = collected.items[result["corpus_id"]]
        if args.json:
            print(json.dumps({"rank": rank, "id": item.id, "score": result["score"], "source": item.source}, default=str))
        else:
            print(f"{rank}\t{result['score']:.4f}\t{item.id}")
    if failures_path is None:  # --on-error raise: every document was scored
        if collected.notes:
            say(args, f"{plural(len(collected.notes), 'file was', 'files were')} not media and skipped "
                      "(--failures PATH lists them)")
        return EXIT_OK
    write_jsonl(failures_path, [failure_record(collected.items[f.index].id, f.index, f) for f in failures] + collected.notes)
    return report_failures(args, len(failures), len(collected.notes), failures_path)
