"""JPEG decoding on the GPU (``torchvision.io.decode_jpeg(device="cuda")``), used only where it is exact enough and faster.

nvJPEG's IDCT and chroma upsampling differ slightly from libjpeg-turbo's, so GPU-decoded pixels are
not bit-identical to the CPU decode. :func:`choose_jpeg_decoder` therefore decodes a sample both ways
and picks the GPU only when every sample image agrees with the CPU decode to a cosine of at least
``min_cosine`` (as float pixel vectors) and the GPU decodes the sample faster than the CPU workers
would (CPU seconds per image divided by the number of decode workers). Otherwise the CPU decode stays.
The decoders and the clock are parameters, so the choice logic runs (and is tested) without a GPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["JpegDecodeChoice", "choose_jpeg_decoder", "cuda_jpeg_decoder", "cpu_jpeg_decoder", "pixel_cosine"]

MIN_COSINE = 0.9999


@dataclass
class JpegDecodeChoice:
    use_gpu: bool
    reason: str
    min_cosine: float | None = None
    cpu_s_per_image: float | None = None
    gpu_s_per_image: float | None = None


def pixel_cosine(a: Any, b: Any) -> float:
    """Cosine similarity of two images' pixels as float vectors (1.0 for identical images); 0.0 if shapes differ."""
    import torch

    a, b = a.detach().to("cpu", torch.float64).flatten(), b.detach().to("cpu", torch.float64).flatten()
    if a.shape != b.shape:
        return 0.0
    denominator = a.norm() * b.norm()
    return float((a @ b) / denominator) if denominator > 0 else float(torch.equal(a, b))


def cpu_jpeg_decoder() -> Callable[[list[bytes]], list[Any]]:
    """libjpeg-turbo through torchvision, one image at a time (what the decode workers do)."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    return lambda datas: [decode_jpeg(torch.frombuffer(bytearray(d), dtype=torch.uint8), mode=ImageReadMode.RGB)
                          for d in datas]


def cuda_jpeg_decoder(device: str = "cuda") -> Callable[[list[bytes]], list[Any]]:
    """nvJPEG through torchvision, one batched call; tensors stay on ``device``."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    def decode(datas: list[bytes]) -> list[Any]:
        tensors = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in datas]
        out = decode_jpeg(tensors, mode=ImageReadMode.RGB, device=device)
        torch.cuda.synchronize(device)
        return out

    return decode


def choose_jpeg_decoder(sample: Sequence[bytes], *, gpu: Callable[[list[bytes]], list[Any]] | None,
                        cpu: Callable[[list[bytes]], list[Any]], decode_workers: int,
                        min_cosine: float = MIN_COSINE, clock: Callable[[], float] = time.perf_counter) -> JpegDecodeChoice:
    """Decode ``sample`` both ways; the GPU is chosen only if it agrees (cosine >= ``min_cosine``) and wins on time."""
    if gpu is None:
        return JpegDecodeChoice(False, "no GPU JPEG decoder")
    sample = list(sample)
    if not sample:
        return JpegDecodeChoice(False, "no sample to measure")
    try:
        gpu(sample[:1])  # warm-up: the first call initialises nvJPEG
        start = clock()
        on_gpu = gpu(sample)
        gpu_s = (clock() - start) / len(sample)
    except Exception as exc:  # noqa: BLE001 - any failure keeps the CPU path
        return JpegDecodeChoice(False, f"GPU decode failed: {type(exc).__name__}")
    start = clock()
    on_cpu = cpu(sample)
    cpu_s = (clock() - start) / len(sample)
    worst = min(pixel_cosine(g, c) for g, c in zip(on_gpu, on_cpu))
    choice = JpegDecodeChoice(False, "", worst, cpu_s, gpu_s)
    if worst < min_cosine:
        choice.reason = f"GPU pixels differ from the CPU decode (cosine {worst:.6f} < {min_cosine})"
    elif gpu_s >= cpu_s / max(1, decode_workers):
        choice.reason = (f"GPU not faster: {1e3 * gpu_s:.2f} ms per image vs {1e3 * cpu_s:.2f} ms on "
                         f"{decode_workers} CPU worker(s)")
    else:
        choice.use_gpu = True
        choice.reason = (f"GPU: {1e3 * gpu_s:.2f} ms per image vs {1e3 * cpu_s / max(1, decode_workers):.2f} ms "
                         f"on {decode_workers} CPU worker(s); cosine {worst:.6f}")
    return choice
