"""Multi-vector index: storage size (float16 vs float32) and search latency (exact MaxSim vs single-vector), one run.

    HF_HUB_OFFLINE=1 python benchmarks/bench_multivector.py --n-docs 1000 --n-queries 50

Both indexes hold the same documents (generated page-like images, half 64x48 and half 96x96, and short
texts), embedded by two tiny zoo models on the same Qwen3-VL backbone: ``colqwen`` (one 16-d vector per
token, MaxSim) and ``qwen3vl-embedding`` (one 32-d vector per document, cosine). Latency is measured twice:
``search`` end to end (query encoding included) and the scoring step alone (the backend's ``search``
on already-embedded queries). Prints sizes in bytes and latency ratios.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def documents(n: int) -> list:
    from st_multimodal.testing import media

    words = ["invoice", "revenue", "north", "board", "minutes", "slide", "chart", "growth", "triangle", "blue"]
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        if i % 4 == 3:
            items.append(" ".join(rng.choice(words, size=int(rng.integers(3, 12)))))
        else:
            size = (64, 48) if i % 2 else (96, 96)
            items.append(media.png_bytes(w=size[0], h=size[1], seed=i))
    return items


def timed(fn, repeats: int) -> float:
    """Median seconds of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-docs", type=int, default=1000)
    parser.add_argument("--n-queries", type=int, default=50)
    args = parser.parse_args()

    import st_multimodal as stm
    from st_multimodal.retrieval import MultimodalIndex
    from st_multimodal.testing import zoo

    root = Path(tempfile.gettempdir()) / "st_multimodal_zoo"
    multi = stm.load(str(zoo.cached_model("colqwen", root=root)), device="cpu")
    single = stm.load(str(zoo.cached_model("qwen3vl-embedding", root=root)), device="cpu")
    items = documents(args.n_docs)
    queries = [f"query {i}: revenue of the north region" for i in range(args.n_queries)]

    start = time.perf_counter()
    half = MultimodalIndex(multi)
    half.add(items)
    build_s = time.perf_counter() - start
    full = MultimodalIndex(multi, storage_dtype="float32")
    full.add(items)
    flat = MultimodalIndex(single)
    flat.add(items)

    tokens = half.tokens
    images = [i for i, m in enumerate(half.modalities) if m == "image"]
    print(f"documents: {len(half)} ({len(images)} images), tokens: {len(tokens.data)}, dim {tokens.dim}; "
          f"multi-vector build {build_s:.1f} s")
    print(f"tokens per image page: {tokens.lengths[images].mean():.1f} (min {tokens.lengths[images].min()}, "
          f"max {tokens.lengths[images].max()})")
    print(f"index bytes float16: {half.nbytes:,}  float32: {full.nbytes:,}  ratio {half.nbytes / full.nbytes:.3f}")
    print(f"bytes per token: float16 {tokens.dim * 2}, float32 {tokens.dim * 4}; "
          f"bytes per image page (float16): {tokens.lengths[images].mean() * tokens.dim * 2:.0f}")
    print(f"single-vector index bytes (float32 vectors): {flat.vectors.nbytes:,}")

    with tempfile.TemporaryDirectory() as folder:
        half.save(Path(folder) / "half")
        full.save(Path(folder) / "full")
        on_disk = {name: sum(p.stat().st_size for p in (Path(folder) / name).glob("*.npy")) for name in ("half", "full")}
    print(f"saved .npy bytes float16: {on_disk['half']:,}  float32: {on_disk['full']:,}  "
          f"ratio {on_disk['half'] / on_disk['full']:.3f}")

    for index in (half, flat):
        index.search(queries[0])  # warm up
    end_to_end = {name: timed(lambda: [index.search(q) for q in queries], 3) / len(queries)
                  for name, index in (("maxsim", half), ("single", flat))}
    multi_queries = [half._embed_items([q], "query").vectors[0] for q in queries]
    single_queries = flat._space(flat._embed_items(queries, "query").vectors, ["text"] * len(queries))
    scoring = {
        "maxsim": timed(lambda: [half._get_backend().search([q], 10) for q in multi_queries], 3) / len(queries),
        "single": timed(lambda: [flat._get_backend().search(q[None], 10) for q in single_queries], 3) / len(queries),
    }
    print(f"search latency ratio maxsim / single-vector, end to end (query encoding included): "
          f"{end_to_end['maxsim'] / end_to_end['single']:.2f}")
    print(f"scoring-only latency ratio maxsim / single-vector: {scoring['maxsim'] / scoring['single']:.1f}")


if __name__ == "__main__":
    main()
