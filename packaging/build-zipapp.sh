#!/bin/sh
# Build homesync as one file: dist/homesync.pyz, run with `python3 homesync.pyz serve`.
#
#   packaging/build-zipapp.sh [OUTPUT]        (default: dist/homesync.pyz)
#
# The file holds homesync and every dependency (via shiv; `pip install shiv`). Some
# dependencies are compiled (argon2, msgspec, brotli, cryptography), so build on the
# same OS, CPU architecture and Python minor version (3.11+) as where it will run.
# On first start it unpacks itself into ~/.shiv (or $SHIV_ROOT).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$root/dist/homesync.pyz"}
python=${PYTHON:-python3}

if ! "$python" -m shiv --version >/dev/null 2>&1; then
    echo "build-zipapp: shiv is not installed for $python (pip install shiv)" >&2
    exit 2
fi
mkdir -p "$(dirname "$out")"
# Build from a copy of just the sources: pip builds in place, and a build/ left in the
# checkout by an earlier run would slip its stale files (an old migration, say) in.
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
cp -R "$root/homesync" "$root/pyproject.toml" "$root/README.md" "$src/"
find "$src" -name __pycache__ -prune -exec rm -rf {} +
"$python" -m shiv \
    --console-script homesync \
    --output-file "$out" \
    --python "/usr/bin/env python3" \
    --compressed \
    --reproducible \
    "$src"
echo "built $out"
