"""``st-multimodal encode``: inputs to an embeddings file (.npy + ids, or .parquet) and a failures file."""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import (EXIT_ENVIRONMENT, EXIT_OK, EXIT_SOME_FAILED, CliError, add_fetch_flags, add_model_flags,
                     add_run_flags, check_model_name, load_model, plural, refuse_overwrite, say, warn, write_jsonl)
from .inputs import collect_inputs, raise_for_missing_files

if TYPE_CHECKING:
    import numpy as np

__all__ = ["register", "run", "add_input_flags", "write_embeddings"]

EPILOG = """\
examples:
  st-multimodal encode photos/ --model demo --output photos.npy --on-error skip
      every image/audio/video file under photos/ (found by content, not extension);
      writes photos.npy, photos.ids.json and photos.failures.jsonl
  st-multimodal encode urls.txt --model ./my-model --output urls.parquet --allowed-domain example.com
  st-multimodal encode items.csv --column image_url --ids-from column:sku --model demo --output items.npy
  st-multimodal encode docs.jsonl --field text --input-type text --model demo --output docs.npy
  find shots -name '*.png' | st-multimodal encode - --model demo --output shots.npy

outputs:
  .npy      float32 matrix, one row per encoded input; ids (same order) in <out>.ids.json
  .parquet  columns "id" and "embedding" (needs pyarrow)
  failures  <out>.failures.jsonl (or --failures): one JSON object per failed input with
            id, index (position among the inputs), source, error (type) and message;
            files in folders that are not media are listed with "error": "NotMediaFile"
existing outputs are kept unless --force is given
"""


def add_input_flags(parser: argparse.ArgumentParser, *, what: str = "INPUTS") -> None:
    parser.add_argument("inputs", nargs="+", metavar=what,
                        help="folders (walked recursively), .txt/.csv/.tsv/.jsonl lists, '-' for stdin, or single paths, URLs or texts")
    group = parser.add_argument_group("inputs")
    group.add_argument("--column", "--field", dest="column", metavar="NAME",
                       help="the .csv/.tsv column or .jsonl field holding the inputs (needed when there are several)")
    group.add_argument("--ids-from", default="source", metavar="SPEC",
                       help="ids: 'source' (the path/URL/text as given; default), 'index' (0, 1, ...) or 'column:NAME'")
    group.add_argument("--input-type", choices=("auto", "text", "image", "audio", "video"), default="auto",
                       help="what list/stdin/literal entries are; auto: paths and URLs are media, other strings text")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "encode", help="embed inputs into out.npy (+ ids) or out.parquet, with a failures file", epilog=EPILOG,
        description="Embed images, audio, video and texts with an embedding model and write the embeddings, "
                    "their ids and a failures file.", formatter_class=argparse.RawDescriptionHelpFormatter)
    add_input_flags(parser)
    parser.add_argument("--output", "-o", required=True, metavar="OUT", help="out.npy or out.parquet")
    parser.add_argument("--failures", metavar="PATH", help="failures file (default: <out>.failures.jsonl)")
    parser.add_argument("--prompt-name", metavar="NAME", help="a prompt of the model, e.g. query or document")
    parser.add_argument("--chunk-size", type=int, default=256, metavar="N",
                        help="inputs per on-disk chunk; an interrupted run resumes per chunk (default: 256)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run from <out>.parts (same inputs and chunk size)")
    add_model_flags(parser)
    add_run_flags(parser)
    add_fetch_flags(parser)
    parser.set_defaults(run=run)


class _ChunkEncoder:
    """The model as ``encode_to_disk`` sees it: ``on_error`` as the user chose (it always asks for
    ``"skip"``), one progress bar over all chunks, and errors naming the position among all inputs."""

    def __init__(self, model: Any, on_error: str, bar: Any, offset: int = 0):
        self.model, self.on_error, self.bar, self.offset, self.failed = model, on_error, bar, offset, 0

    def resolve_context(self, *args: Any, **kwargs: Any) -> Any:
        return self.model.resolve_context(*args, **kwargs)

    def encode(self, inputs: Any, **kwargs: Any) -> Any:
        from ..errors import MultimodalInputError

        kwargs["on_error"] = self.on_error
        try:
            embeddings, failures = self.model.encode(inputs, **kwargs)
        except MultimodalInputError as exc:
            if exc.index is not None:
                exc.index += self.offset  # the message is rendered from .index
            raise
        count = getattr(inputs, "input_count", len(inputs))  # PDF pages: count the inputs, not the pages
        self.offset += count
        self.failed += len(failures)
        self.bar.update(count)
        self.bar.set_postfix(failed=self.failed)
        return embeddings, failures


def _paths(out: Path, failures: str | None) -> tuple[Path, Path, Path]:
    suffix = out.suffix.lower()
    if suffix not in (".npy", ".parquet"):
        raise CliError(f"--output must end in .npy or .parquet, got {str(out)!r}")
    stem = out.with_suffix("")
    failures_path = Path(failures) if failures else stem.with_name(stem.name + ".failures.jsonl")
    return stem.with_name(stem.name + ".ids.json"), failures_path, out.with_name(out.name + ".parts")


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    ids_path, failures_path, parts = _paths(out, args.failures)
    if args.chunk_size < 1 or args.batch_size < 1:
        raise CliError("--chunk-size and --batch-size must be >= 1")
    refuse_overwrite(args, out, failures_path, *([ids_path] if out.suffix.lower() == ".npy" else []))
    check_model_name(args.model)
    collected = collect_inputs(args.inputs, column=args.column, ids_from=args.ids_from, input_type=args.input_type)
    if args.on_error == "raise":
        raise_for_missing_files(collected)
    if args.output.endswith(".parquet"):
        _require_pyarrow()
    model = load_model(args, "embedder")
    from tqdm.auto import tqdm

    from ..streaming import encode_to_disk, load_embeddings

    done = _previous_run(parts, args.resume)
    kwargs = {"prompt_name": args.prompt_name} if args.prompt_name else {}
    try:
        with tqdm(total=len(collected.items), initial=done, desc="Encoding", unit="input", disable=args.quiet) as bar:
            encode_to_disk(_ChunkEncoder(model, args.on_error, bar, done), (item.value for item in collected.items), parts,
                           ids=[item.id for item in collected.items], chunk_size=args.chunk_size,
                           batch_size=args.batch_size, show_progress_bar=False, **kwargs)
    except Exception:
        if args.on_error == "raise":
            shutil.rmtree(parts, ignore_errors=True)
        raise
    ids, embeddings, failures = load_embeddings(parts, mmap=False)
    embeddings = _shaped(embeddings, model)
    try:
        write_embeddings(out, ids, embeddings, ids_path)
        write_jsonl(failures_path, failures + collected.notes)
    except OSError as exc:
        raise CliError(f"cannot write {exc.filename or out}: {exc.strerror or exc}", EXIT_ENVIRONMENT) from exc
    shutil.rmtree(parts, ignore_errors=True)
    say(args, f"wrote {plural(len(embeddings), 'embedding')} (dim {embeddings.shape[1]}) to {out}")
    report_cache(args, model, len(collected.items) - done)
    return report_failures(args, len(failures), len(collected.notes), failures_path)


def report_cache(args: argparse.Namespace, model: Any, count: int) -> None:
    """With ``--cache-dir``: how many of the ``count`` rows this run came from the embedding cache."""
    cache = getattr(model, "embedding_cache", None)
    if getattr(args, "cache_dir", None) and cache is not None:
        say(args, f"{cache.hits} of {plural(count, 'row')} came from the cache in {args.cache_dir}")


def report_failures(args: argparse.Namespace, failed: int, not_media: int, failures_path: Path) -> int:
    """The failures line (shown even with ``--quiet`` when inputs failed) and the exit code: 4 if any input failed."""
    if failed:
        skipped = f" and {plural(not_media, 'file was', 'files were')} not media" if not_media else ""
        warn(f"{plural(failed, 'input')} failed{skipped}, see {failures_path}")
        return EXIT_SOME_FAILED
    if not_media:
        say(args, f"{plural(not_media, 'file was', 'files were')} not media and skipped, see {failures_path}")
    return EXIT_OK


def _previous_run(parts: Path, resume: bool) -> int:
    """Inputs already done in ``parts`` when resuming; otherwise clear a stale ``parts`` folder of ours."""
    manifest = parts / "manifest.json"
    if parts.exists() and not manifest.is_file():
        raise CliError(f"{parts} exists and is not an interrupted run of ours; move it away")
    if not manifest.is_file():
        return 0
    if resume:
        return sum(chunk["count"] for chunk in json.loads(manifest.read_text(encoding="utf-8"))["chunks"])
    shutil.rmtree(parts)
    return 0


def _shaped(embeddings: np.ndarray, model: Any) -> np.ndarray:
    import numpy as np

    from ..integrations._batch import embedding_dimension

    if embeddings.size == 0:
        dim = embedding_dimension(model) or 0
        return np.empty((0, dim), np.float32)
    return np.ascontiguousarray(embeddings, dtype=np.float32)


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise CliError("writing .parquet needs pyarrow: pip install 'sentence-transformers-multimodal[parquet]'",
                       EXIT_ENVIRONMENT) from exc


def write_embeddings(out: Path, ids: list, embeddings: np.ndarray, ids_path: Path | None = None) -> None:
    """Write ``.npy`` (+ ids JSON at ``ids_path``) or ``.parquet`` (id, embedding), atomically."""
    import numpy as np

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    if out.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        dim = embeddings.shape[1] if embeddings.ndim == 2 else 0
        column = pa.FixedSizeListArray.from_arrays(pa.array(embeddings.reshape(-1), pa.float32()), dim)
        pq.write_table(pa.table({"id": pa.array(ids), "embedding": column}), tmp)
    else:
        with open(tmp, "wb") as handle:
            np.save(handle, embeddings)
        if ids_path is not None:
            ids_path.write_text(json.dumps(ids), encoding="utf-8")
    os.replace(tmp, out)
