#!/usr/bin/env bash
# Unpacks MediaPipe's landmark models (.tflite, Apache-2.0) into .local/models/mediapipe/.
#
# mediapipe 0.10.21 is the last release whose wheel carries the "solutions" graphs' models; the package itself
# pins numpy<2 and pulls opencv-contrib and jax, so it is never installed. pip packs the wheel from the
# registry, only the model files are kept (each checked against its sha256), and the networks run with
# ai-edge-litert (a dependency in pyproject.toml). Nothing is fetched when the stages run.
# Usage: install-mediapipe-models.sh [python] [target directory]
set -euo pipefail

PYTHON="${1:-python3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${2:-$ROOT/.local/models/mediapipe}"
PACKAGE="mediapipe==0.10.21"
# file name, package, member inside the wheel, sha256 of the member: a changed file fails the install.
MODULES="mediapipe/modules"
MODELS=(
  "face_landmark.tflite $PACKAGE $MODULES/face_landmark/face_landmark.tflite
   1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"
  "iris_landmark.tflite $PACKAGE $MODULES/iris_landmark/iris_landmark.tflite
   d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f"
  "face_detection_short_range.tflite $PACKAGE $MODULES/face_detection/face_detection_short_range.tflite
   bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"
  "palm_detection_lite.tflite $PACKAGE $MODULES/palm_detection/palm_detection_lite.tflite
   e9a4aaddf90dda56a87235303cf00e4c2d3fb28725f68fd88772997dac905c18"
  "palm_detection_full.tflite $PACKAGE $MODULES/palm_detection/palm_detection_full.tflite
   1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54"
  "hand_landmark_lite.tflite $PACKAGE $MODULES/hand_landmark/hand_landmark_lite.tflite
   048edd3645c9bf7397d19a9f6e3a42957d6e414c9bea6598030a2e9b624156e6"
  "hand_landmark_full.tflite $PACKAGE $MODULES/hand_landmark/hand_landmark_full.tflite
   11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3"
  "pose_detection.tflite $PACKAGE $MODULES/pose_detection/pose_detection.tflite
   9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c"
  "pose_landmark_full.tflite $PACKAGE $MODULES/pose_landmark/pose_landmark_full.tflite
   e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f"
)

# shellcheck source=lib/checked-files.sh
source "$ROOT/scripts/lib/checked-files.sh"
all_present "$TARGET" "${MODELS[@]}" && exit 0

work_dir
"$PYTHON" -m pip download -q --no-deps --only-binary :all: --python-version 3.11 \
  --platform manylinux_2_28_x86_64 -d "$WORK" "$PACKAGE"
wheel="$(ls "$WORK"/mediapipe-*.whl)"
from_wheel() { unpack_member "$PYTHON" "$wheel" "$2" "$3"; }
install_checked install-mediapipe-models "$TARGET" from_wheel "${MODELS[@]}"
# The licence travels with the weights.
unpack_member "$PYTHON" "$wheel" mediapipe-0.10.21.dist-info/LICENSE "$TARGET/LICENSE"
echo "mediapipe models in $TARGET: $(cd "$TARGET" && ls -- *.tflite | tr '\n' ' ')"
