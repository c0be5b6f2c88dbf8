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
- CPU seconds per input (process time, both cores) of ours, of the forward pass alone and of the input side
  alone (decode + preprocess in the calling thread), and the input side's share of the two: where it is large, the
  cores are shared and the forward-only ceiling cannot be reached (input-bound);
- memory: the baseline is the RSS after the imports and after a tiny model of the same family
  (``st_multimodal.testing.zoo``) was loaded, run on one batch and dropped, so that the library's fixed cost
  (lazy imports, code pages, worker pools) is not counted as the model's. Against the weights in the chosen
  dtype (the parameters as loaded): the load's peak (VmHWM) above the baseline; the peak of the load and our
  rounds above the baseline, against the weights plus one batch of features; and the same for the
  forward-only pass (one batch of features in, its activations; the round's other batches, which it holds
  at once, subtracted): the least a forward pass needs, for comparison. Peaks are VmHWM, reset between
  phases through ``/proc/self/clear_refs``.

Our rounds and the ceiling's alternate (each round: ours, then the same inputs' features made, then the
forward-only pass on them), after one warm-up batch at the batch size for both; best of ``--repeats``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
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

TINY_COUNTERPART = {"clip-vit-l-14-336": "clip", "siglip-so400m-384": "siglip", "clap-htsat-unfused": "clap",
                    "qwen3vl-2b-embedding": "qwen3vl-embedding", "qwen3vl-2b-reranker": "qwen3vl-reranker"}
"""The tiny zoo model of each full-size kind's family: same classes, processor and code paths."""

KINDS = ("clap-htsat-unfused", "clip-vit-l-14-336", "siglip-so400m-384", "qwen3vl-2b-embedding", "qwen3vl-2b-reranker")


def _status(field: str) -> int:
    """A size from /proc/self/status in bytes (``VmHWM``: peak RSS so far, ``VmRSS``: RSS now)."""
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) * 1024 for line in handle if line.startswith(f"{field}:"))


def _reset_peak() -> None:
    """Start VmHWM afresh from the RSS now (Linux: ``5`` to ``/proc/self/clear_refs``)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def _inputs(kind: str, data_dir: str, n: int, round_: int) -> list:
    from _media import make_audio_files
    from _servers import make_jpegs

    if kind.startswith("clap"):
        return make_audio_files(data_dir, n, seconds=10, formats=("flac",), seed=round_)
    images = make_jpegs(data_dir, n, seed=round_)
    if kind.endswith("reranker"):
        return [(f"a photo of object {i}", p) for i, p in enumerate(images)]
    return images


def _parameter_bytes(model) -> int:
    """Bytes of the model's parameters and buffers as loaded (shared storages once)."""
    seen, total = set(), 0
    for tensor in [*model.parameters(), *model.buffers()]:
        key = tensor.untyped_storage().data_ptr()
        if key not in seen:
            seen.add(key)
            total += tensor.untyped_storage().nbytes()
    return total


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
    weights = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(folder) for f in fs
                  if f.endswith(".safetensors"))
    cross = kind.endswith("reranker")
    cls = stm.CrossEncoder if cross else stm.SentenceTransformer
    _inputs(kind, args.data_dir, 1, 900)  # imports the media helpers before the baseline
    imports_rss = _status("VmRSS")  # interpreter + torch + transformers + sentence-transformers, no model yet
    # The fixed cost of the library for this family (lazy imports, code pages, pools), paid once whatever the
    # model's size: a tiny model of the same family loaded and run on one batch, then dropped.
    tiny = cls(str(zoo.cached_model(TINY_COUNTERPART[kind])), device="cpu", dtype=dtype)
    tiny_items = _inputs(kind, args.data_dir, args.batch_size, 902)
    if cross:
        tiny.predict(tiny_items, batch_size=args.batch_size, show_progress_bar=False)
    else:
        tiny.encode(tiny_items, batch_size=args.batch_size, show_progress_bar=False)
    del tiny
    gc.collect()
    baseline = _status("VmRSS")
    _reset_peak()
    start = time.perf_counter()
    model = cls(str(folder), device="cpu", dtype=dtype)
    load_s = time.perf_counter() - start
    load_peak = _status("VmHWM")
    bs = args.batch_size

    def run(items):
        if cross:
            return np.asarray(model.predict(items, batch_size=bs, show_progress_bar=False))
        return model.encode(items, batch_size=bs, show_progress_bar=False, convert_to_numpy=True)

    first_input = _inputs(kind, args.data_dir, 1, 900)
    start = time.perf_counter()
    run(first_input)
    first_s = time.perf_counter() - start
    run(_inputs(kind, args.data_dir, bs, 901))  # warm-up at the batch size (the ceiling gets one too)

    ctx = model.resolve_context()
    model_dtype = floating_dtype(model)  # features in the model's dtype, as the pipeline hands them over

    def value_of(raw):
        resolved = stm.resolve(raw, ctx)
        return upstream_value(resolved.modality, resolved.value)

    def features_of(items):
        values = [(q, value_of(d)) for q, d in items] if cross else [value_of(x) for x in items]
        return [features_to_device(model.preprocess(values[i:i + bs]), torch.device("cpu"), model_dtype)
                for i in range(0, len(values), bs)]

    # Our rounds and the ceiling's alternate, so that other load on the machine weighs on both alike.
    ours, ours_cpu, ceiling, ceiling_cpu, input_cpu, feature_bytes = [], [], [], [], [], 0
    ours_peak, forward_peak = load_peak, 0
    for round_ in range(args.repeats):
        items = _inputs(kind, args.data_dir, args.n, round_)
        _reset_peak()
        start, cpu = time.perf_counter(), time.process_time()
        run(items)
        ours.append(time.perf_counter() - start)
        ours_cpu.append(time.process_time() - cpu)
        ours_peak = max(ours_peak, _status("VmHWM"))
        try:
            cpu = time.process_time()
            batches = features_of(items)  # the input side alone (decode + preprocess), untimed for the ceiling
            input_cpu.append(time.process_time() - cpu)
            sizes = [sum(v.numel() * v.element_size() for v in b.values() if isinstance(v, torch.Tensor))
                     for b in batches]
            feature_bytes = max(sizes)
            _reset_peak()
            with torch.inference_mode():
                if round_ == 0:
                    model(batches[0])
                start, cpu = time.perf_counter(), time.process_time()
                for b in batches:
                    model(b)
                ceiling.append(time.perf_counter() - start)
                ceiling_cpu.append(time.process_time() - cpu)
            forward_peak = max(forward_peak, _status("VmHWM") - (sum(sizes) - feature_bytes))
            del batches
        except Exception as exc:  # noqa: BLE001 - reported, the rest of the row stands
            print(f"ceiling not measured: {type(exc).__name__}: {exc}", file=sys.stderr)
    print("RESULT " + json.dumps({
        "kind": kind, "dtype": dtype, "n": args.n, "load_s": load_s, "first_s": first_s, "best_s": min(ours),
        "ceiling_s": min(ceiling) if ceiling else None, "cpu_s": min(ours_cpu),
        "ceiling_cpu_s": min(ceiling_cpu) if ceiling_cpu else None, "input_cpu_s": min(input_cpu) if input_cpu else None,
        "weights_bytes": weights, "parameter_bytes": _parameter_bytes(model), "batch_feature_bytes": feature_bytes,
        "load_peak_rss": load_peak, "peak_rss": ours_peak, "forward_only_peak_rss": forward_peak or None,
        "baseline_rss": baseline, "imports_rss": imports_rss, "torch_threads": torch.get_num_threads(),
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
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    print("| model | dtype | load s | first input s | inputs/s | ceiling /s | ours/ceiling | CPU s per input: ours, "
          "forward, input side | input side's share | peak RSS GB | weights GB (in dtype) | load peak / weights | "
          "run peak / (weights + batch): ours, forward only |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
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
            r["cores"] = cores
            results.append(r)
            n, gb = r["n"], 1e9
            rate = n / r["best_s"]
            ceil = n / r["ceiling_s"] if r["ceiling_s"] else float("nan")
            forward_cpu, input_cpu = (r["ceiling_cpu_s"] or float("nan")) / n, (r["input_cpu_s"] or float("nan")) / n
            share = input_cpu / (input_cpu + forward_cpu)
            weights = r["parameter_bytes"]
            load_ratio = (r["load_peak_rss"] - r["baseline_rss"]) / weights
            run_ratio = (r["peak_rss"] - r["baseline_rss"]) / (weights + r["batch_feature_bytes"])
            forward_ratio = ((r["forward_only_peak_rss"] or float("nan")) - r["baseline_rss"]) / (
                weights + r["batch_feature_bytes"])
            print(f"| {kind} | {dtype} | {r['load_s']:.1f} | {r['first_s']:.2f} | {rate:.2f} | {ceil:.2f} | "
                  f"{rate / ceil:.2f} | {r['cpu_s'] / n:.3f}, {forward_cpu:.3f}, {input_cpu:.3f} | {share:.0%} | "
                  f"{r['peak_rss'] / gb:.2f} | {weights / gb:.2f} | {load_ratio:.2f} | {run_ratio:.2f}, {forward_ratio:.2f} |",
                  flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
