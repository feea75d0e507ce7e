#!/usr/bin/env bash
# Unpacks real photographs for the hand and posture tests into .local/test-photos/.
#
# hand.jpg: an open hand on a plain background, from OpenCV's documentation (Debian package opencv-doc,
# Apache-2.0 / BSD-3-Clause, opencv4/html/handSrc.jpg). apt-get packs the .deb from the Debian archive without
# installing it (no root needed) and only the photo is kept, checked against its sha256; nothing is fetched when
# the tests run. Upper bodies come from scikit-image's astronaut photograph (public domain), already installed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="$ROOT/.local/test-photos"
# file name, Debian package, member inside the package, sha256 of the member: a changed file fails the install.
PHOTOS=(
  "hand.jpg opencv-doc ./usr/share/doc/opencv-doc/opencv4/html/handSrc.jpg
   088532ab39ada21d9e332fa576d01d516bf4b8999c54a2c75665b35989f197fd"
)

# shellcheck source=lib/checked-files.sh
source "$ROOT/scripts/lib/checked-files.sh"
all_present "$TARGET" "${PHOTOS[@]}" && exit 0

work_dir
from_deb() {
  (cd "$WORK" && apt-get download -qq "$1" >/dev/null)
  dpkg-deb --fsys-tarfile "$(ls "$WORK"/"$1"_*.deb)" | tar -x -C "$WORK" "$2"
  mv "$WORK/$2" "$3"
}
install_checked install-test-photos "$TARGET" from_deb "${PHOTOS[@]}"
echo "test photos in $TARGET: $(cd "$TARGET" && ls -- *.jpg | tr '\n' ' ')"
