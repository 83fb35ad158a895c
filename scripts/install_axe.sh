#!/usr/bin/env bash
# Install tests/e2e/browser/axe.min.js (the accessibility checker the browser tests inject
# into every page; never served by Herald) from the npm package axe-core at a pinned version,
# verified against a pinned SHA-256. Fails loudly on any mismatch. Usage: scripts/install_axe.sh
set -euo pipefail

AXE_VERSION="4.14.1"
AXE_SHA256="29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"  # axe.min.js

cd "$(dirname "$0")/.."
exec scripts/npm_file.sh axe-core "$AXE_VERSION" axe.min.js "$AXE_SHA256" \
    tests/e2e/browser/axe.min.js
