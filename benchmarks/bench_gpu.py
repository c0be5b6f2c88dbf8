"""GPU throughput: this library vs upstream vs the forward-only ceiling, on one CUDA device, in one run.

    HF_HUB_OFFLINE=1 PYTHONPATH=src python benchmarks/bench_gpu.py                  # both models, workers 1/4/8/16
    HF_HUB_OFFLINE=1 PYTHONPATH=src python benchmarks/bench_gpu.py --models tiny --n-images 64 --device cpu  # smoke test

A ViT-B/32-sized CLIP and a Qwen3-VL-2B-sized embedder with random weights (built offline by
``st_multimodal.testing.zoo``), in bfloat16, embed 640x480 JPEGs read from local paths, with 1, 4, 8 and
16 decode workers. First, a sample is decoded with nvJPEG and with the CPU: the GPU decode is only
eligible when every image agrees with the CPU decode to a cosine of 0.9999, and is chosen only when it
is faster than the CPU workers (``st_multimodal.pipeline.gpu_jpeg``). The ceiling is the model's forward pass alone on batches
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


def gpu_jpeg_row(paths: list[Path], workers: int) -> str:
    """Decode a sample both ways and report which decoder the automatic choice takes, and why."""
    from st_multimodal.pipeline.gpu_jpeg import choose_jpeg_decoder, cpu_jpeg_decoder, cuda_jpeg_decoder

    sample = [p.read_bytes() for p in paths[:256]]
    gpu = cuda_jpeg_decoder() if DEVICE.startswith("cuda") else None
    choice = choose_jpeg_decoder(sample, gpu=gpu, cpu=cpu_jpeg_decoder(), decode_workers=workers)
    cos = "-" if choice.min_cosine is None else f"{choice.min_cosine:.6f}"
    return f"GPU JPEG decode (nvJPEG) vs {workers} CPU workers: {'GPU' if choice.use_gpu else 'CPU'} chosen; min cosine {cos}; {choice.reason}"


def model_folder(kind: str, root: Path) -> Path:
    from st_multimodal.testing import zoo

    return zoo.cached_model({"vit-b-32": "clip-vit-b-32", "tiny": "clip"}.get(kind, kind), root=root / "zoo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=2048)
    parser.add_argument("--n-images-large", type=int, default=256, help="images for the Qwen3-VL-2B-sized model")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--batch-size-large", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--models", default="vit-b-32,qwen3vl-2b-embedding",
                        help="comma-separated: vit-b-32, tiny, qwen3vl-2b-embedding")
    parser.add_argument("--workers", default="1,4,8,16", help="decode_workers to sweep")
    parser.add_argument("--device", default="cuda", help="cuda (default); cpu only to smoke-test the script")
    args = parser.parse_args()
    global DEVICE
    DEVICE = args.device

    import sentence_transformers
    import transformers

    import st_multimodal as stm

    transformers.logging.set_verbosity_error()
    name = torch.cuda.get_device_name() if DEVICE.startswith("cuda") else "cpu"
    print(f"device: {name}  cpus: {os.cpu_count()}  torch {torch.__version__}  "
          f"transformers {transformers.__version__}  sentence-transformers {sentence_transformers.__version__}  "
          f"python {platform.python_version()}", flush=True)
    root = Path(tempfile.gettempdir()) / "st_mm_gpu_bench"
    all_paths = make_jpegs(root / "images", args.n_images)
    dtype = torch.bfloat16 if DEVICE.startswith("cuda") else torch.float32
    workers = [int(w) for w in args.workers.split(",") if w]
    print(gpu_jpeg_row(all_paths, max(workers)), flush=True)
    for kind in [m for m in args.models.split(",") if m]:
        large = kind.startswith("qwen")
        paths = all_paths[: args.n_images_large if large else args.n_images]
        n, bs, reps = len(paths), (args.batch_size_large if large else args.batch_size), args.repeats
        folder = model_folder(kind, root)
        print(f"\n== {kind}: {n} JPEGs 640x480 from local paths, random weights, {dtype}, batch {bs}, best of {reps} ==",
              flush=True)
        ours = stm.SentenceTransformer(str(folder), device=DEVICE, dtype="bfloat16" if dtype == torch.bfloat16 else "float32")
        top = ceiling(ours, paths, bs, reps)
        print(f"forward-only ceiling                      {top:9.1f} images/s", flush=True)
        upstream = sentence_transformers.SentenceTransformer(str(folder), device=DEVICE, model_kwargs={"dtype": dtype})
        up = n / timed(lambda: upstream.encode([str(p) for p in paths], batch_size=bs), reps)
        print(f"upstream encode(paths)                    {up:9.1f} images/s   {up / top:5.2f}x ceiling", flush=True)
        del upstream
        reference = None
        configs = [(f"ours, decode_workers={w}", {"decode_workers": w}) for w in workers]
        if not large:
            configs.append(("ours, CPU preprocessing", {"gpu_preprocessing": False}))
        for label, kwargs in configs:
            model = stm.SentenceTransformer(str(folder), device=DEVICE,
                                            dtype="bfloat16" if dtype == torch.bfloat16 else "float32", **kwargs)
            rate = n / timed(lambda: model.encode(paths, batch_size=bs), reps)
            emb = model.encode(paths[:64], batch_size=bs)
            reference = emb if reference is None else reference
            cos = float(((emb * reference).sum(1) / np.linalg.norm(emb, axis=1) / np.linalg.norm(reference, axis=1)).min())
            print(f"{label:42}{rate:9.1f} images/s   {rate / top:5.2f}x ceiling   {rate / up:5.2f}x upstream   "
                  f"min cos vs first {cos:.5f}", flush=True)
            del model
            if DEVICE.startswith("cuda"):
                torch.cuda.empty_cache()
        del ours


if __name__ == "__main__":
    main()
