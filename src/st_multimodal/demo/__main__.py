"""The main job: ``python -m st_multimodal.demo`` — offline multimodal search with calibrated scores.

1. Loads the bundled demo model (a tiny CLIP-style model trained on coloured shapes by this library).
2. Draws a held-out collection of pictures (sizes and positions never seen in training) and writes
   them to a folder, then indexes them by path in a ``MultimodalIndex``.
3. Calibrates text-to-image scores on other held-out pictures (every caption against every picture)
   and on texts the model cannot know, paired with pictures as non-matches.
4. Runs text queries and prints the top results with raw similarity and calibrated probability (the
   chance, at even odds, that the picture shows what the query says), and checks that every default
   query's best hit is the picture it describes. A query whose every probability is under 0.5 is
   reported as matching nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

QUERIES = ("a red circle", "a blue triangle", "a yellow square", "a green circle")


def _write_collection(folder: Path, per_class: int) -> tuple[list[Path], list[dict]]:
    from . import heldout_examples

    paths, metadata = [], []
    for number, example in enumerate(heldout_examples(per_class)):
        path = folder / f"{number:03d}-{example.colour}-{example.shape}.png"
        example.image().save(path)
        paths.append(path)
        metadata.append({"caption": example.caption, "size": example.size, "position": list(example.position)})
    return paths, metadata


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m st_multimodal.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=2, help="pictures per (colour, shape) class in the index")
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--query", action="append", help="a text query (repeatable); default: four examples")
    args = parser.parse_args(argv)

    from .. import MultimodalIndex
    from . import demo_model
    from .calibration_set import calibration_set

    model = demo_model()
    with tempfile.TemporaryDirectory(prefix="st-mm-demo-") as tmp:
        paths, metadata = _write_collection(Path(tmp), args.per_class)
        index = MultimodalIndex(model)
        index.add(paths, ids=[p.name for p in paths], metadata=metadata)
        print(f"Indexed {len(index)} pictures (drawn into a temporary folder) with the demo model.")

        calibration = calibration_set()
        index.calibrate(**calibration.kwargs())
        print(
            f"Calibrated on {calibration.num_pairs} held-out (text, picture) pairs: captions against pictures "
            f"not in this index, and {len(calibration.pairs) // 12} texts the model cannot know.\n"
            "probability = the chance that the picture shows what the query says, at even odds; "
            "under 0.5 means more likely not.\n"
        )

        all_right = True
        for query in args.query or QUERIES:
            hits = index.search(query, top_k=args.top_k)
            print(f"query: {query!r}")
            for rank, hit in enumerate(hits, 1):
                print(f"  {rank}. {hit.id:28} similarity {hit.similarity:.3f}  probability {hit.probability:.3f}")
            best = hits[0].metadata["caption"]
            right = best == query
            all_right &= right or bool(args.query)
            if hits[0].probability < 0.5:
                print("  no picture matches: every probability is under 0.5\n")
            else:
                print(f"  best hit shows {best!r}: {'correct' if right else 'NOT the query'}\n")
    if not args.query:
        print("All queries found the picture they describe." if all_right else "Some queries missed.")
    return 0 if all_right else 1


if __name__ == "__main__":
    sys.exit(main())
