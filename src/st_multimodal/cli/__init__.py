"""The ``st-multimodal`` command line: ``encode``, ``index``, ``search`` and ``rerank``.

Exit codes (also in ``st-multimodal --help``):

====  ==========================================================================================
0     success: every input was encoded (files in folders that are not media are only noted)
1     an input failed under ``--on-error raise`` (nothing is written), or an unexpected error
2     usage: bad flags, a missing input list or column, a model of the wrong kind, an output that exists
3     environment: the model could not be loaded, an optional package is missing, output not writable
4     done, but inputs failed under ``--on-error skip``: the rest is written, the failures file lists them
130   interrupted (``encode`` keeps finished chunks; ``--resume`` continues)
====  ==========================================================================================

Every error is one line on stderr, ``st-multimodal: error: ...``. Nothing heavy (torch, transformers) is
imported until the arguments and paths have been checked, so ``--help`` and mistakes are answered at once.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from .common import EXIT_INPUT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, CliError

__all__ = ["main", "build_parser"]

EPILOG = """\
inputs (for encode, index and rerank):
  a folder (walked recursively; files picked by content, not extension), a .txt/.csv/.tsv/.jsonl
  list of paths, URLs or texts, '-' for one input per line on stdin, or single paths/URLs/texts.

exit codes:
  0 success
  1 an input failed under --on-error raise (nothing written), or an unexpected error
  2 usage error (bad flags, missing input list or column, wrong kind of model, output exists: --force)
  3 environment (model not loadable, optional package missing, output not writable)
  4 inputs failed under --on-error skip (the rest is written; see the failures file)
  130 interrupted

examples (--model demo is the small demo model bundled with the package; it knows coloured shapes):
  st-multimodal encode photos/ --model demo --output photos.npy --on-error skip
  st-multimodal index photos/ --model demo --output photos.index
  st-multimodal search photos.index --query "a red circle" --top-k 5
  st-multimodal rerank --model ./my-reranker --query "a red car" car.jpg bee.jpg

Run 'st-multimodal COMMAND --help' for the flags of a command.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line after the usage, exit 2 (argparse's convention)
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"st-multimodal: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from . import encode, index, rerank

    parser = _Parser(prog="st-multimodal", description="Embed, index, search and rerank text, images, audio and video.",
                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True, parser_class=_Parser)
    for module in (encode, index, rerank):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    try:
        return args.run(args)
    except CliError as exc:
        return _fail(args, str(exc), exc.code)
    except KeyboardInterrupt:
        return _fail(args, "interrupted", EXIT_INTERRUPTED)
    except Exception as exc:  # noqa: BLE001 - every failure leaves one line and an exit code
        from ..errors import MissingDependencyError, MultimodalInputError

        if isinstance(exc, MissingDependencyError):
            return _fail(args, str(exc), 3)
        if isinstance(exc, MultimodalInputError):
            return _fail(args, f"{type(exc).__name__}: {exc} (use --on-error skip to go on past bad inputs)", EXIT_INPUT_FAILED)
        return _fail(args, f"{type(exc).__name__}: {exc}", EXIT_INPUT_FAILED)


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    if getattr(args, "traceback", False) and sys.exc_info()[0] is not None:
        traceback.print_exc()
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    print(f"st-multimodal: error: {first}", file=sys.stderr)
    return code
