"""Shared helpers for the self-check tests: fresh demo models, folder copies and weight perturbation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import st_multimodal as stm
from st_multimodal.demo import demo_model_path
from st_multimodal.selfcheck import REFERENCE_FILE_NAME


def perturb(model, name: str, scale: float = 1.0, seed: int = 0) -> None:
    """Add Gaussian noise of ``scale`` times the parameter's own spread to one parameter, in place."""
    parameter = dict(model.named_parameters())[name]
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        parameter.add_(torch.randn(parameter.shape, generator=generator) * parameter.detach().float().std() * scale)


def edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture(scope="module")
def demo():
    """The shipped demo model, loaded once per module; tests must not change it."""
    return stm.demo_model()


@pytest.fixture(scope="module")
def demo_reference(demo, tmp_path_factory) -> Path:
    """A reference made from the unchanged demo model in this process."""
    return demo.save_reference(tmp_path_factory.mktemp("ref") / "demo.json")


@pytest.fixture
def demo_folder(tmp_path) -> Path:
    """A private copy of the demo model folder, without its shipped reference."""
    folder = tmp_path / "demo"
    shutil.copytree(demo_model_path(), folder)
    (folder / REFERENCE_FILE_NAME).unlink(missing_ok=True)
    return folder
