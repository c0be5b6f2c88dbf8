"""Byte-level BPE tokenizers trained on the spot, for the offline model zoo.

No tokenizer can be downloaded here, so each zoo model gets one trained in milliseconds on a small
fixed corpus with the ``tokenizers`` library, then wrapped in the ``transformers`` tokenizer class
its architecture expects (CLIP, Qwen2, RoBERTa, or the generic ``TokenizersBackend``).

Training is deterministic: the same corpus and settings give the same vocabulary and merges.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

__all__ = [
    "CORPUS",
    "QWEN_SPECIAL_TOKENS",
    "clap_tokenizer",
    "clip_tokenizer",
    "qwen_tokenizer",
    "siglip_tokenizer",
    "train_bpe",
]

_WORDS = (
    "red green blue yellow black white orange purple pink brown gray "
    "cat dog bird fish horse cow car bus train plane boat bike tree house road river sea sky "
    "square circle triangle star line dot shape picture photo image video clip sound audio song "
    "music noise voice speech beep tone drum piano guitar left right top bottom center small large big "
    "query document search find retrieve represent relevant answer question user input judge instruct "
    "the a an of in on at to and or is are was with for from by this that it what which who how when where"
)
_SENTENCES = (
    "a photo of a cat",
    "a photo of a dog",
    "a red square on a white background",
    "a blue circle in the center",
    "a small green triangle at the top left",
    "a video of a car on the road",
    "the sound of a piano",
    "a dog barking in the park",
    "what is the capital of france?",
    "paris is the capital of france.",
    "Represent the user's input.",
    "Retrieve images or text relevant to the user's query.",
    "Given a search query, retrieve relevant candidates that answer the query.",
    'Judge whether the Document meets the requirements based on the Query and the Instruct provided. '
    'Note that the answer can only be "yes" or "no".',
    "yes",
    "no",
    "Yes, it is. No, it is not.",
    "https://example.com/images/cat_01.png and /data/audio/clip-2.wav",
    "numbers 0 1 2 3 4 5 6 7 8 9 10 42 100 2024",
    "punctuation: , . ; : ! ? ' \" ( ) [ ] { } < > / \\ | _ - + = * & ^ % $ # @ ~ `",
    "<Instruct>: <Query>: <Document>:",
    "Machine learning models encode text, images, audio and video into vectors.",
    "The quick brown fox jumps over the lazy dog.",
)
CORPUS: tuple[str, ...] = (*_SENTENCES, _WORDS, *(w.capitalize() for w in _WORDS.split()))
"""The fixed training corpus shared by every zoo tokenizer."""

QWEN_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
"""Qwen2/Qwen3-VL special tokens, in the order the real vocabulary appends them."""

_QWEN2_SPLIT = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
_CLIP_SPLIT = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


def train_bpe(
    pre_tokenizer: pre_tokenizers.PreTokenizer,
    *,
    vocab_size: int = 800,
    normalizer: normalizers.Normalizer | None = None,
    end_of_word_suffix: str | None = None,
    corpus: Iterable[str] = CORPUS,
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Train a byte-level BPE on ``corpus`` and return its ``(vocab, merges)``.

    Every one of the 256 byte symbols is in the vocabulary, so no input ever maps to an unknown token.
    """
    suffix = {"end_of_word_suffix": end_of_word_suffix} if end_of_word_suffix else {}
    tokenizer = Tokenizer(models.BPE(**suffix))
    if normalizer is not None:
        tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    # The trainer numbers word-final symbols (``x</w>``) in hash-map order, and merge ties are broken by
    # those numbers: declaring every one up front as a "special token" pins their ids, so training is
    # deterministic. They stay in the model vocabulary, so every byte also exists in its ``x</w>`` form.
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        show_progress=False,
        initial_alphabet=alphabet,
        special_tokens=[symbol + end_of_word_suffix for symbol in alphabet] if end_of_word_suffix else [],
        **suffix,
    )
    tokenizer.train_from_iterator(list(corpus), trainer=trainer)
    model = json.loads(tokenizer.to_str())["model"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return dict(model["vocab"]), merges


def _append_tokens(vocab: dict[str, int], tokens: Sequence[str]) -> dict[str, int]:
    """Return ``vocab`` with each of ``tokens`` not yet present appended at the next free id."""
    vocab = dict(vocab)
    next_id = max(vocab.values(), default=-1) + 1
    for token in tokens:
        if token not in vocab:
            vocab[token] = next_id
            next_id += 1
    return vocab


def clip_tokenizer(*, vocab_size: int = 800, model_max_length: int = 77):
    """A ``CLIPTokenizer``: byte-level BPE with ``</w>`` word ends, special tokens at the highest ids.

    Every byte symbol is also added in its ``x</w>`` form: without it a word ending in a rare symbol
    (``/``, ``_``) maps to ``<|endoftext|>``, which is CLIP's end token, and texts collapse together.
    """
    from transformers import CLIPTokenizer

    pre = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_CLIP_SPLIT), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    norm = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    vocab, merges = train_bpe(pre, vocab_size=vocab_size, normalizer=norm, end_of_word_suffix="</w>")
    vocab = _append_tokens(vocab, ["<|startoftext|>", "<|endoftext|>"])
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=model_max_length)


def qwen_tokenizer(*, vocab_size: int = 800, model_max_length: int = 2048):
    """A ``Qwen2Tokenizer``: byte-level BPE with Qwen2's split regex, Qwen's special tokens appended in order.

    The corpus makes ``yes`` and ``no`` single tokens, which a ``LogitScore`` reranker reads.
    """
    from transformers import Qwen2Tokenizer

    pre = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN2_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    vocab, merges = train_bpe(pre, vocab_size=vocab_size, normalizer=normalizers.NFC())
    vocab = _append_tokens(vocab, QWEN_SPECIAL_TOKENS)
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=model_max_length,
        extra_special_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"},
    )
    from tokenizers import AddedToken

    tokenizer.add_tokens([AddedToken(token, special=True, normalized=False) for token in QWEN_SPECIAL_TOKENS])
    return tokenizer


def clap_tokenizer(*, vocab_size: int = 800, model_max_length: int = 77):
    """A ``RobertaTokenizer`` (what CLAP uses): byte-level BPE, ``<s> ... </s>``, ``<pad>`` at id 1."""
    from transformers import RobertaTokenizer

    specials = ("<s>", "<pad>", "</s>", "<unk>")
    vocab, merges = train_bpe(pre_tokenizers.ByteLevel(add_prefix_space=False), vocab_size=vocab_size)
    vocab = {**{token: i for i, token in enumerate(specials)}, **{t: i + len(specials) for t, i in vocab.items()}}
    vocab = _append_tokens(vocab, ["<mask>"])
    return RobertaTokenizer(vocab=vocab, merges=merges, model_max_length=model_max_length)


def siglip_tokenizer(*, vocab_size: int = 800, model_max_length: int = 64):
    """A generic fast tokenizer standing in for SigLIP's SentencePiece one (which needs ``sentencepiece``).

    Lowercases, appends ``</s>``, pads with ``</s>`` like SigLIP; saved with ``tokenizer_class:
    "TokenizersBackend"`` so it loads without ``sentencepiece`` or ``protobuf``.
    """
    from transformers import PreTrainedTokenizerFast

    specials = ("<pad>", "</s>", "<unk>")
    norm = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    pre = pre_tokenizers.ByteLevel(add_prefix_space=True)
    vocab, merges = train_bpe(pre, vocab_size=vocab_size, normalizer=norm)
    vocab = {**{token: i for i, token in enumerate(specials)}, **{t: i + len(specials) for t, i in vocab.items()}}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>"))
    backend.normalizer = norm
    backend.pre_tokenizer = pre
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", vocab["</s>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="</s>",
        pad_token="</s>",
        unk_token="<unk>",
        model_max_length=model_max_length,
    )
