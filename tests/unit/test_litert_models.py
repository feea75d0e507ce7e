"""MediaPipe's landmark networks as installed by `make setup`: present, checked, runnable in batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.vision.litert_models import FACE_MESH, LITE_MODELS, interpreter
from services.vision.registry import WeightsUnavailable


@pytest.mark.parametrize("name", sorted(LITE_MODELS))
def test_every_model_is_installed_and_runs(name: str) -> None:
    it = interpreter(LITE_MODELS[name])
    inp = it.get_input_details()[0]
    it.set_tensor(inp["index"], np.zeros(inp["shape"], dtype=np.float32))
    it.invoke()
    assert all(np.isfinite(it.get_tensor(o["index"])).all() for o in it.get_output_details())


def test_a_batch_is_one_invoke_with_one_row_per_face() -> None:
    it = interpreter(FACE_MESH, batch=3)
    inp = it.get_input_details()[0]
    rng = np.random.default_rng(0)
    faces = rng.random((3, 192, 192, 3), dtype=np.float32)
    it.set_tensor(inp["index"], faces)
    it.invoke()
    points = it.get_tensor(it.get_output_details()[0]["index"]).reshape(3, -1)
    assert points.shape == (3, 468 * 3)
    # Each row answers its own image: the same image alone gives the same row.
    single = interpreter(FACE_MESH)
    single.set_tensor(single.get_input_details()[0]["index"], faces[1:2])
    single.invoke()
    alone = single.get_tensor(single.get_output_details()[0]["index"]).reshape(-1)
    np.testing.assert_allclose(points[1], alone, rtol=1e-4, atol=1e-3)


def test_a_changed_file_is_refused(tmp_path: Path) -> None:
    original = FACE_MESH.path().read_bytes()
    (tmp_path / FACE_MESH.file).write_bytes(original[:-100] + bytes(100))
    with pytest.raises(WeightsUnavailable, match="sha256"):
        interpreter(FACE_MESH, directory=tmp_path)


def test_a_missing_file_names_the_installer(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailable, match="make setup"):
        interpreter(FACE_MESH, directory=tmp_path)
