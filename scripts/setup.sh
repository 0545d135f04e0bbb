#!/usr/bin/env bash
# Installs what building Arbiter needs beyond the Rust toolchain: cmake and
# libclang (HiGHS is C++ built by cmake; its Rust bindings are made by
# bindgen, which loads libclang). Safe to run again: it only installs what is
# missing.
set -euo pipefail

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
if ! ls /usr/lib/llvm-*/lib/libclang*.so* /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1 \
    && [ -z "${LIBCLANG_PATH:-}" ]; then
  missing+=(libclang-dev)
fi
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo is not installed; install Rust from rustup first" >&2; exit 1; }
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing ${missing[*]} (needed to build HiGHS)." >&2
  echo "setup: run as root, or install them yourself: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: missing ${missing[*]} and there is no apt-get here; install them with your package manager" >&2
  exit 1
fi
echo "setup: installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
echo "setup: done" >&2
