"""Rebuild the real-world corpus from bare git mirrors of its source repositories (not run by the tests).

    python tests/corpus/build_corpus.py PILLOW_GIT PDFJS_GIT PYDUB_GIT MOVIEPY_GIT

Each argument is a git directory (a bare clone works). The files are written under tests/corpus/files/
and listed in tests/corpus/MANIFEST (file, repository, commit, path, licence).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SOURCES = {  # key: (repository, licence)
    "pillow": ("python-pillow/Pillow", "MIT-CMU (HPND), see the repository's LICENSE"),
    "pdfjs": ("mozilla/pdf.js", "Apache-2.0, see the repository's LICENSE"),
    "pydub": ("jiaaro/pydub", "MIT, see the repository's LICENSE"),
    "moviepy": ("Zulko/moviepy", "MIT, see the repository's LICENCE.txt"),
}
SMALL_IMAGE_BYTES = 15_000
"""Every file in Pillow's Tests/images up to this size is taken (pngsuite, fuzzed and odd-mode files)."""
SKIP_SUFFIXES = (".txt", ".gpl", ".ggr", ".lut", ".pkl", ".gnuplot", ".pdf", ".notes", ".reproducing", ".container")
PILLOW_EXTRA = """
hopper.dds palette.dds uncompressed_l.dds bc6h.dds hopper.psd hopper_merged.psd psd-oob-write.psd hopper.sgi
transparent.sgi hopper.rgb hopper16.rgb test-card-lossy-tiled.jp2 expected_to_read.jp2 not_enough_data.jp2
blp/blp2_dxt1.blp hopper.fits m13_gzip.fits hopper_naxis_zero.fits hopper.qoi pil123rgba.qoi hopper.pnm hopper.ppm
hopper_8bit_plain.pgm hopper_16bit.pgm hopper_16bit_plain.pgm hopper_1bit_plain.pbm hopper_8bit.pgm hopper.gd
hopper_bigtiff.tif hopper_float_dpi_2.tif 10ct_32bit_128.tiff 12in16bit.tif tiff_16bit_RGBa.tiff
tiff_strip_cmyk_jpeg.tif hopper.Lab.tif hopper.dcx hopper.im hopper.pxr hopper.ras hopper.spider hopper.wal
hopper.xpm hopper.pfm hopper_be.pfm python.ico flower2.webp pil_sample_cmyk.jpg exif_gps_typeerror.jpg
hopper.fli pillow.ico xmp_tags_orientation.png hopper_bad_exif.jpg oom-8ed3316a4109213ca96fb8a256a0bfefdece1461.icns eps/zero_bb.eps
apng/blend_op_over_near_transparent.png
""".split()
PDFJS = """
poppler-85140-0.pdf GHOSTSCRIPT-698804-1-fuzzed.pdf poppler-395-0-fuzzed.pdf poppler-937-0-fuzzed.pdf
poppler-67295-0.pdf poppler-91414-0-53.pdf poppler-91414-0-54.pdf empty.pdf empty_protected.pdf
encrypted-attachment.pdf annotation-line-without-appearance-empty-Rect.pdf bitmap-symbol-empty.pdf
mesh_shading_empty.pdf
""".split()
PDFJS_SMALL_EVERY = 12
"""Besides the named ones, every 12th pdf.js test PDF under 8 kB (by name order)."""
PYDUB = "bach.ogg party.mp3 tessst.mp3 test3.mp3 test1_empty.wav test5.webm format_test.m4a wrong_extension.aac".split()
MOVIEPY = """
media/-video-with-dash-.mp4 media/bitmap.mp4 media/test_video.mp4 media/big_buck_bunny_432_433.webm
media/no_duration.webm media/transparent.webm media/doc_medias/example_mask.mp4 media/doc_medias/example.mp4
docs/_static/medias/user_guide/circle.gif
""".split()


def git(repo: str, *args: str) -> bytes:
    return subprocess.run(["git", f"--git-dir={repo}", *args], check=True, capture_output=True).stdout


def tree(repo: str, folder: str) -> list[tuple[int, str]]:
    rows = git(repo, "ls-tree", "-r", "-l", "HEAD", folder).decode().splitlines()
    out = []
    for row in rows:
        meta, path = row.split("\t", 1)
        size = meta.split()[3]
        if size.isdigit():
            out.append((int(size), path))
    return out


def pillow_paths(repo: str) -> list[str]:
    files = tree(repo, "Tests/images")
    small = [p for size, p in files if size <= SMALL_IMAGE_BYTES and not p.lower().endswith(SKIP_SUFFIXES)
             and "/" + Path(p).name not in ("/notes", "/reproducing")]
    return sorted(set(small) | {f"Tests/images/{name}" for name in PILLOW_EXTRA})


def pdfjs_paths(repo: str) -> list[str]:
    files = sorted(p for size, p in tree(repo, "test/pdfs") if p.endswith(".pdf") and size < 8000)
    return sorted({f"test/pdfs/{name}" for name in PDFJS} | set(files[::PDFJS_SMALL_EVERY]))


def main(pillow: str, pdfjs: str, pydub: str, moviepy: str) -> None:
    chosen = {
        "pillow": (pillow, pillow_paths(pillow), "Tests/images/"),
        "pdfjs": (pdfjs, pdfjs_paths(pdfjs), "test/pdfs/"),
        "pydub": (pydub, [f"test/data/{name}" for name in PYDUB], "test/data/"),
        "moviepy": (moviepy, MOVIEPY, ""),
    }
    lines = ["# file\trepository\tcommit\tpath\tlicence"]
    for key, (repo, paths, strip) in chosen.items():
        commit = git(repo, "rev-parse", "HEAD").decode().strip()
        name, licence = SOURCES[key]
        for path in paths:
            target = HERE / "files" / key / path[len(strip):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(git(repo, "show", f"HEAD:{path}"))
            lines.append(f"files/{key}/{path[len(strip):]}\t{name}\t{commit}\t{path}\t{licence}")
    (HERE / "MANIFEST").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:5])
