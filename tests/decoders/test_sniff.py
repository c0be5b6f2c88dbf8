"""Choosing a decoder (magic bytes, then MIME type, then extension) and the Resolved the production path produces."""

from __future__ import annotations

import hashlib

import pytest

import st_multimodal.decoders as decoders
from st_multimodal.decoders import DECODERS, choose_decoder, describe_prefix, register_decoder
from st_multimodal.decoders.sniff import sniff_format
from st_multimodal.errors import DecodeError
from st_multimodal.testing import media
from st_multimodal.testing.decoding import decode_bytes
from st_multimodal.types import FetchedBytes, ResolveContext


MP3_HEADER = b"\xff\xfb\x90\x00"  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz: frames of 417 bytes
MP3_FRAMES = MP3_HEADER + bytes(413) + MP3_HEADER
ADTS_HEADER = b"\xff\xf1\x50\x80\x02\x1f\xfc"  # frames of 16 bytes
ADTS_FRAMES = ADTS_HEADER + bytes(9) + ADTS_HEADER


def fetched(data: bytes, mime: str | None = None, name: str | None = None) -> FetchedBytes:
    return FetchedBytes(data, "test-source", mime=mime, name=name)


class TestSniffFormat:
    @pytest.mark.parametrize(
        "prefix, fmt",
        [(b"\xff\xd8\xff\xe0", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"GIF89a", "gif"),
         (b"RIFF\0\0\0\0WEBPVP8 ", "webp"), (b"BM\0\0\0\0\0\0\0\0\0\0\0\0", "bmp"), (b"II*\0", "tiff"),
         (b"\0\0\1\0\1\0", "ico"), (b"\0\0\0\x18ftypheic", "heic"), (b"\0\0\0\x18ftypavif", "avif"),
         (b"RIFF\0\0\0\0WAVEfmt ", "wav"), (b"fLaC", "flac"), (b"OggS", "ogg"), (b"ID3\x04", "mp3"),
         (MP3_FRAMES, "mp3"), (ADTS_FRAMES, "aac"), (b"\0\0\0\x20ftypM4A ", "m4a"),
         (b"\0\0\0\x20ftypisom", "mp4"), (b"\0\0\0\x14ftypqt  ", "mov"),
         (b"\x1a\x45\xdf\xa3\x9fB\x86\x81\x01webm", "webm"),
         (b"RIFF\0\0\0\0AVI LIST", "avi"), (b"\0\0\0\x08wide", "mov")],
    )
    def test_signatures(self, prefix, fmt):
        assert sniff_format(prefix) == fmt

    def test_generated_media_sniff_as_what_they_are(self):
        assert sniff_format(media.m4a_bytes()[:64]) == "m4a"
        assert sniff_format(media.mp4_bytes()[:64]) == "mp4"
        assert sniff_format(media.webm_bytes()[:64]) == "webm"
        assert sniff_format(media.mp3_bytes()[:64]) == "mp3"

    def test_unknown(self):
        assert sniff_format(b"hello world") is None and sniff_format(b"") is None


class TestDescribePrefix:
    @pytest.mark.parametrize("data, words", [(b"", "empty"), (b"  <!DOCTYPE html><html>", "HTML"),
                                             (b"<svg xmlns=", "SVG"), (b'{"error": 1}', "JSON"),
                                             (b"just some words", "text"), (b"\x00\x9f\x92\x96", "binary")])
    def test_words(self, data, words):
        assert words in describe_prefix(data)


class TestChooseDecoder:
    def test_magic_bytes_win_over_mime_and_extension(self):
        chosen = choose_decoder(fetched(media.png_bytes(), mime="audio/wav", name="song.wav"))
        assert chosen.modality == "image"

    def test_container_brands_split_audio_and_video(self):
        assert choose_decoder(fetched(media.m4a_bytes())).modality == "audio"
        assert choose_decoder(fetched(media.mp4_bytes())).modality == "video"
        assert choose_decoder(fetched(media.webm_bytes())).modality == "video"

    def test_mime_type_and_extension_never_decide_alone(self):
        unknown = b"\x00\x9f\x92\x96" * 8
        for form in (fetched(unknown, mime="audio/x-weird"), fetched(unknown, name="/a/b.mkv"),
                     FetchedBytes(unknown, "https://x.org/clip.mp3?sig=1")):
            with pytest.raises(DecodeError, match="unknown media format"):
                choose_decoder(form)

    def test_html_as_jpeg_is_refused_by_content(self):
        with pytest.raises(DecodeError, match="HTML"):
            choose_decoder(fetched(media.html_bytes(), mime="image/jpeg", name="a.jpg"))

    def test_nothing_fits(self):
        with pytest.raises(DecodeError, match=r"unknown media format \(unrecognised binary data, 32 bytes\)"):
            choose_decoder(fetched(b"\x00\x9f\x92\x96" * 8, name="file.xyz"))

    def test_registered_decoder_placed_first_sees_bytes_first(self):
        class Custom:
            modality, mime_prefixes, extensions = "image", (), ()

            def accept(self, prefix):
                return prefix.startswith(b"\x89PNG")

            def decode(self, fetched, ctx):
                return "custom", (1, 1), "custom"

        register_decoder("custom", Custom(), before="image")
        assert DECODERS.names()[:2] == ["custom", "image"]
        resolved = decode_bytes(media.png_bytes(), ResolveContext(), source="test-source")
        assert resolved.value == "custom" and resolved.provenance.mime == "custom"


class TestProductionDecode:
    """``resolve_fetched`` + ``materialize_located(prefer_tensor=True)``: what ``encode`` does with fetched bytes."""

    def test_provenance(self):
        data = media.jpeg_bytes()
        resolved = decode_bytes(data, ResolveContext(), source="test-source")
        p = resolved.provenance
        assert (p.source, p.num_bytes, p.decoded_size, p.mime) == ("test-source", len(data), (64, 48), "jpeg")
        assert p.content_hash == hashlib.sha256(data).hexdigest()

    def test_errors_name_the_source(self):
        with pytest.raises(DecodeError) as info:
            decode_bytes(media.truncated_jpeg_bytes(), ResolveContext(), source="test-source", index=3)
        assert info.value.source == "test-source" and "test-source" in str(info.value)
        assert info.value.index == 3

    def test_unexpected_decoder_errors_become_decode_errors(self):
        class Broken:
            modality, mime_prefixes, extensions = "image", (), ()

            def accept(self, prefix):
                return True

            def decode(self, fetched, ctx):
                raise KeyError("oops")

        register_decoder("broken", Broken(), before="image")
        with pytest.raises(DecodeError, match="KeyError") as info:
            decode_bytes(b"anything", ResolveContext(), source="test-source")
        assert info.value.source == "test-source"


class TestPublicApi:
    def test_every_public_name_is_exported(self):
        for name in decoders.__all__:
            assert hasattr(decoders, name), name

    def test_builtins_registered_in_order(self):
        assert [n for n in DECODERS.names() if n in ("image", "audio", "video")] == ["image", "audio", "video"]
