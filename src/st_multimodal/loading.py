"""Deciding what a model folder is (embedder or reranker), and the device / dtype / resolution arguments."""

from __future__ import annotations

import json
import os
from typing import Any, Literal

import torch

__all__ = ["load", "model_kind", "model_init_kwargs", "auto_dtype", "resolve_model_name", "DEMO_MODEL"]

DEMO_MODEL = "demo"
"""The name of the demo model bundled with the package (``st_multimodal.demo_model_path()``)."""


def resolve_model_name(name_or_path: str) -> str:
    """``"demo"`` -> the bundled demo model's folder (unless a folder named ``demo`` exists here); others unchanged."""
    if name_or_path == DEMO_MODEL and not os.path.isdir(name_or_path):
        from .demo import demo_model_path

        return str(demo_model_path())
    return name_or_path

_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float16": torch.float16, "fp16": torch.float16}


def auto_dtype(device: str | torch.device | None) -> torch.dtype:
    """bf16 on a GPU that supports it, else fp16 on a GPU, fp32 on CPU/MPS."""
    device = torch.device(device) if device is not None else None
    on_cuda = (device is None and torch.cuda.is_available()) or (device is not None and device.type == "cuda")
    if on_cuda:
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def model_init_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Translate our one-argument knobs (``dtype``, ``image_size``, ``min_pixels``, ``max_pixels``) into upstream's kwargs."""
    kwargs = dict(kwargs)
    dtype = kwargs.pop("dtype", "auto")
    model_kwargs = dict(kwargs.pop("model_kwargs", None) or {})
    if "dtype" not in model_kwargs and "torch_dtype" not in model_kwargs:
        resolved = auto_dtype(kwargs.get("device")) if dtype in (None, "auto") else _DTYPES.get(dtype, dtype)
        if not isinstance(resolved, torch.dtype):
            raise ValueError(f"dtype must be 'auto', a torch.dtype or one of {sorted(_DTYPES)}, got {dtype!r}")
        if resolved != torch.float32:
            model_kwargs["dtype"] = resolved
    if model_kwargs:
        kwargs["model_kwargs"] = model_kwargs
    processor_kwargs = dict(kwargs.pop("processor_kwargs", None) or {})
    image_size = kwargs.pop("image_size", None)
    if image_size is not None:
        height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
        processor_kwargs.setdefault("size", {"height": height, "width": width})
        processor_kwargs.setdefault("crop_size", {"height": height, "width": width})
    for key in ("min_pixels", "max_pixels"):
        if kwargs.get(key) is not None:
            processor_kwargs[key] = kwargs.pop(key)
        kwargs.pop(key, None)
    if processor_kwargs:
        kwargs["processor_kwargs"] = processor_kwargs
    return kwargs


def _read_json(name_or_path: str, filename: str, **hub_kwargs: Any) -> dict | list | None:
    if os.path.isdir(name_or_path):
        path = os.path.join(name_or_path, filename)
        if not os.path.isfile(path):
            return None
    else:
        try:
            from huggingface_hub import hf_hub_download

            path = hf_hub_download(name_or_path, filename, **hub_kwargs)
        except Exception:  # noqa: BLE001 - missing file, offline, unknown repo: the caller decides
            return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


ModelKind = Literal["embedder", "reranker", "multi-vector"]


def model_kind(name_or_path: str, **hub_kwargs: Any) -> ModelKind:
    """Decide from the model's own files: ST config, modules, architectures, LogitScore or a classification head.

    ``"multi-vector"``: a late-interaction model (ColBERT, ColPali/ColQwen: ``*ForRetrieval``) for ``MultiVectorEncoder``.
    """
    name_or_path = resolve_model_name(name_or_path)
    st_config = _read_json(name_or_path, "config_sentence_transformers.json", **hub_kwargs) or {}
    model_type = str(st_config.get("model_type", "")).lower()
    if model_type == "crossencoder":
        return "reranker"
    if model_type in ("multivectorencoder", "colbert"):
        return "multi-vector"
    if model_type in ("sentencetransformer", "sparseencoder"):
        return "embedder"
    modules = _read_json(name_or_path, "modules.json", **hub_kwargs) or []
    module_types = " ".join(str(m.get("type", "")) for m in modules if isinstance(m, dict))
    if "LogitScore" in module_types or "cross_encoder" in module_types:
        return "reranker"
    if modules:
        return "embedder"
    config = _read_json(name_or_path, "config.json", **hub_kwargs) or {}
    architectures = config.get("architectures") or []
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        return "reranker"
    if any(a.endswith("ForRetrieval") or a == "HF_ColBERT" for a in architectures):
        return "multi-vector"
    return "embedder"


def load(name_or_path: str, **kwargs: Any):
    """Load ``name_or_path`` as the right class: ``SentenceTransformer`` for embedders, ``CrossEncoder`` for rerankers,
    ``MultiVectorEncoder`` for multi-vector (late-interaction) models.

    ``"demo"`` names the small demo model bundled with the package (it knows only coloured shapes).
    All keyword arguments go to that class (``device``, ``dtype``, ``image_size``, ``fetch_policy``, ...).
    """
    name_or_path = resolve_model_name(name_or_path)
    from .models import CrossEncoder, SentenceTransformer
    from .multivector import MultiVectorEncoder

    hub_kwargs = {k: kwargs[k] for k in ("revision", "token", "cache_folder") if k in kwargs}
    if "cache_folder" in hub_kwargs:
        hub_kwargs["cache_dir"] = hub_kwargs.pop("cache_folder")
    classes = {"reranker": CrossEncoder, "multi-vector": MultiVectorEncoder}
    cls = classes.get(model_kind(name_or_path, **hub_kwargs), SentenceTransformer)
    return cls(name_or_path, **kwargs)


_GENERATIVE_VLM_SUFFIXES = ("ForConditionalGeneration", "ForImageTextToText", "ForVision2Seq", "ForCausalLM")


def assemble_reranker_modules(path: str, *, model_kwargs: dict | None = None, processor_kwargs: dict | None = None) -> list | None:
    """Modules for a generative (V)LM folder that has no Sentence Transformers files: Transformer + LogitScore.

    The score is logit("yes") - logit("no") at the last position, as VLM rerankers are trained.
    Returns None when the folder already describes its modules or is not a generative model.
    """
    if not os.path.isdir(path) or os.path.isfile(os.path.join(path, "modules.json")):
        return None
    architectures = (_read_json(path, "config.json") or {}).get("architectures") or []
    if not any(a.endswith(_GENERATIVE_VLM_SUFFIXES) for a in architectures):
        return None
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.cross_encoder.modules.logit_score import LogitScore

    transformer = Transformer(path, transformer_task="any-to-any", model_kwargs=model_kwargs, processor_kwargs=processor_kwargs)
    tokenizer = getattr(transformer.processor, "tokenizer", transformer.processor)
    yes, no = (_single_token_id(tokenizer, word) for word in ("yes", "no"))
    return [transformer, LogitScore(true_token_id=yes, false_token_id=no)]


def _single_token_id(tokenizer, word: str) -> int:
    ids = tokenizer.encode(word, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(f"cannot assemble a yes/no reranker: {word!r} is {len(ids)} tokens for this tokenizer, not 1")
    return ids[0]
