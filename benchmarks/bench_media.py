#!/usr/bin/env python
"""Audio and video throughput: st_multimodal against upstream and against our own decode-only ceiling.

    HF_HUB_OFFLINE=1 PYTHONPATH=src python benchmarks/bench_media.py                    # (g) and (h), full sizes
    HF_HUB_OFFLINE=1 PYTHONPATH=src python benchmarks/bench_media.py --n-audio 32 --n-video-short 8 --n-video-long 2

  g   ``--n-audio`` files (MP3, FLAC and Ogg Vorbis in turn; ``--audio-seconds`` long, 44.1 kHz stereo) into
      CLAP, which takes 48 kHz mono (tiny random CLAP from the zoo, or ``--clap full``: the htsat-unfused shapes)
  h   MP4 files (H.264 where the local PyAV can write it, else MPEG-4 Part 2; 1280x720, 24 fps, a keyframe
      every 2 s): ``--n-video-short`` of 10 s and ``--n-video-long`` of ``--video-long-s`` seconds, 8 frames
      sampled from each (``DecodeLimits(video_num_frames=8)``), into the tiny random Qwen3-VL embedder

The decode-only ceiling is our decoders alone (every input resolved and decoded, on as many threads as the
pipeline's decode workers, nothing else): the pipeline cannot beat it. Upstream is run on the same inputs
(it decodes audio and video files with torchcodec; without torchcodec it cannot, and the row says why;
long videos: two files, scaled to the row's count). Every timed
round uses files of new content; the files are generated once with PyAV and kept in ``--data-dir``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from _media import make_audio_files, make_videos, video_codec  # noqa: E402

WARM = 999


def best_of(fn, rounds: int) -> tuple[float, object]:
    """Best wall seconds over ``rounds`` calls ``fn(round)`` (each round its own inputs) and the last result."""
    best, result = float("inf"), None
    for r in range(rounds):
        start = time.perf_counter()
        result = fn(r)
        best = min(best, time.perf_counter() - start)
    return best, result


def decode_only(model, items: list, limits) -> None:
    """Our decoders alone: resolve and decode every input on the pipeline's number of decode workers."""
    import st_multimodal as stm

    ctx = model.resolve_context(limits=limits)
    workers = model.decode_workers or os.cpu_count() or 2
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda raw: stm.resolve(raw, ctx), items))


def upstream_try(kind: str, items: list, bs: int) -> tuple[float | None, str]:
    """Upstream on the same files: seconds, or why it cannot run."""
    import sentence_transformers as st

    from st_multimodal.testing import zoo

    try:
        model = st.SentenceTransformer(str(zoo.cached_model(kind)), device="cpu")
        model.encode(items[:1], batch_size=bs, show_progress_bar=False)
        start = time.perf_counter()
        model.encode(items, batch_size=bs, show_progress_bar=False)
        return time.perf_counter() - start, ""
    except Exception as exc:  # noqa: BLE001 - reported as the row's note
        return None, f"upstream cannot run: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"


def row(label: str, n: int, ours_s: float, ceiling_s: float, upstream_s: float | None, note: str) -> str:
    up = f"{n / upstream_s:.2f}" if upstream_s else "-"
    ratio = f"{upstream_s / ours_s:.2f}x" if upstream_s else "-"
    return (f"| {label} | {n} | {n / ours_s:.2f} | {n / ceiling_s:.2f} | {ceiling_s / ours_s:.2f} | {up} | {ratio} "
            f"| {note} |")


def scenario_audio(args) -> list[str]:
    import st_multimodal as stm
    from st_multimodal.testing import zoo

    kind = "clap" if args.clap == "tiny" else "clap-htsat-unfused"
    model = stm.SentenceTransformer(str(zoo.cached_model(kind)), device="cpu")
    limits = stm.DecodeLimits()
    files = lambda r: make_audio_files(args.data_dir, args.n_audio, seconds=args.audio_seconds, seed=r)  # noqa: E731
    warm = make_audio_files(args.data_dir, 4, seconds=args.audio_seconds, seed=WARM)
    model.encode(warm, batch_size=args.batch_size, show_progress_bar=False)
    ours_s, emb = best_of(lambda r: model.encode(files(r), batch_size=args.batch_size, show_progress_bar=False),
                          args.repeats)
    ceil_s, _ = best_of(lambda r: decode_only(model, files(r), limits), args.repeats)
    up_s, why = upstream_try(kind, files(0), args.batch_size)
    rate = model.resolve_context().audio_sampling_rate
    note = f"{kind}; decoded to {rate} Hz mono; {emb.shape[0]} embeddings" + (f"; {why}" if why else "")
    return [row(f"g: {args.audio_seconds:g} s audio (MP3/FLAC/Ogg, 44.1 kHz stereo) -> CLAP", args.n_audio, ours_s,
                ceil_s, up_s, note)]


def scenario_video(args) -> list[str]:
    import st_multimodal as stm
    from st_multimodal.testing import zoo

    limits = stm.DecodeLimits(video_num_frames=8)
    model = stm.SentenceTransformer(str(zoo.cached_model("qwen3vl-embedding")), device="cpu", limits=limits)
    warm = make_videos(args.data_dir, 2, seconds=10, seed=WARM)
    model.encode(warm, batch_size=args.batch_size, show_progress_bar=False)
    lines, per_file = [], {}
    for label, n, seconds in (("10 s", args.n_video_short, 10.0), (f"{args.video_long_s / 60:g} min", args.n_video_long,
                                                                    args.video_long_s)):
        if n <= 0:
            continue
        files = lambda r, n=n, seconds=seconds: make_videos(args.data_dir, n, seconds=seconds, seed=r)  # noqa: E731
        rounds = args.repeats if seconds <= 10 else args.long_repeats
        ours_s, _ = best_of(lambda r: model.encode(files(r), batch_size=args.batch_size, show_progress_bar=False), rounds)
        ceil_s, _ = best_of(lambda r: decode_only(model, files(r), limits), rounds)
        sample = files(0) if seconds <= 10 else files(0)[:2]  # long videos: two files, scaled to n
        up_s, why = upstream_try("qwen3vl-embedding", sample, args.batch_size)
        if up_s is not None:
            up_s *= n / len(sample)
        per_file[label] = ours_s / n
        lines.append(row(f"h: {n} MP4 {video_codec()} 720p, {label}, 8 frames -> Qwen3-VL embedder", n, ours_s, ceil_s,
                         up_s, why))
    if len(per_file) == 2:
        short, long = per_file.values()
        lines.append(f"\nvideo: a {args.video_long_s / 60:g}-minute file costs {long / short:.2f}x a 10-second one "
                     f"({1000 * long:.0f} vs {1000 * short:.0f} ms per file)")
    return lines


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="g,h")
    p.add_argument("--n-audio", type=int, default=256)
    p.add_argument("--audio-seconds", type=float, default=30.0)
    p.add_argument("--clap", choices=["tiny", "full"], default="tiny")
    p.add_argument("--n-video-short", type=int, default=32)
    p.add_argument("--n-video-long", type=int, default=32)
    p.add_argument("--video-long-s", type=float, default=600.0)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2, help="timed rounds (each new content), best shown")
    p.add_argument("--long-repeats", type=int, default=1, help="timed rounds for the long videos")
    p.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "st_mm_bench_media"))
    args = p.parse_args(argv)
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    print(f"cpus {os.cpu_count()}, torch threads {torch.get_num_threads()}, video codec {video_codec()}")
    print("| scenario | n | ours /s | decode-only ceiling /s | ours/ceiling | upstream /s | ours/upstream | note |")
    print("|---|---|---|---|---|---|---|---|")
    wanted = args.only.split(",")
    if "g" in wanted:
        print("\n".join(scenario_audio(args)), flush=True)
    if "h" in wanted:
        print("\n".join(scenario_video(args)), flush=True)


if __name__ == "__main__":
    main()
