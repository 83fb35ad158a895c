#!/usr/bin/env bash
# Install webapp/static/htmx.min.js from the npm package htmx.org at a pinned version,
# verified against a pinned SHA-256. Fails loudly on any mismatch. Usage: scripts/install_htmx.sh
set -euo pipefail

HTMX_VERSION="2.0.11"
HTMX_SHA256="d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"  # dist/htmx.min.js
DEST="webapp/static/htmx.min.js"

cd "$(dirname "$0")/.."

sha256() {
    python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
}

if [[ -f "$DEST" && "$(sha256 "$DEST")" == "$HTMX_SHA256" ]]; then
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm is needed to install htmx (the npm package htmx.org@$HTMX_VERSION)." >&2
    echo "       Install Node.js and npm (e.g. apt-get install npm), then run make again." >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "Installing htmx $HTMX_VERSION from npm into $DEST"
# npm checks the tarball against the registry's integrity hash; we check the file we serve.
NPM_CONFIG_UPDATE_NOTIFIER=false npm pack "htmx.org@$HTMX_VERSION" \
    --pack-destination "$tmp" --silent >/dev/null
tar -xzf "$tmp/htmx.org-$HTMX_VERSION.tgz" -C "$tmp" package/dist/htmx.min.js

actual="$(sha256 "$tmp/package/dist/htmx.min.js")"
if [[ "$actual" != "$HTMX_SHA256" ]]; then
    echo "error: checksum mismatch for htmx.org@$HTMX_VERSION dist/htmx.min.js" >&2
    echo "       expected $HTMX_SHA256" >&2
    echo "       got      $actual" >&2
    echo "       Refusing to install it. If the version was changed on purpose, update" >&2
    echo "       HTMX_SHA256 in scripts/install_htmx.sh after checking the release." >&2
    exit 1
fi

mkdir -p "$(dirname "$DEST")"
cp "$tmp/package/dist/htmx.min.js" "$DEST.tmp"
mv "$DEST.tmp" "$DEST"
