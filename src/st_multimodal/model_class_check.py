"""Refuse to load a model folder with the wrong class, before any weights are read.

``CrossEncoder(<embedding model>)`` would otherwise fail deep inside transformers, and
``SentenceTransformer(<reranker>)`` would load and return meaningless vectors. The model's own small
files decide: ``config_sentence_transformers.json`` (``model_type``), ``modules.json`` (a
``LogitScore`` or cross-encoder module, or pooling modules) and ``config.json`` (``architectures``,
``model_type``). Only clear evidence counts; a folder that says nothing either way loads as asked.
"""

from __future__ import annotations

from typing import Any, Literal

from .loading import _read_json

__all__ = ["WrongModelClassError", "check_model_class", "evidence_of_kind"]

Kind = Literal["embedder", "reranker", "multi-vector"]

_CLASS_OF_KIND = {"embedder": "SentenceTransformer", "reranker": "CrossEncoder", "multi-vector": "MultiVectorEncoder"}
_WRONG = {"embedder": ("reranker", "multi-vector"), "reranker": ("embedder", "multi-vector"), "multi-vector": ("reranker",)}
_DUAL_ENCODERS = frozenset({"clip", "siglip", "siglip2", "clap", "chinese_clip", "altclip", "align"})
"""config.json model types of two-tower embedding models: never a cross-encoder."""
_EMBEDDER_MODULES = ("Pooling", "Normalize", "Dense", "Router", "StaticEmbedding", "SpladePooling")


class WrongModelClassError(ValueError):
    """A model folder was loaded with a class made for another kind of model (an embedder as a reranker, ...).

    ``.expected`` is the kind the class loads, ``.found`` the kind the folder's files declare, and
    ``.use`` the class to load it with (``st_multimodal.load`` picks it too).
    """

    def __init__(self, name_or_path: str, *, expected: Kind, found: Kind, reason: str):
        self.name_or_path, self.expected, self.found, self.reason = name_or_path, expected, found, reason
        self.use = _CLASS_OF_KIND[found]
        super().__init__(
            f"{name_or_path!r} is {'an' if found == 'embedder' else 'a'} {found} model ({reason}), not {'an' if expected == 'embedder' else 'a'} "
            f"{expected}: load it with st_multimodal.{self.use}(...) or st_multimodal.load(...), "
            f"not {_CLASS_OF_KIND[expected]}"
        )

    def __reduce__(self):
        return (_rebuild, (self.name_or_path, self.expected, self.found, self.reason))


def _rebuild(name_or_path: str, expected: Kind, found: Kind, reason: str) -> WrongModelClassError:
    return WrongModelClassError(name_or_path, expected=expected, found=found, reason=reason)


def evidence_of_kind(name_or_path: str, **hub_kwargs: Any) -> tuple[Kind, str] | None:
    """The kind the model's own files declare and the file that says so, or None when they do not say."""
    st_config = _read_json(name_or_path, "config_sentence_transformers.json", **hub_kwargs) or {}
    model_type = str(st_config.get("model_type", "")) if isinstance(st_config, dict) else ""
    reason = f"config_sentence_transformers.json: model_type {model_type!r}"
    if model_type.lower() == "crossencoder":
        return "reranker", reason
    if model_type.lower() in ("multivectorencoder", "colbert"):
        return "multi-vector", reason
    if model_type.lower() in ("sentencetransformer", "sparseencoder"):
        return "embedder", reason
    modules = _read_json(name_or_path, "modules.json", **hub_kwargs) or []
    types = [str(m.get("type", "")) for m in modules if isinstance(m, dict)] if isinstance(modules, list) else []
    if any("LogitScore" in t or "cross_encoder" in t for t in types):
        return "reranker", "modules.json has a cross-encoder score module"
    if any("multi_vector" in t for t in types):
        return "multi-vector", "modules.json has a multi-vector module"
    if any(t.rsplit(".", 1)[-1] in _EMBEDDER_MODULES for t in types):
        return "embedder", "modules.json has pooling modules"
    if types:
        return None
    config = _read_json(name_or_path, "config.json", **hub_kwargs) or {}
    if not isinstance(config, dict):
        return None
    architectures = [str(a) for a in config.get("architectures") or []]
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        return "reranker", f"config.json: architectures {architectures}"
    if any(a.endswith("ForRetrieval") or a == "HF_ColBERT" for a in architectures):
        return "multi-vector", f"config.json: architectures {architectures}"
    if str(config.get("model_type", "")).lower() in _DUAL_ENCODERS:
        return "embedder", f"config.json: model_type {config['model_type']!r}, a two-tower embedding model"
    return None


def _kind_of_class(cls: type) -> Kind:
    names = {klass.__name__ for klass in cls.__mro__}
    if "CrossEncoder" in names:
        return "reranker"
    if "MultiVectorEncoder" in names:
        return "multi-vector"
    return "embedder"


def check_model_class(cls: type, name_or_path: Any, init_kwargs: dict[str, Any]) -> None:
    """Raise :class:`WrongModelClassError` when ``name_or_path``'s files declare a kind ``cls`` cannot load.

    Does nothing for explicit ``modules=``, for anything but a string path or name, or when the files are
    silent (or, for a hub name, not at hand).
    """
    if not isinstance(name_or_path, str) or init_kwargs.get("modules") is not None:
        return
    hub_kwargs = {k: init_kwargs[k] for k in ("revision", "token", "local_files_only") if init_kwargs.get(k) is not None}
    if init_kwargs.get("cache_folder"):
        hub_kwargs["cache_dir"] = init_kwargs["cache_folder"]
    found = evidence_of_kind(name_or_path, **hub_kwargs)
    expected = _kind_of_class(cls)
    if found is not None and found[0] in _WRONG[expected]:
        raise WrongModelClassError(name_or_path, expected=expected, found=found[0], reason=found[1])
