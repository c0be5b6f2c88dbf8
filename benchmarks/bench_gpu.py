"""GPU throughput: this library vs upstream vs the forward-only ceiling, on one CUDA device, in one run.

    HF_HUB_OFFLINE=1 python benchmarks/bench_gpu.py --n-images 2048 --batch-size 256

A ViT-B/32-sized CLIP with random weights (built offline by ``st_multimodal.testing.zoo``) embeds
640x480 JPEGs read from local paths. The ceiling is the model's forward pass alone on batches
preprocessed beforehand (already on the GPU); the pipelined loop has to fetch, decode, preprocess and
copy while the GPU works. Prints images/s and ratios; timings use ``torch.cuda.synchronize``.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def make_jpegs(folder: Path, n: int, w: int = 640, h: int = 480) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)

    def one(i: int) -> Path:
        path = folder / f"img{i:05d}.jpg"
        if not path.exists():
            rng = np.random.default_rng(i)
            y, x = np.mgrid[0:h, 0:w].astype(np.float32)
            base = np.stack([np.sin(x / (20 + i % 30)), np.cos(y / 35), np.sin((x + y) / 50)], -1) * 90 + 128
            pixels = np.clip(base + rng.normal(0, 18, (h, w, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(path, "JPEG", quality=90)
        return path

    with ThreadPoolExecutor(os.cpu_count() or 4) as pool:
        return list(pool.map(one, range(n)))


DEVICE = "cuda"


def sync() -> None:
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, repeats: int) -> float:
    """Best wall time of ``repeats`` runs after one warm-up, CUDA synchronised."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def ceiling(model, paths: list[Path], batch_size: int, repeats: int) -> float:
    """images/s of the forward pass alone, on batches preprocessed and moved to the GPU beforehand."""
    from st_multimodal import resolve

    ctx = model.resolve_context()
    with ThreadPoolExecutor(os.cpu_count() or 4) as pool:
        images = list(pool.map(lambda p: resolve(p, ctx).value, paths))
    batches = []
    for start in range(0, len(images), batch_size):
        features = model.preprocess(images[start : start + batch_size])
        batches.append({k: v.to(DEVICE) if isinstance(v, torch.Tensor) else v for k, v in features.items()})

    @torch.inference_mode()
    def run():
        for features in batches:
            model(features)

    return len(paths) / timed(run, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--size", default="vit-b-32", help="zoo CLIP size: vit-b-32 (default) or tiny")
    parser.add_argument("--device", default="cuda", help="cuda (default); cpu only to smoke-test the script")
    args = parser.parse_args()
    global DEVICE
    DEVICE = args.device

    import sentence_transformers
    import transformers

    import st_multimodal as stm
    from st_multimodal.testing.zoo import build_clip

    name = torch.cuda.get_device_name() if DEVICE.startswith("cuda") else "cpu"
    print(f"device: {name}  cpus: {os.cpu_count()}  torch {torch.__version__}  "
          f"transformers {transformers.__version__}  sentence-transformers {sentence_transformers.__version__}  "
          f"python {platform.python_version()}")
    root = Path(tempfile.gettempdir()) / "st_mm_gpu_bench"
    paths = make_jpegs(root / "images", args.n_images)
    model_path = root / f"clip-{args.size}"
    if not model_path.exists():
        build_clip(model_path, size=args.size)
    dtype = torch.bfloat16 if DEVICE.startswith("cuda") else torch.float32
    n, bs, reps = len(paths), args.batch_size, args.repeats
    print(f"{n} JPEGs 640x480 from local paths, CLIP {args.size} (random weights), {dtype}, batch {bs}, best of {reps}\n")

    ours = stm.SentenceTransformer(str(model_path), device=DEVICE)
    assert next(ours.parameters()).dtype == dtype
    top = ceiling(ours, paths, bs, reps)
    print(f"forward-only ceiling            {top:9.1f} images/s")

    upstream = sentence_transformers.SentenceTransformer(str(model_path), device=DEVICE, model_kwargs={"dtype": dtype})
    up = n / timed(lambda: upstream.encode([str(p) for p in paths], batch_size=bs), reps)
    print(f"upstream encode(paths)          {up:9.1f} images/s   {up / top:5.2f}x ceiling")

    reference = None
    for label, kwargs, limits in [
        ("ours, defaults (GPU preprocessing)", {}, None),
        ("ours, CPU preprocessing", {"gpu_preprocessing": False}, None),
        ("ours, CPU preprocessing, 4 preprocess workers", {"gpu_preprocessing": False, "preprocess_workers": 4}, None),
        ("ours, 32 decode workers", {"decode_workers": 32}, None),
        ("ours, 32 decode workers, 4 preprocess", {"decode_workers": 32, "preprocess_workers": 4}, None),
        ("ours, draft JPEG (opt-in)", {}, stm.DecodeLimits(draft_jpeg=True)),
    ]:
        model = stm.SentenceTransformer(str(model_path), device=DEVICE, **kwargs)
        rate = n / timed(lambda: model.encode(paths, batch_size=bs, limits=limits), reps)
        emb = model.encode(paths[:256], batch_size=bs, limits=limits)
        reference = emb if reference is None else reference
        cos = float(((emb * reference).sum(1) / np.linalg.norm(emb, axis=1) / np.linalg.norm(reference, axis=1)).min())
        print(f"{label:32}{rate:9.1f} images/s   {rate / top:5.2f}x ceiling   {rate / up:5.2f}x upstream   min cos vs defaults {cos:.5f}")
        if DEVICE.startswith("cuda"):
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
