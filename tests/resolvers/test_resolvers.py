"""The resolver registry and the built-in resolvers, without a model."""

from __future__ import annotations

import io
import pathlib

import numpy as np
import pytest
from PIL import Image

import st_multimodal as stm
from st_multimodal.resolvers.strings import is_location
from st_multimodal.testing import media
from st_multimodal.types import Provenance, Resolved, ResolveContext

CTX = ResolveContext()


class TestIsLocation:
    @pytest.mark.parametrize(
        "text",
        ["a green car", "look at cat.jpg", "data: hello, world", "two\nlines.jpg", "", "   ", "Who wrote it?", "3:45 pm"],
    )
    def test_text(self, text):
        assert not is_location(text)

    @pytest.mark.parametrize(
        "text",
        [
            "http://example.com/img?id=1",
            "https://example.com/a.jpg",
            "file:///tmp/a",
            "/tmp/does-not-exist.jpg",
            "photos/cat.jpg",
            "cat.jpg",
            "C:\\x\\y.png",
            "~/x.png",
            "data:image/png;base64,AAAA",
            "s3://bucket/key",
            "/tmp/no-extension-no-spaces",
        ],
    )
    def test_location(self, text):
        assert is_location(text)

    def test_strict_mode_is_always_text(self):
        assert not is_location("https://example.com/a.jpg", strict=True)
        assert not is_location("/tmp/a.jpg", strict=True)

    def test_existing_extensionless_file_with_separator(self, tmp_path):
        target = tmp_path / "img123"
        target.write_bytes(media.png_bytes())
        assert is_location(str(target))


class TestRegistry:
    def test_builtin_order_is_documented(self):
        assert stm.RESOLVERS.names()[:4] == ["resolved", "typed", "text", "pil"]

    def test_name_clash_refused(self):
        with pytest.raises(stm.RegistryError):
            stm.register_resolver("text", object())

    def test_clobber_replaces_in_place(self):
        class Shout:
            def resolve(self, value, ctx):
                return Resolved("text", value.upper(), Provenance(source="x")) if isinstance(value, str) else None

        position = stm.RESOLVERS.names().index("text")
        stm.register_resolver("text", Shout(), clobber=True)
        assert stm.RESOLVERS.names().index("text") == position
        assert stm.resolve("hello", CTX).value == "HELLO"

    def test_user_resolver_goes_first(self):
        class Pdf:
            def resolve(self, value, ctx):
                if isinstance(value, str) and value.endswith(".pdf"):
                    return Resolved("image", media.image(1), Provenance(source=value))
                return None

        stm.register_resolver("pdf", Pdf())
        assert stm.RESOLVERS.names()[0] == "pdf"
        assert stm.resolve("report.pdf", CTX).modality == "image"
        assert stm.resolve("a plain text", CTX).modality == "text"

    def test_placement_after(self):
        stm.register_resolver("mine", object(), after="pil")
        names = stm.RESOLVERS.names()
        assert names.index("mine") == names.index("pil") + 1

    def test_unknown_anchor(self):
        with pytest.raises(stm.RegistryError):
            stm.register_resolver("mine", object(), before="nope")

    def test_lazy_entry_with_missing_package_names_extra(self):
        stm.RESOLVERS.register("ghost", "no_such_package_xyz.mod:Thing", extra="ghost")
        with pytest.raises(stm.MissingDependencyError, match=r"\[ghost\] extra"):
            stm.resolve(object(), CTX)

    def test_buggy_plugin_error_is_typed_and_located(self):
        class Broken:
            def resolve(self, value, ctx):
                raise KeyError("oops")

        stm.register_resolver("broken", Broken())
        with pytest.raises(stm.DecodeError, match=r"input 7.*resolver 'broken' failed: KeyError") as info:
            stm.resolve("x", CTX, index=7)
        assert info.value.index == 7


class TestBuiltins:
    def test_text(self):
        resolved = stm.resolve("a green car", CTX)
        assert (resolved.modality, resolved.value) == ("text", "a green car")
        assert resolved.provenance.content_hash

    def test_image_forms_agree(self, tmp_path):
        png = media.png_bytes()
        path = tmp_path / "pic"  # no extension: sniffed
        path.write_bytes(png)
        forms = [png, bytearray(png), memoryview(png), io.BytesIO(png), path, str(path), path.as_uri(),
                 Image.open(io.BytesIO(png)), np.asarray(Image.open(io.BytesIO(png)))]
        pixels = [np.asarray(stm.resolve(f, CTX).value) for f in forms]
        for other in pixels[1:]:
            assert np.array_equal(pixels[0], other)

    def test_float_array_in_unit_range_not_rescaled(self):
        array = np.asarray(media.image(0), dtype=np.float32) / 255.0
        pixels = np.asarray(stm.resolve(array, CTX).value, dtype=np.int16)
        assert np.abs(pixels - np.asarray(media.image(0), dtype=np.int16)).max() <= 1

    def test_missing_path_is_an_error_not_text(self):
        with pytest.raises(stm.FetchError, match="no such file"):
            stm.resolve("/definitely/not/here.jpg", CTX, index=3)

    def test_none_is_unsupported_and_located(self):
        with pytest.raises(stm.UnsupportedInputError, match="input 2") as info:
            stm.resolve(None, CTX, index=2)
        assert info.value.index == 2

    @pytest.mark.parametrize("shape", [(100,), (48, 64), (2, 3, 48, 64)])
    def test_ambiguous_arrays_refused(self, shape):
        with pytest.raises(stm.UnsupportedInputError, match="as_"):
            stm.resolve(np.zeros(shape, np.float32), CTX)

    def test_string_arrays_refused(self):
        with pytest.raises(stm.UnsupportedInputError):
            stm.resolve(np.array(["a", "b"]), CTX)

    def test_audio_dict(self):
        samples = np.sin(np.linspace(0, 200, 4000)).astype(np.float32)
        resolved = stm.resolve({"array": samples, "sampling_rate": 8000}, CTX.replace(audio_sampling_rate=16000))
        assert resolved.modality == "audio"
        assert resolved.value["sampling_rate"] == 16000
        assert abs(len(resolved.value["array"]) - 8000) <= 2  # 0.5 s at 16 kHz

    def test_multimodal_dict(self):
        resolved = stm.resolve({"text": "a cat", "image": media.png_bytes()}, CTX)
        assert resolved.modality == ("image", "text")
        assert isinstance(resolved.value["image"], Image.Image) and resolved.value["text"] == "a cat"

    def test_multimodal_dict_with_list_refused(self):
        with pytest.raises(stm.UnsupportedInputError, match="list under 'image'"):
            stm.resolve({"image": [media.image(0), media.image(1)]}, CTX)

    def test_unknown_dict_keys(self):
        with pytest.raises(stm.UnsupportedInputError, match="keys"):
            stm.resolve({"foo": 1}, CTX)

    def test_datasets_undecoded_image(self):
        assert stm.resolve({"bytes": media.png_bytes(), "path": None}, CTX).modality == "image"

    def test_message_media_resolved(self):
        message = [{"role": "user", "content": [{"type": "image", "image": media.png_bytes()}, {"type": "text", "text": "hi"}]}]
        resolved = stm.resolve(message, CTX)
        assert resolved.modality == "message"
        assert isinstance(resolved.value[0]["content"][0]["image"], Image.Image)

    def test_text_mode_file_object_refused(self, tmp_path):
        path = tmp_path / "a.txt"
        path.write_text("hello")
        with open(path) as handle, pytest.raises(stm.UnsupportedInputError, match="text mode"):
            stm.resolve(handle, CTX)

    def test_deferred_decode(self):
        resolved = stm.resolve(media.png_bytes(), CTX, materialize=False)
        assert not resolved.is_materialized and resolved.modality == "image"
        assert resolved.materialize().value.size == (64, 48)
        assert resolved.provenance.decoded_size == (64, 48)


class TestTyped:
    def test_as_text_keeps_url(self):
        assert stm.resolve(stm.as_text("https://example.com/a.jpg"), CTX).value == "https://example.com/a.jpg"

    def test_as_image_grayscale_array(self):
        gray = np.tile(np.arange(64, dtype=np.uint8), (48, 1))
        image = stm.resolve(stm.as_image(gray, layout="HW"), CTX).value
        assert image.mode == "RGB" and image.size == (64, 48)

    def test_as_audio_needs_rate(self):
        with pytest.raises(stm.UnsupportedInputError, match="sampling"):
            stm.resolve(stm.as_audio(np.zeros(100, np.float32)), CTX)

    def test_as_audio_array(self):
        resolved = stm.resolve(stm.as_audio(np.zeros(1600, np.float32) + 0.1, sampling_rate=16000), CTX)
        assert resolved.modality == "audio" and resolved.value["sampling_rate"] == 16000

    def test_stated_modality_checked(self):
        with pytest.raises(stm.DecodeError, match="expected audio"):
            stm.resolve(stm.as_audio(media.png_bytes()), CTX)

    def test_as_video_frames(self):
        frames = [np.asarray(media.image(i)) for i in range(4)]
        resolved = stm.resolve(stm.as_video(frames, fps=2.0), CTX)
        assert resolved.modality == "video"
        assert np.asarray(resolved.value["array"]).shape[0] == 4

    def test_strict_mode(self):
        ctx = CTX.replace(strict=True)
        assert stm.resolve("/tmp/whatever.jpg", ctx).modality == "text"
        with pytest.raises(stm.FetchError):  # a Path is never text, strict or not
            stm.resolve(pathlib.Path("/tmp/nothing-here.png"), ctx)


class TestEntryPoints:
    def test_plugins_register_before_first_resolve(self, monkeypatch):
        from importlib.metadata import EntryPoint

        from st_multimodal.resolvers import base

        class Plugin:
            def resolve(self, value, ctx):
                return Resolved("image", media.image(3), Provenance(source="plugin")) if value == "plugin:x" else None

        import sys
        import types

        module = types.ModuleType("fake_st_mm_plugin")
        module.Plugin = Plugin
        monkeypatch.setitem(sys.modules, "fake_st_mm_plugin", module)
        points = [EntryPoint("fake_plugin", "fake_st_mm_plugin:Plugin", base.ENTRY_POINT_GROUP),
                  EntryPoint("text", "fake_st_mm_plugin:Plugin", base.ENTRY_POINT_GROUP)]
        monkeypatch.setattr(base, "entry_points", lambda group: [p for p in points if p.group == group])
        monkeypatch.setattr(base, "_entry_points_loaded", False)
        assert stm.resolve("plugin:x", CTX).provenance.source == "plugin"  # loaded automatically
        assert stm.RESOLVERS.names()[0] == "fake_plugin"
        assert stm.resolve("a text", CTX).modality == "text"  # the clashing 'text' entry point was skipped
        assert base.load_entry_point_resolvers() == []
