"""Closed FFmpeg: media bytes can name other files, streams or sockets (ffconcat, HLS, SDP); none is opened.

The guards watch the process from outside our code: a FIFO notices whoever opens it for reading, and
the process's file descriptors are sampled for sockets while the decoder runs (FFmpeg opens files and
sockets in C, where a Python-level patch would see nothing).
"""

from __future__ import annotations

import base64
import os
import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest

pytest.importorskip("av")

from st_multimodal import DecodeError, FetchPolicy, MultimodalInputError, ResolveContext, resolve
from st_multimodal.testing.decoding import decode_bytes
from st_multimodal.testing import bombs, media

CLOSED = ResolveContext(fetch_policy=FetchPolicy(enabled=False, allow_files=False), audio_sampling_rate=16000)


def data_uri(payload: bytes, mime: str = "audio/wav") -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode()}"


@contextmanager
def fifo_watch(path: str):
    """A FIFO at ``path``; the yielded list gets an entry if anything opens it for reading."""
    os.mkfifo(path)
    opened, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # succeeds only while a reader has it open
            except OSError:
                time.sleep(0.001)
                continue
            opened.append(path)
            os.close(fd)  # the reader sees end of file
            return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield opened
    finally:
        stop.set()
        thread.join(2)


def _sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


@contextmanager
def socket_watch():
    """The yielded list records the most sockets the process held above its starting count."""
    base, peak, stop = _sockets(), [0], threading.Event()

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], _sockets() - base)
            time.sleep(0.002)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join(2)


@pytest.fixture
def secret_dir(tmp_path, monkeypatch):
    (tmp_path / "secret.wav").write_bytes(media.wav_bytes(1.0, 16000, 1, freq=1234.0))
    monkeypatch.chdir(tmp_path)
    return tmp_path


class TestConcatPlaylists:
    @pytest.mark.parametrize("mime", ["audio/wav", "video/mp4", "audio/mpeg"])
    def test_relative_ffconcat_does_not_read_a_file_of_the_working_directory(self, secret_dir, mime):
        try:
            resolved = resolve(data_uri(bombs.FFCONCAT_RELATIVE, mime), CLOSED)
        except MultimodalInputError as exc:
            assert isinstance(exc, DecodeError) and "secret" not in str(exc)
        else:
            pytest.fail(f"the playlist decoded to {resolved.modality} of {np.size(resolved.value['array'])} samples")

    def test_ffconcat_opens_no_file(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        with fifo_watch(str(tmp_path / "secret.wav")) as opened, pytest.raises(DecodeError):
            resolve(data_uri(bombs.FFCONCAT_RELATIVE), CLOSED)
        assert opened == []

    def test_ffconcat_with_an_absolute_path_opens_no_file(self, tmp_path):
        target = str(tmp_path / "abs.wav")
        with fifo_watch(target) as opened, pytest.raises(DecodeError):
            resolve(data_uri(bombs.ffconcat_absolute(target)), CLOSED)
        assert opened == []


class TestStreamsAndSockets:
    def test_hls_playlist_opens_no_segment(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        with fifo_watch(str(tmp_path / "segment.ts")) as opened, pytest.raises(DecodeError):
            resolve(data_uri(bombs.hls_playlist("segment.ts"), "video/mp4"), CLOSED)
        assert opened == []

    def test_sdp_binds_no_socket_and_returns_at_once(self):
        started = time.monotonic()
        with socket_watch() as peak, pytest.raises(DecodeError):
            resolve(data_uri(bombs.SDP_RTP), ResolveContext(fetch_policy=FetchPolicy.offline()))
        assert peak[0] == 0
        assert time.monotonic() - started < 2.0


class TestOrdinaryMediaStillOpen:
    @pytest.mark.parametrize("make", [media.wav_bytes, media.flac_bytes, media.mp3_bytes, media.ogg_bytes,
                                      media.m4a_bytes, media.webm_audio_bytes])
    def test_audio_with_its_format_sniffed(self, make):
        resolved = decode_bytes(make(), CLOSED, source="upload", mime="audio/x-anything")
        assert resolved.modality == "audio" and resolved.value["array"].size > 15000

    def test_unsniffed_bytes_are_still_probed_within_the_closed_list(self):
        from st_multimodal.decoders.ffmpeg import demuxer_for, open_closed

        ts = media.mp4_bytes()  # remux to MPEG-TS, which our sniffing does not name
        import io

        import av

        out = io.BytesIO()
        with av.open(io.BytesIO(ts)) as src, av.open(out, "w", format="mpegts") as dst:
            stream = dst.add_stream_from_template(src.streams.video[0])
            for packet in src.demux(src.streams.video[0]):
                if packet.dts is not None:
                    packet.stream = stream
                    dst.mux(packet)
        assert demuxer_for(out.getvalue()) is None
        with open_closed(out.getvalue()) as container:
            assert container.format.name == "mpegts" and container.streams.video
