"""Nesting: structured inputs deeper than DecodeLimits.max_depth are a typed error for that item only."""

from __future__ import annotations

import pytest

from st_multimodal import DecodeLimits, LimitExceededError, MultimodalInputError, as_image
from st_multimodal.resolvers import resolve
from st_multimodal.testing import media
from st_multimodal.types import ResolveContext

from .guards import confined
from .payloads import nested_dict, nested_list


@pytest.mark.parametrize(
    "value",
    [
        nested_dict(300, "image"),
        nested_dict(300, "audio"),
        nested_dict(300, "video"),
        nested_dict(5000, "image"),
        {"bytes": nested_dict(300, "bytes"), "path": None},
        [{"role": "user", "content": [{"type": "image", "image": nested_dict(300)}]}],
        as_image(nested_dict(300)),
    ],
    ids=["image-300", "audio-300", "video-300", "image-5000", "datasets-bytes", "message", "as_image"],
)
def test_deep_nesting_is_a_typed_limit_error(value, tmp_path):
    with confined(tmp_path), pytest.raises(LimitExceededError) as info:
        resolve(value, ResolveContext(), 7)
    assert (info.value.limit_name, info.value.limit, info.value.index) == ("max_depth", 32, 7)


def test_deep_nesting_leaves_the_rest_of_the_batch_intact(clip_model, tmp_path):
    inputs = [nested_dict(300), "a photo of a cat", nested_list(5000), nested_dict(300, "audio"), "a dog"]
    with confined(tmp_path):
        embeddings, failures = clip_model.encode(inputs, on_error="skip", return_failures=True)
    assert len(embeddings) == 2
    assert [f.index for f in failures] == [0, 2, 3]
    assert all(isinstance(f.error, MultimodalInputError) for f in failures)
    assert [f.error.limit_name for f in failures if isinstance(f.error, LimitExceededError)] == ["max_depth", "max_depth"]


def test_ordinary_nesting_still_resolves_and_the_limit_is_configurable(tmp_path):
    png = media.png_bytes()
    value = {"image": {"bytes": png, "path": None}}
    with confined(tmp_path):
        assert resolve(value, ResolveContext(), 0).modality == "image"
        with pytest.raises(LimitExceededError):
            resolve(value, ResolveContext(limits=DecodeLimits(max_depth=1)), 0)
