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
for photo in "${PHOTOS[@]}"; do
  read -r -d '' name package member sha <<<"$photo" || true
  (cd "$WORK" && apt-get download -qq "$package" >/dev/null)
  deb="$(ls "$WORK"/"$package"_*.deb)"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$WORK" "$member"
  sha_ok "$WORK/$member" "$sha" || { echo "install-test-photos: $member in $package has changed" >&2; exit 1; }
  install -m 0644 "$WORK/$member" "$TARGET/$name"
done
echo "test photos in $TARGET: $(cd "$TARGET" && ls -- *.jpg | tr '\n' ' ')"
