#!/usr/bin/env bash
# Installs the Debian 12 packages shmpool uses: to build (compiler, CMake, Ninja, xtensor, CLI11,
# nlohmann-json), to test (GoogleTest, python3 with numpy, procps and smem for the memory tool's
# cross-checks) and to benchmark (Google Benchmark, matplotlib for the report's charts, the Boost
# headers for bench/first_day's Boost.Interprocess baseline), and Open MPI for shmpool::mpi (the
# module for several hosts, built and tested when MPI is found), and xxHash (XXH3, the hash of
# frozen stores' indexes: libxxhash-dev for C++, python3-xxhash for python/shmpool_frozen.py),
# and for the dataset service over HTTP: cpp-httplib (libcpp-httplib-dev, its server), curl (its
# tests' client), wrk (its benchmark's load tool), gunicorn and Flask (the benchmark's baseline).
#   --fuzz   also clang and its libFuzzer runtime (the fuzz preset)
# Idempotent: does nothing (not even apt-get update) when everything is already installed.
set -euo pipefail

packages=(
    g++ cmake ninja-build
    libxtensor-dev libcli11-dev nlohmann-json3-dev
    libgtest-dev libbenchmark-dev libboost-dev
    python3 python3-numpy python3-matplotlib procps smem pkgconf
    libopenmpi-dev openmpi-bin libxxhash-dev python3-xxhash
    libcpp-httplib-dev curl wrk gunicorn python3-flask
)
for arg in "$@"; do
    case "$arg" in
        --fuzz) packages+=(clang libclang-rt-14-dev) ;;
        *) echo "install-deps: unknown option $arg (try --fuzz)" >&2; exit 2 ;;
    esac
done

missing=()
for pkg in "${packages[@]}"; do
    if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != installed ]]; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "install-deps: all ${#packages[@]} packages already installed"
    exit 0
fi

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "install-deps: not root and no sudo; please install: ${missing[*]}" >&2
        exit 1
    fi
fi

echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
