"""What the sniffer decides for realistic file headers and their near misses, and what it says about non-media.

Bytes in, a format name (or a refusal with its message) out: these hold whatever the sniffer's implementation.
"""

from __future__ import annotations

import pytest
from PIL import Image

from st_multimodal.decoders import choose_decoder, describe_prefix, modality_of
from st_multimodal.decoders.sniff import sniff_format
from st_multimodal.errors import DecodeError, UnsupportedInputError
from st_multimodal.types import FetchedBytes

FILL = bytes(range(0x41, 0x41 + 52))  # printable filler after a header: matches no signature by itself


def header(start: bytes, at8: bytes = b"", length: int = 64) -> bytes:
    """``start`` (and ``at8`` at offset 8) followed by filler: what the first bytes of a real file look like."""
    data = start + FILL[: max(0, 8 - len(start))] + at8 if at8 else start
    return (data + FILL * 2)[:length]


HEADERS = [
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "jpeg"), (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
    (b"GIF87a\x10\x00", "gif"), (b"GIF89a\x10\x00", "gif"), (header(b"RIFF\x24\x00\x00\x00", b"WEBPVP8 "), "webp"),
    (b"BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00", "bmp"), (b"II*\x00\x08\x00\x00\x00", "tiff"),
    (b"MM\x00*\x00\x00\x00\x08", "tiff"), (b"\x00\x00\x01\x00\x01\x00\x10\x10", "ico"),
    (header(b"\x00\x00\x00\x18ftyp", b"heic"), "heic"), (header(b"\x00\x00\x00\x18ftyp", b"avif"), "avif"),
    (header(b"RIFF\x24\x00\x00\x00", b"WAVEfmt "), "wav"), (b"fLaC\x00\x00\x00\x22", "flac"),
    (b"OggS\x00\x02\x00\x00", "ogg"), (b"ID3\x04\x00\x00\x00\x00", "mp3"),
    (header(b"FORM\x00\x00\x10\x00", b"AIFFCOMM"), "aiff"), (header(b"FORM\x00\x00\x10\x00", b"AIFCFVER"), "aiff"),
    (b"#!AMR\n<\x91", "amr"), (b"caff\x00\x01\x00\x00", "caf"), (header(b"\x00\x00\x00\x20ftyp", b"M4A "), "m4a"),
    (b"\xff\xf1\x50\x80\x00\x1f\xfc", "aac"), (b"\xff\xfb\x90\x64\x00", "mp3"), (b"\xff\xfb\x00\x00", "mp3"),
    (b"\xff\xfb\x90", "mp3"), (b"\xff\xfb\x90\x0c", "mp3"),
    (header(b"\x00\x00\x00\x20ftyp", b"isom"), "mp4"), (header(b"\x00\x00\x00\x14ftyp", b"qt  "), "mov"),
    (b"\x1a\x45\xdf\xa3\x9fB\x86\x81\x01B\xf7\x81\x01B\xf2\x81\x04B\x82\x84webm", "webm"),
    (b"\x1a\x45\xdf\xa3\xa3B\x86\x81\x01B\xf7\x81\x01B\xf2\x81\x04B\x82\x88matroska", "matroska"),
    (header(b"RIFF\x24\x00\x00\x00", b"AVI LIST"), "avi"), (b"FLV\x01\x05\x00\x00\x00\x09", "flv"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa", "asf"), (b"\x00\x00\x01\xba\x44\x00\x04\x00", "mpeg"),
    (b"\x00\x00\x00\x08wide\x00\x00", "mov"), (b"\x00\x00\x00\x10moov\x00\x00", "mov"),
    (b"\x00\x00\x00\x10mdat\x00\x00", "mov"), (b"\x00\x00\x00\x10free\x00\x00", "mov"),
    (b"\x00\x00\x00\x10skip\x00\x00", "mov"), (b"\x00\x00\x00\x10pnot\x00\x00", "mov"),
]


@pytest.mark.parametrize("prefix, fmt", HEADERS, ids=[f"{fmt}-{i}" for i, (_, fmt) in enumerate(HEADERS)])
def test_real_headers(prefix, fmt):
    assert sniff_format(prefix) == fmt


NEAR_MISSES = [
    b"FORM\x00\x00\x10\x00WAVEfmt ", header(b"RIFF\x24\x00\x00\x00", b"XXXXdata"), b"BM\x36\x00\x00\x00\x01\x00\x00\x00\x36\x00\x00\x00",
    b"BM\x00\x00\x00\x00\x00\x00", b"\x00\x00\x01\x00\x00\x00\x10\x10", b"gif87a\x10\x00", b"GIF87A\x10\x00",
    b"mm\x00*\x00\x00\x00\x08", b"flv\x01\x05", b"FLAC\x00\x00", b"oggs\x00\x02", b"#!amr\n", b"CAFF\x00\x01",
    b"\xff\xfb", b"\xff\xe0\x90\x00", b"\xff\xe1\x90\x00", b"\xff\xfb\xf0\x00", b"\xff\xfb\xf1\x00", b"\xff\xfb\x0c\x00",
    b"\xff\xfb\x0d\x00", b"\x00\x00\x01\xbb\x00\x00", b"\x31\x26\xb2\x75\x8e\x66\xcf\x11",
]


@pytest.mark.parametrize("prefix", NEAR_MISSES)
def test_near_misses_are_not_media(prefix):
    assert sniff_format(prefix) is None


class TestContainerBrands:
    def test_audio_and_image_brands_are_not_video(self):
        m4a = header(b"\x00\x00\x00\x20ftyp", b"M4A ")
        heic = header(b"\x00\x00\x00\x18ftyp", b"heic")
        assert sniff_format(m4a, "video") is None and sniff_format(m4a, "audio") == "m4a"
        assert sniff_format(heic, "video") is None and sniff_format(heic, "image") == "heic"
        assert sniff_format(header(b"\x00\x00\x00\x20ftyp", b"isom"), "audio") is None

    def test_brand_is_exactly_four_bytes(self):
        assert sniff_format(header(b"\x00\x00\x00\x18ftyp", b"heicheic")) == "heic"
        assert sniff_format(header(b"\x00\x00\x00\x20ftyp", b"M4A M4A ")) == "m4a"


class TestDescribePrefix:
    @pytest.mark.parametrize("data", [b"<html><body>", b"<HEAD><title>", b"<body>oops", b"<!-- error -->",
                                      b"\xef\xbb\xbf \r\n<!DOCTYPE html>"])
    def test_html(self, data):
        assert describe_prefix(data) == ("it looks like an HTML page, not media "
                                         "(an error page or a web page instead of the file?)")

    @pytest.mark.parametrize("data", [b"<?xml version='1.0'?>", b"<svg xmlns='http://www.w3.org/2000/svg'>"])
    def test_xml(self, data):
        assert describe_prefix(data) == "it looks like XML/SVG (SVG is not supported; rasterise it first)"

    @pytest.mark.parametrize("data", [b'{"error": 1}', b"[1, 2, 3]"])
    def test_json(self, data):
        assert describe_prefix(data) == "it looks like JSON, not media"

    def test_text_with_line_breaks_is_quoted_up_to_40_characters(self):
        text = "line one\nline two\tand a third part that runs past forty characters"
        assert describe_prefix(text.encode()) == f"it looks like text: {text[:40]!r}"

    def test_binary_shows_twelve_bytes(self):
        data = bytes(range(0x80, 0x90))
        assert describe_prefix(data) == f"unrecognised binary data starting with 0x{data[:12].hex()}"

    def test_empty(self):
        assert describe_prefix(b"") == "the content is empty (0 bytes)"

    def test_markup_after_other_text_is_just_text(self):
        assert describe_prefix(b"X<html>") == "it looks like text: 'X<html>'"  # only a BOM and whitespace are skipped


UNKNOWN = b"\x00\x9f\x92\x96" * 8


class TestChooseDecoderRefusals:
    def test_pdf_is_sent_to_as_document(self):
        with pytest.raises(UnsupportedInputError) as info:
            choose_decoder(FetchedBytes(b"%PDF-1.7\n%\xe2\xe3", "x"))
        assert info.value.args[0] == ("the content is a PDF document, not a single image, audio or video: wrap the "
                                      "input in st_multimodal.as_document(...) so it expands into one input per page")

    def test_empty_content_says_so(self):
        with pytest.raises(DecodeError) as info:
            choose_decoder(FetchedBytes(b"", "x", mime="image/png", name="a.png"))
        assert info.value.args[0] == "cannot decode the content as media: the content is empty (0 bytes)"

    @pytest.mark.parametrize("mime, name, hint", [
        (None, None, ""),
        (None, "file.xyz", "; extension '.xyz'"),
        ("application/octet-stream; charset=binary", None, "; MIME type 'application/octet-stream'"),
        ("Text/X-Weird", "f.xyz", "; MIME type 'text/x-weird', extension '.xyz'"),
    ])
    def test_unknown_format_names_its_hints(self, mime, name, hint):
        with pytest.raises(DecodeError) as info:
            choose_decoder(FetchedBytes(UNKNOWN, "x", mime=mime, name=name))
        assert info.value.args[0] == f"unknown media format ({describe_prefix(UNKNOWN)}{hint})"

    def test_mime_parameters_are_ignored(self):
        assert choose_decoder(FetchedBytes(UNKNOWN, "x", mime="Audio/X-Weird; rate=8000")).modality == "audio"

    def test_local_names_are_not_parsed_as_urls(self):
        assert choose_decoder(FetchedBytes(UNKNOWN, "x", name="take#2.mp3")).modality == "audio"
        assert choose_decoder(FetchedBytes(UNKNOWN, "https://h/clip.mkv#t=3")).modality == "video"


class TestModalityOf:
    def test_values(self):
        assert modality_of({"array": [0.0], "sampling_rate": 16000}, "video") == "audio"
        assert modality_of({"array": [], "video_metadata": {}}, "audio") == "video"
        assert modality_of({"video": 1, "audio": 2}, "video") == ("audio", "video")
        assert modality_of(Image.new("RGB", (2, 2)), "video") == "image"
        assert modality_of([1, 2], "audio") == "audio"
