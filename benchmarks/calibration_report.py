"""Calibration report: does ONE threshold serve text-to-text and text-to-image alike? Raw cosine vs calibrated.

    PYTHONPATH=src HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/calibration_report.py

Uses the shipped demo model (coloured shapes). Prints the tables quoted in ``docs/calibration.md`` and
writes ``docs/img/calibration.png``. ``--model PATH`` runs it on another text-image model folder.

Design (all images come from the held-out split of ``st_multimodal.demo.shapes``: sizes and positions
never trained on; the calibration and evaluation sets use different seeds):

* queries: the 12 class captions in the training wording, ``"a red circle"``;
* text-to-image documents: ``--per-class`` held-out images per class;
* text-to-text documents: other wordings of every class caption (``"red circle"``, ``"a circle that is
  red"`` ...) from a pool of 16, split alternately into 8 calibration and 8 evaluation wordings, so
  both sides hold easy and hard wordings; the training wording itself is never a document (it would
  match its query exactly). ``--split first`` reproduces the first run's split (first 4 / next 4 of
  the pool), which put the two hardest wordings on the evaluation side only;
* positives: same class; negatives: every other class (including those sharing the colour or the shape).
  Both pairs therefore have the same base rate, 1/12.

Raw thresholds are chosen on the calibration set (best F1 per pair, and the best single threshold for
both); calibrators are fitted on the same set; every number is measured on the evaluation set.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from st_multimodal.demo.shapes import CLASSES, caption, heldout_examples  # noqa: E402
from st_multimodal.retrieval import Calibrator, MultimodalIndex, precision_recall  # noqa: E402

WORDINGS = (
    "{c} {s}", "the {c} {s}", "a {s} that is {c}", "one {c} {s}", "a picture of a {c} {s}", "a {s}, {c}",
    "this is a {c} {s}", "a {c} {s} on white", "a {c} {s} shape", "{s} {c}", "a small {c} {s}", "a big {c} {s}",
    "an image of a {c} {s}", "a {c} colored {s}", "{c} {s} on a white background", "a {c} {s} drawn on white",
)
SPLITS = {
    "interleaved": (WORDINGS[0::2], WORDINGS[1::2]),
    "first": (WORDINGS[:4], WORDINGS[4:8]),
}
PAIRS = (("text", "text"), ("text", "image"))
BASE_RATE = 1 / 12


def load_model(path: str | None):
    if path:
        from st_multimodal import SentenceTransformer

        return SentenceTransformer(path, device="cpu")
    from st_multimodal.demo import demo_model

    return demo_model()


def split(index: MultimodalIndex, wordings: tuple[str, ...], per_class: int, seed: int) -> dict:
    """Score matrices and labels of both pairs for one split: {pair: (scores (12 x n), labels (12 x n))}."""
    queries = [caption(s, c) for s, c in CLASSES]
    texts = [w.format(c=c, s=s) for w in wordings for s, c in CLASSES]
    text_labels = [k for _ in wordings for k in range(len(CLASSES))]
    examples = list(heldout_examples(per_class, seed=seed))
    q, _ = index.embed(queries)
    t, _ = index.embed(texts)
    i, _ = index.embed([ex.png() for ex in examples])
    classes = np.arange(len(CLASSES))[:, None]
    return {
        ("text", "text"): (q @ t.T, (classes == np.array(text_labels)[None]).astype(float)),
        ("text", "image"): (q @ i.T, (classes == np.array([ex.label for ex in examples])[None]).astype(float)),
    }


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The raw threshold with the best F1 on these scores."""
    candidates = np.unique(scores)
    f1 = [_f1(*precision_recall(scores, labels, t)) for t in candidates]
    return float(candidates[int(np.argmax(f1))])


def best_shared_threshold(data: dict) -> float:
    """One raw threshold for both pairs: the best mean F1."""
    candidates = np.unique(np.concatenate([s.ravel() for s, _ in data.values()]))
    mean_f1 = [np.mean([_f1(*precision_recall(s, y, t)) for s, y in data.values()]) for t in candidates[::3]]
    return float(candidates[::3][int(np.argmax(mean_f1))])


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def evaluate(calibration: dict, evaluation: dict, prior: float | None, raw: bool = True) -> dict[str, dict]:
    """Rows of the table: {row name: {pair: (raw threshold, precision, recall)}}."""
    rows: dict[str, dict] = {}
    if raw:
        rows = {"raw, own best threshold per pair": {}, "raw, one shared threshold": {}}
        shared = best_shared_threshold(calibration)
        for pair in PAIRS:
            own = best_threshold(*calibration[pair])
            rows["raw, own best threshold per pair"][pair] = (own, *precision_recall(*evaluation[pair], own))
            rows["raw, one shared threshold"][pair] = (shared, *precision_recall(*evaluation[pair], shared))
    for method in ("platt", "isotonic"):
        calibrator = fit(calibration, method, prior)
        name = f"{method}, p >= 0.5"
        rows[name] = {}
        for pair in PAIRS:
            scores, labels = evaluation[pair]
            probability = calibrator.transform(scores, *pair)
            rows[name][pair] = (calibrator.threshold(0.5, *pair), *precision_recall(probability, labels, 0.5))
    return rows


def fit(data: dict, method: str, prior: float | None) -> Calibrator:
    calibrator = Calibrator(method, prior=prior)
    for pair, (scores, labels) in data.items():
        calibrator.fit(scores.ravel(), labels.ravel(), *pair)
    return calibrator


def print_table(title: str, rows: dict) -> None:
    print(f"\n{title}")
    cell = f"{'raw thr':>8s} {'prec':>6s} {'rec':>6s}"
    print(f"{'':36s} {'text->text':^22s}    {'text->image':^22s}    {'|dP|':>6s} {'|dR|':>6s}")
    print(f"{'':36s} {cell}    {cell}")
    for name, cells in rows.items():
        (t1, p1, r1), (t2, p2, r2) = cells[PAIRS[0]], cells[PAIRS[1]]
        print(f"{name:36s} {t1:8.3f} {p1:6.3f} {r1:6.3f}    {t2:8.3f} {p2:6.3f} {r2:6.3f}    {abs(p1 - p2):6.3f} {abs(r1 - r2):6.3f}")


def wording_report(index: MultimodalIndex) -> None:
    """How well the model matches each paraphrase to its class caption: rank-1 accuracy and ROC AUC."""
    queries, _ = index.embed([caption(s, c) for s, c in CLASSES])
    print("\ntext->text by wording (12 class captions vs 12 paraphrases): rank-1 accuracy, ROC AUC")
    for wording in WORDINGS:
        docs, _ = index.embed([wording.format(c=c, s=s) for s, c in CLASSES])
        scores = queries @ docs.T
        positives, negatives = np.diag(scores), scores[~np.eye(len(CLASSES), dtype=bool)]
        accuracy = float((scores.argmax(0) == np.arange(len(CLASSES))).mean())
        auc = float((positives[:, None] > negatives[None, :]).mean())
        print(f"  {wording.format(c='red', s='circle'):34s} {accuracy:5.2f} {auc:6.3f}")


def modality_report(index: MultimodalIndex, evaluation: dict, label: str) -> None:
    """Mean positive / negative similarity per pair, and text->image retrieval quality (mean average precision)."""
    parts = []
    for pair in PAIRS:
        s, y = evaluation[pair]
        parts.append(f"{pair[0]}->{pair[1]}: pos {s[y > 0].mean():.3f} neg {s[y == 0].mean():.3f}")
    s, y = evaluation[("text", "image")]
    print(f"{label:10s} " + " | ".join(parts) + f" | text->image mAP {mean_average_precision(s, y):.3f}")


def mean_average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    out = []
    for s, y in zip(scores, labels):
        order = np.argsort(-s)
        hits = y[order]
        precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        out.append(float((precision_at * hits).sum() / hits.sum()))
    return float(np.mean(out))


def centred(index: MultimodalIndex, per_class: int, wordings: tuple[str, ...]) -> MultimodalIndex:
    """Fit per-modality means on calibration-split captions, wordings and images (never on evaluation data)."""
    texts = [w.format(c=c, s=s) for w in ("a {c} {s}",) + wordings for s, c in CLASSES]
    images = [ex.png() for ex in heldout_examples(per_class, seed=101)]
    index.fit_centering(extra=texts + images)
    return index


def plot(raw: dict, centred_eval: dict, calibration: dict, out: Path, model_name: str) -> None:
    """Rows: modality pairs; columns: raw cosine, cosine after centring, calibrated probability (log counts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    calibrator = fit(calibration, "platt", BASE_RATE)
    fig, axes = plt.subplots(2, 3, figsize=(15, 6.5), sharey="row")
    columns = [("raw cosine", raw, False), ("cosine after modality centring", centred_eval, False),
               ("calibrated probability (Platt, prior 1/12)", raw, True)]
    for row, pair in enumerate(PAIRS):
        own = best_threshold(*calibration[pair])
        for col, (title, data, calibrated) in enumerate(columns):
            ax = axes[row, col]
            scores, labels = data[pair]
            values = calibrator.transform(scores, *pair) if calibrated else scores
            bins = np.linspace(0, 1, 41) if calibrated else np.linspace(-1, 1, 81)
            ax.hist(values[labels == 0], bins=bins, color="tab:gray", alpha=0.5, label="non-matches")
            ax.hist(values[labels > 0], bins=bins, histtype="step", lw=2, color="tab:orange" if row else "tab:blue", label="matches")
            if calibrated:
                ax.axvline(0.5, color="k", lw=1.2, label="p = 0.5 (one threshold)")
            elif col == 0:
                ax.axvline(own, color="k", ls="--", lw=1, label=f"best raw threshold {own:.2f}")
                ax.axvline(calibrator.threshold(0.5, *pair), color="k", lw=1.2, label="p = 0.5 in raw units")
            ax.set_yscale("log")
            ax.set_title(f"{pair[0]}->{pair[1]}: {title}", fontsize=10)
            ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"{model_name}, evaluation set (counts, log scale)", fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a text-image model folder (default: the shipped demo model)")
    parser.add_argument("--per-class", type=int, default=20, help="held-out images per class in each split")
    parser.add_argument("--split", choices=sorted(SPLITS), default="interleaved", help="how wordings are split")
    parser.add_argument("--figure", type=Path, default=REPO / "docs" / "img" / "calibration.png")
    args = parser.parse_args(argv)
    model = load_model(args.model)
    cal_words, eval_words = SPLITS[args.split]
    index = MultimodalIndex(model)
    calibration = split(index, cal_words, args.per_class, seed=101)
    evaluation = split(index, eval_words, args.per_class, seed=102)
    n_t, n_i = evaluation[PAIRS[0]][0].size, evaluation[PAIRS[1]][0].size
    print(f"evaluation pairs: text->text {n_t} ({int(evaluation[PAIRS[0]][1].sum())} matches), "
          f"text->image {n_i} ({int(evaluation[PAIRS[1]][1].sum())} matches); wordings split: {args.split}")
    print_table("Raw cosine thresholds vs calibrated probability (prior = base rate 1/12)",
                evaluate(calibration, evaluation, BASE_RATE))
    print_table("Calibrated with prior 0.5 (even odds), same data", evaluate(calibration, evaluation, 0.5, raw=False))
    wording_report(index)

    centred_index = centred(MultimodalIndex(model), args.per_class, cal_words)
    print(f"\nModality gap (distance between mean unit text and image embeddings): {centred_index.centering.gap('text', 'image'):.3f}")
    centred_calibration = split(centred_index, cal_words, args.per_class, seed=101)
    centred_evaluation = split(centred_index, eval_words, args.per_class, seed=102)
    modality_report(index, evaluation, "raw")
    modality_report(centred_index, centred_evaluation, "centred")
    print_table("After modality centring (prior = base rate 1/12)", evaluate(centred_calibration, centred_evaluation, BASE_RATE))

    name = "demo model" if not args.model else Path(args.model).name
    plot(evaluation, centred_evaluation, calibration, args.figure, name)
    print(f"\nwrote {args.figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
