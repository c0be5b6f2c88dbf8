"""The input matrix, end to end through the models: every input form of every modality gives the same
embedding, and every kind of bad input gives its typed error naming the item, in a batch that goes on
(``on_error="skip"``) or stops (``on_error="raise"``). The lower layers have their own tests
(tests/resolvers, tests/sources, tests/decoders); these go through ``model.encode`` / ``model.predict``.
"""

from __future__ import annotations

import base64
import faulthandler
import io
import time
from datetime import timedelta

import numpy as np
import psutil
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import st_multimodal as stm
from st_multimodal.testing import media
from st_multimodal.testing.server import LocalServer, send

MiB = 1024 * 1024
LOCAL = stm.FetchPolicy(allow_loopback=True, retry_backoff=0.01)
"""May reach the test server on 127.0.0.1; everything else as by default."""


def cosine(a, b) -> np.ndarray:
    a, b = np.atleast_2d(np.asarray(a, np.float64)), np.atleast_2d(np.asarray(b, np.float64))
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


# -- a loopback HTTP server -----------------------------------------------------------------------------


@pytest.fixture
def server():
    """The shared loopback test server (``st_multimodal.testing.server``)."""
    with LocalServer() as srv:
        yield srv


# -- every form of one input gives one embedding -----------------------------------------------------------


class TestImageForms:
    """One PNG in every form the tiny CLIP accepts."""

    def test_every_form_gives_the_same_embedding(self, clip_model, server, tmp_path):
        data = media.png_bytes()
        path = tmp_path / "picture.png"
        path.write_bytes(data)
        server.route("/picture.png", data, headers={"Content-Type": "image/png"})
        extensionless = server.route("/picture", data, headers={"Content-Type": "application/octet-stream"})
        pixels = np.asarray(media.image())
        forms = {
            "str path": str(path),
            "pathlib.Path": path,
            "file:// URI": path.as_uri(),
            "bytes": data,
            "BytesIO": io.BytesIO(data),
            "data URI": "data:image/png;base64," + base64.b64encode(data).decode(),
            "http URL": server.url("/picture.png"),
            "extensionless URL": extensionless,
            "redirect": server.redirect("/go", "/picture"),
            "PIL": media.image(),
            "uint8 HWC array": pixels,
            "float [0, 1] array": pixels.astype(np.float32) / 255,
            "CHW torch tensor": torch.from_numpy(pixels.copy()).permute(2, 0, 1),
        }
        embeddings = clip_model.encode(list(forms.values()), fetch_policy=LOCAL)
        similarity = dict(zip(forms, cosine(embeddings, embeddings[0])))
        assert min(similarity.values()) >= 0.9999, similarity
        assert server.count("/picture.png") == 1 and server.count("/go") == 1

    def test_another_picture_differs(self, clip_model):
        first, second = clip_model.encode([media.png_bytes(seed=0), media.png_bytes(seed=1)])
        assert cosine(first, second)[0] < 0.99


class TestOrientationAndAlpha:
    """EXIF rotation and transparency are applied the same way for a path and for ``PIL.Image.open(path)``."""

    def test_exif_rotated_jpeg(self, clip_model, tmp_path):
        data, upright = media.exif_rotated_jpeg_bytes()
        path = tmp_path / "sideways.jpg"
        path.write_bytes(data)
        stored = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))  # the pixels as stored, not rotated
        # np.asarray drops the EXIF tag that `upright` still carries (a PIL image would be rotated again)
        as_path, as_pil, reference, unrotated = clip_model.encode(
            [str(path), Image.open(path), np.asarray(upright), stored]
        )
        assert cosine(as_path, as_pil)[0] >= 0.9999
        assert cosine(as_path, reference)[0] >= 0.9999
        assert cosine(as_path, unrotated)[0] < 0.99

    def test_rgba_png(self, clip_model, tmp_path):
        path = tmp_path / "alpha.png"
        path.write_bytes(media.png_rgba_bytes())
        on_white = Image.alpha_composite(Image.new("RGBA", (64, 48), (255, 255, 255, 255)), media.rgba_image())
        as_path, as_pil, reference, alpha_dropped = clip_model.encode(
            [str(path), Image.open(path), np.asarray(on_white.convert("RGB")), np.asarray(media.rgba_image())[..., :3]]
        )
        assert cosine(as_path, as_pil)[0] >= 0.9999
        assert cosine(as_path, reference)[0] >= 0.9999
        assert cosine(as_path, alpha_dropped)[0] < 0.99


class TestAudioForms:
    """One stereo tone (1 s, 16 kHz) in every form the tiny CLAP (48 kHz) accepts."""

    def test_every_form_gives_the_same_embedding(self, clap_model, server, tmp_path):
        samples = media.wav_samples()  # int16, (samples, 2)
        floats = samples.astype(np.float32) / 32768
        lossless, lossy = {}, {}
        for ext, data, mime in [("wav", media.wav_bytes(), "audio/wav"), ("flac", media.flac_bytes(), "audio/flac"),
                                ("mp3", media.mp3_bytes(), "audio/mpeg")]:
            path = tmp_path / f"tone.{ext}"
            path.write_bytes(data)
            group = lossy if ext == "mp3" else lossless
            group[f"{ext} path"] = str(path)
            group[f"{ext} bytes"] = data
            group[f"{ext} URL"] = server.route(f"/tone.{ext}", data, headers={"Content-Type": mime})
        lossless.update({
            "AudioDict int16": {"array": samples, "sampling_rate": 16000},
            "as_audio int16 stereo": stm.as_audio(samples, sampling_rate=16000),
            "as_audio float stereo": stm.as_audio(floats, sampling_rate=16000),
            "as_audio float channels-first": stm.as_audio(np.ascontiguousarray(floats.T), sampling_rate=16000),
            "as_audio float mono": stm.as_audio(floats.mean(axis=1), sampling_rate=16000),
            "as_audio torch": stm.as_audio(torch.from_numpy(floats), sampling_rate=16000),
        })
        embeddings = clap_model.encode([*lossless.values(), *lossy.values()], fetch_policy=LOCAL)
        assert np.isfinite(embeddings).all()
        similarity = dict(zip([*lossless, *lossy], cosine(embeddings, embeddings[0])))
        assert min(similarity[k] for k in lossless) >= 0.9999, similarity
        assert min(similarity[k] for k in lossy) >= 0.99, similarity

    def test_another_tone_differs(self, clap_model):
        first, second = clap_model.encode([media.wav_bytes(freq=440.0), media.wav_bytes(freq=1760.0)])
        assert cosine(first, second)[0] < 0.9999


class TestVideoForms:
    """One 10-frame MP4 (5 fps) in every form the tiny Qwen3-VL embedder accepts."""

    def test_every_form_gives_the_same_embedding(self, qwen_embedder, server, tmp_path):
        data = media.mp4_bytes()
        path = tmp_path / "clip.mp4"
        path.write_bytes(data)
        frames = [np.full((48, 64, 3), level, np.uint8) for level in media.mp4_frame_levels(10)]
        decoded = stm.resolve(data, qwen_embedder.resolve_context()).value
        same_bytes = {
            "mp4 path": str(path),
            "mp4 bytes": data,
            "mp4 URL": server.route("/clip.mp4", data, headers={"Content-Type": "video/mp4"}),
            "VideoDict": {"array": decoded["array"], "video_metadata": decoded["video_metadata"]},
        }
        frame_forms = {  # the frames before lossy MPEG-4 encoding
            "as_video(frames)": stm.as_video(frames, fps=5),
            "as_video(array)": stm.as_video(np.stack(frames), fps=5),
        }
        embeddings = qwen_embedder.encode([*same_bytes.values(), *frame_forms.values()], fetch_policy=LOCAL)
        similarity = dict(zip([*same_bytes, *frame_forms], cosine(embeddings, embeddings[0])))
        assert min(similarity[k] for k in same_bytes) >= 0.9999, similarity
        assert min(similarity[k] for k in frame_forms) >= 0.999, similarity

    def test_frames_in_another_order_differ(self, qwen_embedder):
        frames = [np.full((48, 64, 3), level, np.uint8) for level in media.mp4_frame_levels(10)]
        forward, backward = qwen_embedder.encode([stm.as_video(frames, fps=5), stm.as_video(frames[::-1], fps=5)])
        assert cosine(forward, backward)[0] < 0.99


# -- every kind of bad input gives its typed error, naming the item -----------------------------------------

GOOD = [media.png_bytes(seed=1), "a photo of a cat"]


def bad_item_in_batch(model, bad, error_type, *, timings: list | None = None, **call):
    """Encode ``[good, bad, good]`` with skip, then with raise; return (skipped error, raised error).

    With skip the good rows equal those of the good items alone and the one failure is input 1; with
    raise the same typed error is raised. Both name the item: ``.index``, ``.source`` and the message.
    ``timings`` receives the seconds each of the two calls took.
    """
    clean = model.encode(GOOD, **call)
    items = [GOOD[0], bad, GOOD[1]]
    start = time.monotonic()
    embeddings, failures = model.encode(items, on_error="skip", return_failures=True, **call)
    middle = time.monotonic()
    assert embeddings.shape == clean.shape and cosine(embeddings, clean).min() >= 0.9999
    assert [f.index for f in failures] == [1]
    with pytest.raises(error_type) as info:
        model.encode(items, **call)
    if timings is not None:
        timings += [middle - start, time.monotonic() - middle]
    skipped, raised = failures[0].error, info.value
    for error in (skipped, raised):
        assert isinstance(error, error_type), repr(error)
        assert error.index == 1 and error.source == stm.errors.describe_source(bad)
        assert f"input 1 {error.source!r}" in str(error)
    assert failures[0].source == skipped.source
    return skipped, raised


class TestNotFound:
    def test_404_is_permanent_and_requested_once(self, clip_model, server):
        url = server.url("/missing.jpg")
        errors = bad_item_in_batch(clip_model, url, stm.FetchError, fetch_policy=LOCAL.replace(retries=3))
        for error in errors:
            assert (error.status, error.transient) == (404, False)
        assert server.count("/missing.jpg") == 2  # once per call, never retried


class TestHtmlServedAsImage:
    def test_is_a_decode_error_that_says_html(self, clip_model, server):
        url = server.route("/photo.jpg", media.html_bytes(), headers={"Content-Type": "image/jpeg"})
        for error in bad_item_in_batch(clip_model, url, stm.DecodeError, fetch_policy=LOCAL):
            assert "HTML" in str(error)


class TestTruncatedJpeg:
    def test_is_a_decode_error(self, clip_model, server):
        url = server.route("/cut.jpg", media.truncated_jpeg_bytes(), headers={"Content-Type": "image/jpeg"})
        for error in bad_item_in_batch(clip_model, url, stm.DecodeError, fetch_policy=LOCAL):
            assert "truncated" in str(error)


class TestRedirectLoop:
    def test_is_a_permanent_fetch_error(self, clip_model, server):
        server.redirect("/b", "/a")
        url = server.redirect("/a", "/b")
        for error in bad_item_in_batch(clip_model, url, stm.FetchError, fetch_policy=LOCAL):
            assert "loop" in str(error) and not error.transient


class TestDeadline:
    """``FetchPolicy.timeout`` is one deadline for the whole fetch: a slow or drip-feeding server cannot stretch it."""

    TIMEOUT = 1.0
    SLACK = 1.5  # the good items' forward pass and thread start-up, on a busy 2-core machine

    def _check(self, model, url):
        timings: list[float] = []
        errors = bad_item_in_batch(model, url, stm.FetchError, timings=timings,
                                   fetch_policy=LOCAL.replace(timeout=self.TIMEOUT))
        for error in errors:
            assert "deadline" in str(error) and error.transient
        assert max(timings) <= self.TIMEOUT + self.SLACK, timings

    def test_slow_server(self, clip_model, server):
        server.routes["/slow.png"] = lambda h: server.stop.wait(30) or send(h, 200, media.png_bytes())
        self._check(clip_model, server.url("/slow.png"))

    def test_drip_feed(self, clip_model, server):
        def drip(h):
            h.send_response(200)
            h.send_header("Content-Length", "100000")
            h.end_headers()
            while not server.stop.wait(0.05):
                h.wfile.write(b"x")
                h.wfile.flush()

        server.routes["/drip.png"] = drip
        self._check(clip_model, server.url("/drip.png"))


class TestOversizedBody:
    """A body over ``FetchPolicy.max_bytes`` is refused, early with a Content-Length and while streaming
    without one, in flat memory."""

    @pytest.mark.parametrize("content_length", [True, False], ids=["with-length", "without-length"])
    def test_limit_exceeded_in_flat_memory(self, clip_model, server, content_length):
        url = server.stream("/huge.png", 300 * MiB, content_length=content_length, headers={"Content-Type": "image/png"})
        process = psutil.Process()
        clip_model.encode(GOOD)  # warm
        before = process.memory_info().rss
        errors = bad_item_in_batch(clip_model, url, stm.LimitExceededError, fetch_policy=LOCAL.replace(max_bytes=MiB))
        growth = process.memory_info().rss - before
        for error in errors:
            assert (error.limit_name, error.limit) == ("max_bytes", MiB)
            assert error.actual == 300 * MiB if content_length else MiB < error.actual <= MiB + 256 * 1024
        assert growth < 32 * MiB, f"RSS grew by {growth / MiB:.1f} MiB"


class TestPixelBomb:
    def test_rejected_from_the_header(self, clip_model):
        bomb = media.png_bomb_bytes()  # 400 megapixels in a few tens of KB
        process = psutil.Process()
        clip_model.encode(GOOD)  # warm
        before = process.memory_info().rss
        errors = bad_item_in_batch(clip_model, bomb, stm.LimitExceededError)
        growth = process.memory_info().rss - before
        for error in errors:
            assert (error.limit_name, error.actual) == ("max_pixels", 20_000 * 20_000)
            assert "header" in str(error)
        assert growth < 100 * MiB, f"RSS grew by {growth / MiB:.1f} MiB"


class TestBlockedSources:
    def test_loopback_under_the_default_policy(self, clip_model, server, connection_log):
        url = server.route("/picture.png", media.png_bytes(), headers={"Content-Type": "image/png"})
        for error in bad_item_in_batch(clip_model, url, stm.BlockedSourceError):
            assert "loopback" in str(error)
        assert server.requests == [] and connection_log == []

    @pytest.mark.parametrize(
        "target",
        ["http://10.0.0.1/picture.png", "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd"],
        ids=["private", "metadata", "file"],
    )
    def test_redirect_to_forbidden_target(self, clip_model, server, connection_log, target):
        url = server.redirect("/go", target)
        bad_item_in_batch(clip_model, url, stm.BlockedSourceError, fetch_policy=LOCAL)
        assert connection_log == []  # the guard saw no attempt to connect anywhere but 127.0.0.1
        assert server.paths == ["/go", "/go"]  # one hop per call, never the target


class TestRerankerSkip:
    def test_bad_document_is_named_and_the_rest_scored(self, qwen_reranker):
        query = "a photo of a cat"
        documents = ["a cat on a sofa", media.truncated_jpeg_bytes(), media.png_bytes(seed=2)]
        clean = qwen_reranker.predict([(query, documents[0]), (query, documents[2])])
        scores, failures = qwen_reranker.predict(
            [(query, doc) for doc in documents], on_error="skip", return_failures=True
        )
        np.testing.assert_allclose(scores, clean, rtol=1e-4, atol=1e-5)
        assert [f.index for f in failures] == [1]
        assert isinstance(failures[0].error, stm.DecodeError)
        assert "input 1 '<bytes of" in str(failures[0].error)


# -- strict mode: untyped strings are text, and text is never fetched ----------------------------------------

class TestStrictMode:
    """With ``strict=True`` an untyped string is text: nothing is fetched, whatever it looks like."""

    @pytest.mark.parametrize("path", ["/cat", "/cat.png"])
    def test_url_looking_string_is_text_and_not_fetched(self, clip_model, server, path):
        url = server.route(path, media.png_bytes(), headers={"Content-Type": "image/png"})
        as_text = clip_model.encode(url, strict=True)
        assert server.requests == [], "strict mode made a request"
        as_image = clip_model.encode(url, fetch_policy=LOCAL)
        assert server.paths == [path]  # the same string, untyped and not strict, is a location
        assert as_text.shape == as_image.shape and cosine(as_text, as_image)[0] < 0.99

    def test_as_text_is_not_fetched(self, clip_model, server):
        url = server.route("/cat.png", media.png_bytes(), headers={"Content-Type": "image/png"})
        clip_model.encode(stm.as_text(url))
        clip_model.encode({"text": url})
        assert server.requests == [], "text made a request"

    def test_reranker_text_is_not_fetched(self, qwen_reranker, server):
        url = server.route("/cat.png", media.png_bytes(), headers={"Content-Type": "image/png"})
        qwen_reranker.predict([("a cat", url)], strict=True)
        assert server.requests == [], "strict text made a request"

    def test_existing_image_path_as_text_is_not_read(self, clip_model, tmp_path):
        path = tmp_path / "cat.png"
        path.write_bytes(media.png_bytes())
        as_text = clip_model.encode(str(path), strict=True)
        as_image = clip_model.encode(str(path))
        assert cosine(as_text, as_image)[0] < 0.99
        assert cosine(as_text, clip_model.encode(stm.as_text(str(path))))[0] > 0.9999


# -- fuzz: damaged and random bytes only ever give typed failures --------------------------------------------

FUZZ_SEEDS = (
    media.jpeg_bytes(32, 24), media.png_bytes(32, 24), media.gif_animated_bytes(), media.webp_bytes(),
    media.wav_bytes(0.1, 8000, 1), media.mp4_bytes(4, 5, 32, 24),
)
MAGIC = (
    b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\0\0\0\0WEBP", b"RIFF\0\0\0\0WAVE", b"\0\0\0\x18ftypisom",
)
FUZZ_LIMITS = stm.DecodeLimits(max_pixels=4_000_000, max_video_frames=8)
"""A service-like pixel budget, so a flipped size field cannot make one example decode 89 megapixels."""


@st.composite
def damaged(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(FUZZ_SEEDS)))
    position = st.integers(0, min(len(data), 128) - 1) | st.integers(0, len(data) - 1)
    for index, value in draw(st.lists(st.tuples(position, st.integers(0, 255)), max_size=6)):
        data[index] = value
    cut = draw(st.none() | st.integers(0, len(data)))
    return bytes(data[:cut])


BLOBS = (
    st.binary(min_size=1, max_size=512)
    | st.builds(bytes.__add__, st.sampled_from(MAGIC), st.binary(max_size=256))
    | damaged()
)


class TestFuzz:
    @pytest.fixture(autouse=True)
    def _hang_guard(self):
        """A decoder stuck in C cannot be interrupted: dump tracebacks and exit rather than hang the run."""
        faulthandler.dump_traceback_later(120, exit=True)
        yield
        faulthandler.cancel_dump_traceback_later()

    @settings(max_examples=100, deadline=timedelta(seconds=5), derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(items=st.lists(BLOBS, min_size=1, max_size=3))
    def test_only_typed_failures(self, clip_model, items):
        embeddings, failures = clip_model.encode(items, on_error="skip", return_failures=True, limits=FUZZ_LIMITS)
        for failure in failures:
            assert isinstance(failure.error, stm.MultimodalInputError), repr(failure.error)
            assert failure.error.index == failure.index
        assert len({f.index for f in failures}) == len(failures)
        assert len(embeddings) + len(failures) == len(items)
        assert np.isfinite(np.asarray(embeddings)).all()
