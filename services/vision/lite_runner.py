"""Runs of the LiteRT networks from any thread, one image per invoke.

A LiteRT interpreter holds its tensors and must not be invoked from two threads at once, and the vision stage
analyses several chunks side by side: interpreters are lent from a pool per model (one is made when all are busy,
so the pool never holds more than the threads that used it at once). Images go through one at a time: on the CPU
these four networks cost less per image at batch 1 than in batches of 8 (palm detector 9 against 10 ms, hand
landmarks 4 against 5, pose detector 11 against 13, pose landmarks 16 against 20; docs/operations.md), and a
batch-1 interpreter holds a tenth of the memory.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from services.vision.litert_models import LiteModel, interpreter

if TYPE_CHECKING:
    from ai_edge_litert.interpreter import Interpreter

_idle: dict[str, list[Interpreter]] = defaultdict(list)
_lock = threading.Lock()


@contextmanager
def _borrowed(model: LiteModel) -> Iterator[Interpreter]:
    with _lock:
        lent = _idle[model.name].pop() if _idle[model.name] else None
    it = lent if lent is not None else interpreter(model)
    try:
        yield it
    finally:
        with _lock:
            _idle[model.name].append(it)


def run(model: LiteModel, images: npt.NDArray[np.float32]) -> dict[str, npt.NDArray[np.float32]]:
    """The model's outputs by tensor name ("Identity", "Identity_1", ...) for images (NHWC), one row per image."""
    parts: dict[str, list[npt.NDArray[np.float32]]] = defaultdict(list)
    with _borrowed(model) as it:
        index = it.get_input_details()[0]["index"]
        outputs = it.get_output_details()
        for image in images:
            it.set_tensor(index, np.ascontiguousarray(image[None], np.float32))
            it.invoke()
            for d in outputs:
                parts[d["name"]].append(np.array(it.get_tensor(d["index"]), np.float32))
    return {name: np.concatenate(values, axis=0) for name, values in parts.items()}


def check(model: LiteModel) -> None:
    """Loads the model once (its file checked against its sha256): a missing model fails at start, not mid-run."""
    with _borrowed(model):
        pass


__all__ = ["check", "run"]
