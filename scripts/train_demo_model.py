"""Retrain the demo model (st_multimodal/demo/bundled_model) from scratch on synthetic coloured shapes, on CPU.

    PYTHONPATH=src HF_HUB_OFFLINE=1 python scripts/train_demo_model.py --threads 1

A tiny CLIP (64 px images, patch 8, vision 96 x 3 layers, text 64 x 2 layers, projection 64, about
527k parameters) with a CLIP tokenizer trained on the spot, trained with SentenceTransformerTrainer and
a symmetric MultipleNegativesRankingLoss on (caption, PNG bytes) pairs resolved by
``ResolvingDataCollator``. By default (the shipped model):

* pictures are drawn with augmentation (``st_multimodal.demo.augmented_examples``: sizes 0.3-0.9 of
  the canvas, centres up to a quarter of it off the middle, background tints, outlines of 2-6 px
  instead of a fill, stronger colour jitter), never at the held-out split's sizes and positions;
* half the captions use other wordings (``--caption-templates augmented``), none of them among the
  paraphrases ``benchmarks/calibration_report.py`` evaluates on;
* every row carries a text the model cannot know (``st_multimodal.demo.unknown_texts``, training word
  pool), ranked below the right caption for every picture of its batch (``--unknown-negatives``);
* batches never hold two rows of one class (upstream's no-duplicates sampler run on the class index).

``--no-augment --no-unknown-negatives --caption-templates single --per-class 1000`` trains the plain
variant (white backgrounds, one wording). Seeds are fixed: the same command and thread count give
byte-identical weights. Afterwards the saved folder is reloaded and scored on the held-out split (sizes
and positions never trained on); its model card records the scores, the calibrated probabilities of
unknown queries and this command, and ``st_multimodal_reference.json`` (the self-check's golden
vectors) is written from the saved model.
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO / "src" / "st_multimodal" / "demo" / "bundled_model"

# Caption wordings ({c}: colour, {s}: shape). "augmented" keeps the training wording for half the
# examples and draws the other half uniformly from the rest; none of these strings is one of the 16
# paraphrases (WORDINGS) that benchmarks/calibration_report.py calibrates and evaluates on.
CAPTION_TEMPLATES: dict[str, tuple[str, ...]] = {
    "single": ("a {c} {s}",),
    "augmented": (
        "a {c} {s}", "a {c}-coloured {s}", "the {s} is {c}", "a {s} in {c}", "a single {c} {s}",
        "{c} {s} picture", "a {s} coloured {c}",
    ),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="model folder to (re)write")
    parser.add_argument("--per-class", type=int, default=2000, help="training pairs per class (12 classes)")
    parser.add_argument("--heldout-per-class", type=int, default=20, help="held-out images per class")
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--batch-size", type=int, default=12, help="at most 12: a batch never repeats a caption")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=2,
        help="torch threads; on a machine busy with other jobs 1 is several times faster than 2",
    )
    parser.add_argument("--image-form", choices=("bytes", "path"), default="bytes")
    parser.add_argument(
        "--card-only", type=float, metavar="TRAIN_SECONDS",
        help="do not train: rescore the model already in --output and rewrite its model card (recording this "
        "training time and the other arguments as its training settings) and its self-check reference",
    )
    parser.add_argument(
        "--augment", action=argparse.BooleanOptionalAction, default=True,
        help="draw training pictures with augmentation (sizes 0.3-0.9 of the canvas, offsets up to a quarter of it, "
        "background tints, outlines of several widths; st_multimodal.demo.augmented_examples)",
    )
    parser.add_argument(
        "--unknown-negatives", action=argparse.BooleanOptionalAction, default=True,
        help="give every training pair a text the model cannot know (st_multimodal.demo.unknown_texts, pool 'train') "
        "as an extra negative caption for every picture in its batch",
    )
    parser.add_argument(
        "--caption-templates", choices=sorted(CAPTION_TEMPLATES), default="augmented",
        help="single: every caption in the training wording 'a {colour} {shape}' (the previous demo model); "
        "augmented: half the captions in that wording, the rest drawn from a few other wordings, none of them "
        "among the paraphrases benchmarks/calibration_report.py evaluates on (the shipped demo model)",
    )
    return parser.parse_args(argv)


def build_backbone(folder: Path, seed: int) -> Path:
    """Write a freshly initialised tiny CLIP (weights, tokenizer, image processor) into ``folder``."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from st_multimodal.demo.shapes import CANVAS
    from st_multimodal.testing.tokenizers import clip_tokenizer

    tokenizer = clip_tokenizer()
    specials = dict(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(tokenizer), hidden_size=64, intermediate_size=256, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=77, **specials,
        ),
        vision_config=dict(
            hidden_size=96, intermediate_size=384, num_hidden_layers=3, num_attention_heads=4,
            image_size=CANVAS, patch_size=8,
        ),
        projection_dim=64,
    )
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(folder)
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": CANVAS}, crop_size={"height": CANVAS, "width": CANVAS}
    )
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def draw_caption(templates: tuple[str, ...], shape: str, colour: str, rng: random.Random) -> str:
    """The first template for half the examples, otherwise one of the others (uniformly)."""
    if len(templates) == 1 or rng.random() < 0.5:
        return templates[0].format(c=colour, s=shape)
    return rng.choice(templates[1:]).format(c=colour, s=shape)


def training_dataset(
    per_class: int, seed: int, image_form: str, image_dir: Path, templates: tuple[str, ...] = ("a {c} {s}",),
    *, augment: bool = False, unknown_negatives: bool = False,
):
    """(caption, image) rows, or (image, caption, unknown) rows with ``unknown_negatives``, and each row's class.

    The image column holds PNG bytes or paths to PNG files, never decoded images. The class indices are
    not a dataset column (the loss would take every column as an input); the batch sampler gets them
    separately. With unknown negatives the image comes first: the loss then ranks every picture's caption
    above the other captions and every unknown text of the batch, and every caption's picture above the
    other pictures.
    """
    from datasets import Dataset

    from st_multimodal.demo.shapes import augmented_examples, training_examples
    from st_multimodal.demo.unknown import unknown_texts

    rng = random.Random(f"captions-{seed}")
    captions, images, classes = [], [], []
    examples = augmented_examples(per_class, seed=seed) if augment else training_examples(per_class, seed=seed)
    for i, example in enumerate(examples):
        captions.append(example.caption if len(templates) == 1 else draw_caption(templates, example.shape, example.colour, rng))
        classes.append(example.label)
        png = example.png()
        if image_form == "path":
            path = image_dir / f"{i:06d}.png"
            path.write_bytes(png)
            images.append(str(path))
        else:
            images.append(png)
    if unknown_negatives:
        unknown = list(unknown_texts(len(captions), pool="train", seed=seed))
        return Dataset.from_dict({"image": images, "caption": captions, "unknown": unknown}), classes
    return Dataset.from_dict({"caption": captions, "image": images}), classes


def class_unique_sampler(classes: list[int]):
    """A ``batch_sampler`` callable whose batches never hold two rows of one class.

    With several wordings per class, upstream's no-duplicates sampler (which compares column values)
    could put "a red circle" and "the circle is red" in one batch, where each would be the other's
    false negative. This runs the same sampler on a one-column view holding only the class index.
    """
    from datasets import Dataset
    from sentence_transformers.base.sampler import NoDuplicatesBatchSampler

    def make(dataset, **kwargs):
        if len(dataset) != len(classes):
            raise ValueError(f"{len(classes)} class indices for {len(dataset)} rows")
        return NoDuplicatesBatchSampler(Dataset.from_dict({"class": classes}), **kwargs)

    make.name = "NoDuplicatesBatchSampler on the class index"
    return make


def train(model, dataset, args: argparse.Namespace, work_dir: Path, classes: list[int] | None = None) -> tuple[float, str]:
    """Train in place; return the training wall time in seconds and the batch sampler used.

    With ``classes`` (one class index per row), batches hold distinct classes rather than distinct values.
    """
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from st_multimodal.training import ResolvingDataCollator

    if classes is not None:
        sampler = class_unique_sampler(classes)
    else:
        try:
            import xxhash  # noqa: F401

            sampler = BatchSamplers.NO_DUPLICATES_HASHED  # same batches as NO_DUPLICATES, hashed once up front
        except ImportError:
            sampler = BatchSamplers.NO_DUPLICATES
    training_args = SentenceTransformerTrainingArguments(
        output_dir=str(work_dir / "checkpoints"),
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr,
        lr_scheduler_type="cosine",
        warmup_steps=100,
        batch_sampler=sampler,
        seed=args.seed,
        data_seed=args.seed,
        save_strategy="no",
        logging_steps=250,
        report_to="none",
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    loss = MultipleNegativesRankingLoss(
        model, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction"
    )
    collator = ResolvingDataCollator.from_model(model, training_args, text_columns=("caption", "unknown"))
    trainer = SentenceTransformerTrainer(
        model=model, args=training_args, train_dataset=dataset, loss=loss, data_collator=collator
    )
    start = time.perf_counter()
    trainer.train()
    return time.perf_counter() - start, sampler.name


MODEL_CARD = """\
# st_multimodal demo model: coloured shapes (a demonstration, not a general-purpose model)

A tiny CLIP-style text-image embedding model shipped with `st_multimodal` so that examples, docs and
tests can show real retrieval offline (`st_multimodal.load("demo")`, `--model demo`). It was trained
from scratch, on synthetic pictures only: a circle, square or triangle in red, green, blue or yellow,
{picture_text} {caption_text}

**It knows only coloured shapes.** {knows} Partial captions are hit-and-miss (see what a bare `"red"`
picks below), unseen words and synonyms (`"crimson"`, `"disc"`) do not reliably find what they mean,
and real photographs mean nothing to it. Use a real CLIP/SigLIP model for anything beyond demonstrations.

**Its raw scores are cosine similarities, not probabilities.** Every text gets a cosine score with
every picture, including texts about something else. `python -m st_multimodal.demo` calibrates them
(`MultimodalIndex.calibrate`, Platt, even odds) on {calibration_pairs} held-out (text, picture) pairs:
captions against pictures of sizes and positions never trained on, and texts the model cannot know (a
word pool kept apart from training) against pictures, as non-matches. The probability then says how likely the
picture shows what the query says; under 0.5 means more likely not. The table under Evaluation
gives raw scores and calibrated probabilities for queries it was never shown.

```python
import st_multimodal
from st_multimodal.demo import heldout_examples

model = st_multimodal.load("demo")
images = [ex.png() for ex in heldout_examples(1)]          # PNG bytes, paths, URLs or PIL all work
embeddings = model.encode(["a red circle", *images])        # texts and images in one call
print(model.similarity(embeddings[:1], embeddings[1:]))
```

## Architecture
`CLIPModel`: vision ViT 64 px, patch 8, width 96, 3 layers; text width 64, 2 layers, byte-level BPE
tokenizer ({vocab} tokens) trained on a small fixed corpus; projection 64; {params:,} parameters
(float32). Loads with `st_multimodal.SentenceTransformer(folder)`, or upstream `SentenceTransformer(folder)`
(one modality per `encode` call there); one `Transformer` module, modalities text and image, cosine similarity.

## Training
- Data: {train_pairs:,} (caption, PNG bytes) pairs, {per_class} per class; {size_text}.
{unknown_text}- `SentenceTransformerTrainer`, symmetric `MultipleNegativesRankingLoss` (`partition_mode="per_direction"`),
  epochs {epochs:g}, batch {batch_size}, lr {lr:g} (cosine, 100 warm-up steps), seed {seed}, batch sampler
  `{sampler}` ({sampler_note}).
- The image column held {image_form}, resolved by `st_multimodal.training.ResolvingDataCollator`.
- CPU threads: {threads}; training took {train_seconds:.0f} s on the (shared, 2-core) machine that produced
  this folder.

## Evaluation (held-out split)
{heldout_images} images ({heldout_per_class} per class) at sizes {heldout_sizes} px and centres with odd
coordinates, on white: no held-out image shares a size or a position with a training image. Captions and
images were embedded in one `encode` call, images given as PNG bytes.

| metric | value |
|---|---|
| text->image recall@1 (12 caption queries) | {t2i_r1:.3f} |
| text->image R-precision | {t2i_rp:.3f} |
| image->text accuracy (12-way) | {i2t:.3f} |

`tests/demo/test_independent_shapes.py` also checks text->image recall@1 on shapes drawn by other code
(plain `ImageDraw`, other canvas sizes, colours, sizes and offsets).

Queries scored against the same images: the best class by mean cosine over its images (a training
caption scores about {reference:.2f} with its own class), and the highest calibrated probability any
single image gets (calibrated as the demo does):

| query | best class (mean cosine) | highest probability |
|---|---|---|
{probe_rows}

## Retrain
```bash
{command}
```
"""


PROBES = ("red", "crimson", "a disc", "a photo of a cat", "a bowl of soup", "an orange pentagon", "coffee")


def probe(model, examples, queries: tuple[str, ...]) -> list[tuple[str, list[tuple[str, float]], float]]:
    """For each query: the classes ranked by mean cosine over their images, and the highest calibrated
    probability of any image (calibrated on the demo's held-out calibration set)."""
    from st_multimodal.demo.calibration_set import calibration_set
    from st_multimodal.demo.shapes import CLASSES, caption
    from st_multimodal.retrieval import MultimodalIndex

    images = model.encode([ex.png() for ex in examples], convert_to_tensor=True)
    labels = torch.tensor([ex.label for ex in examples])
    scores = model.similarity(model.encode(list(queries), convert_to_tensor=True), images)
    index = MultimodalIndex(model)
    index.add([ex.png() for ex in examples])
    index.calibrate(**calibration_set().kwargs())
    results = []
    for query, row in zip(queries, scores):
        per_class = [(caption(*CLASSES[i]), float(row[labels == i].mean())) for i in range(len(CLASSES))]
        top = index.search(query, top_k=1)[0].probability
        results.append((query, sorted(per_class, key=lambda item: item[1], reverse=True), top))
    return results


def caption_paragraphs(templates: tuple[str, ...]) -> dict[str, str]:
    """The model card's description of the training captions."""
    if len(templates) == 1:
        return {
            "caption_text": 'captioned\n`"a {colour} {shape}"` (12 captions in all). See `st_multimodal/demo/shapes.py`.',
            "knows": "It only knows its 12 training captions.",
            "sampler_note": "no batch holds a caption twice",
        }
    others = ", ".join(f'`"{t.format(c="{colour}", s="{shape}")}"`' for t in templates[1:])
    caption_text = (
        f'captioned `"a {{colour}} {{shape}}"` in half the training pairs and, in the other half, in one of '
        f"{len(templates) - 1} other wordings drawn at random: {others} ({12 * len(templates)} captions in all). "
        "None of these is among the 16 paraphrases that `benchmarks/calibration_report.py` calibrates and "
        "evaluates on: those were held out. See `st_multimodal/demo/shapes.py`."
    )
    return {
        "caption_text": caption_text,
        "knows": f"It has seen {len(templates)} wordings of its 12 classes; its language ends there "
        "(`docs/calibration.md` measures it on 16 other paraphrases).",
        "sampler_note": "no batch holds two pairs of one class, whatever their wording",
    }


def write_model_card(folder: Path, *, model, scores, examples, info: dict) -> None:
    from st_multimodal.demo.calibration_set import calibration_set
    from st_multimodal.demo.shapes import AUGMENTED_SIZES, HELDOUT_SIZES, TRAIN_SIZES

    probes = probe(model, examples, ("a red circle", *PROBES))
    reference = probes[0][1][0][1]
    probe_rows = "\n".join(
        f"| `\"{query}\"` | {ranked[0][0]} ({ranked[0][1]:.2f}) | {top:.3f} |" for query, ranked, top in probes
    )
    if info["augment"]:
        sizes = f"{AUGMENTED_SIZES[0]}-{AUGMENTED_SIZES[-1]}"
        picture_text = (
            "64 x 64 px, drawn with augmentation: sizes 0.3-0.9 of the picture, centres up to a quarter of it off "
            "the middle, light background tints on half the pictures, outlines 2-6 px wide instead of a fill on a "
            "third of them,"
        )
        size_text = f"sizes {sizes} px except the held-out band {HELDOUT_SIZES[0]}-{HELDOUT_SIZES[-1]}, centres with even coordinates"
    else:
        picture_text = "filled, on a white 64 x 64 background,"
        size_text = f"sizes {', '.join(map(str, TRAIN_SIZES))} px, centres with even coordinates"
    unknown_text = (
        "- Every row also held a text the model cannot know (`st_multimodal.demo.unknown_texts`, training word\n"
        "  pool: other objects, animals, scenes, colours and shapes); the loss ranks it below the right caption\n"
        "  for every picture of the batch.\n"
        if info["unknown_negatives"] else ""
    )
    backbone = model[0].model
    text = MODEL_CARD.format(
        vocab=backbone.config.text_config.vocab_size,
        params=sum(p.numel() for p in backbone.parameters()),
        heldout_sizes=", ".join(map(str, HELDOUT_SIZES)),
        t2i_r1=scores.text_to_image_recall_at_1,
        t2i_rp=scores.text_to_image_r_precision,
        i2t=scores.image_to_text_accuracy,
        heldout_images=scores.num_images,
        reference=reference,
        probe_rows=probe_rows,
        picture_text=picture_text,
        size_text=size_text,
        unknown_text=unknown_text,
        calibration_pairs=f"{calibration_set().num_pairs:,}",
        **info,
    )
    (folder / "README.md").write_text(text, encoding="utf-8")


def _command(argv: list[str] | None) -> str:
    args = [a for a in (argv if argv is not None else sys.argv[1:])]
    if "--card-only" in args:  # record the training command, not the card rewrite
        k = args.index("--card-only")
        del args[k:k + 2]
    return "PYTHONPATH=src HF_HUB_OFFLINE=1 python scripts/train_demo_model.py " + " ".join(shlex.quote(a) for a in args)


def finish(folder: Path, args: argparse.Namespace, *, train_seconds: float, sampler: str, command: str) -> dict:
    """Reload the saved model in ``folder``, score it on the held-out split, write its card and reference."""
    from st_multimodal import SentenceTransformer
    from st_multimodal.demo import evaluate_retrieval, heldout_examples

    templates = CAPTION_TEMPLATES[args.caption_templates]
    reloaded = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    heldout = list(heldout_examples(args.heldout_per_class, seed=args.seed + 1))
    scores = evaluate_retrieval(reloaded, heldout)
    info = dict(
        train_pairs=12 * args.per_class, per_class=args.per_class, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, seed=args.seed, threads=args.threads, train_seconds=train_seconds,
        image_form="PNG bytes" if args.image_form == "bytes" else "paths to PNG files",
        heldout_per_class=args.heldout_per_class, sampler=sampler,
        augment=args.augment, unknown_negatives=args.unknown_negatives, command=command,
    )
    info.update(caption_paragraphs(templates))
    write_model_card(folder, model=reloaded, scores=scores, examples=heldout, info=info)
    (folder / "st_multimodal_reference.json").unlink(missing_ok=True)
    reloaded.save_reference(folder)  # golden vectors: tests/selfcheck checks the shipped model against them
    for file in folder.iterdir():
        file.chmod(0o644)  # some writers create 0600 files; the folder ships in the package
    return scores.as_dict()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from transformers import set_seed

    from st_multimodal import SentenceTransformer

    set_seed(args.seed)
    command = _command(argv)
    templates = CAPTION_TEMPLATES[args.caption_templates]
    class_unique = len(templates) > 1 or args.augment or args.unknown_negatives
    sampler_name = "NoDuplicatesBatchSampler on the class index" if class_unique else "NoDuplicatesBatchSampler"
    if args.card_only is not None:
        scores = finish(args.output, args, train_seconds=args.card_only, sampler=sampler_name, command=command)
        print(json.dumps(scores))
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="st_multimodal_demo_") as work:
        work_dir = Path(work)
        (work_dir / "images").mkdir()
        backbone = build_backbone(work_dir / "backbone", args.seed)
        model = SentenceTransformer(str(backbone), device="cpu", local_files_only=True)
        dataset, classes = training_dataset(
            args.per_class, args.seed, args.image_form, work_dir / "images", templates,
            augment=args.augment, unknown_negatives=args.unknown_negatives,
        )
        print(f"training on {len(dataset)} rows, columns {dataset.column_names} ({args.image_form}, captions: "
              f"{args.caption_templates}, augment: {args.augment}) ...", flush=True)
        train_seconds, sampler = train(model, dataset, args, work_dir, classes if class_unique else None)
        print(f"training took {train_seconds:.1f} s", flush=True)
        staged = work_dir / "model"
        model.save(str(staged), create_model_card=False)
        scores = finish(staged, args, train_seconds=train_seconds, sampler=sampler, command=command)
        if args.output.exists():
            shutil.rmtree(args.output)
        shutil.move(str(staged), str(args.output))
    size = sum(f.stat().st_size for f in args.output.rglob("*") if f.is_file())
    print(json.dumps({**scores, "train_seconds": round(train_seconds, 1), "folder_bytes": size}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
