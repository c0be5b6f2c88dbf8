"""A reference file: the probes' vectors plus what made them (versions, device, dtype, model fingerprint).

One JSON file, readable by eye; vectors are base64 of little-endian float32. Its fixed name
:data:`REFERENCE_FILE_NAME` at the root of a model folder marks a reference shipped with the model.
"""

from __future__ import annotations

import base64
import json
import os
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .encoders import ProbeOutput
from .errors import IncompatibleReferenceError

__all__ = ["REFERENCE_FILE_NAME", "FORMAT", "Reference", "environment", "reference_file", "find_shipped_reference"]

REFERENCE_FILE_NAME = "st_multimodal_reference.json"
FORMAT = "st_multimodal.selfcheck.reference/1"

_PACKAGES = ("torch", "torchvision", "transformers", "tokenizers", "sentence-transformers", "numpy", "pillow")


def environment() -> dict[str, str]:
    """The versions that can change vectors: Python, the platform, the libraries on the model's path."""
    from .. import __version__

    versions = {"python": platform.python_version(), "platform": f"{platform.system()}-{platform.machine()}",
                "st_multimodal": __version__}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


@dataclass(frozen=True)
class Reference:
    """The contents of a reference file."""

    probe_set_version: str
    encoder: str
    metric: str
    model: dict[str, Any]
    """``class``, ``fingerprint``, ``modalities``, ``device``, ``dtype``."""
    environment: dict[str, str]
    created: str
    outputs: tuple[ProbeOutput, ...] = field(repr=False)

    @staticmethod
    def now() -> str:
        return datetime.now(timezone.utc).isoformat(timespec="seconds")

    def to_json(self) -> dict[str, Any]:
        probes = {
            out.name: {"modality": out.modality, "input_sha256": out.sha256, "dim": int(out.vector.size),
                       "float32_base64": base64.b64encode(out.vector.astype("<f4").tobytes()).decode("ascii")}
            for out in self.outputs
        }
        return {"format": FORMAT, "probe_set_version": self.probe_set_version, "encoder": self.encoder,
                "metric": self.metric, "created": self.created, "model": self.model,
                "environment": self.environment, "probes": probes}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the reference to ``path`` (a file, or a folder to hold :data:`REFERENCE_FILE_NAME`)."""
        target = reference_file(path)
        target.write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return target

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Reference":
        """Read a reference file (or the one in a folder); a file that is not one gives ``IncompatibleReferenceError``."""
        source = reference_file(path)
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise IncompatibleReferenceError(f"no reference file at {source}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise IncompatibleReferenceError(f"{source} is not a readable reference file: {error}") from error
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise IncompatibleReferenceError(f"{source} is not a reference file of format {FORMAT!r} (found {found!r})")
        try:
            return cls._from_json(data)
        except (KeyError, TypeError, ValueError) as error:
            raise IncompatibleReferenceError(f"{source} is a damaged reference file: {error}") from error

    @classmethod
    def _from_json(cls, data: dict[str, Any]) -> "Reference":
        outputs = []
        for name, probe in data["probes"].items():
            try:
                vector = np.frombuffer(base64.b64decode(probe["float32_base64"], validate=True), dtype="<f4")
                if vector.size != probe["dim"]:
                    raise ValueError(f"{vector.size} values stored, dim says {probe['dim']}")
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(f"probe {name!r}: {error}") from error
            outputs.append(ProbeOutput(name, probe["modality"], probe["input_sha256"], vector.astype(np.float32)))
        return cls(str(data["probe_set_version"]), data["encoder"], data["metric"], dict(data["model"]),
                   dict(data["environment"]), data["created"], tuple(outputs))


def reference_file(path: str | os.PathLike) -> Path:
    """``path`` itself, or ``path / REFERENCE_FILE_NAME`` when ``path`` is a folder."""
    path = Path(path)
    return path / REFERENCE_FILE_NAME if path.is_dir() else path


def find_shipped_reference(name_or_path: str | os.PathLike | None, **hub_kwargs: Any) -> Path | None:
    """The reference shipped with a model: in its local folder, or downloaded from its hub repository; None if absent."""
    if name_or_path is None:
        return None
    if os.path.isdir(name_or_path):
        candidate = Path(name_or_path) / REFERENCE_FILE_NAME
        return candidate if candidate.is_file() else None
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(str(name_or_path), REFERENCE_FILE_NAME, **hub_kwargs))
    except Exception:  # noqa: BLE001 - no such file, offline, unknown repo: nothing shipped
        return None
