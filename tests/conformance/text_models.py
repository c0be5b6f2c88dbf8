"""Tiny classic text models built offline for the conformance suite: BERT embedder, StaticEmbedding, Router,
and BERT sequence-classification cross-encoders (1 and 3 labels). Tokenizers are trained on the spot."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

from st_multimodal.testing.tokenizers import CORPUS

__all__ = ["build_bert_embedder", "build_bert_cross_encoder", "build_static", "build_router", "wordpiece_tokenizer"]

_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def wordpiece_tokenizer(vocab_size: int = 400) -> Tokenizer:
    """A BERT-style WordPiece tokenizer trained on the zoo corpus (deterministic)."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=_SPECIALS, show_progress=False)
    tokenizer.train_from_iterator(list(CORPUS), trainer=trainer)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return tokenizer


def _hf_tokenizer():
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=wordpiece_tokenizer(), unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=128,
    )


def _bert_config(vocab_size: int, **extra):
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=64, max_position_embeddings=128, initializer_range=0.2, **extra)


def _save_hf(model, tokenizer, path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    config = path / "tokenizer_config.json"
    data = json.loads(config.read_text())
    data["tokenizer_class"] = "TokenizersBackend"
    config.write_text(json.dumps(data))
    return path


def build_bert_embedder(path: Path, *, prompts: dict[str, str] | None = None) -> Path:
    """BERT (2 layers, width 32) + mean pooling, saved as a Sentence Transformers folder with query/document prompts."""
    from sentence_transformers import SentenceTransformer
    from transformers import BertModel

    torch.manual_seed(0)
    tokenizer = _hf_tokenizer()
    _save_hf(BertModel(_bert_config(len(tokenizer))), tokenizer, path / "hf")
    model = SentenceTransformer(str(path / "hf"), device="cpu",
                                prompts=prompts if prompts is not None else {"query": "query: ", "document": "passage: "})
    model.save(str(path / "st"))
    return path / "st"


def build_bert_cross_encoder(path: Path, num_labels: int) -> Path:
    """``BertForSequenceClassification`` with ``num_labels`` outputs: a classic text reranker (1) or NLI model (3)."""
    from transformers import BertForSequenceClassification

    torch.manual_seed(num_labels)
    tokenizer = _hf_tokenizer()
    config = _bert_config(len(tokenizer), num_labels=num_labels)
    if num_labels == 3:
        config.id2label = {0: "contradiction", 1: "entailment", 2: "neutral"}
        config.label2id = {v: k for k, v in config.id2label.items()}
    return _save_hf(BertForSequenceClassification(config), tokenizer, path)


def build_static(path: Path, dim: int = 16, seed: int = 0) -> Path:
    """A ``StaticEmbedding`` model (the fast CPU text embedder), random weights."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    torch.manual_seed(seed)
    module = StaticEmbedding(wordpiece_tokenizer(), embedding_dim=dim)
    torch.nn.init.normal_(module.embedding.weight)
    SentenceTransformer(modules=[module], device="cpu").save(str(path))
    return path


def build_router(path: Path) -> Path:
    """A Router: queries through one StaticEmbedding, documents through another (an asymmetric static model)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Router
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    torch.manual_seed(1)
    query, document = (StaticEmbedding(wordpiece_tokenizer(), embedding_dim=16) for _ in range(2))
    for module in (query, document):
        torch.nn.init.normal_(module.embedding.weight)
    router = Router.for_query_document(query_modules=[query], document_modules=[document])
    SentenceTransformer(modules=[router], device="cpu").save(str(path))
    return path
