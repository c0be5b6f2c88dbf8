"""Sources: where the bytes of an input come from, chosen by URL scheme. Sources never decode.

Built-in schemes: ``file`` (and plain paths), ``http``/``https``, ``data``, and through fsspec
(optional) ``s3``, ``gs``/``gcs``, ``hf``, ``memory``, ``az``/``abfs``. Third parties add theirs
with :func:`register_source`.
"""

from __future__ import annotations

from .base import SOURCES, Source, fetch, register_source, scheme_of
from .http import HttpSource, fetch_many

__all__ = ["Source", "SOURCES", "register_source", "scheme_of", "fetch", "fetch_many", "HttpSource"]

_BUILTINS: tuple[tuple[str, str, str | None], ...] = (
    ("file", "st_multimodal.sources.file:FileSource", None),
    ("http", "st_multimodal.sources.http:DEFAULT_HTTP_SOURCE", None),
    ("https", "st_multimodal.sources.http:DEFAULT_HTTP_SOURCE", None),
    ("data", "st_multimodal.sources.data:DataSource", None),
    *(
        (scheme, "st_multimodal.sources.fsspec_source:FsspecSource", "fsspec")
        for scheme in ("s3", "gs", "gcs", "hf", "memory", "az", "abfs")
    ),
)

for _scheme, _entry, _extra in _BUILTINS:
    if _scheme not in SOURCES:
        register_source(_scheme, _entry, extra=_extra)
del _scheme, _entry, _extra
