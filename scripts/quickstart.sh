#!/usr/bin/env bash
# Installs dependencies, builds the release preset and runs the main job: the np_shared demo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
cmake --workflow --preset release
./build/release/demos/np_shared
