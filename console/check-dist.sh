#!/usr/bin/env bash
# Rebuilds the console from its sources in a scratch copy (`npm ci && npm run build`) and
# checks that the result is byte for byte the committed console/dist, which the server embeds.
# Exits non-zero, with the differing files, when someone changed src/ and forgot to rebuild.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp -r "$here/package.json" "$here/package-lock.json" "$here/build.mjs" "$here/src" "$scratch/"
cd "$scratch"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
npm run --silent build
if diff -r "$here/dist" "$scratch/dist"; then
    echo "console/dist matches its sources ($(du -cb "$here"/dist/* | tail -1 | cut -f1) bytes)"
else
    echo "console/dist differs from a fresh build of console/src: run (cd console && npm ci && npm run build) and commit dist/" >&2
    exit 1
fi
