#!/usr/bin/env bash
# Install webapp/static/htmx.min.js from the npm package htmx.org at a pinned version,
# verified against a pinned SHA-256. Fails loudly on any mismatch. Usage: scripts/install_htmx.sh
set -euo pipefail

HTMX_VERSION="2.0.11"
HTMX_SHA256="d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"  # dist/htmx.min.js

cd "$(dirname "$0")/.."
exec scripts/npm_file.sh htmx.org "$HTMX_VERSION" dist/htmx.min.js "$HTMX_SHA256" \
    webapp/static/htmx.min.js
