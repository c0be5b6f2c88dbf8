"""A griffe extension for the API reference: Sphinx roles in docstrings become mkdocstrings cross-references.

``:class:`~st_multimodal.SentenceTransformer``` (also ``:func:``, ``:meth:``, ``:data:``, ``:mod:``,
``:attr:``, ``:exc:``, ``:obj:``) is rendered as a link to that object's entry when the reference
documents it, and as plain code otherwise. A leading ``~`` shows only the last name, as in Sphinx.
Names without a module are resolved in the scope of the docstring's object. Loaded by mkdocs.yml.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|data|mod|attr|exc|obj):`(~?)([\w.]+)(?:\(\))?`")


def _full_name(obj: griffe.Object, name: str) -> str:
    """``name`` as a full path, resolved from ``obj``'s scope when it is a bare or partial name."""
    if name.startswith("st_multimodal") or name.startswith("sentence_transformers"):
        return name
    head, _, rest = name.partition(".")
    scope: griffe.Object | None = obj
    while scope is not None:
        try:
            resolved = scope.resolve(head)
        except (griffe.NameResolutionError, AttributeError, KeyError):
            resolved = None
        if resolved:
            return f"{resolved}.{rest}" if rest else resolved
        members = getattr(scope, "members", {})
        if head in members:
            return f"{members[head].path}.{rest}" if rest else members[head].path
        scope = scope.parent
    return name


def to_cross_references(obj: griffe.Object, text: str) -> str:
    def replace(match: re.Match) -> str:
        short, name = match.group(1), match.group(2)
        title = name.rsplit(".", 1)[-1] if short else name
        return f'<autoref identifier="{_full_name(obj, name)}" optional><code>{title}</code></autoref>'

    return _ROLE.sub(replace, text)


class SphinxRolesToCrossReferences(griffe.Extension):
    """Rewrites every docstring's roles once the whole package is loaded (so names resolve)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._walk(pkg, set())

    def _walk(self, obj: griffe.Object, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None and ":" in obj.docstring.value:
            obj.docstring.value = to_cross_references(obj, obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, seen)
