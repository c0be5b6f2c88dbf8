#!/usr/bin/env python
"""Throughput: st_multimodal against upstream Sentence Transformers, same inputs, same process, same run.

Run from the repository root (offline; nothing is downloaded)::

    HF_HUB_OFFLINE=1 PYTHONPATH=src python benchmarks/bench_throughput.py            # scenarios a-f
    HF_HUB_OFFLINE=1 PYTHONPATH=src python benchmarks/bench_throughput.py --stream   # + 20,000-image stream
    HF_HUB_OFFLINE=1 PYTHONPATH=src python benchmarks/bench_throughput.py --only a,c --repeats 5
    HF_HUB_OFFLINE=1 PYTHONPATH=src python benchmarks/bench_throughput.py --only a,b --device cuda --model-size /models/clip-vit-b-32
    HF_HUB_OFFLINE=1 PYTHONPATH=src python benchmarks/bench_throughput.py --sweep    # try the pipeline knobs on a, b, c

Scenarios (batch size 32 unless ``--batch-size``):

  a   local 640x480 JPEGs by path, tiny random CLIP: preprocessing-bound
  a0  (a) with ours' per-call forward-thread plan switched off (CPU only): what the plan adds
  b   the same, ViT-B/32-sized random CLIP (or ``--model-size PATH``): compute-bound, fewer images
  c   .jpg URLs from a threaded 127.0.0.1 server that answers 50 ms late; ours with FetchPolicy(allow_loopback=True)
  d   (a) with the persistent embedding cache (``cache_dir=``): first pass (writes) and second pass (hits)
  e   texts and images mixed in one call (upstream cannot mix them for CLIP: timed as two calls, texts then images)
  f   tiny random Qwen3-VL reranker (CrossEncoder) on (text, image path) pairs
  stream  ``encode_to_disk`` over 20,000 paths (the corpus reused cyclically), in a child process: peak RSS + rate

For (a) and (b) a forward-only ceiling is measured too: everything preprocessed first (untimed), then
only ``model(features)`` timed over the batches, in the same rounds as ours and upstream. Each measurement is a warm-up, then ``--repeats``
rounds alternating ours and upstream (who goes first alternates); the table shows the best round
and the median is printed alongside. Both libraries run as a user gets them (ours with its default
caches on): every round uses inputs of new content (round ``r``: corpus seed ``r``), so no cache can
answer a later round from an earlier one.
Embeddings are compared (minimum cosine over rows); reranker scores by maximum absolute difference.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _servers import SlowImageServer, make_jpegs  # noqa: E402

ALL = ("a", "a0", "a1", "b", "c", "d", "e", "f")
WARM = 999
"""Corpus seed of the warm-up rounds (timed round ``r`` uses seed ``r``)."""


# ----------------------------------------------------------------------------------------- timing
def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


_LAST_CPU = [0.0]


def _timed(fn: Callable[[], Any], device: str) -> tuple[float, Any]:
    """Wall seconds of ``fn()``; the process CPU seconds it used (all threads) are left in ``_LAST_CPU``."""
    _sync(device)
    cpu = time.process_time()
    start = time.perf_counter()
    result = fn()
    _sync(device)
    wall = time.perf_counter() - start
    _LAST_CPU[0] = time.process_time() - cpu
    return wall, result


@dataclass
class Timing:
    times: list[float] = field(default_factory=list)
    result: Any = None
    cpu: list[float] = field(default_factory=list)
    """Process CPU seconds (all threads) per round: the work done, much less sensitive to other load than wall time."""

    @property
    def best_cpu(self) -> float:
        return min(self.cpu) if self.cpu else float("nan")

    @property
    def best(self) -> float:
        return min(self.times) if self.times else float("nan")

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")


def compare(runners: dict[str, Callable[[int], Any]], warmups: dict[str, Callable[[], Any]], repeats: int, device: str) -> dict[str, Timing]:
    """Warm each runner up once, then ``repeats`` rounds; the order of runners rotates every round.

    A runner is called with the round number, so each round can use inputs of new content (no cache of ours
    can answer a later round from an earlier one; upstream has none)."""
    for name, warm in warmups.items():
        warm()
    out = {name: Timing() for name in runners}
    names = list(runners)
    for round_ in range(repeats):
        order = names[round_ % len(names):] + names[: round_ % len(names)]
        for name in order:
            gc.collect()
            seconds, result = _timed(lambda: runners[name](round_), device)
            out[name].times.append(seconds)
            out[name].cpu.append(_LAST_CPU[0])
            out[name].result = result
    return out


def min_cosine(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("nan")
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-30)
    return float(cos.min())


# ---------------------------------------------------------------------------------- thread plans
THREAD_DECISIONS: list = []
"""The forward-thread decision of every pipeline run of ours (see st_multimodal.pipeline.threads)."""


def _record_thread_decisions() -> None:
    from st_multimodal.pipeline.threads import ForwardThreadPlan

    finish = ForwardThreadPlan.finish

    def recording_finish(self):
        THREAD_DECISIONS.append(self.decision)
        return finish(self)

    ForwardThreadPlan.finish = recording_finish


def thread_note(decisions: list) -> str:
    """The threads the last timed calls of ours chose, e.g. ``forward threads 1 (preprocessing-bound ...)``."""
    if not decisions:
        return ""
    last = decisions[-1]
    return f"forward threads {last.chosen} of {last.full}: {last.reason}"


# ------------------------------------------------------------------------------------------ models
def _to_numpy(x) -> np.ndarray:
    return x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


class Env:
    """Models (built lazily, kept for the run) and the corpus."""

    def __init__(self, args):
        self.args = args
        self.device = args.device
        self._models: dict[tuple, Any] = {}
        self.n_corpus = max(args.n_images, args.n_images_b, args.n_urls, args.n_pairs)
        self.paths = self.corpus(0)

    def corpus(self, round_: int, n: int | None = None) -> list[str]:
        """Round ``round_``'s JPEGs (new content every round; ``WARM`` for warm-ups), made once and kept on disk."""
        return make_jpegs(self.args.data_dir, n or self.n_corpus, seed=round_)

    def model_path(self, kind: str) -> str:
        if kind == "small":
            spec = self.args.small_model
        elif kind == "large":
            spec = self.args.model_size
        else:
            spec = self.args.reranker
        if os.path.isdir(spec):
            return spec
        from st_multimodal.testing import zoo

        zoo_kind = {"tiny": "clip", "vit-b-32": "clip-vit-b-32"}.get(spec, spec)
        return str(zoo.cached_model(zoo_kind))

    def ours_kwargs(self, **overrides) -> dict:
        from st_multimodal import DecodeLimits

        a = self.args
        kw = dict(resolve_workers=a.resolve_workers, preprocess_workers=a.preprocess_workers,
                  prefetch_batches=a.prefetch_batches, dtype=a.dtype)
        if a.draft_jpeg:
            kw["limits"] = DecodeLimits(draft_jpeg=True)
        kw.update(overrides)
        return kw

    def ours(self, kind: str, cross: bool = False, **overrides):
        import st_multimodal

        kw = self.ours_kwargs(**overrides)
        key = ("ours", kind, cross, tuple(sorted((k, repr(v)) for k, v in kw.items())))
        if key not in self._models:
            cls = st_multimodal.CrossEncoder if cross else st_multimodal.SentenceTransformer
            self._models[key] = cls(self.model_path(kind), device=self.device, **kw)
        return self._models[key]

    def upstream(self, kind: str, cross: bool = False):
        import sentence_transformers as st

        key = ("upstream", kind, cross)
        if key not in self._models:
            cls = st.CrossEncoder if cross else st.SentenceTransformer
            extra = {} if self.args.dtype == "float32" else {"model_kwargs": {"dtype": _upstream_dtype(self.args.dtype, self.device)}}
            self._models[key] = cls(self.model_path(kind), device=self.device, **extra)
        return self._models[key]

    def drop(self, kind: str) -> None:
        for key in [k for k in self._models if k[1] == kind]:
            del self._models[key]
        gc.collect()


def _upstream_dtype(dtype: str, device: str) -> torch.dtype:
    """The dtype ours picks for ``dtype`` (``auto``: bf16 on a bf16-capable GPU), so upstream runs the same precision."""
    from st_multimodal.loading import _DTYPES, auto_dtype

    return auto_dtype(device) if dtype == "auto" else _DTYPES[dtype]


def encode_fn(model, inputs, bs):
    """A runner: ``inputs`` is a list, or a function of the round number giving that round's list."""
    return lambda round_=0: _to_numpy(model.encode(inputs(round_) if callable(inputs) else inputs, batch_size=bs,
                                                   convert_to_numpy=True, show_progress_bar=False))


def ceiling_runner(env: Env, kind: str, paths: list[str]) -> Callable[[int], Any]:
    """Forward-only: every batch preprocessed now (untimed); the runner times ``model(features)`` over the batches.

    It is timed inside the same rounds as ours and upstream (see ``compare``), so all three see the same load.
    """
    from PIL import Image

    from st_multimodal.pipeline.device import features_to_device

    model = env.upstream(kind)
    bs = env.args.batch_size
    batches = []
    for start in range(0, len(paths), bs):
        images = []
        for p in paths[start:start + bs]:
            with Image.open(p) as img:
                images.append(img.convert("RGB"))
        features = model.preprocess(images)
        batches.append(features_to_device(features, torch.device(env.device)))

    @torch.inference_mode()
    def forward_all(_round: int = 0):
        return [model(f)["sentence_embedding"] for f in batches]

    return forward_all


# --------------------------------------------------------------------------------------- scenarios
@dataclass
class Row:
    scenario: str
    n: int
    unit: str
    ours: Timing
    upstream: Timing | None = None
    ceiling: Timing | None = None
    check: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)

    def rate(self, t: Timing | None) -> float:
        return self.n / t.best if t and t.times else float("nan")


def scenario_images(env: Env, kind: str, n: int, label: str) -> Row:
    paths = env.paths[:n]
    bs = env.args.batch_size
    ours, up = env.ours(kind), env.upstream(kind)
    warm = env.corpus(WARM)[:bs]
    rounds = lambda r: env.corpus(r)[:n]  # noqa: E731
    forward_only = ceiling_runner(env, kind, paths)
    t = compare(
        {"ours": encode_fn(ours, rounds, bs), "upstream": encode_fn(up, rounds, bs), "ceiling": forward_only},
        {"ours": encode_fn(ours, warm, bs), "upstream": encode_fn(up, warm, bs), "ceiling": forward_only},
        env.args.repeats, env.device,
    )
    cos = min_cosine(t["ours"].result, t["upstream"].result)
    note = thread_note(THREAD_DECISIONS)
    ceil = t["ceiling"]
    return Row(label, n, "images", t["ours"], t["upstream"], ceil, check=f"min cos {cos:.6f}", note=note,
               extra={"min_cos": cos})


def scenario_images_one_thread(env: Env) -> Row:
    """(a) again with ``torch.set_num_threads(1)`` for both: on few, shared cores the intra-op thread pool's
    spin-waiting can cost upstream (which runs torch on one thread at a time) far more than the pipeline."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        n = env.args.n_images
        paths, bs = env.paths[:n], env.args.batch_size
        ours, up = env.ours("small"), env.upstream("small")
        warm = env.corpus(WARM)[:bs]
        rounds = lambda r: env.corpus(r)[:n]  # noqa: E731
        forward_only = ceiling_runner(env, "small", paths)
        t = compare(
            {"ours": encode_fn(ours, rounds, bs), "upstream": encode_fn(up, rounds, bs), "ceiling": forward_only},
            {"ours": encode_fn(ours, warm, bs), "upstream": encode_fn(up, warm, bs), "ceiling": forward_only},
            env.args.repeats, env.device,
        )
        ceil = t["ceiling"]
    finally:
        torch.set_num_threads(before)
    cos = min_cosine(t["ours"].result, t["upstream"].result)
    return Row("a1: (a) with torch.set_num_threads(1) for both", n, "images", t["ours"], t["upstream"], ceil,
               check=f"min cos {cos:.6f}", extra={"min_cos": cos})


def scenario_images_plan_off(env: Env) -> Row:
    """(a) again with ours' per-call thread plan switched off (torch's default threads throughout): what the plan adds."""
    from st_multimodal.pipeline.threads import ForwardThreadPlan

    start = ForwardThreadPlan.start

    def start_off(self):
        start(self)
        if self._owns_lock:
            self._owns_lock = False
            import st_multimodal.pipeline.threads as threads

            threads._ADAPTING.release()
        self._active = False
        self.decision.reason = "plan off (benchmark)"

    ForwardThreadPlan.start = start_off
    try:
        n = env.args.n_images
        row = scenario_images(env, "small", n, "a0: (a) with ours' thread plan off")
    finally:
        ForwardThreadPlan.start = start
    return row


def scenario_urls(env: Env) -> Row:
    from st_multimodal import FetchPolicy

    n, bs = env.args.n_urls, env.args.batch_size
    files, names = {}, {}
    for r in [WARM, *range(env.args.repeats)]:  # every round fetches new content: no cache can answer it
        names[r] = []
        for p in env.corpus(r)[:n]:
            name = f"r{r}-{os.path.basename(p)}"
            with open(p, "rb") as handle:
                files[name] = handle.read()
            names[r].append(name)
    ours = env.ours("small", fetch_policy=FetchPolicy(allow_loopback=True))
    up = env.upstream("small")
    with SlowImageServer(files, latency=env.args.latency_ms / 1000) as server:
        rounds = lambda r: [server.url(name) for name in names[r]]  # noqa: E731
        warm = rounds(WARM)[:bs]
        t = compare(
            {"ours": encode_fn(ours, rounds, bs), "upstream": encode_fn(up, rounds, bs)},
            {"ours": encode_fn(ours, warm, bs), "upstream": encode_fn(up, warm, bs)},
            env.args.repeats, env.device,
        )
    cos = min_cosine(t["ours"].result, t["upstream"].result)
    return Row(f"c: {n} URLs, +{env.args.latency_ms:g} ms each (tiny CLIP)", n, "images", t["ours"], t["upstream"],
               check=f"min cos {cos:.6f}", extra={"min_cos": cos})


def scenario_cache(env: Env, upstream_a: Timing | None) -> list[Row]:
    n, bs = env.args.n_images, env.args.batch_size
    first, second = Timing(), Timing()
    root = tempfile.mkdtemp(prefix="st_mm_bench_cache_")
    ours_plain = env.ours("small")
    reference = None
    for round_ in range(env.args.repeats + 1):  # round 0 is the warm-up
        import st_multimodal

        paths = env.corpus(round_)[:n] if round_ else env.corpus(WARM)[:n]
        if round_:
            reference = _to_numpy(ours_plain.encode(paths, batch_size=bs, convert_to_numpy=True, show_progress_bar=False))

        model = st_multimodal.SentenceTransformer(
            env.model_path("small"), device=env.device, **env.ours_kwargs(cache_dir=os.path.join(root, f"r{round_}")))
        gc.collect()
        s1, r1 = _timed(encode_fn(model, paths, bs), env.device)
        c1 = _LAST_CPU[0]
        s2, r2 = _timed(encode_fn(model, paths, bs), env.device)
        c2 = _LAST_CPU[0]
        hits = model.embedding_cache.hits
        model.embedding_cache.close()
        del model
        if round_ == 0:
            continue
        first.times.append(s1)
        second.times.append(s2)
        first.cpu.append(c1)
        second.cpu.append(c2)
        first.result, second.result = r1, r2
    same = bool(np.array_equal(first.result, second.result))
    cos = min_cosine(second.result, reference)
    speedup = first.best / second.best
    return [
        Row("d1: (a) first pass, cache_dir set (writes)", n, "images", first, upstream_a,
            check=f"min cos vs no-cache {min_cosine(first.result, reference):.6f}"),
        Row("d2: (a) second pass, cache hits", n, "images", second, upstream_a,
            check=f"identical to 1st: {same}; {hits} hits", note=f"{speedup:.1f}x faster than 1st pass",
            extra={"speedup": speedup, "identical": same, "min_cos": cos}),
    ]


def scenario_mixed(env: Env) -> Row:
    n, bs = env.args.n_images, env.args.batch_size
    half = n // 2

    def texts_of(r):
        return [f"a photograph of object number {i}, taken outdoors in {['spring', 'summer', 'autumn', 'winter'][i % 4]}"
                f" (round {r})" for i in range(half)]

    def mixed_of(r):
        return [x for pair in zip(texts_of(r), env.corpus(r)[:half]) for x in pair]

    ours, up = env.ours("small"), env.upstream("small")
    mixed = mixed_of(0)

    def upstream_two_calls(r=WARM):
        texts, images = texts_of(r), env.corpus(r)[:half]
        t = _to_numpy(up.encode(texts, batch_size=bs, convert_to_numpy=True, show_progress_bar=False))
        i = _to_numpy(up.encode(images, batch_size=bs, convert_to_numpy=True, show_progress_bar=False))
        out = np.empty((len(mixed), t.shape[1]), dtype=t.dtype)
        out[0::2], out[1::2] = t, i
        return out

    t = compare(
        {"ours": encode_fn(ours, mixed_of, bs), "upstream": upstream_two_calls},
        {"ours": encode_fn(ours, mixed_of(WARM)[: 2 * bs], bs), "upstream": upstream_two_calls},
        env.args.repeats, env.device,
    )
    cos = min_cosine(t["ours"].result, t["upstream"].result)
    return Row(f"e: {half} texts + {half} images mixed (tiny CLIP)", len(mixed), "inputs", t["ours"], t["upstream"],
               check=f"min cos {cos:.6f}", note="upstream: two calls (texts, then images)", extra={"min_cos": cos})


def scenario_rerank(env: Env) -> Row:
    n, bs = env.args.n_pairs, env.args.batch_size
    def pairs(r):
        return [(f"a photo with a red circle number {i}", p) for i, p in enumerate(env.corpus(r)[:n])]

    ours, up = env.ours("reranker", cross=True), env.upstream("reranker", cross=True)

    def predict(model, items):
        return lambda round_=0: _to_numpy(model.predict(items(round_) if callable(items) else items, batch_size=bs,
                                                        show_progress_bar=False))

    t = compare(
        {"ours": predict(ours, pairs), "upstream": predict(up, pairs)},
        {"ours": predict(ours, pairs(WARM)[:8]), "upstream": predict(up, pairs(WARM)[:8])},
        env.args.repeats, env.device,
    )
    diff = float(np.abs(t["ours"].result - t["upstream"].result).max())
    return Row(f"f: Qwen3-VL reranker, {n} (text, image) pairs", n, "pairs", t["ours"], t["upstream"],
               check=f"max |score diff| {diff:.2e}", extra={"max_diff": diff})


# ------------------------------------------------------------------------------------------ stream
def stream_child(args) -> None:
    """Runs in a fresh interpreter so the peak RSS is this workload's alone; prints one JSON line."""
    import psutil

    import st_multimodal
    from st_multimodal.streaming import encode_to_disk, load_embeddings
    from st_multimodal.testing import zoo

    proc = psutil.Process()
    paths = make_jpegs(args.data_dir, args.n_images)
    extra = {"limits": st_multimodal.DecodeLimits(draft_jpeg=True)} if args.draft_jpeg else {}
    extra["dtype"] = args.dtype
    model = st_multimodal.SentenceTransformer(str(zoo.cached_model("clip")), device=args.device,
                                              resolve_workers=args.resolve_workers,
                                              preprocess_workers=args.preprocess_workers,
                                              prefetch_batches=args.prefetch_batches, **extra)
    model.encode(paths[:64], batch_size=args.batch_size, show_progress_bar=False)
    gc.collect()
    baseline = proc.memory_info().rss
    peak = [baseline]
    timeline: list[tuple[float, int]] = []
    done = threading.Event()

    def sample():
        last = 0.0
        while not done.wait(0.02):
            rss = proc.memory_info().rss
            peak[0] = max(peak[0], rss)
            now = time.perf_counter()
            if now - last >= 1.0:
                timeline.append((now, rss))
                last = now

    sampler = threading.Thread(target=sample, daemon=True)
    out = tempfile.mkdtemp(prefix="st_mm_bench_stream_")
    inputs = (paths[i % len(paths)] for i in range(args.n_stream))  # a generator: never a list in memory
    sampler.start()
    cpu = time.process_time()
    start = time.perf_counter()
    report = encode_to_disk(model, inputs, out, batch_size=args.batch_size, chunk_size=1024, show_progress_bar=False)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    done.set()
    sampler.join()
    peak[0] = max(peak[0], proc.memory_info().rss)
    # The kernel's own high-water mark of this process's RSS (no sampling gaps). Not getrusage's ru_maxrss: on
    # Linux that survives execve, so a child started from a big parent reports the parent's RSS at fork.
    hwm = None
    with contextlib.suppress(OSError):
        with open("/proc/self/status") as handle:
            hwm = next((int(line.split()[1]) * 1024 for line in handle if line.startswith("VmHWM:")), None)
    ids, emb, failures = load_embeddings(out)
    print("STREAM_RESULT " + json.dumps({
        "n": args.n_stream, "seconds": seconds, "cpu": cpu, "encoded": report.encoded, "failed": report.failed,
        "rows_on_disk": int(emb.shape[0]), "baseline_rss": baseline, "peak_rss": max(peak[0], hwm or 0), "sampled_peak_rss": peak[0], "vm_hwm": hwm,
        "out": out,
        # RSS at 10%, 25%, 50%, 75%, 90% of the run: flat means bounded, rising means it grows with the stream
        "rss_quantiles": [timeline[int(q * (len(timeline) - 1))][1] for q in (0.1, 0.25, 0.5, 0.75, 0.9)] if timeline else [],
    }), flush=True)


def scenario_stream(args, upstream_a: Timing | None, n_a: int) -> Row:
    cmd = [sys.executable, os.path.abspath(__file__), "--_stream-child", "--n-stream", str(args.n_stream),
           "--n-images", str(args.n_images), "--data-dir", args.data_dir, "--device", args.device,
           "--batch-size", str(args.batch_size), "--preprocess-workers", str(args.preprocess_workers),
           "--prefetch-batches", str(args.prefetch_batches)]
    if args.resolve_workers:
        cmd += ["--resolve-workers", str(args.resolve_workers)]
    if args.draft_jpeg:
        cmd += ["--draft-jpeg"]
    cmd += ["--dtype", args.dtype]
    if args.torch_threads:
        cmd += ["--torch-threads", str(args.torch_threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("STREAM_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"stream child failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
    res = json.loads(line.split(" ", 1)[1])
    import shutil

    shutil.rmtree(res["out"], ignore_errors=True)
    t = Timing([res["seconds"]], cpu=[res["cpu"]])
    gb = 1e9
    row = Row(f"stream: encode_to_disk {args.n_stream:,} paths (tiny CLIP)", args.n_stream, "images", t,
              check=f"peak RSS {res['peak_rss'] / gb:.2f} GB (kernel VmHWM, whole process life; sampled "
                    f"{res['sampled_peak_rss'] / gb:.2f}; {res['baseline_rss'] / gb:.2f} after imports+model+warm-up); "
                    f"RSS at 10/25/50/75/90% of the run "
                    f"{'/'.join(f'{x / gb:.2f}' for x in res['rss_quantiles'])} GB; rows on disk {res['rows_on_disk']}",
              note="1 run, child process", extra=res)
    if upstream_a is not None:
        row.upstream = Timing([upstream_a.best * args.n_stream / n_a], cpu=[upstream_a.best_cpu * args.n_stream / n_a])
        row.note += "; upstream column = (a)'s rate"
    return row


# ------------------------------------------------------------------------------------------- sweep
def sweep(env: Env) -> None:
    """Try the public pipeline knobs on (a), (b) and (c); upstream measured once per scenario in the same run."""
    from st_multimodal import DecodeLimits, FetchPolicy

    args, bs = env.args, env.args.batch_size
    default_threads = torch.get_num_threads()
    configs = [
        ("default", {}, None),
        ("torch threads 1", {}, 1),
        ("decode_workers=1", {"decode_workers": 1}, None),
        ("decode_workers=4", {"decode_workers": 4}, None),
        ("preprocess_workers=2", {"preprocess_workers": 2}, None),
        ("prefetch_batches=4", {"prefetch_batches": 4}, None),
        ("preprocess_workers=2, torch threads 1", {"preprocess_workers": 2}, 1),
        ("decode_workers=1, preprocess_workers=2", {"decode_workers": 1, "preprocess_workers": 2}, None),
        ("draft_jpeg", {"limits": DecodeLimits(draft_jpeg=True)}, None),
        ("draft_jpeg, torch threads 1", {"limits": DecodeLimits(draft_jpeg=True)}, 1),
    ]
    if (os.cpu_count() or 2) >= 8:  # the preprocess stage is one thread by default: on many cores it is the limit
        configs += [
            ("preprocess_workers=4", {"preprocess_workers": 4}, None),
            ("preprocess_workers=8", {"preprocess_workers": 8}, None),
            ("preprocess_workers=4, prefetch_batches=8", {"preprocess_workers": 4, "prefetch_batches": 8}, None),
            ("preprocess_workers=8, prefetch_batches=8", {"preprocess_workers": 8, "prefetch_batches": 8}, None),
            ("preprocess_workers=8, torch threads 1", {"preprocess_workers": 8}, 1),
            ("preprocess_workers=8, prefetch 8, draft_jpeg", {"preprocess_workers": 8, "prefetch_batches": 8,
                                                               "limits": DecodeLimits(draft_jpeg=True)}, None),
        ]
    selected = [s for s in args.only.split(",") if s in ("a", "b", "c")] or ["a", "c"]
    print(f"\n== sweep over pipeline knobs ({', '.join(selected)}); torch default threads {default_threads}; "
          f"best of {args.repeats} ==")
    for scen in selected:
        if scen == "c":
            cfgs = [(f"resolve_workers={w}", {"resolve_workers": w}, None) for w in (None, 8, 16, 32)]
            cfgs[0] = ("default", {}, None)
        elif scen == "b":
            cfgs = [c for c in configs if c[0] in ("default", "torch threads 1", "decode_workers=1", "preprocess_workers=2",
                                                  "draft_jpeg", "preprocess_workers=8, prefetch_batches=8")]
        else:
            cfgs = configs
        kind = "large" if scen == "b" else "small"
        n = {"a": args.n_images, "b": args.n_images_b, "c": args.n_urls}[scen]
        paths = env.paths[:n]
        server = None
        if scen == "c":
            files = {}
            for p in paths:
                with open(p, "rb") as handle:
                    files[os.path.basename(p)] = handle.read()
            server = SlowImageServer(files, latency=args.latency_ms / 1000).__enter__()
            inputs = [server.url(name) for name in files]
        else:
            inputs = paths
        up = env.upstream(kind)
        up_t = compare({"u": encode_fn(up, inputs, bs)}, {"u": encode_fn(up, inputs[:bs], bs)}, args.repeats, env.device)["u"]
        reference = up_t.result
        print(f"-- {scen}: {n} inputs; upstream {n / up_t.best:7.1f}/s (median {n / up_t.median:.1f}; "
              f"CPU {1000 * up_t.best_cpu / n:.1f} ms/item)", flush=True)
        if scen != "c":
            torch.set_num_threads(1)
            try:
                up1 = compare({"u": encode_fn(up, inputs, bs)}, {}, args.repeats, env.device)["u"]
            finally:
                torch.set_num_threads(default_threads)
            print(f"   upstream, torch threads 1: {n / up1.best:7.1f}/s (median {n / up1.median:.1f}; "
                  f"CPU {1000 * up1.best_cpu / n:.1f} ms/item)", flush=True)
        for label, overrides, threads in cfgs:
            if scen == "c":
                overrides = dict(overrides, fetch_policy=FetchPolicy(allow_loopback=True))
            model = env.ours(kind, **overrides)
            if threads:
                torch.set_num_threads(threads)
            try:
                t = compare({"o": encode_fn(model, inputs, bs)}, {"o": encode_fn(model, inputs[:bs], bs)}, args.repeats, env.device)["o"]
            finally:
                torch.set_num_threads(default_threads)
            cos = min_cosine(t.result, reference)
            print(f"   {label:<42} {n / t.best:7.1f}/s (median {n / t.median:6.1f}; CPU {1000 * t.best_cpu / n:5.1f} ms/item)"
                  f"  x{up_t.best / t.best:5.2f} upstream  min cos {cos:.6f}", flush=True)
            for key in [k for k in env._models if k[0] == "ours" and k[1] == kind and k[3] != tuple(sorted(
                    (kk, repr(vv)) for kk, vv in env.ours_kwargs().items()))]:
                del env._models[key]
        if server is not None:
            server.__exit__(None, None, None)
        if scen == "b":
            env.drop("large")


# -------------------------------------------------------------------------------------------- main
def machine_details(args) -> str:
    import PIL
    import sentence_transformers
    import transformers

    lines = [
        f"python {platform.python_version()} on {platform.platform()}",
        f"cpus: os.cpu_count()={os.cpu_count()}, affinity={len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}, "
        f"torch threads={torch.get_num_threads()}",
        f"torch {torch.__version__}, transformers {transformers.__version__}, sentence-transformers "
        f"{sentence_transformers.__version__}, Pillow {PIL.__version__}",
        f"device: {args.device}" + (f" ({torch.cuda.get_device_name()}; cuDNN TF32 {torch.backends.cudnn.allow_tf32}, "
                                    f"matmul TF32 {torch.backends.cuda.matmul.allow_tf32})"
                                    if args.device.startswith("cuda") else ""),
    ]
    with contextlib.suppress(Exception):
        lines.append(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return "\n".join(lines)


def fmt_rate(x: float) -> str:
    return "-" if x != x else (f"{x:,.0f}" if x >= 100 else f"{x:.1f}")


def print_table(rows: list[Row]) -> str:
    head = ["scenario", "n", "ours /s", "upstream /s", "ours/upstream", "ceiling /s", "ours/ceiling",
            "CPU ms/item ours : upstream", "check", "note"]
    body = []
    for r in rows:
        o, u, c = r.rate(r.ours), r.rate(r.upstream), r.rate(r.ceiling)
        cpu_o = 1000 * r.ours.best_cpu / r.n
        cpu_u = 1000 * r.upstream.best_cpu / r.n if r.upstream and r.upstream.cpu else float("nan")
        cpu = f"{cpu_o:.1f} : " + ("-" if cpu_u != cpu_u else f"{cpu_u:.1f}")
        body.append([r.scenario, str(r.n), fmt_rate(o), fmt_rate(u), "-" if u != u else f"{o / u:.2f}x",
                     fmt_rate(c), "-" if c != c else f"{o / c:.2f}", cpu, r.check, r.note])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    text = "\n".join(lines)
    print(text)
    return text


def verdicts(rows: dict[str, Row | list[Row]]) -> list[str]:
    out = []

    def say(ok: bool, text: str):
        out.append(f"[{'PASS' if ok else 'MISS'}] {text}")

    if "a" in rows:
        r = rows["a"]
        up = r.rate(r.ours) / r.rate(r.upstream)
        say(up >= 1.8, f"(a) ours/upstream {up:.2f}x, library defaults (target >= 1.8x)")
    if "b" in rows:
        r = rows["b"]
        up, ce = r.rate(r.ours) / r.rate(r.upstream), r.rate(r.ours) / r.rate(r.ceiling)
        say(ce >= 0.9, f"(b) ours/ceiling {ce:.2f} (target >= 0.9)")
    if "c" in rows:
        r = rows["c"]
        up = r.rate(r.ours) / r.rate(r.upstream)
        say(up >= 15, f"(c) ours/upstream {up:.1f}x, library defaults (target >= 15x)")
    if "d" in rows:
        sp = rows["d"][1].extra["speedup"]
        say(sp >= 20, f"(d) second pass {sp:.1f}x faster than first (target >= 20x)")
    if "stream" in rows:
        peak = rows["stream"].extra["peak_rss"] / 1e9
        say(peak < 1.5, f"(stream) peak RSS {peak:.2f} GB (target < 1.5 GB)")
    compared = [(key, r) for key, value in rows.items() if key not in ("a0", "a1", "stream")
                for r in (value if isinstance(value, list) else [value]) if r.upstream is not None and r.upstream.times]
    if compared:
        slow = [f"{r.scenario.split(':')[0]} {r.rate(r.ours) / r.rate(r.upstream):.2f}x" for _, r in compared
                if r.rate(r.ours) < r.rate(r.upstream)]
        say(not slow, "no scenario slower than upstream" + (f" (slower: {', '.join(slow)})" if slow else ""))
    cos = [(k, rows[k].extra.get("min_cos")) for k in ("a", "b", "e") if k in rows]
    if cos:
        say(all(c is not None and c >= 0.9999 for _, c in cos),
            "embeddings agree with upstream: " + ", ".join(f"({k}) {c:.6f}" for k, c in cos) + " (target >= 0.9999)")
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=",".join(ALL), help="comma-separated scenarios among a,a1,b,c,d,e,f,stream (a1: a with 1 torch thread, CPU only)")
    p.add_argument("--stream", action="store_true", help="also run the 20,000-image encode_to_disk scenario")
    p.add_argument("--sweep", action="store_true", help="instead of the table, try pipeline knobs on a, b, c (see --only)")
    p.add_argument("--n-images", type=int, default=512, help="images for a, d, e (e: half texts, half images)")
    p.add_argument("--n-images-b", type=int, default=128, help="images for b (compute-bound; default 128 to keep it short)")
    p.add_argument("--n-urls", type=int, default=128)
    p.add_argument("--n-pairs", type=int, default=64)
    p.add_argument("--n-stream", type=int, default=20_000)
    p.add_argument("--latency-ms", type=float, default=50.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    p.add_argument("--model-size", default="vit-b-32",
                   help="model for b: 'vit-b-32' (random ViT-B/32-sized zoo CLIP), 'tiny', or a local model folder")
    p.add_argument("--small-model", default="tiny", help="model for a, c, d, e, stream: 'tiny' (zoo) or a folder")
    p.add_argument("--reranker", default="qwen3vl-reranker", help="model for f: zoo kind or a folder")
    p.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "st_mm_bench_images"))
    p.add_argument("--resolve-workers", type=int, default=None, help="ours: remote fetch threads (default: library's)")
    p.add_argument("--preprocess-workers", type=int, default=2, help="ours: batches preprocessed at once (library default 2)")
    p.add_argument("--prefetch-batches", type=int, default=2)
    p.add_argument("--draft-jpeg", action="store_true", help="ours: DecodeLimits(draft_jpeg=True) (changes pixels)")
    p.add_argument("--torch-threads", type=int, default=None, help="torch.set_num_threads for the whole run")
    p.add_argument("--dtype", default="float32", choices=["float32", "auto", "bfloat16", "float16"],
                   help="weights dtype for BOTH libraries (default float32 = upstream's default, which is also ours). "
                        "'auto' (bf16 on a GPU) alone moves embeddings (cosine ~0.99 on the tiny CLIP)")
    p.add_argument("--no-tf32", action="store_true",
                   help="CUDA: disable TF32 in cuDNN convolutions and matmuls (cuDNN allows it by default, so rows "
                        "can differ with batch composition by ~1e-3)")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--_stream-child", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    if args.no_tf32:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    if args._stream_child:
        stream_child(args)
        return
    import logging

    import transformers

    transformers.logging.set_verbosity_error()
    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)
    with contextlib.suppress(Exception):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

    _record_thread_decisions()
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    if args.stream and "stream" not in wanted:
        wanted.append("stream")
    print("== machine ==")
    print(machine_details(args))
    knobs = dict(dtype=args.dtype, resolve_workers=args.resolve_workers or "library default", preprocess_workers=args.preprocess_workers,
                 prefetch_batches=args.prefetch_batches, draft_jpeg=args.draft_jpeg, caches="library defaults")
    print(f"ours: {knobs}; batch size {args.batch_size}; {args.repeats} timed rounds after a warm-up, best shown")
    t0 = time.perf_counter()
    env = Env(args)
    print(f"corpus: {len(env.paths)} JPEGs 640x480 in {os.path.dirname(env.paths[0])}, "
          f"mean {np.mean([os.path.getsize(p) for p in env.paths]) / 1024:.0f} KB")
    if args.sweep:
        sweep(env)
        return

    rows: dict[str, Any] = {}
    table: list[Row] = []

    def run(key: str, fn: Callable[[], Any]) -> None:
        if key not in wanted:
            return
        start = time.perf_counter()
        result = fn()
        rows[key] = result
        table.extend(result if isinstance(result, list) else [result])
        print(f"   [{key} done in {time.perf_counter() - start:.0f} s]", flush=True)
        last = result[-1] if isinstance(result, list) else result
        o, u = last.rate(last.ours), last.rate(last.upstream)
        print(f"   {last.scenario}: ours {fmt_rate(o)}/s (median {fmt_rate(last.n / last.ours.median)}), upstream "
              f"{fmt_rate(u)}/s" + (f" (median {fmt_rate(last.n / last.upstream.median)})" if last.upstream and
                                    len(last.upstream.times) > 1 else "") +
              (f", ceiling {fmt_rate(last.rate(last.ceiling))}/s" if last.ceiling else "") + f"; {last.check}", flush=True)

    size_b = args.model_size if not os.path.isdir(args.model_size) else os.path.basename(args.model_size.rstrip("/"))
    run("a", lambda: scenario_images(env, "small", args.n_images, f"a: {args.n_images} local JPEGs (tiny CLIP)"))
    if args.device == "cpu":
        run("a0", lambda: scenario_images_plan_off(env))
        run("a1", lambda: scenario_images_one_thread(env))
    run("b", lambda: scenario_images(env, "large", args.n_images_b, f"b: {args.n_images_b} local JPEGs ({size_b} CLIP)"))
    env.drop("large")
    run("c", lambda: scenario_urls(env))
    run("d", lambda: scenario_cache(env, rows["a"].upstream if "a" in rows and args.n_images == rows["a"].n else None))
    run("e", lambda: scenario_mixed(env))
    run("f", lambda: scenario_rerank(env))
    env.drop("reranker")
    run("stream", lambda: scenario_stream(args, rows["a"].upstream if "a" in rows else None, args.n_images))

    print(f"\n== results (best of {args.repeats}; rates in inputs/s; total {time.perf_counter() - t0:.0f} s) ==")
    text = print_table(table)
    print("\n== targets ==")
    v = verdicts(rows)
    print("\n".join(v))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine_details(args), "table": text, "verdicts": v,
                       "rows": [{"scenario": r.scenario, "n": r.n, "ours_times": r.ours.times,
                                 "upstream_times": r.upstream.times if r.upstream else None,
                                 "ceiling_times": r.ceiling.times if r.ceiling else None, "check": r.check,
                                 "extra": {k: v for k, v in r.extra.items() if isinstance(v, (int, float, str, bool))}}
                                for r in table]}, handle, indent=1)


if __name__ == "__main__":
    main()
