#!/usr/bin/env bash
# Installs every dependency Arrakis needs on Debian 12 (idempotent: quick when all is installed).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev libopenblas-dev          # tensors/autograd; OpenBLAS makes LibTorch's matmul ~60x faster than netlib
  nlohmann-json3-dev libfmt-dev libcli11-dev
  libpcre2-dev                           # tokenizer pre-tokenizer regexes (lookahead needs PCRE2, not RE2)
  libsentencepiece-dev libsqlite3-dev libboost-math-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
