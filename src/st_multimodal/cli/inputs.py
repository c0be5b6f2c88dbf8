"""Turning command-line arguments into inputs: folders, list files (.txt/.csv/.tsv/.jsonl), stdin, literals.

- A **folder** is walked recursively (sorted; hidden files and folders skipped). A file is an input
  when its first bytes are a known image / audio / video format or a PDF (magic bytes, as the decoders
  sniff them; the extension is ignored); a PDF gives one row per page (ids ``<path>#page=N``). Every other file is *not* an input: it is listed as a note in the
  failures file (``"error": "NotMediaFile"``, ``"index": null``) and never changes the exit code.
- A ``.txt`` file holds one input per line; ``.csv`` / ``.tsv`` one per row (``--column``); ``.jsonl``
  one per line (``--field``; a line may also be a bare JSON string). Blank entries are skipped.
  Entries are paths (relative to the current directory), URLs or texts, told apart by the usual
  string rules unless ``--input-type`` says what they are.
- ``-`` reads one input per line from stdin.
- Any other argument is one input itself (a path, URL or text).
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import CliError

__all__ = ["Item", "Collected", "collect_inputs", "LIST_SUFFIXES", "is_media_file", "raise_for_missing_files"]

LIST_SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl", ".ndjson")
_SNIFF_BYTES = 64


@dataclass
class Item:
    """One input: its id, the value handed to the model, and (for .csv/.jsonl rows) the whole row."""

    id: Any
    value: Any
    source: str
    row: dict | None = None


@dataclass
class Collected:
    items: list[Item] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)
    """Files found in folders that are not inputs (not media, unreadable): failures-file records."""


def is_media_file(path: str | os.PathLike) -> tuple[bool, str]:
    """(True, format) when the file's first bytes are a PDF or a format a registered decoder reads, else (False, why)."""
    from ..decoders.base import DECODERS
    from ..decoders.sniff import describe_prefix, is_pdf, sniff_format

    with open(path, "rb") as handle:
        prefix = handle.read(_SNIFF_BYTES)
    if is_pdf(prefix):
        return True, "pdf"
    found = sniff_format(prefix)
    if found:
        return True, found
    for name in DECODERS.names():
        if name not in ("image", "audio", "video") and DECODERS.get(name).accept(prefix):
            return True, name  # a third-party decoder recognises it
    return False, describe_prefix(prefix)


def _walk(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def _typed(value: Any, input_type: str) -> Any:
    if input_type == "auto" or not isinstance(value, str):
        return value
    from .. import as_audio, as_image, as_text, as_video

    return {"text": as_text, "image": as_image, "audio": as_audio, "video": as_video}[input_type](value)


class _Collector:
    def __init__(self, column: str | None, ids_from: str, input_type: str):
        self.column, self.input_type = column, input_type
        self.id_column = ids_from.split(":", 1)[1] if ids_from.startswith("column:") else None
        if ids_from not in ("source", "index") and not self.id_column:
            raise CliError(f"--ids-from must be 'source', 'index' or 'column:NAME', got {ids_from!r}")
        self.by_index = ids_from == "index"
        self.out = Collected()

    def add(self, value: Any, source: str, row: dict | None = None, where: str = "") -> None:
        item_id: Any = source
        if self.by_index:
            item_id = len(self.out.items)
        elif self.id_column:
            if row is None:
                raise CliError(f"--ids-from column:{self.id_column} needs .csv/.tsv/.jsonl inputs, but {source!r} is not a row of one")
            if self.id_column not in row:
                raise CliError(f"{where}: no column {self.id_column!r} for --ids-from (columns: {', '.join(map(str, row))})")
            item_id = row[self.id_column]
        self.out.items.append(Item(item_id, _typed(value, self.input_type), source, row))

    def folder(self, folder: Path) -> None:
        for path in _walk(folder):
            source = path.as_posix()
            try:
                ok, what = is_media_file(path)
            except OSError as exc:
                self.out.notes.append(_note(source, type(exc).__name__, f"cannot read the file: {exc.strerror or exc}"))
                continue
            if ok:
                from ..resolvers import as_document

                self.add(as_document(path) if what == "pdf" else path, source)  # a PDF: its pages, whatever its name
            else:
                self.out.notes.append(_note(source, "NotMediaFile", f"skipped, not a media file: {what}"))

    def lines(self, lines: Iterator[str]) -> None:
        for line in lines:
            entry = line.rstrip("\r\n")
            if entry.strip():
                self.add(entry, entry)

    def table(self, path: Path) -> None:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            columns = reader.fieldnames or []
            column = self._pick(columns, path, "--column")
            for number, row in enumerate(reader, start=2):
                value = row.get(column)
                if value is not None and value.strip():
                    self.add(value, value, row, f"{path}:{number}")

    def jsonl(self, path: Path) -> None:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CliError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
                where = f"{path}:{number}"
                if isinstance(record, str):
                    self.add(record, record, None, where)
                    continue
                if not isinstance(record, dict):
                    raise CliError(f"{where}: expected a JSON object or string, got {type(record).__name__}")
                field_name = self._pick(list(record), path, "--field")
                if field_name not in record:
                    raise CliError(f"{where}: no field {field_name!r} (fields: {', '.join(record)})")
                value = record[field_name]
                if value not in (None, ""):
                    self.add(value, value if isinstance(value, str) else f"{where}", record, where)

    def _pick(self, names: list[str], path: Path, flag: str) -> str:
        if self.column:
            if names and self.column not in names and flag == "--column":
                raise CliError(f"{path}: no column {self.column!r} (columns: {', '.join(names)})")
            return self.column
        if len(names) == 1:
            return names[0]
        raise CliError(f"{path} has several columns ({', '.join(names)}); choose the inputs with {flag} NAME")


def _note(source: str, error: str, message: str) -> dict:
    return {"id": source, "index": None, "source": source, "error": error, "message": message}


def collect_inputs(arguments: list[str], *, column: str | None = None, ids_from: str = "source",
                   input_type: str = "auto", stdin=None) -> Collected:
    """Expand the INPUTS arguments into items, in order (see the module docstring for the rules)."""
    collector = _Collector(column, ids_from, input_type)
    if arguments.count("-") > 1:
        raise CliError("'-' (stdin) may be given only once")
    for argument in arguments:
        path = Path(argument)
        if argument == "-":
            collector.lines(iter(stdin or sys.stdin))
        elif path.is_dir():
            collector.folder(path)
        elif path.suffix.lower() in LIST_SUFFIXES:
            if not path.is_file():
                raise CliError(f"input list {argument!r} does not exist")
            try:
                if path.suffix.lower() in (".csv", ".tsv"):
                    collector.table(path)
                elif path.suffix.lower() == ".txt":
                    with open(path, encoding="utf-8-sig") as handle:
                        collector.lines(handle)
                else:
                    collector.jsonl(path)
            except (OSError, UnicodeDecodeError) as exc:
                raise CliError(f"cannot read input list {argument!r}: {exc}") from exc
        else:
            collector.add(path if path.is_file() else argument, argument)
    return collector.out


def raise_for_missing_files(collected: Collected) -> None:
    """Raise the resolver's own error for the first input that names a local file that does not exist.

    Run before the model loads under ``--on-error raise``, so a mistyped path is answered at once
    (the same typed error, naming the input's position, that encoding would raise later).
    """
    from ..resolvers import resolve
    from ..resolvers.strings import is_location
    from ..sources.base import scheme_of
    from ..types import ResolveContext

    for index, item in enumerate(collected.items):
        value = item.value
        if getattr(value, "modality", "text") != "text" and isinstance(getattr(value, "value", None), str):
            value = value.value  # --input-type image|audio|video: the string is a location
        elif not (isinstance(value, str) and is_location(value)):
            continue
        if scheme_of(value) in (None, "file") and not value.startswith("data:") and not _local_exists(value):
            resolve(item.value, ResolveContext(), index, materialize=False)  # raises FetchError: no such file


def _local_exists(location: str) -> bool:
    path = location[len("file://"):] if location.startswith("file://") else location
    return os.path.exists(os.path.expanduser(path))
