"""Offline model zoo: tiny random-weight models that load in upstream Sentence Transformers.

Nothing here reaches a model hub. Each builder writes a complete model folder from configs, with
weights drawn from ``seed`` and a tokenizer trained on the spot (see
:mod:`st_multimodal.testing.tokenizers`), and returns the folder. The same seed gives byte-identical
weights. Building all five tiny models takes about a second once ``transformers`` is imported
(the imports themselves take 6-15 s); the ViT-B/32-sized CLIP (500 MB of weights) takes 3-8 s.

=====================  =======================================  ==================================
kind                   loads with                               modalities
=====================  =======================================  ==================================
``clip``               ``SentenceTransformer(folder)``          text, image
``clip-vit-b-32``      ``SentenceTransformer(folder)``          text, image (ViT-B/32-sized)
``siglip``             ``SentenceTransformer(folder)``          text, image
``clap``               ``SentenceTransformer(folder)``          text, audio (48 kHz, up to 2 s)
``qwen3vl-embedding``  ``SentenceTransformer(folder)``          text, image, video, message
``qwen3vl-reranker``   ``CrossEncoder(folder)``                 text, image, video, message
``colqwen``            ``MultiVectorEncoder(folder)``           text, image, video, message
=====================  =======================================  ==================================

Full-size kinds (:data:`FULL_SIZE_KINDS`: CLIP ViT-L/14-336, SigLIP so400m-384, CLAP htsat-unfused,
Qwen3-VL-2B-sized embedder and reranker) have the published shapes and processor settings with random
weights; see :mod:`st_multimodal.testing.full_size`. They take seconds to minutes to build.

Import this module explicitly (``from st_multimodal.testing import zoo``): it imports ``torch`` and
``transformers``, which ``st_multimodal.testing`` itself does not.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import torch

from st_multimodal.testing import tokenizers as _tok

__all__ = [
    "CLAP_MAX_LENGTH_S",
    "CLAP_SAMPLING_RATE",
    "FULL_SIZE_KINDS",
    "KINDS",
    "ZOO_VERSION",
    "build_clap",
    "build_clip",
    "build_colqwen",
    "build_model",
    "build_qwen3vl_embedding",
    "build_qwen3vl_reranker",
    "build_siglip",
    "cached_model",
]

ZOO_VERSION = "1"
"""Bumped whenever a builder changes what it writes, so stale cached folders are never reused."""

CLAP_SAMPLING_RATE = 48_000
CLAP_MAX_LENGTH_S = 2
"""CLAP audio: real 48 kHz input, cut to at most 2 s (the real model takes 10 s)."""

QWEN_QUERY_PROMPT = "Retrieve images or text relevant to the user's query."
QWEN_DOCUMENT_PROMPT = "Represent the user's input."
COLQWEN_QUERY_PROMPT = "Find the document page that answers the query."
COLQWEN_DOCUMENT_PROMPT = "Represent the document page."
COLQWEN_DIM = 16
QWEN_RERANK_INSTRUCTION = "Given a search query, retrieve relevant candidates that answer the query."
_QWEN_RERANK_SYSTEM = (
    'Judge whether the Document meets the requirements based on the Query and the Instruct provided. '
    'Note that the answer can only be "yes" or "no".'
)


# Random layers initialised at the usual scale give near-identical outputs for any input (cosine
# above 0.98), which would hide bugs; these factors spread the tiny models' outputs apart.
_CLIP_INIT_FACTOR = 5.0
_CLAP_INIT_FACTOR = 10.0
_QWEN_INIT_RANGE = 0.2


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch for the block without disturbing the caller's random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _fresh_dir(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------------------------- CLIP
def _clip_config(tokenizer, size: str):
    from transformers import CLIPConfig

    if size == "tiny":
        text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)
        vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)
        projection = 16
    elif size == "vit-b-32":
        text = dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8)
        vision = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12)
        projection = 512
    else:
        raise ValueError(f"Unknown CLIP size {size!r}; expected 'tiny' or 'vit-b-32'.")
    factor = {"initializer_factor": _CLIP_INIT_FACTOR}  # read from the sub-configs as well as the top one
    specials = dict(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    return CLIPConfig(
        text_config=dict(text, vocab_size=len(tokenizer), max_position_embeddings=77, **specials, **factor),
        vision_config=dict(vision, image_size=224, patch_size=32, **factor),
        projection_dim=projection,
        **factor,
    )


def build_clip(path: str | os.PathLike[str], *, seed: int = 0, size: Literal["tiny", "vit-b-32"] = "tiny") -> Path:
    """Build a random ``CLIPModel`` (text + image) with a freshly trained CLIP tokenizer.

    ``size="tiny"``: width 32, 2 layers, 4 heads, patch 32 on 224 px, projection 16 (0.7 MB).
    ``size="vit-b-32"``: ViT-B/32 shapes (vision 768 x 12, text 512 x 12, projection 512) for speed
    measurements; only the text vocabulary is small. No ``modules.json``: upstream infers one
    ``Transformer`` module using ``get_text_features`` / ``get_image_features``.
    """
    from transformers import CLIPImageProcessor, CLIPModel, CLIPProcessor

    path = _fresh_dir(path)
    tokenizer = _tok.clip_tokenizer()
    with _seeded(seed):
        model = CLIPModel(_clip_config(tokenizer, size))
    model.save_pretrained(path)
    CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=tokenizer).save_pretrained(path)
    return path


# ------------------------------------------------------------------------------------------- SigLIP
def build_siglip(path: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Build a random ``SiglipModel`` (text + image), 64 px images with patch 16, width 32.

    SigLIP's real tokenizer needs ``sentencepiece``; a generic fast tokenizer stands in for it.
    """
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipProcessor

    path = _fresh_dir(path)
    tokenizer = _tok.siglip_tokenizer()
    layers = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)
    config = SiglipConfig(
        text_config=dict(
            layers,
            vocab_size=len(tokenizer),
            max_position_embeddings=64,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=None,
            eos_token_id=tokenizer.eos_token_id,
            projection_size=32,
        ),
        vision_config=dict(layers, image_size=64, patch_size=16),
        initializer_factor=1.0,
    )
    with _seeded(seed):
        model = SiglipModel(config)
    model.save_pretrained(path)
    image_processor = SiglipImageProcessor(size={"height": 64, "width": 64})
    SiglipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(path)
    _patch_json(path / "tokenizer_config.json", tokenizer_class="TokenizersBackend")
    return path


# --------------------------------------------------------------------------------------------- CLAP
def build_clap(path: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Build a random ``ClapModel`` (text + audio) without fusion.

    Audio: 48 kHz (CLAP's real rate), at most ``CLAP_MAX_LENGTH_S`` = 2 s, 16 mel bins, hop 480.
    ``truncation="rand_trunc"`` is required for an unfused model (the default "fusion" makes 4-channel
    mels). Note the upstream quirk: clips longer than 2 s are cropped at a random offset, so only
    clips up to 2 s embed reproducibly.
    """
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

    path = _fresh_dir(path)
    tokenizer = _tok.clap_tokenizer()
    config = ClapConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=80,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            projection_hidden_size=32,
            initializer_factor=_CLAP_INIT_FACTOR,
        ),
        audio_config=dict(
            num_mel_bins=16,
            spec_size=64,
            window_size=4,
            patch_size=2,
            patch_stride=2,
            patch_embeds_hidden_size=16,
            hidden_size=32,
            depths=[1, 1],
            num_attention_heads=[2, 2],
            enable_fusion=False,
            initializer_factor=_CLAP_INIT_FACTOR,
        ),
        projection_dim=16,
        initializer_factor=_CLAP_INIT_FACTOR,
    )
    with _seeded(seed):
        model = ClapModel(config)
    model.save_pretrained(path)
    extractor = ClapFeatureExtractor(
        feature_size=16,
        sampling_rate=CLAP_SAMPLING_RATE,
        hop_length=480,
        max_length_s=CLAP_MAX_LENGTH_S,
        fft_window_size=1024,
        truncation="rand_trunc",
        padding="repeatpad",
    )
    ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(path)
    return path


def _patch_json(file: Path, *, drop: tuple[str, ...] = (), **updates: Any) -> None:
    data = json.loads(file.read_text(encoding="utf8"))
    for key in drop:
        data.pop(key, None)
    data.update(updates)
    file.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf8")


# ------------------------------------------------------------------------------------------ Qwen3-VL
def _jinja(text: str) -> str:
    """``text`` as a Jinja string literal (JSON escaping is valid Jinja), safe for quotes and apostrophes."""
    return json.dumps(text)


_RENDER_CONTENT = (
    "{%- macro render(content) -%}"
    "{%- if content is string -%}{{- content -}}"
    "{%- else -%}{%- for item in content -%}"
    "{%- if item.type == 'image' -%}{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif item.type == 'video' -%}{{- '<|vision_start|><|video_pad|><|vision_end|>' -}}"
    "{%- elif item.type == 'text' -%}{{- item.text -}}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{%- endmacro -%}"
)
_EMBEDDING_TEMPLATE = (
    _RENDER_CONTENT + "{%- if messages[0].role != 'system' -%}"
    "{{- '<|im_start|>system\\n' + " + _jinja(QWEN_DOCUMENT_PROMPT) + " + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message.role + '\\n' + render(message.content) + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
"""Qwen3-VL-Embedding style: the instruction is the system turn, "Represent the user's input." by default."""

_RERANKER_TEMPLATE = (
    _RENDER_CONTENT + "{%- set ns = namespace(instruction=" + _jinja(QWEN_RERANK_INSTRUCTION) + ") -%}"
    "{%- for message in messages if message.role == 'system' -%}"
    "{%- set ns.instruction = render(message.content) -%}"
    "{%- endfor -%}"
    "{{- '<|im_start|>system\\n' + " + _jinja(_QWEN_RERANK_SYSTEM) + " + '<|im_end|>\\n<|im_start|>user\\n' -}}"
    "{{- '<Instruct>: ' + ns.instruction -}}"
    "{%- for message in messages -%}"
    "{%- if message.role == 'query' -%}{{- '\\n<Query>:' + render(message.content) -}}"
    "{%- elif message.role == 'document' -%}{{- '\\n<Document>:' + render(message.content) -}}"
    "{%- elif message.role != 'system' -%}{{- '\\n' + render(message.content) -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' -}}{%- endif -%}"
)
"""Qwen3-VL-Reranker style: ``<Instruct>: ...\\n<Query>:...\\n<Document>:...``, answered by yes or no."""


def _qwen3vl_config(tokenizer):
    from transformers import Qwen3VLConfig

    def token_id(name: str) -> int:
        return tokenizer.convert_tokens_to_ids(f"<|{name}|>")

    return Qwen3VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=16,
            max_position_embeddings=2048,
            initializer_range=_QWEN_INIT_RANGE,
            rope_parameters={"rope_type": "default", "rope_theta": 5_000_000.0, "mrope_section": [4, 2, 2]},
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        ),
        vision_config=dict(
            depth=1,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            patch_size=16,
            spatial_merge_size=2,
            temporal_patch_size=2,
            out_hidden_size=32,
            num_position_embeddings=64,
            deepstack_visual_indexes=[0],
            initializer_range=_QWEN_INIT_RANGE,
        ),
        image_token_id=token_id("image_pad"),
        video_token_id=token_id("video_pad"),
        vision_start_token_id=token_id("vision_start"),
        vision_end_token_id=token_id("vision_end"),
        tie_word_embeddings=True,
    )


def _qwen3vl_processor(tokenizer, chat_template: str | dict[str, str]):
    """The real Qwen3-VL processing (patch 16, merge 2, temporal patch 2) with tiny pixel budgets.

    Images become 4 to 9 visual tokens (64 x 64 to 96 x 96 px); videos 2 to 8 frames at 2 fps.
    """
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    patches = dict(patch_size=16, merge_size=2, temporal_patch_size=2)
    image_processor = Qwen2VLImageProcessor(size={"shortest_edge": 64 * 64, "longest_edge": 96 * 96}, **patches)
    video_processor = Qwen3VLVideoProcessor(
        size={"shortest_edge": 2 * 32 * 32, "longest_edge": 8 * 64 * 64},
        min_frames=2,
        max_frames=8,
        fps=2,
        cap_pixels_per_frame=True,
        **patches,
    )
    return Qwen3VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=chat_template,
    )


def _save_st(model, path: Path, **tokenizer_updates: Any) -> Path:
    """Save a Sentence Transformers model without a model card (which would hold dates and versions).

    Loading the staged backbone left load-time flags (``local_files_only``...) in the tokenizer config;
    they are dropped so the folder reads like a published one.
    """
    model.save(str(path), create_model_card=False)
    _patch_json(path / "tokenizer_config.json", drop=("is_local", "local_files_only"), **tokenizer_updates)
    return path


@contextmanager
def _qwen3vl_feature_transformer(path: Path, seed: int) -> Iterator[Any]:
    """The tiny Qwen3-VL backbone (weights from ``seed``) as a feature-extraction ``Transformer`` module with
    the embedding chat template, staged in a temporary folder beside ``path`` for the duration."""
    from sentence_transformers.base.modules import Transformer
    from transformers import Qwen3VLModel

    tokenizer = _tok.qwen_tokenizer()
    with _seeded(seed):
        backbone = Qwen3VLModel(_qwen3vl_config(tokenizer))
    with tempfile.TemporaryDirectory(dir=path.parent) as staging:
        backbone.save_pretrained(staging)
        _qwen3vl_processor(tokenizer, _EMBEDDING_TEMPLATE).save_pretrained(staging)
        yield Transformer(
            staging,
            transformer_task="feature-extraction",
            processing_kwargs={"chat_template": {"add_generation_prompt": True}},
            unpad_inputs=False,
        )


def build_qwen3vl_embedding(path: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Build a Qwen3-VL-Embedding-style model: Transformer -> Pooling(lasttoken) -> Normalize.

    The chat template renders the prompt as the system turn and ends with the assistant header
    (``add_generation_prompt``); ``config_sentence_transformers.json`` holds distinct ``query`` and
    ``document`` prompts, so ``encode_query`` and ``encode_document`` differ. Modalities: text, image,
    video, message.
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

    path = _fresh_dir(path)
    with _qwen3vl_feature_transformer(path, seed) as transformer:
        modules = [transformer, Pooling(transformer.get_embedding_dimension(), "lasttoken"), Normalize()]
        prompts = {"query": QWEN_QUERY_PROMPT, "document": QWEN_DOCUMENT_PROMPT}
        model = SentenceTransformer(modules=modules, prompts=prompts, similarity_fn_name="cosine", device="cpu")
        return _save_st(model, path)


def build_qwen3vl_reranker(path: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Build a Qwen3-VL-Reranker-style CrossEncoder: Transformer(any-to-any) -> LogitScore(yes, no).

    The processor carries a default chat template and a named ``"reranker"`` one; the Transformer's
    ``processing_kwargs`` select the latter and set ``add_generation_prompt``. A prompt becomes the
    ``<Instruct>`` line. The score is ``logit(yes) - logit(no)`` at the last position (left padding),
    with an Identity activation. Loads with plain ``CrossEncoder(folder)``.
    """
    from sentence_transformers import CrossEncoder
    from sentence_transformers.cross_encoder.modules import LogitScore
    from sentence_transformers.sentence_transformer.modules import Transformer
    from transformers import Qwen3VLForConditionalGeneration

    path = _fresh_dir(path)
    tokenizer = _tok.qwen_tokenizer()
    tokenizer.padding_side = "left"
    with _seeded(seed):
        backbone = Qwen3VLForConditionalGeneration(_qwen3vl_config(tokenizer))
    templates = {"default": _EMBEDDING_TEMPLATE, "reranker": _RERANKER_TEMPLATE}
    with tempfile.TemporaryDirectory(dir=path.parent) as staging:
        backbone.save_pretrained(staging)
        _qwen3vl_processor(tokenizer, templates).save_pretrained(staging)
        transformer = Transformer(
            staging,
            transformer_task="any-to-any",
            processing_kwargs={"chat_template": {"chat_template": "reranker", "add_generation_prompt": True}},
            unpad_inputs=False,
        )
        yes, no = tokenizer.convert_tokens_to_ids(["yes", "no"])
        modules = [transformer, LogitScore(true_token_id=yes, false_token_id=no)]
        model = CrossEncoder(modules=modules, activation_fn=torch.nn.Identity(), device="cpu")
        return _save_st(model, path, padding_side="left")


def build_colqwen(path: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Build a ColQwen-style multi-vector model: Transformer -> Dense(token_embeddings) -> MultiVectorMask -> Normalize.

    Upstream's native ``MultiVectorEncoder`` layout (``modules.json``, ``model_type: MultiVectorEncoder``):
    the tiny Qwen3-VL backbone of ``qwen3vl-embedding`` gives one hidden state per token of the rendered
    chat (prompt, text or image patches), projected to ``COLQWEN_DIM`` = 16 and L2-normalised per token.
    Distinct ``query`` / ``document`` prompts, MaxSim similarity. Modalities: text, image, video, message.
    """
    from sentence_transformers import MultiVectorEncoder
    from sentence_transformers.base.modules import Dense, Normalize
    from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask

    path = _fresh_dir(path)
    with _qwen3vl_feature_transformer(path, seed) as transformer:
        with _seeded(seed + 1):
            projection = Dense(transformer.get_embedding_dimension(), COLQWEN_DIM, bias=False,
                               activation_function=torch.nn.Identity(), module_input_name="token_embeddings")
        modules = [transformer, projection, MultiVectorMask(), Normalize(module_input_name="token_embeddings")]
        prompts = {"query": COLQWEN_QUERY_PROMPT, "document": COLQWEN_DOCUMENT_PROMPT}
        model = MultiVectorEncoder(modules=modules, prompts=prompts, similarity_fn_name="maxsim", device="cpu")
        return _save_st(model, path)


# -------------------------------------------------------------------------------- dispatch and cache
_BUILDERS: dict[str, Callable[..., Path]] = {
    "clip": build_clip,
    "clip-vit-b-32": lambda path, **kw: build_clip(path, size="vit-b-32", **kw),
    "siglip": build_siglip,
    "clap": build_clap,
    "qwen3vl-embedding": build_qwen3vl_embedding,
    "qwen3vl-reranker": build_qwen3vl_reranker,
    "colqwen": build_colqwen,
}
KINDS: tuple[str, ...] = tuple(_BUILDERS)
"""Every kind :func:`build_model` and :func:`cached_model` accept."""


FULL_SIZE_KINDS: tuple[str, ...] = ("clip-vit-l-14-336", "siglip-so400m-384", "clap-htsat-unfused",
                                    "qwen3vl-2b-embedding", "qwen3vl-2b-reranker")
"""Full-size kinds (published shapes and processor settings, random weights; see
:mod:`st_multimodal.testing.full_size`): slow to build, never part of :data:`KINDS`."""


def _builder(kind: str) -> Callable[..., Path]:
    if kind in _BUILDERS:
        return _BUILDERS[kind]
    if kind in FULL_SIZE_KINDS:
        from st_multimodal.testing import full_size

        return lambda path, seed=0: full_size.build(kind, path, seed=seed)
    raise ValueError(f"Unknown zoo model kind {kind!r}; expected one of {', '.join(KINDS + FULL_SIZE_KINDS)}.")


def build_model(kind: str, path: str | os.PathLike[str], *, seed: int = 0, **kwargs: Any) -> Path:
    """Build the zoo model ``kind`` (one of :data:`KINDS` or :data:`FULL_SIZE_KINDS`) into ``path``; return the folder."""
    return _builder(kind)(path, seed=seed, **kwargs)


def cached_model(kind: str, root: str | os.PathLike[str] | None = None, seed: int = 0) -> Path:
    """Build ``kind`` once under ``root`` and reuse it afterwards; return the folder.

    ``root`` defaults to ``<tempdir>/st_multimodal_zoo``; the folder is named after the kind, the seed
    and :data:`ZOO_VERSION`. Each build goes to a private staging folder that is renamed into place
    in one step, so concurrent processes never see a half-written model: one rename wins and the
    others discard their copy.
    """
    _builder(kind)  # an unknown kind fails here
    root = Path(root) if root is not None else Path(tempfile.gettempdir()) / "st_multimodal_zoo"
    target = root / f"{kind}-seed{seed}-zoo{ZOO_VERSION}"
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
    try:
        built = build_model(kind, staging / "model", seed=seed)
        for file in built.rglob("*"):  # transformers writes weights 0600; let other users share the cache
            file.chmod(0o755 if file.is_dir() else 0o644)
        try:
            os.rename(built, target)
        except OSError:
            if not target.is_dir():  # not a lost race: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
