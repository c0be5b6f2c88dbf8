"""Full-size model configurations, offline: the published architecture and processor settings, random weights.

Each entry types in the values of a published checkpoint's ``config.json`` and processor configuration
(facts, not downloads), so speed and memory can be measured on the real shapes and the real
preprocessing without a model hub:

===========================  =============================================  =========================
kind                         published checkpoint                           parameters (about)
===========================  =============================================  =========================
``clip-vit-l-14-336``        ``openai/clip-vit-large-patch14-336``          430 M
``siglip-so400m-384``        ``google/siglip-so400m-patch14-384``           880 M
``clap-htsat-unfused``       ``laion/clap-htsat-unfused``                   150 M
``qwen3vl-2b-embedding``     ``Qwen/Qwen3-VL-Embedding-2B`` (Qwen3-VL-2B)    2.1 B
``qwen3vl-2b-reranker``      ``Qwen/Qwen3-VL-Reranker-2B`` (Qwen3-VL-2B)     2.1 B
===========================  =============================================  =========================

Only the tokenizers are stand-ins (trained on the spot, see :mod:`st_multimodal.testing.tokenizers`);
the vocabulary sizes, and so the embedding tables, are the published ones. :func:`processor` builds just
the preprocessing with the real settings (instant, no weights); :func:`build` writes a whole model folder
(seconds to minutes, 0.6 to 8.5 GB of float32 weights), so it is never part of the default test run.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from st_multimodal.testing import tokenizers as _tok

__all__ = ["FULL_SIZE_KINDS", "PUBLISHED", "build", "processor"]

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
BICUBIC = 3
"""``PIL.Image.Resampling.BICUBIC``, as stored in the processors' ``resample``."""

PUBLISHED: dict[str, dict[str, Any]] = {
    "clip-vit-l-14-336": {
        "checkpoint": "openai/clip-vit-large-patch14-336",
        "text_config": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                            max_position_embeddings=77, vocab_size=49408),
        "vision_config": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                              image_size=336, patch_size=14),
        "projection_dim": 768,
        "image_processor": dict(do_resize=True, size={"shortest_edge": 336}, resample=BICUBIC, do_center_crop=True,
                                crop_size={"height": 336, "width": 336}, do_rescale=True, rescale_factor=1 / 255,
                                do_normalize=True, image_mean=OPENAI_CLIP_MEAN, image_std=OPENAI_CLIP_STD,
                                do_convert_rgb=True),
    },
    "siglip-so400m-384": {
        "checkpoint": "google/siglip-so400m-patch14-384",
        "text_config": dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
                            max_position_embeddings=64, vocab_size=32000),
        "vision_config": dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
                              image_size=384, patch_size=14),
        "image_processor": dict(do_resize=True, size={"height": 384, "width": 384}, resample=BICUBIC, do_rescale=True,
                                rescale_factor=1 / 255, do_normalize=True, image_mean=[0.5, 0.5, 0.5],
                                image_std=[0.5, 0.5, 0.5]),
    },
    "clap-htsat-unfused": {
        "checkpoint": "laion/clap-htsat-unfused",
        "text_config": dict(vocab_size=50265, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                            num_attention_heads=12, max_position_embeddings=514, projection_dim=512),
        "audio_config": dict(num_mel_bins=64, spec_size=256, window_size=8, patch_size=4, patch_stride=[4, 4],
                             patch_embeds_hidden_size=96, hidden_size=768, depths=[2, 2, 6, 2],
                             num_attention_heads=[4, 8, 16, 32], enable_fusion=False, projection_dim=512),
        "projection_dim": 512,
        "feature_extractor": dict(feature_size=64, sampling_rate=48_000, hop_length=480, max_length_s=10,
                                  fft_window_size=1024, frequency_min=50, frequency_max=14_000,
                                  truncation="rand_trunc", padding="repeatpad"),
    },
    "qwen3vl-2b": {
        "checkpoint": "Qwen/Qwen3-VL-2B-Instruct (the backbone of Qwen3-VL-Embedding-2B and Qwen3-VL-Reranker-2B)",
        "text_config": dict(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28, num_attention_heads=16,
                            num_key_value_heads=8, head_dim=128, vocab_size=151936, max_position_embeddings=262144,
                            rms_norm_eps=1e-6,
                            rope_parameters={"rope_type": "default", "rope_theta": 5_000_000.0,
                                             "mrope_section": [24, 20, 20], "mrope_interleaved": True}),
        "vision_config": dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16, out_hidden_size=2048,
                              patch_size=16, spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=2304,
                              deepstack_visual_indexes=[5, 11, 17]),
        "image_processor": dict(size={"shortest_edge": 65_536, "longest_edge": 16_777_216}, patch_size=16,
                                merge_size=2, temporal_patch_size=2, image_mean=[0.5, 0.5, 0.5],
                                image_std=[0.5, 0.5, 0.5]),
        "video_processor": dict(size={"shortest_edge": 4096, "longest_edge": 25_165_824}, patch_size=16, merge_size=2,
                                temporal_patch_size=2, fps=2, min_frames=4, max_frames=768,
                                image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5]),
    },
}
"""Published configuration values, by family (the two Qwen3-VL kinds share ``qwen3vl-2b``)."""

from st_multimodal.testing.zoo import FULL_SIZE_KINDS  # noqa: E402 - one list, kept by the zoo


def _family(kind: str) -> str:
    if kind not in FULL_SIZE_KINDS:
        raise ValueError(f"Unknown full-size kind {kind!r}; expected one of {', '.join(FULL_SIZE_KINDS)}.")
    return "qwen3vl-2b" if kind.startswith("qwen3vl-2b") else kind


# ---------------------------------------------------------------------------------------- processors
def image_processor(kind: str) -> Any:
    """The image processor with the published settings (None for CLAP, which takes audio)."""
    facts = PUBLISHED[_family(kind)]
    if kind == "clip-vit-l-14-336":
        from transformers import CLIPImageProcessor

        return CLIPImageProcessor(**facts["image_processor"])
    if kind == "siglip-so400m-384":
        from transformers import SiglipImageProcessor

        return SiglipImageProcessor(**facts["image_processor"])
    if kind.startswith("qwen3vl-2b"):
        from transformers import Qwen2VLImageProcessor

        return Qwen2VLImageProcessor(**facts["image_processor"])
    return None


def processor(kind: str, chat_template: Any = None) -> Any:
    """The whole processor (image or audio part with the published settings, a stand-in tokenizer)."""
    facts = PUBLISHED[_family(kind)]
    if kind == "clip-vit-l-14-336":
        from transformers import CLIPProcessor

        return CLIPProcessor(image_processor=image_processor(kind), tokenizer=_tok.clip_tokenizer())
    if kind == "siglip-so400m-384":
        from transformers import SiglipProcessor

        return SiglipProcessor(image_processor=image_processor(kind), tokenizer=_tok.siglip_tokenizer())
    if kind == "clap-htsat-unfused":
        from transformers import ClapFeatureExtractor, ClapProcessor

        return ClapProcessor(feature_extractor=ClapFeatureExtractor(**facts["feature_extractor"]),
                             tokenizer=_tok.clap_tokenizer())
    from transformers import Qwen3VLProcessor, Qwen3VLVideoProcessor

    from st_multimodal.testing import zoo

    tokenizer = _tok.qwen_tokenizer()
    if kind == "qwen3vl-2b-reranker":
        tokenizer.padding_side = "left"
    template = chat_template or (zoo._EMBEDDING_TEMPLATE if kind == "qwen3vl-2b-embedding"
                                 else {"default": zoo._EMBEDDING_TEMPLATE, "reranker": zoo._RERANKER_TEMPLATE})
    return Qwen3VLProcessor(image_processor=image_processor(kind), tokenizer=tokenizer,
                            video_processor=Qwen3VLVideoProcessor(**facts["video_processor"]), chat_template=template)


# ------------------------------------------------------------------------------------------- models
def _config(kind: str, tokenizer: Any) -> Any:
    facts = PUBLISHED[_family(kind)]
    if kind == "clip-vit-l-14-336":
        from transformers import CLIPConfig

        specials = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id)
        return CLIPConfig(text_config=dict(facts["text_config"], **specials), vision_config=facts["vision_config"],
                          projection_dim=facts["projection_dim"])
    if kind == "siglip-so400m-384":
        from transformers import SiglipConfig

        text = dict(facts["text_config"], pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
                    eos_token_id=tokenizer.eos_token_id)
        return SiglipConfig(text_config=text, vision_config=facts["vision_config"])
    if kind == "clap-htsat-unfused":
        from transformers import ClapConfig

        text = dict(facts["text_config"], pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                    eos_token_id=tokenizer.eos_token_id)
        return ClapConfig(text_config=text, audio_config=facts["audio_config"], projection_dim=facts["projection_dim"])
    from transformers import Qwen3VLConfig

    def token_id(name: str) -> int:
        return tokenizer.convert_tokens_to_ids(f"<|{name}|>")

    return Qwen3VLConfig(
        text_config=dict(facts["text_config"], pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id),
        vision_config=facts["vision_config"],
        image_token_id=token_id("image_pad"), video_token_id=token_id("video_pad"),
        vision_start_token_id=token_id("vision_start"), vision_end_token_id=token_id("vision_end"),
        tie_word_embeddings=True,
    )


def build(kind: str, path: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Write a full-size random-weight model folder for ``kind`` (loads like the published model) and return it."""
    from st_multimodal.testing import zoo

    family = _family(kind)
    path = zoo._fresh_dir(path)
    if family == "qwen3vl-2b":
        return _build_qwen(kind, path, seed)
    proc = processor(kind)
    tokenizer = proc.tokenizer
    model_class = {"clip-vit-l-14-336": "CLIPModel", "siglip-so400m-384": "SiglipModel",
                   "clap-htsat-unfused": "ClapModel"}[kind]
    import transformers

    with zoo._seeded(seed):
        model = getattr(transformers, model_class)(_config(kind, tokenizer))
    model.save_pretrained(path)
    proc.save_pretrained(path)
    if kind == "siglip-so400m-384":
        zoo._patch_json(path / "tokenizer_config.json", tokenizer_class="TokenizersBackend")
    return path


def _build_qwen(kind: str, path: Path, seed: int) -> Path:
    from sentence_transformers import CrossEncoder, SentenceTransformer
    from sentence_transformers.cross_encoder.modules import LogitScore
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import Qwen3VLForConditionalGeneration, Qwen3VLModel

    from st_multimodal.testing import zoo

    reranker = kind == "qwen3vl-2b-reranker"
    proc = processor(kind)
    with zoo._seeded(seed):
        backbone = (Qwen3VLForConditionalGeneration if reranker else Qwen3VLModel)(_config(kind, proc.tokenizer))
    with tempfile.TemporaryDirectory(dir=path.parent) as staging:
        backbone.save_pretrained(staging)
        del backbone
        proc.save_pretrained(staging)
        if reranker:
            transformer = Transformer(staging, transformer_task="any-to-any", unpad_inputs=False,
                                      processing_kwargs={"chat_template": {"chat_template": "reranker",
                                                                           "add_generation_prompt": True}})
            yes, no = proc.tokenizer.convert_tokens_to_ids(["yes", "no"])
            model = CrossEncoder(modules=[transformer, LogitScore(true_token_id=yes, false_token_id=no)],
                                 activation_fn=torch.nn.Identity(), device="cpu")
            return zoo._save_st(model, path, padding_side="left")
        transformer = Transformer(staging, transformer_task="feature-extraction", unpad_inputs=False,
                                  processing_kwargs={"chat_template": {"add_generation_prompt": True}})
        modules = [transformer, Pooling(transformer.get_embedding_dimension(), "lasttoken"), Normalize()]
        prompts = {"query": zoo.QWEN_QUERY_PROMPT, "document": zoo.QWEN_DOCUMENT_PROMPT}
        model = SentenceTransformer(modules=modules, prompts=prompts, similarity_fn_name="cosine", device="cpu")
        return zoo._save_st(model, path)
