"""Batched runs of the LiteRT networks from any thread.

A LiteRT interpreter holds its tensors and must not be invoked from two threads at once; the vision stage analyses
several chunks side by side, so each thread keeps its own interpreters, one per model and batch size (batch sizes
are small: the sampled frames of a chunk, the hands or bodies found in them).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from services.vision.litert_models import LiteModel, interpreter

if TYPE_CHECKING:
    from ai_edge_litert.interpreter import Interpreter

_local = threading.local()
#: Interpreters a thread keeps (each holds its batch's tensors, a few MB).
MAX_CACHED = 12


def _interpreter(model: LiteModel, batch: int) -> Interpreter:
    cached: dict[tuple[str, int], Interpreter] | None = getattr(_local, "interpreters", None)
    if cached is None:
        cached = _local.interpreters = {}
    key = (model.name, batch)
    if key not in cached:
        if len(cached) >= MAX_CACHED:
            cached.pop(next(iter(cached)))  # the oldest: batch sizes seen long ago rarely come back
        cached[key] = interpreter(model, batch=batch)
    return cached[key]


def run(model: LiteModel, images: npt.NDArray[np.float32]) -> dict[str, npt.NDArray[np.float32]]:
    """The model's outputs by tensor name ("Identity", "Identity_1", ...) for a batch of input images (NHWC)."""
    it = _interpreter(model, len(images))
    it.set_tensor(it.get_input_details()[0]["index"], np.ascontiguousarray(images, np.float32))
    it.invoke()
    return {d["name"]: np.array(it.get_tensor(d["index"]), np.float32) for d in it.get_output_details()}


def check(model: LiteModel) -> None:
    """Loads the model once (its file checked against its sha256): a missing model fails at start, not mid-run."""
    _interpreter(model, 1)


__all__ = ["check", "run"]
