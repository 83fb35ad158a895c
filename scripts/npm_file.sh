#!/usr/bin/env bash
# Install one file of an npm package at a pinned version, verified against a pinned SHA-256;
# fails loudly on any mismatch and does nothing when DEST already has that checksum.
# Usage: scripts/npm_file.sh PACKAGE VERSION FILE_IN_PACKAGE SHA256 DEST
set -euo pipefail

package="$1" version="$2" file="$3" expected="$4" dest="$5"

sha256() {
    python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
}

if [[ -f "$dest" && "$(sha256 "$dest")" == "$expected" ]]; then
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm is needed to install $dest (the npm package $package@$version)." >&2
    echo "       Install Node.js and npm (e.g. apt-get install npm), then run make again." >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "Installing $package $version from npm into $dest"
# npm checks the tarball against the registry's integrity hash; we check the file we use.
NPM_CONFIG_UPDATE_NOTIFIER=false npm pack "$package@$version" \
    --pack-destination "$tmp" --silent >/dev/null
tar -xzf "$tmp/$package-$version.tgz" -C "$tmp" "package/$file"

actual="$(sha256 "$tmp/package/$file")"
if [[ "$actual" != "$expected" ]]; then
    echo "error: checksum mismatch for $package@$version $file" >&2
    echo "       expected $expected" >&2
    echo "       got      $actual" >&2
    echo "       Refusing to install it. If the version was changed on purpose, update the" >&2
    echo "       pinned SHA-256 in the script that called $0 after checking the release." >&2
    exit 1
fi

mkdir -p "$(dirname "$dest")"
cp "$tmp/package/$file" "$dest.tmp"
mv "$dest.tmp" "$dest"
