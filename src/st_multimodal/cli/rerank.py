"""``st-multimodal rerank``: score documents of any modality against one query with a reranker."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .common import EXIT_OK, add_fetch_flags, add_model_flags, add_run_flags, failure_record, load_model, say, write_jsonl
from .encode import add_input_flags
from .index import _add_query_flags, _query
from .inputs import collect_inputs

__all__ = ["register", "run"]

EPILOG = """\
examples:
  st-multimodal rerank --model ./reranker --query "a red car" car.jpg bee.jpg "a red sports car"
  st-multimodal rerank --model ./reranker --query-file probe.jpg candidates/ --top-k 5 --json
  st-multimodal rerank --model ./reranker --query "cats" urls.txt --on-error skip --failures bad.jsonl

Prints one document per line, best first: rank, score, id (tab-separated), or JSON lines with --json.
With --on-error skip, documents that fail are left out (listed in --failures, if given).
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rerank", help="rank documents against a query with a reranker (CrossEncoder)", epilog=EPILOG,
        description="Score each document against the query with a reranker and print them best first.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_input_flags(parser, what="DOCS")
    _add_query_flags(parser, top_k=None)
    parser.add_argument("--failures", metavar="PATH", help="write failed documents here (JSON lines)")
    add_model_flags(parser)
    add_run_flags(parser)
    add_fetch_flags(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    collected = collect_inputs(args.inputs, column=args.column, ids_from=args.ids_from, input_type=args.input_type)
    query = _query(args)
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
    records = [failure_record(collected.items[f.index].id, f.index, f) for f in failures] + collected.notes
    if args.failures:
        write_jsonl(Path(args.failures), records)
    if records:
        say(args, f"{len(failures)} document(s) failed and {len(collected.notes)} file(s) were not media"
                  + (f", see {args.failures}" if args.failures else " (use --failures PATH to list them)"))
    return EXIT_OK
