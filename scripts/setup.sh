#!/usr/bin/env bash
# Sets up a Debian 12 machine for Arrakis and builds it: Debian packages, npm packages, then an optimised build in
# build/. Idempotent: quick when everything is already installed and built.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev                           # tensors and autograd (Debian's LibTorch 1.13; 2.x works too)
  libopenblas-openmp-dev                 # LibTorch's matmul runs on libblas.so.3: netlib's is ~60x slower (below)
  nlohmann-json3-dev libfmt-dev libcli11-dev
  libpcre2-dev                           # tokenizer pre-tokenizer regexes (lookahead needs PCRE2, not RE2)
  libicu-dev                             # Unicode normalization (NFC, NFKC, ...) in tokenizer pipelines
  libsentencepiece-dev libsqlite3-dev libboost-math-dev
  libssl-dev                             # SHA-256 (libcrypto) for experiment versions and tensor files
  zlib1g-dev                             # CRC-32 of pytorch_model.bin's zip records
  libdnnl-dev                            # oneDNN: the attention's small batched matmuls (LibTorch links it too)
  libgtest-dev libgmock-dev libbenchmark-dev
  chromium                               # static figures (svg, png) and the browser test (docs/plots.md)
  fonts-dejavu-core                      # text in those figures (a machine without fonts draws none)
  libpng-dev                             # the browser test reads its screenshots
  clang libclang-rt-14-dev               # the fuzz targets (libFuzzer, ASan, UBSan): scripts/fuzz.sh
  python3                                # scripts/fuzz.sh cuts seed files out of zips and JSON
)
# Test references published on the npm registry need npm (Debian's, unless the machine already has one).
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

# LibTorch's matmul calls whatever libblas.so.3 is. OpenBLAS built with OpenMP shares LibTorch's OpenMP thread pool;
# the pthread build (libopenblas-dev's default) runs its own threads, which fight LibTorch's spinning OpenMP workers
# for the cores: the GPT-2-small forward takes ~2.9 s instead of ~1.9 s on 2 cores. Select the OpenMP build.
for link in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  target=/usr/lib/x86_64-linux-gnu/openblas-openmp/$link
  current=$(readlink -f "/usr/lib/x86_64-linux-gnu/$link" || true)
  if [ -e "$target" ] && [ "$current" != "$(readlink -f "$target")" ]; then
    $SUDO update-alternatives --set "$link-x86_64-linux-gnu" "$target"
  fi
done

# npm packages pinned by package-lock.json (reference files the tests compare against).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build build
