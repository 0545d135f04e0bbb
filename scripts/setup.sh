#!/usr/bin/env bash
# Installs what building Arbiter needs beyond the Rust toolchain:
#   cmake         HiGHS is C++ built by cmake;
#   a C++ compiler (g++);
#   libclang-dev  HiGHS's Rust bindings are made by bindgen, which loads libclang
#                 at build time;
#   postgresql    (with --test) the tests start throwaway PostgreSQL clusters
#                 of their own (initdb, pg_ctl) to test fleet mode;
#   chromium, chromium-driver
#                 (with --test) the dashboard's tests drive headless Chromium
#                 over WebDriver;
#   firefox-esr   (with --test) and headless Firefox, over geckodriver, which
#                 Debian does not package: it is built from crates.io with
#                 `cargo install` into target/tools (once; about 80 s on two
#                 cores; no root needed).
# Safe to run again: it only installs what is missing. As root it uses
# apt-get; otherwise it prints the exact command to run and exits 1.
#
#   scripts/setup.sh           check, then install what is missing
#   scripts/setup.sh --check   only report; exit 1 when something is missing
#   scripts/setup.sh --test    also what the tests need (PostgreSQL, Chromium)
#
# libclang is looked for exactly where bindgen's loader (clang-sys 1.9, with
# its `runtime` feature) looks, under the same file names: a look-alike such
# as libclang-cpp.so.14 (the C++ API, which Debian installs with other
# packages) is not libclang, and counting it hid a missing libclang-dev.
# ARBITER_SETUP_ROOT (for the tests of this script) roots every searched
# directory in another tree.
set -euo pipefail

root="${ARBITER_SETUP_ROOT:-}"
check_only=false
for_tests=false
for option in "$@"; do
  case "$option" in
    --check) check_only=true ;;
    --test) for_tests=true ;;
    *) echo "setup: unknown option '$option' (usage: scripts/setup.sh [--check] [--test])" >&2; exit 2 ;;
  esac
done

# True when FILE starts with the ELF magic and the class of this machine's
# word size (clang-sys rejects a library of the other class).
elf_of_this_machine() {
  local want=2
  [ "$(getconf LONG_BIT 2>/dev/null || echo 64)" = 32 ] && want=1
  local head
  head=$(od -An -tx1 -N5 "$1" 2>/dev/null | tr -d ' \n') || return 1
  [ "$head" = "7f454c460$want" ]
}

# Prints the first libclang in directory $1 under the names clang-sys loads.
libclang_in() {
  local dir="$1" f
  [ -d "$dir" ] || return 1
  for f in "$dir"/libclang.so "$dir"/libclang-*.so "$dir"/libclang.so.* "$dir"/libclang-*.so.*; do
    [ -e "$f" ] || continue
    case "${f##*/}" in *-cpp.*) continue ;; esac
    elf_of_this_machine "$f" || continue
    echo "$f"
    return 0
  done
  return 1
}

# Prints the libclang bindgen will load, searching in clang-sys's order.
find_libclang() {
  local dir
  if [ -n "${LIBCLANG_PATH:-}" ]; then
    # clang-sys searches only LIBCLANG_PATH when it is set: a file or a folder.
    if [ -f "$LIBCLANG_PATH" ]; then
      libclang_in "$(dirname "$LIBCLANG_PATH")" >/dev/null && { echo "$LIBCLANG_PATH"; return 0; }
      return 1
    fi
    libclang_in "$LIBCLANG_PATH"
    return
  fi
  if command -v llvm-config >/dev/null 2>&1; then
    local prefix
    prefix=$(llvm-config --prefix 2>/dev/null | head -n1) || prefix=""
    if [ -n "$prefix" ]; then
      for dir in "$root$prefix/bin" "$root$prefix/lib" "$root$prefix/lib64"; do
        libclang_in "$dir" && return 0
      done
    fi
  fi
  local IFS=:
  for dir in ${LD_LIBRARY_PATH:-} ${LIBRARY_PATH:-}; do
    [ -n "$dir" ] && libclang_in "$root$dir" && return 0
  done
  unset IFS
  local pattern
  for pattern in /usr/local/llvm*/lib* /usr/local/lib*/*/* /usr/local/lib*/* /usr/local/lib* \
                 /usr/lib*/*/* /usr/lib*/* /usr/lib*; do
    for dir in $root$pattern; do
      libclang_in "$dir" && return 0
    done
  done
  return 1
}

# True when PostgreSQL's server programs are installed where the tests look
# (tests/support/postgres.rs): ARBITER_PG_BIN, Debian's
# /usr/lib/postgresql/*/bin, or pg_config --bindir.
have_postgresql() {
  [ -n "${ARBITER_PG_BIN:-}" ] && [ -x "$ARBITER_PG_BIN/initdb" ] && return 0
  local bin
  for bin in "$root"/usr/lib/postgresql/*/bin; do
    [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && return 0
  done
  command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]
}

missing=()
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo is not installed; install Rust with rustup first" >&2; exit 1; }
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
if libclang=$(find_libclang); then
  $check_only && echo "setup: libclang: $libclang" >&2
else
  missing+=(libclang-dev)
fi
if $for_tests && ! have_postgresql; then
  missing+=(postgresql)
fi
# Where tests/e2e/dashboard.rs runs them.
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
geckodriver="$repo/target/tools/bin/geckodriver"
need_geckodriver=false
if $for_tests; then
  [ -x "$root/usr/bin/chromium" ] || missing+=(chromium)
  [ -x "$root/usr/bin/chromedriver" ] || missing+=(chromium-driver)
  [ -x "$root/usr/bin/firefox-esr" ] || missing+=(firefox-esr)
  [ -x "$geckodriver" ] || need_geckodriver=true
fi

# geckodriver: from crates.io, into the repository's target/tools.
install_geckodriver() {
  $need_geckodriver || return 0
  echo "setup: building geckodriver into target/tools (cargo install, once)" >&2
  cargo install --quiet --locked geckodriver --version 0.37.1 --root "$repo/target/tools"
}

if [ ${#missing[@]} -eq 0 ] && ! $need_geckodriver; then
  $check_only && echo "setup: nothing missing" >&2
  exit 0
fi
if $check_only; then
  $need_geckodriver && missing+=("geckodriver (cargo install, into target/tools)")
  echo "setup: missing: ${missing[*]}" >&2
  exit 1
fi
if [ ${#missing[@]} -eq 0 ]; then
  install_geckodriver
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing ${missing[*]} (cmake, g++ and libclang-dev build HiGHS; the tests run PostgreSQL, Chromium and Firefox)." >&2
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
if [[ " ${missing[*]} " == *" libclang-dev "* ]] && ! find_libclang >/dev/null; then
  echo "setup: libclang-dev is installed but no libclang.so bindgen can load was found;" >&2
  echo "setup: set LIBCLANG_PATH to the folder that holds libclang.so (see README, Troubleshooting the build)" >&2
  exit 1
fi
install_geckodriver
echo "setup: done" >&2
