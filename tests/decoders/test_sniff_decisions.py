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


ADTS_FRAME = b"\xff\xf1\x50\x80\x02\x1f\xfc" + bytes(9)  # an ADTS header stating a 16-byte frame
ADTS_TWO_FRAMES = ADTS_FRAME * 2
MP3_FRAME = b"\xff\xfb\x90\x64" + bytes(413)  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz: 417 bytes
MP3_TWO_FRAMES = MP3_FRAME * 2

HEADERS = [
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "jpeg"), (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
    (b"GIF87a\x10\x00", "gif"), (b"GIF89a\x10\x00", "gif"), (header(b"RIFF\x24\x00\x00\x00", b"WEBPVP8 "), "webp"),
    (b"BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00", "bmp"), (b"II*\x00\x08\x00\x00\x00", "tiff"),
    (b"MM\x00*\x00\x00\x00\x08", "tiff"), (b"II+\x00\x08\x00\x00\x00" + bytes(8), "tiff"), (b"MM\x00+\x00\x08\x00\x00" + bytes(8), "tiff"),
    (b"RIFF\x24\x00\x00\x00WEBPJUNK" + bytes(8), "webp"),  # the signature decides, even before a chunk Pillow knows (b"\x00\x00\x01\x00\x01\x00\x10\x10", "ico"),
    (header(b"\x00\x00\x00\x18ftyp", b"heic"), "heic"), (header(b"\x00\x00\x00\x18ftyp", b"avif"), "avif"),
    (header(b"RIFF\x24\x00\x00\x00", b"WAVEfmt "), "wav"), (b"fLaC\x00\x00\x00\x22", "flac"),
    (b"OggS\x00\x02\x00\x00", "ogg"), (b"ID3\x04\x00\x00\x00\x00", "mp3"),
    (header(b"FORM\x00\x00\x10\x00", b"AIFFCOMM"), "aiff"), (header(b"FORM\x00\x00\x10\x00", b"AIFCFVER"), "aiff"),
    (b"#!AMR\n<\x91", "amr"), (b"caff\x00\x01\x00\x00", "caf"), (header(b"\x00\x00\x00\x20ftyp", b"M4A "), "m4a"),
    (ADTS_TWO_FRAMES, "aac"), (MP3_TWO_FRAMES, "mp3"),
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
    ADTS_FRAME, MP3_FRAME, b"\xff\xfb\x90\x64\x00", b"\xff\xfb\x00\x00", b"\xff\xfb\x90", b"\xff\xfb\x90\x0c",
    b"RIFX\x24\x00\x00\x00WEBPVP8 ", b"\x00\x00\x00\x00\x00\x00\x00\x00WEBPVP8 ", b"II+\x01\x08\x00", b"MM\x01+\x00\x08",
    ADTS_FRAME + MP3_FRAME[:4], MP3_FRAME + b"\xff\xf3\x90\x64",  # a lone frame header, or a second that disagrees
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

    @pytest.mark.parametrize("data", [b"line one\nline two\tand a third\r\n", "d\u00e9j\u00e0 vu".encode(),
                                      "caf\u00e9".encode()[:-1]])  # a character cut off by the prefix is still text
    def test_plain_text_is_named_not_quoted(self, data):
        assert describe_prefix(data) == "it looks like plain text, not media"

    @pytest.mark.parametrize("data", [bytes(range(0x80, 0x90)), b"text\x00with a NUL", b"\xff\xfeab" + b"x" * 8,
                                      b"ok\xe9" + b"x" * 8])
    def test_binary_is_named_not_shown(self, data):
        assert describe_prefix(data) == "unrecognised binary data"

    def test_empty(self):
        assert describe_prefix(b"") == "the content is empty (0 bytes)"

    def test_markup_after_other_text_is_just_text(self):
        assert describe_prefix(b"X<html>") == "it looks like plain text, not media"  # only a BOM and whitespace are skipped


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
        assert info.value.args[0] == "cannot decode the content (0 bytes) as media: the content is empty (0 bytes)"

    def test_text_says_so_with_its_size(self):
        with pytest.raises(DecodeError) as info:
            choose_decoder(FetchedBytes(b"{" + b" " * 12_344, "x"))
        assert info.value.args[0] == "cannot decode the content (12.3 kB) as media: it looks like JSON, not media"

    @pytest.mark.parametrize("mime, name", [
        (None, None), (None, "file.xyz"), ("application/octet-stream; charset=binary", None),
        ("Audio/X-Weird; rate=8000", "take#2.mp3"), ("video/mp4", "https://h/clip.mkv#t=3"), ("image/png", "a.png"),
    ])
    def test_unknown_content_is_refused_whatever_its_name_or_mime(self, mime, name):
        with pytest.raises(DecodeError) as info:
            choose_decoder(FetchedBytes(UNKNOWN, "x", mime=mime, name=name))
        assert info.value.args[0] == "unknown media format (unrecognised binary data, 32 bytes)"

    @pytest.mark.parametrize("size, words", [(9_999, "9999 bytes"), (10_000, "10.0 kB"), (999_999, "1000.0 kB"), (1_050_000, "1.1 MB"),
                                             (1_000_000, "1.0 MB"), (2_345_678, "2.3 MB")])
    def test_sizes_in_messages(self, size, words):
        with pytest.raises(DecodeError) as info:
            choose_decoder(FetchedBytes((UNKNOWN * (size // len(UNKNOWN) + 1))[:size], "x"))
        assert info.value.args[0] == f"unknown media format (unrecognised binary data, {words})"


class TestModalityOf:
    def test_values(self):
        assert modality_of({"array": [0.0], "sampling_rate": 16000}, "video") == "audio"
        assert modality_of({"array": [], "video_metadata": {}}, "audio") == "video"
        assert modality_of({"video": 1, "audio": 2}, "video") == ("audio", "video")
        assert modality_of(Image.new("RGB", (2, 2)), "video") == "image"
        assert modality_of([1, 2], "audio") == "audio"


def mpeg_header(version_bits: int, layer_bits: int, bitrate: int, rate: int, padding: int = 0, byte3: int = 0x64) -> bytes:
    """A 4-byte MPEG audio frame header (version 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5; layer bits 3 = layer I)."""
    return bytes([0xFF, 0xE0 | version_bits << 3 | layer_bits << 1 | 1, bitrate << 4 | rate << 2 | padding << 1, byte3])


# (header fields, the frame length the MPEG audio standard gives for them)
MPEG_FRAMES = [
    ((3, 1, 9, 0), 417),      # MPEG-1 layer III, 128 kbit/s, 44.1 kHz
    ((3, 1, 9, 0, 1), 418),   # ... padded
    ((3, 1, 1, 1), 96),       # MPEG-1 layer III, 32 kbit/s, 48 kHz
    ((3, 1, 14, 2), 1440),    # MPEG-1 layer III, 320 kbit/s, 32 kHz
    ((3, 2, 9, 0), 522),      # MPEG-1 layer II, 160 kbit/s, 44.1 kHz
    ((3, 3, 12, 1), 384),     # MPEG-1 layer I, 384 kbit/s, 48 kHz
    ((3, 3, 1, 0, 1), 36),    # MPEG-1 layer I, 32 kbit/s, 44.1 kHz, padded (one 4-byte slot)
    ((2, 1, 8, 0), 208),      # MPEG-2 layer III, 64 kbit/s, 22.05 kHz
    ((2, 2, 8, 1), 384),      # MPEG-2 layer II, 64 kbit/s, 24 kHz
    ((2, 3, 8, 1), 256),      # MPEG-2 layer I, 128 kbit/s, 24 kHz
    ((0, 1, 1, 2), 72),       # MPEG-2.5 layer III, 8 kbit/s, 8 kHz
]


class TestMpegAudioFrames:
    @pytest.mark.parametrize("fields, length", MPEG_FRAMES, ids=[str(f) for f, _ in MPEG_FRAMES])
    def test_a_second_header_where_the_first_frame_ends_is_mp3(self, fields, length):
        head = mpeg_header(*fields)
        assert sniff_format(head + bytes(length - 4) + head + bytes(8)) == "mp3"
        for off in (-1, 1):  # the second header one byte early or late: no frame sequence
            assert sniff_format(head + bytes(length - 4 + off) + head + bytes(8)) is None

    def test_the_padding_bit_alone_sets_the_padding(self):
        head = mpeg_header(3, 1, 9, 1, byte3=0x02)  # 48 kHz, unpadded; other bits set around the padding bit
        assert sniff_format(head + bytes(384 - 4) + head + bytes(8)) == "mp3"

    @pytest.mark.parametrize("bad", [mpeg_header(1, 1, 9, 0), mpeg_header(3, 0, 9, 0), mpeg_header(3, 1, 0, 0),
                                     mpeg_header(3, 1, 15, 0), mpeg_header(3, 1, 9, 3)])
    def test_reserved_fields_are_not_frames(self, bad):
        assert sniff_format(bad + bytes(413) + bad + bytes(8)) is None

    def test_the_sync_word_needs_both_bytes(self):
        for first in (b"\xfe\xfb", b"\xff\x1b"):
            frame = first + b"\x90\x64" + bytes(413)
            assert sniff_format(frame * 2 + bytes(8)) is None


def adts_header(length: int, rate: int = 4, sync: bytes = b"\xff\xf1", byte3_high: int = 0x80) -> bytes:
    """A 7-byte ADTS header for a frame of ``length`` bytes (header included)."""
    return sync + bytes([0x40 | rate << 2, byte3_high | length >> 11, (length >> 3) & 0xFF, (length & 7) << 5 | 0x1F, 0xFC])


class TestAdtsFrames:
    @pytest.mark.parametrize("length", [7, 16, 2051, 2100, 6141])
    def test_a_second_header_at_the_stated_length_is_aac(self, length):
        frame = adts_header(length) + bytes(length - 7)
        assert sniff_format(frame + adts_header(length)) == "aac"
        assert sniff_format(frame + adts_header(length)[:2]) == "aac"  # the second sync word is enough
        assert sniff_format(frame + adts_header(length)[:1]) is None
        assert sniff_format(frame[:-1] + adts_header(length)) is None

    def test_sampling_rate_indexes_up_to_12_are_valid(self):
        for rate, expected in ((0, "aac"), (12, "aac"), (13, None), (15, None)):
            frame = adts_header(16, rate) + bytes(9)
            assert sniff_format(frame * 2) == expected, rate

    @pytest.mark.parametrize("sync", [b"\xfe\xf1", b"\xff\xe1", b"\xff\xf7"])
    def test_the_first_sync_word_must_match(self, sync):
        assert sniff_format(adts_header(16, sync=sync) + bytes(9) + adts_header(16)) is None

    def test_lengths_below_the_header_size_are_not_frames(self):
        assert sniff_format(adts_header(6) + adts_header(6) * 3) is None
        assert sniff_format(adts_header(0) * 4) is None


def transport_stream(size: int = 377, syncs: tuple[int, ...] = (0, 188, 376)) -> bytes:
    data = bytearray(size)
    for at in syncs:
        data[at] = 0x47
    return bytes(data)


class TestVideoSignatures:
    def test_mpeg_video_elementary_stream(self):
        assert sniff_format(b"\x00\x00\x01\xb3\x16\x00\xf0\x15") == "mpegvideo"
        assert sniff_format(b"\x00\x00\x01\xb4\x16\x00\xf0\x15") is None

    def test_transport_stream_needs_three_sync_bytes_188_apart(self):
        assert sniff_format(transport_stream()) == "mpegts"
        assert sniff_format(transport_stream(1000)) == "mpegts"
        assert sniff_format(transport_stream(376, (0, 188))) is None  # too short for the third packet
        for syncs in ((188, 376), (0, 376), (0, 188), (0, 189, 377), (1, 188, 376)):
            assert sniff_format(transport_stream(400, syncs)) is None, syncs

    def test_webm_doctype_within_the_first_64_bytes(self):
        ebml = b"\x1a\x45\xdf\xa3"
        assert sniff_format(ebml + bytes(56) + b"webm") == "webm"
        assert sniff_format(ebml + bytes(57) + b"webm") == "matroska"


class TestOtherPillowFormats:
    @pytest.mark.parametrize("fmt, expected", [("PPM", "ppm"), ("PCX", "pcx"), ("SGI", "sgi")])
    def test_formats_only_pillow_reads(self, fmt, expected):
        import io

        buffer = io.BytesIO()
        Image.new("RGB", (3, 2), "red").save(buffer, format=fmt)
        data = buffer.getvalue()
        assert sniff_format(data) == expected and sniff_format(data, "image") == expected
        assert sniff_format(data, "audio") is None
        decoder = choose_decoder(FetchedBytes(data, "x"))
        assert decoder.modality == "image"


class TestTextOrBinary:
    @pytest.mark.parametrize("data, words", [
        (b"ab" + "\U0001F600".encode()[:3], "it looks like plain text, not media"),  # a character cut after 3 bytes
        (b"ab\xffcde", "unrecognised binary data"),  # a bad byte with 3 more after it
        (b"ab\xffcd", "it looks like plain text, not media"),  # ... with 2 after it: maybe a cut-off character
    ])
    def test_cut_off_characters(self, data, words):
        assert describe_prefix(data) == words


class TestExtensionOf:
    @pytest.mark.parametrize("name, source, ext", [
        ("photo.JPG", "x", ".jpg"), (None, "/data/clip.mkv", ".mkv"), (None, "https://h/a/clip.mkv?x=1.txt#t=3", ".mkv"),
        ("take#2.mp3", "https://h/other.wav", ".mp3"), ("<bytes>", "https://h/a.tga", ".tga"), (None, "<stdin>.png", None),
        (None, "archive.tar.gz", ".gz"), (None, "f.abcde", ".abcde"), (None, "f.abcdef", None), (None, "f.a-b", None),
        (None, "f.", None), (None, "https://h/a.b/file", None), (None, "no_extension", None), (None, "f.a", ".a"),
    ])
    def test_extension(self, name, source, ext):
        from st_multimodal.decoders.sniff import extension_of

        assert extension_of(FetchedBytes(b"", source, name=name)) == ext
