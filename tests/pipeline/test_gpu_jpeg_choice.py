"""When JPEGs are decoded on the GPU: only with a parity check against the CPU decode and a measured win.

Runs without a GPU: the decoders and the clock are stand-ins; the CPU decoder is the real one.
"""

from __future__ import annotations

import torch

from st_multimodal.pipeline.gpu_jpeg import choose_jpeg_decoder, cpu_jpeg_decoder, pixel_cosine
from st_multimodal.testing import media

SAMPLE = [media.jpeg_bytes(64, 48, seed=i) for i in range(4)]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def timed(decoder, clock: Clock, seconds_per_image: float, distort: float = 0.0):
    def decode(datas):
        clock.now += seconds_per_image * len(datas)
        images = decoder(datas)
        if distort:
            images = [(img.float() * (1 - distort) + 255 * distort * (torch.arange(img.numel()).reshape(img.shape) % 2)).to(torch.uint8)
                      for img in images]
        return images
    return decode


def test_gpu_chosen_when_it_agrees_and_is_faster_than_all_cpu_workers():
    clock = Clock()
    cpu = timed(cpu_jpeg_decoder(), clock, 0.004)
    gpu = timed(cpu_jpeg_decoder(), clock, 0.0005)  # same pixels, 8x faster than one worker
    choice = choose_jpeg_decoder(SAMPLE, gpu=gpu, cpu=cpu, decode_workers=4, clock=clock)
    assert choice.use_gpu and choice.min_cosine == 1.0


def test_cpu_kept_when_the_workers_together_are_faster():
    clock = Clock()
    cpu = timed(cpu_jpeg_decoder(), clock, 0.004)
    gpu = timed(cpu_jpeg_decoder(), clock, 0.0015)  # faster than one worker, slower than four
    choice = choose_jpeg_decoder(SAMPLE, gpu=gpu, cpu=cpu, decode_workers=4, clock=clock)
    assert not choice.use_gpu and "not faster" in choice.reason


def test_cpu_kept_when_gpu_pixels_differ():
    clock = Clock()
    cpu = timed(cpu_jpeg_decoder(), clock, 0.004)
    gpu = timed(cpu_jpeg_decoder(), clock, 0.0001, distort=0.3)
    choice = choose_jpeg_decoder(SAMPLE, gpu=gpu, cpu=cpu, decode_workers=1, clock=clock)
    assert not choice.use_gpu and choice.min_cosine < 0.9999 and "differ" in choice.reason


def test_cpu_kept_without_a_gpu_decoder_or_when_it_fails():
    assert not choose_jpeg_decoder(SAMPLE, gpu=None, cpu=cpu_jpeg_decoder(), decode_workers=2).use_gpu

    def broken(datas):
        raise RuntimeError("nvjpeg unavailable")

    choice = choose_jpeg_decoder(SAMPLE, gpu=broken, cpu=cpu_jpeg_decoder(), decode_workers=2)
    assert not choice.use_gpu and "failed" in choice.reason


def test_pixel_cosine():
    a = torch.arange(12, dtype=torch.uint8).reshape(3, 2, 2)
    assert pixel_cosine(a, a) == 1.0
    assert pixel_cosine(a, a[:, :1]) == 0.0
    assert pixel_cosine(a, 255 - a) < 0.9
