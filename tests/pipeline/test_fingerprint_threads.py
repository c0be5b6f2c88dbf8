"""The model fingerprint (part of every cache key and of self-check references) does not depend on the process."""

from __future__ import annotations

import torch

from st_multimodal.pipeline.fingerprint import model_fingerprint


class _Wide(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.proj = torch.nn.Linear(1024, 1024)  # large enough for torch to split its reductions across threads
        self.bf16 = torch.nn.Parameter(torch.randn(70_000).to(torch.bfloat16))
        self.register_buffer("flags", torch.rand(70_000) > 0.5)


def test_same_fingerprint_with_one_and_two_torch_threads():
    model = _Wide()
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = model_fingerprint(model)
        torch.set_num_threads(2)
        two = model_fingerprint(model)
    finally:
        torch.set_num_threads(before)
    assert one == two


def test_any_changed_weight_changes_the_fingerprint():
    model = _Wide()
    before = model_fingerprint(model)
    with torch.no_grad():
        model.proj.weight[512, 3] += 1e-3  # one element in the middle: not among the first or last eight
    assert model_fingerprint(model) != before
