"""How an untyped string is classified (docs/input-forms.md, "How a string is classified"): text or a location.

Inputs and file-system states in, decisions out: these hold whatever the classifier's implementation.
"""

from __future__ import annotations

import pytest

from st_multimodal.resolvers.strings import is_location
from st_multimodal.sources.base import SOURCES


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty temporary folder, so relative names exist only when the test makes them."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


class TestTheDocumentedTable:
    @pytest.mark.parametrize("text, location", [
        ("a red car", False),
        ("a photo of cat.jpg", False),
        ("cat.jpg", True),
        ("photos/bee", False),  # does not exist here
        ("/no/such/file.png", True),
        ("https://example.com/img?id=1", True),
        ("https://example.com/a b.png", False),
        ("s3://bucket/key.png", True),
        ("ftp://host/x.png", False),
        ("data:image/png;base64,iVBORw0KGgo=", True),
    ])
    def test_row(self, in_tmp, text, location):
        assert is_location(text) is location

    def test_existing_file_without_extension_is_a_location(self, in_tmp):
        (in_tmp / "photos").mkdir()
        (in_tmp / "photos" / "bee").write_bytes(b"x")
        assert is_location("photos/bee") is True


class TestRules:
    def test_strict_mode_makes_everything_text(self, in_tmp):
        assert not is_location("https://example.com/cat.jpg", strict=True)
        assert not is_location("cat.jpg", strict=True)

    @pytest.mark.parametrize("text", ["./a.jpg\n./b.jpg", "", "   ", "\t"])
    def test_multi_line_and_blank_strings_are_text(self, in_tmp, text):
        assert not is_location(text)

    def test_length_limit_is_4096_characters(self, in_tmp):
        longest = "/" + "a" * 4091 + ".png"
        assert len(longest) == 4096 and is_location(longest)
        assert not is_location("/" + "a" * 4092 + ".png")

    def test_a_scheme_needs_its_double_slash(self, in_tmp):
        assert not is_location("http:example")
        assert not is_location("note:remember this")

    def test_web_and_file_urls_are_locations_even_without_a_registered_source(self, in_tmp):
        for scheme in ("http", "https", "file"):
            SOURCES.unregister(scheme)  # the registry is restored after the test
        assert is_location("http://example.com/x") and is_location("https://example.com/x")
        assert is_location("file:///tmp/x.png")
        assert not is_location("https://example.com/a b")

    def test_unregistered_schemes_are_text(self, in_tmp):
        assert not is_location("gopher://example.com/x.png")

    @pytest.mark.parametrize("text", ["/my photos/cat 1.jpg", "./my photos/cat 1.jpg", "~/my photos/a b.png",
                                      "C:\\my photos\\cat 1.jpg", "./photo.jpg "])
    def test_path_prefixes_with_a_media_extension_are_locations_despite_spaces(self, in_tmp, text):
        assert is_location(text)

    @pytest.mark.parametrize("text", ["/not a path at all", "./so it goes", "../and then"])
    def test_path_prefixes_with_spaces_and_no_extension_are_text(self, in_tmp, text):
        assert not is_location(text)

    def test_path_prefix_without_spaces_is_a_location(self, in_tmp):
        assert is_location("/srv/data/bee") and is_location("./bee")

    @pytest.mark.parametrize("text", ["my photos/cat 1.jpg", "my photos\\cat 1.jpg", "album/summer 2024.pdf"])
    def test_media_extension_with_a_separator_is_a_location_despite_spaces(self, in_tmp, text):
        assert is_location(text)

    def test_media_extension_with_spaces_is_a_location_only_if_it_exists(self, in_tmp):
        assert not is_location("my cat.jpg")
        (in_tmp / "my cat.jpg").write_bytes(b"x")
        assert is_location("my cat.jpg")

    def test_existing_files_with_an_extension_are_locations(self, in_tmp):
        assert not is_location("notes.txt")
        (in_tmp / "notes.txt").write_bytes(b"x")
        assert is_location("notes.txt")

    def test_a_bare_word_stays_text_even_if_a_file_has_that_name(self, in_tmp):
        (in_tmp / "bee").write_bytes(b"x")
        assert not is_location("bee")

    def test_existing_folders_are_not_file_locations(self, in_tmp):
        (in_tmp / "albums" / "2024").mkdir(parents=True)
        assert not is_location("albums/2024")


class TestDataUris:
    @pytest.mark.parametrize("text", ["data:image/png;base64," + "A" * 5000, "data:audio/wav," + "A" * 5000,
                                      "data:image/png;base64,AAAA\nAAAA"])
    def test_typed_data_uris_are_locations_however_long_or_broken(self, in_tmp, text):
        assert is_location(text) is True

    @pytest.mark.parametrize("text", ["data:,hello", "data:;base64,SGk=", "data:;charset=utf-8,hi"])
    def test_short_untyped_data_uris_are_locations(self, in_tmp, text):
        assert is_location(text) is True

    @pytest.mark.parametrize("text", ["data:;base64," + "A" * 5000, "data:,two\nlines", "data: hello, world",
                                      "data:hello", "data:image/png"])
    def test_long_broken_or_malformed_untyped_data_uris_are_text(self, in_tmp, text):
        assert is_location(text) is False


def test_a_name_whose_user_part_cannot_be_looked_up_does_not_exist(in_tmp):
    assert is_location("~a\0 b.png") is False  # home-folder lookup fails: not an existing file, and it has a space
