#!/usr/bin/env bash
# Installs the Debian packages conlab needs, only those that are missing.
# Idempotent: a second run installs nothing and does not touch apt.
set -euo pipefail

# Build tools, libraries, and run-time tools (gnuplot draws the plots,
# python3 runs the CPython executors, clang's runtime gives libFuzzer).
PACKAGES=(
  build-essential cmake pkg-config make
  libhwloc-dev hwloc
  libbenchmark-dev
  libuv1-dev
  gnuplot-nox
  python3
  clang libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "install-deps: missing packages: ${missing[*]}; run as root or with sudo:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
