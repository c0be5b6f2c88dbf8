#!/usr/bin/env python
"""Full-size models on CPU: load time, memory, first-embedding latency, inputs/s against the forward-only ceiling.

    HF_HUB_OFFLINE=1 PYTHONPATH=src python benchmarks/bench_full_size.py                       # every model, fp32 + bf16
    HF_HUB_OFFLINE=1 PYTHONPATH=src python benchmarks/bench_full_size.py --kinds clap-htsat-unfused --dtypes float32

The models have the published shapes and processor settings with random weights
(``st_multimodal.testing.full_size``), built once into ``--zoo-dir``. Each (model, dtype) is measured in
a fresh child process, so its peak RSS (the kernel's VmHWM) is its own:

- load: ``SentenceTransformer(folder, dtype=...)`` (or ``CrossEncoder``) wall seconds;
- first embedding: the first ``encode`` / ``predict`` of one input after loading;
- inputs/s: ``--n`` inputs (640x480 JPEGs; 10 s 44.1 kHz stereo FLAC for CLAP; (text, image) pairs for the
  reranker), best of ``--repeats`` rounds, each round new content;
- ceiling: the same inputs preprocessed beforehand (untimed), then only the model's forward pass timed;
- peak RSS (VmHWM), and what the model and the run added above the RSS right after the imports,
  against the weights' size in the chosen dtype plus one batch of features.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

KINDS = ("clap-htsat-unfused", "clip-vit-l-14-336", "siglip-so400m-384", "qwen3vl-2b-embedding", "qwen3vl-2b-reranker")


def _status(field: str) -> int:
    """A size from /proc/self/status in bytes (``VmHWM``: peak RSS so far, ``VmRSS``: RSS now)."""
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) * 1024 for line in handle if line.startswith(f"{field}:"))


def _inputs(kind: str, data_dir: str, n: int, round_: int) -> list:
    from _media import make_audio_files
    from _servers import make_jpegs

    if kind.startswith("clap"):
        return make_audio_files(data_dir, n, seconds=10, formats=("flac",), seed=round_)
    images = make_jpegs(data_dir, n, seed=round_)
    if kind.endswith("reranker"):
        return [(f"a photo of object {i}", p) for i, p in enumerate(images)]
    return images


def child(args) -> None:
    """One (model, dtype) in this process; prints one RESULT line of JSON."""
    import numpy as np
    import torch
    import transformers

    import st_multimodal as stm
    from st_multimodal.pipeline.device import features_to_device, floating_dtype
    from st_multimodal.testing import zoo
    from st_multimodal.upstream import upstream_value

    transformers.logging.set_verbosity_error()
    kind, dtype = args.kind, args.dtype
    folder = zoo.cached_model(kind, root=args.zoo_dir)
    weights = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder) if f.endswith(".safetensors"))
    weights += sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(folder) for f in fs
                   if f.endswith(".safetensors") and r != str(folder))
    cross = kind.endswith("reranker")
    _inputs(kind, args.data_dir, 1, 900)  # imports the media helpers before the baseline
    baseline = _status("VmRSS")  # interpreter + torch + transformers + sentence-transformers, no model yet
    cls = stm.CrossEncoder if cross else stm.SentenceTransformer
    start = time.perf_counter()
    model = cls(str(folder), device="cpu", dtype=dtype)
    load_s = time.perf_counter() - start
    bs = args.batch_size

    def run(items):
        if cross:
            return np.asarray(model.predict(items, batch_size=bs, show_progress_bar=False))
        return model.encode(items, batch_size=bs, show_progress_bar=False, convert_to_numpy=True)

    first_input = _inputs(kind, args.data_dir, 1, 900)
    start = time.perf_counter()
    run(first_input)
    first_s = time.perf_counter() - start

    times = []
    for round_ in range(args.repeats):
        items = _inputs(kind, args.data_dir, args.n, round_)
        start = time.perf_counter()
        run(items)
        times.append(time.perf_counter() - start)

    # forward-only ceiling: features of the last round's inputs made beforehand (as our pipeline makes them)
    ctx = model.resolve_context()

    def value_of(raw):
        resolved = stm.resolve(raw, ctx)
        return upstream_value(resolved.modality, resolved.value)

    values = [(q, value_of(d)) for q, d in items] if cross else [value_of(x) for x in items]
    ceiling, feature_bytes = [], 0
    try:
        dtype_of_model = floating_dtype(model)  # features in the model's dtype, as the pipeline hands them over
        batches = [features_to_device(model.preprocess(values[i:i + bs]), torch.device("cpu"), dtype_of_model)
                   for i in range(0, len(values), bs)]
        feature_bytes = max(sum(v.numel() * v.element_size() for v in b.values() if isinstance(v, torch.Tensor))
                            for b in batches)
        with torch.inference_mode():
            model(batches[0])
            for _ in range(args.repeats):
                start = time.perf_counter()
                for b in batches:
                    model(b)
                ceiling.append(time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - reported, the rest of the row stands
        print(f"ceiling not measured: {type(exc).__name__}: {exc}", file=sys.stderr)
    print("RESULT " + json.dumps({
        "kind": kind, "dtype": dtype, "n": args.n, "load_s": load_s, "first_s": first_s, "best_s": min(times),
        "ceiling_s": min(ceiling) if ceiling else None, "weights_bytes": weights, "batch_feature_bytes": feature_bytes,
        "peak_rss": _status("VmHWM"), "baseline_rss": baseline, "torch_threads": torch.get_num_threads(),
    }), flush=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--dtypes", default="float32,bfloat16")
    p.add_argument("--n", type=int, default=16, help="inputs per timed round")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--zoo-dir", default=os.path.join(tempfile.gettempdir(), "st_mm_full_size_zoo"))
    p.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "st_mm_bench_media"))
    p.add_argument("--json", default=None)
    p.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--kind", help=argparse.SUPPRESS)
    p.add_argument("--dtype", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._child:
        child(args)
        return
    results = []
    print("| model | dtype | load s | first input s | inputs/s | ceiling /s | ours/ceiling | peak RSS GB | "
          "weights GB (file, float32) | (peak - baseline RSS) / (weights in dtype + batch) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for kind in [k for k in args.kinds.split(",") if k]:
        for dtype in [d for d in args.dtypes.split(",") if d]:
            cmd = [sys.executable, os.path.abspath(__file__), "--_child", "--kind", kind, "--dtype", dtype,
                   "--n", str(args.n), "--batch-size", str(args.batch_size), "--repeats", str(args.repeats),
                   "--zoo-dir", args.zoo_dir, "--data-dir", args.data_dir]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                print(f"| {kind} | {dtype} | failed (rc {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]} |")
                continue
            r = json.loads(line.split(" ", 1)[1])
            results.append(r)
            rate = r["n"] / r["best_s"]
            ceil = r["n"] / r["ceiling_s"] if r["ceiling_s"] else float("nan")
            gb = 1e9
            model_bytes = r["weights_bytes"] * (0.5 if dtype == "bfloat16" else 1)
            ratio = (r["peak_rss"] - r["baseline_rss"]) / (model_bytes + r["batch_feature_bytes"])
            print(f"| {kind} | {dtype} | {r['load_s']:.1f} | {r['first_s']:.2f} | {rate:.2f} | {ceil:.2f} | "
                  f"{rate / ceil:.2f} | {r['peak_rss'] / gb:.2f} | {r['weights_bytes'] / gb:.2f} | {ratio:.2f} |",
                  flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
