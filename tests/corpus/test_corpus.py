"""Real-world media from other projects' test suites (tests/corpus/MANIFEST), each in every input form.

Asserted for every file: no untyped exception (raise and skip mode); every byte form (bytes, BytesIO,
data: URI, loopback URL, str path) decodes exactly like the ``Path``, or fails with the same error class;
EXIF orientation equals ``ImageOps.exif_transpose``; batch rows equal single calls. Everything runs
with Pillow's plugins registered in an adversarial order, after other formats were opened first.
Run with ``-s`` to print the per-family table.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from st_multimodal import as_document, resolve
from st_multimodal.errors import MultimodalInputError
from st_multimodal.policy import FetchPolicy
from st_multimodal.resolvers.expansion import expand_documents
from st_multimodal.testing.server import LocalServer
from st_multimodal.types import ResolveContext

HERE = Path(__file__).parent
FILES = [HERE / line.split("\t")[0] for line in (HERE / "MANIFEST").read_text().splitlines() if not line.startswith("#")]
LIMITS = ResolveContext().limits.replace(pdf_dpi=24.0, max_video_frames=4)
"""PDF pages rendered small and four video frames: the same checks, in a fraction of the time."""
CTX = ResolveContext(fetch_policy=FetchPolicy(allow_loopback=True, retries=0), limits=LIMITS)


def is_pdf(path: Path) -> bool:
    return path.read_bytes()[:5] == b"%PDF-"


IMAGES_AND_MEDIA = [f for f in FILES if not is_pdf(f)]
PDFS = [f for f in FILES if is_pdf(f)]


def family(path: Path) -> str:
    """For the report only (decoding never looks at names): the extension, or the source folder."""
    suffix = path.suffix.lower().lstrip(".")
    return {"jpeg": "jpg", "tiff": "tif", "j2k": "jp2", "jpf": "jp2", "pgm": "ppm", "pbm": "ppm", "pnm": "ppm",
            "rgb": "sgi", "flc": "fli"}.get(suffix, suffix or "no extension")


def fingerprint(value) -> str:
    """A digest of every array in a decoded value (an image, AudioDict, VideoDict or a dict of them)."""
    digest = hashlib.sha256()

    def feed(item):
        if isinstance(item, dict):
            for key in sorted(item, key=str):
                digest.update(str(key).encode())
                feed(item[key])
        elif hasattr(item, "getpixel") or hasattr(item, "shape"):
            array = np.ascontiguousarray(np.asarray(item))
            digest.update(str(array.shape).encode() + array.tobytes())
        else:
            digest.update(repr(item).encode())

    feed(value)
    return digest.hexdigest()


def outcome(value, ctx: ResolveContext = CTX) -> tuple:
    """``("ok", modality, digest)`` or ``(error class name,)``; anything untyped propagates and fails the test."""
    try:
        resolved = resolve(value, ctx)
    except MultimodalInputError as exc:
        return (type(exc).__name__,)
    return ("ok", resolved.modality, fingerprint(resolved.value))


def pdf_outcome(value, ctx: ResolveContext = CTX) -> tuple:
    """The pages of a PDF input, each rendered: ``("ok", page digests...)`` or ``(error class name,)``."""
    try:
        pages = expand_documents([as_document(value)], ctx)
        return ("ok", *(fingerprint(resolve(page, ctx).value) for page in pages))
    except MultimodalInputError as exc:
        return (type(exc).__name__,)


def data_uri(data: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def adversarial_pillow_state():
    """Pillow's plugins tried TGA first, then backwards, after user code opened other formats first."""
    for path in FILES:
        if path.suffix.lower() in (".tga", ".dds", ".psd", ".fits", ".sgi"):
            try:
                Image.open(path).load()
            except Exception:  # noqa: BLE001 - some are broken on purpose
                pass
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Image, "ID", ["TGA"] + [name for name in reversed(Image.ID) if name != "TGA"])
        yield


@pytest.fixture(scope="module")
def urls():
    """Every corpus file served from 127.0.0.1 as application/octet-stream, under its own file name."""
    with LocalServer() as server:
        yield {path: server.route(f"/{i}/{path.name}", path.read_bytes(),
                                  headers={"Content-Type": "application/octet-stream"})
               for i, path in enumerate(FILES)}


@pytest.fixture(scope="module")
def by_path(adversarial_pillow_state):
    return {path: outcome(path) for path in IMAGES_AND_MEDIA}


def test_the_corpus_is_small_and_listed():
    assert len(FILES) > 800 and all(path.is_file() for path in FILES)
    assert sum(path.stat().st_size for path in FILES) < 10 * 1024 * 1024


def test_every_form_decodes_like_the_path(by_path, urls):
    def forms(path: Path) -> dict:
        data = path.read_bytes()
        return {"str": str(path), "bytes": data, "BytesIO": io.BytesIO(data), "data URI": data_uri(data), "URL": urls[path]}

    cases = [(path, form, value) for path in IMAGES_AND_MEDIA for form, value in forms(path).items()]
    with ThreadPoolExecutor(8) as pool:  # the loopback fetches overlap; everything else is the same work
        got = list(pool.map(lambda case: outcome(case[2]), cases))
    mismatches = [(str(path.relative_to(HERE)), form, by_path[path][:2], result[:2])
                  for (path, form, _), result in zip(cases, got) if result != by_path[path]]
    assert not mismatches, mismatches[:20]


def test_every_pdf_form_gives_the_same_pages(adversarial_pillow_state, urls):
    mismatches = []
    for path in PDFS:
        reference = pdf_outcome(path)
        data = path.read_bytes()
        for form, value in {"bytes": data, "BytesIO": io.BytesIO(data), "URL": urls[path],
                            "data URI": "data:application/pdf;base64," + base64.b64encode(data).decode()}.items():
            got = pdf_outcome(value)
            if got[:1] != reference[:1] or (got[0] == "ok" and got != reference):
                mismatches.append((path.name, form, reference[0], got[0]))
    assert not mismatches, mismatches


def test_exif_orientation_equals_exif_transpose(by_path):
    checked = 0
    for path in IMAGES_AND_MEDIA:
        try:
            original = Image.open(path)
            orientation = original.getexif().get(0x0112, 1)
        except Exception:  # noqa: BLE001 - not an image Pillow reads
            continue
        if orientation in (0, 1) or by_path[path][0] != "ok":
            continue
        upright = ImageOps.exif_transpose(original).convert("RGBA")
        expected = Image.alpha_composite(Image.new("RGBA", upright.size, (255, 255, 255, 255)), upright).convert("RGB")
        assert np.array_equal(np.asarray(resolve(path, CTX).value), np.asarray(expected)), path.name
        checked += 1
    assert checked >= 20


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_batch_rows_equal_single_calls_and_nothing_is_untyped(clip_model, adversarial_pillow_state, capsys):
    """Batches of 32 against batches of one (every file) and against single calls in raise mode (one file
    that decodes and one that fails per family: a single call costs a whole pipeline start)."""
    items = IMAGES_AND_MEDIA
    batch, failures = clip_model.encode(items, on_error="skip", return_failures=True, limits=LIMITS, batch_size=32)
    alone, alone_failures = clip_model.encode(items, on_error="skip", return_failures=True, limits=LIMITS, batch_size=1)
    assert all(isinstance(f.error, MultimodalInputError) for f in failures + alone_failures)
    failed = {f.index: type(f.error).__name__ for f in failures}
    assert failed == {f.index: type(f.error).__name__ for f in alone_failures}
    cosines = cosine_rows(batch, alone)
    assert cosines.min() >= 0.9999, cosines.min()

    rows = dict(zip([i for i in range(len(items)) if i not in failed], batch))
    summary, sampled, single_cosines = collections.defaultdict(collections.Counter), set(), []
    for index, path in enumerate(items):
        outcome_name = failed.get(index, "decoded")
        summary[family(path)][outcome_name] += 1
        if (family(path), outcome_name == "decoded") in sampled:
            continue
        sampled.add((family(path), outcome_name == "decoded"))
        try:
            single = clip_model.encode([path], limits=LIMITS)  # raise mode: a typed error or one row
        except MultimodalInputError as exc:
            assert type(exc).__name__ == failed.get(index), (path.name, type(exc).__name__, failed.get(index))
            continue
        assert index not in failed, path.name
        single_cosines.append(float(cosine_rows(rows[index][None], single)[0]))
    assert min(single_cosines) >= 0.9999
    with pytest.raises(MultimodalInputError):  # raise mode over the whole batch stops at the first bad file
        clip_model.encode(items, limits=LIMITS, batch_size=32)
    with capsys.disabled():
        print(f"\ncorpus: {len(items)} files, {len(rows)} embedded; min cosine batch of 32 vs batch of 1 "
              f"{cosines.min():.7f}, vs {len(single_cosines)} single calls {min(single_cosines):.7f}")
        for name, counts in sorted(summary.items()):
            print(f"  {name:14s} tried {sum(counts.values()):4d}  " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


def test_pdf_batches_equal_single_calls(clip_model, adversarial_pillow_state):
    inputs = [as_document(path) for path in PDFS]
    expanded = expand_documents(inputs, clip_model.resolve_context(limits=LIMITS), on_error="skip")
    batch, failures = clip_model.encode(expanded, on_error="skip", return_failures=True, limits=LIMITS)
    assert all(isinstance(f.error, MultimodalInputError) for f in failures + expanded.failures)
    by_row = dict(zip(expanded.rows(failures), batch))
    failed = {f.index: type(f.error).__name__ for f in list(failures) + list(expanded.failures)}
    for index, document in enumerate(inputs):
        try:
            single = clip_model.encode([document], limits=LIMITS)
        except MultimodalInputError as exc:
            assert type(exc).__name__ == failed.get(index), (PDFS[index].name, type(exc).__name__, failed.get(index))
            continue
        pages = [row for (i, _page), row in by_row.items() if i == index]
        assert index not in failed and len(pages) == len(single), PDFS[index].name
        assert cosine_rows(np.stack(pages), single).min() >= 0.9999, PDFS[index].name
