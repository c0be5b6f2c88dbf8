#!/usr/bin/env python
"""What rendering PDF pages in worker processes costs, against rendering them in this process, same run.

Run from the repository root::

    PYTHONPATH=src python benchmarks/bench_pdf_render.py
    PYTHONPATH=src python benchmarks/bench_pdf_render.py --pages 40 --repeats 5 --threads 2

Ordinary documents: A4 pages of vector shapes and pages carrying a 1200x900 photo-like image,
rendered at the default 150 dpi (1240 x 1755 pixels). "in-process" is the former path: open the
document under one process-wide lock, render, copy into a PIL image. "workers" is
``st_multimodal.decoders.pdf.render_page`` (the worker pool, started before timing). Pixels are
compared page by page. With ``--threads N`` both paths are called from N threads at once (the
in-process path serialises on its lock; the pool renders up to ``RENDER_WORKERS`` pages at once).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from st_multimodal.decoders import pdf, pdfium_render
from st_multimodal.policy import DecodeLimits
from st_multimodal.testing import media
from st_multimodal.testing.documents import pdf_bytes

LOCK = threading.Lock()


def documents(pages: int) -> list[bytes]:
    shapes = [("triangle", "blue"), ("circle", "red"), ("square", "green")]
    vector = pdf_bytes([shapes[i % 3] for i in range(pages)])
    photos = pdf_bytes([media.image(i, 1200, 900) for i in range(max(1, pages // 4))])
    return [vector, photos]


def in_process(data: bytes, page: int, limits: DecodeLimits):
    with LOCK:
        document = pdfium_render.open_document(data)
        try:
            return pdfium_render.render_rgb(document, page, limits.pdf_dpi,
                                            min(limits.pdf_max_pixels_per_page, limits.max_pixels),
                                            limits.image_background)
        finally:
            document.close()


def run(render, jobs: list[tuple[bytes, int]], threads: int, limits: DecodeLimits) -> tuple[float, list]:
    started = time.perf_counter()
    if threads == 1:
        images = [render(data, page, limits) for data, page in jobs]
    else:
        with ThreadPoolExecutor(threads) as pool:
            images = list(pool.map(lambda job: render(job[0], job[1], limits), jobs))
    return time.perf_counter() - started, images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    limits = DecodeLimits()
    jobs = [(data, page) for data in documents(args.pages) for page in range(1, pdf.count_pages(data) + 1)]
    pdf.render_page(jobs[0][0], 1, limits)  # start a worker
    timings = {"in-process": [], "workers": []}
    for round_ in range(args.repeats):
        order = [("in-process", in_process), ("workers", pdf.render_page)]
        for name, render in order if round_ % 2 == 0 else order[::-1]:
            seconds, images = run(render, jobs, args.threads, limits)
            timings[name].append(seconds)
            if name == "in-process":
                reference = images
            else:
                produced = images
    same = all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(reference, produced))
    best = {name: min(values) for name, values in timings.items()}
    print(f"{len(jobs)} pages ({args.pages} vector + {len(jobs) - args.pages} with a photo), "
          f"{args.threads} thread(s), {pdf.RENDER_WORKERS} workers, best of {args.repeats}")
    for name, values in timings.items():
        print(f"  {name:10s} {len(jobs) / best[name]:7.1f} pages/s  (median {len(jobs) / statistics.median(values):.1f})")
    print(f"  workers / in-process throughput: {best['in-process'] / best['workers']:.2f}x; pixels identical: {same}")


if __name__ == "__main__":
    main()
