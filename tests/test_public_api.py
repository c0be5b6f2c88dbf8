"""The flat public API: every name in __all__ exists, and the public names users need are exported."""

from __future__ import annotations

import importlib
import inspect
import re
import types
from pathlib import Path

import st_multimodal

ROOT = Path(__file__).resolve().parent.parent
_DIRECTIVE = re.compile(r"^::: (st_multimodal[\w.]*)\n((?:    .*\n)*)", re.MULTILINE)
_MEMBERS = re.compile(r"^\s+members: \[([^\]]*)\]", re.MULTILINE)
_IMPORT = re.compile(r"^\s*from (st_multimodal[\w.]*) import (\([^)]*\)|[^\n#]+)", re.MULTILINE)


def api_reference_entries() -> list[tuple[str, list[str]]]:
    """``(dotted path, members)`` for every ``::: path`` directive of docs/api.md."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    entries = []
    for match in _DIRECTIVE.finditer(text):
        members = _MEMBERS.search(match.group(2))
        entries.append((match.group(1), [m.strip() for m in members.group(1).split(",")] if members else []))
    return entries


def import_path(path: str):
    """The object at a dotted path (a module, or attributes below the longest importable module), or None."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return None
            target = getattr(target, attribute)
        return target
    return None


def doc_imports() -> list[tuple[str, str, str]]:
    """``(file, module, name)`` for every ``from st_multimodal... import ...`` in the README and docs/."""
    found = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for match in _IMPORT.finditer(page.read_text(encoding="utf-8")):
            names = match.group(2).strip("() \n").replace("\n", " ")
            for name in filter(None, (n.strip().split(" as ")[0] for n in names.split(","))):
                found.append((page.name, match.group(1), name))
    return found


class TestPublicApi:
    def test_all_names_exist(self):
        missing = [name for name in st_multimodal.__all__ if not hasattr(st_multimodal, name)]
        assert missing == []

    def test_no_duplicates_in_all(self):
        assert len(st_multimodal.__all__) == len(set(st_multimodal.__all__))

    def test_exports_what_the_api_reference_lists(self):
        listed = api_reference_entries()
        assert len(listed) > 40  # the page was read
        problems = []
        for path, members in listed:
            target = import_path(path)
            if target is None:
                problems.append(f"{path}: not importable")
                continue
            name = path.split(".")[1]
            if path.count(".") == 1 and not inspect.ismodule(target) and name not in st_multimodal.__all__:
                problems.append(f"{path}: not in st_multimodal.__all__ (the page says it imports from st_multimodal)")
            problems += [f"{path}.{m}: missing" for m in members if not hasattr(target, m)]
        assert problems == []

    def test_every_import_in_the_docs_works(self):
        imports = doc_imports()
        assert len(imports) > 30
        problems = [f"{where}: from {module} import {name}" for where, module, name in imports
                    if import_path(f"{module}.{name}") is None]
        assert problems == []

    def test_every_error_derives_from_the_base(self):
        errors = [getattr(st_multimodal, n) for n in st_multimodal.__all__ if n.endswith("Error") and n not in
                  ("RegistryError", "DuplicateIdError", "ModelMismatchError", "WrongModelClassError",
                   "SelfCheckError", "EmbeddingDriftError", "IncompatibleReferenceError")]
        assert errors and all(issubclass(e, st_multimodal.MultimodalInputError) for e in errors)

    def test_errors_survive_pickling_with_their_fields(self):
        import pickle

        error = st_multimodal.LimitExceededError("too big", limit_name="max_bytes", limit=10, actual=20, index=3, source="x")
        again = pickle.loads(pickle.dumps(error))
        assert (again.index, again.source, again.limit, again.actual, str(again)) == (3, "x", 10, 20, str(error))
        missing = st_multimodal.MissingDependencyError("needs ray", package="ray", extra="ray")
        assert str(pickle.loads(pickle.dumps(pickle.loads(pickle.dumps(missing))))) == str(missing)
        assert str(missing).count("pip install") == 1
        fetch = pickle.loads(pickle.dumps(st_multimodal.FetchError("nope", status=404, index=1)))
        assert fetch.status == 404 and fetch.transient is False and fetch.index == 1


def test_no_public_name_is_shadowed_by_a_submodule_or_data_folder():
    """``import st_multimodal.<x>`` sets the package attribute ``x`` to that module: a public function must not
    share its name with a subpackage or a data folder (the demo model's folder once shadowed ``demo_model``)."""
    import importlib.util

    import st_multimodal as stm

    clashes = []
    for name in stm.__all__:
        if importlib.util.find_spec(f"st_multimodal.{name}") is None:
            continue
        value = getattr(stm, name)
        if not isinstance(value, types.ModuleType):
            clashes.append(name)
    assert clashes == []
    import st_multimodal.demo.bundled_model  # noqa: F401 - a data folder, importable as a namespace package
    assert callable(stm.demo_model)
